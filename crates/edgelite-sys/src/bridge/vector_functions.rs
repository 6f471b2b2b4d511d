//! libSQL's vector SQL functions (and Turso's additions), registered on every connection.
//!
//! The semantics, the order of checks and the error texts live in `edgelite_vector::sql`; this
//! module only moves SQLite values in and results out.

use core::ffi::{CStr, c_int};
use std::panic::{AssertUnwindSafe, catch_unwind};

use edgelite_vector::VectorType;
use edgelite_vector::distance::Metric;
use edgelite_vector::sql::{self, Arg};

use super::sql::SqlError;
use super::values::{Context, arg, int_arg};
use crate::bindings::*;

/// A scalar SQL function: name, fixed arity, registration flags, the value handed back as user
/// data, and the body.
pub(crate) struct ScalarFunction {
    pub name: &'static CStr,
    pub n_args: c_int,
    pub flags: c_int,
    pub user_data: usize,
    pub x_func: unsafe extern "C" fn(*mut sqlite3_context, c_int, *mut *mut sqlite3_value),
}

/// A function of its arguments only: usable in indexes, views and triggers.
pub(crate) const PURE: c_int = SQLITE_UTF8 | SQLITE_DETERMINISTIC | SQLITE_INNOCUOUS;
/// A function that changes connection state: kept out of triggers and views.
const STATEFUL: c_int = SQLITE_UTF8 | SQLITE_DIRECTONLY;
/// The planner's memo of a sample's count (`vector_sample.rs`): not deterministic (its answer
/// changes with the data), innocuous (a memo of plan estimates, which the rewrite calls inside
/// triggers and views too).
const MEMO: c_int = SQLITE_UTF8 | SQLITE_INNOCUOUS;

const fn pure(
    name: &'static CStr,
    n_args: c_int,
    x_func: unsafe extern "C" fn(*mut sqlite3_context, c_int, *mut *mut sqlite3_value),
) -> ScalarFunction {
    ScalarFunction { name, n_args, flags: PURE, user_data: 0, x_func }
}

const fn convert(name: &'static CStr, ty: VectorType) -> ScalarFunction {
    ScalarFunction { user_data: ty.id() as usize, ..pure(name, 1, vector_convert) }
}

const fn distance(name: &'static CStr, metric: Metric) -> ScalarFunction {
    let user_data = match metric {
        Metric::Cosine => 0,
        Metric::L2 => 1,
        Metric::Dot => 2,
    };
    ScalarFunction { user_data, ..pure(name, 2, vector_distance) }
}

/// Every vector function edgelite registers.
pub(crate) const FUNCTIONS: &[ScalarFunction] = &[
    convert(c"vector", VectorType::F32),
    convert(c"vector32", VectorType::F32),
    convert(c"vector64", VectorType::F64),
    convert(c"vector16", VectorType::F16),
    convert(c"vectorb16", VectorType::Bf16),
    convert(c"vector8", VectorType::F8),
    convert(c"vector1bit", VectorType::Bit1),
    pure(c"vector_extract", 1, vector_extract),
    distance(c"vector_distance_cos", Metric::Cosine),
    distance(c"vector_distance_l2", Metric::L2),
    distance(c"vector_distance_dot", Metric::Dot),
    pure(c"vector_concat", 2, vector_concat),
    pure(c"vector_slice", 3, vector_slice),
    pure(c"libsql_vector_idx", -1, libsql_vector_idx),
    ScalarFunction { flags: STATEFUL, ..pure(c"edgelite_vector_cache_limit", 1, edgelite_vector_cache_limit) },
    ScalarFunction { flags: STATEFUL, ..pure(c"edgelite_vector_build_threads", 1, edgelite_vector_build_threads) },
    ScalarFunction { flags: STATEFUL, ..pure(c"edgelite_vector_build_limit", 1, edgelite_vector_build_limit) },
    ScalarFunction {
        flags: STATEFUL,
        ..pure(c"edgelite_vector_cache_process_limit", 1, edgelite_vector_cache_process_limit)
    },
    ScalarFunction { flags: MEMO, ..pure(c"edgelite_sample_memo", -1, super::vector_sample::edgelite_sample_memo) },
    ScalarFunction {
        flags: MEMO,
        ..pure(c"edgelite_sample_remember", -1, super::vector_sample::edgelite_sample_remember)
    },
    ScalarFunction { flags: MEMO, ..pure(c"edgelite_walk_budget", 5, super::vector_sample::edgelite_walk_budget) },
    ScalarFunction { flags: MEMO, ..pure(c"edgelite_plan_guard", 5, super::vector_sample::edgelite_plan_guard) },
    ScalarFunction { flags: MEMO, ..pure(c"edgelite_scan_cheaper", 4, super::vector_sample::edgelite_scan_cheaper) },
    pure(c"edgelite_limit_k", -1, super::vector_sample::edgelite_limit_k),
    pure(c"edgelite_slack", 1, super::vector_sample::edgelite_slack),
];

