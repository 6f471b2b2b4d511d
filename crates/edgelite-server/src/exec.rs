//! Running Hrana requests on an `edgelite::Connection` (blocking code: call from a blocking
//! thread).

use std::collections::HashMap;
use std::time::Instant;

use edgelite::config::{DbConfig, Limit};
use edgelite::ffi;
use edgelite::hooks::AuthContext;
use edgelite::types::{Value as SqlValue, ValueRef};
use edgelite::{Connection, Statement};

use crate::proto::{
    Batch, BatchCond, BatchResult, Col, CursorEntry, DescribeParam, DescribeResult, Error, Stmt, StmtResult,
    StreamRequest, StreamResponse, Value,
};

/// Rows and values above this many bytes in one response give `RESPONSE_TOO_LARGE` rather than
/// an unbounded allocation.
const MAX_RESPONSE_BYTES: usize = 32 << 20;

/// Virtual table modules a client may not instantiate (`CREATE VIRTUAL TABLE x USING m`), so
/// that no alias reaches them. See SECURITY.md for why each is here.
const REFUSED_MODULES: [&str; 6] = [
    // raw pages of the database file: a write corrupts the namespace for every replica
    "sqlite_dbpage",
    // the connection's own prepared statements and their bytecode, with heap addresses (the
    // last two are also removed from the connection, DROPPED_MODULES; refusing them here too
    // keeps the authorizer's answer, SQLITE_AUTH, for an alias)
    "sqlite_stmt",
    "bytecode",
    "tables_used",
    // files of the server (the shell's extensions: not linked into the server today, refused
    // so that a build that links them stays closed)
    "fsdir",
    "zipfile",
];

/// Eponymous virtual tables a client may not use even by their own name. Names starting with
/// `sqlite_` are reserved, so no table of a client's can be called this: the name check is
/// exact, and the module check above covers every alias.
const REFUSED_EPONYMOUS: [&str; 2] = ["sqlite_dbpage", "sqlite_stmt"];

/// Built-in modules removed from client connections: their eponymous tables
/// (`SELECT * FROM bytecode('...')`) showed a connection's programs, heap addresses included,
/// to any token (a server reviewer's finding: SECURITY.md said they were refused, but only
/// `CREATE VIRTUAL TABLE ... USING` them was).
const DROPPED_MODULES: [&str; 2] = ["bytecode", "tables_used"];

/// SQL functions a client may not call.
const REFUSED_FUNCTIONS: [&str; 9] = [
    // one argument: the address of a tokenizer inside the executable; two: installs any blob as
    // a pointer to a tokenizer module, which FTS3 then calls (code execution)
    "fts3_tokenizer",
    // native code from a file (also off through SQLITE_DBCONFIG_ENABLE_LOAD_EXTENSION)
    "load_extension",
    // changes the connection's vector node cache bound: the server's memory, not the tenant's
    "edgelite_vector_cache_limit",
    // sets the vector node cache budget of the whole server process (--max-vector-cache-memory)
    "edgelite_vector_cache_process_limit",
    // sets how many threads the connection's vector index builds use: the server's cores, which
    // the fair scheduler shares between tenants one statement at a time (harden sets it to 1)
    "edgelite_vector_build_threads",
    // sets how much memory the connection's vector index builds hold: the server's memory
    // (harden sets it to the node cache's 256 MiB)
    "edgelite_vector_build_limit",
    // the shell's file functions (not linked into the server; see fsdir above)
    "readfile",
    "writefile",
    "edit",
];

/// Turns on the core's own protections on a connection that runs client SQL:
/// `SQLITE_DBCONFIG_DEFENSIVE` (no writes to shadow tables, `sqlite_dbpage` or the schema by
/// hand) and turns off `fts3_tokenizer()`'s two-argument form and extension loading. The core is
/// built as Debian's library, where the tokenizer form is on; the drop-in library keeps that,
/// the server does not.
///
/// # Errors
///
/// The error SQLite returns setting an option.
pub fn harden(conn: &Connection) -> edgelite::Result<()> {
    conn.set_db_config(DbConfig::Defensive, true)?;
    conn.set_db_config(DbConfig::EnableFts3Tokenizer, false)?;
    conn.set_db_config(DbConfig::EnableLoadExtension, false)?;
    conn.set_limit(Limit::Length, MAX_VALUE_BYTES);
    // the connection's own statements and programs, with heap addresses in them: refused as
    // modules (REFUSED_MODULES), and removed so that their eponymous tables are gone too (an
    // authorizer sees only a table's name, and a client's own table may be called `bytecode`)
    for module in DROPPED_MODULES {
        conn.drop_module(module)?;
    }
    // a CREATE INDEX on a vector column builds on one thread: every core would take the other
    // tenants' turns from under the scheduler, which shares out one statement at a time
    let _previous: i64 = conn.query_row("SELECT edgelite_vector_build_threads(1)", [], |r| r.get(0))?;
    // and holds at most 256 MiB of blocks (past that it carries on with a cache of them)
    let _previous: i64 = conn.query_row("SELECT edgelite_vector_build_limit(268435456)", [], |r| r.get(0))?;
    // Fair scheduling (crate::limits::Scheduler): a long statement gives its turn up when its
    // time slice is over and another request waits, and a statement waiting on a lock waits
    // without a turn (this replaces the busy timeout, with the same 5 s).
    conn.progress_handler(
        PROGRESS_OPS,
        Some(|| {
            crate::limits::yield_point();
            false
        }),
    );
    conn.busy_handler(Some(crate::limits::busy_wait))?;
    Ok(())
}

