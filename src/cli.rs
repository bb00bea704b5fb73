//! The command line: parses arguments, sets up logging, runs one subcommand.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context as _;
use clap::{Parser, Subcommand, ValueEnum};

use zeebe_authz_core::config::{self, EXIT_CONFIG};
use zeebe_authz_server::reload::ReloadOptions;
use zeebe_authz_server::serve::{Listeners, ServeExtras, shutdown_signal};

/// Authorizes Camunda 8 Zeebe gateway calls for Envoy (ext_authz) from Keycloak tokens.
#[derive(Debug, Parser)]
#[command(name = "zeebe-authz", version, about)]
pub struct Cli {
    /// Log format.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text, env = "ZEEBE_AUTHZ_LOG_FORMAT")]
    pub(crate) log_format: LogFormat,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Log output format.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub(crate) enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the ext_authz Check server and the admin HTTP server.
    Serve(ServeArgs),
    /// Measure the authorizer: load (Checks or Zeebe calls), allow-all floor, crypto limit,
    /// cache memory.
    Bench(crate::bench::BenchArgs),
    /// Check configs and policies: every error `serve` would stop on, plus likely mistakes.
    Lint(crate::lint::LintArgs),
    /// Generate the Istio manifests (sidecar and ambient) and the authorizer's deployment.
    Istio(crate::istio::IstioArgs),
    /// Decide one call as `serve` would and say why: realm, token checks, permissions, every
    /// grant of the rpc and each condition. Exit 0 allowed, 1 denied, 2 usage error.
    Explain(crate::explain::ExplainArgs),
}

/// `serve` options.
#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    /// The configuration file.
    #[arg(
        long,
        env = "ZEEBE_AUTHZ_CONFIG",
        required_unless_present = "dev",
        conflicts_with = "dev"
    )]
    pub(crate) config: Option<PathBuf>,
    /// How often the config and the files it names are compared with what is in force; a
    /// change is reloaded without a restart (as is SIGHUP). `0s`: on SIGHUP only.
    #[arg(
        long,
        env = "ZEEBE_AUTHZ_RELOAD_INTERVAL",
        default_value = "2s",
        value_parser = config::duration_arg,
        conflicts_with = "dev"
    )]
    pub(crate) reload_interval: Duration,
    /// Run self-contained: an ephemeral signing key, its own issuer on the admin port, the
    /// default policy; prints ready-to-use tokens.
    #[arg(long)]
    pub(crate) dev: bool,
    /// Check address in dev mode.
    #[arg(long, default_value = "127.0.0.1:9000", requires = "dev")]
    pub(crate) dev_check_addr: std::net::SocketAddr,
    /// Admin address in dev mode.
    #[arg(long, default_value = "127.0.0.1:9001", requires = "dev")]
    pub(crate) dev_admin_addr: std::net::SocketAddr,
    /// In dev mode, sign with this RSA private key (PKCS #8 PEM, e.g. from
    /// `openssl genpkey -algorithm RSA`) instead of an ephemeral one, so that
    /// `zeebe-authz bench load --key` can mint tokens this server accepts.
    #[arg(long, requires = "dev")]
    pub(crate) dev_key: Option<PathBuf>,
    /// In dev mode, the lifetime of tokens from the realm's token endpoint (Keycloak's
    /// default is 5 minutes; a short one lets a client's token refresh be tried).
    #[arg(long, default_value = crate::dev::DEFAULT_TOKEN_TTL, value_parser = config::positive_duration_arg, requires = "dev")]
    pub(crate) dev_token_ttl: Duration,
    /// In dev mode, which identity headers an allow sets (`identity_headers.send`: all,
    /// subject or none; the others are removed from the request all the same). Default: the
    /// config's default.
    #[arg(long, value_parser = identity_set_arg, requires = "dev")]
    pub(crate) dev_identity_headers: Option<zeebe_authz_core::decision::IdentitySet>,
    /// In dev mode, which answers carry the dynamic metadata (`dynamic_metadata.send`: all,
    /// denies or none). Default: the config's default.
    #[arg(long, value_parser = metadata_set_arg, requires = "dev")]
    pub(crate) dev_dynamic_metadata: Option<zeebe_authz_core::decision::MetadataSet>,
    /// In dev mode, write an Envoy bootstrap to this file: a listener (`--envoy-listen`)
    /// whose ext_authz filter asks this server, in front of `--gateway`.
    #[arg(long, requires_all = ["dev", "gateway"])]
    pub(crate) envoy_config: Option<PathBuf>,
    /// The Zeebe gateway behind the Envoy of `--envoy-config` (HOST:PORT).
    #[arg(long, value_parser = crate::dev::gateway_arg, requires = "envoy_config")]
    pub(crate) gateway: Option<crate::dev::GatewayAddr>,
    /// The listener of the Envoy of `--envoy-config`: what clients use as ZEEBE_ADDRESS.
    #[arg(long, default_value = crate::dev::DEFAULT_ENVOY_LISTEN, requires = "envoy_config")]
    pub(crate) envoy_listen: std::net::SocketAddr,
    /// The gateway's REST port (the Orchestration Cluster REST API, `/v2`, Camunda 8.8+) behind
    /// the Envoy of `--envoy-config` (HOST:PORT). Default: `--gateway`'s host on 8080.
    #[arg(long, value_parser = crate::dev::gateway_arg, requires = "envoy_config")]
    pub(crate) rest_gateway: Option<crate::dev::GatewayAddr>,
    /// The REST listener of the Envoy of `--envoy-config`: what REST clients use as
    /// CAMUNDA_REST_ADDRESS.
    #[arg(long, default_value = crate::dev::DEFAULT_ENVOY_REST_LISTEN, requires = "envoy_config")]
    pub(crate) envoy_rest_listen: std::net::SocketAddr,
}