/// What a function body returns.
pub(crate) enum Output {
    Null,
    Int(i64),
    Blob(Vec<u8>),
    Text(String),
    Real(Option<f64>),
}

/// Runs `body` over the call's arguments and sets the result; a panic becomes an SQL error
/// instead of unwinding into SQLite. An error keeps its result code (a message alone is
/// `SQLITE_ERROR`).
///
/// # Safety
/// The arguments are those SQLite passed to an `xFunc` callback.
pub(crate) unsafe fn call<E: Into<SqlError>>(
    ctx: *mut sqlite3_context,
    argc: c_int,
    argv: *mut *mut sqlite3_value,
    body: impl FnOnce(usize, &[*mut sqlite3_value]) -> Result<Output, E>,
) {
    let args: &[*mut sqlite3_value] = match usize::try_from(argc) {
        // SAFETY: SQLite passes `argc` valid argument pointers in `argv`.
        Ok(n) if n > 0 && !argv.is_null() => unsafe { core::slice::from_raw_parts(argv, n) },
        _ => &[],
    };
    // SAFETY: `ctx` is the running callback's context, used only during this call.
    let ctx = unsafe { Context::new(ctx) };
    match catch_unwind(AssertUnwindSafe(|| body(ctx.user_data(), args))) {
        Ok(Ok(Output::Null)) => ctx.null(),
        Ok(Ok(Output::Int(i))) => ctx.int(i),
        Ok(Ok(Output::Blob(b))) => ctx.blob(&b),
        Ok(Ok(Output::Text(t))) => ctx.text(&t),
        Ok(Ok(Output::Real(r))) => ctx.double(r),
        Ok(Err(error)) => ctx.fail(&error.into()),
        Err(_) => ctx.error("edgelite: internal error in a vector function"),
    }
}

/// Reads argument `i` as a vector argument.
fn vector_arg<'a>(args: &[*mut sqlite3_value], i: usize) -> Arg<'a> {
    // SAFETY: `args` are the live arguments of the running call (see `call`), and the borrow
    // is used only within it.
    args.get(i).map_or(Arg::Null, |&v| unsafe { arg(v) })
}

unsafe extern "C" fn vector_convert(ctx: *mut sqlite3_context, argc: c_int, argv: *mut *mut sqlite3_value) {
    let body = |data: usize, args: &[*mut sqlite3_value]| {
        let target = VectorType::from_id(data as u8).ok_or("edgelite: bad vector type")?;
        sql::vector_fn(target, vector_arg(args, 0)).map(Output::Blob).map_err(|e| e.to_string())
    };
    // SAFETY: SQLite's xFunc arguments, passed through.
    unsafe { call(ctx, argc, argv, body) }
}

unsafe extern "C" fn vector_extract(ctx: *mut sqlite3_context, argc: c_int, argv: *mut *mut sqlite3_value) {
    let body = |_: usize, args: &[*mut sqlite3_value]| {
        sql::vector_extract(vector_arg(args, 0)).map(Output::Text).map_err(|e| e.to_string())
    };
    // SAFETY: SQLite's xFunc arguments, passed through.
    unsafe { call(ctx, argc, argv, body) }
}

