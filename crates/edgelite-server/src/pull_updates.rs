//! Turso's page-level sync protocol: `POST /pull-updates`, as `@tursodatabase/sync` 0.7.2 speaks
//! it (`docs/sync-protocol.md` §10). Its pushes are Hrana batches over `/v2/pipeline`, which the
//! rest of the server already answers.
//!
//! A pull is served from the same files as sync v2 (see [`crate::namespace`]): a revision names
//! a committed snapshot, generation `g` with its first `n` WAL frames (`<history>-<g>-<n>`, the
//! history being a random id of the namespace's files, so that a revision of a deleted and
//! re-created namespace is never taken for one of the new one). The snapshot's pages are
//! `gens/<g>/export.db` overlaid with the latest of frames `1..=n` for each page, taken from the
//! live WAL in the current generation and from the archive `gens/<g>/frames` in an older one. No
//! page of a later commit can slip in: frames past `n` are never read, the live WAL's frames are
//! read under the namespace's gate (a checkpoint, the only thing that rewrites them, waits) and
//! checked against the WAL's salts, and exports and archives never change once written.
//!
//! The pages changed since a client's revision are those of the frames after it: in its own
//! generation, in every archived generation after it, and in the target one. A revision that
//! cannot be followed that way (another history, ahead of the server, an archive deleted by hand)
//! gets every page of the snapshot: a complete database, never a gap.

use std::collections::{BTreeSet, HashMap};
use std::fs::{self, File};
use std::io;
use std::os::unix::fs::FileExt as _;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::{Body, Bytes};
use axum::extract::rejection::BytesRejection;
use axum::extract::{Extension, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use prost::Message as _;
use roaring::RoaringBitmap;

use crate::AppState;
use crate::http::{ApiError, Caller, RequestSlot};
use crate::limits::Slot;
use crate::namespace::{Namespace, NsError};
use crate::wal::{FRAME_HEADER, FRAME_SIZE, PAGE_SIZE, WAL_HEADER, frame_header, frame_salts};

/// The longest a pull waits for a commit, whatever `long_poll_timeout_ms` asks: it then answers
/// "no changes" and the client asks again.
pub const MAX_LONG_POLL: Duration = Duration::from_secs(30);
/// How often a waiting pull looks at the WAL itself (commits it is not told of: DDL alone).
const POLL_EVERY: Duration = Duration::from_millis(250);
/// Pages read from files per step of a streamed answer.
const CHUNK_PAGES: usize = 64;
/// The zstd level of compressed pages.
const ZSTD_LEVEL: i32 = 3;

/// The request body (`PullUpdatesReqProtoBody`).
#[derive(Clone, PartialEq, prost::Message)]
pub struct PullUpdatesRequest {
    /// 0 raw pages, 1 zstd.
    #[prost(int32, tag = "1")]
    pub encoding: i32,
    /// The snapshot to read; empty for the latest.
    #[prost(string, tag = "2")]
    pub server_revision: String,
    /// The client's snapshot; empty asks for every page.
    #[prost(string, tag = "3")]
    pub client_revision: String,
    /// Wait up to this long for a commit when there is nothing new (0: answer at once).
    #[prost(uint32, tag = "4")]
    pub long_poll_timeout_ms: u32,
    /// A serialized `RoaringBitmap` of 0-based page ids; empty selects every page.
    #[prost(bytes = "vec", tag = "5")]
    pub server_pages_selector: Vec<u8>,
    /// Unused by this server (the reference server ignores it too).
    #[prost(bytes = "vec", tag = "6")]
    pub client_pages: Vec<u8>,
    /// Partial sync by query: not supported.
    #[prost(string, tag = "7")]
    pub server_query_selector: String,
    /// 0 pages, 1 an MVCC logical log (not supported: the databases are WAL-mode SQLite).
    #[prost(int32, tag = "8")]
    pub stream_kind: i32,
}

/// The raw encoding marker (`PageSetRawEncodingProto`).
#[derive(Clone, PartialEq, prost::Message)]
pub struct RawEncoding {}

/// The zstd encoding marker (`PageSetZstdEncodingProto`): every page is one zstd frame.
#[derive(Clone, PartialEq, prost::Message)]
pub struct ZstdEncoding {
    /// The compression level.
    #[prost(int32, tag = "1")]
    pub level: i32,
    /// Pages used as a dictionary: none.
    #[prost(uint32, repeated, tag = "2")]
    pub pages_dict: Vec<u32>,
}

/// The first message of an answer (`PullUpdatesRespProtoBody`; field 7, the MVCC log, is never
/// sent).
#[derive(Clone, PartialEq, prost::Message)]
pub struct PullUpdatesHeader {
    /// The revision of the pages that follow.
    #[prost(string, tag = "1")]
    pub server_revision: String,
    /// The database size at that revision, in pages.
    #[prost(uint64, tag = "2")]
    pub db_size: u64,
    /// Set when pages are raw.
    #[prost(message, optional, tag = "3")]
    pub raw_encoding: Option<RawEncoding>,
    /// Set when pages are zstd frames.
    #[prost(message, optional, tag = "4")]
    pub zstd_encoding: Option<ZstdEncoding>,
    /// 0: pages.
    #[prost(int32, tag = "5")]
    pub stream_kind: i32,
    /// 0: incremental (pages written over the client's database).
    #[prost(int32, tag = "6")]
    pub apply_mode: i32,
    /// 1: the database syncs by pages.
    #[prost(int32, tag = "8")]
    pub protocol: i32,
}

/// One page of an answer.
#[derive(Clone, PartialEq, prost::Message)]
pub struct PageData {
    /// The 0-based page id (SQLite's page number minus one).
    #[prost(uint64, tag = "1")]
    pub page_id: u64,
    /// The page, raw or compressed.
    #[prost(bytes = "vec", tag = "2")]
    pub encoded_page: Vec<u8>,
}

/// A committed snapshot: generation and frame count.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Revision {
    generation: u32,
    frames: u32,
}

