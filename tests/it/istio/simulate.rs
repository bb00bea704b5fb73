//! Istio's evaluation of the generated policies, simulated, against the authorizer's.

use super::*;

// ---- Istio's evaluation, simulated ----

/// A request as the gateway's proxy sees it after JWT authentication.
#[derive(Debug, Clone)]
pub(crate) struct Call {
    pub(crate) host: &'static str,
    pub(crate) port: u16,
    pub(crate) path: String,
    /// `iss` of a valid token, if any.
    pub(crate) issuer: Option<String>,
    pub(crate) permissions: Vec<&'static str>,
}

/// Istio's string match for principals and claim values: `*` (present), `*suffix`, `prefix*`,
/// exact (pilot/pkg/security/authz/matcher).
pub(crate) fn istio_match(pattern: &str, value: &str) -> bool {
    if pattern == "*" {
        !value.is_empty()
    } else if let Some(suffix) = pattern.strip_prefix('*') {
        value.ends_with(suffix)
    } else if let Some(prefix) = pattern.strip_suffix('*') {
        value.starts_with(prefix)
    } else {
        pattern == value
    }
}

pub(crate) fn any_match(patterns: &[String], value: &str, ignore_case: bool) -> bool {
    patterns.iter().any(|p| {
        if ignore_case {
            istio_match(&p.to_ascii_lowercase(), &value.to_ascii_lowercase())
        } else {
            istio_match(p, value)
        }
    })
}

pub(crate) fn field_matches(yes: &[String], no: &[String], value: &str, ignore_case: bool) -> bool {
    (yes.is_empty() || any_match(yes, value, ignore_case))
        && (no.is_empty() || !any_match(no, value, ignore_case))
}

pub(crate) fn rule_matches(rule: &Rule, call: &Call, claim_key: &str) -> bool {
    let principal = call
        .issuer
        .as_ref()
        .map(|i| format!("{i}/service-account-uuid"))
        .unwrap_or_default();
    let from = rule.from.is_empty()
        || rule.from.iter().any(|f| {
            field_matches(
                &f.source.request_principals,
                &f.source.not_request_principals,
                &principal,
                false,
            )
        });
    let to = rule.to.is_empty()
        || rule.to.iter().any(|t| {
            let o = &t.operation;
            field_matches(&o.hosts, &o.not_hosts, call.host, true)
                && field_matches(&o.ports, &o.not_ports, &call.port.to_string(), false)
                && field_matches(&o.methods, &[], "POST", false)
                && field_matches(&o.paths, &o.not_paths, &call.path, false)
        });
    let when = rule.when.iter().all(|c| {
        assert_eq!(c.key, claim_key, "only the permissions claim is used");
        call.issuer.is_some()
            && call
                .permissions
                .iter()
                .any(|p| c.values.iter().any(|v| istio_match(v, p)))
    });
    from && to && when
}

pub(crate) fn policies_match(
    policies: &[&AuthorizationPolicy],
    call: &Call,
    claim_key: &str,
) -> bool {
    policies.iter().any(|p| {
        p.spec
            .rules
            .iter()
            .any(|r| rule_matches(r, call, claim_key))
    })
}

/// Whether Istio only evaluates and reports the policy (pilot's `isDryRun`: the annotation
/// parses as a true boolean; we emit exactly `"true"`).
pub(crate) fn is_dry_run(policy: &AuthorizationPolicy) -> bool {
    policy
        .metadata
        .annotations
        .get("istio.io/dry-run")
        .is_some_and(|v| v == "true")
}

/// What Istio decides: CUSTOM (asking `authorizer`), then DENY, then ALLOW. Dry-run policies
/// are not enforced.
pub(crate) fn istio_allows(
    policies: &[AuthorizationPolicy],
    call: &Call,
    claim_key: &str,
    authorizer: impl Fn(&Call) -> bool,
) -> bool {
    let of = |a: Action| {
        policies
            .iter()
            .filter(|p| p.spec.action == a && !is_dry_run(p))
            .collect::<Vec<_>>()
    };
    if policies_match(&of(Action::Custom), call, claim_key) && !authorizer(call) {
        return false;
    }
    if policies_match(&of(Action::Deny), call, claim_key) {
        return false;
    }
    let allow = of(Action::Allow);
    allow.is_empty() || policies_match(&allow, call, claim_key)
}

/// What enforcing would decide, read off a dry-run: Istio's decision with the authorizer
/// answering what it would decide, and no dry-run DENY policy matching, and, if there are
/// dry-run ALLOW policies, one of them matching. Istio evaluates (and reports) dry-run ALLOW
/// policies apart from the enforced ones (pilot's builder: shadow rules hold the dry-run
/// policies only), and dry-run DENY ones apart from the enforced DENY ones.
pub(crate) fn istio_would_allow(
    policies: &[AuthorizationPolicy],
    call: &Call,
    claim_key: &str,
    authorizer_would: impl Fn(&Call) -> bool,
) -> bool {
    let dry_run = |a: Action| {
        policies
            .iter()
            .filter(|p| p.spec.action == a && is_dry_run(p))
            .collect::<Vec<_>>()
    };
    let shadow_allow = dry_run(Action::Allow);
    istio_allows(policies, call, claim_key, authorizer_would)
        && !policies_match(&dry_run(Action::Deny), call, claim_key)
        && (shadow_allow.is_empty() || policies_match(&shadow_allow, call, claim_key))
}

