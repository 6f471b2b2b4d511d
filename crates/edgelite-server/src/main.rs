//! The `edgelite-server` binary: flags named as sqld's where they overlap.

#![forbid(unsafe_code)]

use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand, ValueEnum};

/// A libSQL-compatible server over edgelite.
#[derive(Parser, Debug)]
#[command(name = "edgelite-server", version, args_conflicts_with_subcommands = true)]
struct Args {
    #[command(subcommand)]
    command: Option<Command>,
    /// Data directory (one database per namespace under `<db-path>/dbs/`).
    #[arg(long, default_value = "data.edgelite")]
    db_path: PathBuf,
    /// Address of the user API (Hrana, sync).
    #[arg(long, default_value = "127.0.0.1:8080")]
    http_listen_addr: String,
    /// Address of the admin API (namespaces, checkpoints); off when absent.
    #[arg(long)]
    admin_listen_addr: Option<String>,
    /// Ed25519 public key (PEM, or raw 32 bytes as base64url) that verifies JWTs; no auth when absent.
    #[arg(long, env = "SQLD_AUTH_JWT_KEY_FILE")]
    auth_jwt_key_file: Option<PathBuf>,
    /// Resolve namespaces from `x-namespace`, the subdomain or `/dev/{ns}/`.
    #[arg(long)]
    enable_namespaces: bool,
    /// Start a new sync generation once the WAL holds this many committed frames.
    #[arg(long, default_value_t = 10_000)]
    checkpoint_frames: u32,
    /// Past sync generations kept per namespace (each a copy of the database and the frames
    /// written in it), for replicas that are behind; older ones are removed at each
    /// checkpoint, and a replica that last synced in one must bootstrap again. 0: keep all.
    #[arg(long, default_value_t = 0)]
    max_archived_generations: u32,
    /// Close HTTP and WebSocket streams idle for this many seconds.
    #[arg(long, default_value_t = 10)]
    stream_expiry_secs: u64,
    /// Largest accepted request body, in bytes.
    #[arg(long, default_value_t = 10 << 20)]
    max_body_bytes: usize,
    /// TCP connections the user API accepts at once; more wait in the backlog.
    #[arg(long, default_value_t = 4096)]
    max_http_connections: usize,
    /// TCP connections one client address may hold at once; more from it are closed at once.
    #[arg(long, default_value_t = 512)]
    max_http_connections_per_address: usize,
    /// Requests executing SQL at once, server-wide; more wait for a turn, shared fairly between
    /// namespaces (default: the number of CPUs).
    #[arg(long)]
    max_running_requests: Option<usize>,
    /// Milliseconds a request runs before it gives its turn to a waiting request.
    #[arg(long, default_value_t = 10)]
    time_slice_ms: u64,
    /// Requests (HTTP requests, WebSocket messages) a namespace may start per second while
    /// other namespaces are busy; more are delayed, not refused (0: no pace).
    #[arg(long, default_value_t = edgelite_server::DEFAULT_REQUESTS_PER_SECOND_PER_NAMESPACE)]
    max_requests_per_second_per_namespace: u32,
    /// Close a connection that has not sent a request's headers within this many seconds.
    #[arg(long, default_value_t = 10)]
    header_read_timeout_secs: u64,
    /// End a request (408) whose body has not arrived within this many seconds.
    #[arg(long, default_value_t = 30)]
    body_read_timeout_secs: u64,
    /// HTTP requests in progress, server-wide (as sqld's flag).
    #[arg(long, env = "SQLD_MAX_CONCURRENT_REQUESTS", default_value_t = 512)]
    max_concurrent_requests: usize,
    /// HTTP requests in progress per namespace.
    #[arg(long, default_value_t = 32)]
    max_concurrent_requests_per_namespace: usize,
    /// Open HTTP streams, server-wide.
    #[arg(long, default_value_t = 4096)]
    max_http_streams: usize,
    /// Open HTTP streams per namespace.
    #[arg(long, default_value_t = 256)]
    max_http_streams_per_namespace: usize,
    /// WebSocket connections, server-wide.
    #[arg(long, default_value_t = 2048)]
    max_ws_connections: usize,
    /// WebSocket connections per namespace.
    #[arg(long, default_value_t = 64)]
    max_ws_connections_per_namespace: usize,
    /// Streams one WebSocket may hold open.
    #[arg(long, default_value_t = 32)]
    max_ws_streams: usize,
    /// SQLite connections held by streams per namespace (as sqld's flag).
    #[arg(long, env = "SQLD_MAX_CONCURRENT_CONNECTIONS", default_value_t = 64)]
    max_concurrent_connections: usize,
    /// SQLite connections held by streams, server-wide.
    #[arg(long, default_value_t = 1024)]
    max_total_connections: usize,
    /// Largest response to one Hrana request, in bytes of JSON (as sqld's flag).
    #[arg(long, env = "SQLD_MAX_RESPONSE_SIZE", default_value_t = 32 << 20)]
    max_response_size: usize,
    /// Largest HTTP response (a whole pipeline or cursor), in bytes of JSON (as sqld's flag).
    #[arg(long, env = "SQLD_MAX_TOTAL_RESPONSE_SIZE", default_value_t = 32 << 20)]
    max_total_response_size: usize,
    /// Roll back a stream's transaction open for longer than this many seconds (sqld's
    /// `txn_timeout_s`).
    #[arg(long, default_value_t = 5)]
    txn_timeout_secs: u64,
    /// Clock skew allowed on a token's `exp` and `nbf`, in seconds.
    #[arg(long, default_value_t = 5)]
    auth_jwt_leeway_secs: u64,
    /// Databases kept open at once; the least recently used idle ones are closed beyond it
    /// (each open one holds 1 file descriptor, and 2 more per connection in use or pooled,
    /// its keeper included once a checkpoint or push opened it).
    #[arg(long, default_value_t = 128)]
    max_open_databases: usize,
    /// The largest a namespace's database may grow, in bytes (0: no limit); writes past it
    /// fail with SQLITE_FULL. A namespace's own `max_db_size` (admin API) replaces it. Its
    /// temporary files (sorts, ephemeral and TEMP tables) are held to the same size, together.
    #[arg(long, default_value_t = 0)]
    max_db_size: u64,
    /// Bytes of SQLite memory (page caches, schemas, statements of every connection) above
    /// which the least recently used idle databases are closed (0: no limit).
    #[arg(long, default_value_t = 512 << 20)]
    max_open_databases_memory: u64,
    /// Bytes of vector index blocks that the node caches of all connections may hold together
    /// (0: none cached); past it searches read blocks through SQLite's page cache.
    #[arg(long, default_value_t = 1 << 30)]
    max_vector_cache_memory: u64,
    /// Bytes of vector index blocks that one namespace's connections may hold together in their
    /// node caches (0: none cached).
    #[arg(long, default_value_t = 256 << 20)]
    max_vector_cache_memory_per_namespace: u64,
    /// Bytes of SQLite's memory (page caches, statements, sorts, FTS data) that one namespace's
    /// requests may hold at once; an allocation past it fails that namespace's statement with
    /// SQLITE_NOMEM (0: no limit).
    #[arg(long, default_value_t = 512 << 20)]
    max_memory_per_namespace: u64,
    /// Close an open database that no request has used for this many seconds (0: only the
    /// limits close databases).
    #[arg(long, default_value_t = 60)]
    database_idle_timeout_secs: u64,
    /// Ship every namespace continuously to `s3://BUCKET/PREFIX` (settings from `AWS_*`) or
    /// `file:///path`; an empty data directory is restored from it first.
    #[arg(long)]
    backup_url: Option<String>,
    /// Ship committed frames at least this often (bounds what `--durability local` can lose).
    #[arg(long, default_value_t = 1000)]
    backup_interval_ms: u64,
    /// What a write's answer waits for: `local` disk, its frames stored in the `backup` bucket,
    /// or held by a `replica` server (one that follows this primary with `--primary-url`).
    #[arg(long, value_enum, default_value_t = DurabilityArg::Local)]
    durability: DurabilityArg,
    /// With `--durability backup`, a write fails if the bucket has not stored it within this.
    #[arg(long, default_value_t = 10_000)]
    backup_timeout_ms: u64,
    /// With `--durability replica`, a write fails with REPLICA_UNAVAILABLE (committed here all the
    /// same) if no replica server has acknowledged its frames within this many milliseconds.
    #[arg(long, default_value_t = 10_000)]
    replica_ack_timeout_ms: u64,
    /// The URL other nodes reach this one at (`http://HOST:PORT`, its user API). A replica server
    /// gives it to its primary as its name; a cluster member publishes it in etcd when it is
    /// elected (default: `http://` and `--http-listen-addr`).
    #[arg(long)]
    advertise_url: Option<String>,
    /// The URL other nodes reach this one's admin API at, published in etcd when it is elected
    /// (its replicas list the namespaces there; default: `http://` and `--admin-listen-addr`).
    #[arg(long)]
    advertise_admin_url: Option<String>,
    /// Form a cluster through these etcd client URLs (comma-separated): the holder of the
    /// cluster's etcd lease is the primary, the other members are its replicas, and one of them
    /// is elected when the primary's lease ends.
    #[arg(long, value_delimiter = ',', conflicts_with = "primary_url")]
    etcd_endpoints: Vec<String>,
    /// The cluster's name (its etcd keys are under `edgelite/clusters/NAME/`).
    #[arg(long, default_value = "default")]
    cluster: String,
    /// The primary's etcd lease, in seconds: a primary that stops renewing it is replaced after
    /// at most this long, and stops answering requests after three quarters of it.
    #[arg(long, default_value_t = 5)]
    cluster_lease_ttl_secs: u64,
    /// Remove backup generations whose every restore point is older than this many days.
    #[arg(long)]
    backup_retention_days: Option<u32>,
    /// Run as a replica of the `edgelite-server` at this URL (`http://HOST:PORT`, its user API):
    /// copy its namespaces, answer reads locally, forward writes and transactions to it.
    #[arg(long)]
    primary_url: Option<String>,
    /// The primary's admin API (`http://HOST:PORT`), to follow its namespaces as they are created
    /// and deleted; without it a replica copies only `default`.
    #[arg(long, requires = "primary_url")]
    primary_admin_url: Option<String>,
    /// The token a replica presents to the primary to pull its frames (read access to every
    /// namespace); clients' own tokens go with the writes they send.
    #[arg(long, env = "EDGELITE_PRIMARY_AUTH_TOKEN", hide_env_values = true)]
    primary_auth_token: Option<String>,
    /// How often a replica reads the primary's namespace list, in milliseconds.
    #[arg(long, default_value_t = 1000)]
    replica_discovery_ms: u64,
    /// The longest a write forwarded by a replica waits, before it is answered, for the replica
    /// to have applied it (read-your-writes), in milliseconds.
    #[arg(long, default_value_t = 5000)]
    replica_read_your_writes_timeout_ms: u64,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum DurabilityArg {
    Local,
    Backup,
    Replica,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Writes the database(s) of a backup, as they were after the last commit at or before
    /// `--to` (default: the latest), into a data directory for `edgelite-server --db-path DIR`.
    Restore {
        /// `s3://BUCKET/PREFIX` or `file:///path`.
        #[arg(long)]
        backup_url: String,
        /// The data directory to write (it must not hold the namespaces restored).
        #[arg(long)]
        db_path: PathBuf,
        /// Only this namespace (default: every namespace in the bucket).
        #[arg(long)]
        namespace: Option<String>,
        /// An RFC 3339 time, e.g. 2026-01-31T12:00:00.250Z.
        #[arg(long)]
        to: Option<String>,
    },
    /// Lists what a backup can restore: namespaces, generations, time ranges.
    Backups {
        /// `s3://BUCKET/PREFIX` or `file:///path`.
        #[arg(long)]
        backup_url: String,
        /// Only this namespace.
        #[arg(long)]
        namespace: Option<String>,
    },
}

/// Runs `restore` or `backups`.
async fn run_command(command: Command) -> ExitCode {
    let result = async {
        match command {
            Command::Restore { backup_url, db_path, namespace, to } => {
                let to = to.map(|t| edgelite_server::backup::parse_time(&t)).transpose()?;
                let target = edgelite_server::backup::Target::open(&backup_url).map_err(|e| e.to_string())?;
                let done = edgelite_server::backup::restore_all(&target, &db_path, namespace.as_deref(), to)
                    .await
                    .map_err(|e| e.to_string())?;
                if done.is_empty() {
                    return Err("the bucket holds no namespace".to_owned());
                }
                for (ns, r) in done {
                    println!(
                        "restored {ns}: generation {}, frame {}, as of {}",
                        r.generation,
                        r.frames,
                        edgelite_server::backup::format_time(r.as_of)
                    );
                }
                Ok(())
            }
            Command::Backups { backup_url, namespace } => {
                let target = edgelite_server::backup::Target::open(&backup_url).map_err(|e| e.to_string())?;
                let text = edgelite_server::backup::describe(&target, namespace.as_deref())
                    .await
                    .map_err(|e| e.to_string())?;
                print!("{text}");
                Ok(())
            }
        }
    }
    .await;
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("edgelite-server: {e}");
            ExitCode::FAILURE
        }
    }
}