/// SQLite instructions between two yield points (a few microseconds). 1,000 let a statement
/// whose rows each call `randomblob(50000000)` (a tenth of a second) run for a minute between
/// two of them; at 100 the yield point costs nothing measurable (by hand, over HTTP: a
/// recursive CTE of 2 million rows and a scan of a million, median of 7 runs each), at 10 it
/// costs 5-7%. A step
/// that runs longer still has its slot lent meanwhile (`limits::Scheduler::lend_stalled`).
const PROGRESS_OPS: i32 = 100;

/// The largest string, blob or row a client's SQL may make (`SQLITE_LIMIT_LENGTH`, 1 GB by
/// default): `randomblob(1e9)` would otherwise take a gigabyte per statement, and the server's
/// memory is every tenant's. Twice the response limit: a larger value could never be sent.
pub const MAX_VALUE_BYTES: i32 = 64 << 20;

/// The most page cache a client may ask for, per connection and schema, through
/// `PRAGMA cache_size` or `PRAGMA cache_spill` (SQLite's default is 2 MiB; applications that
/// tune it ask for 8-64 MiB). A larger cache is the server's memory: a sort on one connection
/// with `cache_size = -100000000` held 565 MB.
pub const MAX_CACHE_BYTES: i64 = 64 << 20;

/// Whether setting pragma `name` (lowercase) to `value` would let a client take memory or
/// threads without bound, so the authorizer refuses it. Values are allowed from a list, never
/// refused from one: SQLite reads numbers leniently (`' 8'` is 8, `'0x0'` and `'0.5'` turn
/// spilling off, `'100000abc'` is 100000), so anything but a plain decimal integer (or, for
/// `cache_spill`, ON/YES/TRUE) is refused.
/// - `temp_store = MEMORY` (or `2`): temporary tables, indexes and every ephemeral table of a
///   statement (`DISTINCT`, `IN (SELECT ...)`, materialized views and CTEs) would live in the
///   heap, with no size limit (one request filled 5.3 GB); on files (the default) they are
///   paged through a small cache;
/// - `cache_size` past [`MAX_CACHE_BYTES`] (a count of pages, or of KiB when negative);
/// - `cache_spill` turned off, or set past [`MAX_CACHE_BYTES`]: a transaction's changed
///   pages would all stay in memory until it commits;
/// - `default_cache_size`, in any way (deprecated; it also writes the size into the database
///   file, for every later connection);
/// - `page_size` other than 4096, the server's: pages of 64 KiB for the temporary database
///   would make every page count above sixteen times larger;
/// - `threads` above 0: a sort would start helper threads, which the scheduler's turns do
///   not count (the pragma sets `SQLITE_LIMIT_WORKER_THREADS` itself, so the limit cannot
///   stand in for the refusal).
///
/// Reading any of them, and the values within bounds, stay allowed.
#[must_use]
pub fn pragma_value_refused(name: &str, value: &str) -> bool {
    // a plain decimal integer (Rust's parse takes no spaces, hex or trailing text)
    let int = |v: &str| v.parse::<i64>().ok();
    // bytes of 4096-byte pages, or of KiB when negative
    let cache_bytes = |n: i64| if n < 0 { n.saturating_neg().saturating_mul(1024) } else { n.saturating_mul(4096) };
    match name {
        // SQLite reads the first character as a digit, or the words FILE, MEMORY, DEFAULT
        "temp_store" => value.starts_with('2') || value.eq_ignore_ascii_case("memory"),
        "cache_size" => int(value).is_none_or(|n| cache_bytes(n) > MAX_CACHE_BYTES),
        "cache_spill" => {
            let on = ["on", "yes", "true"].iter().any(|w| value.eq_ignore_ascii_case(w));
            !on && int(value).is_none_or(|n| n == 0 || cache_bytes(n) > MAX_CACHE_BYTES)
        }
        "default_cache_size" => true,
        "page_size" => int(value) != Some(4096),
        "threads" => int(value).is_none_or(|n| n > 0),
        _ => false,
    }
}

