//! `zeebe-authz istio`: the committed `istio/` folder is what the generator makes today, every
//! emitted object parses into a strict model of its Istio or Kubernetes type (unknown fields
//! rejected, written here from the API references rather than shared with the generator), and
//! Istio's evaluation of the generated policies, simulated, never allows a call the authorizer
//! would deny, nor denies one it would allow.

// The strict models have fields no assertion reads: they exist so that a missing, misspelt or
// extra field fails to parse.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use zeebe_authz::body::RequestBody;
use zeebe_authz::catalog::{GATEWAY_PATH_PREFIX, Rpc};
use zeebe_authz::config::{self, Config};
use zeebe_authz::istio::{self, GeneratedFile, IstioOptions, Mode};
use zeebe_authz::policy::PathRule;

use crate::util::Scratch;

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

// ---- strict models of what we emit ----

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Meta {
    name: String,
    namespace: String,
    #[serde(default)]
    labels: BTreeMap<String, String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct AuthorizationPolicy {
    api_version: String,
    kind: String,
    metadata: Meta,
    spec: AuthorizationPolicySpec,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct AuthorizationPolicySpec {
    selector: Option<Selector>,
    #[serde(default)]
    target_refs: Vec<TargetRef>,
    action: Action,
    provider: Option<ProviderRef>,
    #[serde(default)]
    rules: Vec<Rule>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
enum Action {
    Allow,
    Deny,
    Custom,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct Selector {
    match_labels: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
struct TargetRef {
    group: String,
    kind: String,
    name: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ProviderRef {
    name: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Rule {
    #[serde(default)]
    from: Vec<FromEntry>,
    #[serde(default)]
    to: Vec<ToEntry>,
    #[serde(default)]
    when: Vec<Condition>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FromEntry {
    source: Source,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct Source {
    #[serde(default)]
    request_principals: Vec<String>,
    #[serde(default)]
    not_request_principals: Vec<String>,
    #[serde(default)]
    principals: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ToEntry {
    operation: Operation,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct Operation {
    #[serde(default)]
    hosts: Vec<String>,
    #[serde(default)]
    not_hosts: Vec<String>,
    #[serde(default)]
    ports: Vec<String>,
    #[serde(default)]
    not_ports: Vec<String>,
    #[serde(default)]
    methods: Vec<String>,
    #[serde(default)]
    paths: Vec<String>,
    #[serde(default)]
    not_paths: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct Condition {
    key: String,
    #[serde(default)]
    values: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RequestAuthentication {
    api_version: String,
    kind: String,
    metadata: Meta,
    spec: RequestAuthenticationSpec,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RequestAuthenticationSpec {
    selector: Option<Selector>,
    #[serde(default)]
    target_refs: Vec<TargetRef>,
    jwt_rules: Vec<JwtRule>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct JwtRule {
    issuer: String,
    jwks_uri: String,
    audiences: Vec<String>,
    forward_original_token: bool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct Gateway {
    api_version: String,
    kind: String,
    metadata: Meta,
    spec: GatewaySpec,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct GatewaySpec {
    gateway_class_name: String,
    listeners: Vec<Listener>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Listener {
    name: String,
    port: u16,
    protocol: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct ServiceAccount {
    api_version: String,
    kind: String,
    metadata: Meta,
    automount_service_account_token: bool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct ConfigMap {
    api_version: String,
    kind: String,
    metadata: Meta,
    data: BTreeMap<String, String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct Service {
    api_version: String,
    kind: String,
    metadata: Meta,
    spec: ServiceSpec,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ServiceSpec {
    selector: BTreeMap<String, String>,
    ports: Vec<ServicePort>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct ServicePort {
    name: String,
    port: u16,
    target_port: String,
    protocol: String,
    app_protocol: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct Deployment {
    api_version: String,
    kind: String,
    metadata: Meta,
    spec: DeploymentSpec,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct DeploymentSpec {
    replicas: u32,
    selector: Selector,
    template: PodTemplate,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PodTemplate {
    metadata: TemplateMeta,
    spec: PodSpec,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TemplateMeta {
    labels: BTreeMap<String, String>,
    annotations: BTreeMap<String, String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct PodSpec {
    service_account_name: String,
    automount_service_account_token: bool,
    security_context: PodSecurityContext,
    containers: Vec<Container>,
    volumes: Vec<Volume>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct PodSecurityContext {
    run_as_non_root: bool,
    run_as_user: u32,
    run_as_group: u32,
    seccomp_profile: SeccompProfile,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SeccompProfile {
    #[serde(rename = "type")]
    kind: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct Container {
    name: String,
    image: String,
    image_pull_policy: String,
    args: Vec<String>,
    env: Vec<EnvVar>,
    ports: Vec<ContainerPort>,
    readiness_probe: Probe,
    liveness_probe: Probe,
    resources: Resources,
    security_context: ContainerSecurityContext,
    volume_mounts: Vec<VolumeMount>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct EnvVar {
    name: String,
    value: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct ContainerPort {
    name: String,
    container_port: u16,
    protocol: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct Probe {
    http_get: HttpGet,
    period_seconds: u32,
    failure_threshold: u32,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct HttpGet {
    path: String,
    port: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Resources {
    requests: BTreeMap<String, String>,
    limits: BTreeMap<String, String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct ContainerSecurityContext {
    allow_privilege_escalation: bool,
    read_only_root_filesystem: bool,
    run_as_non_root: bool,
    capabilities: Capabilities,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Capabilities {
    drop: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct VolumeMount {
    name: String,
    mount_path: String,
    read_only: bool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct Volume {
    name: String,
    config_map: ConfigMapRef,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ConfigMapRef {
    name: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct Kustomization {
    api_version: String,
    kind: String,
    resources: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct MeshValues {
    mesh_config: MeshConfig,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct MeshConfig {
    extension_providers: Vec<ExtensionProvider>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct ExtensionProvider {
    name: String,
    envoy_ext_authz_grpc: EnvoyExtAuthzGrpc,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct EnvoyExtAuthzGrpc {
    service: String,
    port: u16,
    timeout: String,
    fail_open: bool,
    status_on_error: String,
    include_request_body_in_check: Option<BodyInCheck>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct BodyInCheck {
    max_request_bytes: u32,
    allow_partial_message: bool,
    pack_as_bytes: bool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct LabelPatch {
    metadata: PatchMeta,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PatchMeta {
    labels: BTreeMap<String, String>,
}

/// Only `apiVersion` and `kind`, to pick the strict model.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct TypeMeta {
    api_version: Option<String>,
    kind: Option<String>,
}

/// One mode's output, parsed strictly.
#[derive(Debug, Default)]
struct Parsed {
    policies: Vec<AuthorizationPolicy>,
    request_authentications: Vec<RequestAuthentication>,
    gateways: Vec<Gateway>,
    service_accounts: Vec<ServiceAccount>,
    config_maps: Vec<ConfigMap>,
    services: Vec<Service>,
    deployments: Vec<Deployment>,
    kustomization: Option<Kustomization>,
    mesh: Option<MeshValues>,
    patch: Option<LabelPatch>,
}

fn strict<T: for<'de> Deserialize<'de>>(file: &Path, doc: &str) -> T {
    serde_saphyr::from_str(doc)
        .unwrap_or_else(|e| panic!("{}: does not parse strictly: {e}\n{doc}", file.display()))
}

/// Splits a generated file into documents and parses each into its strict model.
fn parse_mode(files: &[GeneratedFile], mode: Mode) -> Parsed {
    let mut parsed = Parsed::default();
    for f in files.iter().filter(|f| f.path.starts_with(mode.dir())) {
        assert!(
            f.contents.starts_with(istio::GENERATED_MARKER),
            "{}",
            f.path.display()
        );
        assert!(
            !f.contents.lines().any(|l| l.ends_with(' ')),
            "{}: trailing whitespace",
            f.path.display()
        );
        let name = f.path.file_name().unwrap().to_str().unwrap();
        match name {
            "mesh-config.yaml" => parsed.mesh = Some(strict(&f.path, &f.contents)),
            "kustomization.yaml" => parsed.kustomization = Some(strict(&f.path, &f.contents)),
            "gateway-service-patch.yaml" => parsed.patch = Some(strict(&f.path, &f.contents)),
            _ => {
                for doc in f.contents.split("\n---\n") {
                    let meta: TypeMeta = strict(&f.path, doc);
                    match (meta.api_version.as_deref(), meta.kind.as_deref()) {
                        (Some("security.istio.io/v1"), Some("AuthorizationPolicy")) => {
                            parsed.policies.push(strict(&f.path, doc))
                        }
                        (Some("security.istio.io/v1"), Some("RequestAuthentication")) => {
                            parsed.request_authentications.push(strict(&f.path, doc))
                        }
                        (Some("gateway.networking.k8s.io/v1"), Some("Gateway")) => {
                            parsed.gateways.push(strict(&f.path, doc))
                        }
                        (Some("v1"), Some("ServiceAccount")) => {
                            parsed.service_accounts.push(strict(&f.path, doc))
                        }
                        (Some("v1"), Some("ConfigMap")) => {
                            parsed.config_maps.push(strict(&f.path, doc))
                        }
                        (Some("v1"), Some("Service")) => parsed.services.push(strict(&f.path, doc)),
                        (Some("apps/v1"), Some("Deployment")) => {
                            parsed.deployments.push(strict(&f.path, doc))
                        }
                        other => panic!("{}: unexpected object {other:?}", f.path.display()),
                    }
                }
            }
        }
    }
    parsed
}

fn example_config() -> PathBuf {
    // Relative, as in the committed headers: tests run from the package root.
    PathBuf::from("examples/config.yaml")
}

fn generate(config: &Path, options: &IstioOptions) -> Vec<GeneratedFile> {
    istio::generate(config, &[Mode::Sidecar, Mode::Ambient], options)
        .unwrap_or_else(|e| panic!("{e}"))
}

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
        let provider = &mesh.mesh_config.extension_providers[0];
        assert_eq!(provider.name, "zeebe-authz");
        let grpc = &provider.envoy_ext_authz_grpc;
        assert_eq!(grpc.service, "zeebe-authz.camunda.svc.cluster.local");
        assert_eq!(grpc.port, 9000);
        assert_eq!(grpc.timeout, "2s");
        assert!(!grpc.fail_open);
        assert_eq!(grpc.status_on_error, "503");
        assert!(
            grpc.include_request_body_in_check.is_none(),
            "the default policy has no conditions: no body needed"
        );

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
                assert_eq!(ap.spec.provider.as_ref().unwrap().name, provider.name);
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
            // ztunnel admits the gRPC port of the gateway pods only from the waypoint.
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
            assert_eq!(from_waypoint.to[0].operation.ports, ["26500"]);
            assert!(from_waypoint.when.is_empty(), "ztunnel enforces L4 only");
            assert_eq!(l4.spec.rules[1].to[0].operation.not_ports, ["26500"]);
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
    let config = config::load(&scratch.0.join("config.yaml")).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(config.listen.check.port(), 9000);
    assert_eq!(config.listen.admin.port(), 9001);
    assert_eq!(
        data["policy-default.yaml"],
        std::fs::read_to_string(Path::new(ROOT).join("policies/default.yaml")).unwrap(),
        "policies are copied verbatim"
    );
}

// ---- Istio's evaluation, simulated ----

/// A request as the gateway's proxy sees it after JWT authentication.
#[derive(Debug, Clone)]
struct Call {
    host: &'static str,
    port: u16,
    path: String,
    /// `iss` of a valid token, if any.
    issuer: Option<String>,
    permissions: Vec<&'static str>,
}

/// Istio's string match for principals and claim values: `*` (present), `*suffix`, `prefix*`,
/// exact (pilot/pkg/security/authz/matcher).
fn istio_match(pattern: &str, value: &str) -> bool {
    if pattern == "*" {
        !value.is_empty()
    } else if let Some(suffix) = pattern.strip_prefix('*') {
        value.ends_with(suffix)
    } else if let Some(prefix) = pattern.strip_suffix('*') {
        value.starts_with(prefix)
    } else {
        pattern == value
    }
}

fn any_match(patterns: &[String], value: &str, ignore_case: bool) -> bool {
    patterns.iter().any(|p| {
        if ignore_case {
            istio_match(&p.to_ascii_lowercase(), &value.to_ascii_lowercase())
        } else {
            istio_match(p, value)
        }
    })
}

fn field_matches(yes: &[String], no: &[String], value: &str, ignore_case: bool) -> bool {
    (yes.is_empty() || any_match(yes, value, ignore_case))
        && (no.is_empty() || !any_match(no, value, ignore_case))
}

fn rule_matches(rule: &Rule, call: &Call, claim_key: &str) -> bool {
    let principal = call
        .issuer
        .as_ref()
        .map(|i| format!("{i}/service-account-uuid"))
        .unwrap_or_default();
    let from = rule.from.is_empty()
        || rule.from.iter().any(|f| {
            field_matches(
                &f.source.request_principals,
                &f.source.not_request_principals,
                &principal,
                false,
            )
        });
    let to = rule.to.is_empty()
        || rule.to.iter().any(|t| {
            let o = &t.operation;
            field_matches(&o.hosts, &o.not_hosts, call.host, true)
                && field_matches(&o.ports, &o.not_ports, &call.port.to_string(), false)
                && field_matches(&o.methods, &[], "POST", false)
                && field_matches(&o.paths, &o.not_paths, &call.path, false)
        });
    let when = rule.when.iter().all(|c| {
        assert_eq!(c.key, claim_key, "only the permissions claim is used");
        call.issuer.is_some()
            && call
                .permissions
                .iter()
                .any(|p| c.values.iter().any(|v| istio_match(v, p)))
    });
    from && to && when
}

fn policies_match(policies: &[&AuthorizationPolicy], call: &Call, claim_key: &str) -> bool {
    policies.iter().any(|p| {
        p.spec
            .rules
            .iter()
            .any(|r| rule_matches(r, call, claim_key))
    })
}

/// What Istio decides: CUSTOM (asking `authorizer`), then DENY, then ALLOW.
fn istio_allows(
    policies: &[AuthorizationPolicy],
    call: &Call,
    claim_key: &str,
    authorizer: impl Fn(&Call) -> bool,
) -> bool {
    let of = |a: Action| {
        policies
            .iter()
            .filter(|p| p.spec.action == a)
            .collect::<Vec<_>>()
    };
    if policies_match(&of(Action::Custom), call, claim_key) && !authorizer(call) {
        return false;
    }
    if policies_match(&of(Action::Deny), call, claim_key) {
        return false;
    }
    let allow = of(Action::Allow);
    allow.is_empty() || policies_match(&allow, call, claim_key)
}

/// What the authorizer decides for a call on the gateway port (realm by host: exact, then
/// without port, then `*`; then token issuer, then the policy).
fn authorizer_allows(config: &Config, call: &Call) -> bool {
    let host = call.host.to_ascii_lowercase();
    let bare = host.rsplit_once(':').map_or(host.as_str(), |(h, _)| h);
    let realm = config
        .realms
        .iter()
        .find(|r| r.hosts.iter().any(|h| **h == *host))
        .or_else(|| {
            config
                .realms
                .iter()
                .find(|r| r.hosts.iter().any(|h| **h == *bare))
        })
        .or_else(|| {
            config
                .realms
                .iter()
                .find(|r| r.hosts.iter().any(|h| &**h == "*"))
        });
    let Some(realm) = realm else { return false };
    if call.issuer.as_deref() != Some(&*realm.issuer) {
        return false;
    }
    let policy = &realm.policy;
    match zeebe_authz::catalog::parse_path(&call.path) {
        zeebe_authz::catalog::PathTarget::Rpc(rpc) => {
            let grants = policy.grants_for(call.permissions.iter().copied());
            policy
                .authorize(&grants, &[], rpc, &RequestBody::default())
                .is_ok()
        }
        zeebe_authz::catalog::PathTarget::UnknownRpc(_) => {
            policy.unknown_rpcs() == PathRule::Authenticated
        }
        zeebe_authz::catalog::PathTarget::OtherService => {
            policy.other_paths() == PathRule::Authenticated
        }
        zeebe_authz::catalog::PathTarget::MalformedRpc(_) => false,
    }
}

const PERMISSION_SETS: &[&[&str]] = &[
    &[],
    &["write:*"],
    &["write:deployments"],
    &["read:*"],
    &["Topology"],
    &["CreateProcessInstance", "DeployResource"],
    &["deployer"],
    &["worker"],
    &["worker", "deployer"],
    &["admin:*"],
    &["x:admin"],
    &["admin:delete"],
    &["tenant-a-starter"],
    &["payment-worker"],
];

/// Compares Istio (with the authorizer behind CUSTOM) with the authorizer alone, on every
/// combination of host, port, path, token issuer and permissions.
fn assert_istio_agrees_with_the_authorizer(config_path: &Path, options: &IstioOptions) {
    let config = config::load(config_path).unwrap_or_else(|e| panic!("{e}"));
    let files = generate(config_path, options);
    let claim_key = "request.auth.claims[permissions][zeebe-api]";
    let mut issuers: Vec<Option<String>> =
        vec![None, Some("https://evil.example.com/realms/x".into())];
    issuers.extend(config.realms.iter().map(|r| Some(r.issuer.to_string())));
    let mut paths: Vec<String> = Rpc::all()
        .map(|r| format!("{GATEWAY_PATH_PREFIX}{}", r.name()))
        .collect();
    paths.push(format!("{GATEWAY_PATH_PREFIX}NoSuchRpc"));
    paths.push("/grpc.health.v1.Health/Check".into());
    let hosts = [
        "zeebe.example.com",
        "ZEEBE.example.com:443",
        "camunda-zeebe-gateway:26500",
        "camunda-zeebe-gateway",
        "tenant-b.example.com",
        "other.example.com",
    ];
    for mode in [Mode::Sidecar, Mode::Ambient] {
        let mut p = parse_mode(&files, mode);
        if mode == Mode::Ambient {
            // The waypoint enforces the policies attached to the Service; the L4 policy that
            // selects the pods is ztunnel's, and the waypoint's own identity passes it.
            p.policies.retain(|ap| ap.spec.selector.is_none());
        }
        let mut checked = 0;
        for host in hosts {
            for path in &paths {
                for issuer in &issuers {
                    for permissions in PERMISSION_SETS {
                        let call = Call {
                            host,
                            port: 26500,
                            path: path.clone(),
                            issuer: issuer.clone(),
                            permissions: permissions.to_vec(),
                        };
                        let expected = authorizer_allows(&config, &call);
                        let got = istio_allows(&p.policies, &call, claim_key, |c| {
                            authorizer_allows(&config, c)
                        });
                        assert_eq!(
                            got,
                            expected,
                            "{mode:?} {}: Istio {} what the authorizer {}: {call:?}",
                            config_path.display(),
                            if got { "allows" } else { "denies" },
                            if expected { "allows" } else { "denies" },
                        );
                        checked += 1;
                    }
                }
            }
        }
        assert!(checked > 1000);
        // Other ports of the gateway (management, REST) are not this product's business.
        let management = Call {
            host: "zeebe.example.com",
            port: 9600,
            path: "/actuator/prometheus".into(),
            issuer: None,
            permissions: vec![],
        };
        assert!(istio_allows(&p.policies, &management, claim_key, |_| false));
    }
}

#[test]
fn istio_with_the_default_policy_decides_exactly_like_the_authorizer() {
    assert_istio_agrees_with_the_authorizer(&example_config(), &IstioOptions::default());
    assert_istio_agrees_with_the_authorizer(
        &example_config(),
        &IstioOptions {
            authorizer_decides_all: true,
            ..IstioOptions::default()
        },
    );
}

/// Two realms (one with named hosts, one for any other host), exact and wildcard permissions,
/// groups, authenticated unknown rpcs and other paths.
fn mixed_setup() -> (Scratch, PathBuf) {
    let s = Scratch::new();
    s.write(
        "exact.yaml",
        "groups:\n  jobs: [ActivateJobs, StreamActivatedJobs, CompleteJob, FailJob, ThrowError]\ngrants:\n  - permission: deployer\n    rpcs: [DeployResource, Topology]\n  - permission: worker\n    rpcs: [jobs, Topology]\n  - permission: 'admin:*'\n    rpcs: [DeleteResource]\nunknown_rpcs: authenticated\n",
    );
    s.write(
        "poc.yaml",
        "rpc_named_permissions: true\ngrants:\n  - permission: 'read:*'\n    rpcs: [Topology]\nother_paths: authenticated\n",
    );
    let config = s.write(
        "config.yaml",
        "realms:\n  - name: Tenant A\n    issuer: https://kc.example.com/realms/a\n    audiences: [zeebe-api]\n    hosts: [zeebe.example.com, 'camunda-zeebe-gateway:26500']\n    policy: exact.yaml\n  - name: rest\n    issuer: https://kc.example.com/realms/rest\n    audiences: [zeebe-api]\n    hosts: ['*', tenant-b.example.com]\n    policy: poc.yaml\n",
    );
    (s, config)
}

#[test]
fn istio_with_mixed_realms_and_permissions_decides_exactly_like_the_authorizer() {
    let (_s, config) = mixed_setup();
    assert_istio_agrees_with_the_authorizer(&config, &IstioOptions::default());
    assert_istio_agrees_with_the_authorizer(
        &config,
        &IstioOptions {
            authorizer_decides_all: true,
            ..IstioOptions::default()
        },
    );
}

#[test]
fn exact_permissions_are_native_and_istio_wildcards_go_to_the_authorizer() {
    let (_s, config) = mixed_setup();
    let files = generate(&config, &IstioOptions::default());
    let p = parse_mode(&files, Mode::Sidecar);
    let allow = p
        .policies
        .iter()
        .find(|ap| ap.spec.action == Action::Allow)
        .unwrap();
    let values: Vec<&str> = allow
        .spec
        .rules
        .iter()
        .flat_map(|r| {
            r.when
                .iter()
                .flat_map(|c| c.values.iter().map(String::as_str))
        })
        .collect();
    assert!(values.contains(&"deployer") && values.contains(&"worker"));
    assert!(
        values.contains(&"CreateProcessInstance"),
        "rpc-named permissions are native"
    );
    assert!(
        !values
            .iter()
            .any(|v| v.starts_with('*') || v.ends_with('*')),
        "a '*' would be a prefix/suffix match in Istio: {values:?}"
    );
    let custom = p
        .policies
        .iter()
        .find(|ap| ap.spec.action == Action::Custom)
        .unwrap();
    let custom_paths: Vec<&str> = custom
        .spec
        .rules
        .iter()
        .flat_map(|r| {
            r.to.iter()
                .flat_map(|t| t.operation.paths.iter().map(String::as_str))
        })
        .collect();
    assert!(
        custom_paths.contains(&"/gateway_protocol.Gateway/DeleteResource"),
        "{custom_paths:?}"
    );
    assert!(
        custom_paths.contains(&"/gateway_protocol.Gateway/Topology"),
        "read:* grants it"
    );
    assert!(!custom_paths.contains(&"/gateway_protocol.Gateway/DeployResource"));
    // Realm names become DNS labels.
    assert!(
        p.request_authentications
            .iter()
            .any(|ra| ra.metadata.name == "zeebe-authz-tenant-a")
    );
}

#[test]
fn options_reach_the_output() {
    let options = IstioOptions {
        namespace: "zeebe".into(),
        gateway_selector: istio::parse_labels("app=gw,release=c8").unwrap(),
        gateway_service: "c8-zeebe-gateway".into(),
        gateway_port: 26600,
        waypoint: "wp".into(),
        image: "registry.example.com/zeebe-authz:1".into(),
        replicas: 3,
        check_timeout: std::time::Duration::from_millis(1500),
        authorizer_decides_all: false,
    };
    let files = generate(&example_config(), &options);
    let side = parse_mode(&files, Mode::Sidecar);
    assert_eq!(
        side.policies[0]
            .spec
            .selector
            .as_ref()
            .unwrap()
            .match_labels
            .len(),
        2
    );
    assert!(
        side.policies
            .iter()
            .all(|p| p.metadata.namespace == "zeebe")
    );
    let grpc = &side.mesh.unwrap().mesh_config.extension_providers[0].envoy_ext_authz_grpc;
    assert_eq!(grpc.service, "zeebe-authz.zeebe.svc.cluster.local");
    assert_eq!(grpc.timeout, "1.5s");
    let d = &side.deployments[0];
    assert_eq!(d.spec.replicas, 3);
    assert_eq!(
        d.spec.template.spec.containers[0].image,
        "registry.example.com/zeebe-authz:1"
    );
    let amb = parse_mode(&files, Mode::Ambient);
    assert_eq!(amb.policies[0].spec.target_refs[0].name, "c8-zeebe-gateway");
    assert_eq!(amb.gateways[0].metadata.name, "wp");
    let ports: Vec<&String> = amb.policies[0].spec.rules[0].to[0]
        .operation
        .ports
        .iter()
        .collect();
    assert_eq!(ports, ["26600"]);
    assert!(istio::parse_labels("").is_err() && istio::parse_labels("a").is_err());
    assert!(istio::parse_labels("a=*").is_err());
}

#[test]
fn an_invalid_config_is_reported_not_generated() {
    let s = Scratch::new();
    let config = s.write(
        "config.yaml",
        "realms:\n  - {name: a, issuer: kc, audiences: [z], hosts: [x], policy: missing.yaml}\n",
    );
    let err = istio::generate(&config, &[Mode::Sidecar], &IstioOptions::default()).unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("realms[0].issuer") && text.contains("realms[0].policy"),
        "{text}"
    );
}

#[test]
fn write_files_then_check_and_stale_files() {
    let s = Scratch::new();
    let files = generate(&example_config(), &IstioOptions::default());
    istio::write_files(&s.0, &files).unwrap();
    assert!(istio::differences(&s.0, &files).is_empty());
    // A generated file that is no longer generated is stale; other files are left alone.
    let stale = s.write(
        "sidecar/old.yaml",
        &format!("{}\nkind: X\n", istio::GENERATED_MARKER),
    );
    let mine = s.write("sidecar/notes.yaml", "# mine\n");
    assert_eq!(
        istio::differences(&s.0, &files),
        std::slice::from_ref(&stale)
    );
    istio::write_files(&s.0, &files).unwrap();
    assert!(!stale.exists() && mine.exists());
    std::fs::write(s.0.join("ambient/waypoint.yaml"), "changed").unwrap();
    assert_eq!(
        istio::differences(&s.0, &files),
        [s.0.join("ambient/waypoint.yaml")]
    );
}

#[test]
fn cli_check_mode_exit_codes() {
    let bin = env!("CARGO_BIN_EXE_zeebe-authz");
    let ok = std::process::Command::new(bin)
        .args([
            "istio",
            "--config",
            "examples/config.yaml",
            "--out",
            "istio",
            "--check",
        ])
        .current_dir(ROOT)
        .output()
        .unwrap();
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    let s = Scratch::new();
    let stale = std::process::Command::new(bin)
        .args([
            "istio",
            "--config",
            "examples/config.yaml",
            "--check",
            "--out",
        ])
        .arg(&s.0)
        .current_dir(ROOT)
        .output()
        .unwrap();
    assert_eq!(stale.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&stale.stderr).contains("regenerate with"));
    let bad = s.write("bad.yaml", "realms: []\n");
    let invalid = std::process::Command::new(bin)
        .args(["istio", "--config"])
        .arg(&bad)
        .arg("--out")
        .arg(&s.0)
        .output()
        .unwrap();
    assert_eq!(
        invalid.status.code(),
        Some(64),
        "config errors exit 64 like serve"
    );
}

#[test]
fn rpcs_with_conditions_go_to_the_authorizer_with_the_body() {
    let s = Scratch::new();
    s.write(
        "conditions.yaml",
        "groups:\n  jobs: [ActivateJobs, CompleteJob]\ngrants:\n  - permission: tenant-a-starter\n    rpcs: ['*']\n    when:\n      tenant: [tenant-a]\n  - permission: payment-worker\n    rpcs: [jobs]\n    when:\n      job_type: ['payment*']\n",
    );
    let config = s.write(
        "config.yaml",
        "realms:\n  - name: a\n    issuer: https://kc.example.com/realms/a\n    audiences: [zeebe-api]\n    hosts: [zeebe.example.com]\n    policy: conditions.yaml\n",
    );
    let files = generate(&config, &IstioOptions::default());
    let p = parse_mode(&files, Mode::Sidecar);
    let mesh = p.mesh.as_ref().unwrap();
    let body = mesh.mesh_config.extension_providers[0]
        .envoy_ext_authz_grpc
        .include_request_body_in_check
        .as_ref()
        .expect("conditions need the body");
    assert_eq!(
        (
            body.max_request_bytes,
            body.allow_partial_message,
            body.pack_as_bytes
        ),
        (65536, true, true)
    );
    let path = |rpc: &str| format!("{GATEWAY_PATH_PREFIX}{rpc}");
    let custom = p
        .policies
        .iter()
        .find(|ap| ap.spec.action == Action::Custom)
        .unwrap();
    let custom_paths = &custom.spec.rules[0].to[0].operation.paths;
    for rpc in [
        "CreateProcessInstance",
        "DeployResource",
        "ActivateJobs",
        "PublishMessage",
    ] {
        assert!(
            custom_paths.contains(&path(rpc)),
            "{rpc} carries a checked field"
        );
    }
    for rpc in ["CompleteJob", "Topology", "CancelProcessInstance"] {
        assert!(
            !custom_paths.contains(&path(rpc)),
            "{rpc} carries no checked field"
        );
    }
    // The key-only rpcs of those grants carry no field to check: Istio grants them natively.
    let allow = p
        .policies
        .iter()
        .find(|ap| ap.spec.action == Action::Allow)
        .unwrap();
    let native: Vec<(String, String)> = allow
        .spec
        .rules
        .iter()
        .filter(|r| !r.when.is_empty())
        .flat_map(|r| {
            let value = r.when[0].values[0].clone();
            r.to[0]
                .operation
                .paths
                .iter()
                .map(move |p| (value.clone(), p.clone()))
        })
        .collect();
    for (permission, rpc) in [
        ("tenant-a-starter", "Topology"),
        ("tenant-a-starter", "CancelProcessInstance"),
        ("payment-worker", "CompleteJob"),
    ] {
        assert!(
            native.contains(&(permission.into(), path(rpc))),
            "{permission} {rpc}: {native:?}"
        );
    }
    assert!(!native.iter().any(|(_, p)| custom_paths.contains(p)));
    assert_istio_agrees_with_the_authorizer(&config, &IstioOptions::default());
}
