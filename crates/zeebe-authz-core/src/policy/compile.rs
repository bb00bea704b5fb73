//! Policy compilation: raw YAML → [`Policy`], with every problem reported as a located
//! [`Diagnostic`](crate::diag::Diagnostic).

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use ahash::AHashMap;
use serde::Deserialize;
use serde_saphyr::Spanned;
use sha2::Digest as _;

use super::condition::{
    ConditionKind, Conditions, FieldSource, Pattern, RawTenant, compile_tenant, field_source,
};
use super::dialect::{self, RawAuthorization, RawDialect, RawIdentity, RawMappingRule};
use super::{ConditionSource, Grant, GrantSource, PathRule, Policy, RpcReads};
use crate::body::FieldSelection;
use crate::catalog::{FieldKind, OperationClass, Rpc, RpcSet};
use crate::diag::{Diagnostics, InvalidConfig, Span, parse_yaml, suggest};

/// The policy file as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPolicy {
    /// A permission named exactly like an rpc grants that rpc (the Identity PoC's style).
    #[serde(default)]
    rpc_named_permissions: bool,
    /// Named lists of rpcs, usable wherever an rpc name is.
    #[serde(default)]
    groups: BTreeMap<String, Vec<Spanned<String>>>,
    /// Permission → rpcs.
    #[serde(default)]
    grants: Vec<RawGrant>,
    /// Unknown rpcs under `/gateway_protocol.Gateway/`.
    #[serde(default)]
    unknown_rpcs: Option<PathRule>,
    /// Paths of other gRPC services.
    #[serde(default)]
    other_paths: Option<PathRule>,
    /// Camunda dialect: how tokens name their owners.
    #[serde(default)]
    identity: Option<RawIdentity>,
    /// Camunda dialect: claims that make a token an owner.
    #[serde(default)]
    mapping_rules: Vec<RawMappingRule>,
    /// Camunda dialect: owner + resource type + resource ids + permissions.
    #[serde(default)]
    authorizations: Vec<RawAuthorization>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawGrant {
    permission: Spanned<String>,
    rpcs: Vec<Spanned<String>>,
    /// Conditions on request fields; all must hold.
    #[serde(default)]
    when: Option<RawWhen>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawWhen {
    tenant: Option<Spanned<RawTenant>>,
    job_type: Option<Spanned<Vec<String>>>,
    bpmn_process_id: Option<Spanned<Vec<String>>>,
    decision_id: Option<Spanned<Vec<String>>>,
    message_name: Option<Spanned<Vec<String>>>,
    signal_name: Option<Spanned<Vec<String>>>,
}

/// The default policy (`policies/default.yaml`), embedded.
pub const DEFAULT_POLICY: &str = include_str!("../../../../policies/default.yaml");
/// The dev policy (the default policy plus tenant and job-type conditions), embedded for
/// `serve --dev` and bench.
pub const DEV_POLICY: &str = include_str!("../../../../policies/dev.yaml");

/// Compiles an embedded policy (`name` shows in diagnostics); an error is a bug of the build.
pub fn embedded(name: &str, text: &str) -> Result<Policy, InvalidConfig> {
    let file: Arc<Path> = Arc::from(Path::new(name));
    let mut diags = Diagnostics::default();
    match compile(&file, text, &mut diags) {
        Some(policy) if !diags.has_errors() => Ok(policy),
        _ => Err(InvalidConfig(diags.into_vec())),
    }
}

/// What a realm tells the policy compiler about its Camunda.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PolicyOptions {
    /// Whether the engine enforces its own authorizations (Camunda 8.8+ with
    /// `camunda.security.authorizations.enabled`). When it does not (the default), an
    /// authorization on named resources grants no rpc whose resource only the engine could
    /// see (by key, or decided per subscription: CompleteJob, CancelProcessInstance,
    /// BroadcastSignal, …): those need `resource_ids: ["*"]`.
    pub engine_authorizations: bool,
}

/// [`compile_with`] the default options (the engine checks nothing).
pub fn compile(file: &Arc<Path>, text: &str, diags: &mut Diagnostics) -> Option<Policy> {
    compile_with(file, text, PolicyOptions::default(), diags)
}

