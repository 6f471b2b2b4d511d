//! `vector_top_k(index, query, k)`: libSQL's approximate nearest-neighbour search, as an
//! eponymous table-valued function, plus a hidden `distance` column.
//!
//! The columns are `idx HIDDEN, vector HIDDEN, k HIDDEN, id, distance HIDDEN`, so `SELECT *`
//! gives libSQL's single `id` column. Rows come in ascending distance, ties by id. Unlike
//! libSQL, the plan also works when the query vector comes from another table (xBestIndex
//! answers SQLITE_CONSTRAINT for unusable arguments instead of failing).

use core::ffi::{c_char, c_int};

use super::keys::Key;
use super::sql::SqlResult;
use super::values::{Context, arg};
use super::vector_index;
use super::vtab;
use crate::bindings::*;

const COL_IDX: c_int = 0;
const COL_VECTOR: c_int = 1;
const COL_K: c_int = 2;
const COL_ID: c_int = 3;
const COL_DISTANCE: c_int = 4;

/// One scan: the search's answers, walked in order.
#[repr(C)]
struct TopKCursor {
    base: sqlite3_vtab_cursor,
    rows: Vec<(i64, f64)>,
    /// For a keyed index, each row's key: the `id` it answers (`keys.rs`).
    keys: Option<Vec<Key>>,
    pos: usize,
}

/// The declared schema (libSQL's `id`, plus the hidden arguments and distance), passed to
/// `vtab::x_connect` as the module's client data.
static SCHEMA: &core::ffi::CStr = c"CREATE TABLE x(idx HIDDEN, vector HIDDEN, k HIDDEN, id, distance HIDDEN)";

/// Registers the module on `db`.
///
/// # Safety
/// `db` is a valid open connection.
pub(crate) unsafe fn register(db: *mut sqlite3) -> c_int {
    // SAFETY: `db` is valid (caller).
    unsafe { vtab::register(db, c"vector_top_k", &MODULE, SCHEMA) }
}

// Eponymous-only: `vector_top_k` exists in every schema without CREATE.
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

unsafe extern "C" fn x_best_index(vtab: *mut sqlite3_vtab, info: *mut sqlite3_index_info) -> c_int {
    vtab::guarded(|| {
        // SAFETY: SQLite passes a valid index-info for the duration of the call.
        let info = unsafe { &mut *info };
        let n = usize::try_from(info.nConstraint).unwrap_or(0);
        // SAFETY: aConstraint/aConstraintUsage have nConstraint entries.
        let constraints = unsafe { core::slice::from_raw_parts(info.aConstraint, n) };
        // SAFETY: as above.
        let usage = unsafe { core::slice::from_raw_parts_mut(info.aConstraintUsage, n) };
        let (mut seen, mut usable) = ([false; 3], [None; 3]);
        for (i, c) in constraints.iter().enumerate() {
            let col = c.iColumn;
            if !(COL_IDX..=COL_K).contains(&col) || c.op != SQLITE_INDEX_CONSTRAINT_EQ as u8 {
                continue;
            }
            let slot = col as usize;
            seen[slot] = true;
            if c.usable != 0 && usable[slot].is_none() {
                usable[slot] = Some(i);
            }
        }
        // A fourth argument binds to the next hidden column, `distance`, as an equality (SQLite
        // counts every hidden column as a possible argument). libSQL has three and SQLite refuses
        // a fourth with this message; no query means `distance = x` (a float's exact value), so
        // the equality is refused the same way, wherever it comes from.
        if constraints.iter().any(|c| c.iColumn == COL_DISTANCE && c.op == SQLITE_INDEX_CONSTRAINT_EQ as u8) {
            // SAFETY: `vtab` is this module's live table.
            unsafe { vtab::set_error(vtab, "too many arguments on vector_top_k() - max 3") };
            return SQLITE_ERROR;
        }
        let given = seen.iter().filter(|s| **s).count();
        if given < 3 {
            // SAFETY: `vtab` is this module's live table.
            unsafe { vtab::set_error(vtab, &format!("vector index(search): got {given} parameters, expected 3")) };
            return SQLITE_ERROR;
        }
        if usable.iter().any(Option::is_none) {
            // The query vector (say) comes from a table not yet scanned: ask for another order.
            return SQLITE_CONSTRAINT;
        }
        for (slot, i) in usable.iter().enumerate() {
            if let Some(i) = *i {
                usage[i].argvIndex = slot as c_int + 1;
                usage[i].omit = 1;
            }
        }
        // Our rows come sorted by distance (then id): say so when that is the order asked for.
        let n_order = usize::try_from(info.nOrderBy).unwrap_or(0);
        // SAFETY: aOrderBy has nOrderBy entries.
        let order = unsafe { core::slice::from_raw_parts(info.aOrderBy, n_order) };
        if order.first().is_some_and(|o| o.iColumn == COL_DISTANCE && o.desc == 0) && n_order == 1 {
            info.orderByConsumed = 1;
        }
        info.estimatedCost = 10.0;
        info.estimatedRows = 10;
        SQLITE_OK
    })
}

