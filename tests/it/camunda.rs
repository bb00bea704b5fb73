//! The Camunda dialect decides as the grants it stands for: pairs of policies written by hand,
//! one in Camunda's words (owners resolved from a token's username, client id, group and role
//! claims, mapping rules) and one as `grants:` (one permission per owner), each served by its
//! own authorizer, asked the same generated matrix of tokens × rpcs × request fields, plain
//! and gzip-compressed, through the real Check path. Then the engine's words in the dialect's
//! deny messages.

use std::collections::BTreeMap;
use std::io::Write as _;

use envoy_types::ext_authz::v3::pb::CheckResponse;
use envoy_types::pb::google::protobuf::value::Kind;
use prost::Message as _;
use serde_json::{Value, json};
use zeebe_authz_core::body::frame;
use zeebe_authz_core::proto;
use zeebe_authz_core::signing::SigningKey;

use crate::util::*;

const OK: i32 = 0;
const PERMISSION_DENIED: i32 = 7;

/// How every dialect policy below reads owners from a token. `client_id` (RFC 9068, and
/// Keycloak's service-account tokens) rather than `azp`, which user tokens carry too.
const IDENTITY: &str = "identity:\n  username_claim: preferred_username\n  client_id_claim: client_id\n  groups_claim: groups\n  roles_claim: realm_access.roles\n";

/// One owner's rules, twice: in the dialect and as grants.
struct Pair {
    name: &'static str,
    dialect: &'static str,
    grants: &'static str,
}

const PAIRS: &[Pair] = &[
    Pair {
        name: "payments team starts order-process in tenant-a",
        dialect: "authorizations:\n  - owner: {group: payments}\n    resource_type: PROCESS_DEFINITION\n    resource_ids: [order-process]\n    permissions: [CREATE_PROCESS_INSTANCE]\n    tenants: [tenant-a]\n",
        // CREATE_PROCESS_INSTANCE: the id on the two create rpcs; BroadcastSignal and
        // EvaluateConditional resolve the process from the request, so only the tenant.
        grants: "grants:\n  - permission: payments-team\n    rpcs: [CreateProcessInstance, CreateProcessInstanceWithResult]\n    when: {tenant: [tenant-a], bpmn_process_id: [order-process]}\n  - permission: payments-team\n    rpcs: [BroadcastSignal, EvaluateConditional]\n    when: {tenant: [tenant-a]}\n",
    },
    Pair {
        name: "worker pinned to payment* job types",
        dialect: "authorizations:\n  - owner: {client: payments-worker}\n    resource_type: PROCESS_DEFINITION\n    resource_ids: [payment-process]\n    permissions: [UPDATE_PROCESS_INSTANCE]\n  - owner: {client: payments-worker}\n    resource_type: x-JOB_TYPE\n    resource_ids: ['payment*']\n    permissions: [x-ACTIVATE]\n",
        // UPDATE_PROCESS_INSTANCE: every rpc the engine resolves to a process instance; the
        // x-JOB_TYPE authorization takes the job-activating rpcs over.
        grants: "grants:\n  - permission: payments-worker\n    rpcs: [CompleteJob, FailJob, ThrowError, ResolveIncident, SetVariables, UpdateJobRetries, UpdateJobTimeout, MigrateProcessInstance, BroadcastSignal]\n  - permission: payments-worker\n    rpcs: [ActivateJobs, StreamActivatedJobs]\n    when: {job_type: ['payment*']}\n",
    },
    Pair {
        name: "order-bot publishes order-* messages",
        dialect: "authorizations:\n  - owner: {user: order-bot}\n    resource_type: MESSAGE\n    resource_ids: ['order-*']\n    permissions: [CREATE]\n",
        grants: "grants:\n  - permission: order-publisher\n    rpcs: [PublishMessage]\n    when: {message_name: ['order-*']}\n",
    },
    Pair {
        name: "platform admins (a mapping rule on a realm role) hold everything",
        dialect: "mapping_rules:\n  - {id: platform-admins, claim: realm_access.roles, value: zeebe-admin}\nauthorizations:\n  - owner: {mapping_rule: platform-admins}\n    resource_type: PROCESS_DEFINITION\n    resource_ids: ['*']\n    permissions: [CREATE_PROCESS_INSTANCE, UPDATE_PROCESS_INSTANCE, CANCEL_PROCESS_INSTANCE, MODIFY_PROCESS_INSTANCE]\n  - owner: {mapping_rule: platform-admins}\n    resource_type: RESOURCE\n    resource_ids: ['*']\n    permissions: [CREATE, DELETE_PROCESS, DELETE_DRD, DELETE_FORM, DELETE_RESOURCE]\n  - owner: {mapping_rule: platform-admins}\n    resource_type: MESSAGE\n    resource_ids: ['*']\n    permissions: [CREATE]\n  - owner: {mapping_rule: platform-admins}\n    resource_type: DECISION_DEFINITION\n    resource_ids: ['*']\n    permissions: [CREATE_DECISION_INSTANCE]\n  - owner: {mapping_rule: platform-admins}\n    resource_type: x-RPC\n    resource_ids: [Topology]\n    permissions: [x-CALL]\n",
        grants: "grants:\n  - permission: platform-admin\n    rpcs: ['*']\n",
    },
];

