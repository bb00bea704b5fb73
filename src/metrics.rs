//! Prometheus metrics, served as text on the admin port's `/metrics`.
//!
//! Handles for the hot path are created once: decision counters sit in a table indexed by
//! (rpc, outcome) and are registered with their labels on first use, so a Check increments an
//! atomic and never formats or hashes a label set.

use std::sync::OnceLock;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

use crate::catalog::RPCS;
use crate::outcome::{Outcome, PathLabel, RealmMode};

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct DecisionLabels {
    rpc: &'static str,
    result: &'static str,
    reason: &'static str,
    mode: &'static str,
}

/// `enforce` and `dry-run`.
const MODES: usize = 2;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReloadLabels {
    result: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ConfigLabels {
    sha256: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct FetchLabels {
    realm: String,
    cause: &'static str,
    result: &'static str,
}

/// Every metric of the process.
pub struct Metrics {
    registry: Registry,
    decisions: Family<DecisionLabels, Counter>,
    decision_cells: Box<[OnceLock<Counter>]>,
    check_latency: Histogram,
    jwks_fetches: Family<FetchLabels, Counter>,
    token_cache_hits: Counter,
    token_cache_misses: Counter,
    token_cache_entries: Gauge,
    token_cache_bytes: Gauge,
    check_connections: Gauge,
    config_reloads: Family<ReloadLabels, Counter>,
    config_info: Family<ConfigLabels, Gauge>,
    config_generation: Gauge,
    config_last_reload: Gauge<f64, std::sync::atomic::AtomicU64>,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Metrics")
    }
}

/// Path slots: every rpc, then "unknown rpc", then "other path".
fn path_slots() -> usize {
    RPCS.len() + 2
}

impl Metrics {
    /// Registers every metric.
    pub fn new() -> Metrics {
        let mut registry = Registry::with_prefix("zeebe_authz");
        let decisions = Family::<DecisionLabels, Counter>::default();
        registry.register(
            "decisions",
            "Check decisions by rpc, result, reason and realm mode (in dry-run: the decision that would have been enforced)",
            decisions.clone(),
        );
        // 25 µs .. ~400 ms: the interesting range of an ext_authz hop.
        let check_latency = Histogram::new(
            prometheus_client::metrics::histogram::exponential_buckets(25e-6, 2.0, 15),
        );
        registry.register(
            "check_duration_seconds",
            "Time to decide one Check, from Envoy's request read to the verdict (writing the response, ~1 µs, is not included)",
            check_latency.clone(),
        );
        let jwks_fetches = Family::<FetchLabels, Counter>::default();
        registry.register(
            "jwks_fetches",
            "JWKS fetches by realm, cause and result",
            jwks_fetches.clone(),
        );
        let token_cache_hits = Counter::default();
        registry.register(
            "token_cache_hits",
            "Checks answered from the verified-token cache",
            token_cache_hits.clone(),
        );
        let token_cache_misses = Counter::default();
        registry.register(
            "token_cache_misses",
            "Checks that verified a token",
            token_cache_misses.clone(),
        );
        let token_cache_entries = Gauge::default();
        registry.register(
            "token_cache_entries",
            "Verified tokens currently cached",
            token_cache_entries.clone(),
        );
        let token_cache_bytes = Gauge::default();
        registry.register(
            "token_cache_bytes",
            "Estimated bytes the verified-token cache holds (bounded by token.cache_max_bytes)",
            token_cache_bytes.clone(),
        );
        let check_connections = Gauge::default();
        registry.register(
            "check_connections",
            "Open connections to the Check port (bounded by server.max_connections)",
            check_connections.clone(),
        );
        let config_reloads = Family::<ReloadLabels, Counter>::default();
        registry.register(
            "config_reloads",
            "Config reloads by result (ok, error: the last good config stays in force)",
            config_reloads.clone(),
        );
        let config_info = Family::<ConfigLabels, Gauge>::default();
        registry.register(
            "config_info",
            "The config in force: 1 for the SHA-256 of its files (config, policies, CA bundle)",
            config_info.clone(),
        );
        let config_generation = Gauge::default();
        registry.register(
            "config_generation",
            "How many configs were put in force (1 at start, +1 per successful reload)",
            config_generation.clone(),
        );
        let config_last_reload = Gauge::<f64, std::sync::atomic::AtomicU64>::default();
        registry.register(
            "config_last_reload_timestamp_seconds",
            "Unix time of the last reload attempt",
            config_last_reload.clone(),
        );
        Metrics {
            registry,
            config_reloads,
            config_info,
            config_generation,
            config_last_reload,
            decisions,
            decision_cells: (0..path_slots() * Outcome::COUNT * MODES)
                .map(|_| OnceLock::new())
                .collect(),
            check_latency,
            jwks_fetches,
            token_cache_hits,
            token_cache_misses,
            token_cache_entries,
            token_cache_bytes,
            check_connections,
        }
    }

    /// Counts one decision (in dry-run: the one that would have been enforced).
    pub(crate) fn decision(&self, path: PathLabel, outcome: Outcome, mode: RealmMode) {
        let slot = match path {
            PathLabel::Rpc(rpc) => rpc.index(),
            PathLabel::UnknownRpc => RPCS.len(),
            PathLabel::Other => RPCS.len() + 1,
        };
        let mode_index = match mode {
            RealmMode::Enforce => 0,
            RealmMode::DryRun => 1,
        };
        let cell =
            &self.decision_cells[(slot * Outcome::COUNT + outcome.index()) * MODES + mode_index];
        cell.get_or_init(|| {
            let labels = DecisionLabels {
                rpc: path.as_str(),
                mode: mode.as_str(),
                result: outcome.result(),
                reason: outcome.reason(),
            };
            self.decisions.get_or_create(&labels).clone()
        })
        .inc();
    }

    /// Records the config in force: generation `generation`, whose files hash to `sha256`.
    pub(crate) fn config_in_force(&self, generation: u64, sha256: &str) {
        self.config_info.clear();
        self.config_info
            .get_or_create(&ConfigLabels {
                sha256: sha256.to_owned(),
            })
            .set(1);
        self.config_generation
            .set(i64::try_from(generation).unwrap_or(i64::MAX));
    }

    /// Counts a reload attempt at unix time `now`.
    pub(crate) fn config_reload(&self, ok: bool, now: f64) {
        let result = if ok { "ok" } else { "error" };
        self.config_reloads
            .get_or_create(&ReloadLabels { result })
            .inc();
        self.config_last_reload.set(now);
    }

    /// Records the time one Check took.
    pub(crate) fn check_latency(&self, seconds: f64) {
        self.check_latency.observe(seconds);
    }

    /// Counts one JWKS fetch.
    pub(crate) fn jwks_fetch(&self, realm: &str, cause: &'static str, result: &'static str) {
        self.jwks_fetches
            .get_or_create(&FetchLabels {
                realm: realm.to_string(),
                cause,
                result,
            })
            .inc();
    }

    /// Counts a verified-token cache hit or miss.
    pub(crate) fn token_cache(&self, hit: bool) {
        if hit {
            &self.token_cache_hits
        } else {
            &self.token_cache_misses
        }
        .inc();
    }

    /// Sets the number of cached tokens and their estimated bytes.
    pub(crate) fn token_cache_size(&self, entries: u64, bytes: u64) {
        self.token_cache_entries
            .set(i64::try_from(entries).unwrap_or(i64::MAX));
        self.token_cache_bytes
            .set(i64::try_from(bytes).unwrap_or(i64::MAX));
    }

    /// The open Check connections gauge (the server moves it as connections come and go).
    pub(crate) fn check_connections(&self) -> &Gauge {
        &self.check_connections
    }

    /// How many JWKS fetches with `result` were made for `realm` (unit tests).
    #[cfg(test)]
    pub(crate) fn jwks_fetch_count(&self, realm: &str, result: &'static str) -> u64 {
        ["startup", "refresh", "unknown_kid", "no_keys"]
            .iter()
            .map(|cause| {
                self.jwks_fetches
                    .get_or_create(&FetchLabels {
                        realm: realm.to_string(),
                        cause,
                        result,
                    })
                    .get()
            })
            .sum()
    }

    /// The registry in Prometheus text format.
    pub(crate) fn encode(&self) -> String {
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &self.registry)
            .expect("writing to a String cannot fail");
        out
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}
