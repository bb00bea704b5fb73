//! The Kubernetes and Istio objects `zeebe-authz istio` writes, as plain serde types.
//!
//! Only the fields we emit are modelled, in the order `kubectl` users expect to read them;
//! optional fields are left out of the YAML when unset so the output stays minimal and stable.
//! The integration tests parse the output back with their own, independently written strict
//! models (unknown fields rejected), so a typo here cannot pass unnoticed.

use std::collections::BTreeMap;

use serde::Serialize;

/// Labels or selector labels, sorted by key for deterministic output.
pub(crate) type Labels = BTreeMap<String, String>;

/// `metadata` of an object.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct ObjectMeta {
    /// Object name.
    pub(crate) name: String,
    /// Namespace (every generated object lives in the gateway's namespace).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) namespace: Option<String>,
    /// Labels.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub(crate) labels: Labels,
    /// Annotations (`istio.io/dry-run` on the policies of dry-run realms).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub(crate) annotations: BTreeMap<String, String>,
}

/// A Kubernetes object: `apiVersion`, `kind`, `metadata`, then the kind's own fields.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Object<T> {
    /// API group and version.
    pub(crate) api_version: &'static str,
    /// Kind.
    pub(crate) kind: &'static str,
    /// Metadata.
    pub(crate) metadata: ObjectMeta,
    /// The kind's fields (`spec`, `data`, …).
    #[serde(flatten)]
    pub(crate) body: T,
}

/// A body holding only a `spec`.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Spec<T> {
    /// The spec.
    pub(crate) spec: T,
}

// ---- security.istio.io/v1 ----

/// `AuthorizationPolicy.spec`.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct AuthorizationPolicySpec {
    /// Sidecar mode: the gateway pods.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) selector: Option<WorkloadSelector>,
    /// Ambient mode: the gateway Service (enforced by its waypoint).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub(crate) target_refs: Vec<TargetRef>,
    /// `ALLOW`, `DENY` or `CUSTOM`.
    pub(crate) action: &'static str,
    /// The extension provider, for `CUSTOM`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) provider: Option<Provider>,
    /// Rules (OR).
    pub(crate) rules: Vec<Rule>,
}

/// `selector` of a policy.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct WorkloadSelector {
    /// Pod labels.
    pub(crate) match_labels: Labels,
}

/// One entry of `targetRefs`.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct TargetRef {
    /// API group (`""` for core).
    pub(crate) group: String,
    /// Kind (`Service`).
    pub(crate) kind: String,
    /// Name.
    pub(crate) name: String,
}

/// A mesh extension provider by name: `provider` of a CUSTOM policy, `providers[]` of a
/// Telemetry's `accessLogging[]`.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Provider {
    /// The extension provider's name in the mesh config.
    pub(crate) name: String,
}

/// One rule: every present part must match (AND).
#[derive(Debug, Clone, Default, Serialize)]
pub(crate) struct Rule {
    /// Sources (OR).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub(crate) from: Vec<RuleFrom>,
    /// Operations (OR).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub(crate) to: Vec<RuleTo>,
    /// Conditions (AND).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub(crate) when: Vec<Condition>,
}

/// `from[]`.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct RuleFrom {
    /// The source.
    pub(crate) source: Source,
}

/// `from[].source`.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Source {
    /// `<iss>/<sub>` patterns the request principal must match.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub(crate) request_principals: Vec<String>,
    /// `<iss>/<sub>` patterns the request principal must not match (or be absent).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub(crate) not_request_principals: Vec<String>,
    /// The peer's mTLS identity (`cluster.local/ns/NS/sa/NAME`; Istio reads `cluster.local`
    /// as the mesh's own trust domain). L4, so ztunnel can enforce it.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub(crate) principals: Vec<String>,
}

/// `to[]`.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct RuleTo {
    /// The operation.
    pub(crate) operation: Operation,
}

/// `to[].operation`.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Operation {
    /// `:authority` values.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub(crate) hosts: Vec<String>,
    /// `:authority` values that must not match.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub(crate) not_hosts: Vec<String>,
    /// Destination ports.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub(crate) ports: Vec<String>,
    /// Destination ports that must not match.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub(crate) not_ports: Vec<String>,
    /// HTTP methods.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub(crate) methods: Vec<String>,
    /// Paths (for gRPC: `/package.Service/Method`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub(crate) paths: Vec<String>,
    /// Paths that must not match.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub(crate) not_paths: Vec<String>,
}

/// `when[]`.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Condition {
    /// The attribute (`request.auth.claims[permissions][zeebe-api]`).
    pub(crate) key: String,
    /// Accepted values (OR; a list claim matches when any element does).
    pub(crate) values: Vec<String>,
}

/// `RequestAuthentication.spec`.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct RequestAuthenticationSpec {
    /// Sidecar mode: the gateway pods.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) selector: Option<WorkloadSelector>,
    /// Ambient mode: the gateway Service.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub(crate) target_refs: Vec<TargetRef>,
    /// One rule per issuer.
    pub(crate) jwt_rules: Vec<JwtRule>,
}

