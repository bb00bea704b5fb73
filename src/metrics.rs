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

use crate::catalog::{RPCS, Rpc};
use crate::outcome::{Outcome, PathLabel};

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct DecisionLabels {
    rpc: &'static str,
    result: &'static str,
    reason: &'static str,
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
            "Check decisions by rpc, result and reason",
            decisions.clone(),
        );
        // 25 µs .. ~400 ms: the interesting range of an ext_authz hop.
        let check_latency = Histogram::new(
            prometheus_client::metrics::histogram::exponential_buckets(25e-6, 2.0, 15),
        );
        registry.register(
            "check_duration_seconds",
            "Time to decide one Check",
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
        Metrics {
            registry,
            decisions,
            decision_cells: (0..path_slots() * Outcome::COUNT)
                .map(|_| OnceLock::new())
                .collect(),
            check_latency,
            jwks_fetches,
            token_cache_hits,
            token_cache_misses,
            token_cache_entries,
        }
    }

    /// Counts one decision.
    pub(crate) fn decision(&self, path: PathLabel, outcome: Outcome) {
        let slot = match path {
            PathLabel::Rpc(rpc) => rpc.index(),
            PathLabel::UnknownRpc => RPCS.len(),
            PathLabel::Other => RPCS.len() + 1,
        };
        let cell = &self.decision_cells[slot * Outcome::COUNT + outcome.index()];
        cell.get_or_init(|| {
            let rpc = match path {
                PathLabel::Rpc(rpc) => Rpc::name(rpc),
                PathLabel::UnknownRpc => "(unknown rpc)",
                PathLabel::Other => "(other path)",
            };
            let labels = DecisionLabels {
                rpc,
                result: outcome.result(),
                reason: outcome.reason(),
            };
            self.decisions.get_or_create(&labels).clone()
        })
        .inc();
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

    /// Sets the number of cached tokens.
    pub(crate) fn token_cache_entries(&self, n: u64) {
        self.token_cache_entries
            .set(i64::try_from(n).unwrap_or(i64::MAX));
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
