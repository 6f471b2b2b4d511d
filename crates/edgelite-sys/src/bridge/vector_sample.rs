//! `edgelite_vector_sample(schema, table, n)`: up to `n` rowids of a rowid table, spread over
//! its rowid range, for the planner's rewrite of a filtered `ORDER BY vector_distance_*(...)
//! LIMIT k` (patch 0002). The rewrite evaluates the statement's filter on these rows to estimate
//! how many rows pass it: when few do, it ranks exactly the rows that pass (one scan of the
//! table) instead of walking the graph through thousands of rows that fail (issue 13, Qdrant's
//! planner). The estimate only chooses between two exact-in-count plans, so a poor sample costs
//! speed, never rows.
//!
//! The sample is deterministic (a low-discrepancy sequence over `[min(rowid), max(rowid)]`, each
//! point moved to the next existing rowid), so that a statement run again chooses the same plan,
//! and it does not stride with a period a filter such as `id % 1000 < 10` could alias with.
//! Columns: `edgelite_id` (a sampled rowid) and `edgelite_rows`, the table's size as the
//! planner reckons it ([`table_size`]): the rowid span `max - min + 1`, exact for dense rowids,
//! or, where the span is more than eight times SQLite's estimate of the rows (random 64-bit
//! ids, or all but a few rows deleted), that estimate, from the pages on the paths to the first
//! and the last row.
//!
//! The rewrite also remembers what its filter counted over the sample, by the values of the
//! filter's parameters, until the data changes: `edgelite_sample_memo(site, param...)` and
//! `edgelite_sample_remember(site, count, param...)` (below); and it turns that count into the
//! walk's budget, or its verdict that the query should scan, from the sample's size and its
//! table's size, without reading the sample's rows: `edgelite_walk_budget(count, schema,
//! table, n, s)`.
//!
//! A table too small for the walk ever to answer is scanned without the rewrite: the LIMIT of a
//! rewritten statement's own SELECT is `edgelite_plan_guard(limit, schema, table, lo, hi)`,
//! which reads the table's size and fails with `SQLITE_SCHEMA` (so that `sqlite3_step()`
//! prepares the statement again) when it has left the plan's range; the planner reads the size
//! the connection last saw through [`edgelite_size_hint`] when it prepares. A query without a
//! filter whose LIMIT or OFFSET is bound, whose K the planner cannot see, asks
//! [`edgelite_scan_cheaper`] each time it runs whether the table is that small for its K.

use core::ffi::{CStr, c_char, c_int};

use super::cache::{RowidRange, Rowids, with_cache};
use super::keys::Key;
use super::sql::{DataVersion, Db, SqlError, SqlResult, ident};
use super::values::{arg, context_db, int_value, key_value};
use super::vector_functions::{Output, call};
use super::vtab;
use crate::bindings::*;

const COL_SCHEMA: c_int = 0;
const COL_N: c_int = 2;
const COL_ID: c_int = 3;
const COL_ROWS: c_int = 4;

static SCHEMA: &CStr =
    c"CREATE TABLE x(edgelite_schema HIDDEN, edgelite_table HIDDEN, edgelite_n HIDDEN, edgelite_id, edgelite_rows)";

/// Largest sample a statement may ask for.
const MAX_SAMPLE: i64 = 4096;

#[repr(C)]
struct SampleCursor {
    base: sqlite3_vtab_cursor,
    ids: Vec<i64>,
    rows: i64,
    pos: usize,
}

/// Registers the module on `db`.
///
/// # Safety
/// `db` is a valid open connection.
pub(crate) unsafe fn register(db: *mut sqlite3) -> c_int {
    // SAFETY: `db` is valid (caller).
    unsafe { vtab::register(db, c"edgelite_vector_sample", &MODULE, SCHEMA) }
}

static MODULE: sqlite3_module = vtab::eponymous_read_only(vtab::ReadOnlyMethods {
    best_index: x_best_index,
    open: x_open,
    close: x_close,
    filter: x_filter,
    next: x_next,
    eof: x_eof,
    column: x_column,
    rowid: x_rowid,
});

/// What EXPLAIN QUERY PLAN shows for this table: why the planner reads it.
static EXPLAIN: &CStr = c"filter sample: rank exactly the rows that pass when few do";

unsafe extern "C" fn x_best_index(vtab: *mut sqlite3_vtab, info: *mut sqlite3_index_info) -> c_int {
    vtab::guarded(|| {
        // SAFETY: SQLite passes a valid index-info for the duration of the call.
        let info = unsafe { &mut *info };
        let n = usize::try_from(info.nConstraint).unwrap_or(0);
        // SAFETY: aConstraint/aConstraintUsage have nConstraint entries.
        let constraints = unsafe { core::slice::from_raw_parts(info.aConstraint, n) };
        // SAFETY: as above.
        let usage = unsafe { core::slice::from_raw_parts_mut(info.aConstraintUsage, n) };
        let mut slot = [None; 3];
        for (i, c) in constraints.iter().enumerate() {
            if (COL_SCHEMA..=COL_N).contains(&c.iColumn)
                && c.op == SQLITE_INDEX_CONSTRAINT_EQ as u8
                && c.usable != 0
                && slot[c.iColumn as usize].is_none()
            {
                slot[c.iColumn as usize] = Some(i);
            }
        }
        let [Some(a), Some(b), Some(c)] = slot else {
            // SAFETY: `vtab` is this module's live table.
            unsafe { vtab::set_error(vtab, "edgelite_vector_sample: expected a schema, a table and a size") };
            return SQLITE_ERROR;
        };
        for (argv, i) in [a, b, c].into_iter().enumerate() {
            usage[i].argvIndex = argv as c_int + 1;
            usage[i].omit = 1;
        }
        info.idxStr = EXPLAIN.as_ptr().cast_mut();
        info.needToFreeIdxStr = 0;
        info.estimatedCost = 100.0;
        info.estimatedRows = 64;
        SQLITE_OK
    })
}