/// Whether the client authorizer must refuse an action regardless of the token: a refused
/// module (by module name, whatever the table is called), a refused eponymous table, or a
/// refused function.
#[must_use]
pub fn sandbox_refuses(ctx: &AuthContext<'_>) -> bool {
    let is_in =
        |name: Option<&str>, list: &[&str]| name.is_some_and(|n| list.iter().any(|m| m.eq_ignore_ascii_case(n)));
    match ctx.action {
        // arg1 is the new table's name, arg2 the module's
        ffi::SQLITE_CREATE_VTABLE => is_in(ctx.arg2, &REFUSED_MODULES),
        // a table with no column used is still authorized, with an empty column name
        ffi::SQLITE_READ | ffi::SQLITE_INSERT | ffi::SQLITE_UPDATE | ffi::SQLITE_DELETE => {
            is_in(ctx.arg1, &REFUSED_EPONYMOUS)
        }
        // arg1 is unused, arg2 the function's name
        ffi::SQLITE_FUNCTION => is_in(ctx.arg2, &REFUSED_FUNCTIONS),
        _ => false,
    }
}

/// What one response may still hold: shared by every statement of a batch and every request
/// of a pipeline, so that many small requests cannot add up to an unbounded response.
#[derive(Debug)]
pub struct Budget {
    left: usize,
}

impl Default for Budget {
    fn default() -> Budget {
        Budget { left: MAX_RESPONSE_BYTES }
    }
}

impl Budget {
    /// A budget of `bytes`.
    #[must_use]
    pub fn new(bytes: usize) -> Budget {
        Budget { left: bytes }
    }

    /// Takes `n` bytes from the budget.
    ///
    /// # Errors
    ///
    /// `RESPONSE_TOO_LARGE` once the budget is spent.
    pub fn charge(&mut self, n: usize) -> Result<(), Error> {
        self.left = self
            .left
            .checked_sub(n)
            .ok_or_else(|| Error::new("RESPONSE_TOO_LARGE", "the result is larger than the server's limit"))?;
        Ok(())
    }
}

/// What the caller may do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Perm {
    /// Only statements that do not write.
    ReadOnly,
    /// Everything.
    ReadWrite,
}

/// SQL texts stored with `store_sql` (per stream over HTTP, per connection over WS).
pub type SqlStore = HashMap<i32, String>;

/// Runs one stream request other than `close` (which the transports handle).
pub fn run_request(
    conn: &Connection,
    sqls: &mut SqlStore,
    perm: Perm,
    req: StreamRequest,
    budget: &mut Budget,
) -> Result<StreamResponse, Error> {
    // Between the requests of a pipeline, a request that has had its time slice lets others in.
    crate::limits::yield_point();
    match req {
        StreamRequest::Close {} => Ok(StreamResponse::Close {}),
        StreamRequest::Execute { stmt } => {
            Ok(StreamResponse::Execute { result: execute(conn, sqls, perm, &stmt, budget)? })
        }
        StreamRequest::Batch { batch } => {
            Ok(StreamResponse::Batch { result: batch_run(conn, sqls, perm, &batch, budget)? })
        }
        StreamRequest::Sequence { sql, sql_id } => {
            let sql = resolve_sql(sqls, sql.as_deref(), sql_id)?;
            sequence(conn, perm, &sql)?;
            Ok(StreamResponse::Sequence {})
        }
        StreamRequest::Describe { sql, sql_id } => {
            let sql = resolve_sql(sqls, sql.as_deref(), sql_id)?;
            Ok(StreamResponse::Describe { result: describe(conn, &sql, budget)? })
        }
        StreamRequest::StoreSql { sql_id, sql } => {
            store_sql(sqls, sql_id, sql)?;
            Ok(StreamResponse::StoreSql {})
        }
        StreamRequest::CloseSql { sql_id } => {
            sqls.remove(&sql_id);
            Ok(StreamResponse::CloseSql {})
        }
        StreamRequest::GetAutocommit {} => Ok(StreamResponse::GetAutocommit { is_autocommit: conn.is_autocommit() }),
    }
}

/// SQL texts one stream (HTTP) or socket (WS) may store.
const MAX_STORED_SQLS: usize = 1024;
/// Bytes of SQL text one stream or socket may store, all together.
const MAX_STORED_SQL_BYTES: usize = 8 << 20;

/// `store_sql`: an id stored twice is an error, and the store is bounded (it lives as long as
/// the stream or socket, and every request may add to it).
///
/// # Errors
///
/// `SQL_STORE_ERROR` for a known id or a full store.
pub fn store_sql(sqls: &mut SqlStore, sql_id: i32, sql: String) -> Result<(), Error> {
    if sqls.contains_key(&sql_id) {
        return Err(Error::new("SQL_STORE_ERROR", format!("SQL text {sql_id} is already stored")));
    }
    let bytes: usize = sqls.values().map(String::len).sum();
    if sqls.len() >= MAX_STORED_SQLS || bytes.saturating_add(sql.len()) > MAX_STORED_SQL_BYTES {
        return Err(Error::new(
            "SQL_STORE_ERROR",
            format!("at most {MAX_STORED_SQLS} SQL texts of {MAX_STORED_SQL_BYTES} bytes in all may be stored"),
        ));
    }
    sqls.insert(sql_id, sql);
    Ok(())
}

