//! Prometheus metrics, served as text on the admin port's `/metrics`.
//!
//! Handles for the hot path are created once: decision counters sit in a table indexed by
//! (rpc, outcome) and are registered with their labels on first use, so a Check increments an
//! atomic and never formats or hashes a label set. Per-realm decision counters are made when a
//! realm is built ([`RealmDecisions`]); per-realm key state (readiness, key age) and the token
//! cache's size are read from the generation in force when `/metrics` is scraped.
//!
//! Every name and label here is read by the alerting rules and the dashboard
//! (`charts/zeebe-authz/files/`), whose tests scrape a running authorizer: rename one and they
//! fail.

use std::sync::OnceLock;
use std::sync::atomic::AtomicU64;
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

use zeebe_authz_core::catalog::RPCS;
use zeebe_authz_core::outcome::{Outcome, PathLabel, RealmMode};

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct DecisionLabels {
    rpc: &'static str,
    result: &'static str,
    reason: &'static str,
    mode: &'static str,
    /// Last, so that a label added for the REST door leaves the others where they were.
    door: &'static str,
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

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RealmLabels {
    realm: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RealmDecisionLabels {
    realm: String,
    result: &'static str,
    mode: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct EvictionLabels {
    queue: &'static str,
}

/// One realm's decision counters (`allow`, `deny`), made once when the realm is built so a
/// Check increments an atomic.
#[derive(Clone, Debug)]
pub(crate) struct RealmDecisions {
    allow: Counter,
    deny: Counter,
}

impl RealmDecisions {
    /// Counts one decision of the realm (in dry-run: the one that would have been enforced).
    pub(crate) fn count(&self, outcome: Outcome) {
        if outcome == Outcome::Allow {
            &self.allow
        } else {
            &self.deny
        }
        .inc();
    }
}

/// What `/metrics` reports about one realm of the generation in force.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RealmKeyState<'a> {
    /// The realm's name.
    pub(crate) realm: &'a str,
    /// Whether usable keys are loaded (`/readyz`).
    pub(crate) ready: bool,
    /// The age of the last keys fetched, if any were.
    pub(crate) keys_age: Option<Duration>,
    /// How long keys stay usable without a successful fetch.
    pub(crate) keys_max_age: Duration,
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
    config_last_reload_successful: Gauge,
    realm_decisions: Family<RealmDecisionLabels, Counter>,
    realm_ready: Family<RealmLabels, Gauge>,
    jwks_keys_age: Family<RealmLabels, Gauge<f64, AtomicU64>>,
    jwks_keys_max_age: Family<RealmLabels, Gauge<f64, AtomicU64>>,
    token_cache_evictions: Family<EvictionLabels, Counter>,
    token_cache_max_bytes: Gauge,
    /// Unprefixed process metrics (`process_start_time_seconds`).
    process: Registry,
    /// Held by one scrape from its realm key state's update to its encoding (see `scrape`).
    scrape: std::sync::Mutex<()>,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Metrics")
    }
}

/// Path slots: every operation through the gRPC door, then "unknown rpc", then "other path",
/// then every operation through the REST door, then "unknown operation". Bounded by the
/// catalog: the `rpc` label never takes a value from the request.
fn path_slots() -> usize {
    2 * RPCS.len() + 3
}

impl Metrics {
    /// Registers every metric.
    pub fn new() -> Metrics {
        let mut registry = Registry::with_prefix("zeebe_authz");
        let decisions = Family::<DecisionLabels, Counter>::default();
        registry.register(
            "decisions",
            "Check decisions by operation (rpc), door (grpc, rest), result, reason and realm mode (in dry-run: the decision that would have been enforced)",
            decisions.clone(),
        );
        // 25 µs .. ~3.3 s: the interesting range of an ext_authz hop, up past the Check
        // timeout `zeebe-authz istio` gives Envoy (2 s), so a p99 near it can be seen (the
        // ZeebeAuthzCheckLatencyOverBudget alert).
        let check_latency = Histogram::new(
            prometheus_client::metrics::histogram::exponential_buckets(25e-6, 2.0, 18),
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
        let config_last_reload_successful = Gauge::default();
        // The config loaded at start was good (else the process exits), hence 1 until a reload
        // fails.
        config_last_reload_successful.set(1);
        registry.register(
            "config_last_reload_successful",
            "1 when the last reload attempt (or the start) put its config in force, 0 when it failed and the last good config stays in force",
            config_last_reload_successful.clone(),
        );
        let realm_decisions = Family::<RealmDecisionLabels, Counter>::default();
        registry.register(
            "realm_decisions",
            "Check decisions by realm, result and realm mode (Checks whose host no realm protects are not counted here)",
            realm_decisions.clone(),
        );
        let realm_ready = Family::<RealmLabels, Gauge>::default();
        registry.register(
            "realm_ready",
            "1 when the realm has usable signing keys, else 0 (its Checks answer UNAVAILABLE and /readyz fails)",
            realm_ready.clone(),
        );
        let jwks_keys_age = Family::<RealmLabels, Gauge<f64, AtomicU64>>::default();
        registry.register_with_unit(
            "jwks_keys_age",
            "Time since the realm's keys in use were fetched (absent until a first fetch succeeded)",
            prometheus_client::registry::Unit::Seconds,
            jwks_keys_age.clone(),
        );
        let jwks_keys_max_age = Family::<RealmLabels, Gauge<f64, AtomicU64>>::default();
        registry.register_with_unit(
            "jwks_keys_max_age",
            "The realm's keys_max_age: how long its last good keys stay usable while fetches fail",
            prometheus_client::registry::Unit::Seconds,
            jwks_keys_max_age.clone(),
        );
        let token_cache_evictions = Family::<EvictionLabels, Counter>::default();
        registry.register(
            "token_cache_evictions",
            "Still-valid verified tokens evicted from the cache for room, by S3-FIFO queue (hot: seen again after it was cached)",
            token_cache_evictions.clone(),
        );
        let token_cache_max_bytes = Gauge::default();
        registry.register(
            "token_cache_max_bytes",
            "The bound of the verified-token cache's estimated bytes (token.cache_max_bytes)",
            token_cache_max_bytes.clone(),
        );
        let mut process = Registry::default();
        let start_time = Gauge::<f64, AtomicU64>::default();
        start_time.set(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0.0, |d| d.as_secs_f64()),
        );
        process.register_with_unit(
            "process_start_time",
            "Start time of the process since unix epoch",
            prometheus_client::registry::Unit::Seconds,
            start_time,
        );
        Metrics {
            registry,
            realm_decisions,
            realm_ready,
            jwks_keys_age,
            jwks_keys_max_age,
            token_cache_evictions,
            token_cache_max_bytes,
            process,
            scrape: std::sync::Mutex::new(()),
            config_reloads,
            config_info,
            config_generation,
            config_last_reload,
            config_last_reload_successful,
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
            PathLabel::RestOperation(rpc) => RPCS.len() + 2 + rpc.index(),
            PathLabel::RestUnknown => 2 * RPCS.len() + 2,
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
                door: path.door(),
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
        self.config_last_reload_successful.set(i64::from(ok));
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

    /// The decision counters of the realm `realm` in `mode`.
    pub(crate) fn realm_decisions(&self, realm: &str, mode: RealmMode) -> RealmDecisions {
        let counter = |result| {
            self.realm_decisions
                .get_or_create(&RealmDecisionLabels {
                    realm: realm.to_owned(),
                    result,
                    mode: mode.as_str(),
                })
                .clone()
        };
        RealmDecisions {
            allow: counter("allow"),
            deny: counter("deny"),
        }
    }

    /// Records the key state of every realm in force (at each scrape; realms a reload removed
    /// disappear).
    pub(crate) fn realm_key_states<'a>(&self, realms: impl IntoIterator<Item = RealmKeyState<'a>>) {
        self.realm_ready.clear();
        self.jwks_keys_age.clear();
        self.jwks_keys_max_age.clear();
        for state in realms {
            let labels = RealmLabels {
                realm: state.realm.to_owned(),
            };
            self.realm_ready
                .get_or_create(&labels)
                .set(i64::from(state.ready));
            if let Some(age) = state.keys_age {
                self.jwks_keys_age
                    .get_or_create(&labels)
                    .set(age.as_secs_f64());
            }
            self.jwks_keys_max_age
                .get_or_create(&labels)
                .set(state.keys_max_age.as_secs_f64());
        }
    }

    /// A counter of still-valid tokens evicted from the cache for room, to call with `true`
    /// for one from the hot queue. Both series are made here, once (it runs under a cache
    /// shard's lock, so it only increments an atomic).
    pub(crate) fn token_cache_eviction_counter(&self) -> impl Fn(bool) + Send + Sync + 'static {
        let counter = |queue| {
            self.token_cache_evictions
                .get_or_create(&EvictionLabels { queue })
                .clone()
        };
        let (hot, cold) = (counter("hot"), counter("cold"));
        move |is_hot| {
            if is_hot {
                hot.inc();
            } else {
                cold.inc();
            }
        }
    }

    /// Sets the bound of the token cache's estimated bytes.
    pub(crate) fn token_cache_max_bytes(&self, max_bytes: u64) {
        self.token_cache_max_bytes
            .set(i64::try_from(max_bytes).unwrap_or(i64::MAX));
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

    /// One `/metrics` answer: the realms' key state recorded, then the registry encoded, under
    /// one lock. `realm_key_states` clears the per-realm gauges before it sets them again, so
    /// without the lock a concurrent scrape (an HA Prometheus pair) could encode in between and
    /// answer without the realm series, restarting the `for:` timers of the realm alerts. A
    /// sync mutex: nothing awaits while it is held, and only scrapes take it (never a Check).
    pub(crate) fn scrape<'a>(&self, realms: impl IntoIterator<Item = RealmKeyState<'a>>) -> String {
        let _one_scrape = self
            .scrape
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        self.realm_key_states(realms);
        self.encode()
    }

    /// The registry in Prometheus text format.
    pub(crate) fn encode(&self) -> String {
        use prometheus_client::encoding::text::{encode_eof, encode_registry};
        let mut out = String::new();
        encode_registry(&mut out, &self.registry)
            .and_then(|()| encode_registry(&mut out, &self.process))
            .and_then(|()| encode_eof(&mut out))
            .expect("writing to a String cannot fail");
        out
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::{Metrics, RealmKeyState};
    use zeebe_authz_core::outcome::{Outcome, RealmMode};

    #[test]
    fn concurrent_scrapes_lost_realm_series() {
        // Two scrapes at once (an HA Prometheus pair): each must answer with every realm's
        // series, never encode between the other's clear and its sets.
        let m = Metrics::new();
        let realms = || {
            [RealmKeyState {
                realm: "a",
                ready: true,
                keys_age: Some(Duration::from_secs(5)),
                keys_max_age: Duration::from_secs(3600),
            }]
        };
        let lost = std::sync::atomic::AtomicUsize::new(0);
        std::thread::scope(|s| {
            for _ in 0..4 {
                s.spawn(|| {
                    for _ in 0..2_000 {
                        let text = m.scrape(realms());
                        if !text.contains("zeebe_authz_realm_ready{realm=\"a\"} 1\n") {
                            lost.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        }
                    }
                });
            }
        });
        assert_eq!(
            lost.into_inner(),
            0,
            "scrapes answered without realm a's series"
        );
    }

    #[test]
    fn realm_key_states_follow_the_realms_in_force() {
        let m = Metrics::new();
        m.realm_key_states([
            RealmKeyState {
                realm: "a",
                ready: true,
                keys_age: Some(Duration::from_secs(90)),
                keys_max_age: Duration::from_secs(3600),
            },
            RealmKeyState {
                realm: "b",
                ready: false,
                keys_age: None,
                keys_max_age: Duration::from_secs(60),
            },
        ]);
        let text = m.encode();
        for line in [
            "zeebe_authz_realm_ready{realm=\"a\"} 1\n",
            "zeebe_authz_realm_ready{realm=\"b\"} 0\n",
            "zeebe_authz_jwks_keys_age_seconds{realm=\"a\"} 90",
            "zeebe_authz_jwks_keys_max_age_seconds{realm=\"b\"} 60",
        ] {
            assert!(text.contains(line), "{line:?} missing from\n{text}");
        }
        assert!(!text.contains("zeebe_authz_jwks_keys_age_seconds{realm=\"b\"}"));
        // A reload that drops realm b: its series go.
        m.realm_key_states([RealmKeyState {
            realm: "a",
            ready: true,
            keys_age: Some(Duration::from_secs(1)),
            keys_max_age: Duration::from_secs(3600),
        }]);
        assert!(!m.encode().contains("realm=\"b\""));
    }

    #[test]
    fn realm_decisions_and_evictions_are_counted() {
        let m = Metrics::new();
        let d = m.realm_decisions("camunda", RealmMode::DryRun);
        d.count(Outcome::Allow);
        d.count(Outcome::MissingPermission);
        d.count(Outcome::KeysTimeout);
        m.token_cache_eviction_counter()(true);
        m.token_cache_max_bytes(100);
        assert!(
            m.encode()
                .contains("zeebe_authz_config_last_reload_successful 1\n")
        );
        m.config_reload(false, 1.0);
        let text = m.encode();
        for line in [
            "zeebe_authz_realm_decisions_total{realm=\"camunda\",result=\"allow\",mode=\"dry-run\"} 1\n",
            "zeebe_authz_realm_decisions_total{realm=\"camunda\",result=\"deny\",mode=\"dry-run\"} 2\n",
            "zeebe_authz_token_cache_evictions_total{queue=\"hot\"} 1\n",
            "zeebe_authz_token_cache_evictions_total{queue=\"cold\"} 0\n",
            "zeebe_authz_token_cache_max_bytes 100\n",
            "zeebe_authz_config_last_reload_successful 0\n",
        ] {
            assert!(text.contains(line), "{line:?} missing from\n{text}");
        }
    }

    #[test]
    fn process_start_time_is_unprefixed_and_recent_and_one_eof_ends_the_text() {
        let text = Metrics::new().encode();
        let line = text
            .lines()
            .find(|l| l.starts_with("process_start_time_seconds "))
            .unwrap_or_else(|| panic!("no process_start_time_seconds in\n{text}"));
        let started: f64 = line.split(' ').nth(1).unwrap().parse().unwrap();
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs_f64();
        assert!((now - started).abs() < 60.0, "{line}");
        assert_eq!(text.matches("# EOF").count(), 1);
        assert!(text.ends_with("# EOF\n"));
    }
}
