//! Unit tests of the parent module: the bytes written, decoded with prost as Envoy decodes
//! them, for answers of every shape (allow, deny, dry run, headers, metadata).

use std::sync::Arc;

use envoy_types::ext_authz::v3::pb::{CheckResponse, HttpResponse};
use envoy_types::pb::google::protobuf::value::Kind;
use proptest::prelude::*;
use prost::Message as _;
use zeebe_authz_core::decision::{
    Decision, DecisionId, IdentityHeaders, IdentitySet, MetadataSet, Verdict,
};
use zeebe_authz_core::outcome::{Deny, Outcome, PathLabel};
use zeebe_authz_core::token::Principal;

use super::*;

/// What Envoy reads from the bytes the service sends.
fn into_check_response(verdict: &Verdict) -> CheckResponse {
    let mut bytes = Vec::new();
    encode_check_response(verdict, &mut bytes);
    CheckResponse::decode(&bytes[..]).unwrap()
}

/// A verdict of a config that sends every identity header and carries the metadata on
/// every answer (the defaults send less: `the_defaults_send_the_subject_and_metadata_on_denies`).
fn verdict(decision: Decision, principal: Option<Arc<Principal>>, dry_run: bool) -> Verdict {
    Verdict {
        id: DecisionId::from_request("req-1").unwrap(),
        instance: None,
        decision,
        dry_run,
        realm: Some(Arc::new("camunda".into())),
        principal,
        path: PathLabel::Other,
        headers: Arc::new(IdentityHeaders {
            send: IdentitySet::All,
            ..IdentityHeaders::default()
        }),
        metadata: MetadataSet::All,
    }
}

#[test]
fn the_defaults_send_the_subject_and_metadata_on_denies() {
    let p = principal("alice");
    let mut allow = verdict(
        Decision::Allow {
            principal: p.clone(),
        },
        Some(p.clone()),
        false,
    );
    allow.headers = Arc::new(IdentityHeaders::default());
    allow.metadata = MetadataSet::default();
    let r = into_check_response(&allow);
    assert!(r.dynamic_metadata.is_none(), "an allow carries no metadata");
    let Some(HttpResponse::OkResponse(ok)) = r.http_response else {
        panic!("allowed")
    };
    let set: Vec<_> = ok
        .headers
        .iter()
        .map(|h| h.header.as_ref().unwrap().key.as_str())
        .collect();
    assert_eq!(set, ["x-zeebe-authz-subject"]);
    assert_eq!(
        ok.headers_to_remove,
        ["x-zeebe-authz-client-id", "x-zeebe-authz-realm"]
    );
    for dry_run in [false, true] {
        let mut deny = verdict(
            Decision::Deny(Deny::new(Outcome::MissingPermission, "no")),
            Some(p.clone()),
            dry_run,
        );
        deny.headers = Arc::new(IdentityHeaders::default());
        deny.metadata = MetadataSet::default();
        let r = into_check_response(&deny);
        assert_eq!(
            meta(&r, "decision_id"),
            Some(Kind::StringValue("req-1".into()))
        );
        assert_eq!(
            meta(&r, "reason"),
            Some(Kind::StringValue("missing_permission".into()))
        );
        assert_eq!(meta(&r, "dry_run").is_some(), dry_run);
    }
}

fn principal(subject: &str) -> Arc<Principal> {
    Arc::new(Principal {
        subject: subject.into(),
        client_id: "zeebe".into(),
        grants: Default::default(),
        tenants: Default::default(),
        expires_at: 0,
    })
}

fn meta(r: &CheckResponse, key: &str) -> Option<Kind> {
    r.dynamic_metadata.as_ref()?.fields.get(key)?.kind.clone()
}

#[test]
fn header_values_from_tokens_go_out_escaped() {
    // Regression: `sub` with CR/LF reached Envoy verbatim, which then refused our answer
    // (the escaping itself is tested in `text`).
    let p = principal("alice\r\nx-injected: 1");
    let allow = Decision::Allow {
        principal: p.clone(),
    };
    let r = into_check_response(&verdict(allow, Some(p), false));
    let Some(HttpResponse::OkResponse(ok)) = r.http_response else {
        panic!("not allowed")
    };
    for h in &ok.headers {
        let v = &h.header.as_ref().unwrap().value;
        assert!(v.bytes().all(|b| (0x20..=0x7e).contains(&b)), "{v:?}");
    }
}

