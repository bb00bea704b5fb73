//! The JWKS cache: a realm's verification keys, fetched from Keycloak and kept current.
//!
//! What it guarantees, and why (Istio and Envoy get these wrong):
//! - **Discovery**: keys come from `jwks_uri` in `<issuer>/.well-known/openid-configuration`
//!   (both Keycloak issuer forms work because we only append the well-known path), or from an
//!   explicit `jwks_uri`.
//! - **One schedule, rate-limited**: every fetch (startup, refresh, a Check's) goes through one
//!   task per realm; at most one runs at a time, and one starts no sooner than
//!   `refetch_cooldown` (default 1 s) after the previous one started. Keycloak therefore sees
//!   at most one JWKS fetch per cooldown from a realm, whatever tokens arrive.
//! - **Unknown `kid`, never a false deny**: a Check whose `kid` is unknown asks for a fetch
//!   that starts after it arrived and waits for it (joining every other asker), within its own
//!   deadline. It is never refused for being inside the cooldown: it waits for the fetch
//!   scheduled at the cooldown's end. Only a *successful* fetch that lacks the `kid` makes the
//!   key unknown (UNAUTHENTICATED); a failed fetch or the deadline leaves the question open
//!   (UNAVAILABLE, retry). A key rotated in Keycloak is accepted from its first token on, even
//!   right after a spray of random `kid`s.
//! - **Bounded waiting**: at most [`MAX_KEY_WAITERS`] Checks of a realm wait at once (more
//!   answer UNAVAILABLE at once), so a spray cannot hold every stream Envoy has to us; a `kid`
//!   a fetch proved unknown is refused at once for one cooldown, so a stale token repeated in
//!   a loop costs one wait per cooldown, not one per call.
//! - **Refresh**: every `refresh_interval` in the background; a failed one is retried with a
//!   backoff from `refetch_cooldown` up to `MAX_RETRY_INTERVAL`.
//! - **Keycloak down**: the last good keys stay usable for `keys_max_age` after their fetch;
//!   after that the realm has no keys and Checks answer UNAVAILABLE (never allow).
//! - **Bounds**: fetch timeout, response size limit, optional CA bundle for self-signed Keycloak.
//!
//! Keys are shared as an immutable [`KeySet`] behind an `ArcSwap`: a Check reads them with
//! one atomic load and never waits for a fetch unless its `kid` is unknown.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use ahash::AHashMap;
use arc_swap::ArcSwapOption;
use tokio::sync::watch;
use tokio::time::Instant;

use crate::metrics::Metrics;

use zeebe_authz_core::config::JwksSettings;
use zeebe_authz_core::keyset::{JwksError, KeySet};

mod fetch;

pub use fetch::{Fetcher, discovery_url, http_client, system_store_present};

/// The largest JWKS or discovery document we accept.
pub const MAX_DOCUMENT_BYTES: usize = 1 << 20;

/// Where a realm's keys come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JwksSource {
    /// The realm's issuer (`https://kc/realms/camunda`).
    pub issuer: Arc<str>,
    /// An explicit JWKS URL; when absent it is discovered.
    pub jwks_uri: Option<Arc<str>>,
}

/// The key cache of one realm. See the module docs for its behaviour.
pub struct JwksCache {
    realm: Arc<str>,
    source: JwksSource,
    settings: JwksSettings,
    /// The extra CA certificates `client` trusts (a reload keeps the cache only if equal).
    ca_bundle: Option<Vec<u8>>,
    client: reqwest::Client,
    metrics: Arc<Metrics>,
    current: ArcSwapOption<KeySet>,
    discovered_uri: std::sync::Mutex<Option<Arc<str>>>,
    /// The fetch schedule, shared with every waiter (a watch channel: each change wakes them).
    fetches: watch::Sender<Fetches>,
    /// How many Checks wait for keys now (bounded by [`MAX_KEY_WAITERS`]).
    waiting: AtomicUsize,
    /// `kid`s that a fetch made after a token named them proved absent from the current keys.
    /// A sync mutex, never held across `.await`.
    unknown_kids: std::sync::Mutex<UnknownKids>,
}

