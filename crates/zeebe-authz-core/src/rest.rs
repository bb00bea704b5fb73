//! The REST door's paths, read as the gateway routes them: which route of the catalog a
//! request's method and `:path` reach, or why no decision may be taken on it.
//!
//! The gateway is a Spring Boot 3 application (Spring MVC 6 behind Tomcat, with Spring
//! Security in front). Spring MVC 6 matches a request with `PathPatternParser` patterns against
//! `RequestPath.pathWithinApplication()` (spring-framework `web/util/pattern/PathPattern.java`,
//! `http/server/PathContainer.java`, `DefaultPathContainer.java`): each path segment is
//! matched by its `valueToMatch`, which is the segment **percent-decoded with its `;` matrix
//! parameters cut off**; patterns are case-sensitive; `matchOptionalTrailingSeparator` is off
//! by default since 6.0, so `/topology/` is no route; a `{variable}` captures one non-empty
//! decoded segment. So `/v2/jobs;x=1/activation` and `/v2/jobs/activ%61tion` reach
//! ActivateJobs there, whatever a plain reading of the text says; Tomcat also resolves `.`
//! and `..` segments and merges `//` in the decoded URI it maps the context path with, and
//! Spring Security's `StrictHttpFirewall` refuses most of these spellings outright (in the
//! gateway's chain, not something to rely on).
//!
//! The rule here: a path is judged as a route only when it is **plain**, every segment of
//! unreserved characters (and the sub-delimiters and `:`/`@` a username or id may hold),
//! with no `%`, `;`, `\`, empty, `.` or `..` segment; then the plain reading *is* Spring's
//! reading, segment for segment. A path that is not plain but could reach the REST API (it
//! holds any of those, or starts with the base path in another case) is refused as
//! unroutable, whatever the policy says of other paths: it cannot be proved to reach the
//! operation it appears to, nor proved not to. The query string never takes part in routing.
//!
//! Path variables are checked as the controllers bind them: a `…Key` variable is a Java
//! `long` (`@PathVariable long jobKey`; Spring converts with `NumberUtils.parseNumber`, which
//! also takes hex `0x…` and `#…`): only decimal digits that fit an `i64` are taken.
//! `HEAD` runs the `GET` handler in Spring MVC, so it is judged as that operation.

use crate::catalog::{REST_ROUTES, RestRoute, Segment};

/// Through which door a request came, as the policy reads its body.
#[derive(Debug, Clone, Copy)]
pub enum Door<'a> {
    /// A gRPC call: one protobuf message in a gRPC frame.
    Grpc,
    /// A REST request to `route`, with its path as sent (the query string included).
    Rest {
        /// The route.
        route: &'static RestRoute,
        /// The request path (`/v2/users/alice?x=1`).
        path: &'a str,
    },
}

/// The value of `route`'s path variable `name` in `path` (a path [`parse_rest_path`] matched
/// to `route`: its last segments are the template's, plain, so taken as they are), or `None`
/// when the route has no such variable or the path does not fit it.
pub fn path_variable<'p>(route: &RestRoute, path: &'p str, name: &str) -> Option<&'p str> {
    let path = path.split_once('?').map_or(path, |(p, _)| p);
    let segments: Vec<&str> = path.split('/').collect();
    let skip = segments.len().checked_sub(route.segments.len())?;
    route
        .segments
        .iter()
        .zip(&segments[skip..])
        .find_map(|(template, value)| match template {
            Segment::Long(n) | Segment::Text(n) if *n == name => Some(*value),
            _ => None,
        })
        .filter(|v| !v.is_empty())
}

/// The query string of a path (empty when it has none).
pub fn query_of(path: &str) -> &str {
    path.split_once('?').map_or("", |(_, q)| q)
}

/// The base path of the REST API when the gateway has no context path.
pub const DEFAULT_BASE_PATH: &str = "/v2";

