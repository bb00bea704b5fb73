//! The wildcards of a grant's `rpcs:` at the REST door: `*` keeps meaning every gRPC rpc (and
//! so its REST twin, the same operation), `rest:*` the REST-only operations but identity
//! management, `admin:*` identity and cluster management; and what lint says of them.

use std::path::Path;
use std::sync::Arc;

use serde_saphyr::Spanned;

use crate::catalog::{OperationClass, Rpc};
use crate::diag::{Diagnostics, Span};

/// Says what the wildcards mean at the REST door. `*` keeps meaning the gRPC rpcs, and so
/// their REST twins, and no REST-only operation: a policy that grants REST-only operations
/// (by name, `rest:*` or `admin:*`) is told so where it first uses `*` (a policy written for
/// gRPC alone is left silent: it grants through both doors exactly what it granted). Every
/// `admin:*` is a warning: it grants identity management, a privilege escalation.
/// `lists`: each list of names with its key (`grants[0].rpcs`, `groups.jobs`).
pub(super) fn note_the_wildcards(
    file: &Arc<Path>,
    lists: &[(String, &[Spanned<String>])],
    diags: &mut Diagnostics,
) {
    let lists = || lists.iter().map(|(k, names)| (k, *names));
    let addresses_rest = lists().flat_map(|(_, names)| names.iter()).any(|n| {
        matches!(n.value.as_str(), "rest:*" | "admin:*")
            || Rpc::from_name(&n.value).is_some_and(|r| !r.is_grpc())
    });
    let mut star_noted = !addresses_rest;
    for (key, names) in lists() {
        for (j, name) in names.iter().enumerate() {
            match name.value.as_str() {
                "*" if !star_noted => {
                    star_noted = true;
                    diags
                        .note(
                            Span::of(file, name),
                            format!("{key}[{j}]"),
                            "'*' grants every gRPC rpc and its REST twin (POST /v2/jobs/activation is ActivateJobs), and no REST-only operation",
                        )
                        .hint("grant REST-only operations by name (SearchUserTasks) or with 'rest:*'; identity management only by name or 'admin:*'");
                }
                "admin:*" => {
                    diags
                        .warning(
                            Span::of(file, name),
                            format!("{key}[{j}]"),
                            "'admin:*' grants identity management (users, groups, roles, tenants, mapping rules, authorizations): a holder can grant itself anything",
                        )
                        .hint("name the few operations the holder needs (SearchUsers, GetTenant, …)");
                }
                _ => {}
            }
        }
    }
}

/// Whether `name` is one of the wildcards: `*` (every gRPC rpc, and so its REST twin),
/// `rest:*` (every REST-only operation but identity management), `admin:*` (identity and
/// cluster management).
pub(super) fn is_wildcard(name: &str) -> bool {
    [
        OperationClass::Grpc,
        OperationClass::Rest,
        OperationClass::Admin,
    ]
    .iter()
    .any(|c| c.wildcard() == name)
}
