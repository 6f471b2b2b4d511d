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
        .with_state(state)
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

/// sqld's namespace options; of these only `jwt_key` applies, the others are accepted and ignored.
#[derive(Debug, Default, Deserialize)]
struct CreateBody {
    #[serde(default)]
    jwt_key: Option<String>,
}

async fn create(
    State(state): State<Arc<AppState>>,
    Path(name): Path<String>,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    let opts: CreateBody = if body.iter().all(u8::is_ascii_whitespace) {
        CreateBody::default()
    } else {
        serde_json::from_slice(&body)
            .map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, "BAD_REQUEST", format!("malformed body: {e}")))?
    };
    let st = Arc::clone(&state);
    blocking(move || st.namespaces.create(&name, opts.jwt_key.as_deref())).await?;
    Ok(Json(json!({})).into_response())
}

async fn remove(State(state): State<Arc<AppState>>, Path(name): Path<String>) -> Result<Response, ApiError> {
    let st = Arc::clone(&state);
    blocking(move || st.namespaces.delete(&name)).await?;
    Ok(Json(json!({})).into_response())
}

async fn fork(
    State(state): State<Arc<AppState>>,
    Path((from, to)): Path<(String, String)>,
) -> Result<Response, ApiError> {
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

async fn checkpoint(State(state): State<Arc<AppState>>, Path(name): Path<String>) -> Result<Response, ApiError> {
    let ns = find(&state, &name).await?;
    let started = ns.checkpoint(true).await?;
    Ok(Json(json!({"new_generation": started, "generation": ns.generation()?})).into_response())
}

async fn stats(State(state): State<Arc<AppState>>, Path(name): Path<String>) -> Result<Response, ApiError> {
    let ns = find(&state, &name).await?;
    let me = Arc::clone(&ns);
    let (g, n) = blocking(move || me.position()).await?;
    Ok(Json(json!({"generation": g, "committed_frames": n})).into_response())
}