/// What the authorizer answers for a call on the gateway port: OK in a dry-run realm,
/// otherwise what the policy says.
pub(crate) fn authorizer_allows(config: &Config, call: &Call) -> bool {
    let (would_allow, dry_run) = authorizer_verdict(config, call);
    would_allow || dry_run
}

/// What the authorizer would decide (and reports in dry-run).
pub(crate) fn authorizer_would_allow(config: &Config, call: &Call) -> bool {
    authorizer_verdict(config, call).0
}

/// The authorizer's verdict on a call: whether the policy allows it (realm by host: exact,
/// then without port, then `*`; then token issuer, then the policy), and whether the realm is
/// in dry-run. A host no realm claims is denied in any case.
pub(crate) fn authorizer_verdict(config: &Config, call: &Call) -> (bool, bool) {
    let host = call.host.to_ascii_lowercase();
    let bare = host.rsplit_once(':').map_or(host.as_str(), |(h, _)| h);
    let realm = config
        .realms
        .iter()
        .find(|r| r.hosts.iter().any(|h| **h == *host))
        .or_else(|| {
            config
                .realms
                .iter()
                .find(|r| r.hosts.iter().any(|h| **h == *bare))
        })
        .or_else(|| {
            config
                .realms
                .iter()
                .find(|r| r.hosts.iter().any(|h| &**h == "*"))
        });
    let Some(realm) = realm else {
        return (false, false);
    };
    let dry_run = realm.mode == RealmMode::DryRun;
    if call.issuer.as_deref() != Some(&*realm.issuer) {
        return (false, dry_run);
    }
    let policy = &realm.policy;
    if call.port == REST_PORT {
        return (rest_verdict(realm, call), dry_run);
    }
    let would_allow = match zeebe_authz_core::catalog::parse_path(&call.path) {
        zeebe_authz_core::catalog::PathTarget::Rpc(rpc) => {
            let grants = policy.grants_for(call.permissions.iter().copied());
            policy
                .authorize(&grants, &[], rpc, &RequestBody::default())
                .is_ok()
        }
        zeebe_authz_core::catalog::PathTarget::UnknownRpc(_) => {
            policy.unknown_rpcs() == PathRule::Authenticated
        }
        zeebe_authz_core::catalog::PathTarget::OtherService => {
            policy.other_paths() == PathRule::Authenticated
        }
        zeebe_authz_core::catalog::PathTarget::MalformedRpc(_) => false,
    };
    (would_allow, dry_run)
}

/// The gateway's REST port in the simulation (the generator's default).
pub(crate) const REST_PORT: u16 = 8080;

/// What the authorizer decides for a REST call (a POST, no body) of a valid token of `realm`:
/// a route of the catalog under the realm's base path, as the policy grants it; an unknown or
/// unroutable path under it is denied; any other path is an other service's.
fn rest_verdict(realm: &zeebe_authz_core::config::RealmConfig, call: &Call) -> bool {
    use zeebe_authz_core::rest::{RestTarget, parse_rest_path};
    let policy = &realm.policy;
    match parse_rest_path(&realm.rest_base_path, "POST", &call.path) {
        Some(RestTarget::Route(route)) => {
            let grants = policy.grants_for(call.permissions.iter().copied());
            policy
                .authorize_rest(
                    &grants,
                    &[],
                    route,
                    &call.path,
                    &RequestBody::default(),
                    &mut |_, _| {},
                )
                .is_ok()
        }
        Some(RestTarget::Unknown | RestTarget::Unroutable(_)) => false,
        None => policy.other_paths() == PathRule::Authenticated,
    }
}

/// REST paths the simulation asks about on the REST port: routes with and without a body the
/// authorizer reads, unknown and unroutable paths under `/v2`, and paths beside it.
pub(crate) const REST_PATHS: &[&str] = &[
    "/v2/topology",
    "/v2/process-instances",
    "/v2/jobs/activation",
    "/v2/jobs/2251799813685400/completion",
    "/v2/user-tasks/search",
    "/v2/authorizations",
    "/v2/no-such-endpoint",
    "/v2;x=y/topology",
    "/%762/topology",
    "/v2/topology/",
    "/operate/api/process-instances",
    "/",
];

pub(crate) const PERMISSION_SETS: &[&[&str]] = &[
    &[],
    &["write:*"],
    &["write:deployments"],
    &["read:*"],
    &["Topology"],
    &["CreateProcessInstance", "DeployResource"],
    &["deployer"],
    &["worker"],
    &["worker", "deployer"],
    &["admin:*"],
    &["x:admin"],
    &["admin:delete"],
    &["user:ann"],
    &["tenant-a-starter"],
    &["payment-worker"],
];

