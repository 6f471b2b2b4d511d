//! Statement parameters: the sealed [`Params`] trait and what implements it.

use crate::Result;
use crate::statement::Statement;
use crate::types::ToSql;

mod sealed {
    /// Keeps [`Params`](super::Params) closed: the binding logic depends on its impls.
    pub trait Sealed {}
}
use sealed::Sealed;

/// Something that can be bound to a statement's parameters.
///
/// | to bind | write |
/// |---|---|
/// | nothing | `[]` |
/// | values of one type | `[1, 2, 3]`, `&[&a, &b]` |
/// | values of mixed types | `(1, "two", 3.0)`, `params![1, "two", 3.0]` |
/// | named parameters | `named_params! {":id": 1, ":name": "x"}` or `&[(":id", &1)]` |
/// | a runtime list | `params_from_iter(vec)` |
///
/// Positional values must match the statement's parameter count exactly; named ones must
/// exist in the statement.
///
/// ```
/// use edgelite::{named_params, params, params_from_iter, Connection};
///
/// let conn = Connection::open_in_memory()?;
/// conn.execute_batch("CREATE TABLE t(a, b, c)")?;
/// conn.execute("INSERT INTO t VALUES (1, 2, 3)", [])?;
/// conn.execute("INSERT INTO t VALUES (?1, ?2, ?3)", [4, 5, 6])?;
/// conn.execute("INSERT INTO t VALUES (?, ?, ?)", (7, "eight", 9.0))?;
/// conn.execute("INSERT INTO t VALUES (?1, ?2, ?3)", params![10, Some(11), None::<i32>])?;
/// conn.execute("INSERT INTO t VALUES (:a, :b, :c)", named_params! {":c": 3, ":b": 2, ":a": 1})?;
/// conn.execute("INSERT INTO t VALUES (?, ?, ?)", params_from_iter(vec![0; 3]))?;
/// let n: i64 = conn.query_row("SELECT count(*) FROM t", [], |r| r.get(0))?;
/// assert_eq!(n, 6);
/// # Ok::<(), edgelite::Error>(())
/// ```
///
/// The trait is sealed: the impls listed here are the complete list.
pub trait Params: Sealed {
    // Not part of the public API; the only caller is `Statement`.
    #[doc(hidden)]
    fn __bind_in(self, stmt: &mut Statement<'_>) -> Result<()>;
}

/// No parameters: `[]`.
impl Sealed for [&(dyn ToSql + Send + Sync); 0] {}
impl Params for [&(dyn ToSql + Send + Sync); 0] {
    fn __bind_in(self, stmt: &mut Statement<'_>) -> Result<()> {
        stmt.bind_positional(std::iter::empty::<&dyn ToSql>())
    }
}

impl Sealed for &[&dyn ToSql] {}
impl Params for &[&dyn ToSql] {
    fn __bind_in(self, stmt: &mut Statement<'_>) -> Result<()> {
        stmt.bind_positional(self.iter())
    }
}

impl Sealed for &[(&str, &dyn ToSql)] {}
impl Params for &[(&str, &dyn ToSql)] {
    fn __bind_in(self, stmt: &mut Statement<'_>) -> Result<()> {
        stmt.bind_named(self)
    }
}

impl<T: ToSql + ?Sized, const N: usize> Sealed for &[&T; N] {}
impl<T: ToSql + ?Sized, const N: usize> Params for &[&T; N] {
    fn __bind_in(self, stmt: &mut Statement<'_>) -> Result<()> {
        stmt.bind_positional(self.iter())
    }
}

impl<T: ToSql + ?Sized, const N: usize> Sealed for &[(&str, &T); N] {}
impl<T: ToSql + ?Sized, const N: usize> Params for &[(&str, &T); N] {
    fn __bind_in(self, stmt: &mut Statement<'_>) -> Result<()> {
        for (name, value) in self {
            let index =
                stmt.parameter_index(name)?.ok_or_else(|| crate::Error::InvalidParameterName((*name).to_owned()))?;
            stmt.bind_one(index, *value)?;
        }
        Ok(())
    }
}

// Arrays by value, `[1, 2, 3]`. Listed sizes rather than a const generic so that `[]` (size 0)
// has exactly one candidate impl and needs no type annotation.
macro_rules! array_params {
    ($($n:literal)*) => {$(
        impl<T: ToSql> Sealed for [T; $n] {}
        impl<T: ToSql> Params for [T; $n] {
            fn __bind_in(self, stmt: &mut Statement<'_>) -> Result<()> {
                stmt.bind_positional(self.iter())
            }
        }
    )*};
}
array_params!(1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20 21 22 23 24 25 26 27 28 29 30 31 32);

// Tuples of mixed types, `(1, "a", 2.5)`.
macro_rules! tuple_params {
    ($count:literal: $($field:tt $t:ident),+) => {
        impl<$($t: ToSql),+> Sealed for ($($t,)+) {}
        impl<$($t: ToSql),+> Params for ($($t,)+) {
            fn __bind_in(self, stmt: &mut Statement<'_>) -> Result<()> {
                let expected = stmt.parameter_count();
                if expected != $count {
                    return Err(crate::Error::InvalidParameterCount { expected, given: $count });
                }
                $( stmt.bind_one($field + 1, &self.$field)?; )+
                Ok(())
            }
        }
    };
}
tuple_params!(1: 0 A);
tuple_params!(2: 0 A, 1 B);
tuple_params!(3: 0 A, 1 B, 2 C);
tuple_params!(4: 0 A, 1 B, 2 C, 3 D);
tuple_params!(5: 0 A, 1 B, 2 C, 3 D, 4 E);
tuple_params!(6: 0 A, 1 B, 2 C, 3 D, 4 E, 5 F);
tuple_params!(7: 0 A, 1 B, 2 C, 3 D, 4 E, 5 F, 6 G);
tuple_params!(8: 0 A, 1 B, 2 C, 3 D, 4 E, 5 F, 6 G, 7 H);
tuple_params!(9: 0 A, 1 B, 2 C, 3 D, 4 E, 5 F, 6 G, 7 H, 8 I);
tuple_params!(10: 0 A, 1 B, 2 C, 3 D, 4 E, 5 F, 6 G, 7 H, 8 I, 9 J);
tuple_params!(11: 0 A, 1 B, 2 C, 3 D, 4 E, 5 F, 6 G, 7 H, 8 I, 9 J, 10 K);
tuple_params!(12: 0 A, 1 B, 2 C, 3 D, 4 E, 5 F, 6 G, 7 H, 8 I, 9 J, 10 K, 11 L);

/// Positional parameters from an iterator; see [`params_from_iter`].
#[derive(Clone, Debug)]
pub struct ParamsFromIter<I>(I);

/// Binds the items of an iterator as positional parameters, for lists only known at run time.
///
/// ```
/// use edgelite::{params_from_iter, Connection};
///
/// let conn = Connection::open_in_memory()?;
/// let ids = vec![3, 1, 2];
/// let placeholders = vec!["?"; ids.len()].join(", ");
/// let sql = format!("SELECT count(*) FROM (VALUES (1), (2), (5)) WHERE column1 IN ({placeholders})");
/// let n: i64 = conn.query_row(&sql, params_from_iter(&ids), |r| r.get(0))?;
/// assert_eq!(n, 2);
/// # Ok::<(), edgelite::Error>(())
/// ```
pub fn params_from_iter<I>(iter: I) -> ParamsFromIter<I>
where
    I: IntoIterator,
    I::Item: ToSql,
{
    ParamsFromIter(iter)
}

impl<I> Sealed for ParamsFromIter<I>
where
    I: IntoIterator,
    I::Item: ToSql,
{
}
impl<I> Params for ParamsFromIter<I>
where
    I: IntoIterator,
    I::Item: ToSql,
{
    fn __bind_in(self, stmt: &mut Statement<'_>) -> Result<()> {
        stmt.bind_positional(self.0)
    }
}

/// Builds positional parameters of mixed types: `params![1, "two", 3.0]`.
///
/// Expands to a `&[&dyn ToSql]` slice, which implements [`Params`].
///
/// ```
/// use edgelite::{params, Connection};
///
/// let conn = Connection::open_in_memory()?;
/// let name = String::from("x");
/// let s: String = conn.query_row("SELECT ?1 || ?2", params![name, 7], |r| r.get(0))?;
/// assert_eq!(s, "x7");
/// conn.query_row("SELECT 1", params![], |r| r.get::<_, i64>(0))?;
/// # Ok::<(), edgelite::Error>(())
/// ```
#[macro_export]
macro_rules! params {
    () => {
        &[] as &[&dyn $crate::ToSql]
    };
    ($($value:expr),+ $(,)?) => {
        &[$(&$value as &dyn $crate::ToSql),+] as &[&dyn $crate::ToSql]
    };
}

/// Builds named parameters: `named_params! {":id": 1, ":name": "x"}`.
///
/// Expands to a `&[(&str, &dyn ToSql)]` slice, which implements [`Params`]. Names include
/// their prefix (`:`, `@` or `$`), as SQLite reports them.
///
/// ```
/// use edgelite::{named_params, Connection};
///
/// let conn = Connection::open_in_memory()?;
/// let n: i64 = conn.query_row("SELECT :a * @b", named_params! {":a": 6, "@b": 7}, |r| r.get(0))?;
/// assert_eq!(n, 42);
/// # Ok::<(), edgelite::Error>(())
/// ```
#[macro_export]
macro_rules! named_params {
    () => {
        &[] as &[(&str, &dyn $crate::ToSql)]
    };
    ($($name:literal: $value:expr),+ $(,)?) => {
        &[$(($name, &$value as &dyn $crate::ToSql)),+] as &[(&str, &dyn $crate::ToSql)]
    };
}
