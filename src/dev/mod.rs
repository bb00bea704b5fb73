//! `serve --dev`: a self-contained authorizer that is its own Keycloak realm. It returns a
//! config, the bound listeners and [`ServeExtras`] (its keys, preloaded, and the realm's discovery,
//! JWKS and token endpoint routes for the admin port); `serve` merges what it is given and
//! knows nothing of dev mode. Bench reuses `self_issued_config` and the constants.
//!
//! Four roles (write, read, tenant, worker) each get a printed 12-hour token and an OAuth
//! client of the realm's token endpoint whose tokens carry the same claims, so Camunda's
//! clients fetch (and refresh) their own. With `--envoy-config` it also writes an Envoy
//! bootstrap in front of a gateway ([`bootstrap`]).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use serde_json::json;

use crate::issuer::{IssuerRealm, OAuthClient, TokenEndpoint};
use zeebe_authz_core::catalog::RpcSet;
use zeebe_authz_core::claims::ClaimPath;
use zeebe_authz_core::config::JwksSettings;
use zeebe_authz_core::config::{Config, Listen, RealmConfig, RealmMode, TokenSettings};
use zeebe_authz_core::decision::{IdentityHeaders, IdentitySet, MetadataSet};
use zeebe_authz_core::policy::{DEV_POLICY, Policy};
use zeebe_authz_core::signing::{SigningKey, access_token_claims, jwks};
use zeebe_authz_server::serve::{Listeners, ServeExtras};

pub(crate) mod bootstrap;
pub(crate) mod rest_door;

pub(crate) use bootstrap::{DEFAULT_ENVOY_LISTEN, GatewayAddr, gateway_arg};
pub(crate) use rest_door::{DEFAULT_ENVOY_REST_LISTEN, DEFAULT_REST_GATEWAY_PORT, RestDoor};

/// The `kid` of the dev issuer's key.
pub const KEY_ID: &str = "dev-1";
/// The claim dev (and bench) tokens carry their tenants in.
pub const TENANTS_CLAIM: &str = "tenants";
/// The audience of dev (and bench) tokens.
pub const AUDIENCE: &str = "zeebe-api";
/// The dev realm's path under the admin root (Keycloak's `/realms/<name>` form).
pub(crate) const REALM_PATH: &str = "/realms/dev";
/// How the embedded dev policy is named in diagnostics.
const DEV_POLICY_NAME: &str = "(embedded) policies/dev.yaml";
/// The lifetime of the printed tokens.
const PRINTED_TOKEN_TTL_SECS: u64 = 12 * 3600;
/// The lifetime of tokens from the token endpoint unless `--dev-token-ttl` says otherwise
/// (Keycloak's default access token lifespan).
pub(crate) const DEFAULT_TOKEN_TTL: &str = "300s";

/// One dev role: a printed token and an OAuth client with the same claims.
struct Role {
    /// `ZEEBE_AUTHZ_<NAME>_TOKEN`, `ZEEBE_AUTHZ_<NAME>_CLIENT_ID`, ….
    name: &'static str,
    /// `azp` of its tokens and its OAuth client id.
    client_id: &'static str,
    permissions: &'static [&'static str],
    tenants: &'static [&'static str],
    /// What `policies/dev.yaml` lets it do.
    what: &'static str,
}

const ROLES: [Role; 4] = [
    Role {
        name: "WRITE",
        client_id: "dev-writer",
        permissions: &["write:*"],
        tenants: &[],
        what: "write:*: every rpc",
    },
    Role {
        name: "READ",
        client_id: "dev-reader",
        permissions: &["read:*"],
        tenants: &[],
        what: "read:*: Topology only",
    },
    Role {
        name: "TENANT",
        client_id: "dev-tenant",
        permissions: &["tenant:write"],
        tenants: &["tenant-a"],
        what: "every rpc, only in tenant tenant-a",
    },
    Role {
        name: "WORKER",
        client_id: "dev-worker",
        permissions: &["worker:payment"],
        tenants: &[],
        what: "job rpcs, job types payment* only",
    },
];