/// What a request path means at the REST door.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RestTarget {
    /// A route of the catalog.
    Route(&'static RestRoute),
    /// A plain path under the base path that no route of the catalog has (for this method):
    /// an endpoint the table does not know, a typo, or a newer gateway's endpoint.
    Unknown,
    /// A path the gateway may route otherwise than it reads (matrix parameters, percent
    /// encoding, a trailing slash, `//`, dot segments, case): the reason.
    Unroutable(&'static str),
}

/// Whether `path` is a REST request under `base` (or may be read as one by the gateway), and
/// if so what it reaches with `method`. `None`: not the REST door's (a gRPC path, or another
/// plain path the gateway does not route to the REST API).
pub fn parse_rest_path(base: &str, method: &str, path: &str) -> Option<RestTarget> {
    let path = path.split_once('?').map_or(path, |(p, _)| p);
    let Some(rest) = path
        .strip_prefix(base)
        .and_then(|r| r.strip_prefix('/'))
        .filter(|_| !base.is_empty())
    else {
        return suspicious(base, path).map(RestTarget::Unroutable);
    };
    if let Some(reason) = unplain(rest) {
        return Some(RestTarget::Unroutable(reason));
    }
    let method = if method == "HEAD" { "GET" } else { method };
    let segments: Vec<&str> = rest.split('/').collect();
    let mut best: Option<(&'static RestRoute, usize)> = None;
    let mut tie = false;
    for route in REST_ROUTES.iter().filter(|r| r.method == method) {
        if let Some(vars) = matches(route, &segments) {
            match best {
                Some((_, b)) if b < vars => {}
                Some((_, b)) if b == vars => tie = true,
                _ => {
                    best = Some((route, vars));
                    tie = false;
                }
            }
        }
    }
    Some(match best {
        // Spring would refuse an ambiguous mapping at startup; the table is checked for none.
        Some(_) if tie => RestTarget::Unroutable("two routes match the path equally"),
        Some((route, _)) => RestTarget::Route(route),
        None => RestTarget::Unknown,
    })
}

/// Whether `segments` fit `route`'s template; the number of variables it took (Spring prefers
/// the pattern with fewer captures: a literal `/groups/search` over `/groups/{groupId}`).
fn matches(route: &RestRoute, segments: &[&str]) -> Option<usize> {
    if route.segments.len() != segments.len() {
        return None;
    }
    let mut vars = 0;
    for (template, seg) in route.segments.iter().zip(segments) {
        match template {
            Segment::Literal(lit) => {
                if lit != seg {
                    return None;
                }
            }
            Segment::Long(_) => {
                if !is_java_long(seg) {
                    return None;
                }
                vars += 1;
            }
            Segment::Text(_) => vars += 1,
        }
    }
    Some(vars)
}

/// Whether the gateway binds `text` to a `long` as its decimal value: 1 to 19 ASCII digits
/// within `i64` (`Long.valueOf` refuses more; a sign, hex or white space is not taken).
fn is_java_long(text: &str) -> bool {
    !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) && text.parse::<i64>().is_ok()
}

/// Why the path below the base is not plain, if it is not.
fn unplain(rest: &str) -> Option<&'static str> {
    for seg in rest.split('/') {
        if seg.is_empty() {
            return Some("an empty path segment (a trailing slash or //)");
        }
        if seg == "." || seg == ".." {
            return Some("a dot segment");
        }
        for b in seg.bytes() {
            match b {
                b';' => return Some("matrix parameters (;) in the path"),
                b'%' => return Some("percent-encoding in the path"),
                b if is_plain(b) => {}
                _ => return Some("a character the gateway may read otherwise"),
            }
        }
    }
    None
}

/// Unreserved characters (RFC 3986), the sub-delimiters but `;`, `:` and `@`.
fn is_plain(b: u8) -> bool {
    b.is_ascii_alphanumeric()
        || matches!(
            b,
            b'-' | b'.'
                | b'_'
                | b'~'
                | b'!'
                | b'$'
                | b'&'
                | b'\''
                | b'('
                | b')'
                | b'*'
                | b'+'
                | b','
                | b'='
                | b':'
                | b'@'
        )
}

/// Why a path that does not start with `base/` may still reach the REST API, if it may: a
/// spelling Tomcat or Spring normalizes (`;`, `%`, `\`, `//`, dot segments), or the base in
/// another case or without its slash (`/V2/…`, `/v2`).
fn suspicious(base: &str, path: &str) -> Option<&'static str> {
    if path.starts_with(crate::catalog::GATEWAY_PATH_PREFIX) {
        // gRPC: judged by `catalog::parse_path` (grpc-java routes on the exact text).
        return None;
    }
    if path.contains(';') {
        return Some("matrix parameters (;) in the path");
    }
    if path.contains('%') {
        return Some("percent-encoding in the path");
    }
    if path.contains('\\') || path.contains("//") {
        return Some("a path Tomcat normalizes (\\ or //)");
    }
    if path.split('/').any(|s| s == "." || s == "..") {
        return Some("a dot segment");
    }
    let lower = path.to_ascii_lowercase();
    let base_lower = base.to_ascii_lowercase();
    if !base.is_empty() && (lower == base_lower || lower.starts_with(&format!("{base_lower}/"))) {
        return Some("the REST base path in another case, or with no operation");
    }
    None
}

