//! zeebe-authz's server: the core's decision (`zeebe-authz-core`) put to work on the network.
//! It fetches and caches a realm's keys, keeps verified tokens, answers Envoy's ext_authz
//! Checks over gRPC, serves admin HTTP, reloads the config and exports metrics and traces. The
//! tools (`zeebe-authz`) depend on this crate; it depends on the core and never on them.
//!
//! # Layout
//! The data path of one Check, in module order:
//! - [`serve`]: binds nothing itself; runs the ext_authz service, admin server and key
//!   refreshers on listeners and a shutdown signal passed in.
//! - `connections`: the Check port's connections (accept with back-off, a cap, header and
//!   idle timeouts), each written through [`coalesce`].
//! - [`coalesce`]: the Check connection writer (h2's writes copied and coalesced).
//! - [`envoy`]: the Envoy boundary, the only module with Envoy's types: reads a `CheckRequest`
//!   into the core's request view ([`envoy::read`]), answers within its `grpc-timeout`
//!   ([`envoy::service`]), writes the one `CheckResponse` as bytes (`envoy::wire`).
//! - [`authorizer`]: the decision pipeline tying the core's parts to the realms and caches.
//! - [`realm`]: which realm (issuer, audiences, policy, keys) protects the request's host.
//! - [`token_cache`]: the verified-token cache (no crypto and no JSON on the hot path).
//! - [`jwks`]: the realm's keys: discovery, one rate-limited fetch schedule, waiting for a
//!   rotated key within the Check's deadline.
//!
//! Around the path:
//! - [`disk`]: the one reader of the files a config names; config and policy files loaded.
//! - `admin`: `/healthz`, `/readyz`, `/metrics`, plus routes it is given; [`metrics`].
//! - [`reload`]: hot reload of the config (on change, on SIGHUP): one generation swapped in
//!   whole; the key refreshers per key source.
//! - [`telemetry`]: optional OpenTelemetry traces of Checks and key fetches.
//!
//! Items are `pub(crate)` unless the tools, a test, a bench or the fuzz harness use them, so
//! rustc reports dead code.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub(crate) mod admin;
pub mod authorizer;
pub mod coalesce;
pub(crate) mod connections;
pub mod disk;
pub mod envoy;
pub mod jwks;
pub mod metrics;
pub mod realm;
pub mod reload;
pub mod serve;
pub mod telemetry;
pub mod token_cache;