unsafe extern "C" fn vector_distance(ctx: *mut sqlite3_context, argc: c_int, argv: *mut *mut sqlite3_value) {
    let body = |data: usize, args: &[*mut sqlite3_value]| {
        let metric = [Metric::Cosine, Metric::L2, Metric::Dot][data.min(2)];
        sql::vector_distance(metric, vector_arg(args, 0), vector_arg(args, 1))
            .map(Output::Real)
            .map_err(|e| e.to_string())
    };
    // SAFETY: SQLite's xFunc arguments, passed through.
    unsafe { call(ctx, argc, argv, body) }
}

unsafe extern "C" fn vector_concat(ctx: *mut sqlite3_context, argc: c_int, argv: *mut *mut sqlite3_value) {
    let body = |_: usize, args: &[*mut sqlite3_value]| {
        sql::vector_concat(vector_arg(args, 0), vector_arg(args, 1)).map(Output::Blob).map_err(|e| e.to_string())
    };
    // SAFETY: SQLite's xFunc arguments, passed through.
    unsafe { call(ctx, argc, argv, body) }
}

unsafe extern "C" fn vector_slice(ctx: *mut sqlite3_context, argc: c_int, argv: *mut *mut sqlite3_value) {
    let body = |_: usize, args: &[*mut sqlite3_value]| {
        let index = |i: usize| -> Result<i64, String> {
            // SAFETY: a live argument of the running call.
            match args.get(i).map(|&v| unsafe { int_arg(v) }) {
                Some((true, n)) => Ok(n),
                _ => Err("vector_slice: start and end must be integers".to_owned()),
            }
        };
        let (start, end) = (index(1)?, index(2)?);
        sql::vector_slice(vector_arg(args, 0), start, end).map(Output::Blob).map_err(|e| e.to_string())
    };
    // SAFETY: SQLite's xFunc arguments, passed through.
    unsafe { call(ctx, argc, argv, body) }
}

/// `libsql_vector_idx(col, 'k=v', ...)`: the marker that makes an index a vector index. As a
/// value it is its first argument (the index key SQLite computes for each row is the vector
/// itself); libSQL reads garbage when it has none, edgelite reports an error.
unsafe extern "C" fn libsql_vector_idx(ctx: *mut sqlite3_context, argc: c_int, argv: *mut *mut sqlite3_value) {
    if argc < 1 {
        // SAFETY: `ctx` is the running callback's context, used only during this call.
        let ctx = unsafe { Context::new(ctx) };
        ctx.error("vector index: libsql_vector_idx requires the vector column as its first argument");
        return;
    }
    // SAFETY: SQLite passes `argc` >= 1 valid argument pointers.
    let first = unsafe { *argv };
    // SAFETY: `ctx` is live and `first` is a protected argument of this call.
    unsafe { sqlite3_result_value(ctx, first) };
}

/// One of the connection's vector settings, as an SQL function of one argument: an integer
/// from 0 to `max` sets it and returns the previous value, NULL only returns the value, anything
/// else is an error `"{name}: {must}"`. `access` returns the value and sets the new one if any.
///
/// # Safety
/// SQLite's xFunc arguments, passed through.
unsafe fn setting(
    ctx: *mut sqlite3_context,
    argc: c_int,
    argv: *mut *mut sqlite3_value,
    (name, must, max): (&'static str, &'static str, i64),
    access: fn(&mut super::cache::NodeCache, Option<usize>) -> usize,
) {
    // SAFETY: `ctx` is the running call's context.
    let db = unsafe { super::values::context_db(ctx) };
    let body = move |_: usize, args: &[*mut sqlite3_value]| -> Result<Output, String> {
        // SAFETY: a live argument of the running call.
        let (is_int, n) = args.first().map_or((false, 0), |&v| unsafe { int_arg(v) });
        // SAFETY: as above.
        let is_null = args.first().is_none_or(|&v| unsafe { sqlite3_value_type(v) } == SQLITE_NULL);
        let set = if is_null {
            None
        } else if is_int && (0..=max).contains(&n) {
            Some(usize::try_from(n).unwrap_or(usize::MAX))
        } else {
            return Err(format!("{name}: {must}"));
        };
        let previous = super::cache::with_state(db, |state| access(state, set))
            .ok_or_else(|| format!("{name}: no connection state"))?;
        Ok(Output::Int(i64::try_from(previous).unwrap_or(i64::MAX)))
    };
    // SAFETY: SQLite's xFunc arguments, passed through.
    unsafe { call(ctx, argc, argv, body) }
}

