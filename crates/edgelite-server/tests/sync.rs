//! Embedded-replica sync v2: info, export, frames, generations, push.
#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use serde_json::{Value, json};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn export_and_frames_rebuild_the_database() {
    let s = start().await;
    let (status, body) = s.get("/info").await;
    assert_eq!(status, 200);
    let info: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(info, json!({"current_generation": 1}));
    let (status, export) = s.get("/export/1").await;
    assert_eq!(status, 200);
    assert_eq!(&export[..16], b"SQLite format 3\0");
    assert_eq!(u16::from_be_bytes([export[16], export[17]]), 4096);
    assert_eq!((export[18], export[19]), (2, 2), "WAL mode");
    assert_eq!(s.get("/export/2").await.0, 404);
    // Nothing written yet: end of generation 1 at frame 1.
    let (status, body) = s.get("/sync/1/1/129").await;
    assert_eq!(status, 400);
    assert_eq!(serde_json::from_slice::<Value>(&body).unwrap(), json!({"generation": 1}));

    s.exec(&["CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT)", "INSERT INTO t(v) VALUES ('a'), ('b')"]).await;
    // Read-your-writes: the frames are served as soon as the write has answered.
    let (status, frames) = s.get("/sync/1/1/129").await;
    assert_eq!(status, 200);
    assert_eq!(frames.len() % FRAME, 0);
    let n = frames.len() / FRAME;
    assert!(n >= 2);
    let last = &frames[(n - 1) * FRAME..];
    assert_ne!(u32::from_be_bytes(last[4..8].try_into().unwrap()), 0, "the last frame served commits");
    // The frames are the primary's own WAL frames, byte for byte.
    let wal = std::fs::read(s.ns_dir("default").join("data-wal")).unwrap();
    assert_eq!(&wal[32..32 + n * FRAME], &frames[..]);
    let mut image = export.clone();
    apply_frames(&mut image, &frames);
    assert_eq!(query_image(s.dir.path(), "replica.db", &image, "SELECT count(*) FROM t"), 2);
    // Sub-ranges and out-of-range requests.
    let (status, one) = s.get("/sync/1/2/3").await;
    assert_eq!((status, one.len()), (200, FRAME));
    assert_eq!(&one[..], &frames[FRAME..2 * FRAME]);
    // every 400 of a pull must be {"generation": G}: the clients parse it as the end of a
    // generation, whatever the cause
    for path in [
        format!("/sync/1/{}/{}", n + 1, n + 129),
        "/sync/1/0/128".to_owned(),
        "/sync/1/5/5".to_owned(),
        "/sync/7/1/128".to_owned(),
        "/sync/1/x/128".to_owned(),
        "/sync/1/4294967295/4294967295".to_owned(),
    ] {
        let (status, body) = s.get(&path).await;
        let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
        assert_eq!((status, body), (400, json!({"generation": 1})), "{path}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replica_catches_up_across_generations() {
    let s = start_with(|c| {
        c.checkpoint_frames = 3;
        c.admin_listen_addr = Some("127.0.0.1:0".into());
    })
    .await;
    let (_, export) = s.get("/export/1").await;
    let mut image = export;
    s.exec(&["CREATE TABLE t(id INTEGER PRIMARY KEY, v BLOB)"]).await;
    let (g, next) = s.pull_all("", &mut image, 1, 1).await;
    // Writes large enough to pass the threshold many times over.
    for i in 0..12 {
        s.exec(&[&format!("INSERT INTO t(v) VALUES (randomblob(3000 + {i}))")]).await;
        tokio::time::sleep(std::time::Duration::from_millis(30)).await;
    }
    // Force one more generation through the admin API.
    let admin = format!("http://{}", s.running.admin_addr.unwrap());
    let r = s.http.post(format!("{admin}/v1/namespaces/default/checkpoint")).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let info: Value = serde_json::from_slice(&s.get("/info").await.1).unwrap();
    let current = info["current_generation"].as_u64().unwrap() as u32;
    assert!(current >= 4, "generations: {current}");
    s.exec(&["INSERT INTO t(v) VALUES (x'01')"]).await;
    // The replica, still in generation 1, catches up through every archived generation.
    let (g2, _) = s.pull_all("", &mut image, g, next).await;
    assert_eq!(g2, current);
    assert_eq!(query_image(s.dir.path(), "replica.db", &image, "SELECT count(*) FROM t"), 13);
    let sum = s.exec(&["SELECT sum(length(v)) FROM t"]).await;
    assert_eq!(
        query_image(s.dir.path(), "replica2.db", &image, "SELECT sum(length(v)) FROM t"),
        int(&sum[0]["rows"][0][0])
    );
    // A fresh replica bootstraps from the current export.
    let (status, export) = s.get(&format!("/export/{current}")).await;
    assert_eq!(status, 200);
    let mut fresh = export;
    s.pull_all("", &mut fresh, current, 1).await;
    assert_eq!(query_image(s.dir.path(), "fresh.db", &fresh, "SELECT count(*) FROM t"), 13);
}

/// With `--max-archived-generations 2`, a checkpoint removes the files of older generations;
/// a replica that last synced in one is told to bootstrap again (409, never the 400 that reads
/// as the generation's end, over which it would apply later frames to a state missing that
/// generation's), while one in a kept generation still catches up.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn old_generations_are_removed_and_their_replicas_bootstrap_again() {
    // generations change only at the admin API's checkpoints
    let s = start_with(|c| {
        c.checkpoint_frames = 100_000;
        c.max_archived_generations = 2;
        c.admin_listen_addr = Some("127.0.0.1:0".into());
    })
    .await;
    let (_, export) = s.get("/export/1").await;
    let mut behind = export;
    s.exec(&["CREATE TABLE t(id INTEGER PRIMARY KEY, v BLOB)"]).await;
    let (g1, next1) = s.pull_all("", &mut behind, 1, 1).await;
    assert_eq!(g1, 1);
    let admin = format!("http://{}", s.running.admin_addr.unwrap());
    let checkpoint = || async {
        let r = s.http.post(format!("{admin}/v1/namespaces/default/checkpoint")).send().await.unwrap();
        assert_eq!(r.status().as_u16(), 200);
    };
    let current = || async {
        let info: Value = serde_json::from_slice(&s.get("/info").await.1).unwrap();
        info["current_generation"].as_u64().unwrap() as u32
    };
    // A replica that synced one generation before the last.
    for i in 0..4 {
        s.exec(&[&format!("INSERT INTO t(v) VALUES (randomblob(3000 + {i}))")]).await;
        checkpoint().await;
    }
    let g_recent = current().await;
    let (_, export) = s.get(&format!("/export/{g_recent}")).await;
    let mut recent = export;
    let (_, next_recent) = s.pull_all("", &mut recent, g_recent, 1).await;
    s.exec(&["INSERT INTO t(v) VALUES (x'01')"]).await;
    checkpoint().await;
    s.exec(&["INSERT INTO t(v) VALUES (x'02')"]).await;
    let now = current().await;
    assert_eq!(now, g_recent + 1);
    // Only the current generation and the two before it are on disk.
    // (the removed ones are renamed aside, then deleted on another thread)
    let mut kept: Vec<u32> = std::fs::read_dir(s.ns_dir("default").join("gens"))
        .unwrap()
        .filter_map(|e| e.unwrap().file_name().to_str().unwrap().parse().ok())
        .collect();
    kept.sort_unstable();
    assert_eq!(kept, vec![now - 2, now - 1, now]);
    // Generation 1 is gone: its replica must bootstrap again.
    let (status, body) = s.get(&format!("/sync/{g1}/{next1}/{}", next1 + 128)).await;
    assert_eq!(status, 409, "{}", String::from_utf8_lossy(&body));
    let v: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!((v["code"].as_str(), v["generation"].as_u64()), (Some("GENERATION_GONE"), Some(u64::from(now))));
    let (status, _) = s.get(&format!("/sync/{g1}/1/129")).await;
    assert_eq!(status, 409);
    let (status, _) = s.get("/export/1").await;
    assert_eq!(status, 404);
    // The replica in a kept generation catches up, and holds every row.
    let (g, _) = s.pull_all("", &mut recent, g_recent, next_recent).await;
    assert_eq!(g, now);
    let rows = s.exec(&["SELECT count(*) FROM t"]).await;
    assert_eq!(int(&rows[0]["rows"][0][0]), 6);
    assert_eq!(query_image(s.dir.path(), "recent.db", &recent, "SELECT count(*) FROM t"), 6);
}

