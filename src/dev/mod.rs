//! `serve --dev`: a self-contained authorizer that is its own Keycloak realm. It returns a
//! config, the bound listeners and [`Extras`] (its keys, preloaded, and the realm's discovery
//! and JWKS routes for the admin port); `serve` merges what it is given and knows nothing of
//! dev mode. Bench reuses `self_issued_config` and the constants.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use anyhow::Context as _;

use crate::config::{Config, Listen, RealmConfig, RealmMode, TokenSettings};
use crate::decision::IdentityHeaders;
use crate::issuer::{IssuerRealm, SigningKey, access_token_claims, jwks};
use crate::jwks::JwksSettings;
use crate::policy::{DEV_POLICY, Policy};
use crate::server::{Extras, Listeners};
use crate::token::claims::ClaimPath;

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

/// What `serve` runs in dev mode.
pub(crate) struct DevMode {
    /// The one-realm config.
    pub(crate) config: Config,
    /// The bound Check and admin listeners.
    pub(crate) listeners: Listeners,
    /// The realm's keys and admin routes.
    pub(crate) extras: Extras,
}

/// Binds, builds a config whose single realm is the process itself (its admin port serves the
/// realm's discovery and JWKS), mints the dev tokens and prints them with how to use them.
pub(crate) async fn start(
    check: SocketAddr,
    admin: SocketAddr,
    dev_key: Option<&Path>,
) -> anyhow::Result<DevMode> {
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
    let policy = Arc::new(crate::policy::embedded(DEV_POLICY_NAME, DEV_POLICY)?);
    let listen = Listen {
        check: listeners.check.local_addr()?,
        admin: admin_addr,
    };
    let config = self_issued_config("dev", &issuer, listen, policy);
    let key = match dev_key {
        Some(path) => {
            let pem = crate::diag::read_file(path)
                .map(|bytes| String::from_utf8_lossy(&bytes).into_owned())
                .with_context(|| format!("reading {}", path.display()))?;
            SigningKey::from_pkcs8_pem(jsonwebtoken::Algorithm::RS256, KEY_ID, &pem).with_context(
                || {
                    format!(
                        "{} is not an RSA private key in PKCS #8 PEM",
                        path.display()
                    )
                },
            )?
        }
        None => SigningKey::generate(KEY_ID)?,
    };
    let ttl = 12 * 3600;
    let mint = |client: &str, permissions: &[&str], tenants: &[&str]| {
        let mut claims = access_token_claims(&issuer, AUDIENCE, client, permissions, ttl);
        claims[TENANTS_CLAIM] = serde_json::json!(tenants);
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
    let check_addr = config.listen.check;
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
    let extras = Extras {
        preloaded_jwks: Some(jwks(&[&key]).to_string()),
        admin_routes: IssuerRealm::new(REALM_PATH, &issuer, &[&key]).routes(),
        reload: None,
    };
    Ok(DevMode {
        config,
        listeners,
        extras,
    })
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
        }],
        jwks: JwksSettings::default(),
        ca_bundle: None,
        token: TokenSettings::default(),
        identity_headers: IdentityHeaders::default(),
        sources: Vec::new(),
    }
}
