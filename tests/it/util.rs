//! Test helpers: a Keycloak-shaped issuer on loopback, the authorizer on port 0, Check requests.
//!
//! Every server started here is stopped by its owner's `stop()` (or on drop, by aborting its
//! task), so no test leaves a listener behind.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use envoy_types::ext_authz::v3::pb::{CheckRequest, CheckResponse, HttpResponse};
use envoy_types::pb::envoy::service::auth::v3::AttributeContext;
use envoy_types::pb::envoy::service::auth::v3::attribute_context::{HttpRequest, Request};
use envoy_types::pb::envoy::service::auth::v3::authorization_client::AuthorizationClient;
use serde_json::Value;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tonic::transport::Channel;
use zeebe_authz_core::signing::{SigningKey, access_token_claims};
use zeebe_authz_server::reload::ReloadOptions;
use zeebe_authz_server::serve::ServeExtras;

/// The realm path Keycloak (Quarkus) uses.
pub const REALM: &str = "camunda";
/// The Zeebe audience.
pub const AUDIENCE: &str = "zeebe-api";

/// The Keycloak-shaped issuer dev mode and bench serve too: discovery and JWKS at Keycloak's
/// paths, plus an encryption key in the JWKS as real Keycloak lists one.
pub use zeebe_authz::issuer::{JwksFailure, LoopbackIssuer as Keycloak};

/// Starts realm [`REALM`] on a fresh loopback port, publishing `keys`.
pub async fn keycloak(keys: &[&SigningKey]) -> Keycloak {
    Keycloak::start(REALM, keys).await.unwrap()
}

/// Starts realm [`REALM`] as `issuer` on a given listener (to come up on an address a server
/// was configured with, or to publish an issuer that disagrees with the URL).
pub fn keycloak_on(listener: TcpListener, issuer: String, keys: &[&SigningKey]) -> Keycloak {
    Keycloak::serve(listener, REALM, issuer, keys)
}

/// Starts realm [`REALM`] with HTTPS on a fresh loopback port, presenting a self-signed
/// certificate for 127.0.0.1; returns the server and the certificate (PEM) a client must trust.
pub async fn keycloak_tls(keys: &[&SigningKey]) -> (Keycloak, String) {
    let (listener, pem) = tls_listener().await;
    let issuer = format!(
        "https://{}/realms/{REALM}",
        listener.tcp.local_addr().unwrap()
    );
    (Keycloak::serve(listener, REALM, issuer, keys), pem)
}

/// Serves `app` with HTTPS on a fresh loopback port, presenting a self-signed certificate for
/// 127.0.0.1; returns its address, the certificate (PEM) a client must trust, and the task
/// (abort it to stop the server).
pub async fn serve_tls(app: axum::Router) -> (SocketAddr, String, JoinHandle<()>) {
    let (listener, pem) = tls_listener().await;
    let addr = listener.tcp.local_addr().unwrap();
    let task = tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (addr, pem, task)
}

async fn tls_listener() -> (TlsListener, String) {
    let cert = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_string()]).unwrap();
    let pem = cert.cert.pem();
    let key = rustls_pki_types::PrivateKeyDer::Pkcs8(cert.signing_key.serialize_der().into());
    let config = tokio_rustls::rustls::ServerConfig::builder_with_provider(Arc::new(
        tokio_rustls::rustls::crypto::aws_lc_rs::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(vec![cert.cert.der().clone()], key)
    .unwrap();
    let tcp = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let listener = TlsListener {
        tcp,
        acceptor: tokio_rustls::TlsAcceptor::from(Arc::new(config)),
    };
    (listener, pem)
}

/// A TLS listener for axum: accepts TCP, completes the handshake, drops failed handshakes.
struct TlsListener {
    tcp: TcpListener,
    acceptor: tokio_rustls::TlsAcceptor,
}

impl axum::serve::Listener for TlsListener {
    type Io = tokio_rustls::server::TlsStream<tokio::net::TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            let Ok((stream, addr)) = self.tcp.accept().await else {
                continue;
            };
            if let Ok(tls) = self.acceptor.accept(stream).await {
                return (tls, addr);
            }
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        self.tcp.local_addr()
    }
}

/// A unique scratch folder under the system temp dir, removed on drop.
pub struct Scratch(pub PathBuf);

impl Scratch {
    /// Creates it.
    pub fn new() -> Scratch {
        static N: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "zeebe-authz-it-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::SeqCst)
        ));
        std::fs::create_dir_all(&dir).unwrap();
        Scratch(dir)
    }

    /// Writes a file and returns its path.
    pub fn write(&self, name: &str, text: &str) -> PathBuf {
        let p = self.0.join(name);
        std::fs::write(&p, text).unwrap();
        p
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The repository's default policy.
pub fn default_policy() -> String {
    std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/policies/default.yaml"
    ))
    .unwrap()
}

/// A one-realm config for `issuer`, protecting any host, with the default policy.
pub fn one_realm_config(issuer: &str) -> String {
    format!(
        "listen:\n  check: 127.0.0.1:0\n  admin: 127.0.0.1:0\nrealms:\n  - name: camunda\n    issuer: {issuer}\n    audiences: [{AUDIENCE}]\n    hosts: ['*']\n    policy: default.yaml\njwks:\n  refresh_interval: 5m\n  refetch_cooldown: 2s\n  fetch_timeout: 1s\n"
    )
}

