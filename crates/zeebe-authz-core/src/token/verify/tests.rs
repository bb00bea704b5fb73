//! Unit tests of the parent module.
use super::*;

fn seg(json: &str) -> String {
    URL_SAFE_NO_PAD.encode(json)
}

#[test]
fn rfc_9068_client_id_names_the_client_when_there_is_no_azp() {
    // Found with npm oidc-provider: its JWT access tokens carry `client_id`, not `azp`, and
    // the gateway got no x-zeebe-authz-client-id for them.
    let policy = crate::policy::embedded("dev", crate::policy::DEV_POLICY).unwrap();
    let rules = TokenRules {
        issuer: "https://idp/realms/r".into(),
        audiences: Box::new(["https://zeebe.example.com".into()]),
        leeway: 0,
        token_type: TokenType::Optional,
        permissions_claim: ClaimPath::new(["permissions", "https://zeebe.example.com"]),
        tenants_claim: None,
        tenants_prefix: None,
    };
    for (names, want) in [
        (serde_json::json!({"client_id": "c9068"}), "c9068"),
        (serde_json::json!({"azp": "kc", "client_id": "c9068"}), "kc"),
        (serde_json::json!({"clientId": "legacy"}), "legacy"),
        (
            serde_json::json!({"azp": "", "client_id": "c9068"}),
            "c9068",
        ),
        (serde_json::json!({}), ""),
    ] {
        let mut claims = serde_json::json!({
            "iss": "https://idp/realms/r", "aud": "https://zeebe.example.com",
            "exp": 2_000_000_000u64, "sub": "c9068",
            "permissions": {"https://zeebe.example.com": ["write:*"]},
        });
        claims
            .as_object_mut()
            .unwrap()
            .extend(names.as_object().unwrap().clone());
        let principal = principal_from_claims(&claims, &rules, &policy, 1_900_000_000).unwrap();
        assert_eq!(&*principal.client_id, want, "{names}");
        assert_eq!(
            principal.grants.rpcs,
            crate::catalog::RpcSet::all(),
            "write:* read under an audience that is a URI with dots"
        );
    }
}

/// Member names of generated payloads: the claims the realms and policies below read,
/// some nobody reads, an escaped `exp`, and serde_json's private keys.
const MEMBER_NAMES: [&str; 23] = [
    "exp",
    "nbf",
    "iat",
    "iss",
    "aud",
    "sub",
    "azp",
    "client_id",
    "clientId",
    "permissions",
    "resource_access",
    "tenants",
    "groups",
    "preferred_username",
    "realm_access",
    "roles",
    "scope",
    "jti",
    "typ",
    "\\u0065xp",
    "x",
    "$serde_json::private::RawValue",
    "$serde_json::private::Number",
];

/// Payload text for [`read_claims`]: members named from the claims the realms and
/// policies below read and some nobody reads (repeats included, and an escaped `exp`), with
/// values that are well-formed or not as JSON (a lone surrogate escape, a number out of
/// range, nesting past serde_json's limit of 128).
fn payload_text() -> impl proptest::strategy::Strategy<Value = String> {
    use proptest::prelude::*;
    let names = prop::sample::select(MEMBER_NAMES.to_vec());
    let strings = prop::sample::select(vec![
        "\"write:*\"",
        "\"read:*\"",
        "\"zeebe-api\"",
        "\"https://idp/realms/r\"",
        "\"payments\"",
        "\"payments-worker\"",
        "\"zeebe-admin\"",
        "\"/tenants/t1\"",
        "\"t1 t2\"",
        "\"\"",
        "\"a\\nb\"",
        "\"\\ud800\"",
        "\"\\ud83d\\ude00\"",
        "\"\\x\"",
    ]);
    let leaf = prop_oneof![
        strings,
        prop::sample::select(vec![
            "1900000000",
            "2000000000",
            "2000000000.5",
            "-1",
            "0",
            "1e400",
            "-0",
            "1.0e9",
            "18446744073709551616",
            "null",
            "true",
            "false",
        ]),
    ]
    .prop_map(str::to_string);
    let value = leaf.prop_recursive(4, 24, 4, move |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(|v| format!("[{}]", v.join(","))),
            prop::collection::vec((names.clone(), inner), 0..4).prop_map(|m| {
                let members: Vec<String> =
                    m.into_iter().map(|(k, v)| format!("\"{k}\":{v}")).collect();
                format!("{{{}}}", members.join(","))
            }),
            (120usize..135).prop_map(|depth| format!(
                "{}1{}",
                "[".repeat(depth),
                "]".repeat(depth)
            )),
        ]
    });
    let names = prop::sample::select(MEMBER_NAMES.to_vec());
    let fixed = prop::sample::select(vec![
        "\"iss\":\"https://idp/realms/r\"",
        "\"aud\":[\"camunda\",\"zeebe-api\"]",
        "\"exp\":2000000000",
        "\"permissions\":{\"zeebe-api\":[\"write:*\"]}",
        "\"resource_access\":{\"zeebe-api\":{\"roles\":[\"read:*\"]}}",
        "\"client_id\":\"payments-worker\"",
        "\"groups\":[\"payments\",\"/tenants/t1\"]",
        "\"realm_access\":{\"roles\":[\"zeebe-admin\"]}",
        "\"sub\":\"service-account-x\"",
        "\"azp\":\"kc\"",
        "\"clientId\":\"legacy\"",
        "\"preferred_username\":\"ann\"",
        "\"tenants\":[\"t1\"]",
        "\"scope\":\"write:* read:*\"",
        "\"nbf\":1900000000",
        "\"iat\":2000000010",
    ]);
    (
        prop::collection::vec(fixed, 0..14),
        prop::collection::vec((names, value), 0..8),
        prop::sample::select(vec!["", " ", "x", "]"]),
    )
        .prop_map(|(fixed, free, tail)| {
            let mut members: Vec<String> = fixed.into_iter().map(str::to_string).collect();
            members.extend(free.into_iter().map(|(k, v)| format!("\"{k}\":{v}")));
            format!("{{{}}}{tail}", members.join(","))
        })
}