unsafe extern "C" fn x_open(_vtab: *mut sqlite3_vtab, pp_cursor: *mut *mut sqlite3_vtab_cursor) -> c_int {
    vtab::guarded(|| {
        // SAFETY: a zeroed sqlite3_vtab_cursor is what SQLite expects; it sets pVtab itself.
        let cursor = Box::new(SampleCursor { base: unsafe { core::mem::zeroed() }, ids: Vec::new(), rows: 0, pos: 0 });
        // SAFETY: SQLite's out-pointer; xClose rebuilds the Box.
        unsafe { *pp_cursor = Box::into_raw(cursor).cast::<sqlite3_vtab_cursor>() };
        SQLITE_OK
    })
}

unsafe extern "C" fn x_close(cursor: *mut sqlite3_vtab_cursor) -> c_int {
    vtab::guarded(|| {
        // SAFETY: `cursor` came from Box::into_raw in x_open and is closed once.
        drop(unsafe { Box::from_raw(cursor.cast::<SampleCursor>()) });
        SQLITE_OK
    })
}

/// A text argument of function or table `func`.
///
/// # Safety
/// `value` is a live argument of the running call.
unsafe fn text(value: *mut sqlite3_value, func: &str, what: &str) -> SqlResult<String> {
    // SAFETY: live argument (caller).
    match unsafe { arg(value) } {
        edgelite_vector::sql::Arg::Text(t) => Ok(String::from_utf8_lossy(t).into_owned()),
        _ => Err(format!("{func}: the {what} must be a string").into()),
    }
}

/// The (schema, table) text arguments of function or table `func`.
///
/// # Safety
/// Both values are live arguments of the running call.
unsafe fn table_name(schema: *mut sqlite3_value, table: *mut sqlite3_value, func: &str) -> SqlResult<(String, String)> {
    // SAFETY: live arguments (caller).
    Ok((unsafe { text(schema, func, "schema") }?, unsafe { text(table, func, "table") }?))
}

unsafe extern "C" {
    /// See `edgelite.h` (patch 0002's C): SQLite's estimate of the rows of table
    /// `schema.table`, -1 where it has none.
    fn edgelite_table_rows_estimate(db: *mut sqlite3, schema: *const c_char, table: *const c_char) -> i64;
}

/// The table's least and greatest rowid and its size ([`table_size`]); `None` for an empty
/// table. Read inside a running statement (the planner's functions), whose transaction the
/// estimate needs; and whether the size is settled: not when no estimate could be made (a call
/// of the planner's functions by hand, outside any statement that reads the table), where the
/// size falls back to the span for this call only.
fn rowid_range(db: Db, key: &(String, String)) -> SqlResult<(RowidRange, bool)> {
    let from = format!("{}.{}", ident(&key.0), ident(&key.1));
    let mut range = db.prepare(&format!(
        "SELECT lo, hi, hi IS NULL FROM (SELECT (SELECT min(rowid) FROM {from}) AS lo, (SELECT max(rowid) FROM {from}) AS hi)"
    ))?;
    if !range.step()? || range.int(2) != 0 {
        return Ok((None, true));
    }
    let (lo, hi) = (range.int(0), range.int(1));
    drop(range);
    let estimate = match (std::ffi::CString::new(key.0.as_str()), std::ffi::CString::new(key.1.as_str())) {
        // SAFETY: a live connection (the caller's, whose mutex the running statement holds) and
        // two NUL-terminated strings that outlive the call.
        (Ok(schema), Ok(table)) => unsafe { edgelite_table_rows_estimate(db.raw(), schema.as_ptr(), table.as_ptr()) },
        _ => -1,
    };
    Ok((Some(Rowids { lo, hi, size: table_size(lo, hi, estimate) }), estimate >= 0))
}

/// The planner's measure of a table, in rows: the rowid span while SQLite's estimate of the
/// rows (`estimate`, from the pages on the paths to the first and last rows; -1: none) is at
/// least an eighth of it ([`SPAN_OVER_ESTIMATE`]), else the estimate. The span is exact for
/// dense rowids, where the estimate is only near, but a table of random 64-bit rowids spans
/// about 2^63 whatever its rows, and one of a few hundred such rows was rewritten as a large
/// table, where every plan of the rewrite costs more than SQLite's scan (300 rows of minilm-20k
/// with `abs(random())` rowids, `WHERE bucket < 100 ... LIMIT 10`: 158 microseconds where the
/// scan took 85, by hand); a filter's verdict likewise took such a table for one the walk reads
/// a small share of.
fn table_size(lo: i64, hi: i64, estimate: i64) -> i64 {
    let span = span_of(lo, hi);
    if estimate >= 0 && estimate < span / SPAN_OVER_ESTIMATE { estimate.max(1) } else { span }
}

