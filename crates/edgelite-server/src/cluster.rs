//! Cluster mode (`--etcd-endpoints`, `--cluster`, `--advertise-url`): servers that share an etcd
//! form a group with one primary; the others are replica servers of it
//! ([`crate::replica_server`]), and one of them takes over when the primary goes.
//!
//! **Election.** The primary is whoever holds the key `edgelite/clusters/<NAME>/primary`, put
//! with an etcd lease of `--cluster-lease-ttl-secs` in a transaction that succeeds only while
//! the key does not exist. Its value is JSON `{"url": ..., "admin_url": ..., "term": ...}`:
//! load balancers and operators find the primary in etcd itself, as LiteFS publishes its
//! primary in Consul. The term is the etcd revision of the put, which only grows.
//!
//! **Roles.** A node decides its role once, at start: the winner serves as a primary, the
//! others as replica servers of the URL in the key. When that changes (a replica sees the key
//! deleted or given to another node; a primary loses its lease) the process starts again in
//! place (`exec` of its own binary with the same arguments), which closes every database and
//! socket as a crash would, and elects again. A server is built to survive a SIGKILL, so a
//! restart is the one way of changing roles that has no half-changed state.
//!
//! **Fencing.** A primary holds its lease only as long as etcd answers its keepalives. Each
//! answer extends the [`Fence`] to three quarters of the lease's time to live after the
//! keepalive was *sent* (etcd cannot expire the lease before a full time to live after it
//! received it), and every request is refused (503 `NOT_PRIMARY`) once the fence has run
//! out, before SQL runs and again before a committed write is answered. So a primary cut off
//! from etcd, paused, or slower than its lease stops acknowledging writes before another node
//! can be elected: a deposed primary never acknowledges another write.
//!
//! **Data.** `<db-path>/cluster-role` records the role and term the data directory was last
//! used in. A node that starts as a replica after it was a primary moves its databases to
//! `<db-path>/deposed/<unix-ms>/` (they may hold commits that no replica had: the group never
//! acknowledged them with `--durability replica`) and copies the primary's anew. A replica
//! keeps the primary's frames as it applies them (`gens/<g>/frames`); promoted, it serves its
//! copies as its own databases going on with that very history (generation g+1 starts from the
//! copy's content, see `promote_copy`), so the other replicas and embedded replicas go on
//! where they were; one holding frames the new primary never had gets 409 and is copied anew.
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use etcd_client::{Client, Compare, CompareOp, EventType, PutOptions, Txn, TxnOp, TxnOpResponse};
use serde_json::{Value, json};

/// Settings of cluster mode (the `--etcd-endpoints`, `--cluster`, `--advertise-url` flags).
#[derive(Clone, Debug)]
pub struct ClusterConfig {
    /// etcd's client URLs.
    pub endpoints: Vec<String>,
    /// The group's name: its keys live under `edgelite/clusters/<name>/`.
    pub name: String,
    /// This node's user API as others reach it.
    pub advertise_url: String,
    /// This node's admin API as others reach it (replicas list the primary's namespaces there).
    pub advertise_admin_url: Option<String>,
    /// The primary's lease: how long a primary that stopped answering keeps the role.
    pub lease_ttl: Duration,
}

impl ClusterConfig {
    /// The key that names the primary.
    #[must_use]
    pub fn primary_key(&self) -> String {
        format!("edgelite/clusters/{}/primary", self.name)
    }

    /// The key under which each node says what it is.
    #[must_use]
    pub fn node_key(&self) -> String {
        format!("edgelite/clusters/{}/nodes/{}", self.name, self.advertise_url)
    }
}

/// The primary in etcd: its URLs and term.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Primary {
    /// Its user API.
    pub url: String,
    /// Its admin API.
    pub admin_url: Option<String>,
    /// The etcd revision at which it was elected.
    pub term: i64,
}

impl Primary {
    fn parse(v: &[u8], revision: i64) -> Option<Primary> {
        let v: Value = serde_json::from_slice(v).ok()?;
        Some(Primary {
            url: v["url"].as_str()?.to_owned(),
            admin_url: v["admin_url"].as_str().map(str::to_owned),
            // 0 until the winner publishes it: the key's creation revision, which it equals.
            term: v["term"].as_i64().filter(|&t| t > 0).unwrap_or(revision),
        })
    }
}