/// The SQL of a request: exactly one of `sql` and `sql_id`.
pub fn resolve_sql(sqls: &SqlStore, sql: Option<&str>, sql_id: Option<i32>) -> Result<String, Error> {
    match (sql, sql_id) {
        (Some(s), None) => Ok(s.to_owned()),
        (None, Some(id)) => {
            sqls.get(&id).cloned().ok_or_else(|| Error::new("SQL_NOT_FOUND", format!("SQL text {id} is not stored")))
        }
        (Some(_), Some(_)) => Err(Error::new("SQL_INPUT_ERROR", "both sql and sql_id were given")),
        (None, None) => Err(Error::new("SQL_INPUT_ERROR", "neither sql nor sql_id was given")),
    }
}

/// libSQL's parser accepts `BEGIN TRANSACTION READONLY` (the npm client sends it for
/// `batch(…, "read")`); SQLite does not. A deferred transaction whose statements are all
/// reads behaves the same, so the text is rewritten.
fn rewrite_libsql_dialect(sql: &str) -> Option<&'static str> {
    // runs for every statement: looks at four words at most and allocates nothing
    let mut words = sql.trim().trim_end_matches(';').split_whitespace();
    let is = |w: Option<&str>, want: &str| w.is_some_and(|w| w.eq_ignore_ascii_case(want));
    if !is(words.next(), "BEGIN") {
        return None;
    }
    let (a, b, c) = (words.next(), words.next(), words.next());
    let readonly = (is(a, "TRANSACTION") && is(b, "READONLY") && c.is_none()) || (is(a, "READONLY") && b.is_none());
    readonly.then_some("BEGIN DEFERRED")
}

/// Maps an edgelite error to a Hrana error.
pub fn sql_error(e: &edgelite::Error) -> Error {
    match e {
        edgelite::Error::MultipleStatement => {
            Error::new("SQL_MANY_STATEMENTS", "SQL text holds more than one statement")
        }
        edgelite::Error::InvalidQuery => Error::new("SQL_NO_STATEMENT", "SQL text holds no statement"),
        edgelite::Error::SqliteFailure { error, message, .. } => {
            let mut msg = message.clone().unwrap_or_else(|| error.to_string());
            if error.code == edgelite::ErrorCode::DiskFull {
                msg.push_str(
                    ": the namespace's database reached its size quota (its max_db_size or --max-db-size), or the server's disk is full",
                );
            }
            Error::new(&code_name(error.extended_code), msg)
        }
        edgelite::Error::InvalidParameterName(n) => Error::new("ARGS_INVALID", format!("no parameter named {n}")),
        edgelite::Error::InvalidParameterCount { expected, given } => {
            Error::new("ARGS_INVALID", format!("{given} arguments given, {expected} expected"))
        }
        other => Error::new("SQL_INPUT_ERROR", other.to_string()),
    }
}

/// `SQLITE_<NAME>` for an extended result code (falling back to the primary code's name).
fn code_name(extended: i32) -> String {
    let ext = match extended {
        275 => Some("SQLITE_CONSTRAINT_CHECK"),
        531 => Some("SQLITE_CONSTRAINT_COMMITHOOK"),
        787 => Some("SQLITE_CONSTRAINT_FOREIGNKEY"),
        1043 => Some("SQLITE_CONSTRAINT_FUNCTION"),
        1299 => Some("SQLITE_CONSTRAINT_NOTNULL"),
        1555 => Some("SQLITE_CONSTRAINT_PRIMARYKEY"),
        1811 => Some("SQLITE_CONSTRAINT_TRIGGER"),
        2067 => Some("SQLITE_CONSTRAINT_UNIQUE"),
        2323 => Some("SQLITE_CONSTRAINT_VTAB"),
        2579 => Some("SQLITE_CONSTRAINT_ROWID"),
        2835 => Some("SQLITE_CONSTRAINT_PINNED"),
        3091 => Some("SQLITE_CONSTRAINT_DATATYPE"),
        261 => Some("SQLITE_BUSY_RECOVERY"),
        517 => Some("SQLITE_BUSY_SNAPSHOT"),
        773 => Some("SQLITE_BUSY_TIMEOUT"),
        _ => None,
    };
    if let Some(name) = ext {
        return name.to_owned();
    }
    let primary = match extended & 0xff {
        1 => "ERROR",
        2 => "INTERNAL",
        3 => "PERM",
        4 => "ABORT",
        5 => "BUSY",
        6 => "LOCKED",
        7 => "NOMEM",
        8 => "READONLY",
        9 => "INTERRUPT",
        10 => "IOERR",
        11 => "CORRUPT",
        12 => "NOTFOUND",
        13 => "FULL",
        14 => "CANTOPEN",
        15 => "PROTOCOL",
        16 => "EMPTY",
        17 => "SCHEMA",
        18 => "TOOBIG",
        19 => "CONSTRAINT",
        20 => "MISMATCH",
        21 => "MISUSE",
        22 => "NOLFS",
        23 => "AUTH",
        24 => "FORMAT",
        25 => "RANGE",
        26 => "NOTADB",
        _ => "ERROR",
    };
    format!("SQLITE_{primary}")
}