/// How many times SQLite's estimate of a table's rows its rowid span must be for the estimate
/// to be its size ([`table_size`]). The estimate reads two leaves and the pages above them, and
/// counts a parent page's cells where it has one child more: a review measured tables of dense
/// rowids at 0.27-0.46 of their rows (2,000 and 20,000 rows whose first and last rows hold
/// 3 KB texts; 3,000 rows of texts of lognormal lengths in 2 of 20 draws), which at a half
/// were scanned where the walk was 1.7-2.7x faster. Random or hashed 64-bit rowids are off by
/// about 10^15.
const SPAN_OVER_ESTIMATE: i64 = 8;

/// The number of rowids from `lo` to `hi`, saturated.
fn span_of(lo: i64, hi: i64) -> i64 {
    i64::try_from(i128::from(hi) - i128::from(lo) + 1).unwrap_or(i64::MAX)
}

/// The sample: (rowids, the table's size, whether that size is settled: [`rowid_range`]).
fn sample(db: Db, schema: &str, table: &str, n: i64) -> SqlResult<(Vec<i64>, i64, bool)> {
    let key = (schema.to_owned(), table.to_owned());
    let (range, _, settled) = remembered_range(db, &key)?;
    let Some(Rowids { lo, hi, size }) = range else { return Ok((Vec::new(), 0, true)) };
    if n <= 0 {
        return Ok((Vec::new(), 0, true));
    }
    let from = format!("{}.{}", ident(schema), ident(table));
    let span = span_of(lo, hi);
    let mut next = db.prepare(&format!("SELECT rowid FROM {from} WHERE rowid >= ?1 ORDER BY rowid LIMIT 1"))?;
    let mut ids = Vec::with_capacity(usize::try_from(n).unwrap_or(0));
    // the golden-ratio sequence: every prefix covers the range evenly, with no fixed stride
    let phi = 0.618_033_988_749_894_9_f64;
    for i in 0..n {
        let frac = ((i as f64 + 0.5) * phi).fract();
        let at = i128::from(lo) + ((span as f64) * frac) as i128;
        next.bind_int(1, i64::try_from(at.min(i128::from(hi))).unwrap_or(hi))?;
        if next.step()? {
            ids.push(next.int(0));
        }
        next.reset();
    }
    ids.sort_unstable();
    ids.dedup();
    Ok((ids, size, settled))
}

/// [`sample`], remembered by the connection (`cache.rs`) outside write transactions while the
/// data version stands: the rowids change only through a commit, which changes it. Inside a
/// write transaction the sample is drawn afresh (this transaction's own rows count).
fn remembered_sample(db: Db, schema: String, table: String, n: i64) -> SqlResult<(Vec<i64>, i64)> {
    let version = (db.txn_state(&schema) != SQLITE_TXN_WRITE).then(|| db.data_version(&schema)).flatten();
    let key = (schema, table, n);
    if let Some(v) = version
        && let Some(hit) = with_cache(db, |c| c.sample(&key, v)).flatten()
    {
        return Ok(hit);
    }
    let (ids, size, settled) = sample(db, &key.0, &key.1, n)?;
    if let Some(v) = version.filter(|_| settled) {
        with_cache(db, |c| c.set_sample(key, v, &ids, size));
    }
    Ok((ids, size))
}

unsafe extern "C" fn x_filter(
    cursor: *mut sqlite3_vtab_cursor,
    _idx_num: c_int,
    _idx_str: *const c_char,
    argc: c_int,
    argv: *mut *mut sqlite3_value,
) -> c_int {
    vtab::guarded(|| {
        // SAFETY: `cursor` is a live cursor of this module (x_open), exclusively ours here.
        let cursor = unsafe { &mut *cursor.cast::<SampleCursor>() };
        let vtab = cursor.base.pVtab;
        // SAFETY: pVtab is the live table the cursor was opened on.
        let raw = unsafe { (*vtab.cast::<vtab::Table>()).db };
        // SAFETY: the table's connection, live for this call.
        let db = unsafe { Db::new(raw) };
        cursor.ids.clear();
        cursor.pos = 0;
        cursor.rows = 0;
        let args: &[*mut sqlite3_value] = match argc {
            // SAFETY: SQLite passes `argc` argument values.
            3 => unsafe { core::slice::from_raw_parts(argv, 3) },
            _ => &[],
        };
        let result = (|| {
            let [schema, table, n] = args else {
                return Err("edgelite_vector_sample: expected a schema, a table and a size".into());
            };
            // SAFETY: live arguments of this call.
            let (schema, table) = unsafe { table_name(*schema, *table, "edgelite_vector_sample") }?;
            // SAFETY: live argument.
            let n = unsafe { sqlite3_value_int64(*n) }.clamp(0, MAX_SAMPLE);
            remembered_sample(db, schema, table, n)
        })();
        match result {
            Ok((ids, rows)) => {
                cursor.ids = ids;
                cursor.rows = rows;
                SQLITE_OK
            }
            // SAFETY: `vtab` is live.
            Err(error) => unsafe { vtab::fail(vtab, &error) },
        }
    })
}

unsafe extern "C" fn x_next(cursor: *mut sqlite3_vtab_cursor) -> c_int {
    vtab::guarded(|| {
        // SAFETY: a live cursor of this module.
        unsafe { (*cursor.cast::<SampleCursor>()).pos += 1 };
        SQLITE_OK
    })
}

unsafe extern "C" fn x_eof(cursor: *mut sqlite3_vtab_cursor) -> c_int {
    vtab::guarded(|| {
        // SAFETY: a live cursor of this module.
        let cursor = unsafe { &*cursor.cast::<SampleCursor>() };
        c_int::from(cursor.pos >= cursor.ids.len())
    })
}

