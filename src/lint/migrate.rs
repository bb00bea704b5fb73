//! `lint --camunda-version 8.7`: an 8.7 policy (`grants:` of Identity permissions) rewritten
//! in the Camunda dialect, as a policy file that decides exactly like it.
//!
//! Each permission becomes a mapping rule on the realm's permissions claim whose value is the
//! permission: a token holding the permission matches it. A grant's rpcs are covered by
//! (resource type, permission) pairs of [`RPC_TABLE`] whose whole rpc set lies inside the
//! grant's (a pair granting more would widen it), the job-activating rpcs by `x-JOB_TYPE`
//! (which pins job types, so every owner of them gets one), and what is left by `x-RPC` on the
//! rpc names. Conditions carry over where the dialect has them: `tenant` → `tenants`,
//! `bpmn_process_id` / `decision_id` / `message_name` / `job_type` → the resource ids of the
//! type whose id is that field. A pair is only used where every condition of the grant that
//! applies to one of its rpcs becomes its resource ids or tenants; a grant that cannot be
//! written so stays a grant, with the reason as a comment.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use super::engine::{MIGRATION_APP_WRITE, claim_setting, migration_app_gap};
use zeebe_authz_core::catalog::{Rpc, RpcSet};
use zeebe_authz_core::claims::ClaimPath;
use zeebe_authz_core::policy::camunda::{self, Permission, RPC_TABLE, ResourceType};
use zeebe_authz_core::policy::condition::{ConditionKind, Conditions, TenantRule, field_source};
use zeebe_authz_core::policy::{Grant, PathRule, Policy};

/// One authorization of the output.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Out {
    resource: ResourceType,
    ids: Vec<String>,
    permissions: Vec<Permission>,
}

/// A grant rewritten: its authorizations, or why it stays a grant.
type Rewritten = Result<Vec<Out>, String>;

fn json(s: &str) -> String {
    serde_json::to_string(s).expect("a string serializes")
}

fn list(items: impl IntoIterator<Item = impl AsRef<str>>) -> String {
    let items: Vec<String> = items.into_iter().map(|s| json(s.as_ref())).collect();
    format!("[{}]", items.join(", "))
}

fn names(set: RpcSet) -> String {
    set.iter().map(Rpc::name).collect::<Vec<_>>().join(", ")
}

fn intersection(a: RpcSet, b: RpcSet) -> RpcSet {
    a.difference(a.difference(b))
}

/// The distinct (resource type, permission) pairs of the table, Camunda's types only.
fn pairs() -> Vec<(ResourceType, Permission)> {
    let mut out: Vec<(ResourceType, Permission)> = Vec::new();
    for r in RPC_TABLE.iter().filter(|r| !r.resource.is_extension()) {
        if !out.contains(&(r.resource, r.permission)) {
            out.push((r.resource, r.permission));
        }
    }
    out
}

/// The kinds with a resource type whose id they are (the others cannot be resource ids).
fn resource_of(kind: ConditionKind) -> Option<ResourceType> {
    match kind {
        ConditionKind::JobType => Some(ResourceType::XJobType),
        ConditionKind::BpmnProcessId => Some(ResourceType::ProcessDefinition),
        ConditionKind::DecisionId => Some(ResourceType::DecisionDefinition),
        ConditionKind::MessageName => Some(ResourceType::Message),
        ConditionKind::Tenant | ConditionKind::SignalName => None,
    }
}

