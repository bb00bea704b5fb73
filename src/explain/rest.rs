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
