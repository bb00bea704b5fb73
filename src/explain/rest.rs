//! `explain --rest`: a REST request (method, path, JSON body) decided as at the gateway's REST
//! door, and the step that says which operation its path reaches.

use zeebe_authz_core::rest::{RestTarget, parse_rest_path};
use zeebe_authz_server::realm::Realm;

use super::{Step, read_input, step};

/// A REST request to explain.
#[derive(Debug, Clone)]
pub struct RestCall {
    /// `POST`.
    pub method: String,
    /// `/v2/jobs/activation`.
    pub path: String,
    /// The JSON body (empty for none).
    pub body: Vec<u8>,
}

/// `--rest METHOD PATH` and `--body` as a [`RestCall`] (`None` without `--rest`).
pub(super) fn rest_call(
    method_path: Option<&[String]>,
    body: Option<&str>,
) -> Result<Option<RestCall>, String> {
    let Some([method, path]) = method_path else {
        return Ok(None);
    };
    let body = match body {
        Some(b) => read_input("--body", b)?.into_bytes(),
        None => Vec::new(),
    };
    Ok(Some(RestCall {
        method: method.clone(),
        path: path.clone(),
        body,
    }))
}

/// What a REST path reaches at the realm's base path.
pub(super) fn trace_rest(realm: &Realm, method: &str, path: &str) -> Step {
    match parse_rest_path(&realm.rest_base_path, method, path) {
        Some(RestTarget::Route(route)) => {
            let ops: Vec<&str> = route.operations.iter().map(|r| r.name()).collect();
            let kind = if route.operations[0].is_grpc() {
                "the REST twin of the rpc"
            } else {
                "a REST-only operation"
            };
            step(
                "path",
                Some(true),
                format!(
                    "{method} {}{} is {} ({kind}), since Camunda {}",
                    realm.rest_base_path,
                    route.template,
                    ops.join(" or "),
                    route.since
                ),
            )
        }
        Some(RestTarget::Unknown) => step(
            "path",
            Some(false),
            format!("no REST operation of the table is {method} {path}"),
        ),
        Some(RestTarget::Unroutable(why)) => step(
            "path",
            Some(false),
            format!("the gateway may route the path otherwise: {why}"),
        ),
        None => step(
            "path",
            Some(false),
            format!(
                "not under the realm's REST base path {}",
                realm.rest_base_path
            ),
        ),
    }
}

/// ` by USER READ`: the dialect's table row through which an authorization grants `rpc` (a gRPC
/// rpc or a REST-only operation); empty for a grant of the permissions claim.
pub(super) fn row_note(
    grant: &zeebe_authz_core::policy::Grant,
    rpc: zeebe_authz_core::catalog::Rpc,
) -> String {
    grant.authorization().map_or_else(String::new, |a| {
        let row = zeebe_authz_core::policy::camunda::row_for(rpc, a.resource, &a.permissions);
        format!(" by {} {}", row.resource, row.permission)
    })
}

/// The grants of the operation(s) a REST path reaches, held or not by the token's
/// `permissions` and dialect `owners` (with the dialect's table row of each authorization).
pub(super) fn trace_rest_grants(
    realm: &Realm,
    method: &str,
    path: &str,
    (permissions, owners): (&[&str], &[String]),
    steps: &mut Vec<Step>,
) {
    let Some(RestTarget::Route(route)) = parse_rest_path(&realm.rest_base_path, method, path)
    else {
        return;
    };
    for &op in route.operations {
        for grant in realm.policy.grants().iter().filter(|g| g.rpcs.contains(op)) {
            let held = match grant.authorization() {
                None => permissions.contains(&&*grant.permission),
                Some(_) => owners.iter().any(|o| **o == *grant.permission),
            };
            steps.push(step(
                "grant",
                Some(held),
                format!(
                    "{}:{}: {} grants {op}{}{}",
                    grant.span.file.display(),
                    grant.span.line,
                    grant.permission,
                    row_note(grant, op),
                    if held { "" } else { " (not held)" }
                ),
            ));
        }
    }
}
