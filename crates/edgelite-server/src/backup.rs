//! Continuous backup of every namespace to object storage (`s3://BUCKET/PREFIX` or
//! `file:///path`), and point-in-time restore.
//!
//! What is shipped are the units the server already cuts its history into (see
//! [`crate::namespace`]): for each generation `g` of a namespace, a **snapshot** (the
//! generation's `export.db`) and **batches** of its committed WAL frames, each batch ending on a
//! commit and carrying the time of every commit in it. Keys, under the URL's prefix:
//!
//! - `<ns>/<g:010>/snapshot-<time:016>-<sha256>`: the database at the start of `g`; `time` (µs
//!   since the Unix epoch) is when the generation started, at or after every commit it holds;
//! - `<ns>/<g:010>/frames-<first:010>-<last:010>-<t_first:016>-<t_last:016>`: frames
//!   `first..=last` of `g`, with the times of their first and last commits.
//!
//! A listing therefore tells what can be restored without reading an object. Every object is
//! `MAGIC`, a gzip stream of (header length as u32 LE, JSON header, data), and the SHA-256 of
//! all that precedes it: a truncated, partial or altered object fails the check at restore, and
//! its header must name the very namespace, generation and frames of its key.
//!
//! A commit's time is stamped when the server first reads the WAL's committed count after it
//! (every request that committed does so before it is answered; see
//! [`crate::namespace::CommitWatch`]), so it lies between the start of the request and its
//! answer. Stamps not yet shipped are kept in `<ns dir>/backup-times` across restarts.
//!
//! Restore to time `T` takes the newest generation whose snapshot is at or before `T`, and
//! replays its frames commit by commit up to the last commit at or before `T`: a restore never
//! replays more than one generation, and only whole commits.

use std::collections::{BTreeMap, VecDeque};
use std::fs;
use std::io::{self, Read as _, Write as _};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use futures_util::StreamExt as _;
use futures_util::future::BoxFuture;
use object_store::path::Path as ObjPath;
use object_store::{ObjectStore, ObjectStoreExt as _};
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

use crate::namespace::{CommitWatch, Namespace, Namespaces, NsError, Pull, valid_name};
use crate::wal::{FRAME_SIZE, PAGE_SIZE, WAL_HEADER, frame_header};

/// Errors of backup and restore.
#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    /// The backup URL is not usable.
    #[error("backup URL {0}")]
    Url(String),
    /// The object store failed.
    #[error("object store: {0}")]
    Store(#[from] object_store::Error),
    /// A local file operation failed.
    #[error("i/o error: {0}")]
    Io(#[from] io::Error),
    /// An object failed its checksum or does not match its key.
    #[error("corrupt backup object {key}: {why}")]
    Corrupt {
        /// The object's key.
        key: String,
        /// What is wrong.
        why: String,
    },
    /// Nothing in the bucket can restore what was asked.
    #[error("{0}")]
    NotFound(String),
    /// The restored database fails SQLite's check, or cannot be opened.
    #[error("restored database of {0:?} is not sound: {1}")]
    Unsound(String, String),
    /// The target directory already holds the namespace.
    #[error("{0} already exists; restore into a data directory without it")]
    Exists(PathBuf),
    /// A namespace error.
    #[error(transparent)]
    Ns(#[from] NsError),
    /// A database error.
    #[error("database error: {0}")]
    Sql(#[from] edgelite::Error),
}

type Result<T, E = BackupError> = std::result::Result<T, E>;

/// What a write's answer waits for (`--durability`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Durability {
    /// The local disk (today's behaviour); frames are shipped asynchronously.
    #[default]
    Local,
    /// The bucket: a write is answered once its frames are stored there.
    Backup,
}

/// Backup settings (the `--backup-*` and `--durability` flags).
#[derive(Clone, Debug)]
pub struct BackupConfig {
    /// `s3://BUCKET/PREFIX` or `file:///path`.
    pub url: String,
    /// How often committed frames are shipped (bounds what `local` durability can lose).
    pub interval: Duration,
    /// What a write's answer waits for.
    pub durability: Durability,
    /// How long a write waits for the bucket with `backup` durability before it fails.
    pub timeout: Duration,
    /// Generations whose every restore point is older than this are removed.
    pub retention: Option<Duration>,
    /// S3 settings as `object_store` keys, over the `AWS_*` variables (for embedding).
    pub s3_options: Vec<(String, String)>,
}

impl BackupConfig {
    /// Defaults for everything but the URL.
    #[must_use]
    pub fn new(url: String) -> BackupConfig {
        BackupConfig {
            url,
            interval: Duration::from_millis(1000),
            durability: Durability::Local,
            timeout: Duration::from_secs(10),
            retention: None,
            s3_options: Vec::new(),
        }
    }
}

/// Microseconds since the Unix epoch, now.
#[must_use]
pub fn now_micros() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_micros()).unwrap_or(i64::MAX))
}

/// An RFC 3339 time as microseconds since the Unix epoch.
///
/// # Errors
///
/// Not an RFC 3339 time.
pub fn parse_time(text: &str) -> Result<i64, String> {
    chrono::DateTime::parse_from_rfc3339(text)
        .map(|t| t.timestamp_micros())
        .map_err(|e| format!("{text:?} is not an RFC 3339 time (e.g. 2026-01-31T12:00:00.5Z): {e}"))
}

/// Microseconds since the Unix epoch as RFC 3339 (UTC, microseconds).
#[must_use]
pub fn format_time(micros: i64) -> String {
    chrono::DateTime::from_timestamp_micros(micros)
        .map_or_else(|| micros.to_string(), |t| t.to_rfc3339_opts(chrono::SecondsFormat::Micros, true))
}

// ---------------------------------------------------------------------------------------------
// The target: an object store and a prefix.

/// Where backups go.
#[derive(Clone, Debug)]
pub struct Target {
    store: Arc<dyn ObjectStore>,
    /// `""` or `"some/prefix/"`.
    prefix: String,
}

impl Target {
    /// Opens `s3://BUCKET/PREFIX` (settings from the standard `AWS_*` variables:
    /// `AWS_ENDPOINT_URL`, `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_REGION`; an
    /// `http://` endpoint is allowed) or `file:///path` (created if missing).
    ///
    /// # Errors
    ///
    /// A malformed or unsupported URL; a store that cannot be built.
    pub fn open(url: &str) -> Result<Target> {
        Target::open_with(url, &[])
    }

    /// [`Target::open`] with S3 settings given as `object_store` keys (`aws_endpoint`,
    /// `aws_access_key_id`, …) over those of the environment.
    ///
    /// # Errors
    ///
    /// A malformed or unsupported URL or key; a store that cannot be built.
    pub fn open_with(url: &str, s3_options: &[(String, String)]) -> Result<Target> {
        if let Some(path) = url.strip_prefix("file://") {
            if !path.starts_with('/') {
                return Err(BackupError::Url(format!("{url:?}: a file URL needs an absolute path (file:///dir)")));
            }
            fs::create_dir_all(path)?;
            let store = object_store::local::LocalFileSystem::new_with_prefix(path)?;
            return Ok(Target { store: Arc::new(store), prefix: String::new() });
        }
        let Some(rest) = url.strip_prefix("s3://") else {
            return Err(BackupError::Url(format!("{url:?}: use s3://BUCKET/PREFIX or file:///path")));
        };
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        if bucket.is_empty() {
            return Err(BackupError::Url(format!("{url:?} names no bucket")));
        }
        let prefix = prefix.trim_matches('/');
        // The TLS of object_store's client uses rustls with ring, set once per process.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let mut b = object_store::aws::AmazonS3Builder::from_env().with_bucket_name(bucket);
        let mut endpoint = std::env::var("AWS_ENDPOINT_URL").or_else(|_| std::env::var("AWS_ENDPOINT_URL_S3")).ok();
        for (k, v) in s3_options {
            let key = k.to_ascii_lowercase().parse().map_err(|e| BackupError::Url(format!("S3 option {k:?}: {e}")))?;
            if matches!(key, object_store::aws::AmazonS3ConfigKey::Endpoint) {
                endpoint = Some(v.clone());
            }
            b = b.with_config(key, v);
        }
        let allow_http = endpoint.as_deref().is_some_and(|e| e.starts_with("http://"));
        let region_given = s3_options.iter().any(|(k, _)| k.eq_ignore_ascii_case("aws_region"));
        if !region_given && std::env::var_os("AWS_REGION").is_none() && std::env::var_os("AWS_DEFAULT_REGION").is_none()
        {
            b = b.with_region("us-east-1");
        }
        // Few quick retries: an unreachable bucket must show as a failure within the shipping
        // loop's and the writers' timeouts, and the loop retries anyway.
        let retry = object_store::RetryConfig {
            backoff: object_store::BackoffConfig::default(),
            max_retries: 2,
            retry_timeout: Duration::from_secs(5),
        };
        let options = object_store::ClientOptions::new()
            .with_allow_http(allow_http)
            .with_connect_timeout(Duration::from_secs(2))
            .with_timeout(Duration::from_secs(60));
        let store = b.with_retry(retry).with_client_options(options).build()?;
        let prefix = if prefix.is_empty() { String::new() } else { format!("{prefix}/") };
        Ok(Target { store: Arc::new(store), prefix })
    }