/// The most Checks of one realm that wait for keys at once. A spray of tokens with random
/// `kid`s makes each of its Checks wait up to a cooldown; without a bound it could hold as
/// many streams open as Envoy allows to the authorizer (its circuit breaker: 1024 by default)
/// and starve legitimate Checks. Past the bound a Check answers UNAVAILABLE (retry) at once.
pub const MAX_KEY_WAITERS: usize = 256;

/// The most `kid`s remembered as unknown for one key set.
pub(crate) const MAX_UNKNOWN_KIDS: usize = 1024;

/// `kid`s proved unknown for one key set (by pointer), each with when it was proved: an entry
/// holds for one `refetch_cooldown` (so a Keycloak cluster whose nodes briefly disagree costs a
/// real key at most that long) and the whole set is cleared when the keys change.
#[derive(Debug, Default)]
struct UnknownKids {
    keys: std::sync::Weak<KeySet>,
    kids: AHashMap<Box<str>, Instant>,
}

/// The fetch schedule of a realm. Fetches are numbered; at most one runs at a time, and one
/// starts no sooner than `refetch_cooldown` after the previous one started.
#[derive(Debug)]
struct Fetches {
    /// How many fetches have started (the n-th is fetch number n).
    started: u64,
    /// The number of the last fetch that ended.
    finished: u64,
    /// Why the last ended fetch failed (none: it succeeded, or none ended yet).
    last_error: Option<JwksError>,
    /// The highest fetch number somebody waits for.
    wanted: u64,
    /// Why the next fetch is made (the latest asker's cause; a metrics label).
    cause: FetchCause,
    /// Whether a fetch task is scheduled or running.
    scheduled: bool,
    /// When the last fetch started.
    last_start: Option<Instant>,
}

/// Why waiting for keys ended without keys.
#[derive(Debug, Clone, thiserror::Error)]
pub(crate) enum KeyWait {
    /// The fetch made for this wait failed (the error is logged where it happened).
    #[error("{0}")]
    Failed(JwksError),
    /// The caller's deadline came first; the fetch goes on without it.
    #[error("no fetch ended before the deadline")]
    Deadline,
    /// [`MAX_KEY_WAITERS`] Checks already wait for this realm's keys.
    #[error("{MAX_KEY_WAITERS} Checks already wait for the realm's keys")]
    Overloaded,
}

/// Why a fetch was made (a metrics label).
#[derive(Debug, Clone, Copy)]
pub enum FetchCause {
    /// The first load at startup.
    Startup,
    /// The periodic refresh.
    Refresh,
    /// A token named a `kid` we do not have.
    UnknownKid,
    /// A Check found no usable keys.
    NoKeys,
}

impl FetchCause {
    fn as_str(self) -> &'static str {
        match self {
            FetchCause::Startup => "startup",
            FetchCause::Refresh => "refresh",
            FetchCause::UnknownKid => "unknown_kid",
            FetchCause::NoKeys => "no_keys",
        }
    }
}

impl JwksCache {
    /// A cache with no keys yet; spawn `JwksCache::run` (or call `JwksCache::fetch_now`).
    pub fn new(
        realm: Arc<str>,
        source: JwksSource,
        settings: JwksSettings,
        ca_bundle: Option<Vec<u8>>,
        client: reqwest::Client,
        metrics: Arc<Metrics>,
    ) -> JwksCache {
        JwksCache {
            realm,
            source,
            settings,
            ca_bundle,
            client,
            metrics,
            current: ArcSwapOption::empty(),
            discovered_uri: std::sync::Mutex::new(None),
            fetches: watch::Sender::new(Fetches {
                started: 0,
                finished: 0,
                last_error: None,
                wanted: 0,
                cause: FetchCause::Startup,
                scheduled: false,
                last_start: None,
            }),
            waiting: AtomicUsize::new(0),
            unknown_kids: std::sync::Mutex::new(UnknownKids::default()),
        }
    }

    /// Whether, within the last `refetch_cooldown`, a fetch made after a token named `kid`
    /// proved it absent from `keys` (still the current keys): such a `kid` is refused at once
    /// instead of waiting again, so repeating one stale token costs one wait per cooldown.
    /// Sound because Keycloak signs with a key only once its JWKS lists it: a fetch that
    /// started after a token with the `kid` existed would have seen it. Other `kid`s, a
    /// rotated key among them, are never affected.
    pub(crate) fn is_known_unknown(&self, keys: &Arc<KeySet>, kid: &str) -> bool {
        let unknown = self.unknown_kids.lock().expect("not poisoned");
        std::ptr::eq(unknown.keys.as_ptr(), Arc::as_ptr(keys))
            && unknown
                .kids
                .get(kid)
                .is_some_and(|at| at.elapsed() < self.settings.refetch_cooldown)
    }

