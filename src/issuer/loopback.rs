//! The one Keycloak-shaped realm on HTTP: discovery, JWKS and the token endpoint at Keycloak's
//! paths (`/realms/<name>/.well-known/openid-configuration`, `…/protocol/openid-connect/certs`,
//! `…/protocol/openid-connect/token`).
//!
//! [`IssuerRealm`] is the realm's routes and state; dev mode merges its routes into the admin
//! server, [`LoopbackIssuer`] serves them on a listener of its own (bench, tests). Both count
//! JWKS fetches, and the key set can be replaced (rotation) or made to misbehave as an
//! overloaded Keycloak or a proxy in front of it does, for the outage tests and the soak.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse as _, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use super::token_endpoint::{self, TokenEndpoint};
use zeebe_authz_core::signing::{SigningKey, jwks};

use super::discovery;

/// How the realm's JWKS endpoint misbehaves (Keycloak overloaded, a proxy in front of it).
#[derive(Debug, Clone)]
pub enum JwksFailure {
    /// Answers with this HTTP status and an empty body.
    Status(u16),
    /// Answers 200 with this body.
    Body(Vec<u8>),
}

/// A realm's discovery document and JWKS, and the knobs a test turns.
#[derive(Clone)]
pub struct IssuerRealm {
    state: Arc<RealmState>,
}

struct RealmState {
    path: String,
    issuer: String,
    discovery: Value,
    token: TokenEndpoint,
    jwks: Mutex<Value>,
    fetches: AtomicU64,
    delay: Mutex<Duration>,
    failure: Mutex<Option<JwksFailure>>,
}

impl IssuerRealm {
    /// The realm `issuer` publishing `keys`, with routes under `path` (`/realms/<name>`).
    ///
    /// The JWKS also lists an RSA-OAEP encryption key, as real Keycloak's does: a verifier
    /// must ignore keys that are not for signatures.
    pub(crate) fn new(path: &str, issuer: &str, keys: &[&SigningKey]) -> IssuerRealm {
        IssuerRealm::with_token_endpoint(path, issuer, keys, TokenEndpoint::without_clients())
    }

    /// Like [`IssuerRealm::new`], with a token endpoint issuing to `token`'s clients.
    pub(crate) fn with_token_endpoint(
        path: &str,
        issuer: &str,
        keys: &[&SigningKey],
        token: TokenEndpoint,
    ) -> IssuerRealm {
        IssuerRealm {
            state: Arc::new(RealmState {
                path: path.trim_end_matches('/').to_owned(),
                issuer: issuer.to_owned(),
                discovery: discovery(issuer),
                token,
                jwks: Mutex::new(keycloak_jwks(keys)),
                fetches: AtomicU64::new(0),
                delay: Mutex::new(Duration::ZERO),
                failure: Mutex::new(None),
            }),
        }
    }

    /// The discovery and JWKS routes, to serve or merge into another router.
    pub(crate) fn routes(&self) -> Router {
        let path = &self.state.path;
        Router::new()
            .route(
                &format!("{path}/.well-known/openid-configuration"),
                get(discovery_doc),
            )
            .route(&format!("{path}/protocol/openid-connect/certs"), get(certs))
            .route(
                &format!("{path}/protocol/openid-connect/token"),
                post(issue_token),
            )
            .with_state(self.state.clone())
    }

    /// Replaces the published keys (rotation).
    pub fn publish(&self, keys: &[&SigningKey]) {
        *lock(&self.state.jwks) = keycloak_jwks(keys);
    }

    /// Makes every JWKS answer wait this long first.
    pub fn delay_jwks(&self, delay: Duration) {
        *lock(&self.state.delay) = delay;
    }

    /// Makes every JWKS answer fail this way (`None`: answer normally again).
    pub fn fail_jwks(&self, failure: Option<JwksFailure>) {
        *lock(&self.state.failure) = failure;
    }

    /// How many times the JWKS was fetched.
    pub fn jwks_fetches(&self) -> u64 {
        self.state.fetches.load(Ordering::SeqCst)
    }
}

/// An [`IssuerRealm`] served on a listener of its own, stopped by [`LoopbackIssuer::stop`]
/// (or aborted on drop).
pub struct LoopbackIssuer {
    /// The issuer URL (`http://127.0.0.1:<port>/realms/<name>`).
    pub issuer: String,
    realm: IssuerRealm,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<()>,
}

