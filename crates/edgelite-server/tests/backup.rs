//! Continuous backup and point-in-time restore, against a real S3 server (moto's server mode,
//! installed by `.ci/run` into `tests/backup/.venv`) and against `file://`: writes under load
//! with their times, SIGKILL at random points, the data directory destroyed, restores to random
//! points compared row by row; `--durability backup` after a kill; the bucket down, slow, and
//! altered.
#![allow(clippy::unwrap_used)]

mod common;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use common::*;
use serde_json::{Value, json};

fn now_us() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_micros() as i64
}

/// A small xorshift generator; the seed is printed so a failure can be replayed.
struct Rng(u64);

impl Rng {
    fn new() -> Rng {
        let seed = std::env::var("BACKUP_TEST_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or_else(|| {
            let mut b = [0u8; 8];
            getrandom::fill(&mut b).unwrap();
            u64::from_le_bytes(b) | 1
        });
        eprintln!("backup test seed: BACKUP_TEST_SEED={seed}");
        Rng(seed)
    }
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// moto's S3 server on a free loopback port, with one bucket; killed on drop.
struct Moto {
    child: std::process::Child,
    endpoint: String,
}

impl Moto {
    fn start() -> Moto {
        let bin = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/backup/.venv/bin/moto_server");
        assert!(
            bin.exists(),
            "{} is missing: install it with `python3 -m venv tests/backup/.venv && tests/backup/.venv/bin/pip install \
             -r tests/backup/requirements.txt` (as .ci/run does)",
            bin.display()
        );
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let child = std::process::Command::new(bin)
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let endpoint = format!("http://127.0.0.1:{port}");
        let mut m = Moto { child, endpoint };
        // Up within 30 s, then the bucket.
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        loop {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                break;
            }
            assert!(std::time::Instant::now() < deadline, "moto_server did not start");
            assert!(m.child.try_wait().unwrap().is_none(), "moto_server exited");
            std::thread::sleep(Duration::from_millis(50));
        }
        m.endpoint = format!("http://127.0.0.1:{port}");
        m
    }

    async fn create_bucket(&self, name: &str) {
        let r = reqwest::Client::new().put(format!("{}/{name}", self.endpoint)).send().await.unwrap();
        assert!(r.status().is_success(), "{}", r.status());
    }

    fn signal(&self, sig: &str) {
        let ok = std::process::Command::new("kill").args([sig, &self.child.id().to_string()]).status().unwrap();
        assert!(ok.success());
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Where a test's backups go.
struct Bucket {
    url: String,
    env: Vec<(&'static str, String)>,
    _dir: Option<tempfile::TempDir>,
    moto: Option<Moto>,
}

impl Bucket {
    async fn moto() -> Bucket {
        let moto = Moto::start();
        moto.create_bucket("edgelite").await;
        let env = vec![
            ("AWS_ENDPOINT_URL", moto.endpoint.clone()),
            ("AWS_ACCESS_KEY_ID", "test".into()),
            ("AWS_SECRET_ACCESS_KEY", "test".into()),
            ("AWS_REGION", "us-east-1".into()),
        ];
        Bucket { url: "s3://edgelite/some/prefix".into(), env, _dir: None, moto: Some(moto) }
    }

    fn file() -> Bucket {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("file://{}/bucket", dir.path().display());
        Bucket { url, env: Vec::new(), _dir: Some(dir), moto: None }
    }

    fn file_root(&self) -> PathBuf {
        PathBuf::from(self.url.strip_prefix("file://").unwrap())
    }

    /// Runs `edgelite-server <args>` to the end; returns (success, stdout, stderr).
    fn cli(&self, args: &[&str]) -> (bool, String, String) {
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_edgelite-server"));
        cmd.args(args);
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        let out = cmd.output().unwrap();
        (out.status.success(), String::from_utf8_lossy(&out.stdout).into(), String::from_utf8_lossy(&out.stderr).into())
    }

    /// Restores (everything, or up to `to`) into a fresh directory; returns its `default` rows.
    fn restore(&self, to: Option<i64>) -> Result<Vec<(i64, i64, i64)>, String> {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().display().to_string();
        let t = to.map(edgelite_server::backup::format_time);
        let mut args = vec!["restore", "--backup-url", &self.url, "--db-path", &db];
        if let Some(t) = &t {
            args.extend(["--to", t]);
        }
        let (ok, _, err) = self.cli(&args);
        if !ok {
            return Err(err);
        }
        Ok(rows(&dir.path().join("dbs/default/data")))
    }
}

fn rows(path: &Path) -> Vec<(i64, i64, i64)> {
    let conn = edgelite::Connection::open(path).unwrap();
    let has: i64 = conn.query_row("SELECT count(*) FROM sqlite_schema WHERE name = 't'", [], |r| r.get(0)).unwrap();
    if has == 0 {
        return Vec::new();
    }
    let mut stmt = conn.prepare("SELECT w, s, k FROM t ORDER BY w, s, k").unwrap();
    let r = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?))).unwrap();
    r.collect::<Result<_, _>>().unwrap()
}

