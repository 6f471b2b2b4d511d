//! `vector_scan(index, query [, hint])`: every row of a vector index, nearest first, for as
//! long as the statement reads (an incremental search, [`edgelite_diskann::SearchStream`]).
//!
//! `vector_top_k` answers libSQL's question, "the k nearest rows", and a filter applied to its
//! rows can leave fewer than the caller wants. `vector_scan` has no k: a statement that joins
//! it to its table, filters, and stops at a `LIMIT` reads exactly as far as it needs, and a
//! statement that reads to the end gets every row of the index, reachable from the graph's
//! entry point or not. Rows come nearest first, except that a row may come a little after a
//! farther one (the walk does not know the whole graph): sort what you keep by `distance`.
//! `hint` (optional) is how many rows the caller expects to read; the rows are then those of a
//! search with that candidate list (at least the index's `search_l`), each returned once that
//! many visited rows wait behind it ([`SearchStream::expect_rows`]).
//!
//! The same module is registered a second time as `edgelite_vector_scan`, with column names
//! no table uses, for the planner's rewrite of `ORDER BY vector_distance_*(...) LIMIT n`
//! (patch 0002): its filter is copied inside a subquery next to this table, where a column
//! named `id` or `distance` must still mean the user's column. That registration takes a
//! fourth argument, a budget: the scan ends after that many rows (the planner then ranks the
//! rows that pass by a scan of the table, PATCHES.md). Its column `edgelite_pass` is a
//! row's id too, read by the planner only for a row that passed its filter: once the hint's
//! K rows have passed, the scan returns only rows nearer than the K-th of them ([`Passed`]).
//! A fifth argument says where the vector column is in the query's distance call (0 first, 1
//! second), so that a query vector the walk cannot use fails as that call would ([`scan_error`]).

use core::ffi::{CStr, c_char, c_int};

use edgelite_diskann::{DiskAnn, OrdF32, SearchStream};

use super::keys::Key;
use super::sql::SqlResult;
use super::values::{Context, arg};
use super::vector_index::{self, SearchStamp, ShadowStorage};
use super::vtab;
use crate::bindings::*;

const COL_IDX: c_int = 0;
const COL_HINT: c_int = 2;
const COL_ID: c_int = 3;
const COL_DISTANCE: c_int = 4;
/// The planner's registration only: how many rows the scan may return (see [`ScanCursor`]).
const COL_BUDGET: c_int = 5;
/// The planner's registration only: the row's id, read for a row that passed ([`Passed`]).
/// Not hidden: a table-valued function's arguments go to its hidden columns in order, and
/// this one is never an argument.
const COL_PASS: c_int = 6;
/// The planner's registration only: where the vector column is in the query's distance call
/// (see [`scan_error`]).
const COL_FORM: c_int = 7;

/// The declared schema of each registration, passed as the module's client data.
static USER_SCHEMA: &CStr = c"CREATE TABLE x(idx HIDDEN, vector HIDDEN, hint HIDDEN, id, distance)";
static PLANNER_SCHEMA: &CStr = c"CREATE TABLE x(edgelite_idx HIDDEN, edgelite_query HIDDEN, edgelite_k HIDDEN, \
      edgelite_id, edgelite_distance, edgelite_budget HIDDEN, edgelite_pass, edgelite_form HIDDEN)";

/// The first batch is the hint (at most this), later ones grow ([`grow`]) up to this.
const MAX_BATCH: usize = 8192;

/// A batch is at least this share of the rows returned so far, so a scan computes at most an
/// eighth more rows than its statement reads (or a hint's worth more, while the hint is the
/// larger). Batches that doubled computed up to twice as
/// many: a filtered query on minilm-20k (`WHERE bucket < 100 ... LIMIT 10`) reads about 200
/// rows of the walk and made it return 310 (batches of 10, 20, 40, 80 and 160), each a visit.
/// A batch costs a storage opened for it, one to a few microseconds, and a row computed past
/// what the statement reads costs a visit, about two: a quarter left that query's walks at
/// 187 to 252 visits (10 queries), where the rows read took 100 + about 110.
const GROWTH_SHARE: usize = 8;

/// Visits after which a scan looks up the index size to bound its walk (see [`fill`]).
const WALK_BEFORE_LIMIT: usize = 1024;

/// A walk of more visits than the index's nodes over this gives way to brute force over every
/// node at once ([`fill`]): on minilm-20k a visit (18 edges, f8 copies of 384 dimensions) took
/// about 1.9 microseconds and brute force about 0.65 a node (`vector_scan` of every row, 13 ms,
/// by hand), so the walk costs more past about a third of the nodes. By hand, through the
/// planner (`ORDER BY ... LIMIT n`, which then ranks the n rows by their SQL distance, a
/// seek each), a quarter took LIMIT 3,000 from 17.4-17.7 ms to 19.3-20.5 (LIMIT 5,000:
/// 26.3-26.7 ms became 24.6-26.3; the exact scan 27-31); a third left both within this
/// machine's noise (two runs each, alternating).
const BRUTE_SHARE: usize = 3;