/// A caller: the permissions its grants-policy token holds, and the claims its
/// dialect-policy token carries instead (merged into a Keycloak-shaped token).
struct Caller {
    name: &'static str,
    permissions: &'static [&'static str],
    claims: Value,
}

fn callers() -> Vec<Caller> {
    vec![
        Caller {
            name: "team member",
            permissions: &["payments-team"],
            claims: json!({"preferred_username": "ann", "groups": ["staff", "payments"]}),
        },
        Caller {
            name: "team member, groups as one string",
            permissions: &["payments-team"],
            claims: json!({"preferred_username": "ben", "groups": "payments"}),
        },
        Caller {
            name: "payments-worker client",
            permissions: &["payments-worker"],
            claims: json!({"client_id": "payments-worker", "preferred_username": "service-account-payments-worker"}),
        },
        Caller {
            name: "payments-worker client in group payments",
            permissions: &["payments-worker", "payments-team"],
            claims: json!({"client_id": "payments-worker", "groups": ["payments"]}),
        },
        Caller {
            name: "order-bot user",
            permissions: &["order-publisher"],
            claims: json!({"preferred_username": "order-bot"}),
        },
        Caller {
            name: "order-bot user in group payments",
            permissions: &["order-publisher", "payments-team"],
            claims: json!({"preferred_username": "order-bot", "groups": ["payments"]}),
        },
        Caller {
            // A token with a client id is the client: its username claim names no user.
            name: "client whose username claim says order-bot",
            permissions: &[],
            claims: json!({"client_id": "reporting", "preferred_username": "order-bot"}),
        },
        Caller {
            name: "platform admin",
            permissions: &["platform-admin"],
            claims: json!({"preferred_username": "root", "realm_access": {"roles": ["offline_access", "zeebe-admin"]}}),
        },
        Caller {
            name: "platform admin, roles as one string",
            permissions: &["platform-admin"],
            claims: json!({"preferred_username": "root", "realm_access": {"roles": "zeebe-admin"}}),
        },
        Caller {
            name: "near misses: group payment, role zeebe-admins, user Order-Bot",
            permissions: &[],
            claims: json!({"preferred_username": "Order-Bot", "groups": ["payment"], "realm_access": {"roles": ["zeebe-admins"]}}),
        },
    ]
}

/// One request: an rpc and its message.
struct Case {
    rpc: &'static str,
    what: String,
    message: Vec<u8>,
}

/// A process definition key: a request sent by key names no process id.
const DEFINITION_KEY: i64 = 2_251_799_813_685_249;