/// How `serve --dev` was asked to run.
#[derive(Debug, Clone)]
pub(crate) struct DevOptions {
    /// The Check listener.
    pub(crate) check: SocketAddr,
    /// The admin listener (also the realm's issuer, JWKS and token endpoint).
    pub(crate) admin: SocketAddr,
    /// Sign with this PKCS #8 RSA key instead of an ephemeral one.
    pub(crate) key: Option<PathBuf>,
    /// Lifetime of tokens from the token endpoint.
    pub(crate) token_ttl: Duration,
    /// Which identity headers an allow sets, if not the config's default.
    pub(crate) identity_headers: Option<IdentitySet>,
    /// Which answers carry the dynamic metadata, if not the config's default.
    pub(crate) dynamic_metadata: Option<MetadataSet>,
    /// Write an Envoy bootstrap.
    pub(crate) envoy: Option<EnvoyOptions>,
}

/// `--envoy-config FILE --gateway HOST:PORT [--envoy-listen ADDR] [--rest-gateway HOST:PORT]
/// [--envoy-rest-listen ADDR]`.
#[derive(Debug, Clone)]
pub(crate) struct EnvoyOptions {
    /// Where the bootstrap is written.
    pub(crate) config: PathBuf,
    /// The Zeebe gateway behind Envoy.
    pub(crate) gateway: GatewayAddr,
    /// Envoy's listener (what clients use as `ZEEBE_ADDRESS`).
    pub(crate) listen: SocketAddr,
    /// Envoy's REST listener and the REST gateway behind it.
    pub(crate) rest: RestDoor,
}

/// What `serve` runs in dev mode.
pub(crate) struct DevMode {
    /// The one-realm config.
    pub(crate) config: Config,
    /// The bound Check and admin listeners.
    pub(crate) listeners: Listeners,
    /// The realm's keys and admin routes.
    pub(crate) extras: ServeExtras,
}

/// Binds, builds a config whose single realm is the process itself (its admin port serves the
/// realm's discovery, JWKS and token endpoint), mints the dev tokens, registers the dev
/// clients, writes the Envoy bootstrap if asked, and prints how to use them.
pub(crate) async fn start(options: &DevOptions) -> anyhow::Result<DevMode> {
    let (check, admin) = (options.check, options.admin);
    let listeners = Listeners {
        check: tokio::net::TcpListener::bind(check)
            .await
            .with_context(|| format!("binding {check}"))?,
        admin: tokio::net::TcpListener::bind(admin)
            .await
            .with_context(|| format!("binding {admin}"))?,
    };
    let admin_addr = listeners.admin.local_addr()?;
    let issuer = format!("http://{admin_addr}{REALM_PATH}");
    let policy = Arc::new(zeebe_authz_core::policy::embedded(
        DEV_POLICY_NAME,
        DEV_POLICY,
    )?);
    let listen = Listen {
        check: listeners.check.local_addr()?,
        admin: admin_addr,
    };
    // The rpcs whose body no condition reads: the bootstrap's Envoy sends their Check without
    // buffering the body.
    let body_free = RpcSet::all().difference(policy.body_rpcs());
    let mut config = self_issued_config("dev", &issuer, listen, policy);
    if let Some(send) = options.identity_headers {
        config.identity_headers.send = send;
    }
    if let Some(send) = options.dynamic_metadata {
        config.dynamic_metadata = send;
    }
    // Issuer and verifier are this one process, on one clock: no skew to allow for, so a
    // token is refused the second it expires (what `--dev-token-ttl` lets clients rehearse).
    config.token.leeway = Duration::ZERO;
    let key = Arc::new(load_key(options.key.as_deref())?);
    let mint = |role: &Role| {
        let mut claims = access_token_claims(
            &issuer,
            AUDIENCE,
            role.client_id,
            role.permissions,
            PRINTED_TOKEN_TTL_SECS,
        );
        claims[TENANTS_CLAIM] = json!(role.tenants);
        key.sign(&claims)
    };
    let tokens = ROLES
        .iter()
        .map(|role| mint(role).map(|token| (role, token)))
        .collect::<Result<Vec<_>, _>>()?;
    let clients: Vec<OAuthClient> = ROLES
        .iter()
        .map(|role| {
            Ok(OAuthClient {
                id: role.client_id.into(),
                secret: random_secret()?,
                permissions: role.permissions.iter().map(|p| (*p).into()).collect(),
                extra_claims: [(TENANTS_CLAIM.to_string(), json!(role.tenants))]
                    .into_iter()
                    .collect(),
            })
        })
        .collect::<anyhow::Result<_>>()?;
    if let Some(envoy) = &options.envoy {
        let text = bootstrap::envoy_bootstrap(
            envoy.listen,
            config.listen.check,
            &envoy.gateway,
            body_free,
            Some(&rest_door::bootstrap_door(&envoy.rest, config.listen.check)),
        );
        std::fs::write(&envoy.config, text)
            .with_context(|| format!("writing the Envoy bootstrap {}", envoy.config.display()))?;
    }
    print_banner(&Banner {
        check_addr: config.listen.check,
        admin_addr,
        issuer: &issuer,
        tokens: &tokens,
        clients: &clients,
        token_ttl: options.token_ttl,
        envoy: options.envoy.as_ref(),
    });
    let endpoint = TokenEndpoint {
        clients: clients.into(),
        key: Some(key.clone()),
        audience: AUDIENCE.into(),
        ttl: options.token_ttl,
    };
    let extras = ServeExtras {
        preloaded_jwks: Some(jwks(&[&key]).to_string()),
        admin_routes: IssuerRealm::with_token_endpoint(REALM_PATH, &issuer, &[&key], endpoint)
            .routes(),
        reload: None,
    };
    Ok(DevMode {
        config,
        listeners,
        extras,
    })
}