/// Whether `base` is a usable base path: `/v2`, or a context path and `/v2`
/// (`/orchestration/v2`): plain segments, a leading slash, no trailing one.
pub fn is_valid_base_path(base: &str) -> bool {
    base.strip_prefix('/')
        .is_some_and(|rest| unplain(rest).is_none() && !rest.contains('?'))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::Rpc;

    fn route(method: &str, path: &str) -> Option<RestTarget> {
        parse_rest_path(DEFAULT_BASE_PATH, method, path)
    }

    fn operation(method: &str, path: &str) -> &'static str {
        match route(method, path) {
            Some(RestTarget::Route(r)) if r.operations.len() == 1 => r.operations[0].name(),
            Some(RestTarget::Route(r)) => r.template,
            other => panic!("{method} {path}: {other:?}"),
        }
    }

    /// Endpoints of the spec index (camunda/camunda `v2/rest-api.yaml` at
    /// d4a292db8880876039e69bcdf5cdef4ff316afdf, an 8.9 development snapshot) that the table
    /// lacked were refused as unknown.
    #[test]
    fn endpoints_of_the_spec_index_missing_from_the_table_were_unknown() {
        for (method, path, op) in [
            (
                "GET",
                "/v2/jobs/statistics/global",
                "GetGlobalJobStatistics",
            ),
            (
                "POST",
                "/v2/incidents/statistics/process-instances-by-error",
                "GetProcessInstanceStatisticsByError",
            ),
            (
                "POST",
                "/v2/process-definitions/statistics/message-subscriptions",
                "GetProcessDefinitionMessageSubscriptionStatistics",
            ),
            (
                "POST",
                "/v2/decision-instances/42/deletion",
                "DeleteDecisionInstance",
            ),
            ("POST", "/v2/expression/evaluation", "EvaluateExpression"),
            (
                "POST",
                "/v2/user-tasks/42/audit-logs/search",
                "SearchUserTaskAuditLogs",
            ),
        ] {
            assert_eq!(operation(method, path), op, "{method} {path}");
        }
        // A key is still a long: a text segment is not routed.
        assert!(!matches!(
            route("POST", "/v2/decision-instances/abc/deletion"),
            Some(RestTarget::Route(_))
        ));
    }

    fn route_of(method: &str, path: &str) -> &'static RestRoute {
        match route(method, path) {
            Some(RestTarget::Route(r)) => r,
            other => panic!("{method} {path}: {other:?}"),
        }
    }

    /// spec88: the table was checked against one 8.9 development snapshot of main only, so
    /// endpoints of the released 8.9 spec and of main (8.10) were missing and refused as
    /// unknown (`unknown_rpc`) whatever the policy granted. Each now routes to its operation,
    /// with the version whose spec first lists it and the class that says what grants it.
    #[test]
    fn an_8_10_endpoint_missing_from_the_table_was_denied_as_unknown() {
        use crate::catalog::OperationClass::{Admin, Rest};
        for (method, path, op, since, class) in [
            (
                "POST",
                "/v2/agent-instances/search",
                "SearchAgentInstances",
                "8.10",
                Rest,
            ),
            (
                "GET",
                "/v2/agent-definitions/2251799813685249",
                "GetAgentDefinition",
                "8.10",
                Rest,
            ),
            (
                "POST",
                "/v2/process-instances/1/timers/trigger",
                "TriggerTimer",
                "8.10",
                Rest,
            ),
            (
                "GET",
                "/v2/backups/runtime/state",
                "GetRuntimeBackupState",
                "8.10",
                Admin,
            ),
            (
                "GET",
                "/v2/backups/runtime/7",
                "GetRuntimeBackup",
                "8.10",
                Admin,
            ),
            (
                "POST",
                "/v2/exporting/pause",
                "PauseExporting",
                "8.10",
                Admin,
            ),
            (
                "POST",
                "/v2/secrets/resolve",
                "ResolveSecrets",
                "8.10",
                Admin,
            ),
            (
                "PUT",
                "/v2/global-execution-listeners/l1",
                "UpdateGlobalExecutionListener",
                "8.10",
                Admin,
            ),
            (
                "POST",
                "/v2/global-task-listeners/search",
                "SearchGlobalTaskListeners",
                "8.9",
                Admin,
            ),
            (
                "DELETE",
                "/v2/global-task-listeners/l1",
                "DeleteGlobalTaskListener",
                "8.9",
                Admin,
            ),
            (
                "POST",
                "/v2/jobs/statistics/by-types",
                "GetJobTypeStatistics",
                "8.9",
                Rest,
            ),
            (
                "POST",
                "/v2/jobs/statistics/errors",
                "GetJobErrorStatistics",
                "8.9",
                Rest,
            ),
            (
                "GET",
                "/v2/system/configuration",
                "GetSystemConfiguration",
                "8.9",
                Admin,
            ),
            ("GET", "/v2/forms/1", "GetFormByKey", "8.9", Rest),
            (
                "POST",
                "/v2/user-tasks/1/effective-variables/search",
                "SearchUserTaskEffectiveVariables",
                "8.8",
                Rest,
            ),
        ] {
            let r = route_of(method, path);
            assert_eq!(r.operations[0].name(), op, "{method} {path}");
            assert_eq!(
                (r.since, r.operations[0].class()),
                (since, class),
                "{method} {path}"
            );
        }
        // The released name of the decision deletion's key, still bound as a long.
        assert_eq!(
            route_of("POST", "/v2/decision-instances/1/deletion").template,
            "/decision-instances/{decisionEvaluationKey}/deletion"
        );
        // Main's name for the user task listeners before 8.9 was released: no release serves
        // it, so it stays unknown.
        assert!(matches!(
            route("POST", "/v2/global-listeners/user-task"),
            Some(RestTarget::Unknown)
        ));
    }

    /// spec88: three rows said 8.8, but the 8.8 spec (camunda-docs
    /// `api/camunda/version-8.8/camunda-openapi.yaml` at 467a7475) does not list them; the 8.9
    /// spec marks the first two `x-added-in-version: "8.9"`. `explain` printed "since Camunda 8.8".
    #[test]
    fn rows_the_8_8_spec_lacks_were_listed_since_8_8() {
        for (method, path) in [
            ("POST", "/v2/element-instances/1/incidents/search"),
            ("POST", "/v2/process-instances/1/incident-resolution"),
            (
                "POST",
                "/v2/process-definitions/statistics/process-instances",
            ),
        ] {
            assert_eq!(route_of(method, path).since, "8.9", "{method} {path}");
        }
    }

    #[test]
    fn twins_route_to_their_rpcs() {
        assert_eq!(operation("GET", "/v2/topology"), "Topology");
        assert_eq!(operation("HEAD", "/v2/topology"), "Topology");
        assert_eq!(operation("POST", "/v2/jobs/activation"), "ActivateJobs");
        assert_eq!(
            operation("POST", "/v2/jobs/2251799813685249/completion"),
            "CompleteJob"
        );
        assert_eq!(
            operation("POST", "/v2/messages/publication"),
            "PublishMessage"
        );
        assert_eq!(
            operation("POST", "/v2/process-instances"),
            "/process-instances"
        );
        assert_eq!(operation("POST", "/v2/jobs/activation?x=1"), "ActivateJobs");
        assert_eq!(operation("POST", "/v2/groups/search"), "SearchGroups");
        assert_eq!(operation("GET", "/v2/groups/search"), "GetGroup");
        assert_eq!(
            operation("POST", "/v2/authorizations"),
            "CreateAuthorization"
        );
    }

    #[test]
    fn matrix_parameters_and_encoded_paths_are_unroutable() {
        for path in [
            "/v2/jobs;x=1/activation",
            "/v2;x/jobs/activation",
            "/v2/jobs/activ%61tion",
            "/v2/jobs%2Factivation",
            "/v2/jobs/activation/",
            "/v2/jobs//activation",
            "/v2//jobs/activation",
            "/v2/jobs/./activation",
            "/v2/x/../jobs/activation",
            "/v2/jobs/activation;",
            "/V2/jobs/activation",
            "/v2",
            "//v2/jobs/activation",
            "/%76%32/jobs/activation",
            "/x/..;/v2/jobs/activation",
            "/v2/jobs\\activation",
        ] {
            assert!(
                matches!(route("POST", path), Some(RestTarget::Unroutable(_))),
                "matrix_params_and_encodings_are_unroutable: {path}: {:?}",
                route("POST", path)
            );
        }
    }

    #[test]
    fn case_method_and_variable_types_are_as_spring_binds_them() {
        assert_eq!(
            route("POST", "/v2/Jobs/activation"),
            Some(RestTarget::Unknown)
        );
        assert_eq!(
            route("post", "/v2/jobs/activation"),
            Some(RestTarget::Unknown)
        );
        assert_eq!(
            route("GET", "/v2/jobs/activation"),
            Some(RestTarget::Unknown)
        );
        assert_eq!(route("OPTIONS", "/v2/topology"), Some(RestTarget::Unknown));
        for key in ["0x10", "-1", "1e3", "9223372036854775808", "abc", "+1"] {
            assert_eq!(
                route("POST", &format!("/v2/jobs/{key}/completion")),
                Some(RestTarget::Unknown),
                "{key}"
            );
        }
        assert_eq!(
            operation("POST", "/v2/jobs/9223372036854775807/completion"),
            "CompleteJob"
        );
        assert_eq!(
            operation("GET", "/v2/decision-instances/2251799813685249-1"),
            "GetDecisionInstance"
        );
        assert_eq!(
            operation("PUT", "/v2/tenants/t-1/users/jane.doe@example.com"),
            "AssignUserToTenant"
        );
    }

    #[test]
    fn other_paths_are_not_the_rest_doors() {
        assert_eq!(route("POST", "/gateway_protocol.Gateway/Topology"), None);
        assert_eq!(route("GET", "/actuator/health"), None);
        assert_eq!(route("GET", "/v1/topology"), None);
        assert_eq!(route("GET", "/v22/topology"), None);
    }

    #[test]
    fn a_context_path_moves_the_base() {
        let base = "/orchestration/v2";
        assert!(is_valid_base_path(base));
        assert!(matches!(
            parse_rest_path(base, "GET", "/orchestration/v2/topology"),
            Some(RestTarget::Route(_))
        ));
        assert!(matches!(
            parse_rest_path(base, "GET", "/orchestration;x/v2/topology"),
            Some(RestTarget::Unroutable(_))
        ));
        assert_eq!(parse_rest_path(base, "GET", "/v2/topology"), None);
        for bad in ["", "v2", "/v2/", "/v2;x", "/v%32", "/a//v2"] {
            assert!(!is_valid_base_path(bad), "{bad}");
        }
    }

    #[test]
    fn no_two_routes_tie_and_twins_cover_the_rpcs_with_rest_twins() {
        for (i, a) in REST_ROUTES.iter().enumerate() {
            for b in &REST_ROUTES[i + 1..] {
                if a.method != b.method || a.segments.len() != b.segments.len() {
                    continue;
                }
                // A path made of each template's own literals and sample values.
                let sample = |r: &RestRoute| -> Vec<String> {
                    r.segments
                        .iter()
                        .map(|s| match s {
                            Segment::Literal(l) => (*l).to_string(),
                            Segment::Long(_) => "1".into(),
                            Segment::Text(_) => "search".into(),
                        })
                        .collect()
                };
                for s in [sample(a), sample(b)] {
                    let segs: Vec<&str> = s.iter().map(String::as_str).collect();
                    if let (Some(x), Some(y)) = (matches(a, &segs), matches(b, &segs)) {
                        assert_ne!(x, y, "{} and {} tie", a.template, b.template);
                    }
                }
            }
        }
        for name in [
            "ActivateJobs",
            "CompleteJob",
            "FailJob",
            "ThrowError",
            "CreateProcessInstance",
            "CreateProcessInstanceWithResult",
            "CancelProcessInstance",
            "PublishMessage",
            "BroadcastSignal",
            "EvaluateDecision",
            "DeployResource",
            "ResolveIncident",
            "SetVariables",
            "Topology",
            "UpdateJobRetries",
            "UpdateJobTimeout",
            "ModifyProcessInstance",
            "MigrateProcessInstance",
            "DeleteResource",
            "EvaluateConditional",
        ] {
            let rpc = Rpc::from_grpc_name(name).unwrap();
            assert!(
                rpc.rest_routes().next().is_some(),
                "{name} has no REST twin"
            );
        }
    }
}
