//! The REST door's routing, held to Spring MVC's reading and to the table.

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

/// The router as it was before the index: every route of the table tried in turn.
fn reference_route(method: &str, rest: &str) -> RestTarget {
    let method = if method == "HEAD" { "GET" } else { method };
    let segments: Vec<&str> = rest.split('/').collect();
    let mut best: Option<(&'static RestRoute, usize)> = None;
    let mut tie = false;
    for route in REST_ROUTES.iter().filter(|r| r.method == method) {
        if route.segments.len() != segments.len() {
            continue;
        }
        if let Some(vars) = matches(route, segments.iter().copied()) {
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
    match best {
        Some(_) if tie => RestTarget::Unroutable("two routes match the path equally"),
        Some((route, _)) => RestTarget::Route(route),
        None => RestTarget::Unknown,
    }
}

/// A segment as a request may have it: a literal of the table, a key (or a near miss), a
/// text, or anything plain.
fn segment() -> impl proptest::strategy::Strategy<Value = String> {
    use proptest::prelude::*;
    let literals: Vec<&'static str> = REST_ROUTES
        .iter()
        .flat_map(|r| r.segments)
        .filter_map(|s| match s {
            Segment::Literal(l) => Some(*l),
            _ => None,
        })
        .collect();
    prop_oneof![
        4 => proptest::sample::select(literals).prop_map(str::to_string),
        2 => "[0-9]{1,20}",
        1 => prop_oneof![
            Just("9223372036854775807".to_string()),
            Just("9223372036854775808".to_string()),
            Just("0x10".to_string()),
            Just("-1".to_string()),
        ],
        1 => "[a-zA-Z0-9@._~-]{1,12}",
    ]
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(4096))]

    /// The indexed router takes the route the whole table's scan takes, on paths made of
    /// the table's own literals, keys and texts, with every method.
    #[test]
    fn the_indexed_router_agrees_with_a_scan_of_the_whole_table(
        method in proptest::sample::select(vec!["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "post"]),
        segments in proptest::collection::vec(segment(), 1..7),
        template in proptest::sample::select((0..REST_ROUTES.len()).collect::<Vec<_>>()),
        from_template in proptest::bool::ANY,
    ) {
        // Half the paths follow a template of the table, a variable filled from `segments`.
        let segments: Vec<String> = if from_template {
            let route = &REST_ROUTES[template];
            route
                .segments
                .iter()
                .zip(segments.iter().cycle())
                .map(|(t, s)| match t {
                    Segment::Literal(l) => (*l).to_string(),
                    _ => s.clone(),
                })
                .collect()
        } else {
            segments
        };
        let rest = segments.join("/");
        let method = if from_template { REST_ROUTES[template].method } else { method };
        proptest::prop_assert_eq!(find_route(method, &rest), reference_route(method, &rest), "{} {}", method, rest);
        let path = format!("/v2/{rest}");
        let fast = parse_rest_path(DEFAULT_BASE_PATH, method, &path);
        if unplain(&rest).is_none() {
            proptest::prop_assert_eq!(fast, Some(reference_route(method, &rest)));
        }
    }
}

#[test]
fn every_route_of_the_table_is_found_by_its_own_sample_path() {
    for r in REST_ROUTES {
        let rest: Vec<String> = r
            .segments
            .iter()
            .map(|s| match s {
                Segment::Literal(l) => (*l).to_string(),
                Segment::Long(_) => "1".into(),
                Segment::Text(_) => "some-text".into(),
            })
            .collect();
        let rest = rest.join("/");
        assert_eq!(
            find_route(r.method, &rest),
            reference_route(r.method, &rest),
            "{}",
            r.template
        );
        assert!(
            matches!(find_route(r.method, &rest), RestTarget::Route(found) if std::ptr::eq(found, r)),
            "{} {}",
            r.method,
            r.template
        );
    }
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
                if let (Some(x), Some(y)) = (
                    matches(a, segs.iter().copied()),
                    matches(b, segs.iter().copied()),
                ) {
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
