//! The Kubernetes and Istio objects `zeebe-authz istio` writes, as plain serde types.
//!
//! Only the fields we emit are modelled, in the order `kubectl` users expect to read them;
//! optional fields are left out of the YAML when unset so the output stays minimal and stable.
//! The integration tests parse the output back with their own, independently written strict
//! models (unknown fields rejected), so a typo here cannot pass unnoticed.

use std::collections::BTreeMap;

use serde::Serialize;

/// Labels or selector labels, sorted by key for deterministic output.
pub type Labels = BTreeMap<String, String>;

/// `metadata` of an object.
#[derive(Debug, Clone, Serialize)]
pub struct ObjectMeta {
    /// Object name.
    pub name: String,
    /// Namespace (every generated object lives in the gateway's namespace).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// Labels.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: Labels,
}

/// A Kubernetes object: `apiVersion`, `kind`, `metadata`, then the kind's own fields.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Object<T> {
    /// API group and version.
    pub api_version: &'static str,
    /// Kind.
    pub kind: &'static str,
    /// Metadata.
    pub metadata: ObjectMeta,
    /// The kind's fields (`spec`, `data`, …).
    #[serde(flatten)]
    pub body: T,
}

/// A body holding only a `spec`.
#[derive(Debug, Clone, Serialize)]
pub struct Spec<T> {
    /// The spec.
    pub spec: T,
}

// ---- security.istio.io/v1 ----

/// `AuthorizationPolicy.spec`.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AuthorizationPolicySpec {
    /// Sidecar mode: the gateway pods.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub selector: Option<WorkloadSelector>,
    /// Ambient mode: the gateway Service (enforced by its waypoint).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub target_refs: Vec<TargetRef>,
    /// `ALLOW`, `DENY` or `CUSTOM`.
    pub action: &'static str,
    /// The extension provider, for `CUSTOM`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub provider: Option<Provider>,
    /// Rules (OR).
    pub rules: Vec<Rule>,
}

/// `selector` of a policy.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct WorkloadSelector {
    /// Pod labels.
    pub match_labels: Labels,
}

/// One entry of `targetRefs`.
#[derive(Debug, Clone, Serialize)]
pub struct TargetRef {
    /// API group (`""` for core).
    pub group: String,
    /// Kind (`Service`).
    pub kind: String,
    /// Name.
    pub name: String,
}

/// `provider` of a CUSTOM policy.
#[derive(Debug, Clone, Serialize)]
pub struct Provider {
    /// The extension provider's name in the mesh config.
    pub name: String,
}

/// One rule: every present part must match (AND).
#[derive(Debug, Clone, Default, Serialize)]
pub struct Rule {
    /// Sources (OR).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub from: Vec<RuleFrom>,
    /// Operations (OR).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub to: Vec<RuleTo>,
    /// Conditions (AND).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub when: Vec<Condition>,
}

/// `from[]`.
#[derive(Debug, Clone, Serialize)]
pub struct RuleFrom {
    /// The source.
    pub source: Source,
}

/// `from[].source`.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Source {
    /// `<iss>/<sub>` patterns the request principal must match.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub request_principals: Vec<String>,
    /// `<iss>/<sub>` patterns the request principal must not match (or be absent).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub not_request_principals: Vec<String>,
    /// The peer's mTLS identity (`cluster.local/ns/NS/sa/NAME`; Istio reads `cluster.local`
    /// as the mesh's own trust domain). L4, so ztunnel can enforce it.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub principals: Vec<String>,
}

/// `to[]`.
#[derive(Debug, Clone, Serialize)]
pub struct RuleTo {
    /// The operation.
    pub operation: Operation,
}

/// `to[].operation`.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Operation {
    /// `:authority` values.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub hosts: Vec<String>,
    /// `:authority` values that must not match.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub not_hosts: Vec<String>,
    /// Destination ports.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub ports: Vec<String>,
    /// Destination ports that must not match.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub not_ports: Vec<String>,
    /// HTTP methods.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub methods: Vec<String>,
    /// Paths (for gRPC: `/package.Service/Method`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub paths: Vec<String>,
    /// Paths that must not match.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub not_paths: Vec<String>,
}

/// `when[]`.
#[derive(Debug, Clone, Serialize)]
pub struct Condition {
    /// The attribute (`request.auth.claims[permissions][zeebe-api]`).
    pub key: String,
    /// Accepted values (OR; a list claim matches when any element does).
    pub values: Vec<String>,
}