    fn path(&self, rel: &str) -> ObjPath {
        ObjPath::from(format!("{}{rel}", self.prefix))
    }

    async fn put(&self, rel: &str, bytes: Vec<u8>) -> Result<()> {
        self.store.put(&self.path(rel), bytes.into()).await?;
        Ok(())
    }

    async fn get(&self, rel: &str) -> Result<Vec<u8>> {
        Ok(self.store.get(&self.path(rel)).await?.bytes().await?.to_vec())
    }

    async fn delete(&self, rel: &str) -> Result<()> {
        self.store.delete(&self.path(rel)).await?;
        Ok(())
    }

    /// Every object under `rel` (relative keys), parsed where they are ours.
    async fn list(&self, rel: &str) -> Result<Vec<Entry>> {
        let base = self.path(rel);
        let mut out = Vec::new();
        let mut stream = self.store.list(Some(&base));
        while let Some(meta) = stream.next().await {
            let meta = meta?;
            let key = meta.location.as_ref();
            if let Some(rel) = key.strip_prefix(self.prefix.as_str())
                && let Some(e) = Entry::parse(rel)
            {
                out.push(e);
            }
        }
        Ok(out)
    }
}

// ---------------------------------------------------------------------------------------------
// Keys and objects.

/// A backup object, from its key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    /// The namespace.
    pub ns: String,
    /// The generation.
    pub generation: u32,
    /// What it holds.
    pub kind: Kind,
}

/// What a backup object holds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Kind {
    /// The database at the start of the generation.
    Snapshot {
        /// When the generation started (µs since the epoch).
        time: i64,
        /// SHA-256 of the database file, hex.
        sha256: String,
    },
    /// Frames `first..=last`.
    Frames {
        /// The first frame.
        first: u32,
        /// The last frame (a commit).
        last: u32,
        /// The time of the first commit.
        t_first: i64,
        /// The time of the last commit.
        t_last: i64,
    },
}

impl Entry {
    /// The object's key (relative to the target's prefix).
    #[must_use]
    pub fn key(&self) -> String {
        let (ns, g) = (&self.ns, self.generation);
        match &self.kind {
            Kind::Snapshot { time, sha256 } => format!("{ns}/{g:010}/snapshot-{time:016}-{sha256}"),
            Kind::Frames { first, last, t_first, t_last } => {
                format!("{ns}/{g:010}/frames-{first:010}-{last:010}-{t_first:016}-{t_last:016}")
            }
        }
    }

    fn parse(key: &str) -> Option<Entry> {
        let mut parts = key.split('/');
        let (ns, g, name) = (parts.next()?, parts.next()?, parts.next()?);
        if parts.next().is_some() || !valid_name(ns) {
            return None;
        }
        let generation = g.parse().ok()?;
        let kind = if let Some(rest) = name.strip_prefix("snapshot-") {
            let (time, sha) = rest.split_once('-')?;
            if sha.len() != 64 || !sha.bytes().all(|b| b.is_ascii_hexdigit()) {
                return None;
            }
            Kind::Snapshot { time: time.parse().ok()?, sha256: sha.to_owned() }
        } else if let Some(rest) = name.strip_prefix("frames-") {
            let mut f = rest.split('-');
            let kind = Kind::Frames {
                first: f.next()?.parse().ok()?,
                last: f.next()?.parse().ok()?,
                t_first: f.next()?.parse().ok()?,
                t_last: f.next()?.parse().ok()?,
            };
            if f.next().is_some() {
                return None;
            }
            kind
        } else {
            return None;
        };
        let e = Entry { ns: ns.to_owned(), generation, kind };
        // Only keys written as we write them: a stray object never shadows a real one.
        (e.key() == key).then_some(e)
    }
}

const MAGIC: &[u8; 8] = b"EDLBAK01";

/// The header of a frames object.
#[derive(Serialize, Deserialize, Debug, PartialEq, Eq)]
struct FramesHeader {
    ns: String,
    generation: u32,
    first: u32,
    last: u32,
    /// Each commit frame and its time (µs since the epoch).
    commits: Vec<(u32, i64)>,
}

/// The header of a snapshot object.
#[derive(Serialize, Deserialize, Debug, PartialEq, Eq)]
struct SnapshotHeader {
    ns: String,
    generation: u32,
    time: i64,
    sha256: String,
    /// The namespace's own token key, if it has one.
    jwt_key: Option<String>,
}

fn sha256_hex(data: &[u8]) -> String {
    use std::fmt::Write as _;
    let mut s = String::with_capacity(64);
    for b in Sha256::digest(data) {
        let _ = write!(s, "{b:02x}");
    }
    s
}

/// An object: magic, gzip(header length, header, data), SHA-256 of what precedes.
fn seal(header: &impl Serialize, data: &[u8]) -> io::Result<Vec<u8>> {
    let header = serde_json::to_vec(header).map_err(io::Error::other)?;
    let len = u32::try_from(header.len()).map_err(io::Error::other)?;
    let mut out = MAGIC.to_vec();
    let mut gz = flate2::write::GzEncoder::new(&mut out, flate2::Compression::fast());
    gz.write_all(&len.to_le_bytes())?;
    gz.write_all(&header)?;
    gz.write_all(data)?;
    gz.finish()?;
    let sum = Sha256::digest(&out);
    out.extend_from_slice(&sum);
    Ok(out)
}

/// Checks and opens an object: its header and data.
fn unseal<H: for<'de> Deserialize<'de>>(key: &str, object: &[u8]) -> Result<(H, Vec<u8>)> {
    let corrupt = |why: String| BackupError::Corrupt { key: key.to_owned(), why };
    if object.len() < MAGIC.len() + 32 || &object[..MAGIC.len()] != MAGIC {
        return Err(corrupt("not a backup object (no magic, or too short)".into()));
    }
    let (body, sum) = object.split_at(object.len() - 32);
    if Sha256::digest(body).as_slice() != sum {
        return Err(corrupt("checksum mismatch (a partial or altered object)".into()));
    }
    let mut plain = Vec::new();
    flate2::read::GzDecoder::new(&body[MAGIC.len()..])
        .read_to_end(&mut plain)
        .map_err(|e| corrupt(format!("does not decompress: {e}")))?;
    if plain.len() < 4 {
        return Err(corrupt("no header".into()));
    }
    let len = u32::from_le_bytes([plain[0], plain[1], plain[2], plain[3]]) as usize;
    if plain.len() < 4 + len {
        return Err(corrupt("header past the end".into()));
    }
    let header = serde_json::from_slice(&plain[4..4 + len]).map_err(|e| corrupt(format!("bad header: {e}")))?;
    let data = plain.split_off(4 + len);
    Ok((header, data))
}

