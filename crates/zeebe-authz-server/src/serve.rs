//! Serving: the tonic ext_authz service, the admin HTTP server and the JWKS refreshers, started
//! on listeners the caller binds and stopped by a shutdown future the caller owns.

use std::future::Future;
use std::sync::Arc;

use anyhow::Context as _;
use tokio::net::TcpListener;

use crate::admin::{self, AdminState};
use crate::authorizer::Authorizer;
use crate::connections;
use crate::jwks::JwksCache;
use crate::metrics::Metrics;
use crate::realm::Realms;
use zeebe_authz_core::config::Config;
use zeebe_authz_core::keyset::KeySet;

/// What a caller adds to a plain `serve`: keys to install before the first fetch, routes for
/// the admin port, and where to reload the config from. Dev mode uses the first two,
/// production the last.
#[derive(Default)]
pub struct ServeExtras {
    /// A JWKS document installed into every realm's key cache at start.
    pub preloaded_jwks: Option<String>,
    /// Routes merged into the admin server's.
    pub admin_routes: axum::Router,
    /// Reload the config from its file (on change, on SIGHUP).
    pub reload: Option<crate::reload::ReloadOptions>,
}

impl ServeExtras {
    /// Plain `serve` reloading its config as `options` say.
    pub fn reloading(options: crate::reload::ReloadOptions) -> ServeExtras {
        ServeExtras {
            reload: Some(options),
            ..ServeExtras::default()
        }
    }
}

/// The two bound listeners.
pub struct Listeners {
    /// ext_authz gRPC.
    pub check: TcpListener,
    /// Admin HTTP.
    pub admin: TcpListener,
}

impl Listeners {
    /// Binds both addresses of the config.
    pub async fn bind(config: &Config) -> anyhow::Result<Listeners> {
        let check = TcpListener::bind(config.listen.check)
            .await
            .with_context(|| format!("binding Check address {}", config.listen.check))?;
        let admin = TcpListener::bind(config.listen.admin)
            .await
            .with_context(|| format!("binding admin address {}", config.listen.admin))?;
        Ok(Listeners { check, admin })
    }
}

/// Builds the authorizer of a config (no I/O yet: keys load when [`serve`] runs).
pub fn build(
    config: &Config,
    metrics: Arc<Metrics>,
) -> anyhow::Result<(Arc<Authorizer>, Vec<Arc<JwksCache>>)> {
    let (realms, caches) = crate::reload::realm_caches(config, &metrics, &[])?;
    let realms = Realms::new(realms, config.token.leeway.as_secs(), None);
    let authorizer = Authorizer::new(
        realms,
        &config.token,
        config.identity_headers.clone(),
        config.dynamic_metadata,
        metrics,
    );
    Ok((Arc::new(authorizer), caches))
}

/// Runs until `shutdown` resolves: loads keys (readiness turns on when every realm has keys),
/// serves Checks and the admin port, refreshes keys in the background, and reloads the config
/// when `extras.reload` says so.
pub async fn serve(
    config: Config,
    listeners: Listeners,
    extras: ServeExtras,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    // Before anything answers: SIGHUP's default action ends the process.
    let hangups = crate::reload::Hangups::listen();
    let metrics = Arc::new(Metrics::new());
    let (authorizer, caches) = build(&config, metrics.clone())?;
    if let Some(doc) = &extras.preloaded_jwks {
        for cache in &caches {
            cache.install(KeySet::from_jwks(
                doc.as_bytes(),
                tokio::time::Instant::now().into_std(),
            )?);
        }
    }

    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let stopped = move || {
        let mut rx = stop_rx.clone();
        async move {
            let _ = rx.wait_for(|s| *s).await;
        }
    };

    let mut tasks = tokio::task::JoinSet::new();
    let mut refreshers = crate::reload::KeyRefreshers::default();
    for cache in caches {
        refreshers.start(cache);
    }
    let reloader =
        crate::reload::Reloader::new(extras.reload, &config, authorizer.clone(), refreshers);
    tasks.spawn(reloader.run(hangups, stopped()));
    let state = AdminState {
        authorizer: authorizer.clone(),
    };
    let admin_listener = listeners.admin;
    let admin_stop = stopped();
    tasks.spawn(async move {
        if let Err(e) = admin::serve(admin_listener, state, extras.admin_routes, admin_stop).await {
            tracing::error!(error = %e, "Admin server failed");
        }
    });

    let check_stop = stopped();
    tokio::spawn(async move {
        shutdown.await;
        let _ = stop_tx.send(true);
    });

    // Our own accept loop (see `connections`): back-off when descriptors run out, a cap, and
    // header and idle timeouts; tonic's keepalive pings find dead peers. Each connection is
    // written through `coalesce::CoalescedWrites`, with TCP_NODELAY set.
    let settings = config.server;
    let soft_limit = connections::raise_fd_limit();
    let cap = connections::effective_cap(settings.max_connections, soft_limit);
    tracing::info!(
        max_connections = cap,
        descriptor_limit = soft_limit,
        header_timeout = ?settings.header_timeout,
        idle_timeout = ?settings.idle_timeout,
        "Check connections"
    );
    let incoming = connections::incoming(
        listeners.check,
        settings,
        cap,
        authorizer.metrics().check_connections().clone(),
    );
    let result = tonic::transport::Server::builder()
        .http2_keepalive_interval(Some(settings.keepalive_interval))
        .http2_keepalive_timeout(Some(settings.keepalive_timeout))
        .add_service(crate::envoy::service::authorization_server(authorizer))
        .serve_with_incoming_shutdown(incoming, check_stop)
        .await;
    while tasks.join_next().await.is_some() {}
    result.context("Check server failed")
}

/// Resolves on Ctrl-C or SIGTERM (what Kubernetes sends), and logs it.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
    tracing::info!("Shutting down");
}