/// `config` with every identity header sent and the dynamic metadata on every answer (the
/// defaults send the subject header and put the metadata on denies only): for tests that read
/// an allow's client id or realm header, or its metadata.
pub fn answering_everything(config: &str) -> String {
    format!("{config}identity_headers:\n  send: all\ndynamic_metadata:\n  send: all\n")
}

/// The authorizer running in-process on port 0.
pub struct Authz {
    /// ext_authz gRPC address.
    #[allow(dead_code)] // read by the bench tests
    pub check_addr: SocketAddr,
    /// Admin HTTP address.
    pub admin_addr: SocketAddr,
    client: AuthorizationClient<Channel>,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<anyhow::Result<()>>,
    _scratch: Scratch,
}

impl Authz {
    /// Starts the server with `config` (YAML; `default.yaml` next to it holds `policy`).
    pub async fn start(config: &str, policy: &str) -> Authz {
        let scratch = Scratch::new();
        scratch.write("default.yaml", policy);
        let path = scratch.write("config.yaml", config);
        Authz::start_from(scratch, path, ServeExtras::default()).await
    }

    /// As [`Authz::start`], reloading `config.yaml` (and what it names) every `interval`.
    pub async fn start_reloading(config: &str, policy: &str, interval: Duration) -> Authz {
        let scratch = Scratch::new();
        scratch.write("default.yaml", policy);
        let path = scratch.write("config.yaml", config);
        let reload = ReloadOptions {
            path: path.clone(),
            interval: Some(interval),
        };
        Authz::start_from(scratch, path, ServeExtras::reloading(reload)).await
    }

    /// Starts the server with the config at `path` (inside `scratch`, which it keeps).
    pub async fn start_from(scratch: Scratch, path: PathBuf, extras: ServeExtras) -> Authz {
        let config = zeebe_authz_server::disk::load_config(&path).unwrap_or_else(|e| panic!("{e}"));
        let listeners = zeebe_authz_server::serve::Listeners::bind(&config)
            .await
            .unwrap();
        let check_addr = listeners.check.local_addr().unwrap();
        let admin_addr = listeners.admin.local_addr().unwrap();
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(zeebe_authz_server::serve::serve(
            config,
            listeners,
            extras,
            async {
                let _ = stopped.await;
            },
        ));
        let client = AuthorizationClient::connect(format!("http://{check_addr}"))
            .await
            .unwrap();
        Authz {
            check_addr,
            admin_addr,
            client,
            stop: Some(stop),
            task,
            _scratch: scratch,
        }
    }

    /// The folder its config is in.
    #[allow(dead_code)] // read by the reload tests
    pub fn dir(&self) -> &Path {
        &self._scratch.0
    }

    /// The value of a metric line starting with `prefix` (`name{labels}`), 0 when absent.
    pub async fn metric(&self, prefix: &str) -> f64 {
        let (_, text) = self.admin("/metrics").await;
        text.lines()
            .find_map(|l| l.strip_prefix(prefix)?.trim().parse().ok())
            .unwrap_or(0.0)
    }

