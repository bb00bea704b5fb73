//! Enforcement: per realm, which calls Istio can decide natively and which must go to the
//! authorizer. Pure: a compiled [`Config`] in, a `Enforcement` out; rendering is elsewhere.
//!
//! Istio can check a request principal, the host, the path and whether a token's permissions
//! claim holds a given value. It cannot read request bodies, and its `when` values are not
//! exact strings: a value starting or ending in `*` is a suffix or prefix match (Identity's
//! preset `write:*` would match any `write:…` permission). So an rpc goes to the authorizer
//! (Istio's CUSTOM action) when a grant of it has conditions on request fields, or when a
//! permission granting it cannot be matched exactly by Istio; everything else is enforced by
//! native ALLOW rules generated from the same policy the authorizer runs.
//!
//! A realm in `mode: dry-run` sends every call to the authorizer, which allows it and reports
//! what it would have decided: Istio's `istio.io/dry-run` annotation exempts ALLOW and DENY
//! policies from enforcement but not CUSTOM ones, so the authorizer has to see every call to
//! report on it, and the realm's native rules are rendered as dry-run policies.

use zeebe_authz_core::catalog::{GATEWAY_PATH_PREFIX, Rpc, RpcSet};
use zeebe_authz_core::config::{Config, RealmConfig, RealmMode};
use zeebe_authz_core::policy::{GrantSource, PathRule};

/// Keycloak's JWKS path under the issuer, used when the config names no `jwks_uri`.
pub(crate) const KEYCLOAK_CERTS_PATH: &str = "/protocol/openid-connect/certs";

/// Which `:authority` values a realm's rules apply to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum HostScope {
    /// Every host (a single `*` realm).
    Any,
    /// These Istio host patterns.
    Only(Vec<String>),
    /// Every host except these (a `*` realm next to realms with named hosts).
    AllBut(Vec<String>),
}

/// A grant Istio enforces itself: a token whose permissions claim holds `permission` may call
/// `rpcs`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct NativeGrant {
    /// The exact permission.
    pub(crate) permission: String,
    /// The rpcs, none of which goes to the authorizer.
    pub(crate) rpcs: RpcSet,
}

/// What one realm's policies must say.
#[derive(Debug, Clone)]
pub(crate) struct RealmEnforcement {
    /// The realm's name.
    pub(crate) name: String,
    /// The exact `iss`.
    pub(crate) issuer: String,
    /// The keys' URL.
    pub(crate) jwks_uri: String,
    /// Accepted audiences.
    pub(crate) audiences: Vec<String>,
    /// The Istio attribute of the permissions claim (`request.auth.claims[permissions][zeebe-api]`).
    pub(crate) claim_key: String,
    /// The hosts the realm protects.
    pub(crate) hosts: HostScope,
    /// The realm is in `mode: dry-run`: the authorizer allows its calls, reporting what it
    /// would decide, and Istio only evaluates (does not enforce) its native rules.
    pub(crate) dry_run: bool,
    /// Every call of the realm goes to the authorizer (`--authorizer-decides-all`, or a
    /// dry-run realm).
    pub(crate) authorizer_decides_all: bool,
    /// The rpcs the authorizer decides (CUSTOM); Istio then only requires a principal.
    pub(crate) authorizer_rpcs: RpcSet,
    /// Grants Istio enforces natively, in policy order.
    pub(crate) native_grants: Vec<NativeGrant>,
    /// The rpcs a permission named like them grants natively (the Identity PoC style).
    pub(crate) rpc_named: RpcSet,
    /// Unknown rpcs under the gateway service are allowed to any principal of the realm.
    pub(crate) unknown_rpcs_authenticated: bool,
    /// Other services' paths are allowed to any principal of the realm.
    pub(crate) other_paths_authenticated: bool,
}

impl RealmEnforcement {
    /// `<issuer>/*`: any subject of the realm's issuer.
    pub(crate) fn principal(&self) -> String {
        format!("{}/*", self.issuer)
    }
}

/// Who enforces what, for a whole config.
#[derive(Debug, Clone)]
pub(crate) struct Enforcement {
    /// One entry per realm, in config order.
    pub(crate) realms: Vec<RealmEnforcement>,
    /// Whether the authorizer needs request bodies: some rule has conditions, or, on the REST
    /// door, some grant holds one of the two rpcs a body chooses between and not the other
    /// ([`rest_body_chooses`]).
    pub(crate) needs_body: bool,
    /// The subject header's name, when allows send it: the access log prints it, so an
    /// allowed call's line names its caller even when the answer carries no metadata.
    pub(crate) subject_header: Option<String>,
}