unsafe extern "C" fn x_open(_vtab: *mut sqlite3_vtab, pp_cursor: *mut *mut sqlite3_vtab_cursor) -> c_int {
    vtab::guarded(|| {
        // SAFETY: a zeroed sqlite3_vtab_cursor is what SQLite expects; it sets pVtab itself.
        let base = unsafe { core::mem::zeroed() };
        let cursor = Box::new(TopKCursor { base, rows: Vec::new(), keys: None, pos: 0 });
        // SAFETY: SQLite's out-pointer; xClose rebuilds the Box.
        unsafe { *pp_cursor = Box::into_raw(cursor).cast::<sqlite3_vtab_cursor>() };
        SQLITE_OK
    })
}

unsafe extern "C" fn x_close(cursor: *mut sqlite3_vtab_cursor) -> c_int {
    vtab::guarded(|| {
        // SAFETY: `cursor` came from Box::into_raw in x_open and is closed once.
        drop(unsafe { Box::from_raw(cursor.cast::<TopKCursor>()) });
        SQLITE_OK
    })
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
        let cursor = unsafe { &mut *cursor.cast::<TopKCursor>() };
        let vtab = cursor.base.pVtab;
        // SAFETY: pVtab is the live table the cursor was opened on.
        let db = unsafe { (*vtab.cast::<vtab::Table>()).db };
        let args: &[*mut sqlite3_value] = match usize::try_from(argc) {
            // SAFETY: SQLite passes `argc` argument values.
            Ok(3) => unsafe { core::slice::from_raw_parts(argv, 3) },
            _ => &[],
        };
        cursor.rows.clear();
        cursor.keys = None;
        cursor.pos = 0;
        let result = match args {
            // SAFETY: the values are live for this call; the search copies what it keeps.
            [name, query, k] => unsafe { search(db, *name, *query, *k) },
            _ => Err(format!("vector index(search): got {argc} parameters, expected 3").into()),
        };
        match result {
            Ok((rows, keys)) => {
                cursor.rows = rows;
                cursor.keys = keys;
                SQLITE_OK
            }
            // SAFETY: `vtab` is live.
            Err(error) => unsafe { vtab::fail(vtab, &error) },
        }
    })
}