fn cases() -> Vec<Case> {
    let mut out = Vec::new();
    let mut add =
        |rpc: &'static str, what: String, message: Vec<u8>| out.push(Case { rpc, what, message });
    let create = |process: &str, tenant: &str| proto::CreateProcessInstanceRequest {
        bpmn_process_id: process.into(),
        process_definition_key: if process.is_empty() {
            DEFINITION_KEY
        } else {
            0
        },
        version: -1,
        variables: r#"{"orderId": 42}"#.into(),
        tenant_id: tenant.into(),
        ..Default::default()
    };
    for process in ["order-process", "invoice", "order-process-v2", ""] {
        for tenant in ["tenant-a", "tenant-b", ""] {
            let what = format!("process '{process}' tenant '{tenant}'");
            add(
                "CreateProcessInstance",
                what.clone(),
                create(process, tenant).encode_to_vec(),
            );
            add(
                "CreateProcessInstanceWithResult",
                what,
                proto::CreateProcessInstanceWithResultRequest {
                    request: Some(create(process, tenant)),
                    request_timeout: 10_000,
                    ..Default::default()
                }
                .encode_to_vec(),
            );
        }
    }
    for name in ["order-paid", "order-", "invoice-paid", ""] {
        for tenant in ["", "tenant-a"] {
            add(
                "PublishMessage",
                format!("message '{name}' tenant '{tenant}'"),
                proto::PublishMessageRequest {
                    name: name.into(),
                    correlation_key: "42".into(),
                    tenant_id: tenant.into(),
                    ..Default::default()
                }
                .encode_to_vec(),
            );
        }
    }
    for job_type in ["payment", "payment-refund", "shipping", "Payment", ""] {
        for tenants in [&[][..], &["tenant-a", "tenant-b"][..]] {
            let tenant_ids: Vec<String> = tenants.iter().map(|t| (*t).into()).collect();
            let what = format!("type '{job_type}' tenants {tenants:?}");
            add(
                "ActivateJobs",
                what.clone(),
                proto::ActivateJobsRequest {
                    r#type: job_type.into(),
                    worker: "w".into(),
                    timeout: 30_000,
                    max_jobs_to_activate: 1,
                    tenant_ids: tenant_ids.clone(),
                    ..Default::default()
                }
                .encode_to_vec(),
            );
            add(
                "StreamActivatedJobs",
                what,
                proto::StreamActivatedJobsRequest {
                    r#type: job_type.into(),
                    worker: "w".into(),
                    timeout: 30_000,
                    tenant_ids,
                    ..Default::default()
                }
                .encode_to_vec(),
            );
        }
    }
    for tenant in ["tenant-a", "tenant-b", ""] {
        add(
            "BroadcastSignal",
            format!("tenant '{tenant}'"),
            proto::BroadcastSignalRequest {
                signal_name: "cancel-orders".into(),
                tenant_id: tenant.into(),
                ..Default::default()
            }
            .encode_to_vec(),
        );
        add(
            "EvaluateConditional",
            format!("tenant '{tenant}'"),
            proto::EvaluateConditionalRequest {
                tenant_id: tenant.into(),
                process_definition_key: DEFINITION_KEY,
                ..Default::default()
            }
            .encode_to_vec(),
        );
        add(
            "DeployResource",
            format!("tenant '{tenant}'"),
            proto::DeployResourceRequest {
                resources: vec![proto::Resource {
                    name: "order-process.bpmn".into(),
                    content: b"<definitions/>".to_vec(),
                }],
                tenant_id: tenant.into(),
            }
            .encode_to_vec(),
        );
    }
    for (decision, key) in [("discount", 0), ("", 2_251_799_813_685_300)] {
        add(
            "EvaluateDecision",
            format!("decision '{decision}' key {key}"),
            proto::EvaluateDecisionRequest {
                decision_id: decision.into(),
                decision_key: key,
                ..Default::default()
            }
            .encode_to_vec(),
        );
    }
    // Key-only rpcs: nothing in the body names a process, a tenant or a type.
    for rpc in [
        "CompleteJob",
        "FailJob",
        "ThrowError",
        "ResolveIncident",
        "SetVariables",
        "UpdateJobRetries",
        "UpdateJobTimeout",
        "MigrateProcessInstance",
        "ModifyProcessInstance",
        "CancelProcessInstance",
        "DeleteResource",
        "DeployProcess",
        "Topology",
    ] {
        add(rpc, "by key".into(), Vec::new());
    }
    out
}

