//! The primary, over HTTP: sync protocol v2 (`/info`, `/export/{g}`, `/sync/{g}/{s}/{e}`) and
//! Hrana 2 pipelines (`/v2/pipeline`), as `docs/sync-protocol.md` §2 and §5.2 describe them.

use std::fs;
use std::io::{self, Write as _};
use std::path::Path;
use std::thread;
use std::time::Duration;

use serde_json::{Value, json};
use ureq::Agent;

use super::{ErrorKind, ReplicationError};

/// A push's answer.
pub(crate) enum Pushed {
    /// The primary has the frames up to `max_frame_no` (in the replica's numbering, of
    /// `generation`); `baton` continues a commit left unfinished by this push.
    Ok { generation: u32, max_frame_no: u32, baton: Option<String> },
    /// The primary has commits the replica has not pulled: the frames cannot go on top.
    Conflict,
}

/// A pull's answer.
pub(crate) enum Pull {
    /// One or more whole frames (4120 bytes each) from the frame asked for.
    Frames(Vec<u8>),
    /// No frame there: the generation ended, and the primary's current one is this.
    End(u32),
}

/// The largest answer we read into memory: a pull (the server sends at most 1024 frames, 4 MiB)
/// or a pipeline's results.
const MAX_BODY: u64 = 256 << 20;

/// Retries of an answer that says "try again" (5xx other than the end-of-generation 500), with
/// 100 ms · 2^n between them, as the libSQL clients do.
const RETRIES: u32 = 5;

pub(crate) struct Remote {
    base: String,
    token: Option<String>,
    /// Sent as `x-namespace` on every request, when set.
    namespace: Option<String>,
    /// The name this replica acknowledges its position under on waiting pulls, if it does
    /// (see `Builder::acknowledge`).
    pub(crate) ack: Option<String>,
    agent: Agent,
}

/// The header that asks an `edgelite-server` to hold a pull with nothing new (milliseconds).
pub const WAIT_HEADER: &str = "x-edgelite-wait-ms";
/// Sent with every pull: this replica's frame numbers are the primary's own, so an
/// `edgelite-server` answers a pull past its history with 409 (not as a generation's end).
pub const STRICT_HEADER: &str = "x-edgelite-strict";
/// Sent with a waiting pull by a replica that acknowledges what it holds: its name. The pull
/// `/sync/{g}/{start}/..` then says that this replica holds generation g's frames before
/// `start` (see edgelite-server's `--durability replica`).
pub const ACK_HEADER: &str = "x-edgelite-replica-ack";
/// With [`ACK_HEADER`]: the salts of the WAL frames held of that generation, `S1-S2`, by which
/// the primary knows they are frames of its WAL (absent while none are held).
pub const ACK_SALTS_HEADER: &str = "x-edgelite-replica-salts";

fn unreachable(url: &str, e: &ureq::Error) -> ReplicationError {
    ReplicationError::new(ErrorKind::Unreachable, format!("cannot reach the primary at {url}: {e}"))
}

fn protocol(msg: String) -> ReplicationError {
    ReplicationError::new(ErrorKind::Protocol, msg)
}

impl Remote {
    pub(crate) fn new(url: &str, token: Option<String>, namespace: Option<String>) -> Result<Remote, ReplicationError> {
        let base = url.trim_end_matches('/');
        if !(base.starts_with("http://") || base.starts_with("https://")) {
            return Err(ReplicationError::new(
                ErrorKind::Config,
                format!("sync URL {url:?}: only http:// and https:// URLs are served by edgelite-server"),
            ));
        }
        let agent: Agent = Agent::config_builder()
            .http_status_as_error(false)
            .timeout_connect(Some(Duration::from_secs(10)))
            // a read that stalls this long means the primary is gone; a big export still streams
            .timeout_recv_body(None)
            .timeout_per_read(Some(Duration::from_secs(60)))
            .user_agent(concat!("edgelite-replica/", env!("CARGO_PKG_VERSION")))
            .build()
            .into();
        Ok(Remote { base: base.to_owned(), token: token.filter(|t| !t.is_empty()), namespace, ack: None, agent })
    }