/// Checks the arguments as libSQL does and runs the search.
///
/// # Safety
/// `db` is the table's connection and the values are live arguments of the running xFilter.
unsafe fn search(
    db: *mut sqlite3,
    name: *mut sqlite3_value,
    query: *mut sqlite3_value,
    k: *mut sqlite3_value,
) -> SqlResult<vector_index::Found> {
    const K_ERR: &str = "vector index(search): third parameter (k) must be";
    // SAFETY: live argument (caller).
    let k = match unsafe { sqlite3_value_type(k) } {
        // SAFETY: live argument (caller).
        SQLITE_INTEGER => unsafe { sqlite3_value_int64(k) },
        SQLITE_FLOAT => {
            // SAFETY: live argument (caller).
            let f = unsafe { sqlite3_value_double(k) };
            if f.fract() != 0.0 || !(0.0..=f64::from(i32::MAX)).contains(&f.abs()) {
                return Err(format!("{K_ERR} an integer, but float value were provided").into());
            }
            f as i64
        }
        _ => return Err(format!("{K_ERR} an integer, but unexpected type of value were provided").into()),
    };
    if k < 0 {
        return Err(format!("{K_ERR} a non-negative integer, but negative value were provided").into());
    }
    // SAFETY: live argument (caller); TEXT or not, arg() reads it safely.
    let name = match unsafe { arg(name) } {
        edgelite_vector::sql::Arg::Text(t) => String::from_utf8_lossy(t).into_owned(),
        _ => return Err("vector index(search): first parameter (index) must be a string".into()),
    };
    // SAFETY: live argument (caller); the borrow ends with this call.
    let query = unsafe { arg(query) };
    // SAFETY: `db` is the live connection (caller).
    unsafe { vector_index::search(db, &name, query, usize::try_from(k).unwrap_or(usize::MAX)) }
}

unsafe extern "C" fn x_next(cursor: *mut sqlite3_vtab_cursor) -> c_int {
    vtab::guarded(|| {
        // SAFETY: a live cursor of this module.
        let cursor = unsafe { &mut *cursor.cast::<TopKCursor>() };
        cursor.pos += 1;
        SQLITE_OK
    })
}

unsafe extern "C" fn x_eof(cursor: *mut sqlite3_vtab_cursor) -> c_int {
    vtab::guarded(|| {
        // SAFETY: a live cursor of this module.
        let cursor = unsafe { &*cursor.cast::<TopKCursor>() };
        c_int::from(cursor.pos >= cursor.rows.len())
    })
}

unsafe extern "C" fn x_column(cursor: *mut sqlite3_vtab_cursor, ctx: *mut sqlite3_context, col: c_int) -> c_int {
    vtab::guarded(|| {
        // SAFETY: a live cursor of this module, positioned on a row (SQLite checks xEof first).
        let cursor = unsafe { &*cursor.cast::<TopKCursor>() };
        let Some(&(id, distance)) = cursor.rows.get(cursor.pos) else { return SQLITE_ERROR };
        match col {
            // SAFETY: `ctx` is the live result context of this xColumn call.
            COL_DISTANCE => unsafe { sqlite3_result_double(ctx, distance) },
            COL_ID | COL_IDX | COL_VECTOR | COL_K if cursor.keys.is_some() => {
                let key = cursor.keys.as_ref().and_then(|k| k.get(cursor.pos)).unwrap_or(&Key::Null);
                // SAFETY: `ctx` is the live result context of this xColumn call.
                unsafe { Context::new(ctx) }.key(key);
            }
            // SAFETY: as above. The hidden argument columns echo the id, as libSQL's do.
            COL_ID | COL_IDX | COL_VECTOR | COL_K => unsafe { sqlite3_result_int64(ctx, id) },
            // SAFETY: as above.
            _ => unsafe { sqlite3_result_null(ctx) },
        }
        SQLITE_OK
    })
}

unsafe extern "C" fn x_rowid(cursor: *mut sqlite3_vtab_cursor, rowid: *mut sqlite3_int64) -> c_int {
    vtab::guarded(|| {
        // SAFETY: a live cursor of this module.
        let cursor = unsafe { &*cursor.cast::<TopKCursor>() };
        let Some(&(id, _)) = cursor.rows.get(cursor.pos) else { return SQLITE_ERROR };
        // a keyed index's rows are numbered, as libSQL's are
        let id = if cursor.keys.is_some() { cursor.pos as i64 } else { id };
        // SAFETY: SQLite's out-pointer.
        unsafe { *rowid = id };
        SQLITE_OK
    })
}
