//! The admin API, on its own listener (`--admin-listen-addr`), with sqld's paths (docs/sync-protocol.md §6).
//! It has no authentication of its own: bind it to a private address.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::json;

use crate::AppState;
use crate::http::ApiError;
use crate::namespace::{Namespace, NsError};

/// The admin router.
pub fn router(state: Arc<AppState>) -> Router {
    Router::new()
        .route("/health", get(|| async { StatusCode::OK }))
        .route("/v1/namespaces", get(list))
        .route("/v1/namespaces/{ns}/create", post(create))
        .route("/v1/namespaces/{ns}", delete(remove))
        .route("/v1/namespaces/{ns}/fork/{to}", post(fork))
        .route("/v1/namespaces/{ns}/checkpoint", post(checkpoint))
        .route("/v1/namespaces/{ns}/stats", get(stats))
        .route("/v1/replication", get(replication))
        .route("/v1/cluster", get(cluster))
        .route("/v1/namespaces/{ns}/config", get(config).post(set_config))
        .with_state(state)
}

/// A replica server's followed namespaces, each with its position and last error; 404 on a
/// server that is not a replica.
async fn replication(State(state): State<Arc<AppState>>) -> Response {
    match &state.replica {
        Some(r) => Json(r.status()).into_response(),
        // A primary: the replica servers that acknowledge what they hold, and whether writes
        // wait for them.
        None => Json(json!({
            "role": "primary",
            "durability_replica": state.namespaces.replica_ack_timeout().is_some(),
            "replicas": state.replicas_seen.status(),
        }))
        .into_response(),
    }
}

/// The cluster (`--etcd-endpoints`): the primary in etcd, each node's role, and this node's
/// replication (a primary's acknowledging replicas, or a replica's positions and errors).
async fn cluster(State(state): State<Arc<AppState>>) -> Response {
    let Some(member) = state.cluster.get() else {
        return (StatusCode::NOT_FOUND, Json(json!({"error": "this server is not in a cluster (--etcd-endpoints)"})))
            .into_response();
    };
    let replication = match &state.replica {
        Some(r) => r.status(),
        None => json!({"role": "primary", "replicas": state.replicas_seen.status()}),
    };
    Json(member.status(replication).await).into_response()
}

/// Namespaces are made and removed on the primary; a replica follows it.
fn refuse_on_replica(state: &AppState) -> Result<(), ApiError> {
    if state.replica.is_some() {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "REPLICA",
            "this server is a replica (--primary-url): manage namespaces on the primary",
        ));
    }
    Ok(())
}

async fn find(state: &AppState, name: &str) -> Result<Arc<Namespace>, ApiError> {
    Ok(state.namespaces.fetch(name).await?)
}

/// Every namespace's name, and how many are open now; nothing is opened.
async fn list(State(state): State<Arc<AppState>>) -> Result<Response, ApiError> {
    let st = Arc::clone(&state);
    let names = blocking(move || Ok(st.namespaces.names())).await?;
    let (open, _) = state.namespaces.counts();
    Ok(Json(json!({"namespaces": names, "open": open})).into_response())
}

async fn blocking<T: Send + 'static>(f: impl FnOnce() -> Result<T, NsError> + Send + 'static) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "INTERNAL", e.to_string()))?
        .map_err(ApiError::from)
}

/// sqld's namespace options; of these only `jwt_key` and `max_db_size` apply, the others are
/// accepted and ignored.
#[derive(Debug, Default, Deserialize)]
struct CreateBody {
    #[serde(default)]
    jwt_key: Option<String>,
    /// The namespace's own size quota (see [`ByteSize`]); absent: the server's `--max-db-size`.
    #[serde(default)]
    max_db_size: Option<ByteSize>,
}

/// A size as sqld's admin API takes it: a number of bytes, or a string such as `"10MB"`,
/// `"64 KiB"` or `"1048576"` (units B, KB, MB, GB = powers of 1000; KiB, MiB, GiB = of 1024).
#[derive(Debug, Clone, Copy)]
struct ByteSize(u64);