/// Pushes the replica's own frames `from..to` (generation 1 numbering).
async fn push_frames(s: &Srv, local: &Replica, from: usize, to: usize) -> (u16, Value) {
    s.push(&format!("/sync/1/{from}/{to}"), local.frames(from, to)).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn offline_push_applies_frames_and_detects_conflicts() {
    let s = start().await;
    s.exec(&["CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT)", "INSERT INTO t(v) VALUES ('server')"]).await;
    let (_, frames) = s.get("/sync/1/1/129").await;
    let n = frames.len() / FRAME;
    let local = Replica::clone_from(&s, "default");
    assert_eq!(local.frame_count(), n);
    local.conn.execute("INSERT INTO t(v) VALUES ('offline')", []).unwrap();
    let m = local.frame_count();
    assert!(m > n);
    let pushed = local.frames(n + 1, m + 1);

    // Wrong sizes are refused outright.
    let (status, _) = s.push(&format!("/sync/1/{}/{}", n + 1, m + 2), pushed.clone()).await;
    assert_eq!(status, 400);
    let (status, _) = s.push(&format!("/sync/1/{}/{}", n + 1, m + 1), pushed[..100].to_vec()).await;
    assert_eq!(status, 400);
    // A start beyond the server's end: "I only have n".
    let (status, v) = s.push(&format!("/sync/1/{}/{}", n + 2, m + 2), pushed.clone()).await;
    assert_eq!(status, 200);
    assert_eq!(v, json!({"status": "ok", "generation": 1, "max_frame_no": n, "baton": null}));
    // Another generation: conflict.
    let (_, v) = s.push(&format!("/sync/2/{}/{}", n + 1, m + 1), pushed.clone()).await;
    assert_eq!(v["status"], "conflict");

    let (status, v) = s.push(&format!("/sync/1/{}/{}", n + 1, m + 1), pushed.clone()).await;
    assert_eq!(status, 200);
    assert_eq!(v, json!({"status": "ok", "generation": 1, "max_frame_no": m, "baton": null}));
    let rows = s.exec(&["SELECT v FROM t ORDER BY id"]).await;
    assert_eq!(rows[0]["rows"], json!([[{"type": "text", "value": "server"}], [{"type": "text", "value": "offline"}]]));
    // The server's WAL holds the pushed pages as frames n+1..m.
    let (_, served) = s.get(&format!("/sync/1/{}/{}", n + 1, m + 1)).await;
    assert_eq!(served.len(), pushed.len());
    for (a, b) in served.chunks_exact(FRAME).zip(pushed.chunks_exact(FRAME)) {
        assert_eq!(a[..8], b[..8], "page number and commit size");
        assert_eq!(a[24..], b[24..], "page content");
    }
    // Re-sending the same frames (a lost response) is idempotent.
    let (_, v) = s.push(&format!("/sync/1/{}/{}", n + 1, m + 1), pushed.clone()).await;
    assert_eq!(v, json!({"status": "ok", "generation": 1, "max_frame_no": m, "baton": null}));

    // Now a write on the server and a second offline write race: the replica's frames at m+1
    // are not the server's.
    s.exec(&["INSERT INTO t(v) VALUES ('server2')"]).await;
    local.conn.execute("INSERT INTO t(v) VALUES ('offline2')", []).unwrap();
    let k = local.frame_count();
    let (_, v) = push_frames(&s, &local, m + 1, k + 1).await;
    assert_eq!(v["status"], "conflict");
    let count = s.exec(&["SELECT count(*) FROM t WHERE v = 'offline2'"]).await;
    assert_eq!(int(&count[0]["rows"][0][0]), 0, "a conflicting push changes nothing");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn push_split_mid_commit_continues_with_a_baton() {
    let s = start().await;
    s.exec(&["CREATE TABLE t(v BLOB)"]).await;
    let local = Replica::clone_from(&s, "default");
    let n = local.frame_count();
    local.write_many_pages();
    let m = local.frame_count();
    assert!(m - n > 4);
    let split = n + 3;
    let (_, v) = push_frames(&s, &local, n + 1, split).await;
    assert_eq!(v["status"], "ok");
    assert_eq!(v["max_frame_no"], split - 1);
    let baton = v["baton"].as_str().unwrap().to_owned();
    // Nothing is visible until the commit frame arrives.
    assert_eq!(int(&s.exec(&["SELECT count(*) FROM t"]).await[0]["rows"][0][0]), 0);
    // A wrong baton is a conflict.
    let (_, bad) = s.push(&format!("/sync/1/{split}/{}/nope", m + 1), local.frames(split, m + 1)).await;
    assert_eq!(bad["status"], "conflict");
    let (_, v) = s.push(&format!("/sync/1/{split}/{}/{baton}", m + 1), local.frames(split, m + 1)).await;
    assert_eq!(v, json!({"status": "ok", "generation": 1, "max_frame_no": m, "baton": null}));
    assert_eq!(int(&s.exec(&["SELECT count(*) FROM t"]).await[0]["rows"][0][0]), 20);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_writers_and_checkpoints_lose_nothing() {
    let s = std::sync::Arc::new(start_with(|c| c.checkpoint_frames = 4).await);
    s.exec(&["CREATE TABLE t(w INTEGER, i INTEGER, pad BLOB)"]).await;
    let (_, export) = s.get("/export/1").await;
    let mut image = export;
    let (mut g, mut next) = s.pull_all("", &mut image, 1, 1).await;
    let writers: Vec<_> = (0..4)
        .map(|w| {
            let s = std::sync::Arc::clone(&s);
            tokio::spawn(async move {
                for i in 0..15 {
                    // Alternate single statements and interactive transactions across requests.
                    if i % 3 == 0 {
                        let (_, b) = s.pipeline(None, json!([{"type": "execute", "stmt": {"sql": "BEGIN IMMEDIATE"}}])).await;
                        assert_eq!(b["results"][0]["type"], "ok", "{b}");
                        let baton = b["baton"].as_str().unwrap().to_owned();
                        let (_, b) = s
                            .pipeline(Some(&baton), json!([{"type": "execute", "stmt": {"sql": format!("INSERT INTO t VALUES ({w}, {i}, randomblob(2000))")}}]))
                            .await;
                        assert_eq!(b["results"][0]["type"], "ok", "{b}");
                        let baton = b["baton"].as_str().unwrap().to_owned();
                        let (_, b) = s.pipeline(Some(&baton), json!([{"type": "execute", "stmt": {"sql": "COMMIT"}}, {"type": "close"}])).await;
                        assert_eq!(b["results"][0]["type"], "ok", "{b}");
                    } else {
                        s.exec(&[&format!("INSERT INTO t VALUES ({w}, {i}, randomblob(2000))")]).await;
                    }
                }
            })
        })
        .collect();
    // A replica keeps pulling while the writes and checkpoints go on.
    let mut done = false;
    while !done {
        done = writers.iter().all(tokio::task::JoinHandle::is_finished);
        (g, next) = s.pull_all("", &mut image, g, next).await;
    }
    for w in writers {
        w.await.unwrap();
    }
    // A loaded machine can have a transaction open at every moment the threshold is checked,
    // and then no checkpoint runs during the writes (usually several do). One idle write past
    // the threshold runs one for certain.
    s.exec(&["CREATE TABLE idle(x)"]).await;
    let mut current = 1;
    for _ in 0..500 {
        let info: Value = serde_json::from_slice(&s.get("/info").await.1).unwrap();
        current = info["current_generation"].as_u64().unwrap();
        if current > 1 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert!(current > 1, "a checkpoint ran: generation {current}");
    (g, _) = s.pull_all("", &mut image, g, next).await;
    let info: Value = serde_json::from_slice(&s.get("/info").await.1).unwrap();
    assert_eq!(u64::from(g), info["current_generation"].as_u64().unwrap());
    let server = s.exec(&["SELECT count(*), count(DISTINCT w * 100 + i) FROM t"]).await;
    assert_eq!(int(&server[0]["rows"][0][0]), 60);
    assert_eq!(int(&server[0]["rows"][0][1]), 60);
    assert_eq!(query_image(s.dir.path(), "replica.db", &image, "SELECT count(DISTINCT w * 100 + i) FROM t"), 60);
}

fn set_commit_size(frame: &mut [u8], size: u32) {
    frame[4..8].copy_from_slice(&size.to_be_bytes());
}

/// A pushed commit that the server cannot turn into exactly the client's frames (a page twice,
/// or a database size the pages do not make) is refused before anything is written: no
/// frames that do not match the client's are ever committed or served.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pushed_frames_that_cannot_line_up_are_refused_before_writing() {
    let s = start().await;
    s.exec(&["CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT)"]).await;
    let local = Replica::clone_from(&s, "default");
    let n = local.frame_count();
    local.conn.execute("INSERT INTO t(v) VALUES ('offline')", []).unwrap();
    assert_eq!(local.frame_count(), n + 1, "one page, one frame");
    let commit = local.frames(n + 1, n + 2);

    // The same page twice in one commit: the server would write one frame for two.
    let mut twice = commit.clone();
    set_commit_size(&mut twice, 0);
    twice.extend_from_slice(&commit);
    // A commit claiming a database of 1000 pages that it does not write.
    let mut oversized = commit.clone();
    set_commit_size(&mut oversized, 1000);
    for (body, what) in [(twice, "page twice"), (oversized, "size too large")] {
        let end = n + 1 + body.len() / FRAME;
        let (status, v) = s.push(&format!("/sync/1/{}/{end}", n + 1), body).await;
        assert_eq!(status, 200, "{what}");
        assert_eq!(v["status"], "conflict", "{what}: {v}");
        assert_eq!(v["max_frame_no"], n, "{what}: {v}");
        let rows = s.exec(&["SELECT count(*) FROM t"]).await;
        assert_eq!(int(&rows[0]["rows"][0][0]), 0, "{what}: nothing was written");
        let (status, body) = s.get(&format!("/sync/1/{}/{}", n + 1, n + 129)).await;
        assert_eq!(status, 400, "{what}: no frame past n is served");
        assert_eq!(serde_json::from_slice::<Value>(&body).unwrap(), json!({"generation": 1}));
    }
    // A page 1 that would make the database unreadable (another page size) is refused.
    let page1 = s.get("/sync/1/1/2").await.1;
    assert_eq!(u32::from_be_bytes(page1[..4].try_into().unwrap()), 1);
    let mut bad = page1.clone();
    set_commit_size(&mut bad, n as u32);
    bad[24 + 16..24 + 18].copy_from_slice(&[0x02, 0x00]);
    let (status, _) = s.push(&format!("/sync/1/{}/{}", n + 1, n + 2), bad).await;
    assert_eq!(status, 400);
    let rows = s.exec(&["SELECT count(*) FROM t"]).await;
    assert_eq!(int(&rows[0]["rows"][0][0]), 0, "page 1 was not written");
    // The genuine frame still applies, as frame n+1.
    let (_, v) = s.push(&format!("/sync/1/{}/{}", n + 1, n + 2), commit.clone()).await;
    assert_eq!(v, json!({"status": "ok", "generation": 1, "max_frame_no": n + 1, "baton": null}));
    let (_, served) = s.get(&format!("/sync/1/{}/{}", n + 1, n + 2)).await;
    assert_eq!(served[24..], commit[24..]);
    let rows = s.exec(&["SELECT v FROM t"]).await;
    assert_eq!(rows[0]["rows"], json!([[{"type": "text", "value": "offline"}]]));
}

/// A push chain that never sends its commit frame cannot make the server hold frames without
/// bound: past the limit the push is refused with 413 and the database is untouched.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unfinished_pushes_hold_bounded_memory() {
    let s = start_with(|c| c.max_body_bytes = 12 << 20).await;
    s.exec(&["CREATE TABLE t(x)"]).await;
    let (_, v) = s.get("/sync/1/1/129").await;
    let n = v.len() / FRAME;
    let per = 2000;
    let mut baton: Option<String> = None;
    let mut next = n + 1;
    let mut refused = None;
    for round in 0..10 {
        let mut body = vec![0u8; per * FRAME];
        for (i, f) in body.chunks_exact_mut(FRAME).enumerate() {
            // Non-commit frames for pages past the end of the database.
            f[0..4].copy_from_slice(&u32::try_from(round * per + i + 10).unwrap().to_be_bytes());
        }
        let path = match &baton {
            Some(b) => format!("/sync/1/{next}/{}/{b}", next + per),
            None => format!("/sync/1/{next}/{}", next + per),
        };
        let r = s.http.post(format!("{}{path}", s.base)).body(body).send().await.unwrap();
        if r.status().as_u16() != 200 {
            refused = Some((round, r.status().as_u16()));
            break;
        }
        let v: Value = r.json().await.unwrap();
        assert_eq!(v["status"], "ok", "{v}");
        baton = Some(v["baton"].as_str().unwrap().to_owned());
        next += per;
    }
    let (round, status) = refused.expect("the chain was refused");
    assert_eq!(status, 413);
    assert!(round * per * FRAME <= 64 << 20 && round >= 7, "refused at round {round}");
    assert_eq!(int(&s.exec(&["SELECT count(*) FROM t"]).await[0]["rows"][0][0]), 0);
    let (status, _) = s.get(&format!("/sync/1/{}/{}", n + 1, n + 129)).await;
    assert_eq!(status, 400, "no frame was added");
}

/// Pins the WAL with a read transaction from outside the server, so that a TRUNCATE checkpoint
/// copies every frame into the database but cannot truncate; returns the reader.
fn pin_wal(s: &Srv) -> edgelite::Connection {
    let reader = edgelite::Connection::open(s.ns_dir("default").join("data")).unwrap();
    reader.execute_batch("BEGIN").unwrap();
    let _: i64 = reader.query_row("SELECT count(*) FROM t", [], |r| r.get(0)).unwrap();
    reader
}

/// A checkpoint that archives generation g, copies every frame into the database, and then
/// cannot truncate the WAL (a reader holds it): SQLite restarts the WAL at the next write,
/// numbering frames from 1 again. Replicas must still get every commit, at runtime and after
/// a restart of the server, with no gap between generations.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_checkpoint_that_cannot_truncate_leaves_no_gap_for_replicas() {
    let s = start().await;
    s.exec(&["CREATE TABLE t(x)", "INSERT INTO t VALUES (1)"]).await;
    let (_, export) = s.get("/export/1").await;
    let mut image = export;
    let (g, next) = s.pull_all("", &mut image, 1, 1).await;
    assert_eq!(g, 1);
    let ns = s.running.state.namespaces.get("default").unwrap();

    // At runtime: the failed checkpoint, then writes once the reader is gone.
    let reader = pin_wal(&s);
    assert!(ns.checkpoint(true).await.is_err());
    reader.execute_batch("COMMIT").unwrap();
    drop(reader);
    s.exec(&["INSERT INTO t VALUES (2)", "INSERT INTO t VALUES (3)"]).await;
    let (g, next) = s.pull_all("", &mut image, g, next).await;
    assert_eq!(g, 2, "the restarted WAL is the next generation");
    assert_eq!(query_image(s.dir.path(), "replica-a.db", &image, "SELECT sum(x) FROM t"), 6);

    // Across a restart: the failed checkpoint, a write while the reader still holds the WAL
    // (it goes after the archived frames), then the server stops and starts again.
    let reader = pin_wal(&s);
    assert!(ns.checkpoint(true).await.is_err());
    s.exec(&["INSERT INTO t VALUES (4)"]).await;
    reader.execute_batch("COMMIT").unwrap();
    drop(reader);
    let config = edgelite_server::Config::new(s.dir.path().to_owned(), "127.0.0.1:0".into());
    let running = edgelite_server::start(config).await.unwrap();
    let base = format!("http://{}", running.http_addr);
    let s2 = Srv { running, dir: tempfile::tempdir().unwrap(), base, http: reqwest::Client::new() };
    let (g, _) = s2.pull_all("", &mut image, g, next).await;
    assert_eq!(g, 3);
    assert_eq!(query_image(s2.dir.path(), "replica-b.db", &image, "SELECT sum(x) FROM t"), 10);
}

/// A one-frame push body: page `pgno`, commit size `commit`, the rest `fill`.
fn garbage_frame(pgno: u32, commit: u32, fill: u8) -> Vec<u8> {
    let mut f = vec![fill; FRAME];
    f[..4].copy_from_slice(&pgno.to_be_bytes());
    set_commit_size(&mut f, commit);
    f
}

/// Pushed pages whose headers look right but whose content is not a database (garbage on a
/// table's root page, on page 1, a page 1 header over a garbage schema table, a commit that
/// cuts the database to one page) are refused with a 400 and a JSON error, inside the push's
/// transaction: the rows, the integrity of the database and the frames served are unchanged.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pushed_pages_that_corrupt_the_database_are_refused_and_rolled_back() {
    let s = start().await;
    s.exec(&["CREATE TABLE push_t (id INTEGER PRIMARY KEY, v TEXT)", "INSERT INTO push_t VALUES (1, 'kept')"]).await;
    let local = Replica::clone_from(&s, "default");
    let n = local.frame_count();
    let root = int(&s.exec(&["SELECT rootpage FROM sqlite_schema WHERE name = 'push_t'"]).await[0]["rows"][0][0]);
    let pages = int(&s.exec(&["PRAGMA page_count"]).await[0]["rows"][0][0]);
    let (root, pages) = (u32::try_from(root).unwrap(), u32::try_from(pages).unwrap());
    // Page 1 as it is, with its header kept and the schema table's b-tree page overwritten.
    let mut schema_garbage = s.get("/sync/1/1/2").await.1;
    assert_eq!(u32::from_be_bytes(schema_garbage[..4].try_into().unwrap()), 1);
    set_commit_size(&mut schema_garbage, pages);
    schema_garbage[24 + 100..].fill(0xab);
    let cases = [
        ("garbage on the table's root page", garbage_frame(root, pages, 0xab)),
        ("garbage on page 1", garbage_frame(1, pages, 0x5a)),
        ("page 1 header over a garbage schema page", schema_garbage),
        ("a commit that truncates the database to one page", garbage_frame(1, 1, 0)),
        ("a garbage page appended", garbage_frame(pages + 1, pages + 1, 0xab)),
    ];
    for (what, body) in cases {
        let (status, v) = s.push(&format!("/sync/1/{}/{}", n + 1, n + 2), body).await;
        assert_eq!(status, 400, "{what}: {v}");
        assert!(v["error"].as_str().is_some_and(|e| !e.is_empty()), "{what}: {v}");
        let after = s.exec(&["SELECT id, v FROM push_t", "PRAGMA integrity_check", "PRAGMA page_count"]).await;
        assert_eq!(
            after[0]["rows"],
            json!([[{"type": "integer", "value": "1"}, {"type": "text", "value": "kept"}]]),
            "{what}"
        );
        assert_eq!(after[1]["rows"], json!([[{"type": "text", "value": "ok"}]]), "{what}");
        assert_eq!(int(&after[2]["rows"][0][0]), i64::from(pages), "{what}");
        let (status, body) = s.get(&format!("/sync/1/{}/{}", n + 1, n + 129)).await;
        assert_eq!(status, 400, "{what}: no frame past n is served");
        assert_eq!(serde_json::from_slice::<Value>(&body).unwrap(), json!({"generation": 1}));
    }
    // A genuine push, creating a table (its schema change is checked too), still applies.
    local
        .conn
        .execute_batch(
            "CREATE TABLE more(x); INSERT INTO more VALUES ('offline'); INSERT INTO push_t VALUES (2, 'new')",
        )
        .unwrap();
    let m = local.frame_count();
    let (status, v) = push_frames(&s, &local, n + 1, m + 1).await;
    assert_eq!((status, v), (200, json!({"status": "ok", "generation": 1, "max_frame_no": m, "baton": null})));
    let rows = s.exec(&["SELECT v FROM push_t ORDER BY id", "SELECT x FROM more"]).await;
    assert_eq!(rows[0]["rows"], json!([[{"type": "text", "value": "kept"}], [{"type": "text", "value": "new"}]]));
    assert_eq!(rows[1]["rows"], json!([[{"type": "text", "value": "offline"}]]));
}