// ---------------------------------------------------------------------------------------------
// What the bucket holds.

/// One generation of a namespace in the bucket.
#[derive(Debug, Default, Clone)]
pub struct GenObjects {
    /// Its snapshots (normally one; a snapshot shipped again after a crash adds another).
    pub snapshots: Vec<(i64, String)>,
    /// Its frame batches, sorted by (first, last).
    pub batches: Vec<(u32, u32, i64, i64)>,
}

impl GenObjects {
    /// The end of the frames that follow on from frame 1 without a gap, and the time of the
    /// last commit among them.
    #[must_use]
    pub fn contiguous(&self) -> (u32, Option<i64>) {
        let mut end = 0;
        let mut t = None;
        for &(first, last, _, t_last) in &self.batches {
            if first > end + 1 {
                break;
            }
            if last > end {
                end = last;
                t = Some(t_last);
            }
        }
        (end, t)
    }

    /// The earliest snapshot time (a later one holds the same content).
    #[must_use]
    pub fn snapshot(&self) -> Option<&(i64, String)> {
        self.snapshots.iter().min_by_key(|s| s.0)
    }
}

/// Every namespace's generations in the bucket.
pub type Catalog = BTreeMap<String, BTreeMap<u32, GenObjects>>;

/// Lists the bucket (or one namespace of it).
///
/// # Errors
///
/// Store errors.
pub async fn catalog(target: &Target, only: Option<&str>) -> Result<Catalog> {
    let rel = only.map_or_else(String::new, |ns| format!("{ns}/"));
    let mut cat = Catalog::new();
    for e in target.list(&rel).await? {
        let g = cat.entry(e.ns).or_default().entry(e.generation).or_default();
        match e.kind {
            Kind::Snapshot { time, sha256 } => g.snapshots.push((time, sha256)),
            Kind::Frames { first, last, t_first, t_last } => g.batches.push((first, last, t_first, t_last)),
        }
    }
    for gens in cat.values_mut() {
        for g in gens.values_mut() {
            g.batches.sort_unstable();
        }
    }
    Ok(cat)
}

// ---------------------------------------------------------------------------------------------
// Restore.

/// What a restore produced.
#[derive(Debug, Clone)]
pub struct Restored {
    /// The generation it was restored from.
    pub generation: u32,
    /// Frames of that generation replayed.
    pub frames: u32,
    /// The time of the last commit it holds (the snapshot's time if no frame was replayed).
    pub as_of: i64,
    /// The newest generation in the bucket (the restored namespace continues after it).
    pub newest_generation: u32,
    /// The namespace's own token key.
    pub jwt_key: Option<String>,
}

/// The database of `ns` after the last commit at or before `to` (the latest if `None`), as a
/// file image, checked object by object.
///
/// # Errors
///
/// Nothing restorable; corrupt objects; store errors.
pub async fn restore_image(target: &Target, ns: &str, to: Option<i64>) -> Result<(Vec<u8>, Restored)> {
    let cat = catalog(target, Some(ns)).await?;
    let gens = cat.get(ns).ok_or_else(|| BackupError::NotFound(format!("the bucket holds no namespace {ns:?}")))?;
    restore_from(target, ns, gens, to).await
}

async fn restore_from(
    target: &Target,
    ns: &str,
    gens: &BTreeMap<u32, GenObjects>,
    to: Option<i64>,
) -> Result<(Vec<u8>, Restored)> {
    let newest_generation = gens.keys().next_back().copied().unwrap_or(0);
    let limit = to.unwrap_or(i64::MAX);
    let (g, objs, (snap_time, snap_sha)) = gens
        .iter()
        .rev()
        .find_map(|(g, o)| o.snapshots.iter().filter(|s| s.0 <= limit).min_by_key(|s| s.0).map(|s| (*g, o, s.clone())))
        .ok_or_else(|| {
            BackupError::NotFound(match to {
                Some(t) => format!("namespace {ns:?} has no restore point at or before {}", format_time(t)),
                None => format!("namespace {ns:?} has no snapshot in the bucket"),
            })
        })?;
    let key =
        Entry { ns: ns.into(), generation: g, kind: Kind::Snapshot { time: snap_time, sha256: snap_sha.clone() } }
            .key();
    let (header, mut db): (SnapshotHeader, Vec<u8>) = unseal(&key, &target.get(&key).await?)?;
    let corrupt = |key: &str, why: String| BackupError::Corrupt { key: key.to_owned(), why };
    if header.ns != ns || header.generation != g || header.time != snap_time || header.sha256 != snap_sha {
        return Err(corrupt(&key, "its header does not match its key".into()));
    }
    if sha256_hex(&db) != snap_sha {
        return Err(corrupt(&key, "the database's SHA-256 does not match".into()));
    }
    let mut pos = 0u32;
    let mut as_of = snap_time;
    'batches: for &(first, last, t_first, t_last) in &objs.batches {
        if last <= pos {
            continue; // a duplicate, or a batch shipped again after a retry: already applied
        }
        if t_first > limit {
            break;
        }
        if first > pos + 1 {
            return Err(BackupError::NotFound(format!(
                "namespace {ns:?} generation {g}: frames {}..{} are missing from the bucket",
                pos + 1,
                first - 1
            )));
        }
        let e = Entry { ns: ns.into(), generation: g, kind: Kind::Frames { first, last, t_first, t_last } };
        let key = e.key();
        let (h, frames): (FramesHeader, Vec<u8>) = unseal(&key, &target.get(&key).await?)?;
        let count = (last - first + 1) as usize;
        if h.ns != ns || h.generation != g || h.first != first || h.last != last || frames.len() != count * FRAME_SIZE {
            return Err(corrupt(&key, "its header or size does not match its key".into()));
        }
        let mut commits = h.commits.iter().peekable();
        for (i, f) in frames.chunks_exact(FRAME_SIZE).enumerate() {
            let no = first + i as u32;
            let fh = frame_header(f);
            if fh.commit_size == 0 {
                continue;
            }
            let Some(&&(c_no, c_time)) = commits.peek() else {
                return Err(corrupt(&key, format!("frame {no} commits but has no time")));
            };
            if c_no != no {
                return Err(corrupt(&key, format!("commit times do not match the frames at {no}")));
            }
            commits.next();
            if no <= pos {
                continue;
            }
            if c_time > limit {
                break 'batches;
            }
            // A whole commit: frames pos+1..=no.
            let start = (pos + 1 - first) as usize;
            for frame in frames[start * FRAME_SIZE..(i + 1) * FRAME_SIZE].chunks_exact(FRAME_SIZE) {
                apply_frame(&mut db, frame).map_err(|why| corrupt(&key, why))?;
            }
            pos = no;
            as_of = c_time;
        }
    }
    Ok((db, Restored { generation: g, frames: pos, as_of, newest_generation, jwt_key: header.jwt_key }))
}

fn apply_frame(db: &mut Vec<u8>, frame: &[u8]) -> Result<(), String> {
    let h = frame_header(frame);
    if h.pgno == 0 {
        return Err("a frame has page number 0".into());
    }
    let at = (h.pgno as usize - 1) * PAGE_SIZE;
    if db.len() < at + PAGE_SIZE {
        db.resize(at + PAGE_SIZE, 0);
    }
    db[at..at + PAGE_SIZE].copy_from_slice(&frame[FRAME_SIZE - PAGE_SIZE..]);
    if h.commit_size != 0 {
        db.resize(h.commit_size as usize * PAGE_SIZE, 0);
    }
    Ok(())
}

