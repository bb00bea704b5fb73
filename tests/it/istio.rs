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
use zeebe_authz_core::body::RequestBody;
use zeebe_authz_core::catalog::{GATEWAY_PATH_PREFIX, Rpc};
use zeebe_authz_core::config::{Config, RealmMode};
use zeebe_authz::istio::{self, GeneratedFile, IstioOptions, Mode};
use zeebe_authz_core::policy::PathRule;

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
    #[serde(default)]
    annotations: BTreeMap<String, String>,
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
    // No annotations: no config checksum rolls the pods; `serve` reloads a changed ConfigMap.
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

impl MeshConfig {
    /// The one ext_authz provider.
    fn ext_authz(&self) -> (&str, &EnvoyExtAuthzGrpc) {
        let found: Vec<_> = self
            .extension_providers
            .iter()
            .filter_map(|p| {
                p.envoy_ext_authz_grpc
                    .as_ref()
                    .map(|g| (p.name.as_str(), g))
            })
            .collect();
        assert_eq!(found.len(), 1, "{:?}", self.extension_providers);
        found[0]
    }

    /// The one file access log provider.
    fn access_log(&self) -> (&str, &EnvoyFileAccessLog) {
        let found: Vec<_> = self
            .extension_providers
            .iter()
            .filter_map(|p| {
                p.envoy_file_access_log
                    .as_ref()
                    .map(|l| (p.name.as_str(), l))
            })
            .collect();
        assert_eq!(found.len(), 1, "{:?}", self.extension_providers);
        found[0]
    }
}

/// `meshConfig.extensionProviders[]`: a name and exactly one member of the `provider` oneof
/// (istio/api mesh/v1alpha1/config.proto `ExtensionProvider`).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct ExtensionProvider {
    name: String,
    envoy_ext_authz_grpc: Option<EnvoyExtAuthzGrpc>,
    envoy_file_access_log: Option<EnvoyFileAccessLog>,
}

/// `EnvoyFileAccessLogProvider`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct EnvoyFileAccessLog {
    path: String,
    log_format: LogFormat,
}

/// `EnvoyFileAccessLogProvider.LogFormat` (a oneof of `text` and `labels`; we emit `labels`).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct LogFormat {
    labels: BTreeMap<String, String>,
}

/// `telemetry.istio.io/v1` `Telemetry` (istio/api telemetry/v1/telemetry.proto).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct Telemetry {
    api_version: String,
    kind: String,
    metadata: Meta,
    spec: TelemetrySpec,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct TelemetrySpec {
    selector: Option<Selector>,
    #[serde(default)]
    target_refs: Vec<TargetRef>,
    access_logging: Vec<AccessLogging>,
}

