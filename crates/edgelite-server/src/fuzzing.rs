//! The bodies of the fuzz targets (`fuzz/fuzz_targets/hrana_request.rs`, `sync_push.rs`), here
//! so that they build with the crate: `tests/fuzz_seeds.rs` runs them over the seed corpus in
//! `fuzz/seeds/` with stable Rust, and `cargo +nightly fuzz run hrana_request` explores from it.
//!
//! Each body panics only when it finds a bug: a decoder that panics, a value that does not come
//! back as it was decoded, a response that cannot be written, or a push that leaves a database
//! that fails `PRAGMA quick_check`.

use std::path::PathBuf;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};

use edgelite::Connection;
use edgelite::hooks::{AuthContext, Authorization};
use serde::Deserialize;

use crate::exec::{self, Budget, Perm, SqlStore};
use crate::namespace::{Namespace, Session};
use crate::proto::{Batch, Stmt, StreamRequest, StreamResponse, Value};
use crate::wal::FRAME_SIZE;

/// `POST /v2/pipeline`'s body.
#[derive(Deserialize)]
struct Pipeline {
    requests: Vec<StreamRequest>,
}

/// `POST /v3/cursor`'s body.
#[derive(Deserialize)]
struct Cursor {
    batch: Batch,
}

/// A WebSocket message's request, as far as the shared types go.
#[derive(Deserialize)]
struct WsMessage {
    request: StreamRequest,
}

/// The statements the decoded requests run, instead of the SQL they carry: the target is the
/// decoder and the request layer (binding, stored SQL, batch conditions, transactions, the
/// response budget), not SQLite's parser, and arbitrary SQL would spend the run in slow queries.
const SQLS: [&str; 14] = [
    "SELECT ?1, ?2, :a, @b, $c",
    "INSERT INTO t VALUES (?1)",
    "SELECT x, typeof(x) FROM t",
    "BEGIN",
    "BEGIN TRANSACTION READONLY",
    "COMMIT",
    "ROLLBACK",
    "SAVEPOINT s",
    "RELEASE s",
    "SELEC 1",
    "SELECT 1; SELECT 2",
    "",
    "INSERT INTO t VALUES (?1); SELECT 1",
    "SELECT fts3_tokenizer('simple')",
];

fn pick(sql: &str) -> String {
    let h = sql.bytes().fold(sql.len(), |h, b| h.wrapping_mul(31).wrapping_add(usize::from(b)));
    SQLS[h % SQLS.len()].to_owned()
}

fn substitute_stmt(s: &mut Stmt) {
    if let Some(sql) = &s.sql {
        s.sql = Some(pick(sql));
    }
}

fn substitute(req: &mut StreamRequest) {
    match req {
        StreamRequest::Execute { stmt } => substitute_stmt(stmt),
        StreamRequest::Batch { batch } => batch.steps.iter_mut().for_each(|s| substitute_stmt(&mut s.stmt)),
        StreamRequest::Sequence { sql, .. } | StreamRequest::Describe { sql, .. } => {
            if let Some(s) = sql {
                *s = pick(s);
            }
        }
        StreamRequest::StoreSql { sql, .. } => *sql = pick(sql),
        StreamRequest::Close {} | StreamRequest::CloseSql { .. } | StreamRequest::GetAutocommit {} => {}
    }
}

/// A decoded value must encode and decode to itself, floats bit for bit.
fn check_value(v: &Value) {
    let text = serde_json::to_string(v).expect("a decoded value encodes");
    let back: Value = serde_json::from_str(&text).expect("an encoded value decodes");
    let same = match (v, &back) {
        (Value::Float(a), Value::Float(b)) => a.to_bits() == b.to_bits(),
        _ => *v == back,
    };
    assert!(same, "{v:?} came back as {back:?} through {text}");
}

fn check_stmt(s: &Stmt) {
    s.args.iter().for_each(check_value);
    s.named_args.iter().for_each(|a| check_value(&a.value));
}

fn check_request(req: &StreamRequest) {
    match req {
        StreamRequest::Execute { stmt } => check_stmt(stmt),
        StreamRequest::Batch { batch } => batch.steps.iter().for_each(|s| check_stmt(&s.stmt)),
        _ => {}
    }
}