    /// The request with this replica's token and namespace, as every request carries them.
    fn identify<B>(&self, mut req: ureq::RequestBuilder<B>) -> ureq::RequestBuilder<B> {
        if let Some(t) = &self.token {
            req = req.header("authorization", format!("Bearer {t}"));
        }
        if let Some(ns) = &self.namespace {
            req = req.header("x-namespace", ns.as_str());
        }
        req
    }

    fn get(&self, path: &str, wait: Option<Duration>) -> Result<ureq::http::Response<ureq::Body>, ReplicationError> {
        self.get_acked(path, wait, None)
    }

    /// [`Remote::get`]; a waiting request of a replica that acknowledges also carries its name
    /// and the salts of the frames it holds (`held`).
    fn get_acked(
        &self,
        path: &str,
        wait: Option<Duration>,
        held: Option<Option<(u32, u32)>>,
    ) -> Result<ureq::http::Response<ureq::Body>, ReplicationError> {
        let url = format!("{}{path}", self.base);
        let mut delay = Duration::from_millis(100);
        for attempt in 0..=RETRIES {
            let mut req = self.identify(self.agent.get(&url));
            if held.is_some() {
                req = req.header(STRICT_HEADER, "1");
            }
            if let Some(w) = wait {
                req = req.header(WAIT_HEADER, w.as_millis().to_string());
                if let (Some(name), Some(salts)) = (&self.ack, held) {
                    req = req.header(ACK_HEADER, name.as_str());
                    if let Some((a, b)) = salts {
                        req = req.header(ACK_SALTS_HEADER, format!("{a}-{b}"));
                    }
                }
            }
            match req.call() {
                Ok(r) if r.status().as_u16() >= 501 && attempt < RETRIES => {}
                Ok(r) => return self.check_auth(r),
                Err(_) if attempt < RETRIES => {}
                Err(e) => return Err(unreachable(&url, &e)),
            }
            thread::sleep(delay);
            delay *= 2;
        }
        unreachable!("the last attempt returns")
    }

    /// 401 and 403 are errors of their own: a wrong or read-only token.
    fn check_auth(
        &self,
        mut r: ureq::http::Response<ureq::Body>,
    ) -> Result<ureq::http::Response<ureq::Body>, ReplicationError> {
        let status = r.status().as_u16();
        if status == 401 || status == 403 {
            let body = r.body_mut().with_config().limit(64 << 10).read_to_string().unwrap_or_default();
            return Err(ReplicationError::new(
                ErrorKind::Auth,
                format!("the primary refused the auth token (HTTP {status}): {}", body.trim()),
            ));
        }
        Ok(r)
    }

    /// `GET /info`: the primary's current generation.
    pub(crate) fn info(&self) -> Result<u32, ReplicationError> {
        let mut r = self.get("/info", None)?;
        let status = r.status().as_u16();
        let body = r.body_mut().with_config().limit(64 << 10).read_to_string().unwrap_or_default();
        if status != 200 {
            return Err(protocol(format!(
                "{}/info answered HTTP {status} ({}): is this an edgelite-server (sync protocol v2)?",
                self.base,
                body.trim()
            )));
        }
        let v: Value = serde_json::from_str(&body).map_err(|e| protocol(format!("/info: {e}")))?;
        v["current_generation"]
            .as_u64()
            .and_then(|g| u32::try_from(g).ok())
            .filter(|&g| g >= 1)
            .ok_or_else(|| protocol(format!("/info: no valid current_generation in {body}")))
    }

