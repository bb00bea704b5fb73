//! Hot reload: `serve --config FILE` puts a changed config (or policy, or CA bundle) in force
//! without a restart.
//!
//! - **When**: every `interval` the files the config was compiled from are read and hashed;
//!   a different hash that holds for one more interval reloads (a file being written is not
//!   compiled half-way). Reading by path and comparing contents sees every way a file
//!   changes: an editor's rewrite or rename, and Kubernetes' ConfigMap update (a new
//!   timestamped folder, then the `..data` symlink swapped to it), which a watch on the old
//!   file would miss. SIGHUP reloads at once.
//! - **All or nothing**: the new config is compiled completely first (the same `disk::load_config`
//!   as at startup). On any error the last good config stays in force and every error is
//!   logged with its `file:line:col`; the same broken contents are not retried until they
//!   change.
//! - **Atomic**: the new realms, token cache and header names form one `Generation`, swapped
//!   in whole; a Check finishes with the generation it started with. Cached principals of a
//!   realm whose rules or policy changed are never served again (see `realm::Realm::cache_id`).
//! - **Keys**: a key source the old config did not have gets its refresher, and its first
//!   fetch is awaited (within `fetch_timeout`) before the swap, so a reload does not turn
//!   `/readyz` off; refreshers no realm uses any more are stopped after it.
//! - Listen addresses are bound once: a change is logged and needs a restart.

use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::Context as _;
use sha2::{Digest as _, Sha256};

use crate::authorizer::Authorizer;
use crate::jwks::{JwksCache, JwksSource, http_client, system_store_present};
use crate::metrics::Metrics;
use crate::realm::Realms;
use zeebe_authz_core::config::{Config, ConnectionSettings, Listen, RealmConfig};
use zeebe_authz_core::diag::InvalidConfig;

/// Where and how often to look for a changed config.
#[derive(Debug, Clone)]
pub struct ReloadOptions {
    /// The config file `serve` was started with.
    pub path: PathBuf,
    /// How often its files are compared with what is in force; `None`: on SIGHUP only.
    pub interval: Option<Duration>,
}

/// SIGHUP, listened for from the start (its default action would end the process).
pub(crate) struct Hangups {
    #[cfg(unix)]
    signal: Option<tokio::signal::unix::Signal>,
}

impl Hangups {
    /// Starts listening (must run inside the runtime).
    pub(crate) fn listen() -> Hangups {
        #[cfg(unix)]
        {
            let signal = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())
                .map_err(|e| tracing::warn!(error = %e, "Cannot listen for SIGHUP; reload on file change only"))
                .ok();
            Hangups { signal }
        }
        #[cfg(not(unix))]
        Hangups {}
    }

    async fn next(&mut self) {
        #[cfg(unix)]
        if let Some(s) = &mut self.signal
            && s.recv().await.is_some()
        {
            return;
        }
        std::future::pending::<()>().await;
    }
}

/// Owns the key refreshers, and replaces the generation in force when the config changes.
pub(crate) struct Reloader {
    options: Option<ReloadOptions>,
    authorizer: Arc<Authorizer>,
    refreshers: KeyRefreshers,
    listen: Listen,
    /// The `server:` section `serve` started with: the accept loop reads it once.
    server: ConnectionSettings,
    /// Each watched file with the hash of its contents when last compiled (successfully or
    /// not); `None`: it could not be read.
    seen: Seen,
}

impl Reloader {
    /// The reloader of the config `serve` started with (generation 1).
    pub(crate) fn new(
        options: Option<ReloadOptions>,
        config: &Config,
        authorizer: Arc<Authorizer>,
        refreshers: KeyRefreshers,
    ) -> Reloader {
        let seen = read_hashes(&config.sources);
        authorizer.metrics().config_in_force(1, &combined(&seen));
        Reloader {
            options,
            authorizer,
            refreshers,
            listen: config.listen,
            server: config.server,
            seen,
        }
    }

    /// Reloads on SIGHUP and on change until `shutdown`, then stops the key refreshers.
    pub(crate) async fn run(mut self, mut hangups: Hangups, shutdown: impl Future<Output = ()>) {
        tokio::pin!(shutdown);
        let mut tick = self.options.as_ref().and_then(|o| o.interval).map(|every| {
            let mut t = tokio::time::interval(every);
            t.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            t
        });
        let mut pending = None;
        loop {
            tokio::select! {
                () = &mut shutdown => break,
                () = hangups.next() => self.reload("SIGHUP").await,
                _ = async { tick.as_mut()?.tick().await; Some(()) }, if tick.is_some() => {
                    // A change is compiled once it held for a whole interval: a file being
                    // written is not compiled half-way.
                    match self.changed().await {
                        None => pending = None,
                        Some(now) if pending.as_ref() == Some(&now) => {
                            pending = None;
                            self.reload("file change").await;
                        }
                        now => pending = now,
                    }
                }
            }
        }
        self.refreshers.stop_all().await;
    }