/// The framed body as a client sends it: plain, or gzip-compressed (flag 1, with the header).
fn encoded(message: &[u8], gzip: bool) -> (Vec<u8>, Option<(&'static str, &'static str)>) {
    if !gzip {
        return (frame(message), None);
    }
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(message).unwrap();
    let mut body = frame(&e.finish().unwrap());
    body[0] = 1;
    (body, Some(("grpc-encoding", "gzip")))
}

/// What a client and the access log see of a decision: the gRPC status, the reason label.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Seen {
    code: i32,
    reason: String,
}

fn reason(r: &CheckResponse) -> String {
    match r
        .dynamic_metadata
        .as_ref()
        .and_then(|m| m.fields.get("reason"))
        .and_then(|v| v.kind.as_ref())
    {
        Some(Kind::StringValue(s)) => s.clone(),
        other => panic!("no reason in the dynamic metadata: {other:?}"),
    }
}

async fn ask(
    authz: &Authz,
    token: &str,
    rpc_name: &str,
    message: &[u8],
    gzip: bool,
) -> CheckResponse {
    let (body, header) = encoded(message, gzip);
    let mut req = check_request(
        "zeebe:26500",
        &rpc(rpc_name),
        Some(&format!("Bearer {token}")),
        &body,
    );
    if let Some((k, v)) = header {
        req = with_header(req, k, v);
    }
    authz.check(req).await
}

/// [`one_realm_config`] for a Camunda whose engine enforces its authorizations: what the
/// grants of each pair stand for (the engine decides the rpcs the edge cannot see into).
fn engine_checking(issuer: &str) -> String {
    one_realm_config(issuer).replacen(
        "    policy: default.yaml\n",
        "    policy: default.yaml\n    engine_authorizations: true\n",
        1,
    )
}

fn grants_token(key: &SigningKey, issuer: &str, caller: &Caller) -> String {
    token(key, issuer, caller.permissions)
}

fn dialect_token(key: &SigningKey, issuer: &str, caller: &Caller) -> String {
    token_with(key, issuer, &[], |c| {
        // The base token is a service account's, which Keycloak 26 names in `client_id`; each
        // caller's claims say the whole identity (a user's token has no `client_id`).
        c.as_object_mut().unwrap().remove("client_id");
        for (k, v) in caller.claims.as_object().unwrap() {
            c[k] = v.clone();
        }
    })
}

