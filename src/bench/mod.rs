//! `zeebe-authz bench`: what the authorizer adds to a request, measured reproducibly.
//!
//! - `bench load` sends Checks (or Zeebe calls through Envoy) in a closed or open loop and
//!   reports throughput, latency percentiles, decisions and errors ([`load`](mod@load), [`report`]).
//!   Without `--target` it starts zeebe-authz itself on loopback with its own Keycloak-shaped
//!   issuer, so it can mint any token mix ([`target`], [`mix`]).
//! - `bench allow-all` runs an ext_authz server that allows everything: the floor of any
//!   ext_authz hop, on the same tonic stack as ours ([`allow_all`]).
//! - `bench crypto` measures this machine's signature verification rate, the ceiling of the
//!   cold path ([`crypto`]); `bench memory` the resident memory of a full token cache
//!   ([`memory`]).
//!
//! The generator shares the machine with the server under test, so it is built to be cheap:
//! requests are encoded once before the run and sent as bytes. Its runtimes log at `warn`
//! unless `RUST_LOG` says otherwise: a deny flood must not become a log flood.

pub mod allow_all;
mod cpu;
pub mod crypto;
pub mod load;
pub mod memory;
pub mod mix;
pub mod report;
pub mod target;

use std::cell::RefCell;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use clap::Subcommand;

use self::load::{Bound, Pacing, Transport, run_phase};
use self::mix::{BodyFields, Minter, RpcMix, TokenMix, corrupt_signature, prepare};
use self::report::{Latency, LoadReport, decisions_by_name, messages_by_name};
use self::target::{Direct, InProcess, OursOptions, ServerKind};
use zeebe_authz_core::config::EXIT_CONFIG;
use zeebe_authz_core::diag::{Diagnostics, InvalidConfig};
use zeebe_authz_core::policy::Policy;
use zeebe_authz_core::signing::SigningKey;

/// The default duration of a measured phase.
pub(crate) const DEFAULT_DURATION: Duration = Duration::from_secs(5);
/// The default warm-up of a hot-token run.
pub(crate) const DEFAULT_WARMUP: Duration = Duration::from_secs(1);
/// The `:authority` of generated requests.
pub(crate) const DEFAULT_HOST: &str = "zeebe-gateway:26500";

/// `bench` options.
#[derive(Debug, clap::Args)]
pub struct BenchArgs {
    /// What to measure.
    #[command(subcommand)]
    pub command: BenchCommand,
}

/// `bench` subcommands.
#[derive(Debug, Subcommand)]
pub enum BenchCommand {
    /// Send Checks (or Zeebe calls through Envoy) and report throughput, latency percentiles,
    /// decisions and errors.
    Load(Box<LoadArgs>),
    /// Run an ext_authz server that allows every Check (the floor of any ext_authz hop) until
    /// SIGINT or SIGTERM.
    AllowAll(AllowAllArgs),
    /// Measure this machine's JWT signature verifications per second per core (the cold
    /// path's ceiling).
    Crypto(CryptoArgs),
    /// Fill an in-process authorizer's token cache with N distinct tokens and report the
    /// resident memory.
    Memory(MemoryArgs),
    /// Write `proto/gateway.proto` as a descriptor set (what `protoc --descriptor_set_out`
    /// writes), for peers that decode gRPC bodies from one (OPA-Envoy's `proto-descriptor`).
    Protoset(ProtosetArgs),
}

/// `bench protoset` options.
#[derive(Debug, clap::Args)]
pub struct ProtosetArgs {
    /// The file to write.
    #[arg(long)]
    pub(crate) out: PathBuf,
}

