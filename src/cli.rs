//! The command line: parses arguments, sets up logging, runs one subcommand.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context as _;
use clap::{Parser, Subcommand, ValueEnum};

use crate::config::{self, Config, EXIT_CONFIG, Listen, RealmConfig, TokenSettings};
use crate::decision::IdentityHeaders;
use crate::diag::Diagnostics;
use crate::issuer::{SigningKey, access_token_claims};
use crate::jwks::JwksSettings;
use crate::server::{DevIssuer, Listeners};
use crate::token::claims::ClaimPath;

/// The default policy (`policies/default.yaml`), embedded.
pub const DEFAULT_POLICY: &str = include_str!("../policies/default.yaml");
/// The dev policy (the default policy plus tenant and job-type conditions), embedded for
/// `serve --dev`.
pub const DEV_POLICY: &str = include_str!("../policies/dev.yaml");
/// The `kid` of the dev issuer's key.
pub const DEV_KEY_ID: &str = "dev-1";
/// The claim dev tokens carry their tenants in.
pub const DEV_TENANTS_CLAIM: &str = "tenants";
/// The audience of dev tokens.
pub const DEV_AUDIENCE: &str = "zeebe-api";

/// Authorizes Camunda 8 Zeebe gateway calls for Envoy (ext_authz) from Keycloak tokens.
#[derive(Debug, Parser)]
#[command(name = "zeebe-authz", version, about)]
pub struct Cli {
    /// Log format.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text, env = "ZEEBE_AUTHZ_LOG_FORMAT")]
    pub log_format: LogFormat,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Log output format.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum LogFormat {
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
    pub config: Option<PathBuf>,
    /// Run self-contained: an ephemeral signing key, its own issuer on the admin port, the
    /// default policy; prints ready-to-use tokens.
    #[arg(long)]
    pub dev: bool,
    /// Check address in dev mode.
    #[arg(long, default_value = "127.0.0.1:9000", requires = "dev")]
    pub dev_check_addr: std::net::SocketAddr,
    /// Admin address in dev mode.
    #[arg(long, default_value = "127.0.0.1:9001", requires = "dev")]
    pub dev_admin_addr: std::net::SocketAddr,
    /// In dev mode, sign with this RSA private key (PKCS #8 PEM, e.g. from
    /// `openssl genpkey -algorithm RSA`) instead of an ephemeral one, so that
    /// `zeebe-authz bench load --key` can mint tokens this server accepts.
    #[arg(long, requires = "dev")]
    pub dev_key: Option<PathBuf>,
}

/// Runs the command line; the process exit code.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    init_tracing(cli.log_format);
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
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn init_tracing(format: LogFormat) {
    let filter =
        tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}

async fn run_serve(args: ServeArgs) -> anyhow::Result<ExitCode> {
    let (config, listeners, dev) = if args.dev {
        let (config, listeners, dev) = dev_setup(
            args.dev_check_addr,
            args.dev_admin_addr,
            args.dev_key.as_deref(),
        )
        .await?;
        (config, listeners, Some(dev))
    } else {
        let path = args.config.context("--config is required")?;
        let config = match config::load(&path) {
            Ok(c) => c,
            Err(e) => {
                eprint!("{e}");
                return Ok(ExitCode::from(EXIT_CONFIG as u8));
            }
        };
        let listeners = Listeners::bind(&config).await?;
        (config, listeners, None)
    };
    tracing::info!(
        check_addr = %listeners.check.local_addr()?,
        admin_addr = %listeners.admin.local_addr()?,
        realms = config.realms.len(),
        "Listening"
    );
    crate::server::serve(config, listeners, dev, shutdown_signal()).await?;
    tracing::info!("Stopped");
    Ok(ExitCode::SUCCESS)
}

/// Resolves on SIGINT or SIGTERM.
async fn shutdown_signal() {
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

/// The dev setup: binds, then builds a config whose single realm is the process itself.
async fn dev_setup(
    check: std::net::SocketAddr,
    admin: std::net::SocketAddr,
    dev_key: Option<&std::path::Path>,
) -> anyhow::Result<(Config, Listeners, DevIssuer)> {
    let listeners = Listeners {
        check: tokio::net::TcpListener::bind(check)
            .await
            .with_context(|| format!("binding {check}"))?,
        admin: tokio::net::TcpListener::bind(admin)
            .await
            .with_context(|| format!("binding {admin}"))?,
    };
    let admin_addr = listeners.admin.local_addr()?;
    let issuer = format!("http://{admin_addr}{}", crate::admin::DEV_REALM_PATH);
    let mut diags = Diagnostics::default();
    let file: Arc<std::path::Path> =
        Arc::from(std::path::Path::new("(embedded) policies/dev.yaml"));
    let policy = crate::policy::compile(&file, DEV_POLICY, &mut diags)
        .context("the embedded dev policy does not compile")?;
    let config = Config {
        listen: Listen {
            check: listeners.check.local_addr()?,
            admin: admin_addr,
        },
        realms: vec![RealmConfig {
            name: "dev".into(),
            issuer: issuer.as_str().into(),
            audiences: Box::new([DEV_AUDIENCE.into()]),
            jwks_uri: None,
            hosts: Box::new(["*".into()]),
            policy: Arc::new(policy),
            permissions_claim: ClaimPath::new(["permissions", DEV_AUDIENCE]),
            tenants_claim: Some(ClaimPath::new([DEV_TENANTS_CLAIM])),
            tenants_prefix: None,
        }],
        jwks: JwksSettings::default(),
        ca_bundle: None,
        token: TokenSettings::default(),
        identity_headers: IdentityHeaders::default(),
    };
    let key = match dev_key {
        Some(path) => {
            let pem = std::fs::read_to_string(path)
                .with_context(|| format!("reading {}", path.display()))?;
            SigningKey::from_pkcs8_pem(jsonwebtoken::Algorithm::RS256, DEV_KEY_ID, &pem)
                .with_context(|| {
                    format!(
                        "{} is not an RSA private key in PKCS #8 PEM",
                        path.display()
                    )
                })?
        }
        None => SigningKey::generate(DEV_KEY_ID)?,
    };
    let ttl = 12 * 3600;
    let mint = |client: &str, permissions: &[&str], tenants: &[&str]| {
        let mut claims = access_token_claims(&issuer, DEV_AUDIENCE, client, permissions, ttl);
        claims[DEV_TENANTS_CLAIM] = serde_json::json!(tenants);
        key.sign(&claims)
    };
    let tokens = [
        (
            "WRITE",
            mint("dev-writer", &["write:*"], &[])?,
            "write:*: every rpc",
        ),
        (
            "READ",
            mint("dev-reader", &["read:*"], &[])?,
            "read:*: Topology only",
        ),
        (
            "TENANT",
            mint("dev-tenant", &["tenant:write"], &["tenant-a"])?,
            "every rpc, only in tenant tenant-a",
        ),
        (
            "WORKER",
            mint("dev-worker", &["worker:payment"], &[])?,
            "job rpcs, job types payment* only",
        ),
    ];
    let check_addr = listeners.check.local_addr()?;
    println!(
        "# zeebe-authz dev mode: ext_authz Check on {check_addr}, admin on http://{admin_addr}"
    );
    println!("# Issuer {issuer}, policy policies/dev.yaml; tokens are valid for 12 hours:");
    for (name, _, what) in &tokens {
        println!("#   ZEEBE_AUTHZ_{name}_TOKEN  {what}");
    }
    for (name, token, _) in &tokens {
        println!("export ZEEBE_AUTHZ_{name}_TOKEN={token}");
    }
    println!(
        "# Point Envoy's ext_authz grpc_service at {check_addr} (with_request_body for tenant and job-type rules)"
    );
    println!("# and call the gateway with 'authorization: Bearer $ZEEBE_AUTHZ_WRITE_TOKEN'.");
    println!(
        "# Readiness: curl http://{admin_addr}/readyz   Metrics: curl http://{admin_addr}/metrics"
    );
    Ok((config, listeners, DevIssuer { key, issuer }))
}
