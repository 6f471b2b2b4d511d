//! [`Statement`]: a compiled SQL statement.

use std::ffi::CString;
use std::fmt;

use crate::error::Error;
use crate::ffi;
use crate::params::Params;
use crate::raw_statement::RawStatement;
use crate::row::{MappedRows, Row, Rows};
use crate::types::{ToSql, ToSqlOutput, ValueRef};
use crate::{Connection, Result};

/// A compiled SQL statement, made by [`Connection::prepare`]; run it as many times as needed
/// with different parameters.
///
/// ```
/// use edgelite::Connection;
///
/// let conn = Connection::open_in_memory()?;
/// conn.execute_batch("CREATE TABLE t(n INTEGER, sq INTEGER)")?;
/// let mut insert = conn.prepare("INSERT INTO t VALUES (?1, ?2)")?;
/// for n in 1..=3_i64 {
///     insert.execute([n, n * n])?;
/// }
/// let mut select = conn.prepare("SELECT sq FROM t WHERE n >= ?1 ORDER BY n")?;
/// let squares: Vec<i64> = select.query_map([2], |row| row.get(0))?.collect::<Result<_, _>>()?;
/// assert_eq!(squares, [4, 9]);
/// # Ok::<(), edgelite::Error>(())
/// ```
///
/// A statement stays on the thread of its connection:
///
/// ```compile_fail
/// fn sent<T: Send>(_: T) {}
/// let conn = edgelite::Connection::open_in_memory().unwrap();
/// sent(conn.prepare("SELECT 1").unwrap()); // a Statement is not Send
/// ```
pub struct Statement<'conn> {
    pub(crate) conn: &'conn Connection,
    pub(crate) stmt: RawStatement,
}

impl<'conn> Statement<'conn> {
    pub(crate) fn new(conn: &'conn Connection, stmt: RawStatement) -> Statement<'conn> {
        Statement { conn, stmt }
    }

    pub(crate) fn into_raw(self) -> RawStatement {
        self.stmt
    }

    /// Binds `params` and runs the statement to completion; returns the number of rows changed.
    ///
    /// # Errors
    ///
    /// Parameter errors, [`Error::ExecuteReturnedResults`] if the statement returns rows, or
    /// the SQLite failure.
    pub fn execute<P: Params>(&mut self, params: P) -> Result<usize> {
        self.stmt.reset();
        params.__bind_in(self)?;
        self.execute_bound()
    }

    fn execute_bound(&mut self) -> Result<usize> {
        let rc = self.stmt.step();
        let result = match rc {
            ffi::SQLITE_DONE => Ok(usize::try_from(self.conn.changes()).unwrap_or(usize::MAX)),
            ffi::SQLITE_ROW => Err(Error::ExecuteReturnedResults),
            rc => Err(self.conn.error(rc)),
        };
        self.stmt.reset();
        result
    }

    /// Binds `params` and starts the query; iterate with [`Rows::next`].
    ///
    /// ```
    /// let conn = edgelite::Connection::open_in_memory()?;
    /// let mut stmt = conn.prepare(
    ///     "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < ?1) SELECT x FROM c",
    /// )?;
    /// let mut rows = stmt.query([3])?;
    /// let mut sum = 0_i64;
    /// while let Some(row) = rows.next()? {
    ///     sum += row.get::<_, i64>(0)?;
    /// }
    /// assert_eq!(sum, 6);
    /// # Ok::<(), edgelite::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// Parameter errors. Failures while running come from [`Rows::next`].
    pub fn query<P: Params>(&mut self, params: P) -> Result<Rows<'_>> {
        self.stmt.reset();
        params.__bind_in(self)?;
        Ok(Rows::new(self))
    }