/// `AccessLogging` (`match`, `disabled` and `filter` are not emitted).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct AccessLogging {
    providers: Vec<ProviderRef>,
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
    telemetries: Vec<Telemetry>,
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
                        (Some("telemetry.istio.io/v1"), Some("Telemetry")) => {
                            parsed.telemetries.push(strict(&f.path, doc))
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
    let config = zeebe_authz_server::disk::load_config(&scratch.0.join("config.yaml")).unwrap_or_else(|e| panic!("{e}"));
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

/// Whether Istio only evaluates and reports the policy (pilot's `isDryRun`: the annotation
/// parses as a true boolean; we emit exactly `"true"`).
fn is_dry_run(policy: &AuthorizationPolicy) -> bool {
    policy
        .metadata
        .annotations
        .get("istio.io/dry-run")
        .is_some_and(|v| v == "true")
}

/// What Istio decides: CUSTOM (asking `authorizer`), then DENY, then ALLOW. Dry-run policies
/// are not enforced.
fn istio_allows(
    policies: &[AuthorizationPolicy],
    call: &Call,
    claim_key: &str,
    authorizer: impl Fn(&Call) -> bool,
) -> bool {
    let of = |a: Action| {
        policies
            .iter()
            .filter(|p| p.spec.action == a && !is_dry_run(p))
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

/// What enforcing would decide, read off a dry-run: Istio's decision with the authorizer
/// answering what it would decide, and no dry-run DENY policy matching, and, if there are
/// dry-run ALLOW policies, one of them matching. Istio evaluates (and reports) dry-run ALLOW
/// policies apart from the enforced ones (pilot's builder: shadow rules hold the dry-run
/// policies only), and dry-run DENY ones apart from the enforced DENY ones.
fn istio_would_allow(
    policies: &[AuthorizationPolicy],
    call: &Call,
    claim_key: &str,
    authorizer_would: impl Fn(&Call) -> bool,
) -> bool {
    let dry_run = |a: Action| {
        policies
            .iter()
            .filter(|p| p.spec.action == a && is_dry_run(p))
            .collect::<Vec<_>>()
    };
    let shadow_allow = dry_run(Action::Allow);
    istio_allows(policies, call, claim_key, authorizer_would)
        && !policies_match(&dry_run(Action::Deny), call, claim_key)
        && (shadow_allow.is_empty() || policies_match(&shadow_allow, call, claim_key))
}

/// What the authorizer answers for a call on the gateway port: OK in a dry-run realm,
/// otherwise what the policy says.
fn authorizer_allows(config: &Config, call: &Call) -> bool {
    let (would_allow, dry_run) = authorizer_verdict(config, call);
    would_allow || dry_run
}

/// What the authorizer would decide (and reports in dry-run).
fn authorizer_would_allow(config: &Config, call: &Call) -> bool {
    authorizer_verdict(config, call).0
}

/// The authorizer's verdict on a call: whether the policy allows it (realm by host: exact,
/// then without port, then `*`; then token issuer, then the policy), and whether the realm is
/// in dry-run. A host no realm claims is denied in any case.
fn authorizer_verdict(config: &Config, call: &Call) -> (bool, bool) {
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
    let Some(realm) = realm else {
        return (false, false);
    };
    let dry_run = realm.mode == RealmMode::DryRun;
    if call.issuer.as_deref() != Some(&*realm.issuer) {
        return (false, dry_run);
    }
    let policy = &realm.policy;
    let would_allow = match zeebe_authz_core::catalog::parse_path(&call.path) {
        zeebe_authz_core::catalog::PathTarget::Rpc(rpc) => {
            let grants = policy.grants_for(call.permissions.iter().copied());
            policy
                .authorize(&grants, &[], rpc, &RequestBody::default())
                .is_ok()
        }
        zeebe_authz_core::catalog::PathTarget::UnknownRpc(_) => {
            policy.unknown_rpcs() == PathRule::Authenticated
        }
        zeebe_authz_core::catalog::PathTarget::OtherService => {
            policy.other_paths() == PathRule::Authenticated
        }
        zeebe_authz_core::catalog::PathTarget::MalformedRpc(_) => false,
    };
    (would_allow, dry_run)
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
    &["user:ann"],
    &["tenant-a-starter"],
    &["payment-worker"],
];

/// Compares Istio (with the authorizer behind CUSTOM) with the authorizer alone, on every
/// combination of host, port, path, token issuer and permissions.
fn assert_istio_agrees_with_the_authorizer(config_path: &Path, options: &IstioOptions) {
    let config = zeebe_authz_server::disk::load_config(config_path).unwrap_or_else(|e| panic!("{e}"));
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
                        // In dry-run, Istio's dry-run results and the authorizer's reports
                        // together say exactly what enforcing would decide.
                        let would = authorizer_would_allow(&config, &call);
                        let got_would = istio_would_allow(&p.policies, &call, claim_key, |c| {
                            authorizer_would_allow(&config, c)
                        });
                        assert_eq!(
                            got_would,
                            would,
                            "{mode:?} {}: enforcing, Istio would {} what the authorizer would {}: {call:?}",
                            config_path.display(),
                            if got_would { "allow" } else { "deny" },
                            if would { "allow" } else { "deny" },
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
    mixed_setup_in("enforce", "enforce")
}

/// [`mixed_setup`] with the realms' modes (`Tenant A`, `rest`).
fn mixed_setup_in(tenant_a: &str, rest: &str) -> (Scratch, PathBuf) {
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
        &format!("realms:\n  - name: Tenant A\n    issuer: https://kc.example.com/realms/a\n    audiences: [zeebe-api]\n    hosts: [zeebe.example.com, 'camunda-zeebe-gateway:26500']\n    policy: exact.yaml\n    mode: {tenant_a}\n  - name: rest\n    issuer: https://kc.example.com/realms/rest\n    audiences: [zeebe-api]\n    hosts: ['*', tenant-b.example.com]\n    policy: poc.yaml\n    mode: {rest}\n"),
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

/// Regression: the grants compiled from Camunda-dialect authorizations are named after their
/// owner (`user:ann`); Istio must not take that name for a permission and allow a token whose
/// permissions claim holds `user:ann`.
#[test]
fn camunda_authorizations_are_never_enforced_by_istio_as_permissions() {
    let s = Scratch::new();
    s.write(
        "dialect.yaml",
        "grants:\n  - {permission: deployer, rpcs: [DeployResource]}\nauthorizations:\n  - owner: {user: ann}\n    resource_type: x-RPC\n    resource_ids: [Topology, CompleteJob]\n    permissions: [x-CALL]\n",
    );
    let config = s.write(
        "config.yaml",
        "realms:\n  - name: a\n    issuer: https://kc.example.com/realms/a\n    audiences: [zeebe-api]\n    hosts: [zeebe.example.com]\n    policy: dialect.yaml\n",
    );
    assert_istio_agrees_with_the_authorizer(&config, &IstioOptions::default());
    let files = generate(&config, &IstioOptions::default());
    for f in &files {
        assert!(!f.contents.contains("user:ann"), "{}", f.path.display());
    }
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
    let mesh = side.mesh.unwrap();
    let (_, grpc) = mesh.mesh_config.ext_authz();
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
    let body = mesh
        .mesh_config
        .ext_authz()
        .1
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

// ---- dry-run realms ----

#[test]
fn dry_run_realms_are_enforced_by_no_one_and_reported_in_full() {
    for (tenant_a, rest) in [
        ("dry-run", "enforce"),
        ("enforce", "dry-run"),
        ("dry-run", "dry-run"),
    ] {
        let (_s, config) = mixed_setup_in(tenant_a, rest);
        assert_istio_agrees_with_the_authorizer(&config, &IstioOptions::default());
        assert_istio_agrees_with_the_authorizer(
            &config,
            &IstioOptions {
                authorizer_decides_all: true,
                ..IstioOptions::default()
            },
        );
    }
    // The default policy (`write:*`: the authorizer decides every rpc anyway).
    let s = Scratch::new();
    let config = s.write(
        "config.yaml",
        &format!(
            "realms:\n  - name: camunda\n    issuer: https://keycloak.example.com/auth/realms/camunda-platform\n    audiences: [zeebe-api]\n    hosts: [zeebe.example.com, 'camunda-zeebe-gateway:26500']\n    policy: {}\n    mode: dry-run\n",
            Path::new(ROOT).join("policies/default.yaml").display()
        ),
    );
    assert_istio_agrees_with_the_authorizer(&config, &IstioOptions::default());
}

fn policy<'a>(p: &'a Parsed, name: &str) -> &'a AuthorizationPolicy {
    p.policies
        .iter()
        .find(|ap| ap.metadata.name == name)
        .unwrap_or_else(|| panic!("no policy {name}"))
}

#[test]
fn a_dry_run_realm_sends_every_call_to_the_authorizer_and_its_native_rules_are_dry_run() {
    let (_s, config) = mixed_setup_in("dry-run", "enforce");
    let loaded = zeebe_authz_server::disk::load_config(&config).unwrap_or_else(|e| panic!("{e}"));
    let files = generate(&config, &IstioOptions::default());
    let realm_a = "https://kc.example.com/realms/a/*";
    let realm_rest = "https://kc.example.com/realms/rest/*";
    for mode in [Mode::Sidecar, Mode::Ambient] {
        let p = parse_mode(&files, mode);
        let dry_run: Vec<(&str, Action)> = p
            .policies
            .iter()
            .filter(|ap| is_dry_run(ap))
            .map(|ap| (ap.metadata.name.as_str(), ap.spec.action))
            .collect();
        assert_eq!(
            dry_run,
            [
                ("zeebe-authz-require-jwt-dry-run", Action::Deny),
                ("zeebe-authz-allow-dry-run", Action::Allow)
            ],
            "Istio still calls ext_authz for a dry-run CUSTOM policy: never annotate it"
        );
        for ap in p.policies.iter().filter(|ap| !is_dry_run(ap)) {
            assert!(ap.metadata.annotations.is_empty(), "{}", ap.metadata.name);
        }
        // Kubernetes annotations are strings: a bare `true` would not apply.
        let text = &files
            .iter()
            .find(|f| f.path == Path::new(mode.dir()).join("authorization-policy.yaml"))
            .unwrap()
            .contents;
        assert_eq!(text.matches("istio.io/dry-run: \"true\"\n").count(), 2);
        assert!(
            text.contains("Realms in mode: dry-run (\"Tenant A\")"),
            "{text}"
        );

        // Realm A's principal requirement is dry-run only; realm rest's stays enforced.
        let principals = |ap: &AuthorizationPolicy| -> Vec<String> {
            ap.spec
                .rules
                .iter()
                .flat_map(|r| r.from.iter())
                .flat_map(|f| f.source.not_request_principals.iter().cloned())
                .collect()
        };
        assert_eq!(
            principals(policy(&p, "zeebe-authz-require-jwt-dry-run")),
            [realm_a]
        );
        assert_eq!(
            principals(policy(&p, "zeebe-authz-require-jwt")),
            [realm_rest]
        );

        // CUSTOM: every call on realm A's hosts (no path list).
        let custom = policy(&p, "zeebe-authz-custom");
        assert!(
            custom.spec.rules.iter().any(|r| {
                let o = &r.to[0].operation;
                o.hosts.contains(&"zeebe.example.com".to_string())
                    && o.paths.is_empty()
                    && o.not_paths.is_empty()
            }),
            "{custom:?}"
        );

        // Without a token, a call of realm A passes Istio (the authorizer reports it), and
        // the dry-run results say enforcing would deny it; realm rest is unchanged.
        let call = |host| Call {
            host,
            port: 26500,
            path: format!("{GATEWAY_PATH_PREFIX}DeployResource"),
            issuer: None,
            permissions: vec![],
        };
        let claim_key = "request.auth.claims[permissions][zeebe-api]";
        let policies: Vec<AuthorizationPolicy> = p
            .policies
            .into_iter()
            .filter(|ap| mode == Mode::Sidecar || ap.spec.selector.is_none())
            .collect();
        let actual =
            |c: &Call| istio_allows(&policies, c, claim_key, |c| authorizer_allows(&loaded, c));
        let would = |c: &Call| {
            istio_would_allow(&policies, c, claim_key, |c| {
                authorizer_would_allow(&loaded, c)
            })
        };
        assert!(actual(&call("zeebe.example.com")) && !would(&call("zeebe.example.com")));
        assert!(!actual(&call("other.example.com")) && !would(&call("other.example.com")));
    }
    let request_authentication = &files
        .iter()
        .find(|f| f.path == Path::new("sidecar/request-authentication.yaml"))
        .unwrap()
        .contents;
    assert!(
        request_authentication.contains("answered 401 here, also in realms in mode: dry-run"),
        "{request_authentication}"
    );
}

#[test]
fn with_every_realm_in_dry_run_the_enforced_deny_policy_stays_and_matches_nothing() {
    // `kubectl apply` does not delete an object that is no longer generated: a stale
    // zeebe-authz-require-jwt would keep enforcing a token on every realm.
    let (_s, config) = mixed_setup_in("dry-run", "dry-run");
    let files = generate(&config, &IstioOptions::default());
    for mode in [Mode::Sidecar, Mode::Ambient] {
        let p = parse_mode(&files, mode);
        let deny = policy(&p, "zeebe-authz-require-jwt");
        assert!(!is_dry_run(deny) && deny.spec.rules.is_empty());
        assert_eq!(
            policy(&p, "zeebe-authz-require-jwt-dry-run")
                .spec
                .rules
                .len(),
            2
        );
    }
}

#[test]
fn enforce_realms_get_no_dry_run_policies() {
    let files = generate(&example_config(), &IstioOptions::default());
    for mode in [Mode::Sidecar, Mode::Ambient] {
        let p = parse_mode(&files, mode);
        assert!(p.policies.iter().all(|ap| !is_dry_run(ap)));
        assert!(
            p.policies
                .iter()
                .all(|ap| !ap.metadata.name.ends_with("-dry-run"))
        );
    }
}

#[test]
fn committed_chart_example_values_match_the_generator() {
    // charts/zeebe-authz/examples/ is `zeebe-authz istio --helm-values` of examples/multi-realm.yaml;
    // tests/e2e/test_helm.py renders it and compares the chart with the generator.
    let bin = env!("CARGO_BIN_EXE_zeebe-authz");
    for mode in ["sidecar", "ambient"] {
        let values = format!("charts/zeebe-authz/examples/multi-realm-{mode}.yaml");
        let out = std::process::Command::new(bin)
            .args([
                "istio",
                "--config",
                "examples/multi-realm.yaml",
                "--mode",
                mode,
            ])
            .args(["--helm-values", &values, "--check"])
            .current_dir(ROOT)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

#[test]
fn helm_values_need_one_mode_and_report_drift() {
    let bin = env!("CARGO_BIN_EXE_zeebe-authz");
    let s = Scratch::new();
    let values = s.0.join("values.yaml");
    let run = |args: &[&str]| {
        std::process::Command::new(bin)
            .args(["istio", "--config", "examples/config.yaml", "--helm-values"])
            .arg(&values)
            .args(args)
            .current_dir(ROOT)
            .output()
            .unwrap()
            .status
            .code()
    };
    assert_eq!(run(&[]), Some(2), "--mode both has no single set of values");
    assert_eq!(
        run(&["--mode", "sidecar", "--check"]),
        Some(1),
        "missing file"
    );
    assert_eq!(run(&["--mode", "sidecar"]), Some(0));
    assert_eq!(run(&["--mode", "sidecar", "--check"]), Some(0));
    assert_eq!(run(&["--mode", "ambient", "--check"]), Some(1));
    let text = std::fs::read_to_string(&values).unwrap();
    assert!(text.contains("  sourceSha256: "), "{text}");
    assert!(text.contains("fullnameOverride: zeebe-authz\n"), "{text}");
}