/// What a client's revision string turned out to be.
enum ClientRevision {
    /// A snapshot of this history.
    Ours(Revision),
    /// Well formed but of another history (the namespace was deleted and made again, or the
    /// files replaced): only a full set is safe.
    Foreign,
}

fn bad_request(message: impl Into<String>) -> ApiError {
    ApiError::new(StatusCode::BAD_REQUEST, "BAD_REQUEST", message)
}

fn format_revision(history: &str, r: Revision) -> String {
    format!("{history}-{}-{}", r.generation, r.frames)
}

fn parse_revision(history: &str, text: &str) -> Result<ClientRevision, ApiError> {
    let malformed =
        || bad_request(format!("malformed revision {text:?}: this server's revisions are <history>-<g>-<n>"));
    let mut parts = text.split('-');
    let (Some(h), Some(g), Some(n), None) = (parts.next(), parts.next(), parts.next(), parts.next()) else {
        return Err(malformed());
    };
    if h.len() != 16 || !h.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(malformed());
    }
    let (Ok(generation), Ok(frames)) = (g.parse::<u32>(), n.parse::<u32>()) else {
        return Err(malformed());
    };
    if h != history {
        return Ok(ClientRevision::Foreign);
    }
    Ok(ClientRevision::Ours(Revision { generation, frames }))
}

