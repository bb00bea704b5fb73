//! Lint for the Camunda dialect: what the engine would make of a policy's authorizations.
//!
//! The edge and the engine read the same authorization differently in two places: a partial
//! wildcard (`order-*`) is a pattern at the edge and a literal id in Camunda 8.8/8.9 (a
//! warning), and `x-` resource types exist only at the edge (a note, which does not fail
//! lint). `--camunda-version 8.8|8.9` adds a report: per authorization, whether Camunda has a
//! twin for it, and the identity-as-code settings of those that do, so the engine can be
//! configured to decide as the edge does.

use std::fmt::Write as _;

use zeebe_authz_core::catalog::Rpc;
use zeebe_authz_core::claims::ClaimPath;
use zeebe_authz_core::diag::{Diagnostics, Span};
use zeebe_authz_core::policy::camunda::{
    self, CamundaVersion, Engine, OwnerType, Permission, ResourceType,
};
use zeebe_authz_core::policy::{Authorization, Policy};

/// The warnings and notes of the Camunda dialect. `spans[i]` is where `authorizations[i]`
/// is written (the grant's own span when it is missing).
pub(crate) fn camunda_findings(policy: &Policy, spans: &[Span], diags: &mut Diagnostics) {
    for g in policy.grants() {
        let Some(a) = g.authorization() else {
            continue;
        };
        let span = spans
            .get(a.index)
            .cloned()
            .unwrap_or_else(|| g.span.clone());
        let key = format!("authorizations[{}]", a.index);
        if a.resource.is_extension() {
            diags.note(
                span,
                key,
                format!(
                    "{} is an extension of zeebe-authz: enforced only at the edge (Camunda has no twin)",
                    a.resource
                ),
            );
            continue;
        }
        let partial: Vec<&str> = a.partial_wildcards().collect();
        if partial.is_empty() {
            continue;
        }
        let quoted = partial
            .iter()
            .map(|p| format!("`{p}`"))
            .collect::<Vec<_>>()
            .join(", ");
        diags
            .warning(
                span,
                format!("{key}.resource_ids"),
                format!(
                    "Camunda 8.8 treats {quoted} literally: the edge matches {}, the engine {}, so what the edge allows the engine refuses",
                    if partial.len() == 1 { "it as a pattern" } else { "them as patterns" },
                    if partial.len() == 1 { "as the literal resource id" } else { "as literal resource ids" }
                ),
            )
            .hint("list the ids themselves (or \"*\"); a partial wildcard works only at the edge");
    }
}

/// Why an authorization has no Camunda twin in `version`, or `None` when it has one.
fn no_twin(a: &Authorization, version: CamundaVersion) -> Option<String> {
    if a.resource.is_extension() {
        return Some(format!(
            "{} is an extension, enforced only at the edge",
            a.resource
        ));
    }
    let valid = camunda::permissions_of(a.resource, version);
    let missing: Vec<&str> = a
        .permissions
        .iter()
        .filter(|p| !valid.contains(p))
        .map(|p| p.as_str())
        .collect();
    if !missing.is_empty() {
        return Some(format!(
            "{} {} not a permission of {} in Camunda {version}",
            missing.join(", "),
            if missing.len() == 1 { "is" } else { "are" },
            a.resource
        ));
    }
    if version == CamundaVersion::V8_8
        && a.resource == ResourceType::Message
        && a.resource_ids.iter().any(|id| &**id != "*")
    {
        return Some(
            "the 8.8 engine checks MESSAGE on \"*\" only (message names are checked from 8.9 on), so these ids grant nothing there".into(),
        );
    }
    if a.owner.0 == OwnerType::Role {
        return Some(format!(
            "Camunda has no roles claim: role '{}' must be assigned to its users and clients in the engine; then an authorization of owner type ROLE is the twin",
            a.owner.1
        ));
    }
    if let Some(tenants) = &a.tenants {
        let which = if tenants.iter().any(|t| &**t == "held") {
            "the tenants its tokens carry (`tenants: held` reads them from the token; Camunda reads none)".to_string()
        } else {
            format!("tenant(s) {}", tenants.join(", "))
        };
        return Some(format!(
            "Camunda assigns tenants to owners, not to authorizations: assign {} '{}' to {which} in Camunda, then the same authorization without tenants is the twin",
            a.owner.0.camunda_name(),
            a.owner.1
        ));
    }
    None
}

/// A claim as Camunda's settings take it: the name itself, or a JSONPath of keys.
pub(crate) fn claim_setting(claim: &ClaimPath) -> String {
    match claim.segments() {
        [one] if !one.contains(['.', '$', '[', '\'']) => one.to_string(),
        segments => {
            let mut s = String::from("$");
            for seg in segments {
                let _ = write!(s, "['{}']", seg.replace('\'', "\\'"));
            }
            s
        }
    }
}