/// `jwtRules[]`.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct JwtRule {
    /// The exact `iss`.
    pub(crate) issuer: String,
    /// Where Istio fetches the keys.
    pub(crate) jwks_uri: String,
    /// Accepted `aud` values.
    pub(crate) audiences: Vec<String>,
    /// Keep the `authorization` header for the authorizer and the gateway.
    pub(crate) forward_original_token: bool,
}

// ---- telemetry.istio.io/v1 ----

/// `Telemetry.spec`, for access logging only.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct TelemetrySpec {
    /// Sidecar mode: the gateway pods.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) selector: Option<WorkloadSelector>,
    /// Ambient mode: the waypoint `Gateway` (a waypoint ignores `selector` Telemetry).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub(crate) target_refs: Vec<TargetRef>,
    /// Access log settings.
    pub(crate) access_logging: Vec<AccessLogging>,
}

/// `Telemetry.spec.accessLogging[]`.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct AccessLogging {
    /// The mesh extension providers that write the log.
    pub(crate) providers: Vec<Provider>,
}

// ---- Gateway API (ambient waypoint) ----

/// `Gateway.spec` of a waypoint.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct GatewaySpec {
    /// `istio-waypoint`.
    pub(crate) gateway_class_name: String,
    /// The HBONE listener.
    pub(crate) listeners: Vec<Listener>,
}

/// `Gateway.spec.listeners[]`.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Listener {
    /// Listener name.
    pub(crate) name: String,
    /// Port.
    pub(crate) port: u16,
    /// Protocol (`HBONE`).
    pub(crate) protocol: String,
}

// ---- core/v1, apps/v1 ----

/// A `ConfigMap` body.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct ConfigMapData {
    /// File name → contents.
    pub(crate) data: BTreeMap<String, String>,
}

/// A `ServiceAccount` body.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ServiceAccountBody {
    /// The authorizer never calls the Kubernetes API.
    pub(crate) automount_service_account_token: bool,
}

/// `Service.spec`.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct ServiceSpec {
    /// Pod labels.
    pub(crate) selector: Labels,
    /// Ports.
    pub(crate) ports: Vec<ServicePort>,
}

/// `Service.spec.ports[]`.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ServicePort {
    /// Name (Istio reads the protocol from its prefix).
    pub(crate) name: String,
    /// Port.
    pub(crate) port: u16,
    /// Container port name.
    pub(crate) target_port: String,
    /// `TCP`.
    pub(crate) protocol: String,
    /// `grpc` or `http`: tells Istio to speak HTTP/2 or HTTP/1.1 to the port.
    pub(crate) app_protocol: String,
}

/// `Deployment.spec`.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct DeploymentSpec {
    /// Replicas.
    pub(crate) replicas: u32,
    /// Pod selector.
    pub(crate) selector: LabelSelector,
    /// Pod template.
    pub(crate) template: PodTemplate,
}

/// A label selector.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct LabelSelector {
    /// Labels.
    pub(crate) match_labels: Labels,
}

/// Metadata of a pod template.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct TemplateMeta {
    /// Labels.
    pub(crate) labels: Labels,
}

/// `Deployment.spec.template`.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct PodTemplate {
    /// Metadata.
    pub(crate) metadata: TemplateMeta,
    /// Pod spec.
    pub(crate) spec: PodSpec,
}

/// A pod spec.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct PodSpec {
    /// Service account.
    pub(crate) service_account_name: String,
    /// No API token in the pod.
    pub(crate) automount_service_account_token: bool,
    /// Pod-level security.
    pub(crate) security_context: PodSecurityContext,
    /// Containers.
    pub(crate) containers: Vec<Container>,
    /// Volumes.
    pub(crate) volumes: Vec<Volume>,
}

/// Pod-level `securityContext`.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct PodSecurityContext {
    /// Refuse to start as root.
    pub(crate) run_as_non_root: bool,
    /// The image's non-root user.
    pub(crate) run_as_user: u32,
    /// Its group.
    pub(crate) run_as_group: u32,
    /// The runtime's default seccomp profile.
    pub(crate) seccomp_profile: SeccompProfile,
}

/// `seccompProfile`.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct SeccompProfile {
    /// `RuntimeDefault`.
    #[serde(rename = "type")]
    pub(crate) kind: String,
}

/// A container.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Container {
    /// Name.
    pub(crate) name: String,
    /// Image.
    pub(crate) image: String,
    /// Pull policy.
    pub(crate) image_pull_policy: String,
    /// Arguments to the entrypoint.
    pub(crate) args: Vec<String>,
    /// Environment.
    pub(crate) env: Vec<EnvVar>,
    /// Ports.
    pub(crate) ports: Vec<ContainerPort>,
    /// Readiness (`/readyz`: keys of every realm loaded).
    pub(crate) readiness_probe: Probe,
    /// Liveness (`/healthz`: the process answers).
    pub(crate) liveness_probe: Probe,
    /// Requests and limits.
    pub(crate) resources: Resources,
    /// Container-level security.
    pub(crate) security_context: ContainerSecurityContext,
    /// Mounts.
    pub(crate) volume_mounts: Vec<VolumeMount>,
}

