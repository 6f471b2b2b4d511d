//! Query results: [`Rows`] (a streaming cursor), [`Row`] and [`MappedRows`].

use crate::Result;
use crate::error::Error;
use crate::ffi;
use crate::statement::Statement;
use crate::types::{FromSql, ValueRef};

/// The rows of a running query. It streams: each [`next`](Rows::next) steps the statement, and
/// the previous [`Row`] is gone. Dropping it resets the statement.
#[must_use = "a query does not run until its rows are read"]
pub struct Rows<'stmt> {
    stmt: Option<&'stmt Statement<'stmt>>,
    row: Option<Row<'stmt>>,
}

impl<'stmt> Rows<'stmt> {
    pub(crate) fn new(stmt: &'stmt Statement<'stmt>) -> Rows<'stmt> {
        Rows { stmt: Some(stmt), row: None }
    }

    /// Steps to the next row; `Ok(None)` at the end (and on every call afterwards).
    ///
    /// # Errors
    ///
    /// The SQLite failure (constraint, busy, a user function's error...); the query is then
    /// over.
    #[allow(clippy::should_implement_trait)] // a streaming cursor: items borrow the cursor
    pub fn next(&mut self) -> Result<Option<&Row<'stmt>>> {
        let Some(stmt) = self.stmt else { return Ok(None) };
        match stmt.stmt.step() {
            ffi::SQLITE_ROW => {
                self.row = Some(Row { stmt });
                Ok(self.row.as_ref())
            }
            ffi::SQLITE_DONE => {
                self.finish();
                Ok(None)
            }
            rc => {
                let err = stmt.conn.error(rc);
                self.finish();
                Err(err)
            }
        }
    }

    /// Maps each row with `f`, giving an ordinary `Iterator<Item = Result<T>>`.
    pub fn mapped<T, F>(self, f: F) -> MappedRows<'stmt, F>
    where
        F: FnMut(&Row<'_>) -> Result<T>,
    {
        MappedRows { rows: self, map: f }
    }

    /// The statement these rows come from (`None` once they are exhausted).
    #[must_use]
    pub fn as_ref(&self) -> Option<&Statement<'stmt>> {
        self.stmt
    }

    fn finish(&mut self) {
        self.row = None;
        if let Some(stmt) = self.stmt.take() {
            stmt.stmt.reset();
        }
    }
}

impl Drop for Rows<'_> {
    fn drop(&mut self) {
        self.finish();
    }
}

/// Rows mapped by a closure; see [`Statement::query_map`].
#[must_use = "iterators are lazy"]
pub struct MappedRows<'stmt, F> {
    rows: Rows<'stmt>,
    map: F,
}

impl<T, F> Iterator for MappedRows<'_, F>
where
    F: FnMut(&Row<'_>) -> Result<T>,
{
    type Item = Result<T>;

    fn next(&mut self) -> Option<Result<T>> {
        let map = &mut self.map;
        self.rows.next().map(|row| row.map(map)).transpose().map(Result::flatten)
    }
}

/// One row of a query result.
pub struct Row<'stmt> {
    stmt: &'stmt Statement<'stmt>,
}

impl<'stmt> Row<'stmt> {
    /// Reads a column, by index or by name, as a Rust type.
    ///
    /// ```
    /// use edgelite::{Connection, Error};
    ///
    /// let conn = Connection::open_in_memory()?;
    /// conn.query_row("SELECT 7 AS n, 'x' AS s, 300 AS big", [], |row| {
    ///     assert_eq!(row.get::<_, i32>(0)?, 7);
    ///     assert_eq!(row.get::<_, String>("s")?, "x");
    ///     assert!(matches!(row.get::<_, u8>("big"), Err(Error::FromSqlConversionFailure { .. })));
    ///     assert!(matches!(row.get::<_, i32>(9), Err(Error::InvalidColumnIndex(9))));
    ///     Ok(())
    /// })?;
    /// # Ok::<(), Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`Error::InvalidColumnIndex`] / [`Error::InvalidColumnName`], or
    /// [`Error::FromSqlConversionFailure`] naming the column and why.
    pub fn get<I: RowIndex, T: FromSql>(&self, idx: I) -> Result<T> {
        let index = idx.idx(self.stmt)?;
        let value = self.stmt.stmt.value_ref(index);
        T::column_result(value).map_err(|source| Error::FromSqlConversionFailure {
            index,
            name: self.stmt.column_name(index).ok().map(str::to_owned),
            value_type: value.data_type(),
            source,
        })
    }

    /// Borrows a column's value as SQLite holds it; valid until the next row.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidColumnIndex`] / [`Error::InvalidColumnName`].
    pub fn get_ref<I: RowIndex>(&self, idx: I) -> Result<ValueRef<'_>> {
        let index = idx.idx(self.stmt)?;
        Ok(self.stmt.stmt.value_ref(index))
    }
}

impl<'stmt> AsRef<Statement<'stmt>> for Row<'stmt> {
    /// The statement this row comes from.
    fn as_ref(&self) -> &Statement<'stmt> {
        self.stmt
    }
}

mod sealed {
    pub trait Sealed {}
    impl Sealed for usize {}
    impl Sealed for &str {}
}

/// A way to name a column: its 0-based index (`usize`) or its name (`&str`).
pub trait RowIndex: sealed::Sealed {
    /// The column index in `stmt`'s result.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidColumnIndex`] or [`Error::InvalidColumnName`].
    fn idx(&self, stmt: &Statement<'_>) -> Result<usize>;
}

impl RowIndex for usize {
    fn idx(&self, stmt: &Statement<'_>) -> Result<usize> {
        if *self < stmt.column_count() { Ok(*self) } else { Err(Error::InvalidColumnIndex(*self)) }
    }
}

impl RowIndex for &str {
    fn idx(&self, stmt: &Statement<'_>) -> Result<usize> {
        stmt.column_index(self)
    }
}

impl std::fmt::Debug for Rows<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Rows").field("stmt", &self.stmt).finish_non_exhaustive()
    }
}

impl<F> std::fmt::Debug for MappedRows<'_, F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MappedRows").field("rows", &self.rows).finish_non_exhaustive()
    }
}

impl std::fmt::Debug for Row<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut d = f.debug_map();
        for i in 0..self.stmt.column_count() {
            d.entry(&self.stmt.column_name(i).unwrap_or("?"), &self.stmt.stmt.value_ref(i));
        }
        d.finish()
    }
}