fn load_key(path: Option<&Path>) -> anyhow::Result<SigningKey> {
    let Some(path) = path else {
        return Ok(SigningKey::generate(KEY_ID)?);
    };
    let pem = zeebe_authz_server::disk::read_file(path)
        .map(|bytes| String::from_utf8_lossy(&bytes).into_owned())
        .with_context(|| format!("reading {}", path.display()))?;
    SigningKey::from_pkcs8_pem(jsonwebtoken::Algorithm::RS256, KEY_ID, &pem).with_context(|| {
        format!(
            "{} is not an RSA private key in PKCS #8 PEM",
            path.display()
        )
    })
}

/// A fresh client secret (128 random bits, hex): the dev realm's clients change with every
/// start, as its key does.
fn random_secret() -> anyhow::Result<String> {
    let mut bytes = [0u8; 16];
    aws_lc_rs::rand::fill(&mut bytes)
        .map_err(|_| anyhow::anyhow!("the system random number generator failed"))?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

/// What the banner prints.
struct Banner<'a> {
    check_addr: SocketAddr,
    admin_addr: SocketAddr,
    issuer: &'a str,
    tokens: &'a [(&'a Role, String)],
    clients: &'a [OAuthClient],
    token_ttl: Duration,
    envoy: Option<&'a EnvoyOptions>,
}