    /// Remembers that `keys`, from a fetch that started after a token named `kid`, lack it.
    pub(crate) fn remember_unknown(&self, keys: &Arc<KeySet>, kid: &str) {
        let mut unknown = self.unknown_kids.lock().expect("not poisoned");
        if !std::ptr::eq(unknown.keys.as_ptr(), Arc::as_ptr(keys)) {
            unknown.keys = Arc::downgrade(keys);
            unknown.kids.clear();
        }
        if unknown.kids.len() >= MAX_UNKNOWN_KIDS {
            let cooldown = self.settings.refetch_cooldown;
            unknown.kids.retain(|_, at| at.elapsed() < cooldown);
        }
        if unknown.kids.len() < MAX_UNKNOWN_KIDS {
            unknown.kids.insert(kid.into(), Instant::now());
        }
    }

    /// The cache's timing.
    pub(crate) fn settings(&self) -> &JwksSettings {
        &self.settings
    }

    /// The extra CA certificates its client trusts.
    pub(crate) fn ca_bundle(&self) -> Option<&[u8]> {
        self.ca_bundle.as_deref()
    }

    /// Where the keys come from.
    pub(crate) fn source(&self) -> &JwksSource {
        &self.source
    }

    /// The current keys, unless they are older than `keys_max_age` (then none: a realm whose
    /// Keycloak has been unreachable for that long must not keep accepting tokens forever).
    pub(crate) fn keys(&self) -> Option<Arc<KeySet>> {
        let keys = self.current.load_full()?;
        (Instant::from_std(keys.fetched_at).elapsed() <= self.settings.keys_max_age).then_some(keys)
    }

    /// Whether the current keys, unless older than `keys_max_age`, hold the key with
    /// identity `id` (a cached token's key): one atomic load and a scan of a few ids.
    pub(crate) fn holds_key(&self, id: u64) -> bool {
        self.current.load().as_ref().is_some_and(|keys| {
            keys.holds(id) && keys.fetched_at.elapsed() <= self.settings.keys_max_age
        })
    }

    /// Whether usable keys are loaded (readiness).
    pub(crate) fn is_ready(&self) -> bool {
        self.keys().is_some()
    }

    /// How long ago the keys in use were fetched (usable or not), if any were (`/metrics`).
    pub(crate) fn keys_age(&self) -> Option<Duration> {
        self.current.load().as_ref().map(|k| k.fetched_at.elapsed())
    }

    /// How long keys stay usable without a successful fetch (`/metrics`).
    pub(crate) fn keys_max_age(&self) -> Duration {
        self.settings.keys_max_age
    }

    /// The process's metrics (a realm built on this cache makes its counters there).
    pub(crate) fn metrics(&self) -> &Arc<Metrics> {
        &self.metrics
    }

    /// Installs keys directly (dev mode, tests).
    pub fn install(&self, keys: KeySet) {
        self.current.store(Some(Arc::new(keys)));
    }

    /// Waits, until `deadline` at the latest, for keys that satisfy `wanted`, or for a fetch
    /// that **started after this call** to end. Never refused for being too soon: when the
    /// last fetch started less than `refetch_cooldown` ago, the next one is scheduled for
    /// then and every asker until it starts shares it.
    ///
    /// Returns the keys once `wanted` holds for them (perhaps from a fetch already under way),
    /// or the keys of that later fetch when it succeeded (then a `kid` missing from them is
    /// really unknown). A failed fetch or the deadline is an error: the key may exist.
    pub(crate) async fn wait_for_keys(
        self: &Arc<Self>,
        cause: FetchCause,
        deadline: Instant,
        wanted: impl Fn(&KeySet) -> bool,
    ) -> Result<Arc<KeySet>, KeyWait> {
        if let Some(keys) = self.keys()
            && wanted(&keys)
        {
            return Ok(keys);
        }
        let _waiting = WaiterSlot::take(&self.waiting).ok_or(KeyWait::Overloaded)?;
        let mut updates = self.fetches.subscribe();
        let target = self.request_fetch(cause);
        let wait = async {
            loop {
                if let Some(keys) = self.keys()
                    && wanted(&keys)
                {
                    return Ok(keys);
                }
                {
                    let f = updates.borrow_and_update();
                    if f.finished >= target {
                        return match &f.last_error {
                            Some(e) => Err(KeyWait::Failed(e.clone())),
                            // Only `keys_max_age: 0` makes fresh keys stale at once.
                            None => self.keys().ok_or(KeyWait::Deadline),
                        };
                    }
                }
                // The sender lives in `self`: it cannot close while we borrow it.
                let _ = updates.changed().await;
            }
        };
        tokio::time::timeout_at(deadline, wait)
            .await
            .unwrap_or(Err(KeyWait::Deadline))
    }