struct Server {
    child: tokio::process::Child,
    base: String,
}

async fn server(bucket: &Bucket, dir: &Path, extra: &[&str]) -> Server {
    server_with(bucket, dir, "100", &[&["--checkpoint-frames", "40"], extra].concat()).await
}

async fn server_with(bucket: &Bucket, dir: &Path, interval_ms: &str, extra: &[&str]) -> Server {
    let (child, addr) = spawn_binary(|c| {
        c.arg("--db-path").arg(dir).args(["--backup-url", &bucket.url, "--backup-interval-ms", interval_ms]);
        c.args(extra);
        for (k, v) in &bucket.env {
            c.env(k, v);
        }
    })
    .await;
    Server { child, base: format!("http://{addr}") }
}

/// One write: op (w, s) inserts `rows` rows in one transaction.
#[derive(Clone, Debug)]
struct Op {
    w: i64,
    s: i64,
    rows: i64,
    start: i64,
    /// When its success was received; `None` if it failed or got no answer.
    ack: Option<i64>,
}

async fn write(http: &reqwest::Client, base: &str, w: i64, s: i64, rows: i64) -> Result<(), (u16, Value)> {
    let mut reqs = vec![json!({"type": "execute", "stmt": {"sql": "BEGIN"}})];
    for k in 0..rows {
        let sql = format!("INSERT INTO t VALUES ({w}, {s}, {k}, randomblob(300))");
        reqs.push(json!({"type": "execute", "stmt": {"sql": sql}}));
    }
    reqs.push(json!({"type": "execute", "stmt": {"sql": "COMMIT"}}));
    reqs.push(json!({"type": "close"}));
    let r = http
        .post(format!("{base}/v2/pipeline"))
        .json(&json!({"requests": reqs}))
        .send()
        .await
        .map_err(|_| (0, Value::Null))?;
    let status = r.status().as_u16();
    let v: Value = r.json().await.map_err(|_| (status, Value::Null))?;
    let ok = status == 200 && v["results"].as_array().is_some_and(|a| a.iter().all(|x| x["type"] == "ok"));
    if ok { Ok(()) } else { Err((status, v)) }
}