/// The namespace's history id, made on first use (`<dir>/sync-history`).
fn history_id(ns: &Namespace) -> io::Result<String> {
    let path = ns.dir().join("sync-history");
    match fs::read_to_string(&path) {
        Ok(s) if s.trim().len() == 16 => return Ok(s.trim().to_owned()),
        Ok(_) => {}
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    let id = crate::random_token().ok_or_else(|| io::Error::other("no random source for a history id"))?;
    let id = &id[..16];
    // Written aside then linked in: two first pulls at once agree on the id that won.
    let tmp = path.with_extension(format!("tmp-{id}"));
    fs::write(&tmp, id)?;
    File::open(&tmp)?.sync_all()?;
    let linked = fs::hard_link(&tmp, &path);
    let _ = fs::remove_file(&tmp);
    match linked {
        Ok(()) => Ok(id.to_owned()),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(fs::read_to_string(&path)?.trim().to_owned()),
        Err(e) => Err(e),
    }
}

/// The frames of one generation, as far as one snapshot reads them.
struct Frames {
    file: File,
    /// Where frame 1 starts.
    base: u64,
    /// The live WAL's salts, which every frame read from it must carry.
    salts: Option<(u32, u32)>,
    /// Page number and commit size of frames `1..=n`.
    headers: Vec<(u32, u32)>,
}

impl Frames {
    /// Frames `1..=n` of `path` (at most `available` of them exist).
    fn open(path: &Path, base: u64, n: u32, salts: Option<(u32, u32)>) -> io::Result<Frames> {
        let file = File::open(path)?;
        let mut headers = Vec::with_capacity(n as usize);
        // Headers in runs of frames read at once: a byte-sized read per frame costs a syscall each.
        let mut buf = vec![0u8; FRAME_SIZE * 64];
        let mut f = 1u32;
        while f <= n {
            let run = (n - f + 1).min(64) as usize;
            let bytes = &mut buf[..run * FRAME_SIZE];
            file.read_exact_at(bytes, base + u64::from(f - 1) * FRAME_SIZE as u64)?;
            for frame in bytes.chunks_exact(FRAME_SIZE) {
                if salts.is_some_and(|s| frame_salts(frame) != s) {
                    return Err(io::Error::new(io::ErrorKind::Interrupted, "the WAL was restarted"));
                }
                let h = frame_header(frame);
                headers.push((h.pgno, h.commit_size));
            }
            f += run as u32;
        }
        Ok(Frames { file, base, salts, headers })
    }

    /// The page of frame `f` (1-based).
    fn page(&self, f: u32) -> io::Result<Vec<u8>> {
        let mut frame = vec![0u8; FRAME_SIZE];
        self.file.read_exact_at(&mut frame, self.base + u64::from(f - 1) * FRAME_SIZE as u64)?;
        if self.salts.is_some_and(|s| frame_salts(&frame) != s) {
            return Err(io::Error::new(io::ErrorKind::Interrupted, "the WAL was restarted"));
        }
        frame.drain(..FRAME_HEADER);
        Ok(frame)
    }
}

/// The number of frames in an archive, if it exists.
fn archive_len(ns: &Namespace, g: u32) -> io::Result<Option<u32>> {
    match fs::metadata(ns.generation_dir(g).join("frames")) {
        Ok(m) => Ok(Some(u32::try_from(m.len() / FRAME_SIZE as u64).unwrap_or(u32::MAX))),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

/// Where a page of the snapshot comes from.
enum PageSource {
    /// Read already (from the live WAL, under the gate).
    Loaded(Vec<u8>),
    /// At this offset of the (never rewritten) export file.
    Export(u64),
    /// Frame `f` of the (never rewritten) archive.
    Archived(u32),
}

/// A planned answer: the header and where each page comes from. Pages of the live WAL are read
/// while the plan is made (the gate is held then); everything else is read as the answer streams.
struct Plan {
    header: PullUpdatesHeader,
    pages: Vec<(u32, PageSource)>,
    export: File,
    archive: Option<Frames>,
    zstd: bool,
}

/// Why a plan was not made.
enum PlanError {
    /// An answer for the client.
    Api(ApiError),
    /// The live WAL was restarted under the read (see `Frames`): try again, at the new position.
    Restarted,
}

impl From<ApiError> for PlanError {
    fn from(e: ApiError) -> PlanError {
        PlanError::Api(e)
    }
}

impl From<NsError> for PlanError {
    fn from(e: NsError) -> PlanError {
        PlanError::Api(e.into())
    }
}

impl From<io::Error> for PlanError {
    fn from(e: io::Error) -> PlanError {
        if e.kind() == io::ErrorKind::Interrupted { PlanError::Restarted } else { NsError::Io(e).into() }
    }
}

/// Makes the plan of a pull. Blocking; the caller holds the namespace's gate.
fn plan(
    ns: &Namespace,
    history: &str,
    req: &PullUpdatesRequest,
    client: Option<&ClientRevision>,
    selector: Option<&RoaringBitmap>,
) -> Result<Plan, PlanError> {
    let (current_g, current_n, salts) = ns.position_and_salts()?;
    let current = Revision { generation: current_g, frames: current_n };
    let target = if req.server_revision.is_empty() {
        current
    } else {
        match parse_revision(history, &req.server_revision)? {
            ClientRevision::Ours(r) => r,
            ClientRevision::Foreign => {
                return Err(ApiError::new(
                    StatusCode::BAD_REQUEST,
                    "REVISION_NOT_FOUND",
                    format!("server revision {:?} is not of this database's history", req.server_revision),
                )
                .into());
            }
        }
    };
    let gone = || {
        PlanError::Api(ApiError::new(
            StatusCode::BAD_REQUEST,
            "REVISION_NOT_FOUND",
            format!("server revision {:?} is not available (bootstrap again)", req.server_revision),
        ))
    };
    let export_path = ns.generation_dir(target.generation).join("export.db");
    let export = match File::open(&export_path) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Err(gone()),
        Err(e) => return Err(e.into()),
    };
    let live = target.generation == current.generation;
    let frames = if live {
        if target.frames > current.frames {
            return Err(gone());
        }
        Frames::open(ns.wal_path(), WAL_HEADER as u64, target.frames, salts)?
    } else {
        let Some(len) = archive_len(ns, target.generation)? else { return Err(gone()) };
        if target.generation > current.generation || target.frames > len {
            return Err(gone());
        }
        Frames::open(&ns.generation_dir(target.generation).join("frames"), 0, target.frames, None)?
    };
    let db_size = match frames.headers.last() {
        Some(&(_, size)) if size != 0 => size,
        Some(_) => return Err(gone()),
        None => {
            let len = export.metadata()?.len();
            u32::try_from(len / PAGE_SIZE as u64).unwrap_or(u32::MAX)
        }
    };
    // The latest frame of each page in the snapshot.
    let mut latest: HashMap<u32, u32> = HashMap::new();
    for (i, &(pgno, _)) in frames.headers.iter().enumerate() {
        latest.insert(pgno, i as u32 + 1);
    }
    let wanted: BTreeSet<u32> = match client {
        Some(ClientRevision::Ours(from)) if req.server_revision.is_empty() => {
            changed_since(ns, *from, target, &frames)?.unwrap_or_else(|| (1..=db_size).collect())
        }
        _ => (1..=db_size).collect(),
    };
    let export_len = export.metadata()?.len();
    let mut pages = Vec::with_capacity(wanted.len());
    for pgno in wanted {
        if pgno == 0 || pgno > db_size || selector.is_some_and(|s| !s.contains(pgno - 1)) {
            continue;
        }
        let source = match latest.get(&pgno) {
            Some(&f) if live => PageSource::Loaded(frames.page(f)?),
            Some(&f) => PageSource::Archived(f),
            None => {
                let at = u64::from(pgno - 1) * PAGE_SIZE as u64;
                if at + PAGE_SIZE as u64 > export_len {
                    return Err(ApiError::new(
                        StatusCode::INTERNAL_SERVER_ERROR,
                        "INTERNAL",
                        format!(
                            "page {pgno} is in neither the export nor the frames of generation {}",
                            target.generation
                        ),
                    )
                    .into());
                }
                PageSource::Export(at)
            }
        };
        pages.push((pgno, source));
    }
    let zstd = req.encoding == 1;
    let header = PullUpdatesHeader {
        server_revision: format_revision(history, target),
        db_size: u64::from(db_size),
        raw_encoding: (!zstd).then_some(RawEncoding {}),
        zstd_encoding: zstd.then(|| ZstdEncoding { level: ZSTD_LEVEL, pages_dict: Vec::new() }),
        stream_kind: 0,
        apply_mode: 0,
        protocol: 1,
    };
    Ok(Plan { header, pages, export, archive: (!live).then_some(frames), zstd })
}

/// The pages changed from `from` to `to`, or `None` when that cannot be told (the caller then
/// sends every page). `target` holds the frames of `to`'s generation up to `to`.
fn changed_since(ns: &Namespace, from: Revision, to: Revision, target: &Frames) -> io::Result<Option<BTreeSet<u32>>> {
    if from.generation > to.generation || (from.generation == to.generation && from.frames > to.frames) {
        return Ok(None);
    }
    let mut set = BTreeSet::new();
    if from.generation == to.generation {
        // A revision ends on a commit; anything else was not made by this server.
        if from.frames > 0 && target.headers[from.frames as usize - 1].1 == 0 {
            return Ok(None);
        }
        set.extend(target.headers[from.frames as usize..].iter().map(|&(p, _)| p));
        return Ok(Some(set));
    }
    for g in from.generation..to.generation {
        let Some(len) = archive_len(ns, g)? else { return Ok(None) };
        let skip = if g == from.generation { from.frames } else { 0 };
        if skip > len {
            return Ok(None);
        }
        let archived = Frames::open(&ns.generation_dir(g).join("frames"), 0, len, None)?;
        if skip > 0 && archived.headers[skip as usize - 1].1 == 0 {
            return Ok(None);
        }
        set.extend(archived.headers[skip as usize..].iter().map(|&(p, _)| p));
    }
    set.extend(target.headers.iter().map(|&(p, _)| p));
    Ok(Some(set))
}

/// Appends one varint-length-delimited message.
fn put_message(out: &mut Vec<u8>, m: &impl prost::Message) {
    // Encoding into a Vec cannot fail: it grows as needed.
    let _ = m.encode_length_delimited(out);
}

impl Plan {
    /// Encodes pages `[from, from + CHUNK_PAGES)` (reading those not loaded yet). Blocking.
    fn chunk(&mut self, from: usize) -> io::Result<Vec<u8>> {
        let end = (from + CHUNK_PAGES).min(self.pages.len());
        let mut out = Vec::with_capacity((end - from) * (PAGE_SIZE + 8));
        for (pgno, source) in &mut self.pages[from..end] {
            let page = match source {
                PageSource::Loaded(p) => std::mem::take(p),
                PageSource::Export(at) => {
                    let mut p = vec![0u8; PAGE_SIZE];
                    self.export.read_exact_at(&mut p, *at)?;
                    p
                }
                PageSource::Archived(f) => match &self.archive {
                    Some(a) => a.page(*f)?,
                    None => return Err(io::Error::other("archived page without its archive")),
                },
            };
            let encoded_page = if self.zstd { zstd::bulk::compress(&page, ZSTD_LEVEL)? } else { page };
            put_message(&mut out, &PageData { page_id: u64::from(*pgno - 1), encoded_page });
        }
        Ok(out)
    }
}

/// Reads the plan's pages chunk by chunk, off the async workers, as the client takes them.
fn stream_body(plan: Plan) -> Body {
    let mut head = Vec::new();
    put_message(&mut head, &plan.header);
    let chunks = futures_util::stream::try_unfold((Some(head), plan, 0usize), |(head, plan, at)| async move {
        if let Some(h) = head {
            return Ok(Some((Bytes::from(h), (None, plan, at))));
        }
        if at >= plan.pages.len() {
            return Ok(None);
        }
        let (plan, bytes) = tokio::task::spawn_blocking(move || {
            let mut plan = plan;
            let bytes = plan.chunk(at);
            (plan, bytes)
        })
        .await
        .map_err(|e| io::Error::other(e.to_string()))?;
        let bytes = bytes?;
        Ok::<_, io::Error>(Some((Bytes::from(bytes), (None, plan, at + CHUNK_PAGES))))
    });
    Body::from_stream(chunks)
}

/// Waits until the namespace moves past `from` or `timeout` passes, without holding the
/// request's place under the request caps.
async fn long_poll(ns: &Arc<Namespace>, from: Revision, timeout: Duration) -> Result<(), ApiError> {
    let deadline = Instant::now() + timeout.min(MAX_LONG_POLL);
    let mut moved = ns.watch_position();
    loop {
        let me = Arc::clone(ns);
        let (g, n) = tokio::task::spawn_blocking(move || me.position())
            .await
            .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "INTERNAL", e.to_string()))??;
        if (Revision { generation: g, frames: n }) != from {
            return Ok(());
        }
        let now = Instant::now();
        if now >= deadline {
            return Ok(());
        }
        let wait = (deadline - now).min(POLL_EVERY);
        // A commit seen by any scan wakes us at once; the timer catches those nobody scanned for.
        let _ = tokio::time::timeout(wait, moved.changed()).await;
    }
}