/// `KEY=value`, the value as it is (an env file or a Kubernetes `env` entry takes it so).
fn env_line(out: &mut String, key: &str, value: &str) {
    let _ = writeln!(out, "{key}={value}");
}

fn owner_text(a: &Authorization) -> String {
    format!("{} {}", a.owner.0.key(), a.owner.1)
}

/// The `--camunda-version 8.8|8.9` report of one policy: each authorization's twin (or why
/// it has none), the identity-as-code settings of the twins, and the rpcs the engine checks
/// only after resolving a key.
pub(crate) fn twin_report(policy: &Policy, title: &str, version: CamundaVersion) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "Camunda {version} twins of {title}:");
    let authorizations: Vec<&Authorization> = policy
        .grants()
        .iter()
        .filter_map(|g| g.authorization())
        .collect();
    let mut twins = Vec::new();
    for a in &authorizations {
        let head = format!(
            "  authorizations[{}] ({}, {} [{}]):",
            a.index,
            owner_text(a),
            a.resource,
            a.resource_ids.join(", ")
        );
        match no_twin(a, version) {
            Some(why) => {
                let _ = writeln!(out, "{head} no twin: {why}");
            }
            None => {
                let partial: Vec<&str> = a.partial_wildcards().collect();
                if partial.is_empty() {
                    let _ = writeln!(out, "{head} twin");
                } else {
                    let _ = writeln!(
                        out,
                        "{head} twin, but LITERAL in Camunda: {} {} only the resource id that is exactly that text",
                        partial.join(", "),
                        if partial.len() == 1 {
                            "matches"
                        } else {
                            "match"
                        }
                    );
                }
                twins.push(*a);
            }
        }
    }
    if authorizations.is_empty() {
        let _ = writeln!(
            out,
            "  no authorizations: (grants: are not read by the {version} engine; `--camunda-version 8.7` migrates them)"
        );
    }
    let kept = policy
        .grants()
        .iter()
        .filter(|g| g.authorization().is_none())
        .count();
    if kept > 0 && !authorizations.is_empty() {
        let _ = writeln!(
            out,
            "  {kept} grant(s) under grants: have no twin: the {version} engine does not read the permissions claim"
        );
    }

    if let Some(dialect) = policy.dialect() {
        out.push_str(
            "\nCamunda identity-as-code settings (Orchestration Cluster environment):\n\
             # Spelled as the 8.8/8.9 docs sources spell them (…_OWNERTYPE, …_OWNERID, …_RESOURCETYPE, …_RESOURCEID);\n\
             # the live docs pages write …_OWNER_TYPE, …_OWNER_ID, …_RESOURCE_TYPE, …_RESOURCE_ID. Spring Boot's relaxed\n\
             # binding should accept both, which is not verified: check one setting before relying on it.\n\
             # Initialization creates missing entities and never updates existing ones. Values are\n\
             # printed as they are (an env file, a Kubernetes env entry): quote them for a shell.\n",
        );
        let identity = &dialect.identity;
        let oidc = "CAMUNDA_SECURITY_AUTHENTICATION_OIDC_";
        env_line(
            &mut out,
            &format!("{oidc}USERNAMECLAIM"),
            &claim_setting(&identity.username),
        );
        match &identity.client_id {
            Some(c) => env_line(&mut out, &format!("{oidc}CLIENTIDCLAIM"), &claim_setting(c)),
            None => out.push_str(
                "# no identity.client_id_claim: Camunda then treats every token as a user\n",
            ),
        }
        if identity.prefer_username {
            env_line(&mut out, &format!("{oidc}PREFERUSERNAMECLAIM"), "true");
        }
        if let Some(g) = &identity.groups {
            env_line(&mut out, &format!("{oidc}GROUPSCLAIM"), &claim_setting(g));
        }
        if identity.roles.is_some() {
            out.push_str(
                "# identity.roles_claim has no Camunda setting: Camunda has no roles claim, roles are assigned in the engine\n",
            );
        }
        for (n, rule) in dialect.mapping_rules.iter().enumerate() {
            let key = format!("CAMUNDA_SECURITY_INITIALIZATION_MAPPINGRULES_{n}_");
            env_line(&mut out, &format!("{key}MAPPINGRULEID"), &rule.id);
            env_line(
                &mut out,
                &format!("{key}CLAIMNAME"),
                &claim_setting(&rule.claim),
            );
            env_line(&mut out, &format!("{key}CLAIMVALUE"), &rule.value);
        }
        let mut n = 0;
        for a in &twins {
            let permissions = a
                .permissions
                .iter()
                .map(|p| p.as_str())
                .collect::<Vec<_>>()
                .join(",");
            for id in a.resource_ids.iter() {
                let key = format!("CAMUNDA_SECURITY_INITIALIZATION_AUTHORIZATIONS_{n}_");
                let _ = writeln!(
                    out,
                    "# authorizations[{}]{}",
                    a.index,
                    if id.contains('*') && &**id != "*" {
                        " (LITERAL in Camunda: a partial wildcard)"
                    } else {
                        ""
                    }
                );
                env_line(
                    &mut out,
                    &format!("{key}OWNERTYPE"),
                    a.owner.0.camunda_name(),
                );
                env_line(&mut out, &format!("{key}OWNERID"), &a.owner.1);
                env_line(&mut out, &format!("{key}RESOURCETYPE"), a.resource.as_str());
                env_line(&mut out, &format!("{key}RESOURCEID"), id);
                env_line(&mut out, &format!("{key}PERMISSIONS"), &permissions);
                n += 1;
            }
        }
    }

    let granted = policy.granted_somewhere();
    let resolved = rows_where(version, granted, Engine::Resolves);
    if !resolved.is_empty() {
        let _ = writeln!(
            out,
            "\nThe {version} engine checks these operations only after resolving a key to its process or resource; the edge \
             cannot see it, so it lets any owner of the permission (on any id) through and the engine decides:\n  {}",
            resolved.join("\n  ")
        );
    }
    let filtered = rows_where(version, granted, Engine::Filters);
    if !filtered.is_empty() {
        let _ = writeln!(
            out,
            "The {version} engine refuses none of these but leaves out what the owner lacks (jobs, search results):\n  {}",
            filtered.join("\n  ")
        );
    }
    out
}

