//! zeebe-authz: an Envoy ext_authz server that authorizes Camunda 8 Zeebe gateway calls from
//! Keycloak access tokens and Camunda Identity permissions. This crate is the binary and its
//! tools; the decision is `zeebe-authz-core` (pure), the server around it
//! `zeebe-authz-server`. Direction: tools → server → core, never back.
//!
//! # Layout
//! - [`cli`]: the command line: `serve`, `lint`, `istio`, `explain`, `bench`.
//! - [`dev`]: `serve --dev`: a config, keys and admin routes for a self-issued realm.
//! - [`issuer`]: a Keycloak-shaped issuer on loopback HTTP (discovery, JWKS, token endpoint)
//!   for dev mode, bench and tests ([`issuer::LoopbackIssuer`]).
//! - [`lint`]: `zeebe-authz lint`: compiles configs and policies as `serve` does, plus warnings;
//!   the Camunda twin of each authorization, and 8.7 policies rewritten in the dialect.
//! - [`istio`]: `zeebe-authz istio`: the Istio (sidecar, ambient) and Kubernetes manifests
//!   ([`istio::enforcement`]: which calls Istio enforces natively, which the authorizer).
//! - [`explain`]: `zeebe-authz explain`: one call decided as `serve` would, step by step.
//! - [`bench`](mod@bench): `zeebe-authz bench`: load generator, allow-all server, crypto and
//!   memory figures.
//!
//! Items are `pub(crate)` unless a test, bench or `main` uses them, so rustc reports dead code;
//! `tests/it/layout.rs` checks the crates' dependency lists and that no two modules of a crate
//! import each other.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod bench;
pub mod cli;
pub mod dev;
pub mod explain;
pub mod issuer;
pub mod istio;
pub mod lint;
