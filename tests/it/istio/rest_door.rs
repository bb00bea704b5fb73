//! The REST door (Camunda 8.8's `/v2` on the gateway's HTTP port): the policies guard that
//! port too, with the authorizer deciding every call there, and leave the pass-through paths
//! and the other ports as they were.

use super::*;

fn rest_call(path: &str, issuer: Option<String>) -> Call {
    Call {
        host: "zeebe.example.com",
        port: 8080,
        path: path.into(),
        issuer,
        permissions: vec!["write:*"],
    }
}

/// Istio's verdict on the REST port, for both modes, with an authorizer that answers `verdict`.
fn verdicts(options: &IstioOptions, call: &Call, verdict: bool) -> Vec<bool> {
    let files = generate(&example_config(), options);
    let claim_key = "request.auth.claims[permissions][zeebe-api]";
    [Mode::Sidecar, Mode::Ambient]
        .into_iter()
        .map(|mode| {
            let mut p = parse_mode(&files, mode);
            if mode == Mode::Ambient {
                p.policies.retain(|ap| ap.spec.selector.is_none());
            }
            istio_allows(&p.policies, call, claim_key, |_| verdict)
        })
        .collect()
}

#[test]
fn the_rest_port_is_the_authorizers_to_decide() {
    let config = zeebe_authz_server::disk::load_config(&example_config()).unwrap();
    let issuer = Some(config.realms[0].issuer.to_string());
    let options = IstioOptions::default();
    for path in [
        "/v2/topology",
        "/v2/process-instances",
        "/v2;x=y/topology",
        "/%762/topology",
        "/operate/api",
    ] {
        // The authorizer's word is final on every path of the port, for a realm principal.
        assert_eq!(
            verdicts(&options, &rest_call(path, issuer.clone()), true),
            [true, true],
            "{path}"
        );
        assert_eq!(
            verdicts(&options, &rest_call(path, issuer.clone()), false),
            [false, false],
            "{path}"
        );
        // Without a token of the realm Istio refuses before asking.
        assert_eq!(
            verdicts(&options, &rest_call(path, None), true),
            [false, false],
            "{path}"
        );
    }
}

#[test]
fn rest_pass_through_paths_and_other_ports_are_left_as_they_were() {
    let options = IstioOptions {
        rest_pass_through: vec!["/operate/*".into(), "/tasklist/*".into()],
        ..IstioOptions::default()
    };
    // The web applications' paths pass without a token and without the authorizer.
    assert_eq!(
        verdicts(&options, &rest_call("/operate/api/x", None), false),
        [true, true]
    );
    // /v2 is still the authorizer's.
    assert_eq!(
        verdicts(&options, &rest_call("/v2/topology", None), true),
        [false, false]
    );
    let mut management = rest_call("/actuator/prometheus", None);
    management.port = 9600;
    assert_eq!(verdicts(&options, &management, false), [true, true]);
}

#[test]
fn rest_port_zero_leaves_the_rest_port_unguarded() {
    let options = IstioOptions {
        gateway_rest_port: 0,
        ..IstioOptions::default()
    };
    assert_eq!(
        verdicts(&options, &rest_call("/v2/topology", None), false),
        [true, true]
    );
}

/// A security review found `--rest-pass-through` took any pattern: `*`, `/*` or `/v2/*` turned
/// the REST door off, and a suffix such as `*.js` let `/v2/jobs/activation;.js` past the
/// authorizer (Istio keeps the `;.js`, Spring cuts it and routes to ActivateJobs).
#[test]
fn rest_pass_through_patterns_that_reach_the_rest_api_are_refused() {
    for pattern in [
        "*",
        "/*",
        "/v2/*",
        "/V2/*",
        "*.js",
        "/operate/*.js",
        "/operate",
        "/a/b/*",
        "/../*",
        "/op%65rate/*",
    ] {
        let options = IstioOptions {
            rest_pass_through: vec![pattern.into()],
            ..IstioOptions::default()
        };
        let result = istio::generate(&example_config(), &[Mode::Sidecar], &options);
        assert!(
            matches!(result, Err(istio::IstioError::PassThrough { .. })),
            "{pattern}: {:?}",
            result.map(|f| f.len())
        );
    }
    let options = IstioOptions {
        rest_pass_through: vec!["/operate/*".into(), "/tasklist/*".into()],
        ..IstioOptions::default()
    };
    assert!(istio::generate(&example_config(), &[Mode::Sidecar], &options).is_ok());
}