/// Compiles policy text for a realm with `options`. Returns `None` when any error was
/// recorded.
pub fn compile_with(
    file: &Arc<Path>,
    text: &str,
    options: PolicyOptions,
    diags: &mut Diagnostics,
) -> Option<Policy> {
    // An empty file is more likely one caught half-written (or a ConfigMap key gone) than a
    // wish to refuse every call; that is written `grants: []`.
    if text
        .lines()
        .all(|l| l.trim().is_empty() || l.trim_start().starts_with('#'))
    {
        diags
            .error(Span::file(file), "", "the policy is empty")
            .hint("write `grants: []` to refuse every rpc");
        return None;
    }
    let raw: RawPolicy = parse_yaml(file, text, diags)?;
    let errors_before = diags.error_count();

    let mut groups: AHashMap<&str, RpcSet> = AHashMap::new();
    for (name, rpcs) in &raw.groups {
        let key = format!("groups.{name}");
        if Rpc::from_name(name).is_some() || super::wildcards::is_wildcard(name) {
            let span = rpcs
                .first()
                .map_or_else(|| Span::file(file), |r| Span::of(file, r));
            diags
                .error(
                    span,
                    &key,
                    format!("group name '{name}' is also an rpc name"),
                )
                .hint("rename the group, e.g. with a lower-case name such as 'jobs'");
            continue;
        }
        let set = resolve_rpcs(file, &key, rpcs, &AHashMap::new(), diags);
        groups.insert(name.as_str(), set);
    }

    let lists: Vec<(String, &[Spanned<String>])> = raw
        .grants
        .iter()
        .enumerate()
        .map(|(i, g)| (format!("grants[{i}].rpcs"), g.rpcs.as_slice()))
        .chain(
            raw.groups
                .iter()
                .map(|(n, r)| (format!("groups.{n}"), r.as_slice())),
        )
        .collect();
    super::wildcards::note_the_wildcards(file, &lists, diags);

    let mut grants = Vec::with_capacity(raw.grants.len());
    let mut by_permission: AHashMap<Box<str>, Vec<u16>> = AHashMap::new();
    for (i, g) in raw.grants.iter().enumerate() {
        let key = format!("grants[{i}]");
        let permission = g.permission.value.trim();
        let rpcs = resolve_rpcs(file, &format!("{key}.rpcs"), &g.rpcs, &groups, diags);
        let explicit: RpcSet = g
            .rpcs
            .iter()
            .filter_map(|r| Rpc::from_name(&r.value))
            .collect();
        let conditions = g
            .when
            .as_ref()
            .map(|w| compile_when(file, &key, w, rpcs, explicit, diags));
        let conditional_rpcs = conditions.as_ref().map_or(RpcSet::EMPTY, |c| {
            rpcs.iter()
                .filter(|rpc| c.kinds().any(|k| field_source(*rpc, k).is_some()))
                .collect()
        });
        if permission.is_empty() {
            diags.error(
                Span::of(file, &g.permission),
                format!("{key}.permission"),
                "permission is empty",
            );
            continue;
        }
        if g.rpcs.is_empty() {
            diags
                .warning(
                    Span::of(file, &g.permission),
                    format!("{key}.rpcs"),
                    "grant lists no rpc and grants nothing",
                )
                .hint("list rpc names, group names or \"*\"");
        }
        let idx = u16::try_from(grants.len()).ok()?;
        by_permission
            .entry(permission.into())
            .or_default()
            .push(idx);
        grants.push(Grant {
            permission: permission.into(),
            rpcs,
            conditions: conditions.map(Arc::new),
            conditional_rpcs,
            span: Span::of(file, &g.permission),
            source: GrantSource::Permission,
        });
    }

    let dialect = dialect::compile(
        file,
        &RawDialect {
            identity: raw.identity.as_ref(),
            mapping_rules: &raw.mapping_rules,
            authorizations: &raw.authorizations,
        },
        &groups,
        &mut grants,
        options.engine_authorizations,
        diags,
    );

    if diags.error_count() > errors_before {
        return None;
    }

    let granting_permissions = Rpc::operations()
        .map(|rpc| {
            let mut names: Vec<&str> = grants
                .iter()
                .filter(|g| g.source == GrantSource::Permission && g.rpcs.contains(rpc))
                .map(|g| &*g.permission)
                .collect();
            if raw.rpc_named_permissions && rpc.is_grpc() {
                names.push(rpc.name());
            }
            names.dedup();
            names.join(", ").into_boxed_str()
        })
        .collect();

    let reads = Rpc::operations()
        .map(|rpc| {
            let mut reads = RpcReads {
                fields: FieldSelection::default(),
                slots: [None; ConditionKind::COUNT],
                engine_id: dialect.as_ref().and_then(|_| engine_id_field(rpc)),
                engine_member: dialect.is_some() && super::rest_values::engine_id_member(rpc),
                tenant_filter: None,
                request_kinds: Box::default(),
            };
            for kind in ConditionKind::ALL {
                let used = grants.iter().any(|g| {
                    g.conditional_rpcs.contains(rpc)
                        && g.conditions
                            .as_ref()
                            .is_some_and(|c| c.kinds().any(|k| k == kind))
                });
                reads.slots[kind.index()] = match field_source(rpc, kind) {
                    Some(FieldSource::Body(path)) if used => {
                        Some(ConditionSource::Body(reads.fields.add(path)))
                    }
                    Some(FieldSource::DefaultTenant) if used => {
                        Some(ConditionSource::DefaultTenant)
                    }
                    Some(FieldSource::Rest) if used => Some(ConditionSource::Rest),
                    _ => None,
                };
            }
            reads.request_kinds = ConditionKind::ALL
                .into_iter()
                .filter(|k| {
                    matches!(
                        reads.slots[k.index()],
                        Some(ConditionSource::Body(_) | ConditionSource::Rest)
                    )
                })
                .collect();
            if reads.slots[ConditionKind::Tenant.index()].is_some() {
                reads.tenant_filter = rpc
                    .desc()
                    .request_message()
                    .field("tenantFilter")
                    .filter(|f| f.kind == FieldKind::Varint && !f.repeated)
                    .map(|f| f.number);
            }
            reads
        })
        .collect();

    Some(Policy {
        reads,
        grants: grants.into(),
        by_permission: by_permission
            .into_iter()
            .map(|(k, v)| (k, v.into()))
            .collect(),
        rpc_named_permissions: raw.rpc_named_permissions,
        unknown_rpcs: raw.unknown_rpcs.unwrap_or(PathRule::Deny),
        other_paths: raw.other_paths.unwrap_or(PathRule::Deny),
        granting_permissions,
        dialect,
        // The options change the grants: a reload that flips them must not keep principals.
        digest: sha2::Sha256::new()
            .chain_update(text.as_bytes())
            .chain_update([u8::from(options.engine_authorizations)])
            .finalize()
            .into(),
    })
}

