//! The admin HTTP server: `/healthz` (the process is up), `/readyz` (every realm has keys),
//! `/metrics` (Prometheus text), and whatever routes the caller adds (dev mode: its realm's
//! discovery and JWKS).

use std::future::Future;
use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use tokio::net::TcpListener;

use crate::authorizer::Authorizer;
use crate::metrics::RealmKeyState;

/// What the admin handlers read.
#[derive(Clone)]
pub(crate) struct AdminState {
    /// The authorizer (realms, metrics, cache).
    pub(crate) authorizer: Arc<Authorizer>,
}

/// Serves until `shutdown` resolves, with `extra` routes merged in.
pub(crate) async fn serve(
    listener: TcpListener,
    state: AdminState,
    extra: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let app = Router::new()
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .with_state(state)
        .merge(extra);
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await
}

async fn readyz(State(state): State<AdminState>) -> impl IntoResponse {
    let generation = state.authorizer.current();
    let missing: Vec<&str> = generation
        .realms
        .iter()
        .filter(|r| !r.jwks.is_ready())
        .map(|r| r.name.as_str())
        .collect();
    if missing.is_empty() {
        (StatusCode::OK, "ready\n".to_string())
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            format!(
                "not ready: no signing keys for realm(s) {}\n",
                missing.join(", ")
            ),
        )
    }
}

async fn metrics(State(state): State<AdminState>) -> impl IntoResponse {
    let a = &state.authorizer;
    let generation = a.current();
    a.metrics()
        .token_cache_size(generation.cache.len(), generation.cache.weight());
    a.metrics()
        .token_cache_max_bytes(generation.cache.max_bytes());
    let text = a
        .metrics()
        .scrape(generation.realms.iter().map(|r| RealmKeyState {
            realm: r.name.as_str(),
            ready: r.jwks.is_ready(),
            keys_age: r.jwks.keys_age(),
            keys_max_age: r.jwks.keys_max_age(),
        }));
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        text,
    )
}