#[test]
fn deny_sets_http_status_grpc_headers_message_and_metadata() {
    let d = Decision::Deny(Deny::new(Outcome::Expired, "token expired"));
    let r = into_check_response(&verdict(d, None, false));
    assert_eq!(r.status.as_ref().unwrap().code, 16);
    assert_eq!(
        meta(&r, "decision_id"),
        Some(Kind::StringValue("req-1".into()))
    );
    assert_eq!(
        meta(&r, "reason"),
        Some(Kind::StringValue("expired".into()))
    );
    assert_eq!(meta(&r, "realm"), Some(Kind::StringValue("camunda".into())));
    assert_eq!(meta(&r, "dry_run"), None);
    let Some(HttpResponse::DeniedResponse(denied)) = r.http_response else {
        panic!("not denied")
    };
    assert_eq!(denied.status.unwrap().code, 401);
    let get = |k: &str| {
        denied
            .headers
            .iter()
            .find(|h| h.header.as_ref().unwrap().key == k)
            .unwrap()
            .header
            .clone()
            .unwrap()
            .value
    };
    assert_eq!(get("grpc-status"), "16");
    assert_eq!(
        get("grpc-message"),
        "zeebe-authz: token expired [decision req-1: zeebe-authz explain shows why]"
    );
}

#[test]
fn dry_run_deny_is_an_allow_that_strips_identity_headers_without_a_principal() {
    let d = Decision::Deny(Deny::new(Outcome::Expired, "token expired"));
    let r = into_check_response(&verdict(d, None, true));
    assert_eq!(r.status.as_ref().unwrap().code, 0);
    assert_eq!(meta(&r, "dry_run"), Some(Kind::BoolValue(true)));
    assert_eq!(
        meta(&r, "reason"),
        Some(Kind::StringValue("expired".into()))
    );
    let Some(HttpResponse::OkResponse(ok)) = r.http_response else {
        panic!("dry-run must allow")
    };
    assert!(ok.headers.is_empty());
    assert_eq!(ok.headers_to_remove.len(), 3, "{:?}", ok.headers_to_remove);
    // With a valid token the would-be deny still names the caller.
    let d = Decision::Deny(Deny::new(Outcome::MissingPermission, "no"));
    let r = into_check_response(&verdict(d, Some(principal("alice")), true));
    assert_eq!(meta(&r, "subject"), Some(Kind::StringValue("alice".into())));
    let Some(HttpResponse::OkResponse(ok)) = r.http_response else {
        panic!("dry-run must allow")
    };
    assert_eq!(ok.headers.len(), 3);
}

#[test]
fn identity_headers_not_sent_are_removed_so_none_can_be_smuggled() {
    use zeebe_authz_core::decision::IdentitySet;
    let p = principal("alice");
    // Regression: a name not sent was not removed either, so a client could smuggle its
    // own `x-zeebe-authz-realm` past `send: subject`.
    for (send, expected) in [
        (IdentitySet::All, 3),
        (IdentitySet::Subject, 1),
        (IdentitySet::None, 0),
    ] {
        let mut v = verdict(
            Decision::Allow {
                principal: p.clone(),
            },
            Some(p.clone()),
            false,
        );
        v.headers = Arc::new(IdentityHeaders {
            send,
            ..IdentityHeaders::default()
        });
        let Some(HttpResponse::OkResponse(ok)) = into_check_response(&v).http_response else {
            panic!("not allowed")
        };
        assert_eq!(ok.headers.len(), expected, "{send:?}");
        assert_eq!(ok.headers_to_remove.len(), 3 - expected, "{send:?}");
        if send == IdentitySet::Subject {
            assert_eq!(
                ok.headers[0].header.as_ref().unwrap().key,
                "x-zeebe-authz-subject"
            );
        }
    }
}