    /// Fetches as soon as the schedule allows and waits for that fetch to end (startup, the
    /// periodic refresh, bench).
    pub async fn fetch_now(self: &Arc<Self>, cause: FetchCause) -> Result<(), JwksError> {
        let mut updates = self.fetches.subscribe();
        let target = self.request_fetch(cause);
        loop {
            {
                let f = updates.borrow_and_update();
                if f.finished >= target {
                    return f.last_error.clone().map_or(Ok(()), Err);
                }
            }
            let _ = updates.changed().await;
        }
    }

    /// Asks for a fetch that starts after now; returns its number. Spawns the fetch task
    /// unless one is scheduled (which then runs once more for this request).
    fn request_fetch(self: &Arc<Self>, cause: FetchCause) -> u64 {
        let mut target = 0;
        let mut spawn = false;
        self.fetches.send_modify(|f| {
            target = f.started + 1;
            f.wanted = f.wanted.max(target);
            f.cause = cause;
            spawn = !std::mem::replace(&mut f.scheduled, true);
        });
        if spawn {
            let task = self.clone().fetch_while_wanted();
            if crate::telemetry::enabled() {
                // A child of the Check that asked (the current span), if any.
                let span =
                    tracing::info_span!("jwks_fetch", realm = &*self.realm, cause = cause.as_str());
                tokio::spawn(tracing::Instrument::instrument(task, span));
            } else {
                tokio::spawn(task);
            }
        }
        target
    }

    /// The one fetch task: fetches until every wanted fetch has been made, each starting no
    /// sooner than `refetch_cooldown` after the one before. Runs detached from any Check, so
    /// a Check that gives up at its deadline does not cancel the fetch others wait for.
    async fn fetch_while_wanted(self: Arc<Self>) {
        // Should a fetch panic (a bug), the guard ends it as a failed fetch and unschedules
        // the task, so waiters are answered and the next asker starts a new task.
        let guard = EndOnPanic(&self.fetches);
        loop {
            let not_before = self
                .fetches
                .borrow()
                .last_start
                .map(|t| t + self.settings.refetch_cooldown);
            if let Some(t) = not_before {
                tokio::time::sleep_until(t).await;
            }
            let mut cause = FetchCause::Startup;
            self.fetches.send_modify(|f| {
                f.started += 1;
                f.last_start = Some(Instant::now());
                cause = f.cause;
            });
            let result = self.fetch_once(cause).await;
            let mut again = false;
            self.fetches.send_modify(|f| {
                f.finished = f.started;
                f.last_error = result.err();
                again = f.wanted > f.started;
                f.scheduled = again;
            });
            if !again {
                std::mem::forget(guard);
                return;
            }
        }
    }

    async fn fetch_once(&self, cause: FetchCause) -> Result<(), JwksError> {
        // One fetch (discovery and JWKS together) takes at most `fetch_timeout`.
        let result = tokio::time::timeout(self.settings.fetch_timeout, self.load())
            .await
            .unwrap_or_else(|_| {
                Err(JwksError::Fetch {
                    url: self.source.issuer.to_string(),
                    reason: format!(
                        "discovery and JWKS took longer than {:?} (jwks.fetch_timeout)",
                        self.settings.fetch_timeout
                    ),
                })
            });
        match &result {
            Ok(keys) => {
                self.metrics.jwks_fetch(&self.realm, cause.as_str(), "ok");
                tracing::info!(realm = %self.realm, cause = cause.as_str(), keys = keys.len(), skipped = keys.skipped, "JWKS loaded");
            }
            Err(e) => {
                self.metrics
                    .jwks_fetch(&self.realm, cause.as_str(), "error");
                tracing::warn!(realm = %self.realm, cause = cause.as_str(), error = %e, "JWKS fetch failed; keeping last good keys");
            }
        }
        result.map(|keys| self.current.store(Some(Arc::new(keys))))
    }