async fn exec(base: &str, sql: &str) -> (u16, Value) {
    let r = reqwest::Client::new()
        .post(format!("{base}/v2/pipeline"))
        .json(&json!({"requests": [{"type": "execute", "stmt": {"sql": sql}}, {"type": "close"}]}))
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

/// Writers on `base` until `stop`; every op is logged with its times.
async fn load(base: String, writers: i64, first_s: i64, run: Duration, log: Arc<Mutex<Vec<Op>>>) {
    let http = reqwest::Client::builder().timeout(Duration::from_secs(5)).build().unwrap();
    let end = tokio::time::Instant::now() + run;
    let mut tasks = Vec::new();
    for w in 0..writers {
        let (http, base, log) = (http.clone(), base.clone(), Arc::clone(&log));
        tasks.push(tokio::spawn(async move {
            let mut s = first_s;
            while tokio::time::Instant::now() < end {
                let rows = if s % 3 == 0 { 3 } else { 1 };
                let start = now_us();
                let r = write(&http, &base, w, s, rows).await;
                log.lock().unwrap().push(Op { w, s, rows, start, ack: r.is_ok().then(now_us) });
                s += 1;
                if matches!(r, Err((0, _))) {
                    break; // the server is gone (killed)
                }
            }
        }));
    }
    for t in tasks {
        let _ = t.await;
    }
}

/// Checks a restore to `t` against the log: every op acknowledged at or before `t` is there,
/// no op started after `t` is, every op is whole, nothing else is.
fn check(ops: &[Op], t: i64, got: &[(i64, i64, i64)]) {
    let mut by_op: std::collections::BTreeMap<(i64, i64), i64> = std::collections::BTreeMap::new();
    for &(w, s, _) in got {
        *by_op.entry((w, s)).or_default() += 1;
    }
    for op in ops {
        let n = by_op.remove(&(op.w, op.s)).unwrap_or(0);
        assert!(n == 0 || n == op.rows, "op {op:?} is half there ({n} rows) at {t}");
        if op.ack.is_some_and(|a| a <= t) {
            assert_eq!(n, op.rows, "op {op:?}, acknowledged before {t}, is missing");
        }
        if op.start > t {
            assert_eq!(n, 0, "op {op:?}, started after {t}, is there");
        }
    }
    assert!(by_op.is_empty(), "rows of no op: {by_op:?}");
}

/// The `default` namespace's admin API `stats`.
async fn stats(admin_base: &str) -> Value {
    let r = reqwest::get(format!("{admin_base}/v1/namespaces/default/stats")).await.unwrap();
    r.json().await.unwrap()
}

async fn wait_shipped(base_admin: &str) {
    // Until the stats say every committed frame is shipped (at most 20 s).
    for _ in 0..400 {
        let v = stats(base_admin).await;
        let b = &v["backup"];
        if b["shipped_generation"] == v["generation"] && b["shipped_frames"] == v["committed_frames"] {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the backup did not catch up");
}

/// Load, SIGKILL at random points and restarts on the same directory, then the directory
/// destroyed and 20 random points in time restored and compared.
async fn point_in_time_after_kills(bucket: Bucket, durability: &str) {
    let mut rng = Rng::new();
    let data = tempfile::tempdir().unwrap();
    let log = Arc::new(Mutex::new(Vec::new()));
    let mut first = 0;
    for round in 0..3i64 {
        let srv = server(&bucket, data.path(), &["--durability", durability]).await;
        if round == 0 {
            assert_eq!(exec(&srv.base, "CREATE TABLE t(w, s, k, v, PRIMARY KEY (w, s, k))").await.0, 200);
            first = now_us();
        }
        let run = Duration::from_millis(300 + rng.below(500));
        let l =
            tokio::spawn(load(srv.base.clone(), 4, round * 100_000, run + Duration::from_secs(5), Arc::clone(&log)));
        tokio::time::sleep(run).await;
        let mut child = srv.child;
        child.start_kill().unwrap(); // SIGKILL, writes in flight
        let _ = child.wait().await;
        let _ = l.await;
        if durability == "backup" {
            // Every acknowledged write is in the latest restore, straight after the kill.
            let ops = log.lock().unwrap().clone();
            let got = bucket.restore(None).unwrap();
            check(&ops, now_us(), &got);
        }
    }
    // A last start ships the backlog of the last kill (local durability loses it otherwise).
    let admin_port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let admin = format!("127.0.0.1:{admin_port}");
    let srv = server(&bucket, data.path(), &["--admin-listen-addr", &admin]).await;
    wait_shipped(&format!("http://{admin}")).await;
    let mut child = srv.child;
    child.start_kill().unwrap();
    let _ = child.wait().await;
    let last = now_us();
    drop(data); // the data directory is gone

    let ops = log.lock().unwrap().clone();
    let acked = ops.iter().filter(|o| o.ack.is_some()).count();
    assert!(acked >= 10, "too few writes acknowledged: {acked}");
    let (ok, listing, err) = bucket.cli(&["backups", "--backup-url", &bucket.url]);
    assert!(ok, "{err}");
    assert!(listing.contains("namespace default") && listing.contains("restorable from"), "{listing}");
    let points: Vec<i64> = (0..20).map(|_| first + rng.below((last - first) as u64) as i64).collect();
    let bucket = Arc::new(bucket);
    let ops = Arc::new(ops);
    for chunk in points.chunks(5) {
        let checks: Vec<_> = chunk
            .iter()
            .map(|&t| {
                let (bucket, ops) = (Arc::clone(&bucket), Arc::clone(&ops));
                tokio::task::spawn_blocking(move || check(&ops, t, &bucket.restore(Some(t)).unwrap()))
            })
            .collect();
        for c in checks {
            c.await.unwrap();
        }
    }
    check(&ops, last, &bucket.restore(None).unwrap());
    // Before the first backup there is nothing to restore, and that is said.
    let err = bucket.restore(Some(first - 60_000_000)).unwrap_err();
    assert!(err.contains("no restore point at or before"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn point_in_time_restore_after_kills_s3() {
    point_in_time_after_kills(Bucket::moto().await, "local").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn point_in_time_restore_after_kills_file() {
    point_in_time_after_kills(Bucket::file(), "local").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn durability_backup_loses_no_acknowledged_write_s3() {
    point_in_time_after_kills(Bucket::moto().await, "backup").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn durability_backup_loses_no_acknowledged_write_file() {
    point_in_time_after_kills(Bucket::file(), "backup").await;
}

fn admin_addr() -> String {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    format!("127.0.0.1:{port}")
}

async fn insert(base: &str, v: i64) -> (u16, Value) {
    exec(base, &format!("INSERT INTO t VALUES (0, {v}, 0, NULL)")).await
}

/// The bucket's directory replaced by a file: every store call fails at once, as with a bucket
/// that refuses connections. Returns how to put it back.
fn break_file_bucket(bucket: &Bucket) -> impl FnOnce() {
    let root = bucket.file_root();
    let away = root.with_extension("away");
    std::fs::rename(&root, &away).unwrap();
    std::fs::write(&root, b"not a directory").unwrap();
    move || {
        std::fs::remove_file(&root).unwrap();
        std::fs::rename(&away, &root).unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bucket_down_local_durability_writes_go_on_and_the_backlog_ships_later() {
    let bucket = Bucket::file();
    let data = tempfile::tempdir().unwrap();
    let admin = admin_addr();
    let srv = server(&bucket, data.path(), &["--admin-listen-addr", &admin]).await;
    let admin_base = format!("http://{admin}");
    assert_eq!(exec(&srv.base, "CREATE TABLE t(w, s, k, v, PRIMARY KEY (w, s, k))").await.0, 200);
    for v in 0..5 {
        assert_eq!(insert(&srv.base, v).await.0, 200);
    }
    wait_shipped(&admin_base).await;
    let repair = break_file_bucket(&bucket);
    for v in 5..10 {
        assert_eq!(insert(&srv.base, v).await.0, 200, "local durability: writes go on");
    }
    // The backup says it fails, and keeps the backlog.
    let mut failing = Value::Null;
    for _ in 0..100 {
        let v = stats(&admin_base).await;
        failing = v["backup"]["failing"].clone();
        if !failing.is_null() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(failing.is_string(), "stats never showed the failure");
    repair();
    wait_shipped(&admin_base).await;
    let mut child = srv.child;
    child.start_kill().unwrap();
    let _ = child.wait().await;
    let got = bucket.restore(None).unwrap();
    assert_eq!(got.len(), 10, "{got:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bucket_down_durability_backup_fails_clearly_and_applies_nothing_new() {
    let bucket = Bucket::file();
    let data = tempfile::tempdir().unwrap();
    let srv = server(&bucket, data.path(), &["--durability", "backup", "--backup-timeout-ms", "700"]).await;
    assert_eq!(exec(&srv.base, "CREATE TABLE t(w, s, k, v, PRIMARY KEY (w, s, k))").await.0, 200);
    assert_eq!(insert(&srv.base, 1).await.0, 200);
    let repair = break_file_bucket(&bucket);
    // Committed here, not in the bucket within the timeout: a clear error that says so.
    let (status, body) = insert(&srv.base, 2).await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["code"], "BACKUP_UNAVAILABLE", "{body}");
    let msg = body["message"].as_str().unwrap();
    assert!(msg.contains("700 ms") && msg.contains("--backup-timeout-ms"), "{msg}");
    // While the bucket fails, no request runs: nothing is applied.
    let (status, body) = insert(&srv.base, 3).await;
    assert_eq!(status, 503, "{body}");
    assert!(body["message"].as_str().unwrap().contains("failing"), "{body}");
    repair();
    // Once the bucket is back, the waiting frames ship and writes are taken again.
    let mut ok = false;
    for _ in 0..100 {
        if insert(&srv.base, 4).await.0 == 200 {
            ok = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(ok, "writes were not taken again after the bucket came back");
    let mut child = srv.child;
    child.start_kill().unwrap();
    let _ = child.wait().await;
    let got: Vec<i64> = bucket.restore(None).unwrap().iter().map(|r| r.1).collect();
    assert_eq!(got, vec![1, 2, 4], "the refused write must not be there; the timed-out one was committed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreachable_s3_times_out_with_durability_backup_then_recovers() {
    let bucket = Bucket::moto().await;
    let data = tempfile::tempdir().unwrap();
    let srv = server(&bucket, data.path(), &["--durability", "backup", "--backup-timeout-ms", "700"]).await;
    assert_eq!(exec(&srv.base, "CREATE TABLE t(w, s, k, v, PRIMARY KEY (w, s, k))").await.0, 200);
    assert_eq!(insert(&srv.base, 1).await.0, 200);
    let moto = bucket.moto.as_ref().unwrap();
    moto.signal("-STOP"); // the bucket stops answering
    let started = std::time::Instant::now();
    let (status, body) = insert(&srv.base, 2).await;
    moto.signal("-CONT");
    assert_eq!(status, 503, "{body}");
    assert!(started.elapsed() >= Duration::from_millis(700), "answered before the timeout");
    assert!(body["message"].as_str().unwrap().contains("--backup-timeout-ms"), "{body}");
    let mut ok = false;
    for _ in 0..100 {
        if insert(&srv.base, 3).await.0 == 200 {
            ok = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(ok);
    let mut child = srv.child;
    child.start_kill().unwrap();
    let _ = child.wait().await;
    let got: Vec<i64> = bucket.restore(None).unwrap().iter().map(|r| r.1).collect();
    assert_eq!(got, vec![1, 2, 3]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn partial_or_altered_objects_are_detected_at_restore() {
    let bucket = Bucket::file();
    let data = tempfile::tempdir().unwrap();
    let admin = admin_addr();
    let srv = server(&bucket, data.path(), &["--admin-listen-addr", &admin]).await;
    assert_eq!(exec(&srv.base, "CREATE TABLE t(w, s, k, v, PRIMARY KEY (w, s, k))").await.0, 200);
    assert_eq!(insert(&srv.base, 1).await.0, 200);
    wait_shipped(&format!("http://{admin}")).await;
    let mid = now_us();
    tokio::time::sleep(Duration::from_millis(20)).await;
    assert_eq!(insert(&srv.base, 2).await.0, 200);
    wait_shipped(&format!("http://{admin}")).await;
    let mut child = srv.child;
    child.start_kill().unwrap();
    let _ = child.wait().await;
    let gen1 = bucket.file_root().join("default/0000000001");
    let mut objects: Vec<PathBuf> = std::fs::read_dir(&gen1).unwrap().map(|e| e.unwrap().path()).collect();
    objects.sort();
    let last_frames =
        objects.iter().rfind(|p| p.file_name().unwrap().to_str().unwrap().starts_with("frames-")).unwrap();
    let snapshot = objects.iter().find(|p| p.file_name().unwrap().to_str().unwrap().starts_with("snapshot-")).unwrap();
    let good = std::fs::read(last_frames).unwrap();
    // One bit flipped in the last batch: the latest restore refuses it...
    let mut bad = good.clone();
    let at = bad.len() / 2;
    bad[at] ^= 0x10;
    std::fs::write(last_frames, &bad).unwrap();
    let err = bucket.restore(None).unwrap_err();
    assert!(err.contains("corrupt backup object") && err.contains("checksum"), "{err}");
    // ... while a point before it, which does not need that object, still restores.
    assert_eq!(bucket.restore(Some(mid)).unwrap().iter().map(|r| r.1).collect::<Vec<_>>(), vec![1]);
    // A partial object (cut short, as by an interrupted copy).
    std::fs::write(last_frames, &good[..good.len() - 100]).unwrap();
    let err = bucket.restore(None).unwrap_err();
    assert!(err.contains("corrupt backup object"), "{err}");
    std::fs::write(last_frames, &good).unwrap();
    // The snapshot altered: every restore from it refuses.
    let snap = std::fs::read(snapshot).unwrap();
    let mut bad = snap.clone();
    bad[20] ^= 1;
    std::fs::write(snapshot, &bad).unwrap();
    let err = bucket.restore(Some(mid)).unwrap_err();
    assert!(err.contains("corrupt backup object"), "{err}");
    std::fs::write(snapshot, &snap).unwrap();
    // The same object uploaded twice (a retry after a lost answer) changes nothing.
    let copy = gen1.join("stray-copy");
    std::fs::write(&copy, &good).unwrap();
    assert_eq!(bucket.restore(None).unwrap().iter().map(|r| r.1).collect::<Vec<_>>(), vec![1, 2]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_fork_from_a_point_in_time_and_retention() {
    let bucket = Bucket::file();
    let data = tempfile::tempdir().unwrap();
    let admin = admin_addr();
    let extra = ["--admin-listen-addr", &admin, "--enable-namespaces"];
    let srv = server(&bucket, data.path(), &extra).await;
    let admin_base = format!("http://{admin}");
    assert_eq!(exec(&srv.base, "CREATE TABLE t(w, s, k, v, PRIMARY KEY (w, s, k))").await.0, 200);
    assert_eq!(insert(&srv.base, 1).await.0, 200);
    wait_shipped(&admin_base).await;
    let mid = now_us();
    tokio::time::sleep(Duration::from_millis(20)).await;
    assert_eq!(insert(&srv.base, 2).await.0, 200);
    wait_shipped(&admin_base).await;
    let http = reqwest::Client::new();
    let fork = |to: &'static str, body: Value| {
        let (http, admin_base) = (http.clone(), admin_base.clone());
        async move {
            let r =
                http.post(format!("{admin_base}/v1/namespaces/default/fork/{to}")).json(&body).send().await.unwrap();
            (r.status().as_u16(), r.json::<Value>().await.unwrap())
        }
    };
    let (status, body) = fork("past", json!({"timestamp": edgelite_server::backup::format_time(mid)})).await;
    assert_eq!(status, 200, "{body}");
    let count = |ns: &'static str| {
        let (http, base) = (http.clone(), srv.base.clone());
        async move {
            let body = json!({"requests": [{"type": "execute", "stmt": {"sql": "SELECT s FROM t ORDER BY s"}}]});
            let v: Value = http
                .post(format!("{base}/v2/pipeline"))
                .header("x-namespace", ns)
                .json(&body)
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            v["results"][0]["response"]["result"]["rows"]
                .as_array()
                .unwrap()
                .iter()
                .map(|r| int(&r[0]))
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(count("past").await, vec![1], "the fork is the namespace as it was then");
    assert_eq!(count("default").await, vec![1, 2], "the original is untouched");
    let (status, body) = fork("nope", json!({"timestamp": "yesterday"})).await;
    assert_eq!(status, 400, "{body}");
    let (status, body) = fork("early", json!({"timestamp": "2001-01-01T00:00:00Z"})).await;
    assert_eq!(status, 404, "{body}");
    // A checkpoint starts generation 2; with retention 0 days, generation 1 is obsolete once
    // generation 2's snapshot exists, and removed at the next start.
    let r = http.post(format!("{admin_base}/v1/namespaces/default/checkpoint")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    wait_shipped(&admin_base).await;
    let mut child = srv.child;
    child.start_kill().unwrap();
    let _ = child.wait().await;
    assert!(bucket.file_root().join("default/0000000001").read_dir().unwrap().next().is_some());
    let srv = server(&bucket, data.path(), &["--backup-retention-days", "0"]).await;
    let gen1 = bucket.file_root().join("default/0000000001");
    let mut gone = false;
    for _ in 0..100 {
        if gen1.read_dir().map_or(true, |mut d| d.next().is_none()) {
            gone = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(gone, "generation 1 was not removed");
    let mut child = srv.child;
    child.start_kill().unwrap();
    let _ = child.wait().await;
    assert_eq!(bucket.restore(None).unwrap().iter().map(|r| r.1).collect::<Vec<_>>(), vec![1, 2]);
    let err = bucket.restore(Some(mid)).unwrap_err();
    assert!(err.contains("no restore point"), "{err}");
}

/// Restores namespace `ns` (latest, or as of `to`) into a fresh directory; its rows' `s`.
fn restore_ns(bucket: &Bucket, ns: &str, to: Option<i64>) -> Result<Vec<i64>, String> {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().display().to_string();
    let t = to.map(edgelite_server::backup::format_time);
    let mut args = vec!["restore", "--backup-url", &bucket.url, "--db-path", &db, "--namespace", ns];
    if let Some(t) = &t {
        args.extend(["--to", t]);
    }
    let (ok, _, err) = bucket.cli(&args);
    if !ok {
        return Err(err);
    }
    Ok(rows(&dir.path().join("dbs").join(ns).join("data")).iter().map(|r| r.1).collect())
}

/// Polls the bucket (never the server, which would open the namespace) until `ns` restores
/// to `want`, for at most 30 s.
async fn wait_in_bucket(bucket: &Bucket, ns: &str, want: &[i64]) {
    let mut last = Err(String::new());
    for _ in 0..100 {
        last = restore_ns(bucket, ns, None);
        if last.as_deref() == Ok(want) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    panic!("namespace {ns:?} never reached the bucket whole: last restore {last:?}, want {want:?}");
}

async fn open_count(admin_base: &str) -> i64 {
    let v: Value = reqwest::get(format!("{admin_base}/v1/namespaces")).await.unwrap().json().await.unwrap();
    v["open"].as_i64().unwrap()
}

/// With `--durability local` and a long interval, a SIGKILL leaves commits of several
/// namespaces unshipped. The next start ships them with no request to any of them, opening at
/// most two at a time under `--max-open-databases 2`, and closes each behind it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn startup_ships_what_a_kill_left_unshipped_without_opening_everything() {
    let bucket = Bucket::file();
    let data = tempfile::tempdir().unwrap();
    let admin = admin_addr();
    let admin_base = format!("http://{admin}");
    // A 10-minute interval: nothing is shipped after each namespace's first look at the bucket.
    let extra = ["--admin-listen-addr", &admin, "--enable-namespaces"];
    let srv = server_with(&bucket, data.path(), "600000", &extra).await;
    let http = reqwest::Client::new();
    let names = ["a", "b", "c", "d", "e"];
    let sql = |ns: &str, sql: String| {
        let (http, base, ns) = (http.clone(), srv.base.clone(), ns.to_owned());
        async move {
            let body = json!({"requests": [{"type": "execute", "stmt": {"sql": sql}}, {"type": "close"}]});
            let r =
                http.post(format!("{base}/v2/pipeline")).header("x-namespace", ns).json(&body).send().await.unwrap();
            assert_eq!(r.status(), 200, "{:?}", r.text().await);
        }
    };
    for ns in names {
        let r = http.post(format!("{admin_base}/v1/namespaces/{ns}/create")).send().await.unwrap();
        assert_eq!(r.status(), 200);
        sql(ns, "CREATE TABLE t(w, s, k, v, PRIMARY KEY (w, s, k))".into()).await;
    }
    // Each shipper's first round (at open) is over; what follows waits for the interval.
    tokio::time::sleep(Duration::from_millis(500)).await;
    for ns in names {
        for v in 0..4 {
            sql(ns, format!("INSERT INTO t VALUES (0, {v}, 0, NULL)")).await;
        }
    }
    let mut child = srv.child;
    child.start_kill().unwrap();
    let _ = child.wait().await;
    for ns in names {
        let got = restore_ns(&bucket, ns, None).unwrap_or_default();
        assert!(
            got.len() < 4,
            "namespace {ns}: the rows were shipped before the kill ({got:?}): the test tests nothing"
        );
    }
    let extra = ["--admin-listen-addr", &admin, "--enable-namespaces", "--max-open-databases", "2"];
    let srv = server_with(&bucket, data.path(), "100", &extra).await;
    for ns in names {
        wait_in_bucket(&bucket, ns, &[0, 1, 2, 3]).await;
    }
    // Every namespace closed behind the catch-up (the shipper may hold the last for a moment).
    let mut open = -1;
    for _ in 0..100 {
        open = open_count(&admin_base).await;
        if open == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(open, 0, "the catch-up left namespaces open");
    let mut child = srv.child;
    child.start_kill().unwrap();
    let _ = child.wait().await;
}

/// The S3 server stops answering (SIGSTOP) with `--durability local`: writes go on. The server
/// is killed while its upload hangs, then S3 resumes and receives what was in flight (a whole
/// object whose answer nobody reads, or a cut one). The next start ships the rest by itself,
/// and every point in time restores a real past state: the first i inserts, for each i.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_during_a_hung_upload_local_durability_then_restores_real_states_s3() {
    let bucket = Bucket::moto().await;
    let data = tempfile::tempdir().unwrap();
    let srv = server(&bucket, data.path(), &[]).await;
    assert_eq!(exec(&srv.base, "CREATE TABLE t(w, s, k, v, PRIMARY KEY (w, s, k))").await.0, 200);
    let mut acked = Vec::new(); // (v, time of its answer)
    for v in 0..3 {
        assert_eq!(insert(&srv.base, v).await.0, 200);
        acked.push((v, now_us()));
    }
    wait_in_bucket(&bucket, "default", &[0, 1, 2]).await;
    let moto = bucket.moto.as_ref().unwrap();
    moto.signal("-STOP");
    let writes = async {
        for v in 3..13 {
            let (status, body) = insert(&srv.base, v).await;
            assert_eq!(status, 200, "local durability: writes go on while the bucket hangs: {body}");
            acked.push((v, now_us()));
            tokio::time::sleep(Duration::from_millis(30)).await;
        }
    };
    let done = tokio::time::timeout(Duration::from_secs(30), writes).await;
    // Uploads of those frames are hanging in the stopped S3 server: kill the server now.
    let mut child = srv.child;
    child.start_kill().unwrap();
    let _ = child.wait().await;
    moto.signal("-CONT");
    assert!(done.is_ok(), "writes hung with the bucket with --durability local");
    // Whatever the hung upload left, the bucket restores a real state (a prefix of the inserts).
    let got = restore_ns(&bucket, "default", None).unwrap();
    assert!(got.len() >= 3 && got.iter().copied().eq(0..got.len() as i64), "{got:?}");
    let srv = server(&bucket, data.path(), &[]).await;
    let all: Vec<i64> = (0..13).collect();
    wait_in_bucket(&bucket, "default", &all).await;
    let mut child = srv.child;
    child.start_kill().unwrap();
    let _ = child.wait().await;
    for &(v, t) in &acked {
        let got = restore_ns(&bucket, "default", Some(t)).unwrap();
        // Acknowledged at t: there; later inserts started after t: not there.
        assert_eq!(got, (0..=v).collect::<Vec<_>>(), "as of the answer to insert {v}");
    }
}

/// `--max-archived-generations` never removes what the backup has yet to ship, including while
/// the shipper does not yet know where the bucket stands (a namespace opened while the bucket
/// fails): a reviewer's case, where the bucket then got generations 1 and 12 only and a
/// point-in-time restore gave 3 rows of 17.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn removed_generations_were_all_shipped_first() {
    let bucket = Bucket::file();
    let data = tempfile::tempdir().unwrap();
    let admin = admin_addr();
    let admin_base = format!("http://{admin}");
    let srv = server(&bucket, data.path(), &["--admin-listen-addr", &admin]).await;
    assert_eq!(exec(&srv.base, "CREATE TABLE t(w, s, k, v, PRIMARY KEY (w, s, k))").await.0, 200);
    for v in 0..3 {
        assert_eq!(insert(&srv.base, v).await.0, 200);
    }
    wait_shipped(&admin_base).await;
    let mut child = srv.child;
    child.start_kill().unwrap();
    let _ = child.wait().await;
    let admin = admin_addr();
    let admin_base = format!("http://{admin}");
    let srv = server(&bucket, data.path(), &["--admin-listen-addr", &admin, "--max-archived-generations", "1"]).await;
    // the bucket fails from before the namespace is opened (its shipper's first look fails)
    let repair = break_file_bucket(&bucket);
    let generation_now = || async { stats(&admin_base).await["generation"].as_u64().unwrap() };
    let g0 = generation_now().await;
    let mut mid = None;
    for v in 3..60 {
        let (status, body) = exec(&srv.base, &format!("INSERT INTO t VALUES (0, {v}, 0, randomblob(20000))")).await;
        assert_eq!(status, 200, "{body}");
        if mid.is_none() && generation_now().await >= g0 + 3 {
            mid = Some((now_us(), v));
        }
    }
    repair();
    wait_shipped(&admin_base).await;
    let (t_mid, v_mid) = mid.expect("three checkpoints while the bucket failed");
    let rows = restore_ns(&bucket, "default", Some(t_mid)).unwrap();
    assert_eq!(rows.len() as i64, v_mid + 1, "a point-in-time restore in the generations removed meanwhile");
    let mut child = srv.child;
    child.start_kill().unwrap();
    let _ = child.wait().await;
}