impl LoopbackIssuer {
    /// Binds `127.0.0.1:0` and serves realm `name` publishing `keys` on the current runtime.
    pub async fn start(name: &str, keys: &[&SigningKey]) -> std::io::Result<LoopbackIssuer> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let issuer = format!("http://{}/realms/{name}", listener.local_addr()?);
        Ok(LoopbackIssuer::serve(listener, name, issuer, keys))
    }

    /// Serves realm `name` as `issuer` on a given listener (plain TCP, or TLS in tests; the
    /// issuer string is published as is, so a test can make it disagree with the URL).
    pub fn serve<L>(listener: L, name: &str, issuer: String, keys: &[&SigningKey]) -> LoopbackIssuer
    where
        L: axum::serve::Listener,
        L::Addr: std::fmt::Debug,
    {
        let realm = IssuerRealm::new(&format!("/realms/{name}"), &issuer, keys);
        let app = realm.routes();
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            let served = axum::serve(listener, app)
                .with_graceful_shutdown(async {
                    let _ = stopped.await;
                })
                .await;
            if let Err(e) = served {
                tracing::error!(error = %e, "Loopback issuer failed");
            }
        });
        LoopbackIssuer {
            issuer,
            realm,
            stop: Some(stop),
            task,
        }
    }

    /// Stops the server and waits until its port is closed.
    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        let _ = (&mut self.task).await;
    }
}

impl std::ops::Deref for LoopbackIssuer {
    type Target = IssuerRealm;

    fn deref(&self) -> &IssuerRealm {
        &self.realm
    }
}

impl Drop for LoopbackIssuer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The JWKS of `keys` plus Keycloak's RSA-OAEP encryption key (`use: enc`).
fn keycloak_jwks(keys: &[&SigningKey]) -> Value {
    let mut doc = jwks(keys);
    if let Some(list) = doc["keys"].as_array_mut() {
        list.push(json!({
            "kid": "enc-key", "kty": "RSA", "alg": "RSA-OAEP", "use": "enc",
            "n": "sXchDaQebHnPiGvyDOAT4saGEUetSyo9MKLOoWFsueri23bOdgWp4Dy1WlUzewbgBHod5pcM9H95GQRV3JDXboIRROSBigeC5yjU1hGzHHyXss8UDprecbAYxknTcQkhslANGRUZmdTOQ5qTRsLAt6BTYuyvVRdhS8exSZEy_c4gs_7svlJJQ4H9_NxsiIoLwAEk7-Q3UXERGYw_75IDrGA84-lA_-Ct4eTlXHBIY2EaV7t7LjJaynVJCpkv4LKjTTAumiGUIuQhrNhZLuF_RJLqHpM2kgWFLU7-VTdL1VbC2tejvcI2BlMkEpk1BzBZI0KQB0GaDWFLN-aEAw3vRw",
            "e": "AQAB"
        }));
    }
    doc
}

async fn discovery_doc(State(s): State<Arc<RealmState>>) -> axum::Json<Value> {
    axum::Json(s.discovery.clone())
}

async fn certs(State(s): State<Arc<RealmState>>) -> Response {
    s.fetches.fetch_add(1, Ordering::SeqCst);
    let delay = *lock(&s.delay);
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    let failure = lock(&s.failure).clone();
    match failure {
        Some(JwksFailure::Status(code)) => StatusCode::from_u16(code)
            .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
            .into_response(),
        Some(JwksFailure::Body(body)) => body.into_response(),
        None => axum::Json(lock(&s.jwks).clone()).into_response(),
    }
}

/// The token endpoint: [`token_endpoint::grant`] on the request, answered as Keycloak does
/// (JSON, `Cache-Control: no-store`; a 401 to an HTTP Basic client names the scheme).
async fn issue_token(
    State(s): State<Arc<RealmState>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let authorization = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    let (status, body) = match token_endpoint::grant(&s.token, &s.issuer, authorization, &body) {
        Ok(issued) => {
            tracing::info!(
                client_id = %issued.client_id,
                expires_in = s.token.ttl.as_secs(),
                "Token issued"
            );
            (StatusCode::OK, issued.body)
        }
        Err(err) => {
            tracing::info!(error = err.error, detail = %err.description, "Token refused");
            let status = StatusCode::from_u16(err.status).unwrap_or(StatusCode::BAD_REQUEST);
            let mut response = (status, axum::Json(err.body())).into_response();
            if err.basic && status == StatusCode::UNAUTHORIZED {
                response.headers_mut().insert(
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static("Basic realm=\"zeebe-authz\""),
                );
            }
            no_store(&mut response);
            return response;
        }
    };
    let mut response = (status, axum::Json(body)).into_response();
    no_store(&mut response);
    response
}

fn no_store(response: &mut Response) {
    let headers = response.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
}