    async fn load(&self) -> Result<KeySet, JwksError> {
        let fetcher = Fetcher::new(&self.client, self.settings.fetch_timeout);
        let cached = self.discovered_uri.lock().expect("not poisoned").clone();
        let uri = match cached {
            Some(uri) => uri,
            None => {
                let uri = fetcher.jwks_uri(&self.source).await?;
                *self.discovered_uri.lock().expect("not poisoned") = Some(uri.clone());
                uri
            }
        };
        let keys = fetcher.key_set(&uri, Instant::now()).await;
        if keys.is_err() {
            // The JWKS may have moved: discover it again next time.
            *self.discovered_uri.lock().expect("not poisoned") = None;
        }
        keys
    }

    /// Resolves once the first fetch ended (successfully or not).
    pub(crate) async fn first_fetch_ended(&self) {
        let mut fetches = self.fetches.subscribe();
        let _ = fetches.wait_for(|f| f.finished >= 1).await;
    }

    /// The background loop: the startup fetch, then a refresh every `refresh_interval`; after
    /// a failure, retries back off from `refetch_cooldown` (doubling, at most
    /// [`MAX_RETRY_INTERVAL`]). Ends when `shutdown` resolves.
    pub(crate) async fn run(self: Arc<Self>, shutdown: impl std::future::Future<Output = ()>) {
        tokio::pin!(shutdown);
        let mut cause = FetchCause::Startup;
        let mut failures = 0u32;
        loop {
            let result = tokio::select! {
                () = &mut shutdown => return,
                r = self.fetch_now(cause) => r,
            };
            let wait = match result {
                Ok(()) => {
                    failures = 0;
                    self.settings.refresh_interval
                }
                Err(_) => {
                    failures = failures.saturating_add(1);
                    retry_interval(self.settings.refetch_cooldown, failures)
                }
            };
            tokio::select! {
                () = &mut shutdown => return,
                () = tokio::time::sleep(wait) => {}
            }
            cause = FetchCause::Refresh;
        }
    }
}

/// Ends the running fetch as failed and unschedules the fetch task when dropped, i.e. when
/// the task unwinds from a panic (`fetch_while_wanted` forgets it on its normal return).
struct EndOnPanic<'a>(&'a watch::Sender<Fetches>);

impl Drop for EndOnPanic<'_> {
    fn drop(&mut self) {
        self.0.send_modify(|f| {
            f.finished = f.started;
            f.last_error = Some(JwksError::Fetch {
                url: String::new(),
                reason: "the fetch task panicked".into(),
            });
            f.scheduled = false;
        });
    }
}

/// A place among the [`MAX_KEY_WAITERS`] Checks that may wait for keys; freed on drop (also
/// when the Check's future is dropped at its deadline).
struct WaiterSlot<'a>(&'a AtomicUsize);

impl<'a> WaiterSlot<'a> {
    fn take(waiting: &'a AtomicUsize) -> Option<WaiterSlot<'a>> {
        waiting
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < MAX_KEY_WAITERS).then_some(n + 1)
            })
            .ok()
            .map(|_| WaiterSlot(waiting))
    }
}

impl Drop for WaiterSlot<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

/// The longest wait between two background retries while Keycloak cannot be reached.
pub(crate) const MAX_RETRY_INTERVAL: Duration = Duration::from_secs(30);

/// The wait before background retry number `failures` (1, 2, …): the cooldown, doubled per
/// failure, at most [`MAX_RETRY_INTERVAL`] (Checks that need keys sooner still ask for them).
fn retry_interval(cooldown: Duration, failures: u32) -> Duration {
    cooldown
        .saturating_mul(1 << failures.saturating_sub(1).min(16))
        .min(MAX_RETRY_INTERVAL.max(cooldown))
}

#[cfg(test)]
mod tests;