fn realm_rules() -> Vec<TokenRules> {
    let rules = |permissions: &[&str], tenants: Option<&[&str]>, prefix: Option<&str>| TokenRules {
        issuer: "https://idp/realms/r".into(),
        audiences: Box::new(["zeebe-api".into()]),
        leeway: 5,
        token_type: TokenType::Optional,
        permissions_claim: ClaimPath::new(permissions.iter().copied()),
        tenants_claim: tenants.map(|t| ClaimPath::new(t.iter().copied())),
        tenants_prefix: prefix.map(Into::into),
    };
    vec![
        rules(&["permissions", "zeebe-api"], Some(&["tenants"]), None),
        rules(
            &["resource_access", "zeebe-api", "roles"],
            Some(&["groups"]),
            Some("/tenants/"),
        ),
        rules(&["scope"], None, None),
        rules(&[], Some(&[]), None),
    ]
}

fn policies() -> [&'static Policy; 2] {
    use std::sync::OnceLock;
    static POLICIES: OnceLock<[Policy; 2]> = OnceLock::new();
    let p = POLICIES.get_or_init(|| {
        [
            crate::policy::embedded("dev", crate::policy::DEV_POLICY).unwrap(),
            crate::policy::embedded(
                "camunda-8.8",
                include_str!("../../../../../policies/camunda-8.8.yaml"),
            )
            .unwrap(),
        ]
    });
    [&p[0], &p[1]]
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(2000))]

    /// The members a verified token keeps give the same principal, or the same deny, as
    /// the whole payload (`unverified_claims`, itself compared with serde_json's own parse
    /// below): for every realm's claim paths and for a policy with the Camunda dialect's
    /// owner claims.
    #[test]
    fn read_claims_keeps_the_principal(text in payload_text()) {
        let token = format!("h.{}.s", seg(&text));
        let whole = unverified_claims(&token);
        for rules in &realm_rules() {
            for policy in policies() {
                let kept = read_claims(&token, |n| reads_claim(n, rules, policy));
                match (&whole, &kept) {
                    (Ok(whole), Ok(kept)) => {
                        let members = kept.as_object().unwrap();
                        let expected: Map<String, Value> = whole
                            .as_object()
                            .unwrap()
                            .iter()
                            .filter(|(k, _)| reads_claim(k, rules, policy))
                            .map(|(k, v)| (k.clone(), v.clone()))
                            .collect();
                        proptest::prop_assert_eq!(members, &expected);
                        for now in [1_900_000_000, 2_000_000_003, 2_000_000_006] {
                            proptest::prop_assert_eq!(
                                principal_from_claims(whole, rules, policy, now),
                                principal_from_claims(kept, rules, policy, now),
                                "{}", text
                            );
                        }
                    }
                    (Err(a), Err(b)) => proptest::prop_assert_eq!(a, b),
                    _ => proptest::prop_assert!(
                        false,
                        "accepted by one parse only: {text} (whole {:?}, kept {:?})",
                        whole.is_ok(),
                        kept.is_ok()
                    ),
                }
            }
        }
    }

    /// The claims parse is serde_json's own `Value` parse (what `verify` and `explain` did
    /// before), but for serde_json's private keys, which it refuses wherever they are.
    #[test]
    fn claims_parse_as_serde_json_parses_them_but_private_keys(text in payload_text()) {
        let token = format!("h.{}.s", seg(&text));
        let ours = unverified_claims(&token);
        if text.contains("$serde_json::private::") {
            proptest::prop_assert!(ours.is_err(), "{}", text);
        } else {
            let reference = serde_json::from_slice::<Value>(text.as_bytes())
                .ok()
                .filter(Value::is_object);
            proptest::prop_assert_eq!(ours.ok(), reference, "{}", text);
        }
    }
}

