//! User-defined SQL functions: scalar functions and aggregates written in Rust.
//!
//! No panic crosses into SQLite: every callback runs under `catch_unwind`, and a panic makes
//! the SQL statement fail with `SQLITE_INTERNAL` and a message ending in "panicked".
//!
//! ```
//! use edgelite::functions::FunctionFlags;
//! use edgelite::Connection;
//!
//! let conn = Connection::open_in_memory()?;
//! conn.create_scalar_function("halve", 1, FunctionFlags::UTF8 | FunctionFlags::DETERMINISTIC, |ctx| {
//!     let x: f64 = ctx.get(0)?;
//!     Ok(x / 2.0)
//! })?;
//! let half: f64 = conn.query_row("SELECT halve(5)", [], |r| r.get(0))?;
//! assert_eq!(half, 2.5);
//! # Ok::<(), edgelite::Error>(())
//! ```

use std::any::Any;
use std::ffi::{CString, c_int, c_void};
use std::fmt;
use std::mem::size_of;
use std::ops::BitOr;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::ptr;
use std::slice;

use crate::error::Error;
use crate::ffi;
use crate::raw_statement::bytes;
use crate::types::{FromSql, ToSql, ToSqlOutput, ValueRef};
use crate::{Connection, Result};

/// Properties of a function, given when registering it (`SQLITE_UTF8 | SQLITE_DETERMINISTIC`...).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct FunctionFlags(c_int);

impl FunctionFlags {
    /// Text arguments and results are UTF-8 (always wanted from Rust).
    pub const UTF8: FunctionFlags = FunctionFlags(ffi::SQLITE_UTF8);
    /// Same arguments give the same result within a statement: SQLite may factor calls out and
    /// the function may be used in indexes and CHECK constraints.
    pub const DETERMINISTIC: FunctionFlags = FunctionFlags(ffi::SQLITE_DETERMINISTIC);
    /// Callable only from top-level SQL, not from triggers, views or the schema.
    pub const DIRECTONLY: FunctionFlags = FunctionFlags(ffi::SQLITE_DIRECTONLY);
    /// Has no side effects and cannot leak information: safe to call from the schema.
    pub const INNOCUOUS: FunctionFlags = FunctionFlags(ffi::SQLITE_INNOCUOUS);

    /// The raw bits.
    #[must_use]
    pub const fn bits(self) -> c_int {
        self.0
    }
}

impl Default for FunctionFlags {
    /// `UTF8`.
    fn default() -> FunctionFlags {
        FunctionFlags::UTF8
    }
}

impl BitOr for FunctionFlags {
    type Output = FunctionFlags;
    fn bitor(self, rhs: FunctionFlags) -> FunctionFlags {
        FunctionFlags(self.0 | rhs.0)
    }
}

impl fmt::Debug for FunctionFlags {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "FunctionFlags({:#x})", self.0)
    }
}

/// The arguments of one call of a user-defined function.
pub struct Context<'a> {
    args: &'a [*mut ffi::sqlite3_value],
}

impl Context<'_> {
    /// The number of arguments.
    #[must_use]
    pub fn len(&self) -> usize {
        self.args.len()
    }

    /// Whether there are no arguments.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.args.is_empty()
    }

    /// Reads argument `idx` (0-based) as a Rust type.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidColumnIndex`] if there is no such argument;
    /// [`Error::FromSqlConversionFailure`] (with `name: None`) if it does not convert.
    pub fn get<T: FromSql>(&self, idx: usize) -> Result<T> {
        let value = self.get_ref(idx)?;
        T::column_result(value).map_err(|source| Error::FromSqlConversionFailure {
            index: idx,
            name: None,
            value_type: value.data_type(),
            source,
        })
    }

    /// Borrows argument `idx` (0-based) as SQLite holds it.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidColumnIndex`] if there is no such argument.
    pub fn get_ref(&self, idx: usize) -> Result<ValueRef<'_>> {
        let arg = *self.args.get(idx).ok_or(Error::InvalidColumnIndex(idx))?;
        // SAFETY: SQLite passed `arg` for this call; it stays valid while the call runs, which
        // the borrow of `self` (alive only inside the callback) guarantees.
        Ok(unsafe { value_ref(arg) })
    }
}