unsafe extern "C" fn x_column(cursor: *mut sqlite3_vtab_cursor, ctx: *mut sqlite3_context, col: c_int) -> c_int {
    vtab::guarded(|| {
        // SAFETY: a live cursor of this module, positioned on a row (SQLite checks xEof first).
        let cursor = unsafe { &*cursor.cast::<SampleCursor>() };
        let Some(&id) = cursor.ids.get(cursor.pos) else { return SQLITE_ERROR };
        match col {
            // SAFETY: `ctx` is the live result context of this xColumn call.
            COL_ID => unsafe { sqlite3_result_int64(ctx, id) },
            // SAFETY: as above.
            COL_ROWS => unsafe { sqlite3_result_int64(ctx, cursor.rows) },
            // SAFETY: as above. The argument columns are not echoed.
            _ => unsafe { sqlite3_result_null(ctx) },
        }
        SQLITE_OK
    })
}

unsafe extern "C" fn x_rowid(cursor: *mut sqlite3_vtab_cursor, rowid: *mut sqlite3_int64) -> c_int {
    vtab::guarded(|| {
        // SAFETY: a live cursor of this module.
        let cursor = unsafe { &*cursor.cast::<SampleCursor>() };
        // SAFETY: SQLite's out-pointer.
        unsafe { *rowid = i64::try_from(cursor.pos).unwrap_or(i64::MAX) };
        SQLITE_OK
    })
}

/// The walk gives way to an exact scan when it would read more than 1/`WALK_SHARE` of the table:
/// each row it reads costs a graph visit and a seek where a scan reads rows in order (measured
/// by benches/src/bin/filtered.rs: a filtered walk costs about 10 rows of scan per row it
/// reads), and past 1/16 of the index the walk itself gives way to brute force
/// (vector_scan.rs), a loss on top of the walk so far. A share of 32 leaves twice the room for
/// the sample's error: with 16 and S = K + ceil(K/10), on minilm-20k (`filtered`), filters that
/// 1% and 0.6% of the rows pass took the walk and ran at 0.54x and 0.39x the scan's speed (the
/// brute force ran for most queries); with 32 the choice falls about where it fell with 16 and
/// the former S = K + max(10, K/2).
const WALK_SHARE: i128 = 32;
/// The walk's budget, in rows it returns: this many times what the sample says it needs, plus
/// [`BUDGET_EXTRA`]. A walk that spends it ends, and the rows that pass are ranked by a scan of
/// the table instead (a filter that the rows near the query mostly fail: on minilm-20k,
/// `filtered`, a filter correlated with the vectors that a third of the rows pass ran 0.6-0.7x
/// the exact scan's speed when the walk went on until enough rows passed).
const BUDGET_TIMES: i128 = 4;
const BUDGET_EXTRA: i128 = 100;

/// `edgelite_walk_budget(passed, schema, table, n, s)`: the sample's verdict on a filtered walk
/// that wants `s` rows that pass, `passed` being how many of the `n` rows of `table`'s sample
/// pass the filter. 0 when, as the sample estimates it, the walk would read more than
/// 1/[`WALK_SHARE`] of the table's size ([`table_size`]) to find `s` such rows (`passed` *
/// size < [`WALK_SHARE`] * `s` * the sample's rows): the query then reads every row itself, as
/// the scan does. Otherwise the walk's budget in rows it returns: min([`BUDGET_TIMES`] x the
/// need, max(2 x the need, size / [`WALK_SHARE`])), the need being `s` * the sample's rows /
/// max(`passed`, 1) + [`BUDGET_EXTRA`]: four times what the sample says the walk needs, but no
/// more than the share of the table past which the sample sends the query to the scan unless
/// that is under twice the need. A walk past that share has cost about a third of the scan
/// that follows, and one that went on past a sixteenth of the index gave way to brute force
/// over the whole index before that scan (on minilm-20k, `filtered -- --k 100`, the filter
/// correlated with the vectors that a third of the rows pass: 0.74-0.80x the scan's speed with
/// four times the need, 1.24-1.28x capped). The floor of twice the need keeps the walks that
/// the sample sends near that share: with the share alone, `filtered -- --k 55` and `--k 60`
/// at 10% (walks of about 600 and 660 rows) spent 625 and then scanned, 1.68x and 1.15x the
/// scan's speed where they had walked at 5.01x and 4.14x; 4.99x and 4.90x with the floor.
/// NULL (no walk) for an empty table, or a NULL `passed` or `s`.
///
/// The planner's rewrite (patch 0002) reads it once a run, as the one row of its CTE
/// `edgelite_many`, the walk's outer loop: the walk starts only when it is over 0, with it as
/// its budget. It computed both in SQL from the sample's size and the table's (two calls of a
/// function of its own), and SQLite copied those expressions with every copy of the walk's CTE.
/// The two sizes come from the connection's memory of the sample, without reading
/// its rows: as aggregates over them, every run read the 64 rows, about 3 microseconds, most of
/// what the rewrite added to a 300-row table's scan.
pub(crate) unsafe extern "C" fn edgelite_walk_budget(
    ctx: *mut sqlite3_context,
    argc: c_int,
    argv: *mut *mut sqlite3_value,
) {
    // SAFETY: SQLite's xFunc context.
    let db = unsafe { context_db(ctx) };
    let body = |_: usize, args: &[*mut sqlite3_value]| -> SqlResult<Output> {
        let [passed, schema, table, n, s] = args else {
            return Err("edgelite_walk_budget: expected a count, a schema, a table, a size and S".to_string().into());
        };
        // SAFETY: live arguments of the running call.
        let (schema, table) = unsafe { table_name(*schema, *table, "edgelite_walk_budget") }?;
        // SAFETY: as above.
        let n = unsafe { sqlite3_value_int64(*n) }.clamp(0, MAX_SAMPLE);
        // SAFETY: as above.
        let (Some(passed), Some(s)) = (unsafe { int_value(*passed) }, unsafe { int_value(*s) }) else {
            return Ok(Output::Null);
        };
        // an error keeps its code (SQLITE_BUSY, SQLITE_AUTH from the statements that draw it)
        let (ids, size) = remembered_sample(db, schema, table, n)?;
        if ids.is_empty() {
            return Ok(Output::Null);
        }
        Ok(Output::Int(walk_budget(passed, size, i64::try_from(ids.len()).unwrap_or(i64::MAX), s)))
    };
    // SAFETY: SQLite's xFunc arguments, passed through.
    unsafe { call(ctx, argc, argv, body) }
}

