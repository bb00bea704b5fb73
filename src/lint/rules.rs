//! Lint rules on `grants:` that read a compiled grant: a condition its REST-only operations
//! cannot carry, and a grant another grant makes redundant.

use zeebe_authz_core::catalog::Rpc;
use zeebe_authz_core::diag::Diagnostics;
use zeebe_authz_core::policy;
use zeebe_authz_core::policy::condition::field_source;

/// Rule "condition not applied": a conditional grant whose REST-only operations (granted by
/// `rest:*`, `admin:*` or a group) carry no member a condition reads. The condition cannot be
/// evaluated on them, so they are granted without it: `rest:*` under `when: {tenant: held}`
/// lets a token search user tasks, process instances, … whatever its tenants. (A key-only
/// gRPC rpc under `*` is the same by design, documented: the broker checks the key.) Naming
/// such an operation explicitly is already a compile error.
pub(super) fn condition_not_applied(i: usize, g: &policy::Grant, diags: &mut Diagnostics) {
    let Some(conditions) = &g.conditions else {
        return;
    };
    for kind in conditions.kinds() {
        let free: Vec<&str> = g
            .rpcs
            .iter()
            .filter(|r| !r.is_grpc() && field_source(*r, kind).is_none())
            .map(Rpc::name)
            .collect();
        if free.is_empty() {
            continue;
        }
        let carrying: Vec<&str> = g
            .rpcs
            .iter()
            .filter(|r| !r.is_grpc() && field_source(*r, kind).is_some())
            .map(Rpc::name)
            .collect();
        const SHOWN: usize = 6;
        let mut names = free[..free.len().min(SHOWN)].join(", ");
        if free.len() > SHOWN {
            names.push_str(&format!(", … ({} more)", free.len() - SHOWN));
        }
        let noun = kind.noun();
        let only = if carrying.is_empty() {
            String::from("the operations that carry one")
        } else {
            carrying.join(", ")
        };
        diags
            .warning(
                g.span.clone(),
                format!("grants[{i}].when.{}", kind.key()),
                format!(
                    "condition not applied: permission '{}' gets {} REST-only operation(s) that carry no {noun}, so its {} condition cannot be evaluated on them and they are allowed whatever the request's {noun} ({names})",
                    g.permission,
                    free.len(),
                    kind.key(),
                ),
            )
            .hint(format!(
                "to keep the condition, grant only {only} here (by name, not 'rest:*'); to allow the others in every {noun}, grant them in a separate grant without 'when:'"
            ));
    }
}

/// The grant that makes grant `i` redundant: same permission, and it grants every rpc of
/// grant `i` without conditions. Of two identical grants, the later one is the redundant one.
pub(super) fn shadowing_grant(grants: &[policy::Grant], i: usize) -> Option<usize> {
    let g = &grants[i];
    grants.iter().enumerate().find_map(|(j, other)| {
        if j == i || other.permission != g.permission || other.source != g.source {
            return None;
        }
        let other_unconditional = other.rpcs.difference(other.conditional_rpcs);
        if !other_unconditional.is_superset(g.rpcs) {
            return None;
        }
        // Mutual cover (same rpcs, both unconditional): only the later grant is redundant.
        let mutual = g
            .rpcs
            .difference(g.conditional_rpcs)
            .is_superset(other.rpcs);
        (!mutual || j < i).then_some(j)
    })
}
