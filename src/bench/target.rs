//! The servers a bench run starts itself, on loopback, on a runtime of their own.
//!
//! - `Issuer`: the bench's signing key served by the shared [`LoopbackIssuer`] (discovery and
//!   JWKS at Keycloak's paths), counting every JWKS fetch so a run can tell how many the
//!   authorizer made.
//! - [`InProcess`]: zeebe-authz itself (`server::serve` with a one-realm config trusting the
//!   issuer) or the allow-all server, each on its own tokio runtime so the server's threads
//!   are not the load generator's, as with two processes.
//!
//! Everything binds `127.0.0.1:0`; readiness is the admin `/readyz` (ours) or the bound
//! listener (allow-all), never a sleep.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use tokio::net::TcpListener;
use tokio::runtime::Runtime;
use tokio::task::JoinHandle;

use crate::issuer::LoopbackIssuer;
use zeebe_authz_core::config::{Config, Listen};
use zeebe_authz_core::policy::Policy;
use zeebe_authz_core::signing::SigningKey;
use zeebe_authz_server::authorizer::Authorizer;
use zeebe_authz_server::jwks::FetchCause;
use zeebe_authz_server::metrics::Metrics;
use zeebe_authz_server::serve::Listeners;

/// The realm name of the bench issuer (`/realms/bench`, as Quarkus Keycloak names it).
pub(crate) const BENCH_REALM: &str = "bench";
/// How long a started server may take to become ready.
pub(crate) const STARTUP_TIMEOUT: Duration = Duration::from_secs(20);

/// The bench's Keycloak: its signing key, served as a JWKS on loopback by the
/// [`LoopbackIssuer`] dev mode and the tests use too.
pub(crate) struct Issuer {
    /// The key the JWKS holds.
    pub(crate) key: Arc<SigningKey>,
    /// The issuer URL (`http://127.0.0.1:<port>/realms/bench`).
    pub(crate) url: String,
    server: LoopbackIssuer,
}

impl Issuer {
    /// Binds 127.0.0.1:0 and serves discovery and the JWKS of `key` on the current runtime
    /// (until the runtime stops or the issuer is dropped).
    pub(crate) async fn start(key: SigningKey) -> anyhow::Result<Issuer> {
        let server = LoopbackIssuer::start(BENCH_REALM, &[&key])
            .await
            .context("starting the bench issuer")?;
        Ok(Issuer {
            key: Arc::new(key),
            url: server.issuer.clone(),
            server,
        })
    }

    /// How many times the JWKS has been fetched.
    pub(crate) fn jwks_fetches(&self) -> u64 {
        self.server.jwks_fetches()
    }
}

/// The one-realm config of the in-process authorizer: the bench issuer, any host, `policy`
/// (dev mode's config, named `bench`, on loopback ports).
pub fn bench_config(issuer: &str, policy: Arc<Policy>) -> Config {
    let loopback: SocketAddr = ([127, 0, 0, 1], 0).into();
    let listen = Listen {
        check: loopback,
        admin: loopback,
    };
    crate::dev::self_issued_config("bench", issuer, listen, policy)
}

/// Which server to run in-process.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum ServerKind {
    /// zeebe-authz.
    Ours,
    /// The allow-all floor.
    AllowAll,
}

/// What an in-process zeebe-authz needs beyond its defaults.
pub(crate) struct OursOptions {
    /// The issuer's signing key (RS256, as Keycloak's default).
    pub(crate) key: SigningKey,
    /// The compiled policy.
    pub(crate) policy: Arc<Policy>,
}

/// A server running on its own runtime; stopped by [`InProcess::shutdown`].
pub struct InProcess {
    runtime: Runtime,
    /// The ext_authz Check address.
    pub check_addr: SocketAddr,
    /// The issuer zeebe-authz trusts (none for allow-all).
    pub(crate) issuer: Option<Issuer>,
    stop: tokio::sync::watch::Sender<bool>,
    served: JoinHandle<anyhow::Result<()>>,
}

/// A multi-thread runtime whose threads log through `logs`.
pub(crate) fn runtime(
    threads: usize,
    name: &str,
    logs: &tracing::Dispatch,
) -> std::io::Result<Runtime> {
    let logs = logs.clone();
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads.max(1))
        .thread_name(name)
        .on_thread_start(move || super::use_bench_logs(&logs))
        .enable_all()
        .build()
}