/// How long a woken long poll waits for a place under the request caps before it gives up.
const SLOT_WAIT: Duration = Duration::from_secs(5);

/// `POST /pull-updates`.
pub async fn pull_updates(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    Extension(slot): Extension<RequestSlot>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let body = body.map_err(|e| crate::http::body_error(&e))?;
    let req = PullUpdatesRequest::decode(&body[..])
        .map_err(|e| bad_request(format!("malformed pull-updates request (protobuf): {e}")))?;
    if req.stream_kind != 0 {
        return Err(bad_request(
            "MVCC logical-log pulls are not supported: this server's databases are WAL-mode SQLite (pull pages)",
        ));
    }
    if !req.server_query_selector.is_empty() {
        return Err(bad_request("partial sync by query (server_query_selector) is not supported"));
    }
    if !matches!(req.encoding, 0 | 1) {
        return Err(bad_request(format!("unknown page encoding {} (0 raw, 1 zstd)", req.encoding)));
    }
    let selector = if req.server_pages_selector.is_empty() {
        None
    } else {
        Some(
            RoaringBitmap::deserialize_from(&req.server_pages_selector[..])
                .map_err(|e| bad_request(format!("malformed server_pages_selector (RoaringBitmap): {e}")))?,
        )
    };
    let ns = caller.ns;
    let me = Arc::clone(&ns);
    let history = tokio::task::spawn_blocking(move || history_id(&me))
        .await
        .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "INTERNAL", e.to_string()))?
        .map_err(NsError::Io)?;
    let client =
        if req.client_revision.is_empty() { None } else { Some(parse_revision(&history, &req.client_revision)?) };
    let mut _held: Option<Slot> = None;
    if let Some(ClientRevision::Ours(from)) = &client
        && req.server_revision.is_empty()
        && req.long_poll_timeout_ms > 0
    {
        // A waiting pull holds no database resource; it gives its place under the request caps
        // back so that waiting replicas cannot starve the namespace's other requests.
        slot.release();
        long_poll(&ns, *from, Duration::from_millis(u64::from(req.long_poll_timeout_ms))).await?;
        // One commit wakes every waiting replica at once: more of them than the namespace's
        // request cap wait a moment for a place rather than fail the pull they waited for.
        _held = Some(state.requests.take_within(&ns.name, SLOT_WAIT).await.map_err(|_| {
            ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "TOO_MANY_REQUESTS",
                "too many requests in progress (--max-concurrent-requests); retry later",
            )
        })?);
    }
    let selector = Arc::new(selector);
    let plan = loop {
        let guard = ns.enter().await;
        // Reading the pages is the namespace's work like a statement's: it takes a turn.
        let turn = state.turns.turn(&ns.name).await;
        let (me, req, client, sel, hist) =
            (Arc::clone(&ns), req.clone(), client_clone(client.as_ref()), Arc::clone(&selector), history.clone());
        let r = tokio::task::spawn_blocking(move || {
            let r = turn.run(|| plan(&me, &hist, &req, client.as_ref(), sel.as_ref().as_ref()));
            drop(guard);
            r
        })
        .await
        .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "INTERNAL", e.to_string()))?;
        match r {
            Ok(plan) => break plan,
            Err(PlanError::Api(e)) => return Err(e),
            // The scan that follows moves the generation on.
            Err(PlanError::Restarted) => {}
        }
    };
    Ok(([(header::CONTENT_TYPE, "application/protobuf")], stream_body(plan)).into_response())
}

fn client_clone(c: Option<&ClientRevision>) -> Option<ClientRevision> {
    c.map(|c| match c {
        ClientRevision::Ours(r) => ClientRevision::Ours(*r),
        ClientRevision::Foreign => ClientRevision::Foreign,
    })
}