/// [`edgelite_walk_budget`]'s arithmetic: 0 (scan) or the walk's budget, for `passed` of `rows`
/// sampled rows of a table of `size` rows ([`table_size`]), and `s` rows wanted. In i128, where
/// the products of a size near 2^63 and an S of "every row" fit.
fn walk_budget(passed: i64, size: i64, rows: i64, s: i64) -> i64 {
    let (passed, size, rows, s) = (i128::from(passed), i128::from(size), i128::from(rows), i128::from(s));
    if passed * size < WALK_SHARE * s * rows {
        return 0;
    }
    let need = |times: i128| times * s * rows / passed.max(1) + BUDGET_EXTRA;
    let budget = need(BUDGET_TIMES).min(need(2).max(size / WALK_SHARE));
    i64::try_from(budget).unwrap_or(i64::MAX)
}

// ---- the planner's memo of a filter's count over its sample ----

/// Bytes of TEXT and BLOB parameters past which a count is not remembered (the parameters are
/// part of the memo's key, kept whole).
const MAX_MEMO_KEY: usize = 4096;

/// What a remembered count holds for: the filter's parameter values (their types and bytes,
/// in order) and the data's stamp, this connection's count of changed rows
/// (`sqlite3_total_changes64`: any write it completed, committed or not) and every schema's
/// data version (any commit, this connection's or another's).
#[derive(Debug, PartialEq)]
pub(crate) struct MemoKey {
    changes: i64,
    versions: Vec<Option<DataVersion>>,
    params: Vec<Key>,
}

/// The memo's key for the call's `params`; `None` when their TEXT and BLOB bytes pass
/// [`MAX_MEMO_KEY`], or inside a write transaction. A count read there may be rolled back
/// while the stamp stands (a rollback leaves the count of changed rows as it was and the data
/// versions as they were): remembered, it chose the plan for data that no longer was until the
/// next write (a reviewer's case: `BEGIN; UPDATE t SET p = p + 1000`, the query, `ROLLBACK`,
/// and every later run of `WHERE p < 500` scanned 20,000 rows where it had walked a few dozen).
/// The sample itself is drawn afresh there for the same reason (`remembered_sample`).
///
/// # Safety
/// `params` are live arguments of the running call.
unsafe fn memo_key(db: Db, params: &[*mut sqlite3_value]) -> Option<MemoKey> {
    if db.in_write_txn() {
        return None;
    }
    // SAFETY: live arguments (caller); copied before the call returns.
    let params: Vec<Key> = params.iter().map(|&v| unsafe { key_value(v) }).collect();
    let bytes: usize = params.iter().map(|k| if let Key::Text(b) | Key::Blob(b) = k { b.len() } else { 0 }).sum();
    if bytes > MAX_MEMO_KEY {
        return None;
    }
    // SAFETY: a live connection.
    let changes = unsafe { sqlite3_total_changes64(db.raw()) };
    let versions = db.schemas().map(|name| db.data_version(&name.to_string_lossy())).collect();
    Some(MemoKey { changes, versions, params })
}

/// `edgelite_sample_memo(site, param...)`: the count that rewrite `site` remembered for these
/// parameter values over the data as it stands, or NULL. The planner's rewrite (patch 0002)
/// counts the rows of a table's sample that pass a filter on every run of the statement (64
/// seeks, about 4% of a `WHERE bucket < 100 ... LIMIT 10` query on minilm-20k); a run with the
/// same filter parameters over unchanged data gets the same count. The count only chooses
/// between two plans that are both exact in rows, so a stale one could cost speed, never rows.
pub(crate) unsafe extern "C" fn edgelite_sample_memo(
    ctx: *mut sqlite3_context,
    argc: c_int,
    argv: *mut *mut sqlite3_value,
) {
    // SAFETY: SQLite's xFunc context.
    let db = unsafe { context_db(ctx) };
    let body = |_: usize, args: &[*mut sqlite3_value]| -> SqlResult<Output> {
        let Some((&site, params)) = args.split_first() else { return Ok(Output::Null) };
        // SAFETY: live arguments of the running call.
        let site = unsafe { int_value(site) };
        // SAFETY: as above.
        let key = unsafe { memo_key(db, params) };
        let found = site.zip(key).and_then(|(site, key)| with_cache(db, |c| c.sample_count(site, &key)).flatten());
        Ok(found.map_or(Output::Null, Output::Int))
    };
    // SAFETY: SQLite's xFunc arguments, passed through.
    unsafe { call(ctx, argc, argv, body) }
}