/// `Rpc (RESOURCE PERMISSION)` for the table rows of granted rpcs where the engine does `what`.
fn rows_where(
    version: CamundaVersion,
    granted: zeebe_authz_core::catalog::RpcSet,
    what: Engine,
) -> Vec<String> {
    let mut lines: Vec<String> = Vec::new();
    for rpc in Rpc::operations().filter(|r| granted.contains(*r)) {
        let rows: Vec<String> = camunda::rows_of(rpc)
            .filter(|r| r.engine(version) == what)
            .map(|r| format!("{} {}", r.resource, r.permission))
            .collect();
        if !rows.is_empty() {
            lines.push(format!("{rpc} ({})", rows.join(" or ")));
        }
    }
    lines
}

/// What Camunda 8.8's Identity migration app gives a holder of `zeebe-api` `write:*`, all on
/// resource id `*` (docs/camunda-authorizations.md §3, MIG: a pre-GA snapshot).
pub(crate) const MIGRATION_APP_WRITE: &[(&str, &[&str])] = &[
    ("MESSAGE", &["CREATE"]),
    ("SYSTEM", &["READ", "UPDATE"]),
    (
        "RESOURCE",
        &[
            "CREATE",
            "DELETE_FORM",
            "DELETE_PROCESS",
            "DELETE_DRD",
            "DELETE_RESOURCE",
        ],
    ),
    (
        "PROCESS_DEFINITION",
        &[
            "CREATE_PROCESS_INSTANCE",
            "UPDATE_PROCESS_INSTANCE",
            "UPDATE_USER_TASK",
            "DELETE_PROCESS_INSTANCE",
        ],
    ),
    (
        "DECISION_DEFINITION",
        &["CREATE_DECISION_INSTANCE", "DELETE_DECISION_INSTANCE"],
    ),
    ("DECISION_REQUIREMENTS_DEFINITION", &["UPDATE", "DELETE"]),
];

/// The rpcs the 8.8 engine checks that the Identity migration app's `write:*` set grants
/// none of the rows of (CancelProcessInstance, ModifyProcessInstance).
pub(crate) fn migration_app_gap() -> Vec<Rpc> {
    let given = |resource: ResourceType, permission: Permission| {
        MIGRATION_APP_WRITE
            .iter()
            .any(|(r, ps)| *r == resource.as_str() && ps.contains(&permission.as_str()))
    };
    Rpc::all()
        .filter(|rpc| {
            let rows: Vec<_> = camunda::rows_of(*rpc)
                .filter(|r| r.engine(CamundaVersion::V8_8) != Engine::Absent)
                .filter(|r| !r.resource.is_extension())
                .collect();
            !rows.is_empty() && !rows.iter().any(|r| given(r.resource, r.permission))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_migration_app_misses_cancel_and_modify() {
        let gap: Vec<&str> = migration_app_gap().iter().map(|r| r.name()).collect();
        assert_eq!(gap, ["CancelProcessInstance", "ModifyProcessInstance"]);
    }

    #[test]
    fn claims_are_written_as_camunda_reads_them() {
        assert_eq!(claim_setting(&ClaimPath::new(["azp"])), "azp");
        assert_eq!(
            claim_setting(&ClaimPath::new(["permissions", "zeebe-api"])),
            "$['permissions']['zeebe-api']"
        );
        assert_eq!(claim_setting(&ClaimPath::new(["it's"])), r"$['it\'s']");
        assert_eq!(claim_setting(&ClaimPath::new(["a.b"])), "$['a.b']");
    }
}