/// `RequestAuthentication.spec`.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RequestAuthenticationSpec {
    /// Sidecar mode: the gateway pods.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub selector: Option<WorkloadSelector>,
    /// Ambient mode: the gateway Service.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub target_refs: Vec<TargetRef>,
    /// One rule per issuer.
    pub jwt_rules: Vec<JwtRule>,
}

/// `jwtRules[]`.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct JwtRule {
    /// The exact `iss`.
    pub issuer: String,
    /// Where Istio fetches the keys.
    pub jwks_uri: String,
    /// Accepted `aud` values.
    pub audiences: Vec<String>,
    /// Keep the `authorization` header for the authorizer and the gateway.
    pub forward_original_token: bool,
}

// ---- Gateway API (ambient waypoint) ----

/// `Gateway.spec` of a waypoint.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct GatewaySpec {
    /// `istio-waypoint`.
    pub gateway_class_name: String,
    /// The HBONE listener.
    pub listeners: Vec<Listener>,
}

/// `Gateway.spec.listeners[]`.
#[derive(Debug, Clone, Serialize)]
pub struct Listener {
    /// Listener name.
    pub name: String,
    /// Port.
    pub port: u16,
    /// Protocol (`HBONE`).
    pub protocol: String,
}

// ---- core/v1, apps/v1 ----

/// A `ConfigMap` body.
#[derive(Debug, Clone, Serialize)]
pub struct ConfigMapData {
    /// File name → contents.
    pub data: BTreeMap<String, String>,
}

/// A `ServiceAccount` body.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ServiceAccountBody {
    /// The authorizer never calls the Kubernetes API.
    pub automount_service_account_token: bool,
}

/// `Service.spec`.
#[derive(Debug, Clone, Serialize)]
pub struct ServiceSpec {
    /// Pod labels.
    pub selector: Labels,
    /// Ports.
    pub ports: Vec<ServicePort>,
}

/// `Service.spec.ports[]`.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ServicePort {
    /// Name (Istio reads the protocol from its prefix).
    pub name: String,
    /// Port.
    pub port: u16,
    /// Container port name.
    pub target_port: String,
    /// `TCP`.
    pub protocol: String,
    /// `grpc` or `http`: tells Istio to speak HTTP/2 or HTTP/1.1 to the port.
    pub app_protocol: String,
}

/// `Deployment.spec`.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DeploymentSpec {
    /// Replicas.
    pub replicas: u32,
    /// Pod selector.
    pub selector: LabelSelector,
    /// Pod template.
    pub template: PodTemplate,
}

/// A label selector.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LabelSelector {
    /// Labels.
    pub match_labels: Labels,
}

/// Metadata of a pod template.
#[derive(Debug, Clone, Serialize)]
pub struct TemplateMeta {
    /// Labels.
    pub labels: Labels,
    /// Annotations (the config checksum, so a config change rolls the pods).
    pub annotations: BTreeMap<String, String>,
}

/// `Deployment.spec.template`.
#[derive(Debug, Clone, Serialize)]
pub struct PodTemplate {
    /// Metadata.
    pub metadata: TemplateMeta,
    /// Pod spec.
    pub spec: PodSpec,
}

/// A pod spec.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PodSpec {
    /// Service account.
    pub service_account_name: String,
    /// No API token in the pod.
    pub automount_service_account_token: bool,
    /// Pod-level security.
    pub security_context: PodSecurityContext,
    /// Containers.
    pub containers: Vec<Container>,
    /// Volumes.
    pub volumes: Vec<Volume>,
}

/// Pod-level `securityContext`.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PodSecurityContext {
    /// Refuse to start as root.
    pub run_as_non_root: bool,
    /// The image's non-root user.
    pub run_as_user: u32,
    /// Its group.
    pub run_as_group: u32,
    /// The runtime's default seccomp profile.
    pub seccomp_profile: SeccompProfile,
}

/// `seccompProfile`.
#[derive(Debug, Clone, Serialize)]
pub struct SeccompProfile {
    /// `RuntimeDefault`.
    #[serde(rename = "type")]
    pub kind: String,
}

/// A container.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Container {
    /// Name.
    pub name: String,
    /// Image.
    pub image: String,
    /// Pull policy.
    pub image_pull_policy: String,
    /// Arguments to the entrypoint.
    pub args: Vec<String>,
    /// Environment.
    pub env: Vec<EnvVar>,
    /// Ports.
    pub ports: Vec<ContainerPort>,
    /// Readiness (`/readyz`: keys of every realm loaded).
    pub readiness_probe: Probe,
    /// Liveness (`/healthz`: the process answers).
    pub liveness_probe: Probe,
    /// Requests and limits.
    pub resources: Resources,
    /// Container-level security.
    pub security_context: ContainerSecurityContext,
    /// Mounts.
    pub volume_mounts: Vec<VolumeMount>,
}