/// An index of fewer nodes than this many times the visits of a walk's first batch (its
/// window, then about one a row: 110 at the default width and `LIMIT 10`, so 220 nodes; 202
/// for `vector_scan` without a hint) is read by brute force from its first row
/// ([`small_index`]): a walk there visits most nodes, a distance per edge of each, where brute
/// force computes one a node. By hand (`ORDER BY vector_distance_cos(v, ?) LIMIT 10` on random
/// rows, the two builds paired), 100 rows took 56 microseconds where they took 84 at 8
/// dimensions (SQLite's scan: 31) and 69 where they took 103 at 384 (the scan: 73); 200 rows
/// 76 for 99 and 97 for 108. Three times the visits, tried first (330 nodes), took 300 rows of
/// 384 dimensions to 119 microseconds from 95 walked.
const SMALL_SHARE: usize = 2;

/// One scan: the stream and the rows of its current batch.
#[repr(C)]
struct ScanCursor {
    base: sqlite3_vtab_cursor,
    /// Index name as given, graph, stream; `None` before xFilter or for an empty result.
    state: Option<(String, DiskAnn, SearchStream)>,
    /// The storage of the last batch and what it read as of, for the next batch to take over
    /// while that still holds ([`ShadowStorage::stamp`]). Opened again for every batch, the
    /// index took about 4 microseconds a batch (a timer around it, by hand): a filtered query
    /// on minilm-20k (`WHERE bucket < 100 ... LIMIT 10`) reads 7 to 17 batches, 5-7% of its
    /// time.
    kept: Option<Kept>,
    rows: Vec<(i64, f64)>,
    /// For a keyed index, each row's key: the `id` it answers (`keys.rs`).
    keys: Option<Vec<Key>>,
    pos: usize,
    /// Size of the next batch; 0 once the stream has returned every row.
    next_batch: usize,
    /// The walk's visit limit has been set (see [`fill`]).
    limited: bool,
    /// The planner's budget: after this many rows the scan ends, whatever is left. The planner
    /// gives a filtered walk a few times the rows that its sample says it needs, at most a 32nd
    /// of the table or twice the need, and ranks the rows that pass by an exact scan of the
    /// table when the walk ends short (a filter that the rows near the query mostly fail reads
    /// less that way than walking on).
    budget: usize,
    /// Rows returned so far.
    returned: usize,
    /// Nodes whose vectors' distance is always NULL (`zeros.rs`): returned first, skipped in
    /// the walk.
    directionless: std::collections::HashSet<i64>,
    /// The rows that passed the planner's filter, and where the scan ends once K have.
    passed: Passed,
}

/// The rows of a filtered walk that passed the planner's filter, as its reads of
/// `edgelite_pass` say (the planner reads that column only for a row that passed).
///
/// The planner ranks the first S = K + ceil(K/10) rows that pass (`edgeliteSlack`): the walk's
/// order is nearly exact, and the few more let the exact ORDER BY pick the right K. But a row
/// farther than the K-th that passed cannot be among the K it keeps, and at 10% selectivity
/// the slack's row came about ten rows of the walk later, each a seek of the filter's row.
/// So once K rows have passed, the scan reads on for as many rows as the slack would have
/// read at the selectivity seen so far (ceil(K/10) rows that pass, at the rate of the first K)
/// and returns only those nearer than the K-th that passed: a farther row costs its step of
/// the walk, but no seek. At most the walk's window of rows, though: a row comes once the
/// whole window waits behind it, so a nearer one rarely comes further behind, and a filter
/// that the rows near the query fail and farther ones pass (a review's case: the nearest 2,000
/// of 20,000 fail, `LIMIT 1`) would otherwise read as many rows again as it took to find the
/// K. The planner's count of the rows that passed (`edgelite_walk`) may then end at K: its
/// gate sends the query to the scan only below K.
#[derive(Default)]
struct Passed {
    /// K, the hint; 0: the rows that pass are not counted (no hint).
    want: usize,
    /// The distances of the K nearest rows that passed, largest on top (a row without a
    /// direction, NaN, counts as nearest: SQL sorts NULL first).
    nearest: std::collections::BinaryHeap<OrdF32>,
    /// Rows read (returned or passed over) when the last pass was noted: each row counts once.
    noted: Option<usize>,
    /// Rows read after which the scan ends: set once K have passed (and [`Self::nearest`]
    /// holds K from then on).
    end: Option<usize>,
    /// The most rows read after the K-th passed: the walk's window.
    most: usize,
}

impl Passed {
    fn new(want: usize, window: usize) -> Passed {
        // "every row" (a negative LIMIT) is never K rows that pass
        Passed { want: if want > MAX_PASS_WANT { 0 } else { want }, most: window.max(1), ..Passed::default() }
    }