#[test]
fn fields_of_any_length_decode_as_written() {
    // Nested lengths of 1, 2 and 3 varint bytes (the body is written first, its length
    // prefix widened after).
    for n in [0, 1, 100, 127, 128, 300, 16_383, 16_384, 70_000] {
        let subject = "s".repeat(n);
        let p = principal(&subject);
        let r = into_check_response(&verdict(
            Decision::Allow {
                principal: p.clone(),
            },
            Some(p),
            false,
        ));
        assert_eq!(
            meta(&r, "subject"),
            Some(Kind::StringValue(subject.clone())),
            "{n}"
        );
        let Some(HttpResponse::OkResponse(ok)) = &r.http_response else {
            panic!("{n}")
        };
        if n > 0 {
            assert_eq!(ok.headers[0].header.as_ref().unwrap().value, subject, "{n}");
        }
        let reason = "r".repeat(n);
        let d = Decision::Deny(Deny::new(Outcome::MissingPermission, reason.clone()));
        let r = into_check_response(&verdict(d, None, false));
        let status = r.status.unwrap();
        assert_eq!(status.code, 7);
        assert!(status.message.contains(&reason), "{n}");
    }
}

proptest! {
    /// Texts of any length and content (the lengths are computed before the bytes are
    /// written: `encode_check_response` asserts that they agree) decode to what they say.
    #[test]
    fn any_answer_decodes_to_what_it_says(
        subject in "(.|[ %\\r\\n]){0,200}",
        client_id in "(.|[ %]){0,150}",
        realm in "([a-z]|[ %\\r\\u{e9}]){0,140}",
        reason in ".{0,300}",
        deny in any::<bool>(),
        dry_run in any::<bool>(),
        send in 0..3usize,
        metadata in 0..3usize,
    ) {
        let principal = Arc::new(Principal {
            subject: subject.as_str().into(),
            client_id: client_id.as_str().into(),
            grants: Default::default(),
            tenants: Default::default(),
            expires_at: 0,
        });
        let decision = if deny {
            Decision::Deny(Deny::new(Outcome::MissingPermission, reason.clone()))
        } else {
            Decision::Allow { principal: principal.clone() }
        };
        let send = [IdentitySet::All, IdentitySet::Subject, IdentitySet::None][send];
        let metadata = [MetadataSet::All, MetadataSet::Denies, MetadataSet::None][metadata];
        let verdict = Verdict {
            id: DecisionId::generated(1, 2),
            instance: None,
            decision,
            dry_run,
            realm: (!realm.is_empty()).then(|| Arc::new(realm.as_str().into())),
            principal: Some(principal),
            path: PathLabel::Other,
            headers: Arc::new(IdentityHeaders { send, ..IdentityHeaders::default() }),
            metadata,
        };
        let mut bytes = Vec::new();
        encode_check_response(&verdict, &mut bytes);
        let r = CheckResponse::decode(&bytes[..]).unwrap();
        let carried = match metadata {
            MetadataSet::All => true,
            MetadataSet::Denies => deny,
            MetadataSet::None => false,
        };
        prop_assert_eq!(r.dynamic_metadata.is_some(), carried);
        let fields = r.dynamic_metadata.map(|m| m.fields).unwrap_or_default();
        if carried {
            prop_assert_eq!(
            fields["subject"].kind.clone(),
            Some(Kind::StringValue(subject.clone()))
        );
            prop_assert_eq!(fields.contains_key("dry_run"), dry_run);
            prop_assert_eq!(fields.contains_key("realm"), !realm.is_empty());
        }
        match r.http_response.unwrap() {
            HttpResponse::DeniedResponse(denied) => {
                prop_assert!(deny && !dry_run);
                let status = r.status.unwrap();
                prop_assert_eq!(status.code, 7);
                prop_assert_eq!(denied.headers.len(), 3);
                // `grpc-message` is the status message escaped, whether or not escaping
                // changed it.
                let grpc_message = denied
                    .headers
                    .iter()
                    .filter_map(|h| h.header.as_ref())
                    .find(|h| h.key == "grpc-message")
                    .map(|h| h.value.clone());
                prop_assert_eq!(
                    grpc_message,
                    Some(percent_encode_grpc_message(&status.message).into_owned())
                );
            }
            HttpResponse::OkResponse(ok) => {
                prop_assert!(!deny || dry_run);
                let values = [&subject, &client_id, &realm];
                let sent = verdict.headers.sent();
                let expected = (0..3)
                    .filter(|&i| sent[i] && !values[i].is_empty() && !realm.is_empty())
                    .count();
                prop_assert_eq!(ok.headers.len(), expected);
                prop_assert_eq!(ok.headers_to_remove.len(), 3 - expected);
                // The header forms kept with the principal and the realm are what
                // escaping the texts at answer time gives.
                let names = [
                    &*verdict.headers.subject,
                    &*verdict.headers.client_id,
                    &*verdict.headers.realm,
                ];
                for h in ok.headers.iter().filter_map(|h| h.header.as_ref()) {
                    let i = names.iter().position(|n| *n == h.key).unwrap();
                    prop_assert_eq!(
                        &h.value,
                        &*zeebe_authz_core::text::percent_encode_header_value(values[i])
                    );
                }
            }
            other => prop_assert!(false, "{other:?}"),
        }
    }
}