/// `edgelite_vector_cache_limit(bytes)`: sets this connection's node cache limit (0 turns it
/// off) and returns the previous limit; with NULL it only returns the limit (the cache keeps
/// its blocks).
unsafe extern "C" fn edgelite_vector_cache_limit(
    ctx: *mut sqlite3_context,
    argc: c_int,
    argv: *mut *mut sqlite3_value,
) {
    let what = ("edgelite_vector_cache_limit", "the limit must be a non-negative integer (bytes)", i64::MAX);
    // SAFETY: SQLite's xFunc arguments, passed through.
    unsafe { setting(ctx, argc, argv, what, |state, set| set.map_or(state.limit(), |n| state.set_limit(n))) }
}

/// `edgelite_vector_cache_process_limit(bytes)`: sets the limit of the process's node cache
/// budget, which the caches of all connections share (see `cache.rs`; none by default), and
/// returns the previous limit; with NULL it only returns the limit. Like `PRAGMA
/// soft_heap_limit`, it is the whole process's setting.
unsafe extern "C" fn edgelite_vector_cache_process_limit(
    ctx: *mut sqlite3_context,
    argc: c_int,
    argv: *mut *mut sqlite3_value,
) {
    let what = ("edgelite_vector_cache_process_limit", "the limit must be a non-negative integer (bytes)", i64::MAX);
    // SAFETY: SQLite's xFunc arguments, passed through.
    unsafe {
        setting(ctx, argc, argv, what, |_, set| {
            let budget = super::cache::VectorCacheBudget::process();
            set.map_or(budget.limit(), |n| budget.set_limit(n))
        });
    }
}

/// `edgelite_vector_build_limit(bytes)`: sets the memory this connection's next vector index
/// builds may hold (see `build.rs`; 1 GiB by default) and returns the previous budget; with
/// NULL it only returns the budget.
unsafe extern "C" fn edgelite_vector_build_limit(
    ctx: *mut sqlite3_context,
    argc: c_int,
    argv: *mut *mut sqlite3_value,
) {
    let what = ("edgelite_vector_build_limit", "the limit must be a non-negative integer (bytes)", i64::MAX);
    // SAFETY: SQLite's xFunc arguments, passed through.
    unsafe {
        setting(ctx, argc, argv, what, |state, set| {
            let previous = state.build_limit;
            state.build_limit = set.unwrap_or(previous);
            previous
        });
    }
}

/// `edgelite_vector_build_threads(n)`: sets how many threads this connection's next vector
/// index builds (CREATE INDEX on a filled table, REINDEX) use, 0 for one per core (the
/// default), and returns the previous count (one per core resolved to its number); with NULL it
/// only returns the count.
unsafe extern "C" fn edgelite_vector_build_threads(
    ctx: *mut sqlite3_context,
    argc: c_int,
    argv: *mut *mut sqlite3_value,
) {
    let what = ("edgelite_vector_build_threads", "the count must be an integer from 0 (one per core) to 1024", 1024);
    // SAFETY: SQLite's xFunc arguments, passed through.
    unsafe {
        setting(ctx, argc, argv, what, |state, set| {
            let previous = state.build_threads;
            state.build_threads = set.unwrap_or(previous);
            if previous == 0 { std::thread::available_parallelism().map_or(1, usize::from) } else { previous }
        });
    }
}