/// `edgelite_sample_remember(site, count, param...)`: remembers `count` for rewrite `site` and
/// these parameter values over the data as it stands ([`edgelite_sample_memo`]) and returns
/// it. A count that is not an integer (NULL: an empty table) is returned as NULL and not
/// remembered.
pub(crate) unsafe extern "C" fn edgelite_sample_remember(
    ctx: *mut sqlite3_context,
    argc: c_int,
    argv: *mut *mut sqlite3_value,
) {
    // SAFETY: SQLite's xFunc context.
    let db = unsafe { context_db(ctx) };
    let body = |_: usize, args: &[*mut sqlite3_value]| -> SqlResult<Output> {
        let [site, count, params @ ..] = args else { return Ok(Output::Null) };
        // SAFETY: live arguments of the running call.
        let Some(n) = (unsafe { int_value(*count) }) else { return Ok(Output::Null) };
        // SAFETY: as above.
        let site = unsafe { int_value(*site) };
        // SAFETY: as above.
        if let (Some(site), Some(key)) = (site, unsafe { memo_key(db, params) }) {
            with_cache(db, |c| c.set_sample_count(site, key, n));
        }
        Ok(Output::Int(n))
    };
    // SAFETY: SQLite's xFunc arguments, passed through.
    unsafe { call(ctx, argc, argv, body) }
}

// ---- the K of a bound LIMIT ----

/// "Every row": the K of a negative limit (no limit) or of one too large for the walk to count
/// (the scan's hint then means every row, as `MAX_PASS_WANT` in `vector_scan.rs` reads it).
const EVERY_ROW: i64 = i64::MAX;
/// A limit or offset beyond this is "every row" (the planner's `edgeliteSlack` draws the
/// same line).
const MOST_ROWS: i64 = 100_000_000;

/// What SQLite's LIMIT or OFFSET takes from `value`: an integer, numeric text ('5', ' 5') and
/// a whole double (5.0) included, as its `OP_MustBeInt` converts them; `None` for a value it
/// refuses (NULL, a blob, other text, a fraction), on which the statement fails with its own
/// error before it reads a row.
///
/// # Safety
/// `value` is a live argument of the running call.
unsafe fn limit_value(value: *mut sqlite3_value) -> Option<i64> {
    // SAFETY: live argument (caller); the numeric affinity applies to the call's copy of it.
    match unsafe { sqlite3_value_numeric_type(value) } {
        // SAFETY: as above.
        SQLITE_INTEGER => Some(unsafe { sqlite3_value_int64(value) }),
        SQLITE_FLOAT => {
            // SAFETY: as above.
            let r = unsafe { sqlite3_value_double(value) };
            // the exact range of i64 as doubles: -2^63 included, 2^63 not
            (r.fract() == 0.0 && (-9.223_372_036_854_776e18..9.223_372_036_854_776e18).contains(&r)).then_some(r as i64)
        }
        _ => None,
    }
}

/// `edgelite_limit_k(limit [, offset])`: the K of a rewritten `ORDER BY ... LIMIT` whose limit
/// or offset is bound (ORMs bind their limits), computed when the statement runs: limit +
/// max(offset, 0), the values as SQLite's LIMIT and OFFSET take them ([`limit_value`]); "every
/// row" (the largest integer: the walk then returns every indexed row, as the scan would) for
/// a negative limit, or a limit or offset over 100,000,000. NULL for a limit that SQLite
/// refuses, whatever the offset; a refused offset counts as 0. The statement then fails on
/// its own LIMIT or OFFSET, with SQLite's error, before it reads a row: this function never
/// fails, as SQLite may evaluate it first.
///
/// The planner (patch 0002) wrote K as an SQL expression of the parameters; the rewrite copies
/// K into each of its CTEs' copies (S, the walk's budget and gates), and as an expression of
/// about twenty terms it tripled what a filtered query with `LIMIT ?` cost to prepare.
pub(crate) unsafe extern "C" fn edgelite_limit_k(
    ctx: *mut sqlite3_context,
    argc: c_int,
    argv: *mut *mut sqlite3_value,
) {
    let body = |_: usize, args: &[*mut sqlite3_value]| -> SqlResult<Output> {
        let (limit, offset) = match args {
            [limit] => (*limit, None),
            [limit, offset] => (*limit, Some(*offset)),
            _ => return Err("edgelite_limit_k: expected a limit and an offset".to_string().into()),
        };
        // SAFETY: live arguments of the running call.
        let Some(limit) = (unsafe { limit_value(limit) }) else { return Ok(Output::Null) };
        // SAFETY: as above.
        let offset = offset.and_then(|o| unsafe { limit_value(o) }).unwrap_or(0).max(0);
        Ok(Output::Int(if !(0..=MOST_ROWS).contains(&limit) || offset > MOST_ROWS {
            EVERY_ROW
        } else {
            limit + offset
        }))
    };
    // SAFETY: SQLite's xFunc arguments, passed through.
    unsafe { call(ctx, argc, argv, body) }
}

/// `edgelite_slack(k)`: S = K + ceil(K/10), the rows that pass which a filtered walk gathers for
/// the exact ORDER BY to pick K from (the planner's `edgeliteSlack` gives the rule's reasons and
/// writes S as a number where K is one), or K itself when K means every row; NULL for NULL.
/// For a K that [`edgelite_limit_k`] computes when the statement runs.
pub(crate) unsafe extern "C" fn edgelite_slack(ctx: *mut sqlite3_context, argc: c_int, argv: *mut *mut sqlite3_value) {
    let body = |_: usize, args: &[*mut sqlite3_value]| -> SqlResult<Output> {
        let [k] = args else { return Err("edgelite_slack: expected a K".to_string().into()) };
        // SAFETY: a live argument of the running call.
        Ok(match unsafe { int_value(*k) } {
            Some(k) => Output::Int(slack(k)),
            None => Output::Null,
        })
    };
    // SAFETY: SQLite's xFunc arguments, passed through.
    unsafe { call(ctx, argc, argv, body) }
}