impl fmt::Debug for Context<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Context").field("len", &self.len()).finish()
    }
}

/// Reads an `sqlite3_value`.
///
/// # Safety
///
/// `v` is a valid protected value that outlives `'a` and is not changed meanwhile.
unsafe fn value_ref<'a>(v: *mut ffi::sqlite3_value) -> ValueRef<'a> {
    // SAFETY: v is valid (the caller's contract).
    let kind = unsafe { ffi::sqlite3_value_type(v) };
    match kind {
        // SAFETY: v is valid.
        ffi::SQLITE_INTEGER => ValueRef::Integer(unsafe { ffi::sqlite3_value_int64(v) }),
        // SAFETY: v is valid.
        ffi::SQLITE_FLOAT => ValueRef::Real(unsafe { ffi::sqlite3_value_double(v) }),
        ffi::SQLITE_TEXT => {
            // SAFETY: v is valid; text before its length, as SQLite requires.
            let p = unsafe { ffi::sqlite3_value_text(v) };
            // SAFETY: v is valid.
            let n = unsafe { ffi::sqlite3_value_bytes(v) };
            // SAFETY: p holds n bytes, valid for 'a (the caller's contract).
            ValueRef::Text(unsafe { bytes(p.cast(), n) })
        }
        ffi::SQLITE_BLOB => {
            // SAFETY: v is valid; the blob before its length, as SQLite requires.
            let p = unsafe { ffi::sqlite3_value_blob(v) };
            // SAFETY: v is valid.
            let n = unsafe { ffi::sqlite3_value_bytes(v) };
            // SAFETY: p holds n bytes, valid for 'a (the caller's contract).
            ValueRef::Blob(unsafe { bytes(p.cast(), n) })
        }
        _ => ValueRef::Null,
    }
}