    /// The watched files' hashes when they differ from those last compiled.
    async fn changed(&self) -> Option<Seen> {
        let watched = paths(&self.seen);
        let now = tokio::task::spawn_blocking(move || read_hashes(&watched)).await;
        now.ok().filter(|now| *now != self.seen)
    }

    async fn reload(&mut self, cause: &'static str) {
        let Some(options) = &self.options else {
            tracing::info!(cause, "Nothing to reload: no config file (dev mode)");
            return;
        };
        let path = options.path.clone();
        let watched = paths(&self.seen);
        // Files already watched are hashed before compiling: one that changes meanwhile
        // differs from its hash at the next look, and is compiled again. A file the config
        // names for the first time is hashed when it is first known, just after.
        let loaded = tokio::task::spawn_blocking(move || {
            let before = read_hashes(&watched);
            let (loaded, sources) = crate::disk::load_config_tracked(&path);
            let loaded = loaded.and_then(|c| {
                zeebe_authz_core::config::check_trust(&c, &path, system_store_present()).map(|()| c)
            });
            let seen: Seen = sources
                .iter()
                .map(|p| match before.iter().find(|(b, _)| b == p) {
                    Some(known) => known.clone(),
                    None => (p.clone(), read_hash(p)),
                })
                .collect();
            (seen, loaded)
        })
        .await;
        let now = unix_seconds();
        let metrics = self.authorizer.metrics().clone();
        let (seen, loaded) = match loaded {
            Ok(done) => done,
            Err(e) => {
                metrics.config_reload(false, now);
                tracing::error!(cause, error = %e, "Config reload failed; the last good config stays in force");
                return;
            }
        };
        // Watch every file the config names, also one that does not exist yet.
        let sha256 = combined(&seen);
        self.seen = seen;
        match loaded {
            Ok(config) => match self.put_in_force(&config, &sha256).await {
                Ok(generation) => {
                    config.log_warnings();
                    metrics.config_reload(true, now);
                    tracing::info!(
                        cause,
                        generation,
                        sha256 = %sha256,
                        realms = %realm_list(&config),
                        "Config reloaded"
                    );
                }
                Err(e) => {
                    metrics.config_reload(false, now);
                    tracing::error!(cause, error = %format!("{e:#}"), "Config reload failed; the last good config stays in force");
                }
            },
            Err(InvalidConfig(diagnostics)) => {
                metrics.config_reload(false, now);
                tracing::error!(
                    cause,
                    errors = diagnostics.len(),
                    "Config reload failed; the last good config stays in force"
                );
                for d in &diagnostics {
                    tracing::error!("{d}");
                }
            }
        }
    }

    /// Builds the next generation from `config` and swaps it in; its number.
    async fn put_in_force(&mut self, config: &Config, sha256: &str) -> anyhow::Result<u64> {
        if config.listen != self.listen {
            tracing::warn!(
                check = %config.listen.check,
                admin = %config.listen.admin,
                "Listen addresses changed; they take effect at the next restart"
            );
        }
        if config.server != self.server {
            tracing::warn!(
                in_force = ?self.server,
                configured = ?config.server,
                "Connection settings (server:) changed; they take effect at the next restart"
            );
        }
        let metrics = self.authorizer.metrics().clone();
        let (realms, made) = realm_caches(config, &metrics, &self.refreshers.caches())?;
        for cache in &made {
            self.refreshers.start(cache.clone());
        }
        // New key sources get their first fetch before they serve, so readiness holds.
        let deadline = tokio::time::Instant::now() + config.jwks.fetch_timeout;
        for cache in &made {
            let _ = tokio::time::timeout_at(deadline, cache.first_fetch_ended()).await;
        }
        let used: Vec<_> = realms.iter().map(|(_, c)| c.clone()).collect();
        let current = self.authorizer.current();
        let realms = Realms::new(realms, config.token.leeway.as_secs(), Some(&current.realms));
        let generation = self.authorizer.next_generation(
            realms,
            &config.token,
            config.identity_headers.clone(),
            config.dynamic_metadata,
        );
        let number = generation.number;
        self.authorizer.install(generation);
        drop(current);
        self.refreshers.retain(&used).await;
        metrics.config_in_force(number, sha256);
        Ok(number)
    }
}

/// Every realm of a config with its key cache.
pub(crate) type RealmsWithKeys = Vec<(RealmConfig, Arc<JwksCache>)>;

