//! Serving: the tonic ext_authz service, the admin HTTP server and the JWKS refreshers, started
//! on listeners the caller binds and stopped by a shutdown future the caller owns.

use std::future::Future;
use std::sync::Arc;

use anyhow::Context as _;
use tokio::net::TcpListener;

pub(crate) mod connections;

use crate::admin::{self, AdminState};
use crate::authorizer::Authorizer;
use crate::config::Config;
use crate::jwks::{JwksCache, KeySet};
use crate::metrics::Metrics;
use crate::realm::Realms;

/// What a caller adds to a plain `serve`: keys to install before the first fetch, routes for
/// the admin port, and where to reload the config from. Dev mode uses the first two,
/// production the last.
#[derive(Default)]
pub struct Extras {
    /// A JWKS document installed into every realm's key cache at start.
    pub(crate) preloaded_jwks: Option<String>,
    /// Routes merged into the admin server's.
    pub(crate) admin_routes: axum::Router,
    /// Reload the config from its file (on change, on SIGHUP).
    pub reload: Option<crate::reload::ReloadOptions>,
}

impl Extras {
    /// Plain `serve` reloading its config as `options` say.
    pub fn reloading(options: crate::reload::ReloadOptions) -> Extras {
        Extras {
            reload: Some(options),
            ..Extras::default()
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
    extras: Extras,
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
                tokio::time::Instant::now(),
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
    // header and idle timeouts; tonic's keepalive pings find dead peers.
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

/// A Check connection that tells h2 it has no vectored writes, so that h2 copies a response
/// of up to 1 KiB into its write buffer. With vectored writes h2 copies only DATA payloads
/// under 256 bytes and sends a larger one as a separate chunk that must be written before
/// any other frame is buffered: a ~280-byte `CheckResponse` (three identity headers and the
/// metadata) then cost two `writev`s per Check instead of one for several (1.92 against the
/// allow-all server's 0.94 per Check, ~6 µs more system time per Check). Copying 300 bytes
/// costs next to nothing. The two thresholds are h2's internals, read from h2 0.4.20 (the
/// version in Cargo.lock; `CHAIN_THRESHOLD` and `CHAIN_THRESHOLD_WITHOUT_VECTORED_IO` in
/// `src/codec/framed_write.rs`): re-read them when h2 is upgraded.
///
/// It also coalesces h2's writes across the Checks that are ready at the same time. h2
/// flushes whenever its connection task runs, and tokio runs a task woken by another one next
/// (its LIFO slot): each Check that completes wakes the connection task, which then writes
/// that one answer alone, one `sendto` per Check however many are queued behind it. So the
/// first flush of a batch only yields (the task wakes itself, which puts it at the back of
/// the run queue), and the write happens on the next flush, after the Checks already
/// runnable have answered. The price is one trip through the run queue per flush: for a lone
/// request a few hundred nanoseconds, under load the time of the Checks queued ahead. On a
/// multi-thread runtime an idle worker may steal the woken task at once, which costs a
/// thread wake-up and coalesces less, never correctness. At most [`COALESCED_BYTES`] (plus
/// one write of h2's) are held before they are sent; a burst's buffer is not kept.
pub(crate) struct CopiedWrites {
    io: tokio::net::TcpStream,
    /// What h2 wrote and the socket has not taken yet, from `sent` on.
    pending: Vec<u8>,
    sent: usize,
    /// The current flush has yielded once already.
    yielded: bool,
}

/// Held writes are sent once they reach this many bytes, flush or not.
const COALESCED_BYTES: usize = 64 * 1024;

impl CopiedWrites {
    pub(crate) fn new(io: tokio::net::TcpStream) -> CopiedWrites {
        CopiedWrites {
            io,
            pending: Vec::new(),
            sent: 0,
            yielded: false,
        }
    }

    /// Writes out everything held.
    fn poll_send(
        &mut self,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        while self.sent < self.pending.len() {
            let n = std::task::ready!(tokio::io::AsyncWrite::poll_write(
                std::pin::Pin::new(&mut self.io),
                cx,
                &self.pending[self.sent..],
            ))?;
            if n == 0 {
                return std::task::Poll::Ready(Err(std::io::ErrorKind::WriteZero.into()));
            }
            self.sent += n;
        }
        if self.pending.capacity() > KEPT_CAPACITY {
            // A burst's buffer is given back, so an idle connection holds little.
            self.pending = Vec::new();
        } else {
            self.pending.clear();
        }
        self.sent = 0;
        std::task::Poll::Ready(Ok(()))
    }
}

/// The write buffer a connection keeps between batches (a batch of ordinary answers fits).
const KEPT_CAPACITY: usize = 16 * 1024;

impl tokio::io::AsyncRead for CopiedWrites {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.io).poll_read(cx, buf)
    }
}

impl tokio::io::AsyncWrite for CopiedWrites {
    fn poll_write(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        let this = self.get_mut();
        if this.pending.len() >= COALESCED_BYTES {
            std::task::ready!(this.poll_send(cx))?;
        }
        this.pending.extend_from_slice(buf);
        std::task::Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        let this = self.get_mut();
        if this.sent < this.pending.len() && !this.yielded {
            this.yielded = true;
            cx.waker().wake_by_ref();
            return std::task::Poll::Pending;
        }
        std::task::ready!(this.poll_send(cx))?;
        this.yielded = false;
        std::pin::Pin::new(&mut this.io).poll_flush(cx)
    }