    /// Notes that the row at `read` (rows read before it) passed, at `distance`.
    fn note(&mut self, read: usize, distance: f64) {
        if self.want == 0 || self.noted == Some(read) {
            return;
        }
        self.noted = Some(read);
        // f32: the walk's own precision, well inside the tolerance of `beyond`
        self.nearest.push(OrdF32(if distance.is_nan() { f32::NEG_INFINITY } else { distance as f32 }));
        if self.nearest.len() > self.want {
            self.nearest.pop();
        }
        if self.end.is_none() && self.nearest.len() == self.want {
            let through = read + 1;
            let slack = self.want.div_ceil(10);
            let more = through.saturating_mul(slack).div_ceil(self.want).clamp(1, self.most);
            self.end = Some(through.saturating_add(more));
        }
    }

    /// Whether a row at `distance` cannot be among the K nearest that pass: K have passed and
    /// it is farther than the K-th (by more than the rounding of two ways to compute one
    /// distance: the walk's kernel and SQL's).
    fn beyond(&self, distance: f64) -> bool {
        match (self.end, self.nearest.peek()) {
            (Some(_), Some(&OrdF32(kth))) => distance > f64::from(kth) + 1e-5 * (1.0 + f64::from(kth).abs()),
            _ => false,
        }
    }
}

/// A hint larger than this is the planner's "every row", not a K ([`Passed::new`]; the planner's
/// `edgeliteSlack` draws the same line).
const MAX_PASS_WANT: usize = 100_000_000;

/// A scan as [`start`] makes it: the index name as given, its graph, the stream, the hint
/// (the first batch's size), and the storage for the first batch to take over if it may.
struct Started {
    name: String,
    graph: DiskAnn,
    stream: SearchStream,
    /// The hint (0 without one): the first batch's size (at least 1, at most [`MAX_BATCH`]).
    hint: usize,
    kept: Option<Kept>,
}

/// A batch's storage kept for the next one, and what it read as of ([`ShadowStorage::stamp`]).
type Kept = (ShadowStorage, SearchStamp);

/// `storage` kept for the next batch if `stamp` says it may be ([`ShadowStorage::stamp`]),
/// with its statements reset and its blob handles closed meanwhile.
fn keep(mut storage: ShadowStorage, stamp: Option<SearchStamp>) -> Option<Kept> {
    let stamp = stamp?;
    storage.release();
    Some((storage, stamp))
}