/// What this node is in the group.
#[derive(Clone, Debug)]
pub enum Role {
    /// It holds the primary key under lease `lease`.
    Primary {
        /// The etcd lease id.
        lease: i64,
        /// The term it was elected in.
        term: i64,
    },
    /// It replicates this primary.
    Replica(Primary),
}

/// How long a primary may still act as one: until the end of the lease as far as this node can
/// vouch for it (see the module doc). Shared by every namespace (`Settings::fence`).
#[derive(Debug)]
pub struct Fence {
    origin: Instant,
    /// Milliseconds after `origin` until which the lease surely holds.
    until_ms: AtomicU64,
}

impl Fence {
    /// A lease of `ttl` whose last keepalive was sent at `sent`.
    #[must_use]
    pub fn new(sent: Instant, ttl: Duration) -> Fence {
        let f = Fence { origin: sent, until_ms: AtomicU64::new(0) };
        f.extend(sent, ttl);
        f
    }

    /// A keepalive sent at `sent` was answered with `ttl` left.
    fn extend(&self, sent: Instant, ttl: Duration) {
        let until = sent.saturating_duration_since(self.origin) + ttl * 3 / 4;
        self.until_ms.fetch_max(u64::try_from(until.as_millis()).unwrap_or(u64::MAX), Ordering::AcqRel);
    }

    /// Ends the fence now (the lease is known to be lost).
    fn expire(&self) {
        self.until_ms.store(0, Ordering::Release);
    }

    /// Whether this node may still act as the primary.
    #[must_use]
    pub fn holds(&self) -> bool {
        let now = u64::try_from(self.origin.elapsed().as_millis()).unwrap_or(u64::MAX);
        now < self.until_ms.load(Ordering::Acquire)
    }
}

/// A member of the group, after its election: its role, and what keeps it.
pub struct Member {
    /// Its settings.
    pub config: ClusterConfig,
    /// Its role, decided at start.
    pub role: Role,
    /// A primary's fence (`None` on a replica).
    pub fence: Option<Arc<Fence>>,
    client: Client,
}

fn err(what: &str, e: &etcd_client::Error) -> String {
    format!("etcd: {what}: {e}")
}