#[test]
fn varint_lengths_match_the_encoding() {
    for v in [
        0,
        1,
        127,
        128,
        16_383,
        16_384,
        u64::from(u32::MAX),
        u64::MAX,
    ] {
        let mut out = Vec::new();
        put_varint(&mut out, v);
        assert_eq!(varint_len(v), out.len(), "{v}");
    }
}

#[test]
fn metadata_keys_are_written_as_prost_writes_them() {
    for (field, name) in [
        (&DECISION_ID[..], "decision_id"),
        (&REASON[..], "reason"),
        (&RPC[..], "rpc"),
        (&DOOR[..], "door"),
        (&REALM[..], "realm"),
        (&SUBJECT[..], "subject"),
    ] {
        let mut expected = Vec::new();
        prost::encoding::string::encode(1, &name.to_string(), &mut expected);
        assert_eq!(field, &expected[..], "{name}");
    }
}

/// A deny at the REST door: the HTTP status, problem details as the body, no gRPC headers, a
/// bearer challenge on a 401; the metadata names the door.
#[test]
fn rest_denies_are_problem_details() {
    let rpc = zeebe_authz_core::catalog::Rpc::from_name("ActivateJobs").unwrap();
    for (outcome, status, challenge) in [
        (Outcome::MissingPermission, 403, None),
        (Outcome::MissingToken, 401, Some("Bearer")),
        (
            Outcome::Expired,
            401,
            Some("Bearer error=\"invalid_token\""),
        ),
        (Outcome::KeysUnavailable, 503, None),
    ] {
        let mut v = verdict(
            Decision::Deny(Deny::new(outcome, "refused \"here\"")),
            None,
            false,
        );
        v.path = PathLabel::RestOperation(rpc);
        v.instance = Some("/v2/jobs/activation".into());
        let mut bytes = Vec::new();
        encode_check_response(&v, &mut bytes);
        let r = CheckResponse::decode(&bytes[..]).unwrap();
        let Some(HttpResponse::DeniedResponse(denied)) = r.http_response else {
            panic!("a deny")
        };
        assert_eq!(denied.status.unwrap().code, status);
        let headers: Vec<(String, String)> = denied
            .headers
            .iter()
            .filter_map(|h| h.header.as_ref())
            .map(|h| (h.key.clone(), h.value.clone()))
            .collect();
        assert_eq!(
            headers[0],
            ("content-type".into(), "application/problem+json".into())
        );
        assert_eq!(
            headers
                .iter()
                .find(|(k, _)| k == "www-authenticate")
                .map(|(_, v)| v.as_str()),
            challenge
        );
        assert!(!headers.iter().any(|(k, _)| k.starts_with("grpc-")));
        let body: serde_json::Value = serde_json::from_str(&denied.body).unwrap();
        assert_eq!(body["status"], status);
        assert_eq!(body["instance"], "/v2/jobs/activation");
        assert_eq!(body["decisionId"], "req-1");
        assert!(
            body["detail"]
                .as_str()
                .unwrap()
                .contains("refused \"here\"")
        );
        let door = r.dynamic_metadata.unwrap().fields["door"].kind.clone();
        assert_eq!(door, Some(Kind::StringValue("rest".into())));
    }
}
