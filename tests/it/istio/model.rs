//! Strict models of the objects `zeebe-authz istio` emits, written from the API references
//! (unknown fields rejected), and the parse of one mode's output into them.
// The strict models have fields no assertion reads: they exist so that a missing, misspelt or
// extra field fails to parse.
#![allow(dead_code)]

use super::*;

// ---- strict models of what we emit ----

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Meta {
    pub(crate) name: String,
    pub(crate) namespace: String,
    #[serde(default)]
    pub(crate) labels: BTreeMap<String, String>,
    #[serde(default)]
    pub(crate) annotations: BTreeMap<String, String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct AuthorizationPolicy {
    pub(crate) api_version: String,
    pub(crate) kind: String,
    pub(crate) metadata: Meta,
    pub(crate) spec: AuthorizationPolicySpec,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct AuthorizationPolicySpec {
    pub(crate) selector: Option<Selector>,
    #[serde(default)]
    pub(crate) target_refs: Vec<TargetRef>,
    pub(crate) action: Action,
    pub(crate) provider: Option<ProviderRef>,
    #[serde(default)]
    pub(crate) rules: Vec<Rule>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub(crate) enum Action {
    Allow,
    Deny,
    Custom,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct Selector {
    pub(crate) match_labels: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub(crate) struct TargetRef {
    pub(crate) group: String,
    pub(crate) kind: String,
    pub(crate) name: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ProviderRef {
    pub(crate) name: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Rule {
    #[serde(default)]
    pub(crate) from: Vec<FromEntry>,
    #[serde(default)]
    pub(crate) to: Vec<ToEntry>,
    #[serde(default)]
    pub(crate) when: Vec<Condition>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct FromEntry {
    pub(crate) source: Source,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct Source {
    #[serde(default)]
    pub(crate) request_principals: Vec<String>,
    #[serde(default)]
    pub(crate) not_request_principals: Vec<String>,
    #[serde(default)]
    pub(crate) principals: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ToEntry {
    pub(crate) operation: Operation,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct Operation {
    #[serde(default)]
    pub(crate) hosts: Vec<String>,
    #[serde(default)]
    pub(crate) not_hosts: Vec<String>,
    #[serde(default)]
    pub(crate) ports: Vec<String>,
    #[serde(default)]
    pub(crate) not_ports: Vec<String>,
    #[serde(default)]
    pub(crate) methods: Vec<String>,
    #[serde(default)]
    pub(crate) paths: Vec<String>,
    #[serde(default)]
    pub(crate) not_paths: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct Condition {
    pub(crate) key: String,
    #[serde(default)]
    pub(crate) values: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct RequestAuthentication {
    pub(crate) api_version: String,
    pub(crate) kind: String,
    pub(crate) metadata: Meta,
    pub(crate) spec: RequestAuthenticationSpec,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct RequestAuthenticationSpec {
    pub(crate) selector: Option<Selector>,
    #[serde(default)]
    pub(crate) target_refs: Vec<TargetRef>,
    pub(crate) jwt_rules: Vec<JwtRule>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct JwtRule {
    pub(crate) issuer: String,
    pub(crate) jwks_uri: String,
    pub(crate) audiences: Vec<String>,
    pub(crate) forward_original_token: bool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct Gateway {
    pub(crate) api_version: String,
    pub(crate) kind: String,
    pub(crate) metadata: Meta,
    pub(crate) spec: GatewaySpec,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct GatewaySpec {
    pub(crate) gateway_class_name: String,
    pub(crate) listeners: Vec<Listener>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Listener {
    pub(crate) name: String,
    pub(crate) port: u16,
    pub(crate) protocol: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct ServiceAccount {
    pub(crate) api_version: String,
    pub(crate) kind: String,
    pub(crate) metadata: Meta,
    pub(crate) automount_service_account_token: bool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct ConfigMap {
    pub(crate) api_version: String,
    pub(crate) kind: String,
    pub(crate) metadata: Meta,
    pub(crate) data: BTreeMap<String, String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct Service {
    pub(crate) api_version: String,
    pub(crate) kind: String,
    pub(crate) metadata: Meta,
    pub(crate) spec: ServiceSpec,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ServiceSpec {
    pub(crate) selector: BTreeMap<String, String>,
    pub(crate) ports: Vec<ServicePort>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct ServicePort {
    pub(crate) name: String,
    pub(crate) port: u16,
    pub(crate) target_port: String,
    pub(crate) protocol: String,
    pub(crate) app_protocol: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct Deployment {
    pub(crate) api_version: String,
    pub(crate) kind: String,
    pub(crate) metadata: Meta,
    pub(crate) spec: DeploymentSpec,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct DeploymentSpec {
    pub(crate) replicas: u32,
    pub(crate) selector: Selector,
    pub(crate) template: PodTemplate,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct PodTemplate {
    pub(crate) metadata: TemplateMeta,
    pub(crate) spec: PodSpec,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct TemplateMeta {
    pub(crate) labels: BTreeMap<String, String>,
    // No annotations: no config checksum rolls the pods; `serve` reloads a changed ConfigMap.
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct PodSpec {
    pub(crate) service_account_name: String,
    pub(crate) automount_service_account_token: bool,
    pub(crate) security_context: PodSecurityContext,
    pub(crate) containers: Vec<Container>,
    pub(crate) volumes: Vec<Volume>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct PodSecurityContext {
    pub(crate) run_as_non_root: bool,
    pub(crate) run_as_user: u32,
    pub(crate) run_as_group: u32,
    pub(crate) seccomp_profile: SeccompProfile,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct SeccompProfile {
    #[serde(rename = "type")]
    pub(crate) kind: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct Container {
    pub(crate) name: String,
    pub(crate) image: String,
    pub(crate) image_pull_policy: String,
    pub(crate) args: Vec<String>,
    pub(crate) env: Vec<EnvVar>,
    pub(crate) ports: Vec<ContainerPort>,
    pub(crate) readiness_probe: Probe,
    pub(crate) liveness_probe: Probe,
    pub(crate) resources: Resources,
    pub(crate) security_context: ContainerSecurityContext,
    pub(crate) volume_mounts: Vec<VolumeMount>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct EnvVar {
    pub(crate) name: String,
    pub(crate) value: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct ContainerPort {
    pub(crate) name: String,
    pub(crate) container_port: u16,
    pub(crate) protocol: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct Probe {
    pub(crate) http_get: HttpGet,
    pub(crate) period_seconds: u32,
    pub(crate) failure_threshold: u32,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct HttpGet {
    pub(crate) path: String,
    pub(crate) port: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Resources {
    pub(crate) requests: BTreeMap<String, String>,
    pub(crate) limits: BTreeMap<String, String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct ContainerSecurityContext {
    pub(crate) allow_privilege_escalation: bool,
    pub(crate) read_only_root_filesystem: bool,
    pub(crate) run_as_non_root: bool,
    pub(crate) capabilities: Capabilities,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Capabilities {
    pub(crate) drop: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct VolumeMount {
    pub(crate) name: String,
    pub(crate) mount_path: String,
    pub(crate) read_only: bool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct Volume {
    pub(crate) name: String,
    pub(crate) config_map: ConfigMapRef,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ConfigMapRef {
    pub(crate) name: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct Kustomization {
    pub(crate) api_version: String,
    pub(crate) kind: String,
    pub(crate) resources: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct MeshValues {
    pub(crate) mesh_config: MeshConfig,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct MeshConfig {
    pub(crate) extension_providers: Vec<ExtensionProvider>,
}

impl MeshConfig {
    /// The one ext_authz provider.
    pub(crate) fn ext_authz(&self) -> (&str, &EnvoyExtAuthzGrpc) {
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
    pub(crate) fn access_log(&self) -> (&str, &EnvoyFileAccessLog) {
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
pub(crate) struct ExtensionProvider {
    pub(crate) name: String,
    pub(crate) envoy_ext_authz_grpc: Option<EnvoyExtAuthzGrpc>,
    pub(crate) envoy_file_access_log: Option<EnvoyFileAccessLog>,
}

/// `EnvoyFileAccessLogProvider`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct EnvoyFileAccessLog {
    pub(crate) path: String,
    pub(crate) log_format: LogFormat,
}

/// `EnvoyFileAccessLogProvider.LogFormat` (a oneof of `text` and `labels`; we emit `labels`).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct LogFormat {
    pub(crate) labels: BTreeMap<String, String>,
}

/// `telemetry.istio.io/v1` `Telemetry` (istio/api telemetry/v1/telemetry.proto).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct Telemetry {
    pub(crate) api_version: String,
    pub(crate) kind: String,
    pub(crate) metadata: Meta,
    pub(crate) spec: TelemetrySpec,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct TelemetrySpec {
    pub(crate) selector: Option<Selector>,
    #[serde(default)]
    pub(crate) target_refs: Vec<TargetRef>,
    pub(crate) access_logging: Vec<AccessLogging>,
}

/// `AccessLogging` (`match`, `disabled` and `filter` are not emitted).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct AccessLogging {
    pub(crate) providers: Vec<ProviderRef>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct EnvoyExtAuthzGrpc {
    pub(crate) service: String,
    pub(crate) port: u16,
    pub(crate) timeout: String,
    pub(crate) fail_open: bool,
    pub(crate) status_on_error: String,
    pub(crate) include_request_body_in_check: Option<BodyInCheck>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct BodyInCheck {
    pub(crate) max_request_bytes: u32,
    pub(crate) allow_partial_message: bool,
    pub(crate) pack_as_bytes: bool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct LabelPatch {
    pub(crate) metadata: PatchMeta,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct PatchMeta {
    pub(crate) labels: BTreeMap<String, String>,
}

/// Only `apiVersion` and `kind`, to pick the strict model.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct TypeMeta {
    pub(crate) api_version: Option<String>,
    pub(crate) kind: Option<String>,
}

/// One mode's output, parsed strictly.
#[derive(Debug, Default)]
pub(crate) struct Parsed {
    pub(crate) policies: Vec<AuthorizationPolicy>,
    pub(crate) request_authentications: Vec<RequestAuthentication>,
    pub(crate) gateways: Vec<Gateway>,
    pub(crate) service_accounts: Vec<ServiceAccount>,
    pub(crate) config_maps: Vec<ConfigMap>,
    pub(crate) services: Vec<Service>,
    pub(crate) deployments: Vec<Deployment>,
    pub(crate) telemetries: Vec<Telemetry>,
    pub(crate) kustomization: Option<Kustomization>,
    pub(crate) mesh: Option<MeshValues>,
    pub(crate) patch: Option<LabelPatch>,
}

pub(crate) fn strict<T: for<'de> Deserialize<'de>>(file: &Path, doc: &str) -> T {
    serde_saphyr::from_str(doc)
        .unwrap_or_else(|e| panic!("{}: does not parse strictly: {e}\n{doc}", file.display()))
}

/// Splits a generated file into documents and parses each into its strict model.
pub(crate) fn parse_mode(files: &[GeneratedFile], mode: Mode) -> Parsed {
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