fn prepare<'c>(conn: &'c Connection, sql: &str) -> Result<Statement<'c>, Error> {
    let sql = rewrite_libsql_dialect(sql).unwrap_or(sql);
    conn.prepare(sql).map_err(|e| sql_error(&e))
}

fn to_sql(v: &Value) -> SqlValue {
    match v {
        Value::Null => SqlValue::Null,
        Value::Integer(i) => SqlValue::Integer(*i),
        Value::Float(f) => SqlValue::Real(*f),
        Value::Text(t) => SqlValue::Text(t.clone()),
        Value::Blob(b) => SqlValue::Blob(b.clone()),
    }
}

fn from_sql(v: ValueRef<'_>) -> Value {
    match v {
        ValueRef::Null => Value::Null,
        ValueRef::Integer(i) => Value::Integer(i),
        ValueRef::Real(f) => Value::Float(f),
        ValueRef::Text(t) => Value::Text(String::from_utf8_lossy(t).into_owned()),
        ValueRef::Blob(b) => Value::Blob(b.to_vec()),
    }
}

fn value_size(v: &Value) -> usize {
    match v {
        Value::Text(t) => t.len() + 16,
        Value::Blob(b) => b.len() * 4 / 3 + 16,
        _ => 16,
    }
}

fn bind(stmt: &mut Statement<'_>, s: &Stmt) -> Result<(), Error> {
    let count = stmt.parameter_count();
    if s.args.len() > count {
        return Err(Error::new(
            "ARGS_INVALID",
            format!("{} positional arguments given, the statement has {count} parameters", s.args.len()),
        ));
    }
    for (i, v) in s.args.iter().enumerate() {
        stmt.raw_bind_parameter(i + 1, &to_sql(v)).map_err(|e| sql_error(&e))?;
    }
    for arg in &s.named_args {
        let index = if arg.name.starts_with([':', '@', '$', '?']) {
            stmt.parameter_index(&arg.name).ok().flatten()
        } else {
            [":", "@", "$"].iter().find_map(|p| stmt.parameter_index(&format!("{p}{}", arg.name)).ok().flatten())
        };
        let index = index.ok_or_else(|| Error::new("ARGS_INVALID", format!("no parameter named {:?}", arg.name)))?;
        stmt.raw_bind_parameter(index, &to_sql(&arg.value)).map_err(|e| sql_error(&e))?;
    }
    Ok(())
}

/// The columns of a statement, each charged (`charge`, with its JSON around it) before it is
/// copied: a statement with thousands of long column names fails within the budget instead of
/// first building a list of them larger than the budget.
fn cols(stmt: &Statement<'_>, charge: &mut dyn FnMut(usize) -> Result<(), Error>) -> Result<Vec<Col>, Error> {
    let n = stmt.column_count();
    let mut cols = Vec::new();
    for i in 0..n {
        let name = stmt.column_name(i).ok();
        let decltype = stmt.column_decltype(i);
        // {"name":"…","decltype":"…"} (escapes aside), and the comma between columns.
        charge(name.map_or(4, str::len) + decltype.map_or(4, str::len) + 26)?;
        if i == 0 {
            cols.reserve_exact(n);
        }
        cols.push(Col { name: name.map(str::to_owned), decltype: decltype.map(str::to_owned) });
    }
    Ok(cols)
}

fn check_perm(stmt: &Statement<'_>, perm: Perm) -> Result<(), Error> {
    if perm == Perm::ReadOnly && !stmt.readonly() {
        return Err(Error::new("SQLITE_AUTH", "this token is read-only: the statement would write"));
    }
    Ok(())
}

/// Runs a statement, calling `on_row` for each row (when rows are wanted). Returns the columns,
/// affected row count and last insert rowid.
fn run_stmt(
    conn: &Connection,
    sqls: &SqlStore,
    perm: Perm,
    s: &Stmt,
    charge: &mut dyn FnMut(usize) -> Result<(), Error>,
    on_cols: &mut dyn FnMut(&[Col]),
    on_row: &mut dyn FnMut(Vec<Value>) -> Result<(), Error>,
) -> Result<(Vec<Col>, u64, i64), Error> {
    let sql = resolve_sql(sqls, s.sql.as_deref(), s.sql_id)?;
    let mut stmt = prepare(conn, &sql)?;
    check_perm(&stmt, perm)?;
    bind(&mut stmt, s)?;
    let columns = cols(&stmt, charge)?;
    on_cols(&columns);
    let want_rows = s.want_rows.unwrap_or(true);
    let readonly = stmt.readonly();
    let n = columns.len();
    {
        let mut rows = stmt.raw_query();
        while let Some(row) = rows.next().map_err(|e| sql_error(&e))? {
            if want_rows {
                let mut values = Vec::with_capacity(n);
                for i in 0..n {
                    values.push(from_sql(row.get_ref(i).map_err(|e| sql_error(&e))?));
                }
                on_row(values)?;
            }
        }
    }
    let affected = if readonly { 0 } else { conn.changes() };
    Ok((columns, affected, conn.last_insert_rowid()))
}