/// Connects to etcd and takes the primary role if nobody holds it, otherwise becomes a replica
/// of the one who does. While the key still names this very node (a lease from before a
/// restart, which has not run out yet) it waits for that lease to end.
///
/// # Errors
///
/// etcd cannot be reached within about 30 s.
pub async fn join(config: ClusterConfig) -> Result<Member, String> {
    let opts = etcd_client::ConnectOptions::new()
        .with_connect_timeout(Duration::from_secs(3))
        .with_timeout(Duration::from_secs(5));
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut client = loop {
        match Client::connect(&config.endpoints, Some(opts.clone())).await {
            Ok(c) => break c,
            Err(e) if Instant::now() < deadline => {
                eprintln!("edgelite-server: cluster: {}; retrying", err("connecting", &e));
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
            Err(e) => return Err(err("connecting", &e)),
        }
    };
    let key = config.primary_key();
    let ttl_secs = i64::try_from(config.lease_ttl.as_secs().max(1)).unwrap_or(i64::MAX);
    loop {
        let sent = Instant::now();
        let lease = client.lease_grant(ttl_secs, None).await.map_err(|e| err("granting a lease", &e))?;
        let value = |term: i64| {
            json!({"url": config.advertise_url, "admin_url": config.advertise_admin_url, "term": term}).to_string()
        };
        // The term is the revision of this very put: it is filled in by a second put in the
        // same lease once known (readers fall back to the key's revision meanwhile).
        let txn = Txn::new()
            .when([Compare::create_revision(key.clone(), CompareOp::Equal, 0)])
            .and_then([TxnOp::put(key.clone(), value(0), Some(PutOptions::new().with_lease(lease.id())))])
            .or_else([TxnOp::get(key.clone(), None)]);
        let r = client.txn(txn).await.map_err(|e| err("campaigning", &e))?;
        if r.succeeded() {
            let term = r.header().map_or(0, etcd_client::ResponseHeader::revision);
            let put = TxnOp::put(key.clone(), value(term), Some(PutOptions::new().with_lease(lease.id())));
            let txn = Txn::new().when([Compare::create_revision(key.clone(), CompareOp::Equal, term)]).and_then([put]);
            client.txn(txn).await.map_err(|e| err("publishing the term", &e))?;
            let fence = Arc::new(Fence::new(sent, Duration::from_secs(u64::try_from(lease.ttl()).unwrap_or(1))));
            eprintln!(
                "edgelite-server: cluster {:?}: this node ({}) is the primary, term {term}",
                config.name, config.advertise_url
            );
            return Ok(Member { config, role: Role::Primary { lease: lease.id(), term }, fence: Some(fence), client });
        }
        // Not ours: give the lease back at once.
        let _ = client.lease_revoke(lease.id()).await;
        let held = r.op_responses().into_iter().find_map(|op| match op {
            TxnOpResponse::Get(g) => g.kvs().first().and_then(|kv| Primary::parse(kv.value(), kv.create_revision())),
            _ => None,
        });
        match held {
            Some(p) if p.url == config.advertise_url => {
                eprintln!(
                    "edgelite-server: cluster: etcd still names this node primary (an earlier lease); waiting for it to end"
                );
                tokio::time::sleep(Duration::from_millis(300)).await;
            }
            Some(p) => {
                eprintln!(
                    "edgelite-server: cluster {:?}: this node ({}) is a replica of {} (term {})",
                    config.name, config.advertise_url, p.url, p.term
                );
                return Ok(Member { config, role: Role::Replica(p), fence: None, client });
            }
            // Deleted between the compare and the get: try again.
            None => tokio::time::sleep(Duration::from_millis(50)).await,
        }
    }
}

/// The role file in the data directory.
const ROLE_FILE: &str = "cluster-role";

/// Readies the data directory for `role` (see the module doc): a primary's databases become a
/// replica's only after they are moved aside; a replica's copies become a primary's own.
///
/// # Errors
///
/// File errors.
pub fn prepare_data_dir(db_path: &Path, role: &Role) -> std::io::Result<()> {
    std::fs::create_dir_all(db_path)?;
    let role_file = db_path.join(ROLE_FILE);
    let last = std::fs::read_to_string(&role_file).unwrap_or_default();
    let dbs = db_path.join("dbs");
    let has_dbs = std::fs::read_dir(&dbs).is_ok_and(|mut d| d.next().is_some());
    let last = last.trim();
    let now = match role {
        Role::Primary { term, .. } => {
            if last.starts_with("replica") && has_dbs {
                // Copies become databases of their own, going on with the history they followed.
                for e in std::fs::read_dir(&dbs)?.flatten() {
                    promote_copy(&e.path())?;
                }
            }
            format!("primary {term}")
        }
        Role::Replica(p) => {
            // Copies of an earlier term's primary are kept: the new primary goes on with the same
            // history, and a copy with frames it does not have is told so (409, `Diverged`) and
            // copied anew.
            let now = format!("replica {}", p.term);
            if !last.starts_with("replica") && has_dbs {
                let ms =
                    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis());
                let aside = db_path.join("deposed").join(ms.to_string());
                std::fs::create_dir_all(&aside)?;
                std::fs::rename(&dbs, aside.join("dbs"))?;
                eprintln!(
                    "edgelite-server: cluster: the databases of this node's time as a primary (or before the cluster) \
                     are kept in {} and copied anew from the primary",
                    aside.display()
                );
            }
            now
        }
    };
    std::fs::write(&role_file, now)
}