/// A fresh in-memory connection set up as the server sets up client connections.
fn client_conn() -> Connection {
    let conn = Connection::open_in_memory().expect("in-memory database");
    exec::harden(&conn).expect("harden");
    conn.authorizer(Some(
        |ctx: AuthContext<'_>| {
            if exec::sandbox_refuses(&ctx) { Authorization::Deny } else { Authorization::Allow }
        },
    ));
    conn.execute_batch("CREATE TABLE t(x)").expect("setup");
    conn
}

fn run_all(requests: Vec<StreamRequest>, perm: Perm) {
    let conn = client_conn();
    let mut sqls = SqlStore::new();
    let mut budget = Budget::default();
    for mut req in requests {
        check_request(&req);
        substitute(&mut req);
        if let Ok(resp) = exec::run_request(&conn, &mut sqls, perm, req, &mut budget) {
            check_response(&resp);
        }
    }
}

fn check_response(resp: &StreamResponse) {
    let text = serde_json::to_string(resp).expect("a response encodes");
    let _: serde_json::Value = serde_json::from_str(&text).expect("a response is valid JSON");
}

/// The Hrana request decoder: `data` as a pipeline body, a cursor body, a WebSocket request
/// and a single value; whatever decodes is checked and run.
pub fn hrana_request(data: &[u8]) {
    if let Ok(p) = serde_json::from_slice::<Pipeline>(data) {
        // read-only first: the authorizer must refuse writes, whatever the requests say
        run_all(p.requests.clone(), Perm::ReadOnly);
        run_all(p.requests, Perm::ReadWrite);
    }
    if let Ok(c) = serde_json::from_slice::<Cursor>(data) {
        c.batch.steps.iter().for_each(|s| check_stmt(&s.stmt));
        run_all(vec![StreamRequest::Batch { batch: c.batch }], Perm::ReadWrite);
    }
    if let Ok(m) = serde_json::from_slice::<WsMessage>(data) {
        run_all(vec![m.request], Perm::ReadWrite);
    }
    if let Ok(v) = serde_json::from_slice::<Value>(data) {
        check_value(&v);
    }
}

/// A server in a temporary directory, started once per process for the push target.
struct PushFixture {
    /// Runs the server's tasks (its listener); the target calls the namespace directly.
    _runtime: tokio::runtime::Runtime,
    running: crate::Running,
    root: PathBuf,
    next: AtomicU64,
}

static FIXTURE: OnceLock<PushFixture> = OnceLock::new();