/// The decisions of one pair on the whole matrix, keyed by (caller, rpc, request, encoding).
type Decisions = BTreeMap<(String, &'static str, String, bool), (Seen, Seen)>;

async fn decide_pair(kc: &Keycloak, key: &SigningKey, pair: &Pair) -> Decisions {
    // The reason label is read from the metadata, which a plain allow carries only when asked.
    let config = answering_everything(&engine_checking(&kc.issuer));
    let grants = Authz::start(&config, pair.grants).await;
    let dialect = Authz::start(&config, &format!("{IDENTITY}{}", pair.dialect)).await;
    grants.wait_ready().await;
    dialect.wait_ready().await;
    let cases = cases();
    let mut out = Decisions::new();
    for caller in callers() {
        let g = grants_token(key, &kc.issuer, &caller);
        let d = dialect_token(key, &kc.issuer, &caller);
        for case in &cases {
            for gzip in [false, true] {
                let a = ask(&grants, &g, case.rpc, &case.message, gzip).await;
                let b = ask(&dialect, &d, case.rpc, &case.message, gzip).await;
                let seen = |r: &CheckResponse| Seen {
                    code: code(r),
                    reason: reason(r),
                };
                out.insert(
                    (caller.name.to_string(), case.rpc, case.what.clone(), gzip),
                    (seen(&a), seen(&b)),
                );
            }
        }
    }
    grants.stop().await;
    dialect.stop().await;
    out
}

#[tokio::test]
async fn dialect_and_grants_decide_alike_on_every_caller_rpc_and_request() {
    let key = SigningKey::generate("kc-1").unwrap();
    let kc = keycloak(&[&key]).await;
    let mut report = String::new();
    let mut checked = 0;
    for pair in PAIRS {
        let decisions = decide_pair(&kc, &key, pair).await;
        let wrong: Vec<_> = decisions.iter().filter(|(_, (g, d))| g != d).collect();
        for ((caller, rpc, what, gzip), (g, d)) in &wrong {
            report += &format!(
                "{}: {caller}: {rpc} {what}{}: grants {g:?}, dialect {d:?}\n",
                pair.name,
                if *gzip { " (gzip)" } else { "" }
            );
        }
        checked += decisions.len();
        // The matrix means something for this pair: its owners are allowed some calls and
        // refused others, for a missing permission and (where it has conditions) a failed one.
        let reasons: std::collections::BTreeSet<&str> =
            decisions.values().map(|(g, _)| g.reason.as_str()).collect();
        assert!(
            reasons.contains("allowed") && reasons.contains("missing_permission"),
            "{}: {reasons:?}",
            pair.name
        );
        if pair.grants.contains("when:") {
            assert!(
                reasons.contains("condition_failed"),
                "{}: {reasons:?}",
                pair.name
            );
        }
        // gzip never changes a decision.
        for ((caller, rpc, what, gzip), seen) in &decisions {
            if *gzip {
                let plain = &decisions[&(caller.clone(), *rpc, what.clone(), false)];
                assert_eq!(seen, plain, "{}: {caller}: {rpc} {what}", pair.name);
            }
        }
        // A few decisions pinned outright, so that a fault shared by both sides still fails.
        let get = |caller: &str, rpc: &'static str, what: &str| {
            &decisions[&(caller.to_string(), rpc, what.to_string(), true)].1
        };
        let allowed = Seen {
            code: OK,
            reason: "allowed".into(),
        };
        let denied = |r: &str| Seen {
            code: PERMISSION_DENIED,
            reason: r.into(),
        };
        let start = "CreateProcessInstance";
        match pair.name.split(' ').next().unwrap() {
            "payments" => {
                let team = "team member";
                assert_eq!(
                    get(team, start, "process 'order-process' tenant 'tenant-a'"),
                    &allowed
                );
                assert_eq!(
                    get(team, start, "process 'order-process' tenant 'tenant-b'"),
                    &denied("condition_failed")
                );
                // Sent by processDefinitionKey only: the id is invisible, only `*` passes.
                assert_eq!(
                    get(team, start, "process '' tenant 'tenant-a'"),
                    &denied("condition_failed")
                );
                assert_eq!(
                    get(team, "Topology", "by key"),
                    &denied("missing_permission")
                );
            }
            "worker" => {
                let w = "payments-worker client";
                assert_eq!(
                    get(w, "ActivateJobs", "type 'payment-refund' tenants []"),
                    &allowed
                );
                assert_eq!(
                    get(w, "ActivateJobs", "type 'shipping' tenants []"),
                    &denied("condition_failed")
                );
                assert_eq!(get(w, "CompleteJob", "by key"), &allowed);
                assert_eq!(
                    get(w, start, "process 'order-process' tenant ''"),
                    &denied("missing_permission")
                );
            }
            "order-bot" => {
                let bot = "order-bot user";
                assert_eq!(
                    get(bot, "PublishMessage", "message 'order-paid' tenant ''"),
                    &allowed
                );
                assert_eq!(
                    get(bot, "PublishMessage", "message 'invoice-paid' tenant ''"),
                    &denied("condition_failed")
                );
                assert_eq!(
                    get(
                        "client whose username claim says order-bot",
                        "PublishMessage",
                        "message 'order-paid' tenant ''"
                    ),
                    &denied("missing_permission")
                );
            }
            "platform" => {
                let admin = "platform admin";
                assert_eq!(get(admin, start, "process '' tenant 'tenant-b'"), &allowed);
                assert_eq!(get(admin, "Topology", "by key"), &allowed);
                assert_eq!(
                    get(admin, "ActivateJobs", "type 'shipping' tenants []"),
                    &allowed
                );
                assert_eq!(
                    get(
                        "near misses: group payment, role zeebe-admins, user Order-Bot",
                        "DeployResource",
                        "tenant ''"
                    ),
                    &denied("missing_permission")
                );
            }
            other => panic!("no pinned decisions for {other}"),
        }
    }
    kc.stop().await;
    assert!(
        report.is_empty(),
        "the dialect and its grants disagree:\n{report}"
    );
    assert!(checked > 1000, "{checked} decisions compared");
}