/// A replica's copy (`dir`, see [`crate::replica_server`]) made a database of this primary's
/// own, going on with the primary history it followed: its own WAL is folded into the file,
/// the frames of its generation g that it kept become g's archive (cut to the ones it applied),
/// and `generation` says g, so its first open starts generation g+1 from this very content.
/// Without a whole archive it starts a history of its own (generation 1), as an adopted file.
fn promote_copy(dir: &Path) -> std::io::Result<()> {
    let data = dir.join("data");
    let position = edgelite::replica::position_path(&data);
    if !position.exists() {
        return Ok(());
    }
    let at = edgelite::replica::stored_position(&data);
    let conn = edgelite::Connection::open(&data).map_err(std::io::Error::other)?;
    let busy: i64 =
        conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |r| r.get(0)).map_err(std::io::Error::other)?;
    drop(conn);
    if busy != 0 {
        return Err(std::io::Error::other(format!("{}: the copy's WAL could not be checkpointed", dir.display())));
    }
    let whole = at.and_then(|(g, n)| {
        let frames = dir.join("gens").join(g.to_string()).join("frames");
        let want = u64::from(n) * crate::wal::FRAME_SIZE as u64;
        let len = std::fs::metadata(&frames).map_or(0, |m| m.len());
        (len >= want).then_some((g, frames, want))
    });
    match whole {
        Some((g, frames, want)) => {
            if let Some(parent) = frames.parent() {
                std::fs::create_dir_all(parent)?;
            }
            let f = std::fs::OpenOptions::new().create(true).truncate(false).write(true).open(&frames)?;
            f.set_len(want)?;
            f.sync_all()?;
            std::fs::write(dir.join("generation"), g.to_string())?;
        }
        None => {
            eprintln!(
                "edgelite-server: cluster: {}: the copy did not keep its primary's frames whole; it starts a history \
                 of its own",
                dir.display()
            );
            let _ = std::fs::remove_dir_all(dir.join("gens"));
        }
    }
    std::fs::remove_file(&position)
}

/// Starts this process again in place with the same arguments, to take a new role.
fn restart(why: &str) -> ! {
    use std::os::unix::process::CommandExt as _;
    eprintln!("edgelite-server: cluster: {why}; restarting to elect again");
    let exe = std::env::current_exe().unwrap_or_else(|_| "/proc/self/exe".into());
    let e = std::process::Command::new(exe).args(std::env::args_os().skip(1)).exec();
    eprintln!("edgelite-server: cluster: restarting failed: {e}");
    std::process::exit(1)
}

impl Member {
    /// Keeps the role in the background: a primary renews its lease (and restarts when it is
    /// lost), a replica watches the primary key (and restarts when it changes). Also publishes
    /// this node under the nodes prefix for [`Member::status`].
    pub fn keep(self: &Arc<Self>) {
        let me = Arc::clone(self);
        tokio::spawn(async move {
            match me.role.clone() {
                Role::Primary { lease, .. } => {
                    if let Some(fence) = me.fence.clone() {
                        me.renew(lease, fence).await;
                    }
                }
                Role::Replica(p) => me.watch(&p).await,
            }
        });
    }

    async fn renew(&self, lease: i64, fence: Arc<Fence>) {
        let mut client = self.client.clone();
        let every = self.config.lease_ttl / 4;
        let node = json!({"role": "primary", "url": self.config.advertise_url}).to_string();
        let _ = client.put(self.config.node_key(), node, Some(PutOptions::new().with_lease(lease))).await;
        let mut keeper = None;
        loop {
            let sent = Instant::now();
            if keeper.is_none() {
                keeper = client.lease_keep_alive(lease).await.ok();
            }
            let answer = match keeper.as_mut() {
                Some((k, s)) => tokio::time::timeout(every, async {
                    k.keep_alive().await?;
                    s.message().await
                })
                .await
                .ok(),
                None => None,
            };
            match answer {
                Some(Ok(Some(r))) if r.ttl() > 0 => {
                    fence.extend(sent, Duration::from_secs(u64::try_from(r.ttl()).unwrap_or(0)));
                }
                Some(Ok(Some(_))) => {
                    fence.expire();
                    restart("etcd says this primary's lease has expired");
                }
                _ => {
                    keeper = None;
                    if !fence.holds() {
                        let _ = tokio::time::timeout(Duration::from_millis(500), client.lease_revoke(lease)).await;
                        restart("this primary's lease could not be renewed in time (etcd unreachable)");
                    }
                }
            }
            if !fence.holds() {
                restart("this primary's lease ran out before etcd answered");
            }
            tokio::time::sleep(every.saturating_sub(sent.elapsed())).await;
        }
    }