/// `bench load` options.
#[derive(Debug, clap::Args)]
pub struct LoadArgs {
    /// An ext_authz server to load (zeebe-authz, the allow-all server, any other). Without
    /// it (and without --gateway), the bench starts zeebe-authz in-process with its own issuer.
    #[arg(long, conflicts_with_all = ["gateway", "server", "direct"])]
    pub(crate) target: Option<SocketAddr>,
    /// Send Zeebe gateway calls to this address (Envoy in front of a gateway) instead of
    /// Checks; the token goes in the `authorization` header.
    #[arg(long, conflicts_with_all = ["server", "direct"])]
    pub(crate) gateway: Option<SocketAddr>,
    /// The in-process server to start when there is no --target.
    #[arg(long, value_enum, default_value_t = ServerKind::Ours)]
    pub(crate) server: ServerKind,
    /// Call the in-process authorizer without gRPC: the decision path alone.
    #[arg(long)]
    pub(crate) direct: bool,
    /// The token for --target or --gateway (e.g. the one `serve --dev` prints); without it,
    /// tokens are minted with a throwaway key (fine for the allow-all server).
    #[arg(long, env = "ZEEBE_AUTHZ_WRITE_TOKEN", hide_env_values = true)]
    pub(crate) bearer: Option<String>,
    /// For --target or --gateway: mint every token mix with this private key of the target's
    /// issuer (PKCS #8 PEM; e.g. the key given to `serve --dev --dev-key`). Needs --issuer.
    #[arg(long, requires = "issuer", conflicts_with = "bearer")]
    pub(crate) key: Option<PathBuf>,
    /// The `kid` of --key, as the issuer's JWKS lists it.
    #[arg(long, default_value = crate::dev::KEY_ID)]
    pub(crate) key_id: String,
    /// The JWS algorithm of --key (RS256, PS256, ES256, EdDSA, …).
    #[arg(long, default_value = "RS256", value_parser = algorithm_arg)]
    pub(crate) key_alg: jsonwebtoken::Algorithm,
    /// The issuer (`iss`) of tokens minted with --key (e.g. `http://127.0.0.1:9001/realms/dev`).
    #[arg(long, requires = "key")]
    pub(crate) issuer: Option<String>,
    /// Token mix: hot (one token), distinct:N (N tokens, each verified once), invalid (bad
    /// signature), unknown-kid (a key the realm does not have).
    #[arg(long, default_value = "hot")]
    pub(crate) tokens: TokenMix,
    /// Rpc mix; create-process-instance and activate-jobs carry a request body.
    #[arg(long, value_enum, default_value_t = RpcMix::Topology)]
    pub(crate) rpc: RpcMix,
    /// Tenant id in body-aware requests.
    #[arg(long, default_value = "<default>")]
    pub(crate) tenant: String,
    /// bpmnProcessId of CreateProcessInstance.
    #[arg(long, default_value = "order-process")]
    pub(crate) bpmn_process_id: String,
    /// Job type of ActivateJobs.
    #[arg(long, default_value = "payment")]
    pub(crate) job_type: String,
    /// Size of CompleteJob's `variables` (a JSON object padded to this many bytes; 0: the
    /// usual few bytes), to price what buffering a large body costs.
    #[arg(long, default_value_t = 0)]
    pub(crate) variables_bytes: usize,
    /// Permissions in minted tokens (comma-separated).
    #[arg(long, value_delimiter = ',', default_value = "write:*")]
    pub(crate) permissions: Vec<String>,
    /// The `:authority` of the Checks.
    #[arg(long, default_value = DEFAULT_HOST)]
    pub(crate) host: String,
    /// Requests in flight (closed loop), or the most in flight (open loop).
    #[arg(long, default_value_t = 64)]
    pub(crate) concurrency: usize,
    /// Open loop: requests per second, latency timed from when each request was due.
    #[arg(long)]
    pub(crate) rate: Option<f64>,
    /// Open loop: send each request at its due time to the microsecond rather than on the
    /// timer's millisecond tick (bursts); keeps a generator thread busy, so pin the bench.
    #[arg(long, requires = "rate")]
    pub(crate) precise: bool,
    /// How long to measure (`5s`, `500ms`); default 5s unless --requests is given.
    #[arg(long, value_parser = zeebe_authz_core::config::duration_arg)]
    pub(crate) duration: Option<Duration>,
    /// How many requests to measure (for distinct:N, default N).
    #[arg(long)]
    pub(crate) requests: Option<u64>,
    /// Warm-up before measuring; default 1s for hot tokens, none for other mixes.
    #[arg(long, value_parser = zeebe_authz_core::config::duration_arg)]
    pub(crate) warmup: Option<Duration>,
    /// HTTP/2 connections the requests are spread over.
    #[arg(long, default_value_t = 2)]
    pub(crate) connections: usize,
    /// Worker threads of the load generator (default: cores).
    #[arg(long)]
    pub(crate) client_threads: Option<usize>,
    /// Worker threads of the in-process server (default: cores).
    #[arg(long)]
    pub(crate) server_threads: Option<usize>,
    /// Policy file of the in-process zeebe-authz (default: the embedded default policy).
    #[arg(long)]
    pub(crate) policy: Option<PathBuf>,
    /// Tenants in minted tokens (claim `tenants`, comma-separated), for policies with tenant
    /// conditions (e.g. policies/dev.yaml's `tenant:write`).
    #[arg(long, value_delimiter = ',')]
    pub(crate) token_tenants: Vec<String>,
    /// Per-request timeout.
    #[arg(long, value_parser = zeebe_authz_core::config::duration_arg, default_value = "10s")]
    pub(crate) timeout: Duration,
    /// Also report this process's CPU time per request during the measured phase (Linux;
    /// repeatable), e.g. `--cpu-of authorizer=1234 --cpu-of envoy=5678`. The generator's own
    /// and an in-process server's are always reported.
    #[arg(long, value_name = "NAME=PID", value_parser = cpu::parse_cpu_of)]
    pub(crate) cpu_of: Vec<(String, u32)>,
    /// Print the report as JSON.
    #[arg(long)]
    pub(crate) json: bool,
}