/// S for K: K + ceil(K/10), or K itself when it means every row. The one copy of the rule: the
/// planner (patch 0002's `edgeliteSlack`, which gives the reasons) calls it through
/// [`edgelite_slack_rows`] for a literal K, and [`edgelite_slack`] for a bound one.
fn slack(k: i64) -> i64 {
    if (0..=MOST_ROWS).contains(&k) { k + (k + 9) / 10 } else { k }
}

/// [`slack`] for the planner's C (`edgelite.h`).
#[unsafe(no_mangle)]
pub extern "C" fn edgelite_slack_rows(k: i64) -> i64 {
    slack(k)
}

// ---- the planner's choice for tables too small for the walk ----

/// The rows under which SQLite's scan of a table ranks the nearest rows for less than a walk
/// that returns `s` of them, for vectors of `dims` dimensions (0: unknown): (100 + S)·(128 −
/// dims)/16 below 128 dimensions, and never under [`SCAN_TIMES`]·S. The one copy of the rule:
/// the planner (patch 0002's `edgeliteScanRows`, which gives the reasons) calls it through
/// [`edgelite_scan_rows`] for a literal K, and [`edgelite_scan_cheaper`] for a bound one. In
/// i128, where an S of "every row" fits.
fn scan_rows(dims: i64, s: i64) -> i128 {
    let (dims, s) = (i128::from(dims), i128::from(s));
    let few = if (1..128).contains(&dims) { (100 + s) * (128 - dims) / 16 } else { 0 };
    few.max(SCAN_TIMES * s)
}

/// [`scan_rows`] for the planner's C (`edgelite.h`), saturated to an i64.
#[unsafe(no_mangle)]
pub extern "C" fn edgelite_scan_rows(dims: c_int, s: i64) -> i64 {
    i64::try_from(scan_rows(i64::from(dims), s)).unwrap_or(i64::MAX)
}

/// A walk that returns more than 1/`SCAN_TIMES` of a table's rows costs more than SQLite's
/// scan of it (the planner's `edgeliteRewriteOne` gives the measures).
const SCAN_TIMES: i128 = 3;

/// `edgelite_scan_cheaper(k, schema, table, dims)`: 1 when SQLite's scan of `table` costs less
/// than a walk that returns `k` rows (its size, as [`table_size`] reckons it, under
/// [`scan_rows`] of S), else 0; 0 for an empty table, NULL for a NULL `k`. The planner's
/// rewrite of a query without a WHERE clause whose LIMIT or OFFSET is bound (K known only when
/// it runs) reads it once a run: the walk starts only when it is 0, and the query reads every
/// row itself otherwise, as the scan does.
pub(crate) unsafe extern "C" fn edgelite_scan_cheaper(
    ctx: *mut sqlite3_context,
    argc: c_int,
    argv: *mut *mut sqlite3_value,
) {
    // SAFETY: SQLite's xFunc context.
    let db = unsafe { context_db(ctx) };
    let body = |_: usize, args: &[*mut sqlite3_value]| -> SqlResult<Output> {
        let [k, schema, table, dims] = args else {
            return Err("edgelite_scan_cheaper: expected a K, a schema, a table and dimensions".to_string().into());
        };
        // SAFETY: live arguments of the running call.
        let key = unsafe { table_name(*schema, *table, "edgelite_scan_cheaper") }?;
        // SAFETY: as above.
        let Some(k) = (unsafe { int_value(*k) }) else { return Ok(Output::Null) };
        // SAFETY: as above.
        let dims = unsafe { sqlite3_value_int64(*dims) };
        // a negative K (by hand: the rewrite's is never) is every row, as SQLite's LIMIT reads it
        let s = if k < 0 { i64::MAX } else { slack(k) };
        let (range, _, _) = remembered_range(db, &key)?;
        let size = range.map_or(0, |r| r.size);
        Ok(Output::Int(i64::from(size > 0 && i128::from(size) < scan_rows(dims, s))))
    };
    // SAFETY: SQLite's xFunc arguments, passed through.
    unsafe { call(ctx, argc, argv, body) }
}

/// A bound of [`edgelite_plan_guard`]: an integer, or NULL for none; `Err` for anything else.
///
/// # Safety
/// `value` is a live argument of the running call.
unsafe fn bound(value: *mut sqlite3_value) -> Result<Option<i64>, ()> {
    // SAFETY: live argument (caller).
    match unsafe { sqlite3_value_type(value) } {
        SQLITE_NULL => Ok(None),
        // SAFETY: as above.
        SQLITE_INTEGER => Ok(Some(unsafe { sqlite3_value_int64(value) })),
        _ => Err(()),
    }
}

