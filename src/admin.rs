//! The admin HTTP server: `/healthz` (the process is up), `/readyz` (every realm has keys),
//! `/metrics` (Prometheus text), and in dev mode the dev issuer's OIDC discovery and JWKS at
//! Keycloak's paths.

use std::future::Future;
use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use tokio::net::TcpListener;

use crate::authorizer::Authorizer;
use crate::server::DevIssuer;

/// What the admin handlers read.
#[derive(Clone)]
pub struct AdminState {
    /// The authorizer (realms, metrics, cache).
    pub authorizer: Arc<Authorizer>,
    /// The dev issuer, in dev mode.
    pub dev: Option<Arc<DevIssuer>>,
}

/// The path of the dev realm's discovery and JWKS, relative to the admin root.
pub const DEV_REALM_PATH: &str = "/realms/dev";

/// Serves until `shutdown` resolves.
pub async fn serve(
    listener: TcpListener,
    state: AdminState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let mut app = Router::new()
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics));
    if state.dev.is_some() {
        app = app
            .route(
                &format!("{DEV_REALM_PATH}/.well-known/openid-configuration"),
                get(dev_discovery),
            )
            .route(
                &format!("{DEV_REALM_PATH}/protocol/openid-connect/certs"),
                get(dev_jwks),
            );
    }
    axum::serve(listener, app.with_state(state))
        .with_graceful_shutdown(shutdown)
        .await
}

async fn readyz(State(state): State<AdminState>) -> impl IntoResponse {
    let missing: Vec<&str> = state
        .authorizer
        .realms()
        .iter()
        .filter(|r| !r.jwks.is_ready())
        .map(|r| &*r.name)
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
    a.metrics().token_cache_entries(a.token_cache().len());
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        a.metrics().encode(),
    )
}

async fn dev_discovery(State(state): State<AdminState>) -> impl IntoResponse {
    let dev = state.dev.as_ref().expect("route exists only in dev mode");
    axum::Json(crate::issuer::discovery(&dev.issuer))
}

async fn dev_jwks(State(state): State<AdminState>) -> impl IntoResponse {
    let dev = state.dev.as_ref().expect("route exists only in dev mode");
    axum::Json(crate::issuer::jwks(&[&dev.key]))
}