/// Writes a restored image to `path` and checks it with `PRAGMA quick_check`. Blocking.
fn write_checked(ns: &str, image: &[u8], path: &Path) -> Result<()> {
    let tmp = path.with_extension("restoring");
    {
        let mut f = fs::File::create(&tmp)?;
        f.write_all(image)?;
        f.sync_all()?;
    }
    let check = (|| -> Result<Vec<String>, edgelite::Error> {
        let conn = edgelite::Connection::open(&tmp)?;
        let mut stmt = conn.prepare("PRAGMA quick_check")?;
        let rows = stmt.query_map([], |r| r.get::<_, String>(0))?;
        rows.collect()
    })();
    let _ = fs::remove_file(tmp.with_extension("restoring-wal"));
    let _ = fs::remove_file(tmp.with_extension("restoring-shm"));
    match check {
        Ok(p) if p.len() == 1 && p[0] == "ok" => {}
        Ok(p) => {
            let _ = fs::remove_file(&tmp);
            return Err(BackupError::Unsound(ns.into(), p.into_iter().take(3).collect::<Vec<_>>().join("; ")));
        }
        Err(e) => {
            let _ = fs::remove_file(&tmp);
            return Err(BackupError::Unsound(ns.into(), e.to_string()));
        }
    }
    fs::rename(&tmp, path)?;
    Ok(())
}

/// Writes the database of `ns` after the last commit at or before `to` to the file `path`
/// (checked; for a fork from a point in time).
///
/// # Errors
///
/// See [`restore_image`].
pub async fn restore_to_file(target: &Target, ns: &str, to: Option<i64>, path: &Path) -> Result<Restored> {
    let (image, r) = restore_image(target, ns, to).await?;
    let (ns, path) = (ns.to_owned(), path.to_owned());
    blocking(move || write_checked(&ns, &image, &path)).await?;
    Ok(r)
}

/// Writes namespace `ns`, restored, into `<db_path>/dbs/<ns>/` laid out for the server: the
/// database, and a generation numbered after the newest in the bucket, whose export is the
/// restored file (so that the server's backup continues the namespace's history there).
///
/// # Errors
///
/// The namespace exists there already; see [`restore_image`].
pub async fn restore_namespace(target: &Target, db_path: &Path, ns: &str, to: Option<i64>) -> Result<Restored> {
    let dir = db_path.join("dbs").join(ns);
    if dir.join("data").exists() {
        return Err(BackupError::Exists(dir));
    }
    let (image, r) = restore_image(target, ns, to).await?;
    let (ns_owned, r2) = (ns.to_owned(), r.clone());
    tokio::task::spawn_blocking(move || -> Result<()> {
        let g = r2.newest_generation + 1;
        let gd = dir.join("gens").join(g.to_string());
        fs::create_dir_all(&gd)?;
        write_checked(&ns_owned, &image, &gd.join("export.db"))?;
        fs::copy(gd.join("export.db"), dir.join("data"))?;
        if let Some(k) = &r2.jwt_key {
            fs::write(dir.join("jwt_key"), k)?;
        }
        fs::write(dir.join("generation"), g.to_string())?;
        Ok(())
    })
    .await
    .map_err(|e| BackupError::Io(io::Error::other(e.to_string())))??;
    Ok(r)
}

/// Restores every namespace of the bucket (or `only`) into `db_path`; returns what was restored.
///
/// # Errors
///
/// See [`restore_namespace`]; an `only` the bucket does not hold.
pub async fn restore_all(
    target: &Target,
    db_path: &Path,
    only: Option<&str>,
    to: Option<i64>,
) -> Result<Vec<(String, Restored)>> {
    let cat = catalog(target, only).await?;
    if let Some(ns) = only
        && !cat.contains_key(ns)
    {
        return Err(BackupError::NotFound(format!("the bucket holds no namespace {ns:?}")));
    }
    let mut out = Vec::new();
    for ns in cat.keys() {
        out.push((ns.clone(), restore_namespace(target, db_path, ns, to).await?));
    }
    Ok(out)
}

/// Whether a data directory holds no namespace yet (a new machine).
#[must_use]
pub fn is_empty_data_dir(db_path: &Path) -> bool {
    match fs::read_dir(db_path.join("dbs")) {
        Ok(mut entries) => entries.next().is_none(),
        Err(_) => true,
    }
}

/// What `edgelite-server backups` prints: per namespace and generation, what can be restored.
///
/// # Errors
///
/// Store errors.
pub async fn describe(target: &Target, only: Option<&str>) -> Result<String> {
    use std::fmt::Write as _;
    let cat = catalog(target, only).await?;
    let mut out = String::new();
    for (ns, gens) in &cat {
        let mut from = None;
        let mut until = None;
        let _ = writeln!(out, "namespace {ns}");
        for (g, o) in gens {
            let (end, t_last) = o.contiguous();
            let snap = o.snapshot().map_or_else(|| "none".to_owned(), |s| format_time(s.0));
            let _ = writeln!(
                out,
                "  generation {g}: snapshot {snap}, frames 1..={end}{}",
                match t_last {
                    Some(t) => format!(", commits until {}", format_time(t)),
                    None => String::new(),
                }
            );
            if let Some(s) = o.snapshot() {
                from = Some(from.map_or(s.0, |f: i64| f.min(s.0)));
                until = Some(until.map_or(s.0, |u: i64| u.max(s.0)).max(t_last.unwrap_or(s.0)));
            }
        }
        match (from, until) {
            (Some(f), Some(u)) => {
                let _ = writeln!(out, "  restorable from {} to {}", format_time(f), format_time(u));
            }
            _ => {
                let _ = writeln!(out, "  nothing restorable (no snapshot)");
            }
        }
    }
    if cat.is_empty() {
        out.push_str("no backups\n");
    }
    Ok(out)
}

/// Removes the generations that retention makes obsolete: for each namespace, every generation
/// older than the newest one whose snapshot is older than `now - keep` (that one stays: it is
/// what restores the start of the window). Returns the number of objects removed.
///
/// # Errors
///
/// Store errors.
pub async fn apply_retention(target: &Target, keep: Duration) -> Result<usize> {
    let cutoff = now_micros().saturating_sub(i64::try_from(keep.as_micros()).unwrap_or(i64::MAX));
    let cat = catalog(target, None).await?;
    let mut removed = 0;
    for (ns, gens) in &cat {
        let Some(oldest_kept) =
            gens.iter().rev().find(|(_, o)| o.snapshot().is_some_and(|s| s.0 <= cutoff)).map(|(g, _)| *g)
        else {
            continue;
        };
        for (g, o) in gens.range(..oldest_kept) {
            for (time, sha256) in &o.snapshots {
                let kind = Kind::Snapshot { time: *time, sha256: sha256.clone() };
                target.delete(&Entry { ns: ns.clone(), generation: *g, kind }.key()).await?;
                removed += 1;
            }
            for &(first, last, t_first, t_last) in &o.batches {
                let kind = Kind::Frames { first, last, t_first, t_last };
                target.delete(&Entry { ns: ns.clone(), generation: *g, kind }.key()).await?;
                removed += 1;
            }
        }
    }
    Ok(removed)
}

// ---------------------------------------------------------------------------------------------
// Commit stamps.

/// The times of commits not yet shipped, in memory and in `<ns dir>/backup-times` (records of
/// generation u32 LE, committed frames u32 LE, µs i64 LE), so that a restart keeps them.
struct Stamps {
    /// The last (generation, frames) stamped.
    last: (u32, u32),
    last_time: i64,
    records: VecDeque<(u32, u32, i64)>,
    path: PathBuf,
    file: Option<fs::File>,
    /// Records dropped from memory since the file was last rewritten.
    dropped: usize,
}

const STAMP: usize = 16;

impl Stamps {
    fn load(path: PathBuf) -> Stamps {
        let bytes = fs::read(&path).unwrap_or_default();
        let records: VecDeque<(u32, u32, i64)> = bytes
            .chunks_exact(STAMP)
            .map(|r| {
                let u = |a: usize| u32::from_le_bytes([r[a], r[a + 1], r[a + 2], r[a + 3]]);
                let mut t = [0u8; 8];
                t.copy_from_slice(&r[8..16]);
                (u(0), u(4), i64::from_le_bytes(t))
            })
            .collect();
        let last = records.back().map_or((0, 0), |r| (r.0, r.1));
        let last_time = records.back().map_or(0, |r| r.2);
        // A record cut short by a crash is dropped (its commit takes a later stamp).
        if !bytes.len().is_multiple_of(STAMP) {
            let _ = fs::File::options().write(true).open(&path).and_then(|f| f.set_len((records.len() * STAMP) as u64));
        }
        let file = fs::File::options().create(true).append(true).open(&path).ok();
        Stamps { last, last_time, records, path, file, dropped: 0 }
    }