/// Why a config cannot be expressed in Istio policy.
#[derive(Debug, thiserror::Error)]
pub enum InvalidForIstio {
    /// A claim path segment Istio's `request.auth.claims[..]` syntax cannot hold.
    #[error(
        "realm '{realm}': the permissions claim segment '{segment}' contains '[' or ']', which Istio's request.auth.claims[...] syntax cannot express"
    )]
    ClaimSegment {
        /// Realm name.
        realm: String,
        /// The segment.
        segment: String,
    },
}

/// Whether Istio's `when` values match `value` exactly: a leading or trailing `*` makes it a
/// suffix or prefix match (and `*` alone a presence match).
pub(crate) fn istio_matches_exactly(value: &str) -> bool {
    !value.starts_with('*') && !value.ends_with('*')
}

/// The Istio host patterns for a realm host: a host without a port also matches it with any
/// port, as the authorizer's realm lookup does.
pub(crate) fn host_patterns(host: &str) -> Vec<String> {
    if host.contains(':') {
        vec![host.to_string()]
    } else {
        vec![host.to_string(), format!("{host}:*")]
    }
}

/// The Istio path of an rpc.
pub(crate) fn rpc_path(rpc: Rpc) -> String {
    format!("{GATEWAY_PATH_PREFIX}{}", rpc.name())
}

/// Every path under the gateway service.
pub(crate) fn gateway_paths_pattern() -> String {
    format!("{GATEWAY_PATH_PREFIX}*")
}

/// Whether a grant of `policy` holds one of the two rpcs of a REST endpoint whose body chooses
/// between them (`POST /v2/process-instances` with `awaitCompletion`, `PATCH /v2/jobs/{jobKey}`
/// with its `changeset`) without the other: the authorizer then reads the body to decide, even
/// without conditions. (A token holding both is decided without it.) A permission named like an
/// rpc (`rpc_named_permissions`) grants one rpc of a pair.
pub(crate) fn rest_body_chooses(policy: &zeebe_authz_core::policy::Policy) -> bool {
    if policy.rpc_named_permissions() {
        return true;
    }
    let pairs: Vec<RpcSet> = Rpc::all()
        .flat_map(|rpc| rpc.rest_routes())
        .filter(|route| route.operations.len() == 2)
        .map(|route| route.operations.iter().copied().collect())
        .collect();
    policy.grants().iter().any(|grant| {
        pairs.iter().any(|&pair| {
            let held = pair.iter().filter(|r| grant.rpcs.contains(*r)).count();
            held == 1
        })
    })
}

/// Splits `config` between Istio's native rules and the authorizer.
pub(crate) fn enforcement(
    config: &Config,
    authorizer_decides_all: bool,
) -> Result<Enforcement, InvalidForIstio> {
    let named_hosts: Vec<String> = config
        .realms
        .iter()
        .flat_map(|r| r.hosts.iter())
        .filter(|h| &***h != "*")
        .flat_map(|h| host_patterns(h))
        .collect();
    let mut realms = Vec::with_capacity(config.realms.len());
    for realm in &config.realms {
        realms.push(realm_enforcement(
            realm,
            &named_hosts,
            authorizer_decides_all,
        )?);
    }
    let needs_body = config
        .realms
        .iter()
        .any(|r| r.policy.needs_body() || rest_body_chooses(&r.policy));
    let headers = &config.identity_headers;
    let subject_header = headers.sent()[0].then(|| headers.subject.to_string());
    Ok(Enforcement {
        realms,
        needs_body,
        subject_header,
    })
}