    /// `GET /export/{g}` into a new file at `to` (written and fsynced; the caller renames it).
    pub(crate) fn export(&self, g: u32, to: &Path) -> Result<u64, ReplicationError> {
        let mut r = self.get(&format!("/export/{g}"), None)?;
        let status = r.status().as_u16();
        if status != 200 {
            let body = r.body_mut().with_config().limit(64 << 10).read_to_string().unwrap_or_default();
            return Err(protocol(format!("/export/{g} answered HTTP {status}: {}", body.trim())));
        }
        let io_err = |e: io::Error| ReplicationError::new(ErrorKind::Io, format!("{}: {e}", to.display()));
        let file = fs::File::create(to).map_err(io_err)?;
        // Big buffers both ways: the copy runs at disk speed, not at syscall speed.
        let mut out = io::BufWriter::with_capacity(1 << 20, file);
        let mut reader = r.body_mut().with_config().limit(u64::MAX).reader();
        let n = io::copy(&mut reader, &mut out)
            .map_err(|e| ReplicationError::new(ErrorKind::Unreachable, format!("reading /export/{g}: {e}")))?;
        let file = out.into_inner().map_err(|e| io_err(e.into_error()))?;
        file.sync_all().map_err(io_err)?;
        if n < 100 || n % 4096 != 0 {
            return Err(protocol(format!("/export/{g}: {n} bytes is not a database of 4096-byte pages")));
        }
        Ok(n)
    }

    /// `GET /sync/{g}/{start}/{end}`; with `wait`, the primary may hold an answer that would
    /// have no frame for up to that long. `held`: the replica holds every frame before `start`,
    /// with these salts (acknowledged on a waiting pull when the replica acknowledges).
    pub(crate) fn pull(
        &self,
        g: u32,
        start: u32,
        end: u32,
        wait: Option<Duration>,
        held: Option<Option<(u32, u32)>>,
    ) -> Result<Pull, ReplicationError> {
        let mut r = self.get_acked(&format!("/sync/{g}/{start}/{end}"), wait, held)?;
        let status = r.status().as_u16();
        let body = r
            .body_mut()
            .with_config()
            .limit(MAX_BODY)
            .read_to_vec()
            .map_err(|e| ReplicationError::new(ErrorKind::Unreachable, format!("reading a pull: {e}")))?;
        match status {
            200 if !body.is_empty() && body.len() % super::FRAME_SIZE == 0 => Ok(Pull::Frames(body)),
            200 => Err(protocol(format!("/sync/{g}/{start}/{end}: {} bytes are not whole frames", body.len()))),
            400 | 500 => {
                let v: Value = serde_json::from_slice(&body).map_err(|e| {
                    protocol(format!(
                        "/sync answered {status} without a generation ({e}): {}",
                        String::from_utf8_lossy(&body)
                    ))
                })?;
                v["generation"]
                    .as_u64()
                    .and_then(|g| u32::try_from(g).ok())
                    .map(Pull::End)
                    .ok_or_else(|| protocol(format!("/sync answered {status}: {v}")))
            }
            // edgelite-server: the replica has frames the primary's history never had.
            409 => Err(ReplicationError::new(
                ErrorKind::Diverged,
                format!(
                    "the primary does not have this replica's frames of generation {g} (lost in a failover, no longer \
                     kept by the primary, or from an earlier database of the same name): remove the file and its \
                     -replica file to bootstrap again ({})",
                    String::from_utf8_lossy(&body).trim()
                ),
            )),
            _ => Err(protocol(format!("/sync answered HTTP {status}: {}", String::from_utf8_lossy(&body)))),
        }
    }