/// Runs one statement and collects its result.
pub fn execute(
    conn: &Connection,
    sqls: &SqlStore,
    perm: Perm,
    s: &Stmt,
    budget: &mut Budget,
) -> Result<StmtResult, Error> {
    let start = Instant::now();
    let mut rows = Vec::new();
    let budget = std::cell::RefCell::new(budget);
    let (cols, affected, rowid) =
        run_stmt(conn, sqls, perm, s, &mut |n| budget.borrow_mut().charge(n), &mut |_| {}, &mut |row| {
            budget.borrow_mut().charge(row.iter().map(value_size).sum::<usize>())?;
            rows.push(row);
            Ok(())
        })?;
    Ok(StmtResult {
        cols,
        rows,
        affected_row_count: affected,
        last_insert_rowid: Some(rowid.to_string()),
        replication_index: None,
        rows_read: 0,
        rows_written: affected,
        query_duration_ms: start.elapsed().as_secs_f64() * 1000.0,
    })
}

/// Evaluates a batch condition; steps at or after `current` are a protocol error.
fn eval_cond(conn: &Connection, cond: &BatchCond, current: usize, outcome: &[Option<bool>]) -> Result<bool, Error> {
    let step_ok = |step: u32| -> Result<Option<bool>, Error> {
        let i = step as usize;
        if i >= current {
            return Err(Error::new(
                "BATCH_COND_INVALID",
                format!("condition refers to step {step}, not before step {current}"),
            ));
        }
        Ok(outcome.get(i).copied().flatten())
    };
    Ok(match cond {
        BatchCond::Ok { step } => step_ok(*step)? == Some(true),
        BatchCond::Error { step } => step_ok(*step)? == Some(false),
        BatchCond::Not { cond } => !eval_cond(conn, cond, current, outcome)?,
        BatchCond::And { conds } => {
            let mut all = true;
            for c in conds {
                all &= eval_cond(conn, c, current, outcome)?;
            }
            all
        }
        BatchCond::Or { conds } => {
            let mut any = false;
            for c in conds {
                any |= eval_cond(conn, c, current, outcome)?;
            }
            any
        }
        BatchCond::IsAutocommit {} => conn.is_autocommit(),
    })
}

/// Runs a batch. A step error is reported in `step_errors`; a bad condition fails the request.
pub fn batch_run(
    conn: &Connection,
    sqls: &SqlStore,
    perm: Perm,
    batch: &Batch,
    budget: &mut Budget,
) -> Result<BatchResult, Error> {
    let n = batch.steps.len();
    let mut outcome: Vec<Option<bool>> = vec![None; n];
    let mut step_results = vec![None; n];
    let mut step_errors = vec![None; n];
    for (i, step) in batch.steps.iter().enumerate() {
        if let Some(cond) = &step.condition
            && !eval_cond(conn, cond, i, &outcome)?
        {
            continue;
        }
        match execute(conn, sqls, perm, &step.stmt, budget) {
            Ok(r) => {
                outcome[i] = Some(true);
                step_results[i] = Some(r);
            }
            Err(e) => {
                outcome[i] = Some(false);
                step_errors[i] = Some(e);
            }
        }
    }
    Ok(BatchResult { step_results, step_errors, replication_index: None })
}

/// Runs a batch as cursor entries (Hrana 3 `/v3/cursor` and WS `open_cursor`).
pub fn batch_cursor(conn: &Connection, sqls: &SqlStore, perm: Perm, batch: &Batch) -> Vec<CursorEntry> {
    let n = batch.steps.len();
    let mut outcome: Vec<Option<bool>> = vec![None; n];
    let mut entries = Vec::new();
    let mut size_so_far = 0usize;
    for (i, step) in batch.steps.iter().enumerate() {
        let step_no = u32::try_from(i).unwrap_or(u32::MAX);
        if let Some(cond) = &step.condition {
            match eval_cond(conn, cond, i, &outcome) {
                Ok(true) => {}
                Ok(false) => continue,
                Err(error) => {
                    entries.push(CursorEntry::Error { error });
                    return entries;
                }
            }
        }
        let mut begin_cols: Option<Vec<Col>> = None;
        let mut step_rows = Vec::new();
        let size = std::cell::Cell::new(size_so_far);
        let add = |n: usize| {
            size.set(size.get().saturating_add(n));
            if size.get() > MAX_RESPONSE_BYTES {
                return Err(Error::new("RESPONSE_TOO_LARGE", "the result is larger than the server's limit"));
            }
            Ok(())
        };
        let result = run_stmt(
            conn,
            sqls,
            perm,
            &step.stmt,
            &mut |n| add(n),
            &mut |cols| begin_cols = Some(cols.to_vec()),
            &mut |row| {
                add(row.iter().map(value_size).sum::<usize>())?;
                step_rows.push(CursorEntry::Row { row });
                Ok(())
            },
        );
        size_so_far = size.get();
        // A step that failed before it began reports only its error.
        if let Some(cols) = begin_cols {
            entries.push(CursorEntry::StepBegin { step: step_no, cols });
            entries.append(&mut step_rows);
        }
        match result {
            Ok((_, affected, rowid)) => {
                outcome[i] = Some(true);
                entries.push(CursorEntry::StepEnd {
                    affected_row_count: affected,
                    last_insert_rowid: Some(rowid.to_string()),
                });
            }
            Err(error) => {
                outcome[i] = Some(false);
                entries.push(CursorEntry::StepError { step: step_no, error });
            }
        }
    }
    entries
}