    /// Like [`query`](Statement::query), with each row mapped by `f`; the result is an
    /// `Iterator<Item = Result<T>>`.
    ///
    /// # Errors
    ///
    /// Parameter errors.
    pub fn query_map<T, P, F>(&mut self, params: P, f: F) -> Result<MappedRows<'_, F>>
    where
        P: Params,
        F: FnMut(&Row<'_>) -> Result<T>,
    {
        Ok(self.query(params)?.mapped(f))
    }

    /// Runs the query and maps its first row with `f`.
    ///
    /// # Errors
    ///
    /// [`Error::QueryReturnedNoRows`] if there is none; errors of running and of `f`.
    pub fn query_row<T, P, F>(&mut self, params: P, f: F) -> Result<T>
    where
        P: Params,
        F: FnOnce(&Row<'_>) -> Result<T>,
    {
        let mut rows = self.query(params)?;
        let row = rows.next()?.ok_or(Error::QueryReturnedNoRows)?;
        f(row)
    }

    /// Runs the query, which must return exactly one row, and maps it with `f`.
    ///
    /// # Errors
    ///
    /// [`Error::QueryReturnedNoRows`], [`Error::QueryReturnedMoreThanOneRow`], errors of
    /// running and of `f`.
    pub fn query_one<T, P, F>(&mut self, params: P, f: F) -> Result<T>
    where
        P: Params,
        F: FnOnce(&Row<'_>) -> Result<T>,
    {
        let mut rows = self.query(params)?;
        let value = f(rows.next()?.ok_or(Error::QueryReturnedNoRows)?)?;
        if rows.next()?.is_some() {
            return Err(Error::QueryReturnedMoreThanOneRow);
        }
        Ok(value)
    }

    /// Whether the query returns at least one row.
    ///
    /// # Errors
    ///
    /// Parameter errors or the SQLite failure.
    pub fn exists<P: Params>(&mut self, params: P) -> Result<bool> {
        Ok(self.query(params)?.next()?.is_some())
    }

    /// The number of result columns.
    #[must_use]
    pub fn column_count(&self) -> usize {
        self.stmt.column_count()
    }

    /// The name of a result column.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidColumnIndex`] if out of range; [`Error::Utf8Error`] if not UTF-8.
    pub fn column_name(&self, col: usize) -> Result<&str> {
        let name = self.stmt.column_name(col).ok_or(Error::InvalidColumnIndex(col))?;
        Ok(name.to_str()?)
    }

    /// The declared type of a result column (`"INTEGER"` for `x INTEGER`), `None` when the
    /// column is an expression, not UTF-8, or out of range.
    ///
    /// ```
    /// let conn = edgelite::Connection::open_in_memory()?;
    /// conn.execute_batch("CREATE TABLE t(a INTEGER, b)")?;
    /// let stmt = conn.prepare("SELECT a, b, 1 FROM t")?;
    /// assert_eq!(stmt.column_decltype(0), Some("INTEGER"));
    /// assert_eq!(stmt.column_decltype(1), None);
    /// assert_eq!(stmt.column_decltype(2), None);
    /// # Ok::<(), edgelite::Error>(())
    /// ```
    #[must_use]
    pub fn column_decltype(&self, col: usize) -> Option<&str> {
        self.stmt.column_decltype(col).and_then(|t| t.to_str().ok())
    }

    /// Whether the statement is an `EXPLAIN` or `EXPLAIN QUERY PLAN` statement.
    ///
    /// ```
    /// let conn = edgelite::Connection::open_in_memory()?;
    /// assert!(conn.prepare("EXPLAIN SELECT 1")?.is_explain());
    /// assert!(!conn.prepare("SELECT 1")?.is_explain());
    /// # Ok::<(), edgelite::Error>(())
    /// ```
    #[must_use]
    pub fn is_explain(&self) -> bool {
        self.stmt.explain_mode() != 0
    }

    /// The names of all result columns, by index (a name that is not UTF-8 shows as `""`).
    #[must_use]
    pub fn column_names(&self) -> Vec<&str> {
        (0..self.column_count()).map(|i| self.column_name(i).unwrap_or("")).collect()
    }

    /// The index of the result column with this name (ASCII case-insensitive, as SQL is).
    ///
    /// # Errors
    ///
    /// [`Error::InvalidColumnName`] if no column has it.
    pub fn column_index(&self, name: &str) -> Result<usize> {
        (0..self.column_count())
            .find(|&i| self.stmt.column_name(i).is_some_and(|n| n.to_bytes().eq_ignore_ascii_case(name.as_bytes())))
            .ok_or_else(|| Error::InvalidColumnName(name.to_owned()))
    }

    /// The number of parameters (the largest index, for `?NNN`).
    #[must_use]
    pub fn parameter_count(&self) -> usize {
        self.stmt.bind_parameter_count()
    }

    /// The 1-based index of a named parameter, given with its prefix (`":name"`).
    ///
    /// ```
    /// let conn = edgelite::Connection::open_in_memory()?;
    /// let stmt = conn.prepare("SELECT :a, @b, $c")?;
    /// assert_eq!(stmt.parameter_index("@b")?, Some(2));
    /// assert_eq!(stmt.parameter_index(":zzz")?, None);
    /// # Ok::<(), edgelite::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`Error::NulError`] if the name holds a NUL byte.
    pub fn parameter_index(&self, name: &str) -> Result<Option<usize>> {
        let c = CString::new(name)?;
        Ok(self.stmt.bind_parameter_index(&c))
    }

    /// The name of the parameter at a 1-based index; `None` for `?` parameters.
    #[must_use]
    pub fn parameter_name(&self, index: usize) -> Option<&str> {
        self.stmt.bind_parameter_name(index).and_then(|n| n.to_str().ok())
    }

    /// Binds one value to a 1-based parameter index, for use with
    /// [`raw_execute`](Statement::raw_execute) or [`raw_query`](Statement::raw_query).
    ///
    /// # Errors
    ///
    /// The conversion error, or `ParameterOutOfRange` for a bad index.
    pub fn raw_bind_parameter<T: ToSql + ?Sized>(&mut self, index: usize, value: &T) -> Result<()> {
        self.bind_one(index, value)
    }

    /// Runs the statement with the parameters bound so far; see
    /// [`raw_bind_parameter`](Statement::raw_bind_parameter).
    ///
    /// # Errors
    ///
    /// As for [`execute`](Statement::execute).
    pub fn raw_execute(&mut self) -> Result<usize> {
        self.stmt.reset();
        self.execute_bound()
    }

    /// Starts the query with the parameters bound so far.
    pub fn raw_query(&mut self) -> Rows<'_> {
        self.stmt.reset();
        Rows::new(self)
    }

    /// Resets the statement to its start (keeping its bindings). Any error of the last run
    /// has already been reported by the call that hit it, and is not repeated.
    pub fn reset(&mut self) {
        self.stmt.reset();
    }

    /// Sets every parameter back to `NULL`.
    pub fn clear_bindings(&mut self) {
        self.stmt.clear_bindings();
    }

    /// Whether the statement does not write to the database.
    #[must_use]
    pub fn readonly(&self) -> bool {
        self.stmt.readonly()
    }

    /// The SQL text the statement was compiled from.
    #[must_use]
    pub fn sql(&self) -> Option<&str> {
        self.stmt.sql()
    }

    /// The SQL text with the current bindings substituted.
    #[must_use]
    pub fn expanded_sql(&self) -> Option<String> {
        self.stmt.expanded_sql()
    }

    /// Finalizes the statement.
    ///
    /// # Errors
    ///
    /// None at present: finalizing repeats the last run's error, which was already reported.
    pub fn finalize(self) -> Result<()> {
        drop(self);
        Ok(())
    }

    pub(crate) fn bind_one<T: ToSql + ?Sized>(&self, index: usize, value: &T) -> Result<()> {
        let out = value.to_sql()?;
        let rc = match out {
            ToSqlOutput::ZeroBlob(n) => self.stmt.bind_zeroblob(index, n),
            ref o => self.stmt.bind_value(index, o.value_ref().unwrap_or(ValueRef::Null)),
        };
        if rc == ffi::SQLITE_OK { Ok(()) } else { Err(self.conn.error(rc)) }
    }

    pub(crate) fn bind_positional<I, T>(&self, values: I) -> Result<()>
    where
        I: IntoIterator<Item = T>,
        T: ToSql,
    {
        let expected = self.parameter_count();
        let mut given = 0;
        for v in values {
            given += 1;
            if given > expected {
                continue; // counted for the error below
            }
            self.bind_one(given, &v)?;
        }
        if given == expected { Ok(()) } else { Err(Error::InvalidParameterCount { expected, given }) }
    }

    pub(crate) fn bind_named(&self, pairs: &[(&str, &dyn ToSql)]) -> Result<()> {
        for (name, value) in pairs {
            let index = self.parameter_index(name)?.ok_or_else(|| Error::InvalidParameterName((*name).to_owned()))?;
            self.bind_one(index, value)?;
        }
        Ok(())
    }
}

impl fmt::Debug for Statement<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Statement").field("sql", &self.sql()).finish_non_exhaustive()
    }
}