/// Prints the tokens, the clients, the Camunda client settings and, with `--envoy-config`, how
/// to run Envoy and a first `zbctl` call. `export` lines can be pasted into a shell; every other
/// line is a `#` comment.
fn print_banner(b: &Banner<'_>) {
    let (check_addr, admin_addr) = (b.check_addr, b.admin_addr);
    println!(
        "# zeebe-authz dev mode: ext_authz Check on {check_addr}, admin on http://{admin_addr}"
    );
    println!(
        "# Issuer {}, policy policies/dev.yaml; tokens are valid for 12 hours:",
        b.issuer
    );
    for (role, _) in b.tokens {
        println!("#   ZEEBE_AUTHZ_{}_TOKEN  {}", role.name, role.what);
    }
    for (role, token) in b.tokens {
        println!("export ZEEBE_AUTHZ_{}_TOKEN={token}", role.name);
    }
    let token_url = format!("{}/protocol/openid-connect/token", b.issuer);
    println!(
        "# OAuth clients of the same four roles (grant client_credentials at {token_url}, tokens valid for {}s):",
        b.token_ttl.as_secs()
    );
    for ((role, _), client) in b.tokens.iter().zip(b.clients) {
        println!("export ZEEBE_AUTHZ_{}_CLIENT_ID={}", role.name, client.id);
        println!(
            "export ZEEBE_AUTHZ_{}_CLIENT_SECRET={}",
            role.name, client.secret
        );
    }
    let writer = &b.clients[0];
    println!(
        "# Camunda client settings (zbctl, the Java client), as the write client; for another role set ZEEBE_CLIENT_ID and ZEEBE_CLIENT_SECRET from the lines above:"
    );
    match b.envoy {
        Some(envoy) => println!("export ZEEBE_ADDRESS={}", envoy.listen),
        None => println!(
            "#   ZEEBE_ADDRESS=<your Envoy listener> (--envoy-config FILE --gateway HOST:PORT writes one)"
        ),
    }
    println!("export ZEEBE_INSECURE_CONNECTION=true");
    println!("export ZEEBE_CLIENT_ID={}", writer.id);
    println!("export ZEEBE_CLIENT_SECRET={}", writer.secret);
    println!("export ZEEBE_AUTHORIZATION_SERVER_URL={token_url}");
    println!("export ZEEBE_TOKEN_AUDIENCE={AUDIENCE}");
    println!(
        "# @camunda8/sdk reads ZEEBE_CLIENT_ID, ZEEBE_CLIENT_SECRET and ZEEBE_TOKEN_AUDIENCE too, and names the rest:"
    );
    println!("export CAMUNDA_AUTH_STRATEGY=OAUTH");
    println!("export CAMUNDA_OAUTH_URL={token_url}");
    if let Some(envoy) = b.envoy {
        println!("export ZEEBE_GRPC_ADDRESS=grpc://{}", envoy.listen);
        println!(
            "# Envoy bootstrap {} (listener {} -> ext_authz {check_addr} -> gateway {}). Run:",
            envoy.config.display(),
            envoy.listen,
            envoy.gateway
        );
        println!("#   envoy -c {}", envoy.config.display());
        // zbctl caches tokens by audience alone, under --clientCache (it does not read
        // ZEEBE_CLIENT_CONFIG_PATH): one cache file per client keeps roles apart.
        println!(
            "# then, in another shell (npm i -g zbctl; one --clientCache per client, as zbctl caches a token per audience):"
        );
        println!(
            "#   ZEEBE_CLIENT_ID={} ZEEBE_CLIENT_SECRET={} ZEEBE_AUTHORIZATION_SERVER_URL={token_url} ZEEBE_TOKEN_AUDIENCE={AUDIENCE} zbctl status --insecure --address {} --clientCache $HOME/.camunda/zeebe-authz-{}.yaml",
            writer.id, writer.secret, envoy.listen, writer.id
        );
        rest_door::print_rest_banner(
            &envoy.rest,
            check_addr,
            (writer.id.as_str(), writer.secret.as_str()),
            AUDIENCE,
        );
    } else {
        println!(
            "# Point Envoy's ext_authz grpc_service at {check_addr} (with_request_body for tenant and job-type rules)"
        );
        println!("# and call the gateway with 'authorization: Bearer $ZEEBE_AUTHZ_WRITE_TOKEN'.");
    }
    println!(
        "# Readiness: curl http://{admin_addr}/readyz   Metrics: curl http://{admin_addr}/metrics"
    );
}

/// A one-realm config whose realm trusts `issuer` (a loopback issuer of dev mode or bench)
/// for any host, with `policy`, permissions in `permissions.<AUDIENCE>` and tenants in
/// [`TENANTS_CLAIM`].
pub(crate) fn self_issued_config(
    name: &str,
    issuer: &str,
    listen: Listen,
    policy: Arc<Policy>,
) -> Config {
    Config {
        listen,
        realms: vec![RealmConfig {
            name: name.into(),
            issuer: issuer.into(),
            audiences: Box::new([AUDIENCE.into()]),
            jwks_uri: None,
            hosts: Box::new(["*".into()]),
            policy,
            permissions_claim: ClaimPath::new(["permissions", AUDIENCE]),
            tenants_claim: Some(ClaimPath::new([TENANTS_CLAIM])),
            tenants_prefix: None,
            mode: RealmMode::Enforce,
            token_type: zeebe_authz_core::token::verify::TokenType::default(),
            engine_authorizations: false,
            rest_base_path: zeebe_authz_core::rest::DEFAULT_BASE_PATH.into(),
        }],
        jwks: JwksSettings::default(),
        ca_bundle: None,
        token: TokenSettings::default(),
        identity_headers: IdentityHeaders::default(),
        dynamic_metadata: MetadataSet::default(),
        server: zeebe_authz_core::config::ConnectionSettings::default(),
        sources: Vec::new(),
        warnings: Vec::new(),
    }
}