/// Runs `;`-separated statements, discarding rows.
pub fn sequence(conn: &Connection, perm: Perm, sql: &str) -> Result<(), Error> {
    if perm == Perm::ReadOnly {
        return Err(Error::new("SQLITE_AUTH", "this token is read-only: sequence is not allowed"));
    }
    conn.execute_batch(sql).map_err(|e| sql_error(&e))
}

/// Describes a statement without running it; its columns are charged to `budget`.
///
/// # Errors
///
/// The statement's preparation error, or `RESPONSE_TOO_LARGE`.
pub fn describe(conn: &Connection, sql: &str, budget: &mut Budget) -> Result<DescribeResult, Error> {
    let stmt = prepare(conn, sql)?;
    let params = (1..=stmt.parameter_count())
        .map(|i| DescribeParam { name: stmt.parameter_name(i).map(str::to_owned) })
        .collect();
    let cols = cols(&stmt, &mut |n| budget.charge(n))?;
    Ok(DescribeResult { params, cols, is_explain: stmt.is_explain(), is_readonly: stmt.readonly() })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_libsqls_readonly_begin_is_rewritten() {
        assert_eq!(rewrite_libsql_dialect("BEGIN TRANSACTION READONLY"), Some("BEGIN DEFERRED"));
        assert_eq!(rewrite_libsql_dialect(" begin readonly ; "), Some("BEGIN DEFERRED"));
        assert_eq!(rewrite_libsql_dialect("BEGIN"), None);
        assert_eq!(rewrite_libsql_dialect("BEGIN TRANSACTION READONLY x"), None);
        assert_eq!(rewrite_libsql_dialect("SELECT 'BEGIN READONLY'"), None);
    }
    use crate::proto::BatchStep;

    fn stmt(sql: &str, args: Vec<Value>) -> Stmt {
        Stmt { sql: Some(sql.to_owned()), sql_id: None, args, named_args: vec![], want_rows: None }
    }

    #[test]
    fn batch_with_conditions_rolls_back_on_error() {
        let conn = Connection::open_in_memory().expect("open");
        let sqls = SqlStore::new();
        conn.execute_batch("CREATE TABLE t(x INTEGER PRIMARY KEY)").expect("create");
        let steps = vec![
            BatchStep { condition: None, stmt: stmt("BEGIN IMMEDIATE", vec![]) },
            BatchStep { condition: Some(BatchCond::Ok { step: 0 }), stmt: stmt("INSERT INTO t VALUES (1)", vec![]) },
            BatchStep { condition: Some(BatchCond::Ok { step: 1 }), stmt: stmt("INSERT INTO t VALUES (1)", vec![]) },
            BatchStep { condition: Some(BatchCond::Ok { step: 2 }), stmt: stmt("COMMIT", vec![]) },
            BatchStep {
                condition: Some(BatchCond::Not { cond: Box::new(BatchCond::Ok { step: 3 }) }),
                stmt: stmt("ROLLBACK", vec![]),
            },
        ];
        let r = batch_run(&conn, &sqls, Perm::ReadWrite, &Batch { steps }, &mut Budget::default()).expect("batch");
        assert!(r.step_results[1].is_some());
        assert_eq!(r.step_errors[2].as_ref().map(|e| e.code.as_str()), Some("SQLITE_CONSTRAINT_PRIMARYKEY"));
        assert!(r.step_results[3].is_none() && r.step_errors[3].is_none());
        assert!(r.step_results[4].is_some());
        let n: i64 = conn.query_row("SELECT count(*) FROM t", [], |r| r.get(0)).expect("count");
        assert_eq!(n, 0);
        let bad = Batch {
            steps: vec![BatchStep { condition: Some(BatchCond::Ok { step: 0 }), stmt: stmt("SELECT 1", vec![]) }],
        };
        assert!(batch_run(&conn, &sqls, Perm::ReadWrite, &bad, &mut Budget::default()).is_err());
    }

    /// Each layer on its own: the connection options without the authorizer, and the
    /// authorizer's verdicts without the options.
    #[test]
    fn hardened_connections_refuse_pointer_tokenizers_and_page_writes() {
        let dir = tempfile::tempdir().expect("dir");
        let conn = Connection::open(dir.path().join("db")).expect("open");
        harden(&conn).expect("harden");
        let e = conn
            .query_row("SELECT fts3_tokenizer('x', X'4141414141414141')", [], |_| Ok(()))
            .expect_err("the two-argument form is off");
        assert!(e.to_string().contains("fts3tokenize disabled"), "{e}");
        conn.execute_batch("CREATE TABLE t(x); INSERT INTO t VALUES (1); CREATE VIRTUAL TABLE p USING sqlite_dbpage")
            .expect("setup");
        let e = conn.execute_batch("UPDATE p SET data = zeroblob(4096) WHERE pgno = 1").expect_err("DEFENSIVE");
        assert!(e.to_string().contains("read-only"), "{e}");
        conn.execute_batch("CREATE VIRTUAL TABLE f USING fts5(a); INSERT INTO f VALUES ('x')").expect("fts5");
        let e = conn.execute_batch("DELETE FROM f_data").expect_err("shadow tables are read-only");
        assert!(e.to_string().contains("may not be modified"), "{e}");
        let n: i64 = conn.query_row("SELECT count(*) FROM t", [], |r| r.get(0)).expect("still readable");
        assert_eq!(n, 1);
        let e = conn.query_row("SELECT length(randomblob(1000000000))", [], |_| Ok(())).expect_err("too big");
        assert_eq!(e.sqlite_error_code(), Some(edgelite::ErrorCode::TooBig), "{e}");
        let n: i64 = conn.query_row("SELECT length(zeroblob(64 << 20))", [], |r| r.get(0)).expect("at the limit");
        assert_eq!(n, 64 << 20);
    }

    #[test]
    fn the_sandbox_refuses_by_module_and_function() {
        let ctx = |action, arg1, arg2| AuthContext { action, arg1, arg2, database: Some("main"), accessor: None };
        assert!(sandbox_refuses(&ctx(ffi::SQLITE_CREATE_VTABLE, Some("innocent"), Some("sqlite_dbpage"))));
        assert!(sandbox_refuses(&ctx(ffi::SQLITE_CREATE_VTABLE, Some("s"), Some("SQLITE_STMT"))));
        assert!(!sandbox_refuses(&ctx(ffi::SQLITE_CREATE_VTABLE, Some("sqlite_dbpage_x"), Some("fts5"))));
        assert!(sandbox_refuses(&ctx(ffi::SQLITE_READ, Some("sqlite_dbpage"), Some(""))));
        assert!(sandbox_refuses(&ctx(ffi::SQLITE_UPDATE, Some("sqlite_dbpage"), Some("data"))));
        assert!(!sandbox_refuses(&ctx(ffi::SQLITE_READ, Some("t"), Some("x"))));
        assert!(sandbox_refuses(&ctx(ffi::SQLITE_FUNCTION, None, Some("fts3_tokenizer"))));
        assert!(sandbox_refuses(&ctx(ffi::SQLITE_FUNCTION, None, Some("Load_Extension"))));
        assert!(!sandbox_refuses(&ctx(ffi::SQLITE_FUNCTION, None, Some("vector_distance_cos"))));
        // Dropping a table that uses a refused module (one that came in a pushed file) is allowed.
        assert!(!sandbox_refuses(&ctx(ffi::SQLITE_DROP_VTABLE, Some("p"), Some("sqlite_dbpage"))));
    }

    /// Column names count against the budget, and are charged before they are copied.
    #[test]
    fn column_names_are_charged_to_the_budget() {
        let conn = Connection::open_in_memory().expect("open");
        let sqls = SqlStore::new();
        let names: Vec<String> = (0..200).map(|i| format!("1 AS \"{}{i:03}\"", "c".repeat(100))).collect();
        let sql = format!("SELECT {} WHERE 0", names.join(", "));
        // 200 names of 103 bytes: more than 20,000 bytes of columns, and no row.
        let e = execute(&conn, &sqls, Perm::ReadOnly, &stmt(&sql, vec![]), &mut Budget::new(10_000))
            .expect_err("the columns alone are over the budget");
        assert_eq!(e.code, "RESPONSE_TOO_LARGE");
        let e = describe(&conn, &sql, &mut Budget::new(10_000)).expect_err("describe too");
        assert_eq!(e.code, "RESPONSE_TOO_LARGE");
        let mut budget = Budget::new(40_000);
        let r = describe(&conn, &sql, &mut budget).expect("within the budget");
        assert_eq!(r.cols.len(), 200);
        assert!(budget.left < 40_000 - 200 * 103, "{}", budget.left);
    }

    #[test]
    fn read_only_permission_blocks_writes() {
        let conn = Connection::open_in_memory().expect("open");
        let sqls = SqlStore::new();
        let b = &mut Budget::default();
        assert!(execute(&conn, &sqls, Perm::ReadOnly, &stmt("CREATE TABLE t(x)", vec![]), b).is_err());
        let r =
            execute(&conn, &sqls, Perm::ReadOnly, &stmt("SELECT ?1 + 1", vec![Value::Integer(41)]), b).expect("select");
        assert_eq!(r.rows, vec![vec![Value::Integer(42)]]);
    }
}