fn identity_set_arg(s: &str) -> Result<zeebe_authz_core::decision::IdentitySet, String> {
    zeebe_authz_core::decision::IdentitySet::parse(s)
        .ok_or_else(|| format!("'{s}' is not all, subject or none"))
}

fn metadata_set_arg(s: &str) -> Result<zeebe_authz_core::decision::MetadataSet, String> {
    zeebe_authz_core::decision::MetadataSet::parse(s)
        .ok_or_else(|| format!("'{s}' is not all, denies or none"))
}

/// Runs the command line; the process exit code.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    // `explain` prints its own report; the decision's deny log line would only repeat it.
    let default_level = match cli.command {
        Command::Explain(_) => "warn",
        _ => "info",
    };
    let _traces = init_tracing(cli.log_format, default_level);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = match cli.command {
        Command::Serve(args) => runtime.block_on(run_serve(args)),
        // The bench builds its own runtimes: the server under test apart from the load.
        Command::Bench(args) => crate::bench::run(args),
        Command::Lint(args) => runtime.block_on(crate::lint::run(args)),
        Command::Istio(args) => crate::istio::run(&args),
        Command::Explain(args) => runtime.block_on(crate::explain::run(args)),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// Logs to stderr; OpenTelemetry traces too when the environment asks for them (the guard
/// flushes them at exit).
fn init_tracing(
    format: LogFormat,
    default_level: &str,
) -> Option<zeebe_authz_server::telemetry::Guard> {
    use tracing_subscriber::layer::SubscriberExt as _;
    use tracing_subscriber::util::SubscriberInitExt as _;
    use tracing_subscriber::{Layer as _, Registry};
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| default_level.into());
    let fmt = tracing_subscriber::fmt::layer()
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr);
    let fmt: Box<dyn tracing_subscriber::Layer<Registry> + Send + Sync> = match format {
        LogFormat::Text => fmt.boxed(),
        LogFormat::Json => fmt.json().boxed(),
    };
    let (traces, guard) = zeebe_authz_server::telemetry::layer().unzip();
    tracing_subscriber::registry()
        .with(fmt)
        .with(traces)
        .with(filter)
        .init();
    guard
}

async fn run_serve(args: ServeArgs) -> anyhow::Result<ExitCode> {
    let (config, listeners, extras) = if args.dev {
        let envoy = match (args.envoy_config, args.gateway) {
            (Some(config), Some(gateway)) => Some(crate::dev::EnvoyOptions {
                config,
                rest: crate::dev::RestDoor {
                    listen: args.envoy_rest_listen,
                    gateway: args.rest_gateway.unwrap_or_else(|| {
                        gateway.with_port(crate::dev::DEFAULT_REST_GATEWAY_PORT)
                    }),
                },
                gateway,
                listen: args.envoy_listen,
            }),
            _ => None,
        };
        let dev = crate::dev::start(&crate::dev::DevOptions {
            check: args.dev_check_addr,
            admin: args.dev_admin_addr,
            key: args.dev_key,
            token_ttl: args.dev_token_ttl,
            identity_headers: args.dev_identity_headers,
            dynamic_metadata: args.dev_dynamic_metadata,
            envoy,
        })
        .await?;
        (dev.config, dev.listeners, dev.extras)
    } else {
        let path = args.config.context("--config is required")?;
        let config = match zeebe_authz_server::disk::load_config(&path).and_then(|c| {
            zeebe_authz_core::config::check_trust(
                &c,
                &path,
                zeebe_authz_server::jwks::system_store_present(),
            )
            .map(|()| c)
        }) {
            Ok(c) => c,
            Err(e) => {
                eprint!("{e}");
                return Ok(ExitCode::from(EXIT_CONFIG as u8));
            }
        };
        config.log_warnings();
        let listeners = Listeners::bind(&config).await?;
        let reload = ReloadOptions {
            path,
            interval: (!args.reload_interval.is_zero()).then_some(args.reload_interval),
        };
        (config, listeners, ServeExtras::reloading(reload))
    };
    tracing::info!(
        check_addr = %listeners.check.local_addr()?,
        admin_addr = %listeners.admin.local_addr()?,
        realms = config.realms.len(),
        "Listening"
    );
    zeebe_authz_server::serve::serve(config, listeners, extras, shutdown_signal()).await?;
    tracing::info!("Stopped");
    Ok(ExitCode::SUCCESS)
}