/// The field the engine-worded deny of `rpc` names (its message row's resource id), once at
/// compile time rather than on each deny.
fn engine_id_field(rpc: Rpc) -> Option<FieldSelection> {
    let row = super::camunda::message_row(rpc);
    if row.id != super::camunda::ResourceId::Field {
        return None;
    }
    match field_source(rpc, super::camunda::id_kind(row.resource)?)? {
        FieldSource::Body(path) => {
            let mut selection = FieldSelection::default();
            selection.add(path);
            Some(selection)
        }
        FieldSource::DefaultTenant | FieldSource::Rest => None,
    }
}

/// Compiles a `when:` block, checking it against the rpcs of its grant.
fn compile_when(
    file: &Arc<Path>,
    key: &str,
    when: &RawWhen,
    rpcs: RpcSet,
    explicit: RpcSet,
    diags: &mut Diagnostics,
) -> Conditions {
    let mut conditions = Conditions::default();
    let mut spans: Vec<(ConditionKind, Span)> = Vec::new();
    if let Some(t) = &when.tenant {
        conditions.tenant = compile_tenant(file, &format!("{key}.when.tenant"), t, diags);
        spans.push((ConditionKind::Tenant, Span::of(file, t)));
    }
    let pattern_kinds = [
        (ConditionKind::JobType, &when.job_type),
        (ConditionKind::BpmnProcessId, &when.bpmn_process_id),
        (ConditionKind::DecisionId, &when.decision_id),
        (ConditionKind::MessageName, &when.message_name),
        (ConditionKind::SignalName, &when.signal_name),
    ];
    for (kind, raw) in pattern_kinds {
        let Some(raw) = raw else { continue };
        let span = Span::of(file, raw);
        let k = format!("{key}.when.{}", kind.key());
        if raw.value.is_empty() {
            diags
                .error(span.clone(), &k, "empty list allows nothing")
                .hint("list values or patterns such as payment*");
        }
        let mut patterns = Vec::new();
        for text in &raw.value {
            match Pattern::parse(text) {
                Ok(p) => patterns.push(p),
                Err(e) => {
                    diags
                        .error(span.clone(), &k, format!("invalid pattern '{text}': {e}"))
                        .hint("a pattern is text with * wildcards, e.g. payment*");
                }
            }
        }
        conditions.patterns.push((kind, patterns.into()));
        spans.push((kind, span));
    }
    for (kind, span) in spans {
        let k = format!("{key}.when.{}", kind.key());
        for rpc in explicit.iter().filter(|r| field_source(*r, kind).is_none()) {
            diags
                .error(span.clone(), &k, format!("a {} condition on {rpc}, which carries no {}", kind.noun(), kind.noun()))
                .hint(format!("move {rpc} to a grant without this condition (key-only rpcs are checked by the broker)"));
        }
        if !rpcs.is_empty() && rpcs.iter().all(|r| field_source(r, kind).is_none()) {
            diags.error(
                span,
                &k,
                format!("no rpc of this grant carries a {}", kind.noun()),
            );
        }
    }
    conditions
}