/// An environment variable.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct EnvVar {
    /// Name.
    pub(crate) name: String,
    /// Value.
    pub(crate) value: String,
}

/// A container port.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ContainerPort {
    /// Name.
    pub(crate) name: String,
    /// Port.
    pub(crate) container_port: u16,
    /// `TCP`.
    pub(crate) protocol: String,
}

/// An HTTP probe.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Probe {
    /// The request.
    pub(crate) http_get: HttpGet,
    /// Seconds between probes.
    pub(crate) period_seconds: u32,
    /// Failures before acting.
    pub(crate) failure_threshold: u32,
}

/// `httpGet` of a probe.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct HttpGet {
    /// Path.
    pub(crate) path: String,
    /// Container port name.
    pub(crate) port: String,
}

/// Requests and limits.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Resources {
    /// Requests.
    pub(crate) requests: BTreeMap<String, String>,
    /// Limits.
    pub(crate) limits: BTreeMap<String, String>,
}

/// Container-level `securityContext`.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ContainerSecurityContext {
    /// No setuid escalation.
    pub(crate) allow_privilege_escalation: bool,
    /// Nothing to write.
    pub(crate) read_only_root_filesystem: bool,
    /// Refuse to start as root.
    pub(crate) run_as_non_root: bool,
    /// Capabilities.
    pub(crate) capabilities: Capabilities,
}

/// `capabilities`.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Capabilities {
    /// Dropped capabilities (`ALL`).
    pub(crate) drop: Vec<String>,
}

/// A volume mount.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct VolumeMount {
    /// Volume name.
    pub(crate) name: String,
    /// Where.
    pub(crate) mount_path: String,
    /// Read-only.
    pub(crate) read_only: bool,
}

/// A volume backed by a ConfigMap.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Volume {
    /// Name.
    pub(crate) name: String,
    /// The ConfigMap.
    pub(crate) config_map: ConfigMapRef,
}

/// `configMap` of a volume.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct ConfigMapRef {
    /// ConfigMap name.
    pub(crate) name: String,
}

// ---- kustomize and istiod values ----

/// `kustomization.yaml`, so `kubectl apply -k DIR` applies a mode's objects in one go.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Kustomization {
    /// `kustomize.config.k8s.io/v1beta1`.
    pub(crate) api_version: &'static str,
    /// `Kustomization`.
    pub(crate) kind: &'static str,
    /// Files, in apply order.
    pub(crate) resources: Vec<String>,
}

/// istiod Helm values carrying the extension provider (`meshConfig` of `IstioOperator.spec`
/// takes the same shape).
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct MeshValues {
    /// The mesh config.
    pub(crate) mesh_config: MeshConfig,
}

/// `meshConfig`.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct MeshConfig {
    /// Extension providers.
    pub(crate) extension_providers: Vec<ExtensionProvider>,
}

/// `meshConfig.extensionProviders[]`.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct ExtensionProvider {
    /// The name CUSTOM policies and Telemetry resources refer to.
    pub(crate) name: String,
    /// What it provides (one key of the `provider` oneof).
    #[serde(flatten)]
    pub(crate) kind: ProviderKind,
}

/// The `provider` oneof of an extension provider.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) enum ProviderKind {
    /// The authorizer, for CUSTOM policies.
    EnvoyExtAuthzGrpc(EnvoyExtAuthzGrpc),
    /// An Envoy access log written to a file, for Telemetry.
    EnvoyFileAccessLog(EnvoyFileAccessLog),
}

/// `envoyExtAuthzGrpc`.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct EnvoyExtAuthzGrpc {
    /// The authorizer's Service FQDN.
    pub(crate) service: String,
    /// Its gRPC port.
    pub(crate) port: u16,
    /// Per-Check timeout (Istio's default is 600 s).
    pub(crate) timeout: String,
    /// Never let a request through when the authorizer cannot answer.
    pub(crate) fail_open: bool,
    /// HTTP status Envoy answers with when the Check fails (gRPC clients see UNAVAILABLE).
    pub(crate) status_on_error: String,
    /// Send the request body (only when a rule has conditions on request fields).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) include_request_body_in_check: Option<BodyInCheck>,
}

/// `envoyFileAccessLog`.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct EnvoyFileAccessLog {
    /// Where the proxy writes the log (`/dev/stdout`: the `istio-proxy` container's log).
    pub(crate) path: String,
    /// The line format.
    pub(crate) log_format: AccessLogFormat,
}

/// `envoyFileAccessLog.logFormat`.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct AccessLogFormat {
    /// One JSON object per line: field name → Envoy command operator.
    pub(crate) labels: BTreeMap<String, String>,
}

/// `includeRequestBodyInCheck`.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct BodyInCheck {
    /// Bytes buffered at most.
    pub(crate) max_request_bytes: u32,
    /// Send the first `max_request_bytes` of a larger body instead of failing with 413.
    pub(crate) allow_partial_message: bool,
    /// Send the body as raw bytes (gRPC frames are binary).
    pub(crate) pack_as_bytes: bool,
}