    /// Waits (bounded, 10 s) until `prefix`'s metric reaches `at_least`.
    #[allow(dead_code)] // read by the reload tests
    pub async fn wait_metric(&self, prefix: &str, at_least: f64) {
        for _ in 0..400 {
            if self.metric(prefix).await >= at_least {
                return;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        panic!(
            "{prefix} did not reach {at_least} in 10 s:\n{}",
            self.admin("/metrics").await.1
        );
    }

    /// GETs an admin path; (status, body).
    pub async fn admin(&self, path: &str) -> (u16, String) {
        let resp = reqwest::get(format!("http://{}{path}", self.admin_addr))
            .await
            .unwrap();
        (resp.status().as_u16(), resp.text().await.unwrap())
    }

    /// Waits (bounded) until `/readyz` says ready.
    pub async fn wait_ready(&self) {
        for _ in 0..200 {
            if self.admin("/readyz").await.0 == 200 {
                return;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        panic!(
            "authorizer not ready after 5 s: {:?}",
            self.admin("/readyz").await
        );
    }

    /// Calls Check.
    pub async fn check(&self, request: CheckRequest) -> CheckResponse {
        self.client
            .clone()
            .check(request)
            .await
            .expect("Check must never fail at the gRPC level")
            .into_inner()
    }

    /// Calls Check with a `grpc-timeout` (as Envoy sends its ext_authz timeout); the gRPC
    /// status when the call itself failed.
    pub async fn check_within(
        &self,
        request: CheckRequest,
        timeout: Duration,
    ) -> Result<CheckResponse, tonic::Status> {
        let mut request = tonic::Request::new(request);
        request.set_timeout(timeout);
        self.client
            .clone()
            .check(request)
            .await
            .map(tonic::Response::into_inner)
    }

    /// Calls Check for `path` on `host` with an optional bearer token.
    pub async fn call(&self, host: &str, path: &str, token: Option<&str>) -> CheckResponse {
        self.check(check_request(
            host,
            path,
            token.map(|t| format!("Bearer {t}")).as_deref(),
            &[],
        ))
        .await
    }

    /// Calls Check for `Topology` (the rpc most tests use) with a bearer token.
    pub async fn topology(&self, token: &str) -> CheckResponse {
        self.call("h", &rpc("Topology"), Some(token)).await
    }

    /// Stops the server and waits for it to finish.
    pub async fn stop(mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        (&mut self.task).await.unwrap().unwrap();
    }
}

impl Drop for Authz {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// A Check request as Envoy builds it for a gRPC call.
pub fn check_request(
    host: &str,
    path: &str,
    authorization: Option<&str>,
    raw_body: &[u8],
) -> CheckRequest {
    let mut headers = std::collections::HashMap::new();
    headers.insert("content-type".to_string(), "application/grpc".to_string());
    if let Some(a) = authorization {
        headers.insert("authorization".to_string(), a.to_string());
    }
    CheckRequest {
        attributes: Some(AttributeContext {
            request: Some(Request {
                http: Some(HttpRequest {
                    method: "POST".into(),
                    host: host.into(),
                    path: path.into(),
                    headers,
                    raw_body: raw_body.to_vec(),
                    protocol: "HTTP/2".into(),
                    ..Default::default()
                }),
                ..Default::default()
            }),
            ..Default::default()
        }),
    }
}

/// `request` with the header `name: value` added, as Envoy forwards it.
pub fn with_header(mut request: CheckRequest, name: &str, value: &str) -> CheckRequest {
    request
        .attributes
        .as_mut()
        .and_then(|a| a.request.as_mut())
        .and_then(|r| r.http.as_mut())
        .expect("check_request builds an HTTP request")
        .headers
        .insert(name.into(), value.into());
    request
}

/// The gRPC status code a client would see.
pub fn code(r: &CheckResponse) -> i32 {
    r.status.as_ref().map_or(-1, |s| s.code)
}

/// The deny message (`grpc-message`).
pub fn message(r: &CheckResponse) -> String {
    r.status
        .as_ref()
        .map(|s| s.message.clone())
        .unwrap_or_default()
}

/// The headers of an OK response, as (name, value, append_action).
pub fn ok_headers(r: &CheckResponse) -> Vec<(String, String, i32)> {
    match &r.http_response {
        Some(HttpResponse::OkResponse(ok)) => ok
            .headers
            .iter()
            .filter_map(|h| {
                h.header
                    .as_ref()
                    .map(|v| (v.key.clone(), v.value.clone(), h.append_action))
            })
            .collect(),
        _ => Vec::new(),
    }
}

/// Runs all futures concurrently on the current task; their outputs in completion order.
pub async fn join_all<F: std::future::Future>(futures: Vec<F>) -> Vec<F::Output> {
    let mut pending: Vec<_> = futures.into_iter().map(|f| Some(Box::pin(f))).collect();
    let mut out = Vec::with_capacity(pending.len());
    std::future::poll_fn(|cx| {
        for slot in &mut pending {
            if let Some(f) = slot
                && let std::task::Poll::Ready(v) = f.as_mut().poll(cx)
            {
                out.push(v);
                *slot = None;
            }
        }
        if pending.iter().all(Option::is_none) {
            std::task::Poll::Ready(())
        } else {
            std::task::Poll::Pending
        }
    })
    .await;
    out
}

/// A gateway rpc path.
pub fn rpc(name: &str) -> String {
    format!("/gateway_protocol.Gateway/{name}")
}

/// A Keycloak-shaped token of `issuer` with `permissions`, signed by `key`.
pub fn token(key: &SigningKey, issuer: &str, permissions: &[&str]) -> String {
    key.sign(&access_token_claims(
        issuer,
        AUDIENCE,
        "orders-worker",
        permissions,
        300,
    ))
    .unwrap()
}

/// Like [`token`], with the claims edited first.
pub fn token_with(
    key: &SigningKey,
    issuer: &str,
    permissions: &[&str],
    edit: impl FnOnce(&mut Value),
) -> String {
    let mut claims = access_token_claims(issuer, AUDIENCE, "orders-worker", permissions, 300);
    edit(&mut claims);
    key.sign(&claims).unwrap()
}

/// A Check of a REST request (method, path, content type, body) with `token` on the HTTP/1.1
/// port of `zeebe.example.com`.
pub fn rest_request(
    token: Option<&str>,
    (method, path, content_type, body): &(&'static str, String, &'static str, Vec<u8>),
) -> CheckRequest {
    let auth = token.map(|t| format!("Bearer {t}"));
    let mut r = check_request("zeebe.example.com", path, auth.as_deref(), body);
    let http = r
        .attributes
        .as_mut()
        .and_then(|a| a.request.as_mut())
        .and_then(|r| r.http.as_mut())
        .unwrap();
    http.method = (*method).into();
    http.protocol = "HTTP/1.1".into();
    http.headers
        .insert("content-type".into(), (*content_type).into());
    r
}