    fn record(&mut self, g: u32, n: u32) {
        if (g, n) <= self.last || n == 0 {
            return;
        }
        // Never earlier than a stamp before it: restore cuts at the first commit past T.
        let t = now_micros().max(self.last_time);
        self.last = (g, n);
        self.last_time = t;
        self.records.push_back((g, n, t));
        if let Some(f) = self.file.as_mut() {
            let mut r = [0u8; STAMP];
            r[..4].copy_from_slice(&g.to_le_bytes());
            r[4..8].copy_from_slice(&n.to_le_bytes());
            r[8..].copy_from_slice(&t.to_le_bytes());
            // Without fsync: the file outlives a killed process; after a power loss the stamps
            // lost fall back to the shipping time.
            let _ = f.write_all(&r);
        }
    }

    /// The time of commit frame `frame` of generation `g`: the first stamp that covers it.
    fn time_of(&self, g: u32, frame: u32) -> Option<i64> {
        self.records.iter().find(|r| (r.0, r.1) >= (g, frame)).map(|r| r.2)
    }

    /// Forgets the stamps of frames shipped up to `(g, n)`.
    fn shipped(&mut self, g: u32, n: u32) {
        while self.records.front().is_some_and(|r| (r.0, r.1) <= (g, n)) {
            self.records.pop_front();
            self.dropped += 1;
        }
        if self.dropped >= 4096 {
            self.rewrite();
        }
    }

    fn rewrite(&mut self) {
        let tmp = self.path.with_extension("tmp");
        let mut bytes = Vec::with_capacity(self.records.len() * STAMP);
        for &(g, n, t) in &self.records {
            bytes.extend_from_slice(&g.to_le_bytes());
            bytes.extend_from_slice(&n.to_le_bytes());
            bytes.extend_from_slice(&t.to_le_bytes());
        }
        if fs::write(&tmp, &bytes).and_then(|()| fs::rename(&tmp, &self.path)).is_ok() {
            self.file = fs::File::options().append(true).open(&self.path).ok();
            self.dropped = 0;
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Shipping.

/// Frames per object at most (16 MiB of frames), unless one commit is larger.
const BATCH_FRAMES: u32 = 4096;

/// `<ns dir>/backup-shipped`: how far this server last knew the bucket to hold the namespace
/// (`"<generation> <frames>\n<backup URL>\n"`), rewritten after every object stored.
pub const SHIPPED_FILE: &str = "backup-shipped";

/// Whether the namespace in `dir` may hold something the bucket at `url` lacks, judged from its
/// files alone (two small reads and a `stat`; the database is not opened): no record of what was
/// shipped (a namespace never backed up, or backed up elsewhere), a newer generation than the one
/// shipped, or a WAL longer than the frames shipped. It errs only towards `true`: a WAL that holds
/// frames of a transaction that never committed looks like a lag, and the namespace is opened for
/// nothing. Blocking.
#[must_use]
pub fn lags(dir: &Path, url: &str) -> bool {
    let Some(shipped) = fs::read_to_string(dir.join(SHIPPED_FILE)).ok() else { return true };
    let mut lines = shipped.lines();
    let pos = lines.next().and_then(|l| {
        let (g, n) = l.split_once(' ')?;
        Some((g.parse::<u32>().ok()?, n.parse::<u32>().ok()?))
    });
    let Some((g, n)) = pos else { return true };
    if lines.next() != Some(url) {
        return true;
    }
    let local = fs::read_to_string(dir.join("generation")).ok().and_then(|s| s.trim().parse::<u32>().ok());
    if local != Some(g) {
        return true;
    }
    let wal = fs::metadata(dir.join("data-wal")).map_or(0, |m| m.len());
    wal > WAL_HEADER as u64 + u64::from(n) * FRAME_SIZE as u64
}

/// Namespaces the startup catch-up opens at once (each also counts against
/// `--max-open-databases`, and is closed again once shipped).
const CATCH_UP_WORKERS: usize = 2;

/// What became of one namespace in the catch-up.
enum CatchUp {
    /// Shipped up to where it stood when opened.
    Shipped,
    /// Nothing to do (gone, already open with its shipper, or its backup stopped).
    Skip,
    /// Try again later (the bucket fails, or no database can be opened now).
    Later,
}

/// Where a namespace's shipping stands: everything up to `frames` of `generation` is in the
/// bucket, and the generation's snapshot if `snapshot`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Progress {
    generation: u32,
    frames: u32,
    snapshot: bool,
}

/// One namespace's shipper.
struct NsBackup {
    name: String,
    ns: Weak<Namespace>,
    /// The namespace's directory (for [`SHIPPED_FILE`]).
    dir: PathBuf,
    target: Target,
    config: BackupConfig,
    stamps: Mutex<Stamps>,
    progress: Mutex<Option<Progress>>,
    /// (generation, frames) stored in the bucket.
    shipped: tokio::sync::watch::Sender<(u32, u32)>,
    wake: tokio::sync::Notify,
    /// Why the last attempt failed, until one succeeds (shared with waiting writers).
    failing: Arc<Mutex<Option<String>>>,
    /// Set when the bucket holds another history of this namespace: nothing is shipped.
    diverged: Mutex<Option<String>>,
    stop: AtomicBool,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl CommitWatch for NsBackup {
    fn committed(&self, generation: u32, frames: u32) {
        lock(&self.stamps).record(generation, frames);
    }

    fn admit(&self) -> Result<(), String> {
        if self.config.durability != Durability::Backup {
            return Ok(());
        }
        if let Some(d) = lock(&self.diverged).as_ref() {
            return Err(format!(
                "namespace {:?} is not backed up ({d}); with --durability backup it refuses requests",
                self.name
            ));
        }
        match lock(&self.failing).as_ref() {
            Some(e) => Err(format!(
                "the backup bucket is failing ({e}); with --durability backup requests are refused until the \
                 frames waiting are stored"
            )),
            None => Ok(()),
        }
    }

    fn unshipped_from(&self) -> Option<u32> {
        // a backup that stopped (another history in the bucket) ships nothing more
        if lock(&self.diverged).is_some() {
            return None;
        }
        // Until the bucket was listed (the shipper's start, or a bucket failing since the
        // namespace opened), where it stands is unknown: keep every generation. Removing them
        // then made the shipper, once the bucket answered, take the namespace for a restored
        // one and skip every generation in between (a reviewer's point-in-time restore gave 3
        // rows of 17).
        Some(lock(&self.progress).map_or(0, |p| p.generation))
    }

    fn caught_up(&self) -> bool {
        // A namespace whose backup stopped (another history in the bucket) ships nothing anyway;
        // with the bucket failing, the rest ships when the namespace is opened again (holding
        // every such namespace open would soon refuse every other tenant).
        if lock(&self.diverged).is_some() || lock(&self.failing).is_some() {
            return true;
        }
        let last = lock(&self.stamps).last;
        *self.shipped.borrow() >= last
    }

    fn durable(&self, generation: u32, frames: u32) -> BoxFuture<'static, Result<(), String>> {
        if self.config.durability != Durability::Backup {
            return Box::pin(async { Ok(()) });
        }
        self.wake.notify_one();
        let mut rx = self.shipped.subscribe();
        let timeout = self.config.timeout;
        let failing = Arc::clone(&self.failing);
        let diverged = lock(&self.diverged).clone();
        Box::pin(async move {
            if let Some(d) = diverged {
                return Err(format!("the write was committed on this server but is not backed up: {d}"));
            }
            match tokio::time::timeout(timeout, rx.wait_for(|&p| p >= (generation, frames))).await {
                Ok(Ok(_)) => Ok(()),
                _ => Err(format!(
                    "the write was committed on this server but was not stored in the backup bucket within {} ms \
                     (--backup-timeout-ms){}; it stays here and is shipped once the bucket is reachable",
                    timeout.as_millis(),
                    lock(&failing).as_ref().map(|e| format!(" (the bucket fails: {e})")).unwrap_or_default()
                )),
            }
        })
    }
}

/// Runs `f` with the namespace on a blocking thread.
async fn blocking<T: Send + 'static>(f: impl FnOnce() -> Result<T> + Send + 'static) -> Result<T> {
    tokio::task::spawn_blocking(f).await.map_err(|e| BackupError::Io(io::Error::other(e.to_string())))?
}

impl NsBackup {
    fn ns(&self) -> Option<Arc<Namespace>> {
        if self.stop.load(Ordering::Acquire) { None } else { self.ns.upgrade() }
    }

