//! The committed output: what the generator makes today, parsed strictly, with every piece.

use super::*;

// ---- the committed output ----

#[test]
fn committed_istio_folder_matches_the_generator() {
    let files = generate(&example_config(), &IstioOptions::default());
    let out = Path::new(ROOT).join("istio");
    let diff = istio::differences(&out, &files);
    assert!(
        diff.is_empty(),
        "istio/ is out of date ({diff:?}). Regenerate it with\n    cargo run -- istio --config examples/config.yaml --out istio\nand commit the result."
    );
}

#[test]
fn generating_twice_gives_the_same_bytes() {
    let a = generate(&example_config(), &IstioOptions::default());
    let b = generate(&example_config(), &IstioOptions::default());
    assert_eq!(a, b);
}

#[test]
fn default_output_parses_strictly_and_has_every_piece() {
    let files = generate(&example_config(), &IstioOptions::default());
    let issuer = "https://keycloak.example.com/auth/realms/camunda-platform";
    for mode in [Mode::Sidecar, Mode::Ambient] {
        let p = parse_mode(&files, mode);

        // Extension provider.
        let mesh = p.mesh.as_ref().expect("mesh-config.yaml");
        assert_eq!(mesh.mesh_config.extension_providers.len(), 2);
        for provider in &mesh.mesh_config.extension_providers {
            assert!(
                provider.envoy_ext_authz_grpc.is_some() != provider.envoy_file_access_log.is_some(),
                "one provider kind each: {provider:?}"
            );
        }
        let (provider_name, grpc) = mesh.mesh_config.ext_authz();
        assert_eq!(provider_name, "zeebe-authz");
        assert_eq!(grpc.service, "zeebe-authz.camunda.svc.cluster.local");
        assert_eq!(grpc.port, 9000);
        assert_eq!(grpc.timeout, "2s");
        assert!(!grpc.fail_open);
        assert_eq!(grpc.status_on_error, "503");
        // The default policy has no conditions, but its rpc-named permissions grant
        // CreateProcessInstance without CreateProcessInstanceWithResult: on the REST door the
        // body of POST /v2/process-instances says which (`awaitCompletion`).
        let body = grpc
            .include_request_body_in_check
            .as_ref()
            .expect("the REST door's body choice needs the body");
        assert!(body.allow_partial_message && body.pack_as_bytes);

        // RequestAuthentication.
        assert_eq!(p.request_authentications.len(), 1);
        let ra = &p.request_authentications[0];
        assert_eq!(
            (ra.api_version.as_str(), ra.kind.as_str()),
            ("security.istio.io/v1", "RequestAuthentication")
        );
        let rule = &ra.spec.jwt_rules[0];
        assert_eq!(rule.issuer, issuer);
        assert_eq!(
            rule.jwks_uri,
            format!("{issuer}/protocol/openid-connect/certs")
        );
        assert_eq!(rule.audiences, ["zeebe-api"]);
        assert!(rule.forward_original_token);

        // Attachment: selector in sidecar mode, targetRefs in ambient mode, never both.
        let gateway_ref = TargetRef {
            group: String::new(),
            kind: "Service".into(),
            name: "camunda-zeebe-gateway".into(),
        };
        let attachments = p
            .policies
            .iter()
            .filter(|ap| ap.metadata.name != "zeebe-authz-via-waypoint")
            .map(|ap| (&ap.spec.selector, &ap.spec.target_refs))
            .chain(
                p.request_authentications
                    .iter()
                    .map(|ra| (&ra.spec.selector, &ra.spec.target_refs)),
            );
        for (selector, refs) in attachments {
            match mode {
                Mode::Sidecar => {
                    assert!(refs.is_empty());
                    assert_eq!(
                        selector.as_ref().unwrap().match_labels,
                        BTreeMap::from([(
                            "app.kubernetes.io/component".to_string(),
                            "zeebe-gateway".to_string()
                        )])
                    );
                }
                Mode::Ambient => {
                    assert!(selector.is_none());
                    assert_eq!(refs, std::slice::from_ref(&gateway_ref));
                }
            }
        }

        // Policies: all v1; CUSTOM names the provider and uses nothing CUSTOM cannot see.
        for ap in &p.policies {
            assert_eq!(ap.api_version, "security.istio.io/v1");
            assert_eq!(ap.kind, "AuthorizationPolicy");
            assert_eq!(ap.metadata.namespace, "camunda");
            assert_eq!(ap.spec.provider.is_some(), ap.spec.action == Action::Custom);
            if ap.spec.action == Action::Custom {
                assert_eq!(ap.spec.provider.as_ref().unwrap().name, provider_name);
                for r in &ap.spec.rules {
                    assert!(r.from.is_empty(), "CUSTOM cannot use request principals");
                    assert!(
                        r.when.iter().all(|c| !c.key.starts_with("request.auth")),
                        "CUSTOM cannot use request.auth.*"
                    );
                }
            }
        }
        let deny = p
            .policies
            .iter()
            .find(|ap| ap.spec.action == Action::Deny)
            .unwrap();
        assert_eq!(
            deny.spec.rules[0].from[0].source.not_request_principals,
            [format!("{issuer}/*")]
        );
        assert!(p.policies.iter().any(|ap| ap.spec.action == Action::Allow));

        // The authorizer.
        let deployment = &p.deployments[0];
        let pod = &deployment.spec.template.spec;
        let c = &pod.containers[0];
        assert_eq!(c.readiness_probe.http_get.path, "/readyz");
        assert_eq!(c.liveness_probe.http_get.path, "/healthz");
        assert_eq!(c.readiness_probe.http_get.port, "admin");
        assert!(
            c.ports
                .iter()
                .any(|p| p.name == "admin" && p.container_port == 9001)
        );
        assert!(
            c.ports
                .iter()
                .any(|p| p.name == "grpc" && p.container_port == 9000)
        );
        assert!(pod.security_context.run_as_non_root && c.security_context.run_as_non_root);
        assert!(c.security_context.read_only_root_filesystem);
        assert!(!c.security_context.allow_privilege_escalation);
        assert_eq!(c.security_context.capabilities.drop, ["ALL"]);
        assert!(
            c.resources.requests.contains_key("cpu") && c.resources.limits.contains_key("memory")
        );
        assert_eq!(
            c.args,
            ["serve", "--config", "/etc/zeebe-authz/config.yaml"]
        );
        assert_eq!(
            pod.volumes[0].config_map.name,
            p.config_maps[0].metadata.name
        );
        assert_eq!(c.volume_mounts[0].mount_path, "/etc/zeebe-authz");
        assert_eq!(
            deployment
                .spec
                .selector
                .match_labels
                .get("app.kubernetes.io/name"),
            deployment
                .spec
                .template
                .metadata
                .labels
                .get("app.kubernetes.io/name")
        );
        let svc = &p.services[0];
        let grpc_port = svc.spec.ports.iter().find(|p| p.name == "grpc").unwrap();
        assert_eq!(
            (grpc_port.port, grpc_port.app_protocol.as_str()),
            (9000, "grpc")
        );
        assert!(
            svc.spec
                .ports
                .iter()
                .any(|p| p.name == "http-admin" && p.port == 9001)
        );
        assert_eq!(svc.spec.selector, deployment.spec.selector.match_labels);
        assert_eq!(
            p.service_accounts[0].metadata.name,
            pod.service_account_name
        );

        // kustomization lists exactly the object files.
        let k = p.kustomization.as_ref().unwrap();
        for r in &k.resources {
            assert!(
                files
                    .iter()
                    .any(|f| f.path == Path::new(mode.dir()).join(r)),
                "{r}"
            );
        }

        // The access log: a provider whose fields carry the authorizer's dynamic metadata, and
        // a Telemetry turning it on where the policies are enforced.
        let (log_name, log) = mesh.mesh_config.access_log();
        assert_eq!(log_name, "zeebe-authz-access-log");
        assert_eq!(log.path, "/dev/stdout");
        let fields = &log.log_format.labels;
        for key in [
            "decision_id",
            "reason",
            "realm",
            "subject",
            "rpc",
            "dry_run",
        ] {
            assert_eq!(
                fields[key],
                format!("%DYNAMIC_METADATA(envoy.filters.http.ext_authz:{key})%")
            );
        }
        assert_eq!(fields["request_id"], "%REQ(X-REQUEST-ID)%");
        assert_eq!(fields["grpc_status"], "%GRPC_STATUS%");
        assert_eq!(fields["response_code"], "%RESPONSE_CODE%");
        assert_eq!(p.telemetries.len(), 1);
        let telemetry = &p.telemetries[0];
        assert_eq!(
            (telemetry.api_version.as_str(), telemetry.kind.as_str()),
            ("telemetry.istio.io/v1", "Telemetry")
        );
        assert_eq!(telemetry.metadata.namespace, "camunda");
        assert_eq!(telemetry.spec.access_logging.len(), 1);
        let providers: Vec<&str> = telemetry.spec.access_logging[0]
            .providers
            .iter()
            .map(|p| p.name.as_str())
            .collect();
        assert_eq!(providers, [log_name], "the provider of mesh-config.yaml");
        match mode {
            Mode::Sidecar => {
                assert!(telemetry.spec.target_refs.is_empty());
                assert_eq!(
                    telemetry.spec.selector.as_ref().unwrap().match_labels,
                    p.policies[0].spec.selector.as_ref().unwrap().match_labels,
                    "the pods the policies select"
                );
            }
            Mode::Ambient => {
                // The waypoint runs ext_authz, and reads only `targetRefs` Telemetry.
                assert!(telemetry.spec.selector.is_none());
                assert_eq!(
                    telemetry.spec.target_refs,
                    [TargetRef {
                        group: "gateway.networking.k8s.io".into(),
                        kind: "Gateway".into(),
                        name: p.gateways[0].metadata.name.clone(),
                    }]
                );
            }
        }
        assert!(k.resources.contains(&"telemetry.yaml".to_string()));

        if mode == Mode::Ambient {
            let gw = &p.gateways[0];
            assert_eq!(gw.spec.gateway_class_name, "istio-waypoint");
            assert_eq!(
                (
                    gw.spec.listeners[0].name.as_str(),
                    gw.spec.listeners[0].port,
                    gw.spec.listeners[0].protocol.as_str()
                ),
                ("mesh", 15008, "HBONE")
            );
            let labels = &p.patch.as_ref().unwrap().metadata.labels;
            assert_eq!(labels.get("istio.io/use-waypoint"), Some(&gw.metadata.name));
            assert_eq!(
                labels
                    .get("istio.io/ingress-use-waypoint")
                    .map(String::as_str),
                Some("true"),
                "ingress gateway traffic must go through the waypoint too"
            );
            // ztunnel admits the gRPC and REST ports of the gateway pods only from the waypoint.
            let l4 = p
                .policies
                .iter()
                .find(|ap| ap.metadata.name == "zeebe-authz-via-waypoint")
                .expect("the via-waypoint policy");
            assert!(l4.spec.target_refs.is_empty() && l4.spec.selector.is_some());
            assert_eq!(l4.spec.action, Action::Allow);
            let from_waypoint = &l4.spec.rules[0];
            assert_eq!(
                from_waypoint.from[0].source.principals,
                [format!("cluster.local/ns/camunda/sa/{}", gw.metadata.name)]
            );
            assert_eq!(from_waypoint.to[0].operation.ports, ["26500", "8080"]);
            assert!(from_waypoint.when.is_empty(), "ztunnel enforces L4 only");
            assert_eq!(
                l4.spec.rules[1].to[0].operation.not_ports,
                ["26500", "8080"]
            );
            assert!(k.resources.contains(&"waypoint.yaml".to_string()));
        } else {
            assert!(p.gateways.is_empty() && p.patch.is_none());
        }
    }
}

#[test]
fn the_config_in_the_config_map_compiles_in_place() {
    let files = generate(&example_config(), &IstioOptions::default());
    let p = parse_mode(&files, Mode::Sidecar);
    let data = &p.config_maps[0].data;
    let scratch = Scratch::new();
    for (name, text) in data {
        scratch.write(name, text);
    }
    let config = zeebe_authz_server::disk::load_config(&scratch.0.join("config.yaml"))
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(config.listen.check.port(), 9000);
    assert_eq!(config.listen.admin.port(), 9001);
    assert_eq!(
        data["policy-default.yaml"],
        std::fs::read_to_string(Path::new(ROOT).join("policies/default.yaml")).unwrap(),
        "policies are copied verbatim"
    );
}
