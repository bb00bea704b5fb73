//! zeebe-authz: an Envoy ext_authz server that authorizes Camunda 8 Zeebe gateway calls from
//! Keycloak access tokens and Camunda Identity permissions.
//!
//! # Layout
//! The data path of one Check, in module order:
//! - [`server`]: binds nothing itself; runs the tonic ext_authz service, admin server and key
//!   refreshers on listeners and a shutdown signal passed in.
//! - [`request`]: the borrowed view of a `CheckRequest` (host, path, authorization, body).
//! - [`catalog`]: the rpcs of `gateway_protocol.Gateway`, generated from `proto/`; path parsing.
//! - [`host`]: the one normalization of `:authority` (case, port, trailing dot).
//! - [`realm`]: which realm (issuer, audiences, policy, keys) protects the request's host.
//! - [`token`]: bearer extraction, JWT verification, the verified-token cache, claim paths.
//! - [`jwks`]: the realm's keys: discovery, refresh, single-flight refetch on unknown `kid`.
//! - [`body`]: reads the request fields conditions need from the gRPC frame (gzip, bounds).
//! - [`policy`]: pure policy model, compile and evaluation (permission → rpcs).
//! - [`decision`]: outcomes and the one function that builds a `CheckResponse`.
//! - [`authorizer`]: the Check pipeline tying the above together.
//!
//! Around the path:
//! - [`config`]: the YAML config, compiled with every error located ([`diag`]).
//! - [`admin`]: `/healthz`, `/readyz`, `/metrics`, the dev issuer's endpoints; [`metrics`].
//! - [`issuer`]: a Keycloak-shaped issuer (keys, JWKS, tokens) for dev mode, bench and tests.
//! - [`proto`]: prost/tonic types of the gateway protocol; [`cli`]: the command line.
//! - [`lint`]: `zeebe-authz lint`: compiles configs and policies as `serve` does, plus warnings.
//! - [`istio`]: `zeebe-authz istio`: the Istio (sidecar, ambient) and Kubernetes manifests.
//! - [`bench`]: `zeebe-authz bench`: load generator, allow-all server, crypto and memory figures.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod admin;
pub mod authorizer;
pub mod bench;
pub mod body;
pub mod catalog;
pub mod cli;
pub mod config;
pub mod decision;
pub mod diag;
pub mod host;
pub mod issuer;
pub mod istio;
pub mod jwks;
pub mod lint;
pub mod metrics;
pub mod policy;
pub mod proto;
pub mod realm;
pub mod request;
pub mod server;
pub mod token;