    /// Where to resume, from what the bucket holds.
    async fn init(&self) -> Result<()> {
        let Some(ns) = self.ns() else { return Ok(()) };
        let cat = catalog(&self.target, Some(&self.name)).await?;
        let n2 = Arc::clone(&ns);
        let current = blocking(move || Ok(n2.position()?.0)).await?;
        let gens = cat.get(&self.name);
        let newest = gens.and_then(|g| g.iter().next_back());
        let progress = match newest {
            None => Progress { generation: current, frames: 0, snapshot: false },
            Some((&gb, objs)) => {
                let local_sha = match ns.export_path(gb) {
                    Some(p) => Some(blocking(move || Ok(sha256_hex(&fs::read(p)?))).await?),
                    None => None,
                };
                let same = match (objs.snapshots.is_empty(), &local_sha) {
                    (false, Some(sha)) => objs.snapshots.iter().any(|s| &s.1 == sha),
                    _ => true,
                };
                if gb > current || !same {
                    let why = format!(
                        "the bucket holds another history of it (generation {gb}, this server's is {current}); restore \
                         it, or remove its objects from the bucket"
                    );
                    eprintln!("edgelite-server: backup of namespace {:?} stopped: {why}", self.name);
                    *lock(&self.diverged) = Some(why);
                    return Ok(());
                }
                if local_sha.is_none() && gb < current {
                    // This server has no files of that generation (a restored namespace continues
                    // after the bucket's newest): start from its own.
                    Progress { generation: current, frames: 0, snapshot: false }
                } else {
                    Progress { generation: gb, frames: objs.contiguous().0, snapshot: !objs.snapshots.is_empty() }
                }
            }
        };
        self.shipped.send_replace(if progress.snapshot {
            (progress.generation, progress.frames)
        } else {
            (progress.generation.saturating_sub(1), u32::MAX)
        });
        *lock(&self.progress) = Some(progress);
        Ok(())
    }

    fn jwt_key(ns: &Namespace) -> Option<String> {
        fs::read_to_string(ns.dir().join("jwt_key")).ok()
    }

    /// Ships one step; returns whether there may be more to ship now.
    async fn step(&self) -> Result<bool> {
        let Some(ns) = self.ns() else { return Ok(false) };
        let Some(mut p) = *lock(&self.progress) else { return Ok(false) };
        let n2 = Arc::clone(&ns);
        let (current, _) = blocking(move || Ok(n2.position()?)).await?;
        if p.generation > current {
            return Ok(false);
        }
        if !p.snapshot {
            let Some(export) = ns.export_path(p.generation) else {
                // Gone (removed by hand): the next generation's snapshot covers it.
                if p.generation < current {
                    p = Progress { generation: p.generation + 1, frames: 0, snapshot: false };
                    self.set_progress(p);
                    return Ok(true);
                }
                return Ok(false);
            };
            let (name, g, jwt) = (self.name.clone(), p.generation, Self::jwt_key(&ns));
            let (key, object) = blocking(move || {
                let time = fs::metadata(&export)?
                    .modified()?
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |d| i64::try_from(d.as_micros()).unwrap_or(i64::MAX));
                let db = fs::read(&export)?;
                let sha256 = sha256_hex(&db);
                let e =
                    Entry { ns: name.clone(), generation: g, kind: Kind::Snapshot { time, sha256: sha256.clone() } };
                let header = SnapshotHeader { ns: name, generation: g, time, sha256, jwt_key: jwt };
                Ok((e.key(), seal(&header, &db)?))
            })
            .await?;
            self.target.put(&key, object).await?;
            p.snapshot = true;
            self.set_progress(p);
            return Ok(true);
        }
        // Frames after p.frames, whole commits, up to BATCH_FRAMES (more if one commit is larger).
        let guard = ns.enter().await;
        let (n2, g, start) = (Arc::clone(&ns), p.generation, p.frames + 1);
        let frames = blocking(move || {
            let mut out: Vec<u8> = Vec::new();
            loop {
                let at = start + (out.len() / FRAME_SIZE) as u32;
                match n2.pull(g, at, u32::MAX, BATCH_FRAMES)? {
                    Pull::Frames(f) => out.extend_from_slice(&f),
                    Pull::EndOfGeneration(_) | Pull::Ahead(_) | Pull::Gone(_) => break,
                }
                let count = (out.len() / FRAME_SIZE) as u32;
                let ends_commit =
                    out.len() >= FRAME_SIZE && frame_header(&out[out.len() - FRAME_SIZE..]).commit_size != 0;
                if count >= BATCH_FRAMES && ends_commit {
                    break;
                }
            }
            drop(guard);
            // Cut after the last commit within BATCH_FRAMES, if there is one there.
            let mut cut = 0;
            for (i, f) in out.chunks_exact(FRAME_SIZE).enumerate() {
                if i >= BATCH_FRAMES as usize && cut > 0 {
                    break;
                }
                if frame_header(f).commit_size != 0 {
                    cut = i + 1;
                }
            }
            out.truncate(cut * FRAME_SIZE);
            Ok(out)
        })
        .await?;
        if frames.is_empty() {
            if p.generation < current {
                // Generation p.generation is complete in the bucket; on to the next one.
                p = Progress { generation: p.generation + 1, frames: 0, snapshot: false };
                self.set_progress(p);
                return Ok(true);
            }
            return Ok(false);
        }
        let first = p.frames + 1;
        let last = p.frames + (frames.len() / FRAME_SIZE) as u32;
        let commits: Vec<(u32, i64)> = {
            let stamps = lock(&self.stamps);
            let now = now_micros();
            let mut prev = 0;
            frames
                .chunks_exact(FRAME_SIZE)
                .enumerate()
                .filter(|(_, f)| frame_header(f).commit_size != 0)
                .map(|(i, _)| {
                    let no = first + i as u32;
                    // A commit without a stamp (one made before this backup watched, or whose
                    // stamp a power loss took) gets the shipping time, which is after it.
                    let t = stamps.time_of(p.generation, no).unwrap_or(now).max(prev);
                    prev = t;
                    (no, t)
                })
                .collect()
        };
        let (t_first, t_last) = (commits[0].1, commits[commits.len() - 1].1);
        let e = Entry {
            ns: self.name.clone(),
            generation: p.generation,
            kind: Kind::Frames { first, last, t_first, t_last },
        };
        let header = FramesHeader { ns: self.name.clone(), generation: p.generation, first, last, commits };
        let object = blocking(move || Ok(seal(&header, &frames)?)).await?;
        self.target.put(&e.key(), object).await?;
        p.frames = last;
        self.set_progress(p);
        Ok(true)
    }

    fn set_progress(&self, p: Progress) {
        *lock(&self.progress) = Some(p);
        if p.snapshot {
            self.shipped.send_replace((p.generation, p.frames));
            lock(&self.stamps).shipped(p.generation, p.frames);
            // Without fsync, as the stamps: what it tells is only whether to look (see `lags`),
            // and a stale or missing file only makes a startup look at this namespace.
            let text = format!("{} {}\n{}\n", p.generation, p.frames, self.config.url);
            let _ = fs::write(self.dir.join(SHIPPED_FILE), text);
        }
    }

