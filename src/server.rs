//! Serving: the tonic ext_authz service, the admin HTTP server and the JWKS refreshers, started
//! on listeners the caller binds and stopped by a shutdown future the caller owns.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use envoy_types::ext_authz::v3::pb::{
    Authorization, AuthorizationServer, CheckRequest, CheckResponse,
};
use tokio::net::TcpListener;
use tokio::time::Instant;
use tonic::transport::server::TcpIncoming;
use tonic::{Request, Response, Status};

use crate::admin::{self, AdminState};
use crate::authorizer::Authorizer;
use crate::config::Config;
use crate::issuer::SigningKey;
use crate::jwks::{JwksCache, JwksSource, KeySet, http_client};
use crate::metrics::Metrics;
use crate::realm::Realms;

/// The tonic adapter: one Check in, one CheckResponse out.
struct CheckService {
    authorizer: Arc<Authorizer>,
}

#[tonic::async_trait]
impl Authorization for CheckService {
    async fn check(
        &self,
        request: Request<CheckRequest>,
    ) -> Result<Response<CheckResponse>, Status> {
        let deadline = answer_deadline(request.metadata());
        Ok(Response::new(
            self.authorizer.check(request.get_ref(), deadline).await,
        ))
    }
}

/// When a Check must answer at the latest: Envoy sends its ext_authz timeout as the call's
/// `grpc-timeout`, and an answer that arrives after it is lost (Envoy answers the client
/// itself, with its generic error). We answer [`answer_margin`] before it, so the client
/// sees our reason; work the Check waited on (a key fetch) goes on in the background.
fn answer_deadline(metadata: &tonic::metadata::MetadataMap) -> Option<Instant> {
    let timeout = parse_grpc_timeout(metadata.get("grpc-timeout")?.to_str().ok()?)?;
    Some(Instant::now() + timeout.saturating_sub(answer_margin(timeout)))
}

/// How long before the caller's deadline we answer: a tenth of the timeout, at most 100 ms.
/// Envoy's clock starts before ours (a cold connection to the authorizer, queueing on a busy
/// node) and the answer must still cross the pod network; a tenth leaves room for both.
fn answer_margin(timeout: Duration) -> Duration {
    (timeout / 10).min(Duration::from_millis(100))
}

/// `grpc-timeout` (gRPC over HTTP/2): at most 8 digits and a unit, `H M S m u n`.
fn parse_grpc_timeout(value: &str) -> Option<Duration> {
    let (digits, unit) = value.split_at_checked(value.len().checked_sub(1)?)?;
    if digits.is_empty() || digits.len() > 8 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let n: u64 = digits.parse().ok()?;
    Some(match unit {
        "H" => Duration::from_secs(n * 3600),
        "M" => Duration::from_secs(n * 60),
        "S" => Duration::from_secs(n),
        "m" => Duration::from_millis(n),
        "u" => Duration::from_micros(n),
        "n" => Duration::from_nanos(n),
        _ => return None,
    })
}

/// The dev issuer that `serve --dev` plays: its key and realm path.
pub struct DevIssuer {
    /// The signing key whose JWKS the admin port serves.
    pub key: SigningKey,
    /// The realm's issuer URL.
    pub issuer: String,
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
    let client =
        http_client(config.ca_bundle.as_deref()).context("building the JWKS HTTP client")?;
    let mut caches = Vec::new();
    let realms = config
        .realms
        .iter()
        .map(|r| {
            let source = JwksSource {
                issuer: r.issuer.clone(),
                jwks_uri: r.jwks_uri.clone(),
            };
            let cache = Arc::new(JwksCache::new(
                r.name.clone(),
                source,
                config.jwks.clone(),
                client.clone(),
                metrics.clone(),
            ));
            caches.push(cache.clone());
            (r.clone(), cache)
        })
        .collect();
    let realms = Realms::new(realms, config.token.leeway.as_secs());
    let authorizer = Authorizer::new(
        realms,
        &config.token,
        config.identity_headers.clone(),
        metrics,
    );
    Ok((Arc::new(authorizer), caches))
}

/// Runs until `shutdown` resolves: loads keys (readiness turns on when every realm has keys),
/// serves Checks and the admin port, refreshes keys in the background.
pub async fn serve(
    config: Config,
    listeners: Listeners,
    dev: Option<DevIssuer>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let metrics = Arc::new(Metrics::new());
    let (authorizer, caches) = build(&config, metrics)?;
    if let Some(dev) = &dev {
        let doc = crate::issuer::jwks(&[&dev.key]).to_string();
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
    for cache in caches {
        tasks.spawn(cache.run(stopped()));
    }
    let state = AdminState {
        authorizer: authorizer.clone(),
        dev: dev.map(Arc::new),
    };
    let admin_listener = listeners.admin;
    let admin_stop = stopped();
    tasks.spawn(async move {
        if let Err(e) = admin::serve(admin_listener, state, admin_stop).await {
            tracing::error!(error = %e, "Admin server failed");
        }
    });

    let check_stop = stopped();
    tokio::spawn(async move {
        shutdown.await;
        let _ = stop_tx.send(true);
    });

    // tonic's `tcp_nodelay` only applies to listeners it binds itself: set it on the incoming
    // stream, or Nagle delays small Check responses by up to 40 ms.
    let incoming = TcpIncoming::from(listeners.check).with_nodelay(Some(true));
    let result = tonic::transport::Server::builder()
        .add_service(AuthorizationServer::new(CheckService { authorizer }))
        .serve_with_incoming_shutdown(incoming, check_stop)
        .await;
    while tasks.join_next().await.is_some() {}
    result.context("Check server failed")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grpc_timeout_is_parsed_as_the_spec_says() {
        let ms = Duration::from_millis;
        assert_eq!(parse_grpc_timeout("200m"), Some(ms(200)));
        assert_eq!(parse_grpc_timeout("2S"), Some(ms(2000)));
        assert_eq!(parse_grpc_timeout("1M"), Some(ms(60_000)));
        assert_eq!(parse_grpc_timeout("1H"), Some(ms(3_600_000)));
        assert_eq!(
            parse_grpc_timeout("1500u"),
            Some(Duration::from_micros(1500))
        );
        assert_eq!(
            parse_grpc_timeout("99999999n"),
            Some(Duration::from_nanos(99_999_999))
        );
        for bad in [
            "",
            "m",
            "200",
            "123456789m",
            "-1m",
            "1.5S",
            "1s",
            "1 m",
            "\u{e9}",
        ] {
            assert_eq!(parse_grpc_timeout(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn the_answer_margin_is_a_tenth_up_to_100ms() {
        let ms = Duration::from_millis;
        assert_eq!(answer_margin(ms(200)), ms(20));
        assert_eq!(answer_margin(ms(2000)), ms(100));
        assert_eq!(answer_margin(ms(5000)), ms(100));
        assert_eq!(answer_margin(ms(0)), ms(0));
    }
}