#[test]
fn serde_json_private_keys_are_refused_as_malformed() {
    // Regression: with serde_json's raw_value feature (on through axum) a `Value` parse
    // read the first payload as `{"exp":5,"sub":"a"}` and the kept-members parse as `{}`;
    // and the second was refused by one parse and accepted by the other.
    for bad in [
        r#"{"$serde_json::private::RawValue":"{\"exp\":5,\"sub\":\"a\"}"}"#,
        r#"{"exp":5,"x":{"$serde_json::private::RawValue":"not json"}}"#,
        r#"{"exp":5,"sub":{"\u0024serde_json::private::Number":"1"}}"#,
    ] {
        let token = format!("h.{}.s", seg(bad));
        let refused = unverified_claims(&token).unwrap_err();
        assert_eq!(refused.outcome, Outcome::MalformedToken, "{bad}");
        assert!(read_claims(&token, |n| n == "exp").is_err(), "{bad}");
    }
}

#[test]
fn read_claims_refuses_what_a_value_refuses_in_unread_members() {
    // serde's IgnoredAny would skip these unchecked (serde_json does not validate escapes,
    // number ranges or depth while skipping): the kept-members parse must not.
    let deep = format!("{}1{}", "[".repeat(200), "]".repeat(200));
    for bad in [
        r#"{"exp":1,"x":"\ud800"}"#.to_string(),
        r#"{"exp":1,"x":1e400}"#.to_string(),
        format!(r#"{{"exp":1,"x":{deep}}}"#),
        r#"{"exp":1,"x":{"\ud800":1}}"#.to_string(),
        r#"{"exp":1,"x":"\x"}"#.to_string(),
        r#"{"exp":1} x"#.to_string(),
        "[1]".to_string(),
    ] {
        let token = format!("h.{}.s", seg(&bad));
        assert!(unverified_claims(&token).is_err(), "{bad}");
        assert!(read_claims(&token, |n| n == "exp").is_err(), "{bad}");
    }
    // A repeated member: the last one, as in a `Value`.
    let token = format!("h.{}.s", seg(r#"{"exp":1,"\u0065xp":2,"x":[],"exp":3}"#));
    assert_eq!(
        read_claims(&token, |n| n == "exp").unwrap(),
        serde_json::json!({"exp": 3})
    );
    assert_eq!(unverified_claims(&token).unwrap()["exp"], 3);
}

#[test]
fn header_refuses_none_and_hmac_by_name() {
    for (alg, outcome) in [
        ("none", Outcome::UnsupportedAlgorithm),
        ("HS256", Outcome::UnsupportedAlgorithm),
        ("ES512", Outcome::UnsupportedAlgorithm),
    ] {
        let t = format!("{}.{}.", seg(&format!(r#"{{"alg":"{alg}"}}"#)), seg("{}"));
        assert_eq!(parse_header(&t).unwrap_err().outcome, outcome, "{alg}");
    }
    let t = format!(
        "{}.{}.sig",
        seg(r#"{"alg":"RS256","kid":"k1","typ":"JWT"}"#),
        seg("{}")
    );
    assert_eq!(
        parse_header(&t).unwrap(),
        JwtHeader {
            alg: Algorithm::RS256,
            kid: Some("k1".into()),
            typ: Some("JWT".into()),
        }
    );
}

#[test]
fn crit_header_accepted() {
    // Regression: a `crit` header used to be ignored (RFC 7515 §4.1.11 requires refusal).
    for header in [
        r#"{"alg":"RS256","kid":"k1","crit":["exp"]}"#,
        r#"{"alg":"RS256","crit":["http://example.com/ext"],"http://example.com/ext":true}"#,
        r#"{"alg":"RS256","crit":[]}"#,
        r#"{"alg":"RS256","crit":"b64"}"#,
        r#"{"alg":"RS256","crit":null}"#,
        r#"{"alg":"none","crit":["b64"],"b64":false}"#,
    ] {
        let t = format!("{}.{}.sig", seg(header), seg("{}"));
        let deny = parse_header(&t).unwrap_err();
        assert_eq!(deny.outcome, Outcome::CriticalHeader, "{header}");
        assert!(deny.message.contains("crit"), "{}", deny.message);
    }
}

#[test]
fn header_garbage_is_malformed() {
    for t in [
        "x.y.z",
        ".y.z",
        &format!("{}.a.b", seg("[]")),
        &format!("{}.a.b", seg(r#"{"typ":"JWT"}"#)),
    ] {
        assert_eq!(
            parse_header(t).unwrap_err().outcome,
            Outcome::MalformedToken,
            "{t}"
        );
    }
}

#[test]
fn unverified_issuer_reads_iss_only_when_present() {
    let t = format!(
        "{}.{}.s",
        seg("{}"),
        seg(r#"{"iss":"https://kc/realms/a"}"#)
    );
    assert_eq!(
        unverified_issuer(&t).as_deref(),
        Some("https://kc/realms/a")
    );
    assert_eq!(unverified_issuer("a.b.c"), None);
}