    /// Ships until nothing is left, or an error.
    async fn ship_all(&self) -> Result<()> {
        if lock(&self.progress).is_none() {
            self.init().await?;
        }
        if lock(&self.diverged).is_some() {
            return Ok(());
        }
        while self.step().await? {}
        Ok(())
    }

    async fn run(self: Arc<Self>) {
        loop {
            if self.ns().is_none() {
                return;
            }
            match self.ship_all().await {
                Ok(()) => {
                    if let Some(e) = lock(&self.failing).take() {
                        eprintln!("edgelite-server: backup of namespace {:?} works again (after: {e})", self.name);
                    }
                }
                Err(e) => {
                    let e = e.to_string();
                    let mut failing = lock(&self.failing);
                    if failing.is_none() {
                        eprintln!("edgelite-server: backup of namespace {:?} failing, retrying: {e}", self.name);
                    }
                    *failing = Some(e);
                }
            }
            let pause = if lock(&self.failing).is_some() {
                self.config.interval.max(Duration::from_millis(200))
            } else {
                self.config.interval
            };
            tokio::select! {
                () = self.wake.notified() => {}
                () = tokio::time::sleep(pause) => {}
            }
            if lock(&self.failing).is_some() {
                // Writers wake the loop at every commit; a failing bucket is retried at the pace
                // of the interval, not theirs.
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }

    /// Whether everything committed now is shipped.
    async fn caught_up(&self) -> bool {
        let Some(ns) = self.ns() else { return true };
        let Ok(Ok(pos)) = tokio::task::spawn_blocking(move || ns.position()).await else { return false };
        *self.shipped.borrow() >= pos
    }
}

/// The backup of a running server: a shipper per namespace.
pub struct Backup {
    target: Target,
    config: BackupConfig,
    shippers: Mutex<std::collections::HashMap<String, Arc<NsBackup>>>,
    runtime: tokio::runtime::Handle,
}

impl Backup {
    /// Starts shipping every namespace of `namespaces`, and every one made later.
    ///
    /// # Errors
    ///
    /// An unusable URL.
    pub fn start(config: BackupConfig, target: Target, namespaces: &Namespaces) -> Result<Arc<Backup>> {
        let backup = Arc::new(Backup {
            target,
            config,
            shippers: Mutex::new(std::collections::HashMap::new()),
            runtime: tokio::runtime::Handle::current(),
        });
        for ns in namespaces.all_open() {
            backup.register(&ns);
        }
        let weak = Arc::downgrade(&backup);
        namespaces.set_on_open(move |ns| {
            if let Some(b) = weak.upgrade() {
                b.register(ns);
            }
        });
        backup.spawn_catch_up(namespaces.clone());
        if let Some(keep) = backup.config.retention {
            let weak = Arc::downgrade(&backup);
            backup.runtime.spawn(async move {
                loop {
                    let Some(b) = weak.upgrade() else { return };
                    match apply_retention(&b.target, keep).await {
                        Ok(0) => {}
                        Ok(n) => eprintln!("edgelite-server: backup retention removed {n} objects"),
                        Err(e) => eprintln!("edgelite-server: backup retention failed: {e}"),
                    }
                    drop(b);
                    tokio::time::sleep(Duration::from_secs(3600)).await;
                }
            });
        }
        Ok(backup)
    }

    /// Ships, in the background, what a previous run left unshipped (a SIGKILL with `--durability
    /// local`, or a bucket that failed until the end) in namespaces that nothing opens: those
    /// that [`lags`] picks out, opened [`CATCH_UP_WORKERS`] at a time, each closed again once its
    /// bucket holds what it held when opened. Nothing else is opened, so a server of many idle
    /// tenants starts as fast as without a backup.
    fn spawn_catch_up(self: &Arc<Self>, namespaces: Namespaces) {
        let weak = Arc::downgrade(self);
        let url = self.config.url.clone();
        let pause = self.config.interval.max(Duration::from_secs(1));
        self.runtime.spawn(async move {
            let ns2 = namespaces.clone();
            let found = tokio::task::spawn_blocking(move || {
                ns2.names().into_iter().filter(|n| lags(&ns2.dir_of(n), &url)).collect::<VecDeque<String>>()
            })
            .await;
            let Ok(todo) = found else { return };
            if todo.is_empty() {
                return;
            }
            let total = todo.len();
            eprintln!(
                "edgelite-server: backup: {total} namespace(s) may hold commits not yet in the bucket; shipping them"
            );
            let todo = Arc::new(Mutex::new(todo));
            let workers = (0..CATCH_UP_WORKERS).map(|_| {
                let (weak, namespaces, todo) = (weak.clone(), namespaces.clone(), Arc::clone(&todo));
                async move {
                    let mut shipped = 0usize;
                    loop {
                        let Some(name) = lock(&todo).pop_front() else { return shipped };
                        let Some(b) = weak.upgrade() else { return shipped };
                        match b.catch_up_one(&namespaces, &name).await {
                            CatchUp::Shipped => shipped += 1,
                            CatchUp::Skip => {}
                            CatchUp::Later => {
                                lock(&todo).push_back(name);
                                drop(b);
                                tokio::time::sleep(pause).await;
                            }
                        }
                    }
                }
            });
            let shipped: usize = futures_util::future::join_all(workers).await.into_iter().sum();
            eprintln!(
                "edgelite-server: backup: shipped the backlog of {shipped} of {total} namespace(s) (the others were \
                 opened by requests meanwhile, which ship them, are gone, or are not backed up)"
            );
        });
    }

    /// Opens `name` (unless it is open: its shipper runs already), waits until the bucket holds
    /// what it held then, and closes it again.
    async fn catch_up_one(&self, namespaces: &Namespaces, name: &str) -> CatchUp {
        if namespaces.is_open(name) {
            return CatchUp::Skip;
        }
        let ns = match namespaces.fetch(name).await {
            Ok(ns) => ns,
            Err(NsError::NotFound(_)) => return CatchUp::Skip,
            Err(NsError::TooManyOpen(_)) => return CatchUp::Later,
            Err(e) => {
                eprintln!("edgelite-server: backup catch-up of namespace {name:?}: {e}");
                return CatchUp::Skip;
            }
        };
        let n2 = Arc::clone(&ns);
        let Ok(Ok(pos)) = tokio::task::spawn_blocking(move || n2.position()).await else { return CatchUp::Skip };
        // Registered by `on_open` as the namespace was opened.
        let Some(nb) = lock(&self.shippers).get(name).cloned() else { return CatchUp::Skip };
        let mut rx = nb.shipped.subscribe();
        let outcome = loop {
            if lock(&nb.diverged).is_some() {
                break CatchUp::Skip;
            }
            if *rx.borrow_and_update() >= pos {
                break CatchUp::Shipped;
            }
            if lock(&nb.failing).is_some() {
                break CatchUp::Later;
            }
            // A change of what is shipped, or a look at the failure flag every 50 ms.
            let _ = tokio::time::timeout(Duration::from_millis(50), rx.changed()).await;
        };
        drop(ns);
        // The shipper may hold the namespace for a moment after its last step.
        for _ in 0..20 {
            let (n2, name2) = (namespaces.clone(), name.to_owned());
            if tokio::task::spawn_blocking(move || n2.close_if_idle(&name2)).await.unwrap_or(true) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        outcome
    }

    /// The target.
    #[must_use]
    pub fn target(&self) -> &Target {
        &self.target
    }

    /// Gives `ns` its watch and a shipper (replacing the shipper of an earlier namespace of that
    /// name).
    pub fn register(&self, ns: &Arc<Namespace>) {
        let nb = Arc::new(NsBackup {
            name: ns.name.clone(),
            ns: Arc::downgrade(ns),
            dir: ns.dir().to_owned(),
            target: self.target.clone(),
            config: self.config.clone(),
            stamps: Mutex::new(Stamps::load(ns.dir().join("backup-times"))),
            progress: Mutex::new(None),
            shipped: tokio::sync::watch::Sender::new((0, 0)),
            wake: tokio::sync::Notify::new(),
            failing: Arc::new(Mutex::new(None)),
            diverged: Mutex::new(None),
            stop: AtomicBool::new(false),
        });
        ns.set_watch(Arc::clone(&nb) as Arc<dyn CommitWatch>);
        if let Some(old) = lock(&self.shippers).insert(ns.name.clone(), Arc::clone(&nb)) {
            old.stop.store(true, Ordering::Release);
            old.wake.notify_one();
        }
        self.runtime.spawn(nb.run());
    }

    /// Backup state of namespace `name`: (shipped generation, shipped frames, failing).
    #[must_use]
    pub fn status(&self, name: &str) -> Option<serde_json::Value> {
        let nb = lock(&self.shippers).get(name).cloned()?;
        let (g, n) = *nb.shipped.borrow();
        let oldest = lock(&nb.stamps).records.iter().find(|r| (r.0, r.1) > (g, n)).map(|r| r.2);
        Some(serde_json::json!({
            "shipped_generation": g,
            "shipped_frames": n,
            "oldest_unshipped_commit_us": oldest,
            "failing": *lock(&nb.failing),
            "diverged": *lock(&nb.diverged),
        }))
    }

    /// Ships what every namespace has committed, waiting at most `max` (a clean stop).
    pub async fn flush(&self, max: Duration) {
        let all: Vec<Arc<NsBackup>> = lock(&self.shippers).values().cloned().collect();
        let deadline = tokio::time::Instant::now() + max;
        for nb in all {
            while !nb.caught_up().await && tokio::time::Instant::now() < deadline {
                nb.wake.notify_one();
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_round_trip_and_strays_are_ignored() {
        let s = Entry { ns: "shop".into(), generation: 7, kind: Kind::Snapshot { time: 12, sha256: "ab".repeat(32) } };
        assert_eq!(Entry::parse(&s.key()), Some(s.clone()));
        let f = Entry {
            ns: "a-b_c".into(),
            generation: 1,
            kind: Kind::Frames { first: 1, last: 30, t_first: 1_700_000_000_000_000, t_last: 1_700_000_000_000_001 },
        };
        assert_eq!(Entry::parse(&f.key()), Some(f.clone()));
        assert_eq!(Entry::parse("shop/7/snapshot-12-ab"), None);
        assert_eq!(Entry::parse("shop/0000000007/frames-1-2-3-4"), None);
        assert_eq!(Entry::parse("../0000000007/x"), None);
    }

    #[test]
    fn sealed_objects_detect_every_change() {
        let h = FramesHeader { ns: "n".into(), generation: 1, first: 1, last: 1, commits: vec![(1, 5)] };
        let data: Vec<u8> = (0..10_000u32).map(|i| (i % 251) as u8).collect();
        let obj = seal(&h, &data).expect("seal");
        let (h2, d2): (FramesHeader, Vec<u8>) = unseal("k", &obj).expect("unseal");
        assert_eq!((h2, d2), (h, data));
        for at in [0, 9, obj.len() / 2, obj.len() - 1] {
            let mut bad = obj.clone();
            bad[at] ^= 1;
            assert!(unseal::<FramesHeader>("k", &bad).is_err(), "flip at {at}");
        }
        assert!(unseal::<FramesHeader>("k", &obj[..obj.len() - 1]).is_err());
        assert!(unseal::<FramesHeader>("k", &obj[..obj.len() / 2]).is_err());
    }

    /// Batches that overlap (a retry shipped a longer range after an upload whose answer was
    /// lost) and the same batch twice restore as the frames once; a point between commits
    /// restores the commits before it.
    #[tokio::test]
    async fn overlapping_and_repeated_batches_restore_each_commit_once() {
        let dir = tempfile::tempdir().expect("tempdir");
        let db = dir.path().join("db");
        let conn = edgelite::Connection::open(&db).expect("open");
        conn.execute_batch("PRAGMA page_size=4096; PRAGMA journal_mode=WAL; PRAGMA wal_autocheckpoint=0;")
            .expect("setup");
        conn.execute_batch("CREATE TABLE t(x); PRAGMA wal_checkpoint(TRUNCATE);").expect("create");
        let snapshot = fs::read(&db).expect("read");
        let wal = dir.path().join("db-wal");
        let mut ends = Vec::new();
        for i in 0..3 {
            conn.execute("INSERT INTO t VALUES (?1)", [i]).expect("insert");
            ends.push(crate::wal::WalScanner::default().scan(&wal).expect("scan"));
        }
        let frames = crate::wal::read_frames(&wal, WAL_HEADER as u64, 1, ends[2] + 1).expect("frames");
        let target = Target::open(&format!("file://{}", dir.path().join("bucket").display())).expect("target");
        let ns = "n".to_owned();
        let sha = sha256_hex(&snapshot);
        let snap = Entry { ns: ns.clone(), generation: 1, kind: Kind::Snapshot { time: 100, sha256: sha.clone() } };
        let header = SnapshotHeader { ns: ns.clone(), generation: 1, time: 100, sha256: sha, jwt_key: None };
        target.put(&snap.key(), seal(&header, &snapshot).expect("seal")).await.expect("put");
        let times = [200, 300, 400];
        let batch = |first: u32, last: u32| {
            let commits: Vec<(u32, i64)> =
                ends.iter().zip(times).filter(|(e, _)| **e >= first && **e <= last).map(|(e, t)| (*e, t)).collect();
            let kind = Kind::Frames { first, last, t_first: commits[0].1, t_last: commits[commits.len() - 1].1 };
            let h = FramesHeader { ns: ns.clone(), generation: 1, first, last, commits };
            let data = &frames[(first as usize - 1) * FRAME_SIZE..last as usize * FRAME_SIZE];
            (Entry { ns: ns.clone(), generation: 1, kind }.key(), seal(&h, data).expect("seal"))
        };
        for (first, last) in [(1, ends[0]), (1, ends[1]), (1, ends[1]), (ends[0] + 1, ends[2])] {
            let (key, obj) = batch(first, last);
            target.put(&key, obj).await.expect("put");
        }
        let count = |image: &[u8]| -> Vec<i64> {
            let p = dir.path().join("restored");
            fs::write(&p, image).expect("write");
            let c = edgelite::Connection::open(&p).expect("open");
            let mut st = c.prepare("SELECT x FROM t ORDER BY x").expect("prepare");
            st.query_map([], |r| r.get(0)).expect("query").collect::<Result<_, _>>().expect("rows")
        };
        let (image, r) = restore_image(&target, "n", None).await.expect("restore");
        assert_eq!((count(&image), r.frames, r.as_of), (vec![0, 1, 2], ends[2], 400));
        let (image, r) = restore_image(&target, "n", Some(350)).await.expect("restore");
        assert_eq!((count(&image), r.frames), (vec![0, 1], ends[1]));
        let (image, _) = restore_image(&target, "n", Some(150)).await.expect("restore");
        assert_eq!(count(&image), Vec::<i64>::new());
        assert!(restore_image(&target, "n", Some(50)).await.is_err());
    }

    #[test]
    fn stamps_survive_a_reload_and_cover_earlier_commits() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("backup-times");
        let mut s = Stamps::load(path.clone());
        s.record(1, 3);
        s.record(1, 3);
        s.record(1, 7);
        s.record(2, 2);
        let t3 = s.time_of(1, 3).expect("stamp");
        assert_eq!(s.time_of(1, 1), Some(t3));
        assert!(s.time_of(1, 5).expect("stamp") >= t3);
        assert!(s.time_of(2, 5).is_none());
        let again = Stamps::load(path);
        assert_eq!(again.records, s.records);
        s.shipped(1, 7);
        assert_eq!(s.records.len(), 1);
    }
}