/// An environment variable.
#[derive(Debug, Clone, Serialize)]
pub struct EnvVar {
    /// Name.
    pub name: String,
    /// Value.
    pub value: String,
}

/// A container port.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ContainerPort {
    /// Name.
    pub name: String,
    /// Port.
    pub container_port: u16,
    /// `TCP`.
    pub protocol: String,
}

/// An HTTP probe.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Probe {
    /// The request.
    pub http_get: HttpGet,
    /// Seconds between probes.
    pub period_seconds: u32,
    /// Failures before acting.
    pub failure_threshold: u32,
}

/// `httpGet` of a probe.
#[derive(Debug, Clone, Serialize)]
pub struct HttpGet {
    /// Path.
    pub path: String,
    /// Container port name.
    pub port: String,
}

/// Requests and limits.
#[derive(Debug, Clone, Serialize)]
pub struct Resources {
    /// Requests.
    pub requests: BTreeMap<String, String>,
    /// Limits.
    pub limits: BTreeMap<String, String>,
}

/// Container-level `securityContext`.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ContainerSecurityContext {
    /// No setuid escalation.
    pub allow_privilege_escalation: bool,
    /// Nothing to write.
    pub read_only_root_filesystem: bool,
    /// Refuse to start as root.
    pub run_as_non_root: bool,
    /// Capabilities.
    pub capabilities: Capabilities,
}

/// `capabilities`.
#[derive(Debug, Clone, Serialize)]
pub struct Capabilities {
    /// Dropped capabilities (`ALL`).
    pub drop: Vec<String>,
}

/// A volume mount.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct VolumeMount {
    /// Volume name.
    pub name: String,
    /// Where.
    pub mount_path: String,
    /// Read-only.
    pub read_only: bool,
}

/// A volume backed by a ConfigMap.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Volume {
    /// Name.
    pub name: String,
    /// The ConfigMap.
    pub config_map: ConfigMapRef,
}

/// `configMap` of a volume.
#[derive(Debug, Clone, Serialize)]
pub struct ConfigMapRef {
    /// ConfigMap name.
    pub name: String,
}

// ---- kustomize and istiod values ----

/// `kustomization.yaml`, so `kubectl apply -k DIR` applies a mode's objects in one go.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Kustomization {
    /// `kustomize.config.k8s.io/v1beta1`.
    pub api_version: &'static str,
    /// `Kustomization`.
    pub kind: &'static str,
    /// Files, in apply order.
    pub resources: Vec<String>,
}

/// istiod Helm values carrying the extension provider (`meshConfig` of `IstioOperator.spec`
/// takes the same shape).
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MeshValues {
    /// The mesh config.
    pub mesh_config: MeshConfig,
}

/// `meshConfig`.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MeshConfig {
    /// Extension providers.
    pub extension_providers: Vec<ExtensionProvider>,
}

/// `meshConfig.extensionProviders[]`.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ExtensionProvider {
    /// The name CUSTOM policies refer to.
    pub name: String,
    /// The ext_authz gRPC settings.
    pub envoy_ext_authz_grpc: EnvoyExtAuthzGrpc,
}

/// `envoyExtAuthzGrpc`.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct EnvoyExtAuthzGrpc {
    /// The authorizer's Service FQDN.
    pub service: String,
    /// Its gRPC port.
    pub port: u16,
    /// Per-Check timeout (Istio's default is 600 s).
    pub timeout: String,
    /// Never let a request through when the authorizer cannot answer.
    pub fail_open: bool,
    /// HTTP status Envoy answers with when the Check fails (gRPC clients see UNAVAILABLE).
    pub status_on_error: String,
    /// Send the request body (only when a rule has conditions on request fields).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub include_request_body_in_check: Option<BodyInCheck>,
}

/// `includeRequestBodyInCheck`.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BodyInCheck {
    /// Bytes buffered at most.
    pub max_request_bytes: u32,
    /// Send the first `max_request_bytes` of a larger body instead of failing with 413.
    pub allow_partial_message: bool,
    /// Send the body as raw bytes (gRPC frames are binary).
    pub pack_as_bytes: bool,
}