/// Pairs every realm of `config` with its key cache: one cache (and so one fetch schedule) per
/// key source, so realms that trust the same Keycloak realm share it and Keycloak sees one
/// schedule's fetches, not one per realm. A cache of `running` with the same source, settings
/// and CA bundle is reused (a reload keeps its keys); the caches made anew are returned too.
pub(crate) fn realm_caches(
    config: &Config,
    metrics: &Arc<Metrics>,
    running: &[Arc<JwksCache>],
) -> anyhow::Result<(RealmsWithKeys, Vec<Arc<JwksCache>>)> {
    let mut client = None;
    let mut made: Vec<Arc<JwksCache>> = Vec::new();
    let mut realms = Vec::with_capacity(config.realms.len());
    for r in &config.realms {
        let source = JwksSource {
            issuer: r.issuer.clone(),
            jwks_uri: r.jwks_uri.clone(),
        };
        let fits = |c: &&Arc<JwksCache>| {
            c.source() == &source
                && c.settings() == &config.jwks
                && c.ca_bundle() == config.ca_bundle.as_deref()
        };
        let cache = match running.iter().chain(&made).find(fits) {
            Some(c) => c.clone(),
            None => {
                let client = match &client {
                    Some(c) => c,
                    None => client.insert(
                        http_client(config.ca_bundle.as_deref())
                            .context("building the JWKS HTTP client")?,
                    ),
                };
                let cache = Arc::new(JwksCache::new(
                    r.name.clone(),
                    source,
                    config.jwks.clone(),
                    config.ca_bundle.clone(),
                    client.clone(),
                    metrics.clone(),
                ));
                made.push(cache.clone());
                cache
            }
        };
        realms.push((r.clone(), cache));
    }
    Ok((realms, made))
}

/// The running key refreshers, one per key cache; a reload starts the new caches' and stops
/// those no realm uses any more.
#[derive(Default)]
pub(crate) struct KeyRefreshers {
    running: Vec<(Arc<JwksCache>, Refresher)>,
}

struct Refresher {
    stop: tokio::sync::oneshot::Sender<()>,
    task: tokio::task::JoinHandle<()>,
}

impl KeyRefreshers {
    /// The caches whose refreshers run.
    pub(crate) fn caches(&self) -> Vec<Arc<JwksCache>> {
        self.running.iter().map(|(c, _)| c.clone()).collect()
    }

    /// Starts `cache`'s refresher (its startup fetch first).
    pub(crate) fn start(&mut self, cache: Arc<JwksCache>) {
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(cache.clone().run(async {
            let _ = stopped.await;
        }));
        self.running.push((cache, Refresher { stop, task }));
    }

    /// Stops the refreshers of caches not in `used`.
    pub(crate) async fn retain(&mut self, used: &[Arc<JwksCache>]) {
        let (keep, stop): (Vec<_>, Vec<_>) = std::mem::take(&mut self.running)
            .into_iter()
            .partition(|(c, _)| used.iter().any(|u| Arc::ptr_eq(u, c)));
        self.running = keep;
        for (_, r) in stop {
            r.end().await;
        }
    }

    /// Stops every refresher.
    pub(crate) async fn stop_all(&mut self) {
        self.retain(&[]).await;
    }
}

impl Refresher {
    async fn end(self) {
        let _ = self.stop.send(());
        let _ = self.task.await;
    }
}

/// `name (mode), …` of a config's realms.
fn realm_list(config: &Config) -> String {
    config
        .realms
        .iter()
        .map(|r| format!("{} ({})", r.name, r.mode.as_str()))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Watched files and the SHA-256 of their contents (`None`: unreadable or missing).
type Seen = Vec<(PathBuf, Option<[u8; 32]>)>;

fn paths(seen: &Seen) -> Vec<PathBuf> {
    seen.iter().map(|(p, _)| p.clone()).collect()
}

fn read_hashes(files: &[PathBuf]) -> Seen {
    files.iter().map(|f| (f.clone(), read_hash(f))).collect()
}

fn read_hash(file: &Path) -> Option<[u8; 32]> {
    crate::disk::read_file(file)
        .ok()
        .map(|bytes| Sha256::digest(&bytes).into())
}

/// One SHA-256 (hex) over the files' paths and content hashes: the config in force.
fn combined(seen: &Seen) -> String {
    let mut h = Sha256::new();
    for (path, hash) in seen {
        h.update(path.as_os_str().as_encoded_bytes());
        h.update([0]);
        match hash {
            Some(hash) => h.update(hash),
            None => h.update([0xff]),
        }
    }
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

fn unix_seconds() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}