/// A user-defined aggregate function: `init` makes an accumulator for each group, `step`
/// feeds it each row's arguments, `finalize` turns it into the result.
///
/// ```
/// use edgelite::functions::{Aggregate, Context, FunctionFlags};
/// use edgelite::{Connection, Result};
///
/// /// Product of the (integer) arguments; NULL for an empty group.
/// struct Product;
///
/// impl Aggregate<i64, Option<i64>> for Product {
///     fn init(&self, _: &Context<'_>) -> Result<i64> {
///         Ok(1)
///     }
///     fn step(&self, ctx: &Context<'_>, acc: &mut i64) -> Result<()> {
///         *acc *= ctx.get::<i64>(0)?;
///         Ok(())
///     }
///     fn finalize(&self, _: &Context<'_>, acc: Option<i64>) -> Result<Option<i64>> {
///         Ok(acc)
///     }
/// }
///
/// let conn = Connection::open_in_memory()?;
/// conn.create_aggregate_function("product", 1, FunctionFlags::UTF8, Product)?;
/// let p: i64 = conn.query_row("SELECT product(column1) FROM (VALUES (2), (3), (7))", [], |r| r.get(0))?;
/// assert_eq!(p, 42);
/// let none: Option<i64> = conn.query_row("SELECT product(1) WHERE 0", [], |r| r.get(0))?;
/// assert_eq!(none, None);
/// # Ok::<(), edgelite::Error>(())
/// ```
pub trait Aggregate<A, T>: Send + 'static
where
    T: ToSql,
{
    /// Makes the accumulator, at the first row of a group.
    ///
    /// # Errors
    ///
    /// Any error; the statement fails with its message.
    fn init(&self, ctx: &Context<'_>) -> Result<A>;

    /// Adds one row's arguments to the accumulator.
    ///
    /// # Errors
    ///
    /// Any error; the statement fails with its message.
    fn step(&self, ctx: &Context<'_>, acc: &mut A) -> Result<()>;

    /// Produces the result; `acc` is `None` if the group had no rows. The context has no
    /// arguments.
    ///
    /// # Errors
    ///
    /// Any error; the statement fails with its message.
    fn finalize(&self, ctx: &Context<'_>, acc: Option<A>) -> Result<T>;
}

impl Connection {
    /// Registers (or replaces) a scalar SQL function. `n_arg` is its number of arguments, or
    /// -1 for any number. The closure's errors (and panics) make the statement fail.
    ///
    /// # Errors
    ///
    /// [`Error::NulError`] for a name with a NUL byte; the SQLite failure (bad name or
    /// argument count, or replacing a function while a statement uses it).
    pub fn create_scalar_function<F, T>(&self, name: &str, n_arg: i32, flags: FunctionFlags, f: F) -> Result<()>
    where
        F: Fn(&Context<'_>) -> Result<T> + Send + 'static,
        T: ToSql,
    {
        let c_name = CString::new(name)?;
        let data = Box::into_raw(Box::new(f));
        // SAFETY: `data` is a Box<F>, which call_scalar::<F, T> reads and drop_boxed::<F> frees;
        // SQLite now owns it (and frees it itself if registration fails).
        unsafe {
            self.inner().create_function(
                &c_name,
                n_arg,
                flags.bits(),
                data.cast(),
                Some(call_scalar::<F, T>),
                None,
                None,
                drop_boxed::<F>,
            )
        }
    }

    /// Registers (or replaces) an aggregate SQL function; see [`Aggregate`].
    ///
    /// # Errors
    ///
    /// As for [`create_scalar_function`](Connection::create_scalar_function).
    pub fn create_aggregate_function<A, D, T>(
        &self,
        name: &str,
        n_arg: i32,
        flags: FunctionFlags,
        aggr: D,
    ) -> Result<()>
    where
        D: Aggregate<A, T>,
        T: ToSql,
        A: 'static,
    {
        let c_name = CString::new(name)?;
        let data = Box::into_raw(Box::new(aggr));
        // SAFETY: `data` is a Box<D>, which the step/final thunks read and drop_boxed::<D>
        // frees; SQLite now owns it (and frees it itself if registration fails).
        unsafe {
            self.inner().create_function(
                &c_name,
                n_arg,
                flags.bits(),
                data.cast(),
                None,
                Some(call_aggregate_step::<A, D, T>),
                Some(call_aggregate_final::<A, D, T>),
                drop_boxed::<D>,
            )
        }
    }

    /// Removes a function or aggregate registered with this name and argument count.
    ///
    /// # Errors
    ///
    /// [`Error::NulError`], or the SQLite failure.
    pub fn remove_function(&self, name: &str, n_arg: i32) -> Result<()> {
        let c_name = CString::new(name)?;
        self.inner().remove_function(&c_name, n_arg)
    }
}

/// The text of a panic payload, for the error message.
pub(crate) fn panic_message(payload: &(dyn Any + Send)) -> &str {
    if let Some(s) = payload.downcast_ref::<&str>() {
        s
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s
    } else {
        "(non-string payload)"
    }
}

/// Sets an error result: the message, then the code (which keeps the message).
///
/// # Safety
///
/// `ctx` is the context of the running call.
unsafe fn set_error(ctx: *mut ffi::sqlite3_context, code: c_int, message: &str) {
    let len = c_int::try_from(message.len()).unwrap_or(c_int::MAX);
    // SAFETY: ctx is live; message is valid for `len` bytes, which SQLite copies.
    unsafe { ffi::sqlite3_result_error(ctx, message.as_ptr().cast(), len) };
    // SAFETY: ctx is live.
    unsafe { ffi::sqlite3_result_error_code(ctx, code) };
}

/// Reports an error returned by user code.
///
/// # Safety
///
/// `ctx` is the context of the running call.
unsafe fn report_error(ctx: *mut ffi::sqlite3_context, err: &Error) {
    let code = match err {
        Error::SqliteFailure { error, .. } => error.extended_code,
        _ => ffi::SQLITE_ERROR,
    };
    let message = match err {
        Error::UserFunctionError(e) => e.to_string(),
        e => e.to_string(),
    };
    // SAFETY: ctx is live (the caller's contract).
    unsafe { set_error(ctx, code, &message) };
}

/// Sets the call's result from a Rust value.
///
/// # Safety
///
/// `ctx` is the context of the running call.
unsafe fn set_result<T: ToSql + ?Sized>(ctx: *mut ffi::sqlite3_context, value: &T) -> Result<()> {
    let out = value.to_sql()?;
    let v = match out {
        ToSqlOutput::ZeroBlob(n) => {
            // SAFETY: ctx is live.
            unsafe { ffi::sqlite3_result_zeroblob(ctx, n) };
            return Ok(());
        }
        ref o => o.value_ref().unwrap_or(ValueRef::Null),
    };
    match v {
        // SAFETY: ctx is live.
        ValueRef::Null => unsafe { ffi::sqlite3_result_null(ctx) },
        // SAFETY: ctx is live.
        ValueRef::Integer(i) => unsafe { ffi::sqlite3_result_int64(ctx, i) },
        // SAFETY: ctx is live.
        ValueRef::Real(r) => unsafe { ffi::sqlite3_result_double(ctx, r) },
        // SAFETY: ctx is live; t is valid for t.len() bytes, which SQLITE_TRANSIENT has SQLite
        // copy before returning.
        ValueRef::Text(t) => unsafe {
            ffi::sqlite3_result_text64(
                ctx,
                t.as_ptr().cast(),
                t.len() as u64,
                ffi::SQLITE_TRANSIENT(),
                ffi::SQLITE_UTF8 as u8,
            );
        },
        // SAFETY: as for text (an empty slice has a non-null pointer: an empty blob, not NULL).
        ValueRef::Blob(b) => unsafe {
            ffi::sqlite3_result_blob64(ctx, b.as_ptr().cast(), b.len() as u64, ffi::SQLITE_TRANSIENT());
        },
    }
    Ok(())
}

/// Runs user code for a callback: errors and panics become the call's error result.
///
/// # Safety
///
/// `ctx` is the context of the running call.
unsafe fn guarded(ctx: *mut ffi::sqlite3_context, what: &str, body: impl FnOnce() -> Result<()>) {
    // Error reporting runs inside the guard too: it formats user errors, whose Display may panic.
    let outcome = catch_unwind(AssertUnwindSafe(|| {
        if let Err(e) = body() {
            // SAFETY: ctx is live (the caller's contract).
            unsafe { report_error(ctx, &e) };
        }
    }));
    if let Err(payload) = outcome {
        let message = format!("{what} panicked: {}", panic_message(&*payload));
        // SAFETY: ctx is live (the caller's contract).
        unsafe { set_error(ctx, ffi::SQLITE_INTERNAL, &message) };
        // The payload's own Drop could panic; dropping it under a guard keeps that in Rust.
        let _ = catch_unwind(AssertUnwindSafe(move || drop(payload)));
    }
}

/// The arguments SQLite passed, as a slice.
///
/// # Safety
///
/// `argv` points at `argc` values (or is anything when `argc` is 0) valid for `'a`.
unsafe fn args<'a>(argc: c_int, argv: *mut *mut ffi::sqlite3_value) -> &'a [*mut ffi::sqlite3_value] {
    match usize::try_from(argc) {
        Ok(n) if n > 0 && !argv.is_null() => {
            // SAFETY: argv holds argc pointers for the duration of the call.
            unsafe { slice::from_raw_parts(argv, n) }
        }
        _ => &[],
    }
}

/// The user data registered with the function, as a `&D`.
///
/// # Safety
///
/// The function was registered with a `Box<D>` as its user data.
unsafe fn user_data<'a, D>(ctx: *mut ffi::sqlite3_context) -> &'a D {
    // SAFETY: ctx is live.
    let p = unsafe { ffi::sqlite3_user_data(ctx) };
    // SAFETY: p is the Box<D> registered (the caller's contract), alive until xDestroy, which
    // SQLite does not run while the function is executing. Only shared access is made.
    unsafe { &*p.cast::<D>() }
}

unsafe extern "C" fn call_scalar<F, T>(ctx: *mut ffi::sqlite3_context, argc: c_int, argv: *mut *mut ffi::sqlite3_value)
where
    F: Fn(&Context<'_>) -> Result<T> + Send + 'static,
    T: ToSql,
{
    let body = || {
        // SAFETY: registered by create_scalar_function with a Box<F>.
        let f = unsafe { user_data::<F>(ctx) };
        // SAFETY: SQLite passes argc valid values, alive for the call.
        let context = Context { args: unsafe { args(argc, argv) } };
        let value = f(&context)?;
        // SAFETY: ctx is the live context of this call.
        unsafe { set_result(ctx, &value) }
    };
    // SAFETY: SQLite calls this with a live context.
    unsafe { guarded(ctx, "user-defined function", body) };
}

/// The accumulator slot in SQLite's per-group memory: null until the first step.
///
/// # Safety
///
/// `ctx` is the context of a running aggregate step or final call.
unsafe fn accumulator_slot<A>(ctx: *mut ffi::sqlite3_context, allocate: bool) -> *mut *mut A {
    let size = if allocate { size_of::<*mut A>() as c_int } else { 0 };
    // SAFETY: ctx is live. SQLite zero-fills the memory on first allocation (a null pointer),
    // and with size 0 returns null if step never allocated it.
    unsafe { ffi::sqlite3_aggregate_context(ctx, size) }.cast()
}

unsafe extern "C" fn call_aggregate_step<A, D, T>(
    ctx: *mut ffi::sqlite3_context,
    argc: c_int,
    argv: *mut *mut ffi::sqlite3_value,
) where
    D: Aggregate<A, T>,
    T: ToSql,
{
    let body = || {
        // SAFETY: ctx is the live context of an aggregate step.
        let slot = unsafe { accumulator_slot::<A>(ctx, true) };
        if slot.is_null() {
            return Err(Error::from_code(ffi::SQLITE_NOMEM, Some("out of memory".to_owned())));
        }
        // SAFETY: registered by create_aggregate_function with a Box<D>.
        let aggr = unsafe { user_data::<D>(ctx) };
        // SAFETY: SQLite passes argc valid values, alive for the call.
        let context = Context { args: unsafe { args(argc, argv) } };
        // SAFETY: slot points at SQLite's per-group memory, sized and aligned for one pointer,
        // holding null or a Box<A> we made; SQLite runs one call of a group at a time.
        let current = unsafe { *slot };
        let acc = if current.is_null() {
            let fresh = Box::into_raw(Box::new(aggr.init(&context)?));
            // SAFETY: as above; the slot now owns the new box.
            unsafe { *slot = fresh };
            fresh
        } else {
            current
        };
        // SAFETY: acc is a live Box<A> owned by the slot and used by nobody else meanwhile.
        aggr.step(&context, unsafe { &mut *acc })
    };
    // SAFETY: SQLite calls this with a live context.
    unsafe { guarded(ctx, "aggregate step", body) };
}

unsafe extern "C" fn call_aggregate_final<A, D, T>(ctx: *mut ffi::sqlite3_context)
where
    D: Aggregate<A, T>,
    T: ToSql,
{
    let body = || {
        // SAFETY: ctx is the live context of an aggregate final call.
        let slot = unsafe { accumulator_slot::<A>(ctx, false) };
        // SAFETY: a non-null slot is SQLite's per-group memory holding null or our Box<A>.
        let current = if slot.is_null() { ptr::null_mut() } else { unsafe { *slot } };
        let acc = if current.is_null() {
            None
        } else {
            // SAFETY: as above; null the slot so the box is taken back exactly once.
            unsafe { *slot = ptr::null_mut() };
            // SAFETY: current came from Box::into_raw in the step thunk and is owned by nobody else now.
            Some(*unsafe { Box::from_raw(current) })
        };
        // SAFETY: registered by create_aggregate_function with a Box<D>.
        let aggr = unsafe { user_data::<D>(ctx) };
        let context = Context { args: &[] };
        let value = aggr.finalize(&context, acc)?;
        // SAFETY: ctx is the live context of this call.
        unsafe { set_result(ctx, &value) }
    };
    // SAFETY: SQLite calls this with a live context.
    unsafe { guarded(ctx, "aggregate finalizer", body) };
}

/// xDestroy: frees user data registered as a `Box<T>`.
unsafe extern "C" fn drop_boxed<T>(p: *mut c_void) {
    // A Drop impl that panics must not unwind into SQLite.
    crate::hooks::ffi_guard((), || {
        // SAFETY: p is the Box<T> handed to SQLite at registration; SQLite calls xDestroy once.
        drop(unsafe { Box::from_raw(p.cast::<T>()) });
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn panic_messages_are_extracted() {
        let p = catch_unwind(|| panic!("boom {}", 1)).expect_err("panics");
        assert_eq!(panic_message(&*p), "boom 1");
        let p = catch_unwind(|| std::panic::panic_any(3_u8)).expect_err("panics");
        assert_eq!(panic_message(&*p), "(non-string payload)");
    }
}