impl<'de> Deserialize<'de> for ByteSize {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<ByteSize, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Bytes(u64),
            Text(String),
        }
        match Raw::deserialize(d)? {
            Raw::Bytes(b) => Ok(ByteSize(b)),
            Raw::Text(t) => parse_size(&t).map(ByteSize).ok_or_else(|| {
                serde::de::Error::custom(format!(
                    "{t:?} is not a size (a number of bytes, or e.g. \"10MB\", \"64KiB\")"
                ))
            }),
        }
    }
}

fn parse_size(text: &str) -> Option<u64> {
    let t = text.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: u64 = num.parse().ok()?;
    let mult: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "kb" | "k" => 1000,
        "mb" | "m" => 1000 * 1000,
        "gb" | "g" => 1000 * 1000 * 1000,
        "kib" => 1 << 10,
        "mib" => 1 << 20,
        "gib" => 1 << 30,
        _ => return None,
    };
    n.checked_mul(mult)
}

fn parse_body<T: Default + serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(T::default());
    }
    serde_json::from_slice(body)
        .map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, "BAD_REQUEST", format!("malformed body: {e}")))
}

async fn create(
    State(state): State<Arc<AppState>>,
    Path(name): Path<String>,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    refuse_on_replica(&state)?;
    let opts: CreateBody = parse_body(&body)?;
    let st = Arc::clone(&state);
    let quota = opts.max_db_size.map(|b| b.0);
    blocking(move || st.namespaces.create_with_quota(&name, opts.jwt_key.as_deref(), quota)).await?;
    Ok(Json(json!({})).into_response())
}

async fn remove(State(state): State<Arc<AppState>>, Path(name): Path<String>) -> Result<Response, ApiError> {
    refuse_on_replica(&state)?;
    let st = Arc::clone(&state);
    blocking(move || st.namespaces.delete(&name)).await?;
    Ok(Json(json!({})).into_response())
}

/// sqld's fork options: `timestamp` forks the namespace as it was then, from the backup.
#[derive(Debug, Default, Deserialize)]
struct ForkBody {
    #[serde(default)]
    timestamp: Option<String>,
}

async fn fork(
    State(state): State<Arc<AppState>>,
    Path((from, to)): Path<(String, String)>,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    refuse_on_replica(&state)?;
    let opts: ForkBody = if body.iter().all(u8::is_ascii_whitespace) {
        ForkBody::default()
    } else {
        serde_json::from_slice(&body)
            .map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, "BAD_REQUEST", format!("malformed body: {e}")))?
    };
    if let Some(ts) = opts.timestamp {
        return fork_at(&state, &from, &to, &ts).await;
    }
    let src = find(&state, &from).await?;
    let guard = src.enter().await;
    let st = Arc::clone(&state);
    blocking(move || {
        let r = st.namespaces.fork(&src, &to);
        drop(guard);
        r
    })
    .await?;
    Ok(Json(json!({})).into_response())
}