/// Rewrites one grant (see the module docs).
fn rewrite(g: &Grant) -> Rewritten {
    let rpcs = g.rpcs;
    let none = Conditions::default();
    let conditions = g.conditions.as_deref().unwrap_or(&none);
    let patterns: BTreeMap<usize, (ConditionKind, Vec<String>)> = conditions
        .patterns
        .iter()
        .map(|(k, p)| {
            (
                k.index(),
                (*k, p.iter().map(|p| p.as_str().to_string()).collect()),
            )
        })
        .collect();
    let kinds: Vec<ConditionKind> = patterns.values().map(|(k, _)| *k).collect();
    if let Some(k) = kinds.iter().find(|k| resource_of(**k).is_none()) {
        return Err(format!(
            "a {} condition: no Camunda resource type has the {} as its id",
            k.key(),
            k.noun()
        ));
    }
    let ids_of = |resource: ResourceType| -> Vec<String> {
        camunda::id_kind(resource)
            .and_then(|k| patterns.get(&k.index()))
            .map_or_else(|| vec!["*".to_string()], |(_, ids)| ids.clone())
    };
    // Whether every condition that applies to an rpc of `set` becomes the ids of `resource`.
    let exact = |set: RpcSet, resource: Option<ResourceType>| -> Result<(), String> {
        for rpc in set.iter() {
            for k in &kinds {
                if field_source(rpc, *k).is_some() && resource_of(*k) != resource {
                    return Err(format!(
                        "{rpc} carries the {} its condition checks",
                        k.noun()
                    ));
                }
            }
        }
        Ok(())
    };

    let mut out: Vec<Out> = Vec::new();
    let mut covered = RpcSet::EMPTY;
    let jobs = camunda::job_type_rpcs();
    let pinned = !intersection(rpcs, jobs).is_empty();
    if pinned {
        if !rpcs.is_superset(jobs) {
            return Err(format!(
                "x-JOB_TYPE grants {} together, and the grant has only {}",
                names(jobs),
                names(intersection(rpcs, jobs))
            ));
        }
        exact(jobs, Some(ResourceType::XJobType))?;
        out.push(Out {
            resource: ResourceType::XJobType,
            ids: ids_of(ResourceType::XJobType),
            permissions: vec![Permission::XActivate],
        });
        covered = jobs;
    }
    for (resource, permission) in pairs() {
        let ids = ids_of(resource);
        let (any, star) = camunda::rpcs_granted(resource, permission);
        let mut set = if ids == ["*"] { any.union(star) } else { any };
        if pinned {
            // An owner with an x-JOB_TYPE authorization activates jobs through it only.
            set = set.difference(jobs);
        }
        // A pair whose rpcs are covered already is still written: its permission belongs to
        // the engine twin (DELETE_DRD beside DELETE_PROCESS), and the edge decides the same.
        if set.is_empty() || !rpcs.is_superset(set) || exact(set, Some(resource)).is_err() {
            continue;
        }
        covered = covered.union(set);
        match out.iter_mut().find(|o| o.resource == resource) {
            Some(o) => o.permissions.push(permission),
            None => out.push(Out {
                resource,
                ids,
                permissions: vec![permission],
            }),
        }
    }
    let rest = rpcs.difference(covered);
    if !rest.is_empty() {
        if let Err(lost) = exact(rest, None) {
            let why = rest
                .iter()
                .find_map(|rpc| why_uncovered(rpc, rpcs))
                .map(|w| format!("; {w}"))
                .unwrap_or_default();
            return Err(format!("as x-RPC the condition would be lost: {lost}{why}"));
        }
        out.push(Out {
            resource: ResourceType::XRpc,
            ids: if rest == RpcSet::all() {
                vec!["*".into()]
            } else {
                rest.iter().map(|r| r.name().to_string()).collect()
            },
            permissions: vec![Permission::XCall],
        });
    }
    Ok(out)
}

/// Why no pair covers `rpc` (the rpcs its pairs grant beyond the grant's).
fn why_uncovered(rpc: Rpc, rpcs: RpcSet) -> Option<String> {
    camunda::rows_of(rpc)
        .filter(|r| !r.resource.is_extension())
        .find_map(|r| {
            let (any, star) = camunda::rpcs_granted(r.resource, r.permission);
            let extra = any.union(star).difference(rpcs);
            (!extra.is_empty()).then(|| {
                format!(
                    "{} {} would also grant {}, which the grant does not",
                    r.resource,
                    r.permission,
                    names(extra)
                )
            })
        })
}