    async fn watch(&self, primary: &Primary) {
        let mut client = self.client.clone();
        let key = self.config.primary_key();
        loop {
            // Looked at again before each watch: a change while no watch ran is not missed.
            match client.get(key.clone(), None).await {
                Ok(r) => {
                    let now = r.kvs().first().and_then(|kv| Primary::parse(kv.value(), kv.create_revision()));
                    match now {
                        None => restart("the primary's lease ended"),
                        Some(p) if p.url != primary.url || p.term != primary.term => {
                            restart(&format!("the primary is now {} (term {})", p.url, p.term));
                        }
                        Some(_) => {}
                    }
                    let from = r.header().map_or(0, etcd_client::ResponseHeader::revision) + 1;
                    let opts = etcd_client::WatchOptions::new().with_start_revision(from);
                    if let Ok(mut stream) = client.watch(key.clone(), Some(opts)).await {
                        while let Ok(Some(w)) = stream.message().await {
                            for ev in w.events() {
                                match ev.event_type() {
                                    EventType::Delete => restart("the primary's lease ended"),
                                    EventType::Put => {
                                        let p = ev.kv().and_then(|kv| Primary::parse(kv.value(), kv.create_revision()));
                                        if p.as_ref().is_none_or(|p| p.url != primary.url) {
                                            restart("another node became the primary");
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
                Err(e) => {
                    eprintln!("edgelite-server: cluster: {}; still replicating {}", err("watching", &e), primary.url)
                }
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }

    /// The group as etcd and this node see it (the admin API's `GET /v1/cluster`).
    pub async fn status(&self, replicas: Value) -> Value {
        let mut client = self.client.clone();
        let prefix = format!("edgelite/clusters/{}/nodes/", self.config.name);
        let nodes: Vec<Value> =
            match client.get(prefix.clone(), Some(etcd_client::GetOptions::new().with_prefix())).await {
                Ok(r) => r.kvs().iter().filter_map(|kv| serde_json::from_slice(kv.value()).ok()).collect(),
                Err(_) => Vec::new(),
            };
        let primary = match client.get(self.config.primary_key(), None).await {
            Ok(r) => r.kvs().first().and_then(|kv| Primary::parse(kv.value(), kv.create_revision())),
            Err(_) => None,
        };
        json!({
            "cluster": self.config.name,
            "primary": primary.as_ref().map(|p| json!({"url": p.url, "admin_url": p.admin_url, "term": p.term})),
            "self": {
                "url": self.config.advertise_url,
                "role": match self.role { Role::Primary { .. } => "primary", Role::Replica(_) => "replica" },
                "lease_holds": self.fence.as_ref().map(|f| f.holds()),
            },
            "nodes": nodes,
            "replication": replicas,
        })
    }

    /// A replica publishes itself under the nodes prefix (with a lease of its own).
    pub async fn announce_replica(&self) {
        let mut client = self.client.clone();
        let ttl = i64::try_from(self.config.lease_ttl.as_secs().max(1)).unwrap_or(i64::MAX);
        let Ok(lease) = client.lease_grant(ttl, None).await else { return };
        let node = json!({"role": "replica", "url": self.config.advertise_url}).to_string();
        let _ = client.put(self.config.node_key(), node, Some(PutOptions::new().with_lease(lease.id()))).await;
        if let Ok((mut k, mut s)) = client.lease_keep_alive(lease.id()).await {
            let every = self.config.lease_ttl / 3;
            tokio::spawn(async move {
                loop {
                    if k.keep_alive().await.is_err() || s.message().await.is_err() {
                        return;
                    }
                    tokio::time::sleep(every).await;
                }
            });
        }
    }

    /// On SIGTERM: a primary gives its lease back, so another node is elected at once.
    pub async fn leave(&self) {
        if let Role::Primary { lease, .. } = self.role {
            if let Some(f) = &self.fence {
                f.expire();
            }
            let mut client = self.client.clone();
            let _ = tokio::time::timeout(Duration::from_secs(2), client.lease_revoke(lease)).await;
        }
    }
}