fn fixture() -> &'static PushFixture {
    FIXTURE.get_or_init(|| {
        let root = std::env::temp_dir().join(format!("edgelite-fuzz-push-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("a runtime for the fuzz server");
        let mut config = crate::Config::new(root.clone(), "127.0.0.1:0".into());
        config.checkpoint_frames = u32::MAX;
        let running = runtime.block_on(crate::start(config)).expect("the fuzz server starts");
        PushFixture { _runtime: runtime, running, root, next: AtomicU64::new(0) }
    })
}

/// What every push namespace holds before the push: one table, one row.
const BASE_SQL: &str = "CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT); INSERT INTO t(v) VALUES ('server')";

/// A fresh namespace holding [`BASE_SQL`], with its name and directory.
fn fresh_namespace() -> (String, std::sync::Arc<Namespace>, PathBuf) {
    let f = fixture();
    let name = format!("fz{}", f.next.fetch_add(1, Ordering::Relaxed));
    f.running.state.namespaces.create(&name, None).expect("create a namespace");
    let ns = f.running.state.namespaces.get(&name).expect("open the new namespace");
    let mut session = Session::new(std::sync::Arc::clone(&ns));
    session
        .run(
            Perm::ReadWrite,
            StreamRequest::Sequence { sql: Some(BASE_SQL.into()), sql_id: None },
            &mut Budget::default(),
        )
        .expect("base content");
    drop(session);
    (name.clone(), ns, f.root.join("dbs").join(name))
}

fn query(ns: &std::sync::Arc<Namespace>, sql: &str) -> Result<Vec<Vec<Value>>, crate::proto::Error> {
    let mut session = Session::new(std::sync::Arc::clone(ns));
    let stmt = Stmt { sql: Some(sql.into()), sql_id: None, args: vec![], named_args: vec![], want_rows: None };
    match session.run(Perm::ReadOnly, StreamRequest::Execute { stmt }, &mut Budget::default())? {
        StreamResponse::Execute { result } => Ok(result.rows),
        other => panic!("execute answered {other:?}"),
    }
}

/// The sync push path: `data[0]` picks how the push is addressed, the rest is the body (WAL
/// frames of 4,120 bytes). The push goes to a fresh namespace holding [`BASE_SQL`], continuing
/// its WAL. Whatever the push answers, the database must pass `PRAGMA quick_check` and its
/// tables must read without `SQLITE_CORRUPT`; a refused push must change nothing. Returns
/// whether the push was applied (`ok` with frames added).
pub fn sync_push(data: &[u8]) -> bool {
    let Some((&control, body)) = data.split_first() else { return false };
    let (name, ns, _) = fresh_namespace();
    let (g, n) = ns.position().expect("position");
    let frames = u32::try_from(body.len() / FRAME_SIZE).unwrap_or(u32::MAX);
    // bit 0: a start one before or after the server's end; bit 1: an end that does not match
    // the body; bits 2-3: another generation
    let start = match control & 1 {
        0 => n + 1,
        _ => n.max(1),
    };
    let end = if control & 2 == 0 { start.saturating_add(frames) } else { start.saturating_add(frames / 2 + 1) };
    let g = if control & 12 == 0 { g } else { g.wrapping_add(u32::from((control >> 2) & 3)) };
    let answer = ns.push(g, start, end, None, body);
    let (_, after) = ns.position().expect("position after the push");
    match &answer {
        Ok(a) if a.status == "ok" => {}
        _ => assert_eq!(after, n, "a refused push changed the WAL: {answer:?}"),
    }
    let check = query(&ns, "PRAGMA quick_check").expect("quick_check runs");
    assert_eq!(check, vec![vec![Value::Text("ok".into())]], "after a push answered {answer:?}");
    let tables = query(&ns, "SELECT name FROM sqlite_schema WHERE type = 'table'").expect("the schema reads");
    for t in tables {
        let Some(Value::Text(t)) = t.first() else { continue };
        if let Err(e) = query(&ns, &format!("SELECT * FROM \"{}\"", t.replace('"', "\"\""))) {
            assert!(!matches!(e.code.as_str(), "SQLITE_CORRUPT" | "SQLITE_NOTADB"), "table {t}: {e:?}");
        }
    }
    drop(ns);
    fixture().running.state.namespaces.delete(&name).expect("delete the namespace");
    after > n
}

/// A valid push for [`sync_push`]: the frames an embedded replica of a namespace holding
/// [`BASE_SQL`] writes for `INSERT INTO t(v) VALUES ('offline')`, after a zero control byte.
/// (The seed test runs it; `fuzz/seeds/sync_push/` holds a copy for cargo-fuzz.)
#[must_use]
pub fn push_seed() -> Vec<u8> {
    let (name, ns, dir) = fresh_namespace();
    let (_, n) = ns.position().expect("position");
    let local = fixture().root.join(format!("{name}-replica"));
    std::fs::create_dir_all(&local).expect("replica dir");
    std::fs::copy(dir.join("data"), local.join("local.db")).expect("copy the database");
    std::fs::copy(dir.join("data-wal"), local.join("local.db-wal")).expect("copy the WAL");
    // Read while the connection is open: closing the last one checkpoints and deletes the WAL.
    let conn = Connection::open(local.join("local.db")).expect("open the replica");
    conn.execute_batch("PRAGMA wal_autocheckpoint=0; INSERT INTO t(v) VALUES ('offline')").expect("replica write");
    let wal = std::fs::read(local.join("local.db-wal")).expect("read the replica WAL");
    drop(conn);
    let from = 32 + n as usize * FRAME_SIZE;
    let mut seed = vec![0];
    seed.extend_from_slice(&wal[from..]);
    let _ = std::fs::remove_dir_all(&local);
    drop(ns);
    fixture().running.state.namespaces.delete(&name).expect("delete the namespace");
    seed
}

/// Removes the push fixture's temporary directory (the server keeps running: it lives as long
/// as the process). For tests, at their end.
pub fn remove_push_fixture_files() {
    if let Some(f) = FIXTURE.get() {
        let _ = std::fs::remove_dir_all(&f.root);
    }
}