fn realm_enforcement(
    realm: &RealmConfig,
    named_hosts: &[String],
    authorizer_decides_all: bool,
) -> Result<RealmEnforcement, InvalidForIstio> {
    let dry_run = realm.mode == RealmMode::DryRun;
    // The authorizer must see every call of a dry-run realm to report on it.
    let authorizer_decides_all = authorizer_decides_all || dry_run;
    let hosts = if realm.hosts.iter().any(|h| &**h == "*") {
        // The `*` realm gets what no other realm claims; its own named hosts (if any) are
        // covered by "everything else" too.
        let own: Vec<String> = realm.hosts.iter().flat_map(|h| host_patterns(h)).collect();
        let others: Vec<String> = named_hosts
            .iter()
            .filter(|h| !own.contains(h))
            .cloned()
            .collect();
        if others.is_empty() {
            HostScope::Any
        } else {
            HostScope::AllBut(others)
        }
    } else {
        HostScope::Only(realm.hosts.iter().flat_map(|h| host_patterns(h)).collect())
    };

    let mut claim_key = String::from("request.auth.claims");
    for segment in realm.permissions_claim.segments() {
        if segment.contains('[') || segment.contains(']') {
            return Err(InvalidForIstio::ClaimSegment {
                realm: realm.name.to_string(),
                segment: segment.to_string(),
            });
        }
        claim_key.push('[');
        claim_key.push_str(segment);
        claim_key.push(']');
    }

    let policy = &realm.policy;
    let mut authorizer_rpcs = policy.conditional_rpcs();
    // Camunda-dialect authorizations resolve owners from several claims and mapping rules:
    // the authorizer decides their rpcs.
    let native = |g: &zeebe_authz_core::policy::Grant| {
        g.source == GrantSource::Permission && istio_matches_exactly(&g.permission)
    };
    for grant in policy.grants() {
        if !native(grant) {
            authorizer_rpcs = authorizer_rpcs.union(grant.rpcs);
        }
    }
    let native_grants = policy
        .grants()
        .iter()
        .filter(|g| native(g))
        .map(|g| NativeGrant {
            permission: g.permission.to_string(),
            rpcs: g
                .rpcs
                .iter()
                .filter(|r| !authorizer_rpcs.contains(*r))
                .collect(),
        })
        .filter(|g| !g.rpcs.is_empty())
        .collect();
    let rpc_named = if policy.rpc_named_permissions() {
        Rpc::all()
            .filter(|r| !authorizer_rpcs.contains(*r))
            .collect()
    } else {
        RpcSet::EMPTY
    };

    Ok(RealmEnforcement {
        name: realm.name.to_string(),
        issuer: realm.issuer.to_string(),
        jwks_uri: realm.jwks_uri.as_deref().map_or_else(
            || format!("{}{KEYCLOAK_CERTS_PATH}", realm.issuer),
            str::to_string,
        ),
        audiences: realm.audiences.iter().map(|a| a.to_string()).collect(),
        claim_key,
        hosts,
        dry_run,
        authorizer_decides_all,
        authorizer_rpcs: if authorizer_decides_all {
            RpcSet::all()
        } else {
            authorizer_rpcs
        },
        native_grants: if authorizer_decides_all {
            Vec::new()
        } else {
            native_grants
        },
        rpc_named: if authorizer_decides_all {
            RpcSet::EMPTY
        } else {
            rpc_named
        },
        unknown_rpcs_authenticated: policy.unknown_rpcs() == PathRule::Authenticated,
        other_paths_authenticated: policy.other_paths() == PathRule::Authenticated,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_grant_of_one_rpc_of_a_rest_body_choice_needs_the_body() {
        let policy = |grants: &str| {
            zeebe_authz_core::policy::embedded(
                "test",
                &format!("grants:\n{grants}\nunknown_rpcs: deny\nother_paths: deny\n"),
            )
            .unwrap()
        };
        let start = policy("  - {permission: starter, rpcs: [CreateProcessInstance]}");
        let both = policy(
            "  - {permission: starter, rpcs: [CreateProcessInstance, CreateProcessInstanceWithResult]}",
        );
        let retries = policy("  - {permission: ops, rpcs: [UpdateJobRetries, Topology]}");
        let all = policy("  - {permission: \"write:*\", rpcs: [\"*\"]}");
        assert!(rest_body_chooses(&start));
        assert!(rest_body_chooses(&retries));
        assert!(!rest_body_chooses(&both));
        assert!(!rest_body_chooses(&all));
    }

    #[test]
    fn istio_wildcards_are_not_exact() {
        assert!(istio_matches_exactly("CreateProcessInstance"));
        assert!(istio_matches_exactly("deploy:tenant-a"));
        assert!(istio_matches_exactly("a*b"));
        assert!(!istio_matches_exactly("write:*"));
        assert!(!istio_matches_exactly("*:admin"));
        assert!(!istio_matches_exactly("*"));
    }

    #[test]
    fn hosts_without_port_match_any_port() {
        assert_eq!(
            host_patterns("zeebe.example.com"),
            ["zeebe.example.com", "zeebe.example.com:*"]
        );
        assert_eq!(
            host_patterns("camunda-zeebe-gateway:26500"),
            ["camunda-zeebe-gateway:26500"]
        );
    }
}