    /// `POST /sync/{g}/{start}/{end}[/{baton}]`: pushes `frames` (whole frames, the replica's
    /// offline writes numbered from `start`); the primary's answer (`docs/sync-protocol.md`
    /// §5.2). Never retried: the primary may have applied it.
    pub(crate) fn push(
        &self,
        g: u32,
        start: u32,
        baton: Option<&str>,
        frames: &[u8],
    ) -> Result<Pushed, ReplicationError> {
        let n = u32::try_from(frames.len() / super::FRAME_SIZE).map_err(|_| protocol("too many frames".into()))?;
        let end = start + n;
        let mut url = format!("{}/sync/{g}/{start}/{end}", self.base);
        if let Some(b) = baton {
            url.push('/');
            url.push_str(b);
        }
        let req = self.identify(self.agent.post(&url).content_type("application/octet-stream"));
        let r = req.send(frames).map_err(|e| unreachable(&url, &e))?;
        let mut r = self.check_auth(r)?;
        let status = r.status().as_u16();
        let text = r
            .body_mut()
            .with_config()
            .limit(MAX_BODY)
            .read_to_string()
            .map_err(|e| ReplicationError::new(ErrorKind::Unreachable, format!("reading a push answer: {e}")))?;
        let v: Value = serde_json::from_str(&text)
            .map_err(|e| protocol(format!("push answered HTTP {status} with no JSON ({e}): {text}")))?;
        if status != 200 {
            return Err(protocol(format!("push to {url} answered HTTP {status}: {text}")));
        }
        let num = |k: &str| v[k].as_u64().and_then(|n| u32::try_from(n).ok());
        match (v["status"].as_str(), num("max_frame_no"), num("generation")) {
            (Some("ok"), Some(max_frame_no), Some(generation)) => {
                Ok(Pushed::Ok { generation, max_frame_no, baton: v["baton"].as_str().map(str::to_owned) })
            }
            (Some("conflict"), _, _) => Ok(Pushed::Conflict),
            _ => Err(protocol(format!("push to {url} answered {text}"))),
        }
    }

    /// `POST /v2/pipeline` with `requests` on a new stream; the `results` array.
    pub(crate) fn pipeline(&self, requests: Vec<Value>) -> Result<Vec<Value>, ReplicationError> {
        self.pipeline_on(None, requests).map(|(results, _)| results)
    }

    /// `POST /v2/pipeline` with `requests` on the stream that `baton` continues (a new one
    /// without it); the `results` array and the baton that continues the stream (none once
    /// the stream is closed).
    pub(crate) fn pipeline_on(
        &self,
        baton: Option<&str>,
        requests: Vec<Value>,
    ) -> Result<(Vec<Value>, Option<String>), ReplicationError> {
        let url = format!("{}/v2/pipeline", self.base);
        let body = serde_json::to_vec(&json!({"baton": baton, "requests": requests}))
            .map_err(|e| protocol(format!("encoding a pipeline: {e}")))?;
        let req = self.identify(self.agent.post(&url).content_type("application/json"));
        // Never retried: the primary may have run it.
        let r = req.send(&body[..]).map_err(|e| unreachable(&url, &e))?;
        let mut r = self.check_auth(r)?;
        let status = r.status().as_u16();
        let text =
            r.body_mut().with_config().limit(MAX_BODY).read_to_string().map_err(|e| {
                ReplicationError::new(ErrorKind::Unreachable, format!("reading a pipeline answer: {e}"))
            })?;
        let v: Value = serde_json::from_str(&text)
            .map_err(|e| protocol(format!("/v2/pipeline answered HTTP {status} with no JSON ({e}): {text}")))?;
        if status != 200 {
            let msg = v["message"].as_str().or(v["error"].as_str()).unwrap_or(&text);
            return Err(protocol(format!("/v2/pipeline answered HTTP {status}: {msg}")));
        }
        let baton = v["baton"].as_str().map(str::to_owned);
        match v.get("results") {
            Some(Value::Array(a)) => Ok((a.clone(), baton)),
            _ => Err(protocol(format!("/v2/pipeline: no results in {text}"))),
        }
    }
}

/// Writes `data` to `path` atomically and durably (a temporary file, fsync, rename, fsync of
/// the directory).
pub(crate) fn write_atomic(path: &Path, data: &[u8]) -> io::Result<()> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = std::path::PathBuf::from(tmp);
    let mut f = fs::File::create(&tmp)?;
    f.write_all(data)?;
    f.sync_all()?;
    fs::rename(&tmp, path)?;
    sync_dir(path)
}

/// Makes a rename or creation in `path`'s directory durable.
pub(crate) fn sync_dir(path: &Path) -> io::Result<()> {
    match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => fs::File::open(d)?.sync_all(),
        _ => fs::File::open(".")?.sync_all(),
    }
}