impl InProcess {
    /// Starts zeebe-authz and its issuer; returns once `/readyz` says the keys are loaded.
    pub(crate) fn start_ours(
        threads: usize,
        logs: &tracing::Dispatch,
        options: OursOptions,
    ) -> anyhow::Result<InProcess> {
        let runtime = runtime(threads, "bench-server", logs)?;
        let (stop, stopped) = tokio::sync::watch::channel(false);
        let (issuer, check_addr, served) = runtime.block_on(async {
            let issuer = Issuer::start(options.key).await?;
            let config = bench_config(&issuer.url, options.policy);
            let listeners = Listeners {
                check: TcpListener::bind(config.listen.check).await?,
                admin: TcpListener::bind(config.listen.admin).await?,
            };
            let check_addr = listeners.check.local_addr()?;
            let admin_addr = listeners.admin.local_addr()?;
            let served = tokio::spawn(zeebe_authz_server::serve::serve(
                config,
                listeners,
                zeebe_authz_server::serve::ServeExtras::default(),
                until_stopped(stopped),
            ));
            wait_ready(admin_addr).await?;
            anyhow::Ok((issuer, check_addr, served))
        })?;
        Ok(InProcess {
            runtime,
            check_addr,
            issuer: Some(issuer),
            stop,
            served,
        })
    }

    /// Starts the allow-all server.
    pub fn start_allow_all(threads: usize, logs: &tracing::Dispatch) -> anyhow::Result<InProcess> {
        let runtime = runtime(threads, "bench-server", logs)?;
        let (stop, stopped) = tokio::sync::watch::channel(false);
        let (check_addr, served) = runtime.block_on(async {
            let listener = TcpListener::bind("127.0.0.1:0").await?;
            let addr = listener.local_addr()?;
            let served = tokio::spawn(super::allow_all::serve(
                listener,
                super::allow_all::AllowContent::default(),
                until_stopped(stopped),
            ));
            anyhow::Ok((addr, served))
        })?;
        Ok(InProcess {
            runtime,
            check_addr,
            issuer: None,
            stop,
            served,
        })
    }

    /// Stops the server and its runtime.
    pub fn shutdown(self) -> anyhow::Result<()> {
        let _ = self.stop.send(true);
        let result = self
            .runtime
            .block_on(async { tokio::time::timeout(Duration::from_secs(5), self.served).await });
        self.runtime.shutdown_timeout(Duration::from_secs(1));
        match result {
            Ok(Ok(served)) => served,
            Ok(Err(join)) => Err(anyhow::anyhow!("the in-process server panicked: {join}")),
            Err(_) => Err(anyhow::anyhow!(
                "the in-process server did not stop within 5 s"
            )),
        }
    }
}

async fn until_stopped(mut stopped: tokio::sync::watch::Receiver<bool>) {
    let _ = stopped.wait_for(|s| *s).await;
}

/// Polls `/readyz` until it answers 200 (the authorizer has its keys).
async fn wait_ready(admin: SocketAddr) -> anyhow::Result<()> {
    let client = reqwest::Client::new();
    let url = format!("http://{admin}/readyz");
    let deadline = tokio::time::Instant::now() + STARTUP_TIMEOUT;
    loop {
        if let Ok(resp) = client.get(&url).send().await
            && resp.status().is_success()
        {
            return Ok(());
        }
        if tokio::time::Instant::now() >= deadline {
            anyhow::bail!("the in-process authorizer was not ready within {STARTUP_TIMEOUT:?}");
        }
        // Only keeps the readiness poll from spinning.
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// An authorizer without gRPC (for `--direct` and `bench memory`): built by the server's own
/// `build`, keys loaded from the issuer once.
pub(crate) struct Direct {
    runtime: Runtime,
    /// The authorizer; call [`zeebe_authz_server::envoy::check`] directly.
    pub(crate) authorizer: Arc<Authorizer>,
    /// The issuer it trusts.
    pub(crate) issuer: Issuer,
}

impl Direct {
    /// Starts the issuer on a small runtime of its own and builds an authorizer with its keys.
    pub(crate) fn start(logs: &tracing::Dispatch, options: OursOptions) -> anyhow::Result<Direct> {
        let runtime = runtime(1, "bench-issuer", logs)?;
        let metrics = Arc::new(Metrics::new());
        let (issuer, authorizer) = runtime.block_on(async {
            let issuer = Issuer::start(options.key).await?;
            let config = bench_config(&issuer.url, options.policy);
            let (authorizer, caches) = zeebe_authz_server::serve::build(&config, metrics.clone())?;
            for cache in &caches {
                cache
                    .fetch_now(FetchCause::Startup)
                    .await
                    .context("loading the bench issuer's keys")?;
            }
            anyhow::Ok((issuer, authorizer))
        })?;
        Ok(Direct {
            runtime,
            authorizer,
            issuer,
        })
    }

    /// Stops the issuer.
    pub(crate) fn shutdown(self) {
        self.runtime.shutdown_timeout(Duration::from_secs(1));
    }
}
