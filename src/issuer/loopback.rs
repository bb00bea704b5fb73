//! The one Keycloak-shaped realm on HTTP: discovery and JWKS at Keycloak's paths
//! (`/realms/<name>/.well-known/openid-configuration`, `…/protocol/openid-connect/certs`).
//!
//! [`IssuerRealm`] is the realm's routes and state; dev mode merges its routes into the admin
//! server, [`LoopbackIssuer`] serves them on a listener of its own (bench, tests). Both count
//! JWKS fetches, and the key set can be replaced (rotation) or made to misbehave as an
//! overloaded Keycloak or a proxy in front of it does, for the outage tests and the soak.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse as _, Response};
use axum::routing::get;
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use super::{SigningKey, discovery, jwks};

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
    discovery: Value,
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
        IssuerRealm {
            state: Arc::new(RealmState {
                path: path.trim_end_matches('/').to_owned(),
                discovery: discovery(issuer),
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