/// The rowid range of table `key` (schema, table; [`rowid_range`]), remembered by the connection with the data
/// version it was read at (`cache.rs`), as the sample is, and read afresh in a write
/// transaction; whether the connection remembers it (not when its vector cache is off); and
/// whether its size is settled ([`rowid_range`]: one that is not is remembered only as the
/// planner's hint).
/// The planner's guard reads it on every run of its statement, and a sample drawn after a
/// change (the same run's, once a rewritten statement's guard has read it) takes it from there.
/// The key is borrowed: a run that finds the range remembered (every run of a statement
/// between changes) copies no name.
fn remembered_range(db: Db, key: &(String, String)) -> SqlResult<(RowidRange, bool, bool)> {
    let version = (db.txn_state(&key.0) != SQLITE_TXN_WRITE).then(|| db.data_version(&key.0)).flatten();
    if let Some(v) = version
        && let Some(range) = with_cache(db, |c| c.range(key, v)).flatten()
    {
        return Ok((range, true, true));
    }
    let (range, settled) = rowid_range(db, key)?;
    // a size without its estimate is the hint until another is read, but no later run's size
    let version = version.filter(|_| settled);
    Ok((range, with_cache(db, |c| c.set_range(key.clone(), version, range)).is_some(), settled))
}

/// `edgelite_plan_guard(limit, schema, table, lo, hi)`: `limit`, once the size of `table`
/// ([`table_size`]) is at least `lo` and below `hi` (either NULL: no bound); otherwise the error
/// `SQLITE_SCHEMA`, on which `sqlite3_step()` prepares the statement again and runs it anew.
/// The planner's rewrite (patch 0002) wraps the LIMIT of a statement's own SELECT in it, which
/// SQLite evaluates before the statement reads a row. A table of fewer rows than 32 times the
/// walk's S can never have the sample send its filter to the walk (nor one of
/// at most 1,000 rows an indexed filter's), and the rewrite then only adds its fixed cost to the
/// scan (`filtered -- --rows 300`: 0.62-0.93x the scan's speed at every filter); nor does the
/// walk pay on a table of vectors of few dimensions under a size that grows as they shrink
/// (`edgeliteScanRows` in the planner, with or without a filter). So the
/// statement is prepared without the rewrite while the table stays under twice that size
/// (`lo` NULL, `hi` twice the size), and with it from that size on (`lo` the size, `hi` NULL): a
/// table whose size moves between the two keeps its plan. The size read here is what the
/// planner finds at the next prepare ([`edgelite_size_hint`]).
pub(crate) unsafe extern "C" fn edgelite_plan_guard(
    ctx: *mut sqlite3_context,
    argc: c_int,
    argv: *mut *mut sqlite3_value,
) {
    // SAFETY: SQLite's xFunc context.
    let db = unsafe { context_db(ctx) };
    let body = |_: usize, args: &[*mut sqlite3_value]| -> SqlResult<Output> {
        let [limit, schema, table, lo, hi] = args else {
            return Err("edgelite_plan_guard: expected a limit, a schema, a table and two bounds".to_string().into());
        };
        // SAFETY: live arguments of the running call.
        let key = unsafe { table_name(*schema, *table, "edgelite_plan_guard") }?;
        // SAFETY: as above.
        let lo = unsafe { bound(*lo) };
        // SAFETY: as above.
        let hi = unsafe { bound(*hi) };
        let (Ok(lo), Ok(hi)) = (lo, hi) else {
            return Err("edgelite_plan_guard: a bound must be an integer or NULL".to_string().into());
        };
        // SAFETY: as above.
        let Some(limit) = (unsafe { int_value(*limit) }) else {
            return Err("edgelite_plan_guard: the limit must be an integer".to_string().into());
        };
        let (range, kept, _) = remembered_range(db, &key)?;
        let size = range.map_or(0, |r| r.size);
        // a size the connection cannot remember never fails the statement: prepared again, it
        // would get the same plan, and fail again
        if kept && (lo.is_some_and(|lo| size < lo) || hi.is_some_and(|hi| size >= hi)) {
            // SQLITE_SCHEMA: sqlite3_step() prepares the statement again (50 times at most,
            // then returns this error: only a call written by hand fails at every run)
            return Err(SqlError::new(
                SQLITE_SCHEMA,
                format!("edgelite_plan_guard: the size of {} is {size} rows, out of this plan's range", ident(&key.1)),
            ));
        }
        Ok(Output::Int(limit))
    };
    // SAFETY: SQLite's xFunc arguments, passed through.
    unsafe { call(ctx, argc, argv, body) }
}

/// The size of table `schema.table` ([`table_size`]) that this connection last read for the
/// planner's guard ([`edgelite_plan_guard`]), whatever has changed since; -1 if it has read none
/// yet; -2 if it cannot remember one (its vector cache is off, or its state is in use). The
/// planner's rewrite (patch 0002) calls it when it prepares a statement, to choose the plan
/// that the guard will then check (at -1 the scan, at -2 the rewrite).
///
/// # Safety
/// `db` is a live connection whose mutex the caller holds; `schema` and `table` are
/// NUL-terminated strings.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn edgelite_size_hint(db: *mut sqlite3, schema: *const c_char, table: *const c_char) -> i64 {
    if db.is_null() || schema.is_null() || table.is_null() {
        return -2;
    }
    // SAFETY: a NUL-terminated string (caller).
    let schema = unsafe { CStr::from_ptr(schema) }.to_string_lossy().into_owned();
    // SAFETY: as above.
    let table = unsafe { CStr::from_ptr(table) }.to_string_lossy().into_owned();
    let key = (schema, table);
    std::panic::catch_unwind(|| {
        // SAFETY: a live connection (caller).
        let db = unsafe { Db::new(db) };
        match with_cache(db, |c| c.range_hint(&key)) {
            None => -2,
            Some(None) => -1,
            Some(Some(range)) => range.map_or(0, |r| r.size),
        }
    })
    .unwrap_or(-2)
}