/// Asserts that generation `g` serves, from frame `start` on, exactly the frames `pushed`.
async fn assert_serves(s: &Srv, g: u32, start: usize, pushed: &[u8]) {
    let (status, served) = s.get(&format!("/sync/{g}/{start}/{}", start + pushed.len() / FRAME)).await;
    assert_eq!(status, 200);
    assert_eq!(served.len(), pushed.len());
    for (a, b) in served.chunks_exact(FRAME).zip(pushed.chunks_exact(FRAME)) {
        assert_eq!(a[..8], b[..8], "page number and commit size");
        assert_eq!(a[24..], b[24..], "page content");
    }
}

/// An offline replica that synced in generation 1 keeps pushing after a server checkpoint
/// started generation 2 (libsql#2122): its frames after the end of generation 1 are generation
/// 2's first frames, answered in its own numbering, and its next pull moves it to generation 2,
/// whose frames are exactly what it pushed. Once another writer got there first, or more
/// generations went by, the push is a conflict and changes nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_offline_replica_pushes_across_a_server_checkpoint() {
    let s = start().await;
    s.exec(&["CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT)", "INSERT INTO t(v) VALUES ('server')"]).await;
    let local = Replica::clone_from(&s, "default");
    let n = local.frame_count();
    let ns = s.running.state.namespaces.get("default").unwrap();
    assert!(ns.checkpoint(true).await.unwrap());
    assert_eq!(ns.generation().unwrap(), 2);

    local.conn.execute("INSERT INTO t(v) VALUES ('offline')", []).unwrap();
    let m = local.frame_count();
    let pushed = local.frames(n + 1, m + 1);
    // A start past the end: "I only have n" (in generation 1's numbering).
    let (_, v) = s.push(&format!("/sync/1/{}/{}", n + 2, m + 2), pushed.clone()).await;
    assert_eq!(v, json!({"status": "ok", "generation": 1, "max_frame_no": n, "baton": null}));
    let (status, v) = s.push(&format!("/sync/1/{}/{}", n + 1, m + 1), pushed.clone()).await;
    assert_eq!((status, v), (200, json!({"status": "ok", "generation": 1, "max_frame_no": m, "baton": null})));
    let rows = s.exec(&["SELECT v FROM t ORDER BY id"]).await;
    assert_eq!(rows[0]["rows"], json!([[{"type": "text", "value": "server"}], [{"type": "text", "value": "offline"}]]));
    // The replica's next pull: generation 1 is over, and generation 2 holds its frames from 1.
    let (status, body) = s.get(&format!("/sync/1/{}/{}", m + 1, m + 129)).await;
    assert_eq!(status, 400);
    assert_eq!(serde_json::from_slice::<Value>(&body).unwrap(), json!({"generation": 2}));
    assert_serves(&s, 2, 1, &pushed).await;
    let (status, _) = s.get(&format!("/sync/2/{}/{}", m - n + 1, m - n + 129)).await;
    assert_eq!(status, 400, "nothing more");
    // A lost answer: the same push again is idempotent.
    let (_, v) = s.push(&format!("/sync/1/{}/{}", n + 1, m + 1), pushed.clone()).await;
    assert_eq!(v, json!({"status": "ok", "generation": 1, "max_frame_no": m, "baton": null}));
    // Frames still inside generation 1 cannot be moved: a conflict.
    let (_, v) = push_frames(&s, &local, n, m + 1).await;
    assert_eq!(v["status"], "conflict", "{v}");

    // Another writer in generation 2 first: the replica's next frames no longer line up.
    s.exec(&["INSERT INTO t(v) VALUES ('server2')"]).await;
    local.conn.execute("INSERT INTO t(v) VALUES ('offline2')", []).unwrap();
    let k = local.frame_count();
    let (_, v) = push_frames(&s, &local, m + 1, k + 1).await;
    assert_eq!(v["status"], "conflict", "{v}");
    assert_eq!(v["generation"], 2, "{v}");
    // Two generations on: generation 2 had frames the replica never saw.
    assert!(ns.checkpoint(true).await.unwrap());
    let (_, v) = push_frames(&s, &local, m + 1, k + 1).await;
    assert_eq!(v["status"], "conflict", "{v}");
    let rows = s.exec(&["SELECT count(*) FROM t WHERE v = 'offline2'"]).await;
    assert_eq!(int(&rows[0]["rows"][0][0]), 0, "a conflicting push changes nothing");
}