/// Compares Istio (with the authorizer behind CUSTOM) with the authorizer alone, on every
/// combination of host, port, path, token issuer and permissions.
pub(crate) fn assert_istio_agrees_with_the_authorizer(config_path: &Path, options: &IstioOptions) {
    let config =
        zeebe_authz_server::disk::load_config(config_path).unwrap_or_else(|e| panic!("{e}"));
    let files = generate(config_path, options);
    let claim_key = "request.auth.claims[permissions][zeebe-api]";
    let mut issuers: Vec<Option<String>> =
        vec![None, Some("https://evil.example.com/realms/x".into())];
    issuers.extend(config.realms.iter().map(|r| Some(r.issuer.to_string())));
    let mut paths: Vec<String> = Rpc::all()
        .map(|r| format!("{GATEWAY_PATH_PREFIX}{}", r.name()))
        .collect();
    paths.push(format!("{GATEWAY_PATH_PREFIX}NoSuchRpc"));
    paths.push("/grpc.health.v1.Health/Check".into());
    let hosts = [
        "zeebe.example.com",
        "ZEEBE.example.com:443",
        "camunda-zeebe-gateway:26500",
        "camunda-zeebe-gateway",
        "tenant-b.example.com",
        "other.example.com",
    ];
    for mode in [Mode::Sidecar, Mode::Ambient] {
        let mut p = parse_mode(&files, mode);
        if mode == Mode::Ambient {
            // The waypoint enforces the policies attached to the Service; the L4 policy that
            // selects the pods is ztunnel's, and the waypoint's own identity passes it.
            p.policies.retain(|ap| ap.spec.selector.is_none());
        }
        let mut checked = 0;
        for host in hosts {
            for path in &paths {
                for issuer in &issuers {
                    for permissions in PERMISSION_SETS {
                        let call = Call {
                            host,
                            port: 26500,
                            path: path.clone(),
                            issuer: issuer.clone(),
                            permissions: permissions.to_vec(),
                        };
                        let expected = authorizer_allows(&config, &call);
                        let got = istio_allows(&p.policies, &call, claim_key, |c| {
                            authorizer_allows(&config, c)
                        });
                        assert_eq!(
                            got,
                            expected,
                            "{mode:?} {}: Istio {} what the authorizer {}: {call:?}",
                            config_path.display(),
                            if got { "allows" } else { "denies" },
                            if expected { "allows" } else { "denies" },
                        );
                        // In dry-run, Istio's dry-run results and the authorizer's reports
                        // together say exactly what enforcing would decide.
                        let would = authorizer_would_allow(&config, &call);
                        let got_would = istio_would_allow(&p.policies, &call, claim_key, |c| {
                            authorizer_would_allow(&config, c)
                        });
                        assert_eq!(
                            got_would,
                            would,
                            "{mode:?} {}: enforcing, Istio would {} what the authorizer would {}: {call:?}",
                            config_path.display(),
                            if got_would { "allow" } else { "deny" },
                            if would { "allow" } else { "deny" },
                        );
                        checked += 1;
                    }
                }
            }
        }
        assert!(checked > 1000);
        // The REST port: Istio asks the authorizer about every call there, so its word (and
        // a token of the realm in front) is final.
        let mut rest_checked = 0;
        for host in [
            "zeebe.example.com",
            "camunda-zeebe-gateway:8080",
            "tenant-b.example.com",
            "other.example.com",
        ] {
            for path in REST_PATHS {
                for issuer in &issuers {
                    for permissions in PERMISSION_SETS {
                        let call = Call {
                            host,
                            port: REST_PORT,
                            path: (*path).to_string(),
                            issuer: issuer.clone(),
                            permissions: permissions.to_vec(),
                        };
                        let expected = authorizer_allows(&config, &call);
                        let got = istio_allows(&p.policies, &call, claim_key, |c| {
                            authorizer_allows(&config, c)
                        });
                        assert_eq!(
                            got,
                            expected,
                            "{mode:?} {}: on the REST port Istio {} what the authorizer {}: {call:?}",
                            config_path.display(),
                            if got { "allows" } else { "denies" },
                            if expected { "allows" } else { "denies" },
                        );
                        let would = authorizer_would_allow(&config, &call);
                        let got_would = istio_would_allow(&p.policies, &call, claim_key, |c| {
                            authorizer_would_allow(&config, c)
                        });
                        assert_eq!(got_would, would, "{mode:?} REST, enforcing: {call:?}");
                        rest_checked += 1;
                    }
                }
            }
        }
        assert!(rest_checked > 500);
        // Other ports of the gateway (management, REST) are not this product's business.
        let management = Call {
            host: "zeebe.example.com",
            port: 9600,
            path: "/actuator/prometheus".into(),
            issuer: None,
            permissions: vec![],
        };
        assert!(istio_allows(&p.policies, &management, claim_key, |_| false));
    }
}