    fn poll_shutdown(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        let this = self.get_mut();
        std::task::ready!(this.poll_send(cx))?;
        std::pin::Pin::new(&mut this.io).poll_shutdown(cx)
    }
    // `is_write_vectored` stays false (the default): that is the point.
}

impl tonic::transport::server::Connected for CopiedWrites {
    type ConnectInfo = tonic::transport::server::TcpConnectInfo;

    fn connect_info(&self) -> Self::ConnectInfo {
        self.io.connect_info()
    }
}

/// Resolves on Ctrl-C or SIGTERM (what Kubernetes sends), and logs it.
pub(crate) async fn shutdown_signal() {
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

#[cfg(test)]
mod tests {
    use std::future::poll_fn;
    use std::pin::Pin;
    use std::task::Poll;

    use tokio::io::{AsyncReadExt as _, AsyncWrite, AsyncWriteExt as _};

    use super::*;

    async fn pair() -> (CopiedWrites, tokio::net::TcpStream) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let client = tokio::net::TcpStream::connect(listener.local_addr().unwrap());
        let (client, accepted) = tokio::join!(client, listener.accept());
        (CopiedWrites::new(accepted.unwrap().0), client.unwrap())
    }

    #[tokio::test]
    async fn held_writes_go_out_in_one_piece_on_the_flush_after_one_yield() {
        let (mut conn, mut peer) = pair().await;
        for part in [&b"one "[..], b"two ", b"three"] {
            conn.write_all(part).await.unwrap();
        }
        assert_eq!(
            conn.pending, b"one two three",
            "nothing is sent before a flush"
        );
        // The first poll of a flush yields (and wakes itself); the next one sends.
        let mut polls = 0;
        poll_fn(|cx| {
            polls += 1;
            Pin::new(&mut conn).poll_flush(cx)
        })
        .await
        .unwrap();
        assert_eq!(polls, 2);
        assert!(conn.pending.is_empty() && !conn.yielded);
        let mut got = [0u8; 13];
        peer.read_exact(&mut got).await.unwrap();
        assert_eq!(&got, b"one two three");
        // A flush with nothing held returns at once.
        let ready = poll_fn(|cx| Poll::Ready(Pin::new(&mut conn).poll_flush(cx))).await;
        assert!(matches!(ready, Poll::Ready(Ok(()))));
    }

    #[tokio::test]
    async fn more_than_the_bound_is_sent_without_a_flush_and_shutdown_sends_the_rest() {
        let (mut conn, mut peer) = pair().await;
        // The peer reads from the start, so no socket buffer size matters.
        let reader = tokio::spawn(async move {
            let mut all = Vec::new();
            peer.read_to_end(&mut all).await.unwrap();
            all
        });
        let big = vec![7u8; COALESCED_BYTES + 10];
        conn.write_all(&big).await.unwrap();
        // The next write finds the bound reached and sends what is held first; the burst's
        // buffer is not kept.
        conn.write_all(b"tail").await.unwrap();
        assert_eq!(conn.pending, b"tail");
        assert!(conn.pending.capacity() <= KEPT_CAPACITY);
        conn.shutdown().await.unwrap();
        drop(conn);
        let all = reader.await.unwrap();
        assert_eq!(all.len(), big.len() + 4);
        assert!(all.ends_with(b"tail") && all[..big.len()] == big[..]);
        // Nothing vectored: h2 copies small frames into its own buffer (see the type's doc).
        let (conn, _peer) = pair().await;
        assert!(!conn.is_write_vectored());
    }
}