/// Resolves a list of operation names, group names and wildcards into a set, reporting
/// unknown names with a "did you mean" hint.
fn resolve_rpcs<'g>(
    file: &Arc<Path>,
    key: &str,
    names: &[Spanned<String>],
    groups: &AHashMap<&'g str, RpcSet>,
    diags: &mut Diagnostics,
) -> RpcSet {
    let mut set = RpcSet::EMPTY;
    for (j, name) in names.iter().enumerate() {
        let n = name.value.as_str();
        if let Some(class) = [
            OperationClass::Grpc,
            OperationClass::Rest,
            OperationClass::Admin,
        ]
        .into_iter()
        .find(|c| c.wildcard() == n)
        {
            set = set.union(RpcSet::of_class(class));
        } else if let Some(rpc) = Rpc::from_name(n) {
            set = set.with(rpc);
        } else if let Some(group) = groups.get(n) {
            set = set.union(*group);
        } else {
            let candidates = Rpc::operations()
                .map(|r| -> &'g str { r.name() })
                .chain(groups.keys().copied());
            let d = diags.error(
                Span::of(file, name),
                format!("{key}[{j}]"),
                format!("unknown rpc or group '{n}'"),
            );
            match suggest(n, candidates) {
                Some(s) => d.hint(format!("did you mean '{s}'?")),
                None => d.hint(
                    "rpc names are the Gateway methods of proto/gateway.proto, e.g. 'Topology'; REST-only operations are named in proto/rest-operations.txt, e.g. 'SearchUserTasks'",
                ),
            };
        }
    }
    set
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diag::Severity;

    fn compile_str(text: &str) -> (Option<Policy>, Diagnostics) {
        let mut d = Diagnostics::default();
        let file: Arc<Path> = Arc::from(Path::new("test.yaml"));
        (compile(&file, text, &mut d), d)
    }

    /// `*` keeps meaning the gRPC rpcs (and so their REST twins); REST-only operations need
    /// naming or `rest:*`, identity management naming or `admin:*`; lint says so.
    #[test]
    fn star_keeps_meaning_the_rpcs_and_admin_needs_its_own_wildcard() {
        use crate::catalog::OperationClass;
        let (p, d) = compile_str(
            "grants:\n  - {permission: a, rpcs: ['*']}\n  - {permission: b, rpcs: ['rest:*']}\n  - {permission: c, rpcs: ['admin:*', SearchUserTasks]}\n",
        );
        let p = p.unwrap();
        let [star, rest, admin] = [0, 1, 2].map(|i| p.grants()[i].rpcs);
        let create_auth = Rpc::from_name("CreateAuthorization").unwrap();
        let tasks = Rpc::from_name("SearchUserTasks").unwrap();
        assert_eq!(star, RpcSet::all());
        assert!(!star.contains(tasks) && !star.contains(create_auth));
        assert!(rest.contains(tasks) && !rest.contains(create_auth));
        assert!(admin.contains(create_auth) && admin.contains(tasks));
        assert_eq!(rest, RpcSet::of_class(OperationClass::Rest));
        let found: Vec<_> = d
            .items()
            .iter()
            .map(|i| (i.severity, i.key.as_str()))
            .collect();
        assert!(
            found.contains(&(crate::diag::Severity::Note, "grants[0].rpcs[0]")),
            "{found:?}"
        );
        assert!(
            found.contains(&(crate::diag::Severity::Warning, "grants[2].rpcs[0]")),
            "{found:?}"
        );
        // A policy written for gRPC alone is not told anything.
        let (_, d) = compile_str("grants:\n  - {permission: a, rpcs: ['*']}\n");
        assert!(d.items().is_empty(), "{:?}", d.items());
        // REST-only names get the did-you-mean of rpc names.
        let (_, d) = compile_str("grants:\n  - {permission: a, rpcs: [SearchUserTask]}\n");
        assert!(
            d.items()[0].hint.as_deref() == Some("did you mean 'SearchUserTasks'?"),
            "{:?}",
            d.items()
        );
    }

    #[test]
    fn body_routes_are_the_rest_routes_a_condition_or_a_choice_reads() {
        let p = crate::policy::embedded("dev", crate::policy::DEV_POLICY).unwrap();
        let routes: Vec<String> = p
            .body_routes()
            .map(|r| format!("{} {}", r.method, r.template))
            .collect();
        for expected in [
            "POST /jobs/activation",
            "POST /process-instances",
            "PATCH /jobs/{jobKey}",
            "POST /messages/publication",
            "POST /deployments",
        ] {
            assert!(
                routes.iter().any(|r| r == expected),
                "{expected}: {routes:?}"
            );
        }
        for free in [
            "GET /topology",
            "POST /jobs/{jobKey}/completion",
            "POST /user-tasks/search",
        ] {
            assert!(!routes.iter().any(|r| r == free), "{free}: {routes:?}");
        }
    }

    #[test]
    fn compiles_presets_and_groups() {
        let (p, d) = compile_str(
            "groups:\n  jobs: [ActivateJobs, CompleteJob]\ngrants:\n  - permission: 'write:*'\n    rpcs: ['*']\n  - permission: 'read:*'\n    rpcs: [Topology]\n  - permission: worker\n    rpcs: [jobs]\n",
        );
        assert!(d.items().is_empty(), "{:?}", d.items());
        let p = p.unwrap();
        assert_eq!(p.grants().len(), 3);
        assert_eq!(p.grants()[0].rpcs, RpcSet::all());
        assert_eq!(p.grants()[2].rpcs.iter().count(), 2);
    }

    #[test]
    fn unknown_rpc_is_located_and_suggests_the_closest_name() {
        let (p, d) = compile_str("grants:\n  - permission: x\n    rpcs: [Topolgy]\n");
        assert!(p.is_none());
        let e = &d.items()[0];
        assert_eq!(e.severity, Severity::Error);
        assert_eq!((e.span.line, e.key.as_str()), (3, "grants[0].rpcs[0]"));
        assert_eq!(e.hint.as_deref(), Some("did you mean 'Topology'?"));
    }

    #[test]
    fn every_error_is_reported_at_once() {
        let (_, d) = compile_str(
            "grants:\n  - permission: x\n    rpcs: [Nope1]\n  - permission: ''\n    rpcs: [Nope2]\n",
        );
        assert_eq!(
            d.items()
                .iter()
                .filter(|d| d.severity == Severity::Error)
                .count(),
            3
        );
    }

    #[test]
    fn unknown_keys_and_bad_yaml_are_errors_not_panics() {
        for text in [
            "grantz: []\n",
            "grants: [\n",
            "grants:\n  - permission: x\n",
            "\u{0}",
            "- a\n- b\n",
            "",
        ] {
            let (_, d) = compile_str(text);
            if text.is_empty() {
                continue;
            }
            assert!(d.has_errors(), "no error for {text:?}");
        }
    }

    #[test]
    fn suggest_only_close_names() {
        let names = ["Topology", "CompleteJob"];
        assert_eq!(suggest("topology", names.iter().copied()), Some("Topology"));
        assert_eq!(
            suggest("Completejob", names.iter().copied()),
            Some("CompleteJob")
        );
        assert_eq!(suggest("Frobnicate", names.iter().copied()), None);
    }

    #[test]
    fn condition_errors_are_located() {
        let (p, d) = compile_str(
            "grants:\n  - permission: x\n    rpcs: [CompleteJob, CreateProcessInstance]\n    when:\n      tenant: [tenant-a, 'bad tenant']\n  - permission: y\n    rpcs: [Topology]\n    when:\n      job_type: ['']\n  - permission: z\n    rpcs: ['*']\n    when:\n      tenant: sometimes\n",
        );
        assert!(p.is_none());
        let msgs: Vec<String> = d
            .items()
            .iter()
            .map(|d| format!("{}:{} {}", d.span.line, d.key, d.message))
            .collect();
        assert!(
            msgs.iter()
                .any(|m| m
                    .starts_with("5:grants[0].when.tenant 'bad tenant' is not a valid tenant id")),
            "{msgs:?}"
        );
        assert!(
            msgs.iter()
                .any(|m| m.contains("grants[0].when.tenant a tenant condition on CompleteJob")),
            "{msgs:?}"
        );
        assert!(
            msgs.iter()
                .any(|m| m.contains("grants[1].when.job_type invalid pattern")),
            "{msgs:?}"
        );
        assert!(
            msgs.iter()
                .any(|m| m.contains("grants[1].when.job_type a job type condition on Topology")),
            "{msgs:?}"
        );
        assert!(
            msgs.iter()
                .any(|m| m.contains("grants[2].when.tenant 'sometimes' is neither")),
            "{msgs:?}"
        );
    }

    #[test]
    fn conditions_through_wildcards_apply_only_where_the_field_exists() {
        let (p, d) =
            compile_str("grants:\n  - {permission: t, rpcs: ['*'], when: {tenant: held}}\n");
        let p = p.unwrap_or_else(|| panic!("{:?}", d.items()));
        let g = &p.grants()[0];
        let cpi = Rpc::from_name("CreateProcessInstance").unwrap();
        let complete = Rpc::from_name("CompleteJob").unwrap();
        assert!(g.conditional_rpcs.contains(cpi) && !g.conditional_rpcs.contains(complete));
        assert!(p.needs_body());
        assert_eq!(
            p.conditional_rpcs().iter().count(),
            10,
            "the nine tenant-carrying rpcs and DeployProcess"
        );
    }

    #[test]
    fn body_rpcs_are_the_rpcs_a_condition_reads_and_no_other() {
        let (p, d) = compile_str(DEV_POLICY);
        let p = p.unwrap_or_else(|| panic!("{:?}", d.items()));
        let body = p.body_rpcs();
        for read in [
            "CreateProcessInstance",
            "ActivateJobs",
            "StreamActivatedJobs",
            "DeployProcess",
        ] {
            assert!(body.contains(Rpc::from_name(read).unwrap()), "{read}");
        }
        for free in ["Topology", "CompleteJob", "FailJob", "ResolveIncident"] {
            assert!(!body.contains(Rpc::from_name(free).unwrap()), "{free}");
        }
        let (p, _) = compile_str(DEFAULT_POLICY);
        assert!(
            p.unwrap().body_rpcs().is_empty(),
            "the default policy reads no body"
        );
    }

    #[test]
    fn body_rpcs_of_the_camunda_dialect_include_rpcs_whose_deny_names_a_body_id() {
        // Only `*` resources: no condition reads a field, yet a deny must name the process id
        // CreateProcessInstance carries, so Envoy must send its body.
        let text = "authorizations:\n  - owner: {user: alice}\n    resource_type: PROCESS_DEFINITION\n    resource_ids: [\"*\"]\n    permissions: [CREATE_PROCESS_INSTANCE]\n";
        let (p, d) = compile_str(text);
        let p = p.unwrap_or_else(|| panic!("{:?}", d.items()));
        let create = Rpc::from_name("CreateProcessInstance").unwrap();
        assert!(
            !p.conditional_rpcs().contains(create),
            "no condition reads a field"
        );
        assert!(p.body_rpcs().contains(create), "{:?}", p.body_rpcs());
        assert!(!p.body_rpcs().contains(Rpc::from_name("Topology").unwrap()));
    }

    #[test]
    fn every_shipped_policy_compiles_cleanly() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../../policies");
        let mut seen = 0;
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            let mut d = Diagnostics::default();
            let text = std::fs::read_to_string(&path).unwrap();
            // The Camunda 8.8 example is written for a realm whose engine checks (it says so).
            let options = PolicyOptions {
                engine_authorizations: path.to_string_lossy().contains("camunda-8."),
            };
            assert!(
                compile_with(&Arc::from(path.as_path()), &text, options, &mut d).is_some(),
                "{}: {:?}",
                path.display(),
                d.items()
            );
            assert!(d.items().is_empty(), "{}: {:?}", path.display(), d.items());
            seen += 1;
        }
        assert!(seen >= 3);
    }
}