/// `bench allow-all` options.
#[derive(Debug, clap::Args)]
pub struct AllowAllArgs {
    /// Address to listen on (port 0: any free port; the bound address is printed).
    #[arg(long, default_value = "127.0.0.1:9100")]
    pub(crate) listen: SocketAddr,
    /// Worker threads (default: cores).
    #[arg(long)]
    pub(crate) threads: Option<usize>,
    /// Answer with this many of zeebe-authz's identity headers (subject, client id, realm;
    /// each overwriting), to price them on Envoy's side.
    #[arg(long, default_value_t = 0, value_parser = clap::value_parser!(u8).range(0..=3))]
    pub(crate) identity_headers: u8,
    /// Answer with this many of zeebe-authz's five dynamic-metadata entries (decision id,
    /// reason, rpc, realm, subject), to price them on Envoy's side.
    #[arg(long, default_value_t = 0, value_parser = clap::value_parser!(u8).range(0..=5))]
    pub(crate) metadata: u8,
    /// Write through zeebe-authz's Check connection writer (the answers ready together sent
    /// in one write), so that a comparison with zeebe-authz isolates the decision's cost.
    #[arg(long)]
    pub(crate) coalesced_writes: bool,
}

/// `bench crypto` options.
#[derive(Debug, clap::Args)]
pub struct CryptoArgs {
    /// How long RS256 is measured on one core and then on every core (others: half of it).
    #[arg(long, value_parser = zeebe_authz_core::config::duration_arg, default_value = "2s")]
    pub(crate) duration: Duration,
    /// Print the report as JSON.
    #[arg(long)]
    pub(crate) json: bool,
}

/// `bench memory` options.
#[derive(Debug, clap::Args)]
pub struct MemoryArgs {
    /// Distinct tokens to verify and cache.
    #[arg(long, default_value_t = 100_000)]
    pub(crate) tokens: u64,
    /// Print the report as JSON.
    #[arg(long)]
    pub(crate) json: bool,
}

thread_local! {
    static BENCH_LOGS: RefCell<Option<tracing::dispatcher::DefaultGuard>> = const { RefCell::new(None) };
}

/// Makes this thread log through `logs` (kept until the thread ends).
fn use_bench_logs(logs: &tracing::Dispatch) {
    let guard = tracing::dispatcher::set_default(logs);
    BENCH_LOGS.with(|slot| *slot.borrow_mut() = Some(guard));
}

/// The bench's logger: stderr, `RUST_LOG` or `warn`.
fn bench_logs() -> tracing::Dispatch {
    let filter =
        tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into());
    tracing::Dispatch::new(
        tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_writer(std::io::stderr)
            .finish(),
    )
}

fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// Runs a `bench` subcommand on runtimes of its own (the server's apart from the load's).
pub(crate) fn run(args: BenchArgs) -> anyhow::Result<ExitCode> {
    let logs = bench_logs();
    use_bench_logs(&logs);
    match args.command {
        BenchCommand::Load(args) => run_load(*args, &logs),
        BenchCommand::AllowAll(args) => run_allow_all(&args, &logs),
        BenchCommand::Crypto(args) => {
            let report = crypto::run(args.duration)?;
            print_report(args.json, &report, || report.to_text())?;
            Ok(ExitCode::SUCCESS)
        }
        BenchCommand::Memory(args) => {
            let runtime = target::runtime(cores(), "bench-client", &logs)?;
            let report = memory::run(
                &runtime,
                &logs,
                args.tokens,
                OursOptions {
                    key: SigningKey::generate("bench-1")?,
                    policy: default_policy()?,
                },
            )?;
            print_report(args.json, &report, || report.to_text())?;
            Ok(ExitCode::SUCCESS)
        }
        BenchCommand::Protoset(args) => {
            std::fs::write(&args.out, zeebe_authz_core::proto::FILE_DESCRIPTOR_SET)
                .with_context(|| format!("writing {}", args.out.display()))?;
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn print_report<T: serde::Serialize>(
    json: bool,
    report: &T,
    text: impl FnOnce() -> String,
) -> anyhow::Result<()> {
    if json {
        println!("{}", serde_json::to_string_pretty(report)?);
    } else {
        print!("{}", text());
    }
    Ok(())
}

/// The embedded default policy (`policies/default.yaml`), compiled.
pub fn default_policy() -> anyhow::Result<Arc<Policy>> {
    zeebe_authz_core::policy::embedded(
        "(embedded) policies/default.yaml",
        zeebe_authz_core::policy::DEFAULT_POLICY,
    )
    .map(Arc::new)
    .context("the embedded default policy does not compile")
}

/// Where the load goes, and who can mint tokens for it.
enum Setup {
    InProcess(InProcess),
    Direct(Direct),
    External { addr: SocketAddr, gateway: bool },
}

fn run_load(args: LoadArgs, logs: &tracing::Dispatch) -> anyhow::Result<ExitCode> {
    let policy = match &args.policy {
        None => default_policy()?,
        Some(path) => {
            let mut diags = Diagnostics::default();
            match zeebe_authz_server::disk::compile_policy_file(path, &mut diags) {
                Some(p) if !diags.has_errors() => Arc::new(p),
                _ => {
                    eprint!("{}", InvalidConfig(diags.into_vec()));
                    return Ok(ExitCode::from(EXIT_CONFIG as u8));
                }
            }
        }
    };
    let report = load_with(&args, policy, logs)?;
    print_report(args.json, &report, || report.to_text())?;
    Ok(if report.decisions.is_empty() {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

/// Runs `bench load` (the in-process server, if any, under `policy`) and returns its report.
/// Builds runtimes of its own: call it outside of any tokio runtime.
pub fn load(args: &LoadArgs, policy: Arc<Policy>) -> anyhow::Result<LoadReport> {
    let logs = bench_logs();
    use_bench_logs(&logs);
    load_with(args, policy, &logs)
}

fn load_with(
    args: &LoadArgs,
    policy: Arc<Policy>,
    logs: &tracing::Dispatch,
) -> anyhow::Result<LoadReport> {
    let options = OursOptions {
        key: SigningKey::generate("bench-1")?,
        policy,
    };
    let server_threads = args.server_threads.unwrap_or_else(cores);
    let setup = match (args.target, args.gateway) {
        (Some(addr), _) => Setup::External {
            addr,
            gateway: false,
        },
        (None, Some(addr)) => Setup::External {
            addr,
            gateway: true,
        },
        (None, None) if args.direct => Setup::Direct(Direct::start(logs, options)?),
        (None, None) => match args.server {
            ServerKind::Ours => {
                Setup::InProcess(InProcess::start_ours(server_threads, logs, options)?)
            }
            ServerKind::AllowAll => {
                Setup::InProcess(InProcess::start_allow_all(server_threads, logs)?)
            }
        },
    };
    let client = target::runtime(
        args.client_threads.unwrap_or_else(cores),
        "bench-client",
        logs,
    )?;
    let result = drive(args, &setup, &client);
    drop(client);
    match setup {
        Setup::InProcess(server) => server.shutdown()?,
        Setup::Direct(direct) => direct.shutdown(),
        Setup::External { .. } => {}
    }
    result
}

/// Mints, prepares, warms up and measures.
fn drive(
    args: &LoadArgs,
    setup: &Setup,
    client: &tokio::runtime::Runtime,
) -> anyhow::Result<LoadReport> {
    let issuer = match setup {
        Setup::InProcess(s) => s.issuer.as_ref(),
        Setup::Direct(d) => Some(&d.issuer),
        Setup::External { .. } => None,
    };
    let fields = BodyFields {
        tenant: args.tenant.clone(),
        bpmn_process_id: args.bpmn_process_id.clone(),
        job_type: args.job_type.clone(),
        variables_bytes: args.variables_bytes,
    };
    let calls = args.rpc.calls(&fields);

    let minted = Instant::now();
    let tokens = mint_tokens(args, issuer)?;
    let mint_secs = match args.tokens {
        TokenMix::Distinct(_) => minted.elapsed().as_secs_f64(),
        _ => 0.0,
    };
    let prepared = prepare(&tokens, &calls);
    drop(tokens);

    let (transport, target_name, connections) = open_transport(args, setup, client, &prepared)?;
    drop(prepared);
    let transport = Arc::new(transport);

    let (pacing, bound, warmup) = pacing_and_bounds(args)?;
    let next = Arc::new(AtomicU64::new(0));
    if !warmup.is_zero() {
        let warm = Bound {
            duration: Some(warmup),
            requests: None,
        };
        client.block_on(run_phase(
            transport.clone(),
            pacing,
            warm,
            args.timeout,
            next.clone(),
        ));
    }
    let fetches_before = issuer.map(|i| i.jwks_fetches());
    let mut cpu_sources: Vec<(String, cpu::CpuSource)> = args
        .cpu_of
        .iter()
        .map(|(name, pid)| (name.clone(), cpu::CpuSource::Pid(*pid)))
        .collect();
    if let Setup::InProcess(_) = setup {
        cpu_sources.push(("server".into(), cpu::CpuSource::Threads("bench-server")));
    }
    cpu_sources.push((
        "generator".into(),
        cpu::CpuSource::Threads(mix::BENCH_CLIENT),
    ));
    let cpu_before = cpu::sample(&cpu_sources);
    let tally = client.block_on(run_phase(
        transport.clone(),
        pacing,
        bound,
        args.timeout,
        next,
    ));
    let cpu_after = cpu::sample(&cpu_sources);
    let jwks_fetches = issuer
        .zip(fetches_before)
        .map(|(i, before)| i.jwks_fetches() - before);

    let measured = tally.count();
    let elapsed = tally.elapsed.as_secs_f64();
    Ok(LoadReport {
        target: target_name,
        transport: match transport.as_ref() {
            Transport::Check { .. } => "check",
            Transport::Gateway { .. } => "gateway",
            Transport::Direct { .. } => "direct",
        }
        .into(),
        pacing: if args.rate.is_some() {
            "open"
        } else {
            "closed"
        }
        .into(),
        concurrency: args.concurrency,
        rate: args.rate,
        connections,
        tokens: args.tokens.to_string(),
        rpc: args.rpc.to_string(),
        warmup_secs: warmup.as_secs_f64(),
        elapsed_secs: elapsed,
        requests: measured,
        throughput: if elapsed > 0.0 {
            measured as f64 / elapsed
        } else {
            0.0
        },
        latency_us: Latency::from_tally(&tally),
        decisions: decisions_by_name(&tally),
        errors: tally.errors.clone(),
        messages: messages_by_name(&tally),
        late: tally.late,
        jwks_fetches,
        mint_secs,
        cpu_us_per_request: cpu::per_request(&cpu_sources, &cpu_before, &cpu_after, measured),
    })
}

/// The tokens of the run: minted with the in-process issuer's key, a given key, or a
/// throwaway one; or the one `--bearer` token (hot, or with its signature corrupted).
fn mint_tokens(args: &LoadArgs, issuer: Option<&target::Issuer>) -> anyhow::Result<Vec<String>> {
    Ok(match (issuer, &args.bearer, args.tokens) {
        (None, Some(bearer), TokenMix::Hot) => vec![bearer.clone()],
        (None, Some(bearer), TokenMix::Invalid) => vec![corrupt_signature(bearer)],
        (Some(issuer), _, mix) => Minter {
            key: &issuer.key,
            issuer: &issuer.url,
            audience: crate::dev::AUDIENCE,
            permissions: &args.permissions,
            tenants: &args.token_tenants,
        }
        .tokens(mix)?,
        (None, _, mix) if args.key.is_some() => {
            let path = args.key.as_ref().expect("guarded");
            let pem = std::fs::read_to_string(path)
                .with_context(|| format!("reading {}", path.display()))?;
            let key = SigningKey::from_pkcs8_pem(args.key_alg, args.key_id.clone(), &pem)
                .with_context(|| {
                    format!(
                        "{} is not a {:?} private key in PKCS #8 PEM",
                        path.display(),
                        args.key_alg
                    )
                })?;
            Minter {
                key: &key,
                issuer: args
                    .issuer
                    .as_deref()
                    .expect("clap requires --issuer with --key"),
                audience: crate::dev::AUDIENCE,
                permissions: &args.permissions,
                tenants: &args.token_tenants,
            }
            .tokens(mix)?
        }
        (None, _, mix) => {
            // No key of the target's issuer: tokens of a throwaway one. The allow-all server
            // takes them; zeebe-authz refuses them (as the decisions will show).
            let key = SigningKey::generate("bench-throwaway")?;
            Minter {
                key: &key,
                issuer: "http://127.0.0.1/realms/bench-throwaway",
                audience: crate::dev::AUDIENCE,
                permissions: &args.permissions,
                tenants: &args.token_tenants,
            }
            .tokens(mix)?
        }
    })
}

/// Connects the transport the setup asks for: (transport, target name, connections).
fn open_transport(
    args: &LoadArgs,
    setup: &Setup,
    client: &tokio::runtime::Runtime,
    prepared: &[mix::Prepared],
) -> anyhow::Result<(Transport, String, usize)> {
    Ok(match setup {
        Setup::InProcess(server) => {
            let name = match server.issuer {
                Some(_) => "in-process zeebe-authz",
                None => "in-process allow-all",
            };
            let t = client.block_on(Transport::check(
                server.check_addr,
                args.connections,
                prepared,
                &args.host,
            ))?;
            (t, name.to_string(), args.connections)
        }
        Setup::Direct(direct) => (
            Transport::direct(direct.authorizer.clone(), prepared, &args.host),
            "in-process zeebe-authz".to_string(),
            0,
        ),
        Setup::External { addr, gateway } => {
            let t = if *gateway {
                client.block_on(Transport::gateway(*addr, args.connections, prepared))?
            } else {
                client.block_on(Transport::check(
                    *addr,
                    args.connections,
                    prepared,
                    &args.host,
                ))?
            };
            (t, format!("{addr}"), args.connections)
        }
    })
}

/// Open or closed loop, how long or how many to measure, and the warm-up.
fn pacing_and_bounds(args: &LoadArgs) -> anyhow::Result<(Pacing, Bound, Duration)> {
    let pacing = match args.rate {
        Some(rate) if rate > 0.0 => Pacing::Open {
            rate,
            concurrency: args.concurrency,
            precise: args.precise,
        },
        Some(rate) => anyhow::bail!("--rate must be positive, not {rate}"),
        None => Pacing::Closed {
            concurrency: args.concurrency,
        },
    };
    let requests = args.requests.or(match args.tokens {
        TokenMix::Distinct(n) if args.duration.is_none() => Some(n as u64),
        _ => None,
    });
    let bound = Bound {
        duration: args
            .duration
            .or(requests.is_none().then_some(DEFAULT_DURATION)),
        requests,
    };
    let warmup = args.warmup.unwrap_or(match args.tokens {
        TokenMix::Hot => DEFAULT_WARMUP,
        _ => Duration::ZERO,
    });
    Ok((pacing, bound, warmup))
}

fn run_allow_all(args: &AllowAllArgs, logs: &tracing::Dispatch) -> anyhow::Result<ExitCode> {
    let runtime = target::runtime(args.threads.unwrap_or_else(cores), "allow-all", logs)?;
    runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind(args.listen)
            .await
            .with_context(|| format!("binding {}", args.listen))?;
        println!(
            "zeebe-authz bench allow-all: ext_authz Check on {}",
            listener.local_addr()?
        );
        std::io::Write::flush(&mut std::io::stdout())?;
        let extras = allow_all::AllowContent {
            identity_headers: usize::from(args.identity_headers),
            metadata: usize::from(args.metadata),
            coalesced_writes: args.coalesced_writes,
        };
        allow_all::serve(
            listener,
            extras,
            zeebe_authz_server::serve::shutdown_signal(),
        )
        .await
    })?;
    Ok(ExitCode::SUCCESS)
}

/// Parses a JWS algorithm name for `--key-alg`.
fn algorithm_arg(s: &str) -> Result<jsonwebtoken::Algorithm, String> {
    s.parse::<jsonwebtoken::Algorithm>()
        .map_err(|_| format!("'{s}' is not a JWS algorithm"))
}