/// A mapping rule id for a permission: `write:*` → `perm-write-all`.
fn rule_id(permission: &str, taken: &[String]) -> String {
    let mut slug = String::from("perm-");
    for c in permission.replace('*', "all").chars() {
        if c.is_ascii_alphanumeric() {
            slug.push(c.to_ascii_lowercase());
        } else if !slug.ends_with('-') {
            slug.push('-');
        }
    }
    let slug = slug.trim_end_matches('-').to_string();
    let mut id = slug.clone();
    let mut n = 2;
    while taken.contains(&id) {
        id = format!("{slug}-{n}");
        n += 1;
    }
    id
}

fn tenant_yaml(t: &TenantRule) -> String {
    match t {
        TenantRule::Held => "held".into(),
        TenantRule::Listed(ids) => list(ids.iter().map(|s| &**s)),
    }
}

fn comment(out: &mut String, indent: &str, text: &str) {
    for line in text.lines() {
        let _ = writeln!(out, "{indent}# {line}").map(|()| ());
        if line.is_empty() {
            out.truncate(out.len() - 2);
            out.push('\n');
        }
    }
}

/// The migration report of an 8.7 policy: a policy file in the dialect, explanations as
/// comments. `claim` is the realm's permissions claim.
pub(crate) fn migrate(policy: &Policy, title: &str, claim: &ClaimPath) -> String {
    let mut out = String::new();
    let claim_text = claim_setting(claim);
    comment(
        &mut out,
        "",
        &format!(
            "{title} in the Camunda dialect (zeebe-authz lint --camunda-version 8.7).\n\
             Each permission of the permissions claim ({}) is a mapping rule on that claim; its\n\
             grants are the authorizations of that mapping rule, which decide exactly like them at\n\
             the edge. Grants that cannot be written so are kept as grants, with the reason.\n\
             Mapping rules match a list claim that contains the value (Identity's permissions\n\
             claim is a list); a space-separated string claim (scope) would have to equal it.\n\
             As in the engine, a token with no username (sub) and no client id is no owner of\n\
             anything; Keycloak's tokens always carry sub.",
            claim.segments().join(".")
        ),
    );
    if policy.dialect().is_some() {
        comment(
            &mut out,
            "",
            "The policy already has identity:, mapping_rules: or authorizations:; only its grants:\n\
             are rewritten below: copy the rest over (and keep the mapping rule ids apart).",
        );
    }

    let grants: Vec<(usize, &Grant)> = policy
        .grants()
        .iter()
        .filter(|g| g.authorization().is_none())
        .enumerate()
        .collect();
    if grants.iter().any(|(_, g)| &*g.permission == "write:*") {
        let given: Vec<String> = MIGRATION_APP_WRITE
            .iter()
            .map(|(r, ps)| format!("{r}: {}", ps.join(", ")))
            .collect();
        let gap: Vec<&str> = migration_app_gap().iter().map(|r| r.name()).collect();
        comment(
            &mut out,
            "",
            &format!(
                "\nWhat Camunda 8.8's Identity migration app gives a holder of zeebe-api write:* instead\n\
                 (all on resource id \"*\"; docs/camunda-authorizations.md §3, from a pre-GA snapshot):\n  {}\n\
                 It has no CANCEL_PROCESS_INSTANCE and no MODIFY_PROCESS_INSTANCE, so if 8.8 checks those,\n\
                 the engine refuses {} to a migrated write:* client, which the edge allows:\n\
                 add PROCESS_DEFINITION CANCEL_PROCESS_INSTANCE, MODIFY_PROCESS_INSTANCE on \"*\" to its owner.\n\
                 Topology needs no permission in the engine.",
                given.join("\n  "),
                gap.join(" and ")
            ),
        );
    }
    out.push('\n');

    if policy.rpc_named_permissions() {
        comment(
            &mut out,
            "",
            "Kept: a permission named like an rpc grants that rpc. The dialect's twin would be one mapping\n\
             rule and one x-RPC authorization per rpc; Camunda has none.",
        );
        out.push_str("rpc_named_permissions: true\n\n");
    }

    let mut rules: Vec<(String, String)> = Vec::new();
    let mut authorizations = String::new();
    let mut kept = String::new();
    let mut groups = String::new();
    for (i, g) in &grants {
        let none = Conditions::default();
        let conditions = g.conditions.as_deref().unwrap_or(&none);
        if g.rpcs.is_empty() {
            let _ = writeln!(
                authorizations,
                "  # grants[{i}] ({}) grants no rpc: nothing to migrate",
                g.permission
            );
            continue;
        }
        match rewrite(g) {
            Ok(outs) => {
                let id = match rules.iter().find(|(_, p)| *p == *g.permission) {
                    Some((id, _)) => id.clone(),
                    None => {
                        let taken: Vec<String> = rules.iter().map(|(id, _)| id.clone()).collect();
                        let id = rule_id(&g.permission, &taken);
                        rules.push((id.clone(), g.permission.to_string()));
                        id
                    }
                };
                let _ = writeln!(
                    authorizations,
                    "  # grants[{i}]: {} → {}",
                    g.permission,
                    if g.rpcs == RpcSet::all() {
                        "every rpc".to_string()
                    } else {
                        names(g.rpcs)
                    }
                );
                for o in outs {
                    let partial: Vec<&str> = o
                        .ids
                        .iter()
                        .map(String::as_str)
                        .filter(|id| *id != "*" && id.contains('*'))
                        .collect();
                    if !partial.is_empty() && !o.resource.is_extension() {
                        let _ = writeln!(
                            authorizations,
                            "  # {}: a pattern at the edge only; Camunda 8.8/8.9 take it literally",
                            partial.join(", ")
                        );
                    }
                    if o.resource == ResourceType::Message && o.ids != ["*"] {
                        let _ = writeln!(
                            authorizations,
                            "  # message names: the 8.8 engine checks MESSAGE on \"*\" only (8.9 checks names)"
                        );
                    }
                    let _ = writeln!(authorizations, "  - owner: {{mapping_rule: {}}}", json(&id));
                    let _ = writeln!(authorizations, "    resource_type: {}", o.resource);
                    let _ = writeln!(authorizations, "    resource_ids: {}", list(&o.ids));
                    let _ = writeln!(
                        authorizations,
                        "    permissions: [{}]",
                        o.permissions
                            .iter()
                            .map(|p| p.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    );
                    if let Some(t) = &conditions.tenant {
                        let _ = writeln!(authorizations, "    tenants: {}", tenant_yaml(t));
                    }
                }
            }
            Err(why) => {
                let _ = writeln!(kept, "  # grants[{i}] kept as a grant: {why}");
                let rpcs = if g.rpcs == RpcSet::all() {
                    list(["*"])
                } else if g.conditions.is_some() {
                    // A group: explicit rpc names must each carry every condition's field.
                    let name = format!("grants-{i}-rpcs");
                    let _ = writeln!(groups, "  {name}: {}", list(g.rpcs.iter().map(Rpc::name)));
                    list([name])
                } else {
                    list(g.rpcs.iter().map(Rpc::name))
                };
                let _ = writeln!(kept, "  - permission: {}", json(&g.permission));
                let _ = writeln!(kept, "    rpcs: {rpcs}");
                let mut when = Vec::new();
                if let Some(t) = &conditions.tenant {
                    when.push(format!("tenant: {}", tenant_yaml(t)));
                }
                for (k, p) in &conditions.patterns {
                    when.push(format!(
                        "{}: {}",
                        k.key(),
                        list(p.iter().map(|p| p.as_str()))
                    ));
                }
                if !when.is_empty() {
                    let _ = writeln!(kept, "    when: {{{}}}", when.join(", "));
                }
            }
        }
    }
    if !rules.is_empty() {
        out.push_str("mapping_rules:\n");
        for (id, permission) in &rules {
            let _ = writeln!(
                out,
                "  - {{id: {}, claim: {}, value: {}}}",
                json(id),
                json(&claim_text),
                json(permission)
            );
        }
        out.push('\n');
    }
    if !authorizations.is_empty() {
        out.push_str("authorizations:\n");
        out.push_str(&authorizations);
        out.push('\n');
    }
    if !groups.is_empty() {
        out.push_str("groups:\n");
        out.push_str(&groups);
        out.push('\n');
    }
    if !kept.is_empty() {
        out.push_str("grants:\n");
        out.push_str(&kept);
        out.push('\n');
    }
    let rule = |r: PathRule| match r {
        PathRule::Deny => "deny",
        PathRule::Authenticated => "authenticated",
    };
    let _ = writeln!(out, "unknown_rpcs: {}", rule(policy.unknown_rpcs()));
    let _ = writeln!(out, "other_paths: {}", rule(policy.other_paths()));
    out
}

#[cfg(test)]
mod tests {
    use std::path::Path;
    use std::sync::Arc;

    use serde_json::json;

    use super::*;
    use zeebe_authz_core::body::{FieldPath, RequestBody, frame};
    use zeebe_authz_core::diag::{Diagnostics, Severity};
    use zeebe_authz_core::policy::condition::FieldSource;

    fn compile(name: &str, text: &str) -> Policy {
        let file: Arc<Path> = Arc::from(Path::new(name));
        let mut d = Diagnostics::default();
        let p = zeebe_authz_core::policy::compile(&file, text, &mut d);
        let errors: Vec<String> = d
            .items()
            .iter()
            .filter(|d| d.severity == Severity::Error)
            .map(ToString::to_string)
            .collect();
        assert!(errors.is_empty(), "{name}:\n{}\n{text}", errors.join("\n"));
        p.unwrap()
    }

    fn claim() -> ClaimPath {
        ClaimPath::new(["permissions", "zeebe-api"])
    }

    fn migrated(name: &str, text: &str) -> (Policy, String) {
        let yaml = migrate(&compile(name, text), name, &claim());
        (compile(&format!("{name} (migrated)"), &yaml), yaml)
    }

    fn varint(out: &mut Vec<u8>, mut v: u64) {
        while v >= 0x80 {
            out.push((v as u8) | 0x80);
            v >>= 7;
        }
        out.push(v as u8);
    }

    fn string_field(out: &mut Vec<u8>, number: u32, bytes: &[u8]) {
        varint(out, u64::from(number) << 3 | 2);
        varint(out, bytes.len() as u64);
        out.extend_from_slice(bytes);
    }

    /// A request message with these string fields (nested ones inside their outer field).
    fn encode(fields: &[(FieldPath, &str)]) -> Vec<u8> {
        let mut top = Vec::new();
        let mut nested: BTreeMap<u32, Vec<u8>> = BTreeMap::new();
        for (path, value) in fields {
            match path.outer {
                None => string_field(&mut top, path.number, value.as_bytes()),
                Some(n) => {
                    string_field(nested.entry(n).or_default(), path.number, value.as_bytes())
                }
            }
        }
        for (n, inner) in nested {
            string_field(&mut top, n, &inner);
        }
        top
    }

    /// Every combination of matching and non-matching values of the fields `rpc` carries.
    fn bodies(rpc: Rpc) -> Vec<Vec<u8>> {
        let mut out: Vec<Vec<(FieldPath, &str)>> = vec![Vec::new()];
        for kind in ConditionKind::ALL {
            let Some(FieldSource::Body(path)) = field_source(rpc, kind) else {
                continue;
            };
            let values: &[&str] = match kind {
                ConditionKind::Tenant => &["", "tenant-a", "tenant-b"],
                _ => &["order-1", "payment-charge", "risk", "other"],
            };
            out = out
                .iter()
                .flat_map(|fields| {
                    values.iter().map(move |v| {
                        let mut f = fields.clone();
                        f.push((path, *v));
                        f
                    })
                })
                .collect();
        }
        // And no body at all: a conditional grant refuses it, an unconditional one does not.
        out.iter()
            .map(|f| frame(&encode(f)))
            .chain([Vec::new()])
            .collect()
    }

    /// The decisions on which two policies differ, over every subset of `permissions`, two
    /// sets of held tenants, every rpc and [`bodies`]; and how many decisions were allowed.
    fn differences(a: &Policy, b: &Policy, permissions: &[&str]) -> (Vec<String>, usize, usize) {
        let (mut diffs, mut allowed, mut total) = (Vec::new(), 0, 0);
        let bodies: Vec<(Rpc, Vec<Vec<u8>>)> = Rpc::all().map(|r| (r, bodies(r))).collect();
        for mask in 0u32..(1 << permissions.len()) {
            let held: Vec<&str> = (0..permissions.len())
                .filter(|i| mask & (1 << i) != 0)
                .map(|i| permissions[i])
                .collect();
            let claims = json!({"sub": "someone", "permissions": {"zeebe-api": held}});
            let (ga, gb) = (
                a.grants_for_token(&claims, held.iter().copied()),
                b.grants_for_token(&claims, held.iter().copied()),
            );
            for tenants in [vec![], vec![Box::<str>::from("tenant-a")]] {
                for (rpc, bodies) in &bodies {
                    for raw in bodies {
                        let body = RequestBody {
                            raw,
                            encoding: None,
                            partial: false,
                            content_type: None,
                        };
                        let x = a.authorize(&ga, &tenants, *rpc, &body).is_ok();
                        let y = b.authorize(&gb, &tenants, *rpc, &body).is_ok();
                        total += 1;
                        allowed += usize::from(x);
                        if x != y && diffs.len() < 20 {
                            diffs.push(format!(
                                "{held:?} tenants {tenants:?} {rpc} body {raw:?}: {x} vs {y}"
                            ));
                        }
                    }
                }
            }
        }
        (diffs, allowed, total)
    }

    fn assert_migrates_exactly(name: &str, text: &str, extra: &[&str]) -> String {
        let original = compile(name, text);
        let (migrated, yaml) = migrated(name, text);
        let mut permissions: Vec<&str> = original.grants().iter().map(|g| &*g.permission).collect();
        permissions.dedup();
        permissions.extend_from_slice(extra);
        let (diffs, allowed, total) = differences(&original, &migrated, &permissions);
        assert!(
            diffs.is_empty(),
            "{name}: the migration decides differently:\n{}\n{yaml}",
            diffs.join("\n")
        );
        assert!(
            allowed > 0 && allowed < total,
            "{name}: {allowed} of {total} allowed"
        );
        yaml
    }

    #[test]
    fn the_shipped_policies_migrate_to_authorizations_that_decide_exactly_like_them() {
        let default = assert_migrates_exactly(
            "default.yaml",
            zeebe_authz_core::policy::DEFAULT_POLICY,
            &["CreateProcessInstance", "unrelated"],
        );
        assert!(default.contains("rpc_named_permissions: true"), "{default}");
        assert!(default.contains(
            r#"{id: "perm-write-all", claim: "$['permissions']['zeebe-api']", value: "write:*"}"#
        ));
        assert!(!default.contains("\ngrants:"), "nothing kept:\n{default}");

        let dev = assert_migrates_exactly(
            "dev.yaml",
            zeebe_authz_core::policy::DEV_POLICY,
            &["CompleteJob"],
        );
        assert!(dev.contains("resource_ids: [\"payment*\"]"), "{dev}");
        assert!(dev.contains("tenants: held"), "{dev}");

        let multi = assert_migrates_exactly(
            "multi-tenant.yaml",
            include_str!("../../policies/multi-tenant.yaml"),
            &[],
        );
        // orders-starter's process id condition cannot become PROCESS_DEFINITION ids (that
        // pair also grants EvaluateConditional), nor survive as x-RPC: it stays a grant.
        assert!(
            multi.contains("# grants[3] kept as a grant: as x-RPC the condition would be lost: CreateProcessInstance carries the process id"),
            "{multi}"
        );
        assert!(
            multi.contains("  - permission: \"orders-starter\""),
            "{multi}"
        );
    }

    #[test]
    fn the_comparison_sees_a_wrong_migration() {
        // The comparison must be able to fail: dev.yaml's tenant and job-type grants are not
        // in default.yaml, and a migration that drops a tenant condition decides differently.
        let dev = compile("dev.yaml", zeebe_authz_core::policy::DEV_POLICY);
        let default = compile("default.yaml", zeebe_authz_core::policy::DEFAULT_POLICY);
        let (diffs, _, _) = differences(&dev, &default, &["tenant:write", "worker:payment"]);
        assert!(!diffs.is_empty());
        let yaml = migrate(&dev, "dev.yaml", &claim());
        let broken = yaml.replacen("    tenants: held\n", "", 1);
        assert_ne!(broken, yaml);
        let broken = compile("broken.yaml", &broken);
        let (diffs, _, _) = differences(&dev, &broken, &["tenant:write"]);
        assert!(!diffs.is_empty(), "a lost tenant condition went unseen");
    }

    #[test]
    fn grants_the_dialect_cannot_say_stay_grants_with_the_reason() {
        let text = "groups:\n  starts: [CreateProcessInstance, CreateProcessInstanceWithResult]\ngrants:\n  - {permission: signals, rpcs: [BroadcastSignal], when: {signal_name: [\"order-*\"]}}\n  - {permission: one-job-rpc, rpcs: [ActivateJobs]}\n  - {permission: starter, rpcs: [starts], when: {bpmn_process_id: [order]}}\n  - {permission: messages, rpcs: [PublishMessage], when: {message_name: [\"order-*\"], tenant: [tenant-a]}}\n  - {permission: decide, rpcs: [EvaluateDecision], when: {decision_id: [risk]}}\n";
        let yaml = assert_migrates_exactly("mixed.yaml", text, &[]);
        for reason in [
            "# grants[0] kept as a grant: a signal_name condition: no Camunda resource type has the signal name as its id",
            "# grants[1] kept as a grant: x-JOB_TYPE grants ActivateJobs, StreamActivatedJobs together, and the grant has only ActivateJobs",
            "# grants[2] kept as a grant: as x-RPC the condition would be lost: CreateProcessInstance carries the process id its condition checks; PROCESS_DEFINITION CREATE_PROCESS_INSTANCE would also grant BroadcastSignal, EvaluateConditional, which the grant does not",
        ] {
            assert!(yaml.contains(reason), "{reason}\n{yaml}");
        }
        // MESSAGE CREATE also grants CorrelateMessage (REST), which the grant does not.
        assert!(yaml.contains("# grants[3] kept as a grant: as x-RPC the condition would be lost: PublishMessage carries the message name its condition checks; MESSAGE CREATE would also grant CorrelateMessage, which the grant does not"), "{yaml}");
        // Decision ids are resource ids.
        assert!(
            yaml.contains("    resource_type: DECISION_DEFINITION\n    resource_ids: [\"risk\"]\n"),
            "{yaml}"
        );
    }

    #[test]
    fn mapping_rule_ids_are_slugs_of_the_permission_and_unique() {
        assert_eq!(rule_id("write:*", &[]), "perm-write-all");
        assert_eq!(rule_id("Orders Starter!", &[]), "perm-orders-starter");
        assert_eq!(
            rule_id("write-all", &["perm-write-all".into()]),
            "perm-write-all-2"
        );
    }
}