fn main() -> ExitCode {
    // Before anything opens a database: SQLite takes an allocator only before it initializes.
    let rc = edgelite::ffi::install_memory_budgets();
    if rc != edgelite::ffi::SQLITE_OK {
        eprintln!("edgelite-server: cannot install the per-namespace memory budgets (SQLite error {rc})");
    }
    let args = Args::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("edgelite-server: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(async move {
        if let Some(command) = args.command {
            return run_command(command).await;
        }
        let mut config = edgelite_server::Config::new(args.db_path, args.http_listen_addr);
        config.admin_listen_addr = args.admin_listen_addr;
        config.auth_jwt_key_file = args.auth_jwt_key_file;
        config.auth_jwt_key = std::env::var("SQLD_AUTH_JWT_KEY").ok().filter(|k| !k.trim().is_empty());
        config.enable_namespaces = args.enable_namespaces;
        config.checkpoint_frames = args.checkpoint_frames;
        config.max_archived_generations = args.max_archived_generations;
        config.stream_expiry = Duration::from_secs(args.stream_expiry_secs.max(1));
        config.max_body_bytes = args.max_body_bytes;
        config.limits = edgelite_server::Limits {
            max_http_connections: args.max_http_connections,
            header_read_timeout: Duration::from_secs(args.header_read_timeout_secs.max(1)),
            body_read_timeout: Duration::from_secs(args.body_read_timeout_secs.max(1)),
            max_concurrent_requests: args.max_concurrent_requests,
            max_concurrent_requests_per_namespace: args.max_concurrent_requests_per_namespace,
            max_http_streams: args.max_http_streams,
            max_http_streams_per_namespace: args.max_http_streams_per_namespace,
            max_ws_connections: args.max_ws_connections,
            max_ws_connections_per_namespace: args.max_ws_connections_per_namespace,
            max_ws_streams: args.max_ws_streams,
            max_concurrent_connections: args.max_concurrent_connections,
            max_total_connections: args.max_total_connections,
            max_response_size: args.max_response_size,
            max_total_response_size: args.max_total_response_size,
            txn_timeout: Duration::from_secs(args.txn_timeout_secs.max(1)),
            jwt_leeway: Duration::from_secs(args.auth_jwt_leeway_secs),
            max_http_connections_per_address: args.max_http_connections_per_address,
            max_running_requests: args
                .max_running_requests
                .unwrap_or(edgelite_server::Limits::default().max_running_requests),
            time_slice: Duration::from_millis(args.time_slice_ms.max(1)),
            max_requests_per_second_per_namespace: args.max_requests_per_second_per_namespace,
            max_open_databases: args.max_open_databases.max(1),
            max_db_size: args.max_db_size,
            max_open_databases_memory: args.max_open_databases_memory,
            max_vector_cache_memory: args.max_vector_cache_memory,
            max_vector_cache_memory_per_namespace: args.max_vector_cache_memory_per_namespace,
            max_memory_per_namespace: args.max_memory_per_namespace,
            database_idle_timeout: (args.database_idle_timeout_secs > 0)
                .then(|| Duration::from_secs(args.database_idle_timeout_secs)),
        };
        if let Some(url) = args.backup_url {
            let mut b = edgelite_server::backup::BackupConfig::new(url);
            b.interval = Duration::from_millis(args.backup_interval_ms.max(1));
            b.timeout = Duration::from_millis(args.backup_timeout_ms.max(1));
            b.durability = match args.durability {
                DurabilityArg::Local | DurabilityArg::Replica => edgelite_server::backup::Durability::Local,
                DurabilityArg::Backup => edgelite_server::backup::Durability::Backup,
            };
            b.retention = args.backup_retention_days.map(|d| Duration::from_secs(u64::from(d) * 86_400));
            config.backup = Some(b);
        } else if matches!(args.durability, DurabilityArg::Backup) {
            eprintln!("edgelite-server: --durability backup needs --backup-url");
            return ExitCode::FAILURE;
        }
        if matches!(args.durability, DurabilityArg::Replica) {
            config.replica_ack_timeout = Some(Duration::from_millis(args.replica_ack_timeout_ms.max(1)));
        }
        // Cluster mode: the role comes from etcd (see edgelite_server::cluster).
        let mut member = None;
        let mut primary_url = args.primary_url;
        let mut primary_admin_url = args.primary_admin_url;
        if !args.etcd_endpoints.is_empty() {
            use edgelite_server::cluster;
            if config.backup.is_some() {
                eprintln!("edgelite-server: --backup-url is not supported with --etcd-endpoints yet");
                return ExitCode::FAILURE;
            }
            let cc = cluster::ClusterConfig {
                endpoints: args.etcd_endpoints.clone(),
                name: args.cluster.clone(),
                advertise_url: args
                    .advertise_url
                    .clone()
                    .unwrap_or_else(|| format!("http://{}", config.http_listen_addr)),
                advertise_admin_url: args
                    .advertise_admin_url
                    .clone()
                    .or_else(|| config.admin_listen_addr.as_ref().map(|a| format!("http://{a}"))),
                lease_ttl: Duration::from_secs(args.cluster_lease_ttl_secs.max(1)),
            };
            let m = match cluster::join(cc).await {
                Ok(m) => m,
                Err(e) => {
                    eprintln!("edgelite-server: cluster: {e}");
                    return ExitCode::FAILURE;
                }
            };
            if let Err(e) = cluster::prepare_data_dir(&config.db_path, &m.role) {
                eprintln!("edgelite-server: cluster: readying {}: {e}", config.db_path.display());
                return ExitCode::FAILURE;
            }
            match &m.role {
                cluster::Role::Primary { .. } => config.fence.clone_from(&m.fence),
                cluster::Role::Replica(p) => {
                    primary_url = Some(p.url.clone());
                    primary_admin_url.clone_from(&p.admin_url);
                    // `--durability replica` is the primary's: a replica forwards writes.
                    config.replica_ack_timeout = None;
                }
            }
            member = Some(std::sync::Arc::new(m));
        }
        if let Some(url) = primary_url {
            let mut r = edgelite_server::replica_server::ReplicaConfig::new(url);
            r.primary_admin_url = primary_admin_url;
            r.auth_token = args.primary_auth_token.filter(|t| !t.trim().is_empty());
            r.discovery_interval = Duration::from_millis(args.replica_discovery_ms.max(10));
            r.read_your_writes_timeout = Duration::from_millis(args.replica_read_your_writes_timeout_ms);
            r.node = args.advertise_url.clone().unwrap_or_else(|| format!("http://{}", config.http_listen_addr));
            config.replica = Some(r);
        }
        let running = match edgelite_server::start(config).await {
            Ok(r) => r,
            Err(e) => {
                eprintln!("edgelite-server: {e}");
                return ExitCode::FAILURE;
            }
        };
        if let Some(admin) = running.admin_addr {
            eprintln!("edgelite-server admin API on http://{admin}");
        }
        if let Some(m) = &member {
            m.keep();
            if running.state.replica.is_some() {
                m.announce_replica().await;
            }
            let _ = running.state.cluster.set(std::sync::Arc::clone(m));
        }
        // Tests parse this exact line; it is the only line on stdout.
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "edgelite-server listening on http://{}", running.http_addr);
        let _ = out.flush();
        drop(out);
        wait_for_signal().await;
        if let Some(m) = &member {
            // No request is answered from here on; the lease goes back so that a replica is
            // elected at once.
            m.leave().await;
        }
        running.shutdown().await;
        ExitCode::SUCCESS
    })
}

async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
            return;
        }
    }
    let _ = tokio::signal::ctrl_c().await;
}