/// Registers both names on `db`.
///
/// # Safety
/// `db` is a valid open connection.
pub(crate) unsafe fn register(db: *mut sqlite3) -> c_int {
    for (name, schema) in [(c"vector_scan", USER_SCHEMA), (c"edgelite_vector_scan", PLANNER_SCHEMA)] {
        // SAFETY: `db` is valid (caller).
        let rc = unsafe { vtab::register(db, name, &MODULE, schema) };
        if rc != SQLITE_OK {
            return rc;
        }
    }
    SQLITE_OK
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

/// The idxStr that EXPLAIN QUERY PLAN shows (a static string: SQLite does not free it).
static WALK_EXPLAIN: &CStr = c"graph walk: nearest rows first, as many as the statement reads";

/// idxNum bit: the hint argument is given.
const WITH_HINT: c_int = 1;
/// idxNum bit: the budget argument is given (after the hint, if any).
const WITH_BUDGET: c_int = 2;
/// idxNum bit: the form argument is given (after the budget).
const WITH_FORM: c_int = 4;

unsafe extern "C" fn x_best_index(vtab: *mut sqlite3_vtab, info: *mut sqlite3_index_info) -> c_int {
    vtab::guarded(|| {
        // SAFETY: SQLite passes a valid index-info for the duration of the call.
        let info = unsafe { &mut *info };
        let n = usize::try_from(info.nConstraint).unwrap_or(0);
        // SAFETY: aConstraint/aConstraintUsage have nConstraint entries.
        let constraints = unsafe { core::slice::from_raw_parts(info.aConstraint, n) };
        // SAFETY: as above.
        let usage = unsafe { core::slice::from_raw_parts_mut(info.aConstraintUsage, n) };
        // slots: index, query, hint, budget, form
        let (mut seen, mut usable) = ([false; 5], [None; 5]);
        for (i, c) in constraints.iter().enumerate() {
            let col = c.iColumn;
            let slot = match col {
                COL_IDX..=COL_HINT => col as usize,
                COL_BUDGET => 3,
                COL_FORM => 4,
                _ => continue,
            };
            if c.op != SQLITE_INDEX_CONSTRAINT_EQ as u8 {
                continue;
            }
            seen[slot] = true;
            if c.usable != 0 && usable[slot].is_none() {
                usable[slot] = Some(i);
            }
        }
        if !seen[0] || !seen[1] {
            // SAFETY: `vtab` is this module's live table.
            unsafe { vtab::set_error(vtab, "vector_scan: expected an index name and a query vector") };
            return SQLITE_ERROR;
        }
        if usable.iter().zip(seen).any(|(u, s)| s && u.is_none()) {
            // an argument comes from a table not yet scanned: ask for another order
            return SQLITE_CONSTRAINT;
        }
        let mut argv = 0;
        for i in usable.iter().flatten() {
            argv += 1;
            usage[*i].argvIndex = argv;
            usage[*i].omit = 1;
        }
        info.idxNum = if usable[2].is_some() { WITH_HINT } else { 0 }
            | if usable[3].is_some() { WITH_BUDGET } else { 0 }
            | if usable[4].is_some() { WITH_FORM } else { 0 };
        // what EXPLAIN QUERY PLAN shows: how this table finds its rows
        info.idxStr = WALK_EXPLAIN.as_ptr().cast_mut();
        info.needToFreeIdxStr = 0;
        // the whole index, possibly: expensive unless the statement stops early
        info.estimatedCost = 1000.0;
        info.estimatedRows = 1000;
        SQLITE_OK
    })
}

unsafe extern "C" fn x_open(_vtab: *mut sqlite3_vtab, pp_cursor: *mut *mut sqlite3_vtab_cursor) -> c_int {
    vtab::guarded(|| {
        let cursor = Box::new(ScanCursor {
            // SAFETY: a zeroed sqlite3_vtab_cursor is what SQLite expects; it sets pVtab itself.
            base: unsafe { core::mem::zeroed() },
            state: None,
            kept: None,
            rows: Vec::new(),
            keys: None,
            pos: 0,
            next_batch: 0,
            limited: false,
            budget: usize::MAX,
            returned: 0,
            directionless: std::collections::HashSet::new(),
            passed: Passed::default(),
        });
        // SAFETY: SQLite's out-pointer; xClose rebuilds the Box.
        unsafe { *pp_cursor = Box::into_raw(cursor).cast::<sqlite3_vtab_cursor>() };
        SQLITE_OK
    })
}

unsafe extern "C" fn x_close(cursor: *mut sqlite3_vtab_cursor) -> c_int {
    vtab::guarded(|| {
        // SAFETY: `cursor` came from Box::into_raw in x_open and is closed once.
        drop(unsafe { Box::from_raw(cursor.cast::<ScanCursor>()) });
        SQLITE_OK
    })
}

/// Reads the hint (or the budget, `what`): a non-negative integer; larger than any index means
/// "every row".
///
/// # Safety
/// `value` is a live argument of the running xFilter.
unsafe fn count_arg(value: *mut sqlite3_value, what: &str) -> SqlResult<usize> {
    // SAFETY: live argument (caller).
    let n = match unsafe { sqlite3_value_type(value) } {
        // SAFETY: live argument (caller).
        SQLITE_INTEGER => unsafe { sqlite3_value_int64(value) },
        SQLITE_NULL => 0,
        _ => return Err(format!("vector_scan: the {what} must be an integer").into()),
    };
    Ok(usize::try_from(n.max(0)).unwrap_or(usize::MAX))
}

unsafe extern "C" fn x_filter(
    cursor: *mut sqlite3_vtab_cursor,
    idx_num: c_int,
    _idx_str: *const c_char,
    argc: c_int,
    argv: *mut *mut sqlite3_value,
) -> c_int {
    vtab::guarded(|| {
        // SAFETY: `cursor` is a live cursor of this module (x_open), exclusively ours here.
        let cursor = unsafe { &mut *cursor.cast::<ScanCursor>() };
        let vtab = cursor.base.pVtab;
        // SAFETY: pVtab is the live table the cursor was opened on.
        let db = unsafe { (*vtab.cast::<vtab::Table>()).db };
        let want = 2
            + usize::from(idx_num & WITH_HINT != 0)
            + usize::from(idx_num & WITH_BUDGET != 0)
            + usize::from(idx_num & WITH_FORM != 0);
        let args: &[*mut sqlite3_value] = match usize::try_from(argc) {
            // SAFETY: SQLite passes `argc` argument values.
            Ok(n) if n == want => unsafe { core::slice::from_raw_parts(argv, n) },
            _ => &[],
        };
        cursor.state = None;
        cursor.kept = None;
        cursor.rows.clear();
        cursor.pos = 0;
        cursor.next_batch = 0;
        cursor.limited = false;
        cursor.returned = 0;
        cursor.budget = usize::MAX;
        cursor.directionless.clear();
        cursor.passed = Passed::default();
        let (args, form) = match args {
            [rest @ .., last] if idx_num & WITH_FORM != 0 => (rest, Some(*last)),
            _ => (args, None),
        };
        let (args, budget) = match args {
            [rest @ .., last] if idx_num & WITH_BUDGET != 0 => (rest, Some(*last)),
            _ => (args, None),
        };
        // SAFETY: a live argument of this call.
        let column_first = form.map(|value| unsafe { sqlite3_value_int64(value) } == 0);
        if let Some(value) = budget {
            // SAFETY: a live argument of this call.
            match unsafe { count_arg(value, "budget") } {
                // NULL (no sample: an empty table) means no budget
                Ok(0) => {}
                Ok(n) => cursor.budget = n,
                // SAFETY: `vtab` is live.
                Err(error) => return unsafe { vtab::fail(vtab, &error) },
            }
        }
        // SAFETY: the values are live for this call; what is kept is copied.
        let started = unsafe { start(db, args, column_first) }.and_then(|started| {
            // an empty index: no rows (x_eof)
            let Some(Started { name, graph, stream, hint, kept }) = started else { return Ok(()) };
            let window = stream.window();
            // SAFETY: `db` is the table's live connection.
            let directionless = unsafe { vector_index::directionless(db, &name) }?;
            cursor.state = Some((name, graph, stream));
            cursor.kept = kept;
            cursor.next_batch = hint.clamp(1, MAX_BATCH);
            cursor.passed = Passed::new(hint, window);
            cursor.directionless = directionless.iter().copied().collect();
            // SAFETY: `db` is the table's live connection.
            unsafe { fill(db, cursor) }?;
            // their distance is NULL, which SQL sorts first
            cursor.rows.splice(0..0, directionless.into_iter().map(|id| (id, f64::NAN)));
            Ok(())
        });
        match started {
            Ok(()) => SQLITE_OK,
            // SAFETY: `vtab` is live.
            Err(error) => unsafe { vtab::fail(vtab, &error) },
        }
    })
}

/// Checks the arguments and makes the stream ([`Started`]), or `None` for an empty index. Its
/// first rows are those a search of the index's own width ranks, with a filter or without:
/// the planner's filtered walk once had half that width, which on minilm-20k's 20,000 rows
/// cost little recall for 10-20% more queries/s, but on 100,000 (`filtered -- --synthetic
/// 100000`) recall@10 was 0.951 without a filter and 0.954 at 50%, against 0.983 and 0.980 at
/// the full width.
///
/// `column_first` (the planner's registration): where the vector column is in the query's
/// distance call, for [`scan_error`].
///
/// # Safety
/// `db` is the table's connection and the values are live arguments of the running xFilter.
unsafe fn start(
    db: *mut sqlite3,
    args: &[*mut sqlite3_value],
    column_first: Option<bool>,
) -> SqlResult<Option<Started>> {
    let (name, query, hinted) = match args {
        [name, query] => (*name, *query, 0),
        // SAFETY: live argument (caller).
        [name, query, h] => (*name, *query, unsafe { count_arg(*h, "hint") }?),
        _ => return Err("vector_scan: expected an index name and a query vector".into()),
    };
    // SAFETY: live argument (caller).
    let name = match unsafe { arg(name) } {
        edgelite_vector::sql::Arg::Text(t) => String::from_utf8_lossy(t).into_owned(),
        _ => return Err("vector_scan: the first parameter (index) must be a string".into()),
    };
    // SAFETY: `db` is live (caller); the storage is dropped before this returns.
    let (mut storage, graph) = unsafe { vector_index::open_search(db, &name) }?;
    // an empty index has no rows to rank: the query vector is not looked at, as the scan's
    // vector_distance_*() is never called on an empty table (a bad vector fails neither)
    if edgelite_diskann::Storage::first_id(&mut storage)?.is_none() {
        return Ok(None);
    }
    let stamp = storage.stamp();
    let kept = keep(storage, stamp);
    // SAFETY: live argument (caller).
    let query = unsafe { arg(query) };
    let as_scan = |error| match column_first {
        Some(first) => scan_error(graph.config(), first, query, error),
        None => error,
    };
    let vector = vector_index::decode_vector(query).map_err(as_scan)?;
    let window = graph.config().search_l.max(hinted.min(1 << 20));
    let mut stream = graph
        .stream(vector.as_ref(), window)
        .map_err(vector_index::graph_error::<vector_index::ShadowError>)
        .map_err(as_scan)?;
    if hinted > 0 {
        // a group of duplicates counts at most max(hint, window/8) times in the window
        // (SearchStream::expect_rows)
        stream.expect_rows(hinted);
    }
    Ok(Some(Started { name, graph, stream, hint: hinted, kept }))
}

/// The error that the scan the planner's rewrite stands for gives for `query`, or `walk_error`
/// if that scan's call takes it: the rewrite of `ORDER BY vector_distance_cos(v, ?) LIMIT n`
/// fails as the query would without it, by the same checks in the same order (`sql.rs`:
/// types, then lengths, then the text's numbers), where the walk's own checks are those of
/// the index, libSQL's `vector_top_k` texts (a review found `dimensions are different: 4 !=
/// 8` where the scan says `vectors must have the same length: 8 != 4`, and `invalid float`
/// for a trailing comma, whose text the scan counts first). Every row's vector in an indexed
/// column has the column's type and dimensions (the index refuses others), so zeros of them
/// stand for the row the scan's call would fail on; `column_first` is where the column is in
/// that call.
fn scan_error(
    config: &edgelite_diskann::IndexConfig,
    column_first: bool,
    query: edgelite_vector::sql::Arg<'_>,
    walk_error: super::sql::SqlError,
) -> super::sql::SqlError {
    let Ok(zeros) = edgelite_vector::Vector::from_f32(&vec![0.0; config.dims as usize]) else { return walk_error };
    let column = zeros.convert(config.vector_type).to_blob();
    let column = edgelite_vector::sql::Arg::Blob(&column);
    let (a, b) = if column_first { (column, query) } else { (query, column) };
    match edgelite_vector::sql::vector_distance(config.metric, a, b) {
        Err(error) => error.to_string().into(),
        Ok(_) => walk_error,
    }
}

/// Replaces the cursor's rows by the stream's next batch, read under the statement's current
/// snapshot: with the last batch's storage while nothing can have changed the index since
/// ([`ShadowStorage::stamp`]), else with one opened afresh. Between two steps of the caller no
/// statement of ours stays open ([`ShadowStorage::release`]).
///
/// # Safety
/// `db` is the table's live connection.
unsafe fn fill(db: *mut sqlite3, cursor: &mut ScanCursor) -> SqlResult<()> {
    cursor.rows.clear();
    cursor.keys = None;
    cursor.pos = 0;
    let Some((name, graph, stream)) = cursor.state.as_mut() else { return Ok(()) };
    if cursor.next_batch == 0 {
        return Ok(());
    }
    // the stamp taken here holds at the batch's end too: the batch only reads
    let (mut storage, stamp) = match cursor.kept.take() {
        Some((storage, stamp)) if storage.stamp() == Some(stamp) => (storage, Some(stamp)),
        _ => {
            // SAFETY: `db` is live (caller).
            let (storage, current) = unsafe { vector_index::open_search(db, name) }?;
            if current.config() != graph.config() {
                return Err("vector_scan: the index changed during the scan".into());
            }
            let stamp = storage.stamp();
            (storage, stamp)
        }
    };
    // the visits a walk takes for a batch of this size from its start: the window, then about
    // one a row
    let need = stream.window().saturating_add(cursor.next_batch);
    if !cursor.limited && stream.visited() == 0 {
        // inside a write transaction the count is not remembered, and the walk goes first
        if let Some(limit) = storage.known_count()?.and_then(|n| first_limit(need, n)) {
            cursor.limited = true;
            stream.set_walk_limit(limit);
        }
    }
    if !cursor.limited && stream.visited().saturating_add(need) > WALK_BEFORE_LIMIT {
        // a long scan (a filter few rows pass): past a sixteenth of the index, brute force over
        // the rest costs less than walking on (one distance per node, not one per edge). Twice
        // the share of the planner's sample gate (EDGELITE_WALK_SHARE, a thirty-second), which
        // chooses the walk only when it expects it to end sooner: on minilm-20k with a filter
        // correlated with the vectors (`filtered`), an eighth made the walk 0.74-0.80x the
        // exact scan's speed, a sixteenth 0.92x, a thirty-second 0.66x (the brute force then
        // runs for queries the walk would have finished).
        // A batch may ask for more rows than that (a large LIMIT): it walks as far as it
        // needs while that costs less than brute force over every node, which it does at
        // once when it would not (BRUTE_SHARE). Checked only between batches, the first batch
        // of `ORDER BY ... LIMIT 5000` on minilm-20k walked about 10,000 nodes whatever the
        // limit said.
        cursor.limited = true;
        let nodes = match storage.known_count()? {
            Some(nodes) => nodes,
            // a write transaction, or no node cache: counted afresh
            // SAFETY: `db` is live (caller).
            None => unsafe { vector_index::node_count(db, name) }?,
        };
        let limit = if stream.visited() == 0 && need > nodes / BRUTE_SHARE {
            0
        } else {
            // twice the estimate: a walk makes a few visits more than one a row (ties, nodes
            // queued again), and brute force after most of a walk costs both. A filtered walk's
            // batches are small: its limit stays a sixteenth
            (nodes / 16).max(WALK_BEFORE_LIMIT).max(need.saturating_mul(2).min(nodes / BRUTE_SHARE))
        };
        stream.set_walk_limit(limit);
    }
    let batch = loop {
        let want = cursor.next_batch;
        let mut batch = stream.next_batch(graph, &mut storage, want).map_err(vector_index::graph_error)?;
        cursor.next_batch = if batch.len() < want { 0 } else { grow(want, cursor.returned) };
        // the rows without a direction were returned first (x_filter); an empty batch would
        // end the scan
        if !cursor.directionless.is_empty() {
            batch.retain(|n| !cursor.directionless.contains(&n.id));
        }
        if !batch.is_empty() || cursor.next_batch == 0 {
            break batch;
        }
    };
    cursor.keys = storage.keys_of(batch.iter().map(|n| n.id))?;
    cursor.rows = batch.into_iter().map(|n| (n.id, f64::from(n.distance))).collect();
    if cursor.next_batch > 0 {
        cursor.kept = keep(storage, stamp);
    }
    Ok(())
}

/// Whether an index of `nodes` nodes is small enough for brute force to cost less than a walk
/// whose first batch takes `need` visits ([`SMALL_SHARE`]).
fn small_index(need: usize, nodes: usize) -> bool {
    need.saturating_mul(SMALL_SHARE) > nodes
}

/// The visit limit a walk whose first batch takes `need` visits gets before it starts, in an
/// index of `nodes` nodes (when the count is remembered): 0, brute force at once, for a small
/// index ([`small_index`]); a third of the nodes (or twice the need) for one of fewer than
/// [`BRUTE_SHARE`] times [`WALK_BEFORE_LIMIT`] nodes, past which a walk costs more than brute
/// force over every node would have; none for a larger one (its limit comes after
/// [`WALK_BEFORE_LIMIT`] visits). Before, an index of a few thousand nodes walked unbounded
/// in its first batch: a table of 2,000 rows, 1,970 of them one vector, whose group of equal
/// rows never fills the window, walked most of its nodes before brute force read them all.
fn first_limit(need: usize, nodes: usize) -> Option<usize> {
    if small_index(need, nodes) {
        Some(0)
    } else if nodes < BRUTE_SHARE * WALK_BEFORE_LIMIT {
        Some(need.saturating_mul(2).max(nodes / BRUTE_SHARE))
    } else {
        None
    }
}

/// The size of the batch after one of `want` rows, `returned` rows into the scan: an eighth of
/// the rows returned so far, at least the last batch's size ([`GROWTH_SHARE`]).
fn grow(want: usize, returned: usize) -> usize {
    (returned / GROWTH_SHARE).max(want).clamp(1, MAX_BATCH)
}

unsafe extern "C" fn x_next(cursor: *mut sqlite3_vtab_cursor) -> c_int {
    vtab::guarded(|| {
        // SAFETY: a live cursor of this module.
        let cursor = unsafe { &mut *cursor.cast::<ScanCursor>() };
        let vtab = cursor.base.pVtab;
        // SAFETY: pVtab is the live table the cursor was opened on.
        let db = unsafe { (*vtab.cast::<vtab::Table>()).db };
        // SAFETY: `db` is the table's live connection.
        match unsafe { advance(db, cursor) } {
            Ok(()) => SQLITE_OK,
            // SAFETY: `vtab` is live.
            Err(error) => unsafe { vtab::fail(vtab, &error) },
        }
    })
}

/// Moves to the next row to return: past the rows that cannot be among the K nearest that pass
/// ([`Passed::beyond`]), and to the end once the budget is spent or, after K rows passed, the
/// slack's rows are read ([`Passed`]).
///
/// # Safety
/// `db` is the table's live connection.
unsafe fn advance(db: *mut sqlite3, cursor: &mut ScanCursor) -> SqlResult<()> {
    loop {
        cursor.pos += 1;
        cursor.returned += 1;
        if cursor.returned >= cursor.budget || cursor.passed.end.is_some_and(|end| cursor.returned >= end) {
            // the budget is spent, or the slack read: the scan ends here (x_eof)
            cursor.rows.clear();
            cursor.pos = 0;
            cursor.next_batch = 0;
            return Ok(());
        }
        if cursor.pos >= cursor.rows.len() {
            // SAFETY: `db` is live (caller).
            unsafe { fill(db, cursor) }?;
        }
        match cursor.rows.get(cursor.pos) {
            Some(&(_, distance)) if cursor.passed.beyond(distance) => {}
            _ => return Ok(()),
        }
    }
}

unsafe extern "C" fn x_eof(cursor: *mut sqlite3_vtab_cursor) -> c_int {
    vtab::guarded(|| {
        // SAFETY: a live cursor of this module.
        let cursor = unsafe { &*cursor.cast::<ScanCursor>() };
        c_int::from(cursor.pos >= cursor.rows.len())
    })
}

unsafe extern "C" fn x_column(cursor: *mut sqlite3_vtab_cursor, ctx: *mut sqlite3_context, col: c_int) -> c_int {
    vtab::guarded(|| {
        // SAFETY: a live cursor of this module, positioned on a row (SQLite checks xEof first),
        // exclusively ours for the call.
        let cursor = unsafe { &mut *cursor.cast::<ScanCursor>() };
        let Some(&(id, distance)) = cursor.rows.get(cursor.pos) else { return SQLITE_ERROR };
        if col == COL_PASS {
            cursor.passed.note(cursor.returned, distance);
        }
        match col {
            // SAFETY: `ctx` is the live result context of this xColumn call.
            COL_DISTANCE if distance.is_nan() => unsafe { sqlite3_result_null(ctx) },
            // SAFETY: as above.
            COL_DISTANCE => unsafe { sqlite3_result_double(ctx, distance) },
            COL_ID | COL_PASS if cursor.keys.is_some() => {
                let key = cursor.keys.as_ref().and_then(|k| k.get(cursor.pos)).unwrap_or(&Key::Null);
                // SAFETY: `ctx` is the live result context of this xColumn call.
                unsafe { Context::new(ctx) }.key(key);
            }
            // SAFETY: as above.
            COL_ID | COL_PASS => unsafe { sqlite3_result_int64(ctx, id) },
            // SAFETY: as above. The argument columns are not echoed.
            _ => unsafe { sqlite3_result_null(ctx) },
        }
        SQLITE_OK
    })
}

unsafe extern "C" fn x_rowid(cursor: *mut sqlite3_vtab_cursor, rowid: *mut sqlite3_int64) -> c_int {
    vtab::guarded(|| {
        // SAFETY: a live cursor of this module.
        let cursor = unsafe { &*cursor.cast::<ScanCursor>() };
        let Some(&(id, _)) = cursor.rows.get(cursor.pos) else { return SQLITE_ERROR };
        // SAFETY: SQLite's out-pointer.
        unsafe { *rowid = id };
        SQLITE_OK
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An index of fewer than twice the visits of the walk's first batch is read by brute force:
    /// at the default width (100) and LIMIT 10, under 220 nodes.
    #[test]
    fn a_small_index_is_read_by_brute_force() {
        assert!(small_index(110, 0));
        assert!(small_index(110, 100));
        assert!(small_index(110, 219));
        assert!(!small_index(110, 220));
        assert!(!small_index(110, 20_000));
        // a large LIMIT in a small index
        assert!(small_index(5_100, 10_000));
        assert!(!small_index(5_100, 10_200));
        assert!(!small_index(usize::MAX / 2, usize::MAX));
    }

    /// A walk in an index of fewer than 3,072 nodes is bounded from its start: a third of the
    /// nodes, or twice its first batch's visits.
    #[test]
    fn a_walk_in_a_few_thousand_nodes_is_bounded_from_its_start() {
        assert_eq!(first_limit(110, 200), Some(0));
        assert_eq!(first_limit(110, 220), Some(220));
        assert_eq!(first_limit(110, 2_000), Some(666));
        assert_eq!(first_limit(600, 2_000), Some(1_200));
        assert_eq!(first_limit(110, 3_071), Some(1_023));
        assert_eq!(first_limit(110, 3_072), None);
        assert_eq!(first_limit(110, 20_000), None);
    }

    /// K = 10 rows pass among the first 100 read (10%): the scan then reads 10 more rows (the
    /// slack's one row that passes, at that rate) and returns only those nearer than the 10th.
    #[test]
    fn once_k_rows_passed_only_nearer_rows_are_returned() {
        let mut passed = Passed::new(10, 100);
        for i in 0..10 {
            assert!(!passed.beyond(f64::MAX), "before K rows passed, every row comes");
            // a row read twice counts once
            passed.note(i * 10 + 9, 0.1 * i as f64);
            passed.note(i * 10 + 9, 0.1 * i as f64);
        }
        assert_eq!(passed.end, Some(110));
        assert!(passed.beyond(0.95) && !passed.beyond(0.85) && !passed.beyond(0.9) && !passed.beyond(f64::NAN));
        // a nearer row that passes takes the place of the 10th
        passed.note(103, 0.5);
        assert!(passed.beyond(0.85) && !passed.beyond(0.8));
        assert_eq!(passed.end, Some(110), "the end stays");
        // a row without a direction counts as nearest (SQL sorts NULL first)
        passed.note(104, f64::NAN);
        assert!(passed.beyond(0.75) && !passed.beyond(0.7));
        // "every row" and no hint count nothing
        for want in [0, MAX_PASS_WANT + 1] {
            let mut all = Passed::new(want, 100);
            all.note(0, 0.0);
            assert!(!all.beyond(f64::MAX) && all.end.is_none());
        }
        // LIMIT 1 at 10%: the slack's row that passes is about ten rows on
        let mut one = Passed::new(1, 100);
        one.note(9, 0.3);
        assert_eq!(one.end, Some(20));
        // and at most the window on: the nearest 2,000 rows failed
        let mut far = Passed::new(1, 100);
        far.note(2000, 0.3);
        assert_eq!(far.end, Some(2101));
    }
}