/// Forks `from` as it was after its last commit at or before `ts`, from the backup (D1's
/// "restore to a bookmark" into a new namespace: the original is untouched).
async fn fork_at(state: &Arc<AppState>, from: &str, to: &str, ts: &str) -> Result<Response, ApiError> {
    let bad = |m: String| ApiError::new(StatusCode::BAD_REQUEST, "BAD_REQUEST", m);
    let Some(backup) = &state.backup else {
        return Err(bad("a fork from a point in time needs the server's backup (--backup-url)".into()));
    };
    let at = crate::backup::parse_time(ts).map_err(bad)?;
    if !crate::namespace::valid_name(to) {
        return Err(NsError::InvalidName(to.into()).into());
    }
    if state.namespaces.contains(to) {
        return Err(NsError::Exists(to.into()).into());
    }
    let tmp = state.namespaces.dir_of(to).with_extension("forking");
    let restored = crate::backup::restore_to_file(backup.target(), from, Some(at), &tmp).await;
    let restored = match restored {
        Ok(r) => r,
        Err(e) => {
            let _ = std::fs::remove_file(&tmp);
            let status = match e {
                crate::backup::BackupError::NotFound(_) => StatusCode::NOT_FOUND,
                _ => StatusCode::SERVICE_UNAVAILABLE,
            };
            return Err(ApiError::new(status, "BACKUP_UNAVAILABLE", e.to_string()));
        }
    };
    let st = Arc::clone(state);
    let (to2, tmp2) = (to.to_owned(), tmp.clone());
    let made = blocking(move || st.namespaces.create_from_file(&to2, &tmp2).map(|_| ())).await;
    let _ = std::fs::remove_file(&tmp);
    made?;
    Ok(Json(json!({"as_of": crate::backup::format_time(restored.as_of)})).into_response())
}

async fn checkpoint(State(state): State<Arc<AppState>>, Path(name): Path<String>) -> Result<Response, ApiError> {
    let ns = find(&state, &name).await?;
    let started = ns.checkpoint(true).await?;
    Ok(Json(json!({"new_generation": started, "generation": ns.generation()?})).into_response())
}

async fn stats(State(state): State<Arc<AppState>>, Path(name): Path<String>) -> Result<Response, ApiError> {
    let ns = find(&state, &name).await?;
    let me = Arc::clone(&ns);
    let (g, n) = blocking(move || me.position()).await?;
    let backup = state.backup.as_ref().and_then(|b| b.status(&name));
    let (vector_cache, memory) = (ns.vector_cache_bytes(), ns.memory_bytes());
    let body = json!({"generation": g, "committed_frames": n, "backup": backup, "vector_cache_bytes": vector_cache,
                      "memory_bytes": memory});
    Ok(Json(body).into_response())
}

/// The namespace's settings that this server has of sqld's `/config`: its size quota.
async fn config(State(state): State<Arc<AppState>>, Path(name): Path<String>) -> Result<Response, ApiError> {
    let st = Arc::clone(&state);
    let (bytes, own) = blocking(move || st.namespaces.max_db_size(&name)).await?;
    let max = (bytes > 0).then_some(bytes);
    Ok(Json(json!({"max_db_size": max, "max_db_size_is_own": own})).into_response())
}

/// `{"max_db_size": N | "10MB" | 0 | null}`: the namespace's own quota (0: none), or the
/// server's again (null). A field left out changes nothing.
#[derive(Debug, Default, Deserialize)]
struct ConfigBody {
    #[serde(default, deserialize_with = "present")]
    max_db_size: Option<Option<ByteSize>>,
}

/// A field that is there (even as null) is `Some`.
fn present<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Option<ByteSize>>, D::Error> {
    Option::<ByteSize>::deserialize(d).map(Some)
}

async fn set_config(
    State(state): State<Arc<AppState>>,
    Path(name): Path<String>,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    let opts: ConfigBody = parse_body(&body)?;
    if let Some(quota) = opts.max_db_size {
        let st = Arc::clone(&state);
        let n = name.clone();
        blocking(move || st.namespaces.set_max_db_size(&n, quota.map(|b| b.0))).await?;
    }
    config(State(state), Path(name)).await
}

#[cfg(test)]
mod tests {
    use super::parse_size;

    #[test]
    fn sizes_parse_as_sqld_takes_them() {
        assert_eq!(parse_size("1048576"), Some(1 << 20));
        assert_eq!(parse_size("10MB"), Some(10_000_000));
        assert_eq!(parse_size("64 KiB"), Some(64 << 10));
        assert_eq!(parse_size("2gib"), Some(2 << 30));
        assert_eq!(parse_size("ten"), None);
        assert_eq!(parse_size("5 parsecs"), None);
        assert_eq!(parse_size("99999999999999 GiB"), None);
    }
}