#[tokio::test]
async fn dialect_denies_carry_the_engines_words_and_a_decision_id() {
    let key = SigningKey::generate("kc-1").unwrap();
    let kc = keycloak(&[&key]).await;
    let policy = format!(
        "{IDENTITY}{}{}",
        PAIRS[0].dialect,
        PAIRS[1].dialect.trim_start_matches("authorizations:\n")
    );
    let authz = Authz::start(&engine_checking(&kc.issuer), &policy).await;
    authz.wait_ready().await;
    let caller = |name: &str| {
        let c = callers().into_iter().find(|c| c.name == name).unwrap();
        dialect_token(&key, &kc.issuer, &c)
    };
    let team = caller("team member");
    let worker = caller("payments-worker client");
    let start = |process: &str, tenant: &str| {
        proto::CreateProcessInstanceRequest {
            bpmn_process_id: process.into(),
            process_definition_key: if process.is_empty() {
                DEFINITION_KEY
            } else {
                0
            },
            tenant_id: tenant.into(),
            ..Default::default()
        }
        .encode_to_vec()
    };
    let activate = |job_type: &str| {
        proto::ActivateJobsRequest {
            r#type: job_type.into(),
            ..Default::default()
        }
        .encode_to_vec()
    };
    let cases: Vec<(&str, &str, Vec<u8>, &str)> = vec![
        (
            &team,
            "CreateProcessInstance",
            start("invoice", "tenant-a"),
            "Insufficient permissions to perform operation 'CREATE_PROCESS_INSTANCE' on resource 'PROCESS_DEFINITION', required resource identifiers are one of '[*, invoice]'",
        ),
        (
            &team,
            "CreateProcessInstance",
            start("order-process", "tenant-b"),
            "Expected to perform operation 'CREATE_PROCESS_INSTANCE' on resource 'PROCESS_DEFINITION' for tenant 'tenant-b', but user is not assigned to this tenant",
        ),
        (
            // By key only the edge sees no id: the engine's words without an id list.
            &team,
            "CreateProcessInstance",
            start("", "tenant-a"),
            "Insufficient permissions to perform operation 'CREATE_PROCESS_INSTANCE' on resource 'PROCESS_DEFINITION'",
        ),
        (
            &team,
            "DeployResource",
            Vec::new(),
            "Insufficient permissions to perform operation 'CREATE' on resource 'RESOURCE'",
        ),
        (
            &worker,
            "ActivateJobs",
            activate("shipping"),
            "Insufficient permissions to perform operation 'x-ACTIVATE' on resource 'x-JOB_TYPE', required resource identifiers are one of '[*, shipping]'",
        ),
        (
            &worker,
            "PublishMessage",
            proto::PublishMessageRequest {
                name: "order-paid".into(),
                ..Default::default()
            }
            .encode_to_vec(),
            "Insufficient permissions to perform operation 'CREATE' on resource 'MESSAGE', required resource identifiers are one of '[*, order-paid]'",
        ),
    ];
    for (t, rpc_name, body, words) in &cases {
        for gzip in [false, true] {
            let r = ask(&authz, t, rpc_name, body, gzip).await;
            let m = message(&r);
            assert_eq!(code(&r), PERMISSION_DENIED, "{rpc_name}: {m}");
            let rest = m
                .strip_prefix(&format!("zeebe-authz: {words} [decision "))
                .unwrap_or_else(|| panic!("{rpc_name}: {m:?} does not say {words:?}"));
            let id = rest
                .strip_suffix(": zeebe-authz explain shows why]")
                .unwrap_or_else(|| panic!("{rpc_name}: {m:?}"));
            assert!(id.starts_with("za-") && id.len() == 27, "{m}");
        }
    }
    authz.stop().await;
    kc.stop().await;
}
