//! zeebe-authz: an Envoy ext_authz server that authorizes Camunda 8 Zeebe gateway calls from
//! Keycloak access tokens and Camunda Identity permissions.
//!
//! # Layout
//! The data path of one Check, in module order:
//! - [`server`]: binds nothing itself; runs the ext_authz service, admin server and key
//!   refreshers on listeners and a shutdown signal passed in.
//!   `server::connections`: the Check port's connections (accept with back-off, a cap,
//!   header and idle timeouts).
//! - [`envoy`]: the Envoy boundary, the only module with Envoy's types and tonic: reads a
//!   `CheckRequest` ([`envoy::request`]), answers within its `grpc-timeout`
//!   ([`envoy::service`]), builds the one `CheckResponse` ([`envoy::response`]).
//! - `request`: the borrowed view of the request a decision reads (host, path, token, body).
//! - [`authorizer`]: the decision pipeline tying the modules below together.
//! - [`catalog`]: the rpcs of `gateway_protocol.Gateway`, generated from `proto/`; path parsing.
//! - `host`: the one normalization of `:authority` (case, port, trailing dot).
//! - [`realm`]: which realm (issuer, audiences, policy, keys) protects the request's host.
//! - [`token`]: bearer extraction, JWT verification, the verified-token cache, claim paths.
//! - [`jwks`]: the realm's keys: discovery, one rate-limited fetch schedule, waiting for a
//!   rotated key within the Check's deadline.
//! - [`body`]: reads the request fields conditions need from the gRPC frame (gzip, bounds).
//! - [`policy`]: pure policy model, compile and evaluation (permission → rpcs).
//! - `outcome`: every way a Check ends, with its gRPC status and reason label.
//! - [`decision`]: allow (principal) or deny (outcome), and the identity header names.
//! - [`text`]: the one rule for clipping untrusted text in messages and logs, and for escaping
//!   it in a header value ([`text::HeaderText`]: escaped once, when made).
//!
//! Around the path:
//! - [`config`]: the YAML config, compiled with every error located ([`diag`]).
//! - `admin`: `/healthz`, `/readyz`, `/metrics`, plus routes it is given; [`metrics`].
//! - [`reload`]: hot reload of the config (on change, on SIGHUP): one generation swapped in
//!   whole; the key refreshers per key source.
//! - [`dev`]: `serve --dev`: a config, keys and admin routes for a self-issued realm.
//! - [`issuer`]: a Keycloak-shaped issuer (keys, JWKS, tokens) and the one loopback realm
//!   serving its discovery and JWKS ([`issuer::LoopbackIssuer`]) for dev mode, bench and tests.
//! - [`proto`]: prost/tonic types of the gateway protocol; [`cli`]: the command line.
//! - [`lint`]: `zeebe-authz lint`: compiles configs and policies as `serve` does, plus warnings;
//!   the Camunda twin of each authorization, and 8.7 policies rewritten in the dialect.
//! - [`istio`]: `zeebe-authz istio`: the Istio (sidecar, ambient) and Kubernetes manifests
//!   ([`istio::enforcement`]: which calls Istio enforces natively, which the authorizer).
//! - [`bench`](mod@bench): `zeebe-authz bench`: load generator, allow-all server, crypto and memory figures.
//!
//! Items are `pub(crate)` unless a test, bench, the fuzz harness or `main` uses them, so rustc
//! reports dead code; `tests/it/layout.rs` keeps the module graph free of cycles and the pure
//! modules free of I/O and of Envoy's types.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub(crate) mod admin;
pub mod authorizer;
pub mod bench;
pub mod body;
pub mod catalog;
pub mod claims;
pub mod cli;
pub mod config;
pub mod decision;
pub mod dev;
pub mod diag;
pub mod envoy;
pub mod explain;
pub(crate) mod host;
pub mod issuer;
pub mod istio;
pub mod jwks;
pub mod lint;
pub mod metrics;
pub(crate) mod outcome;
pub mod policy;
pub mod proto;
pub mod realm;
pub mod reload;
pub(crate) mod request;
pub mod server;
pub(crate) mod telemetry;
pub mod text;
pub mod token;