/// A push split mid-commit whose first part arrived before a server checkpoint continues after
/// it with its baton, in the client's numbering.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_push_with_a_baton_continues_across_a_server_checkpoint() {
    let s = start().await;
    s.exec(&["CREATE TABLE t(v BLOB)"]).await;
    let local = Replica::clone_from(&s, "default");
    let n = local.frame_count();
    local.write_many_pages();
    let m = local.frame_count();
    let (a, b) = (n + 3, n + 6);
    let (_, v) = push_frames(&s, &local, n + 1, a).await;
    assert_eq!(v["status"], "ok", "{v}");
    let baton = v["baton"].as_str().unwrap().to_owned();
    let ns = s.running.state.namespaces.get("default").unwrap();
    assert!(ns.checkpoint(true).await.unwrap());
    let (_, v) = s.push(&format!("/sync/1/{a}/{b}/{baton}"), local.frames(a, b)).await;
    assert_eq!(v["status"], "ok", "{v}");
    assert_eq!((v["generation"].clone(), v["max_frame_no"].clone()), (json!(1), json!(b - 1)));
    let baton = v["baton"].as_str().unwrap().to_owned();
    let (_, v) = s.push(&format!("/sync/1/{b}/{}/{baton}", m + 1), local.frames(b, m + 1)).await;
    assert_eq!(v, json!({"status": "ok", "generation": 1, "max_frame_no": m, "baton": null}));
    assert_eq!(int(&s.exec(&["SELECT count(*) FROM t"]).await[0]["rows"][0][0]), 20);
    assert_serves(&s, 2, 1, &local.frames(n + 1, m + 1)).await;
}
