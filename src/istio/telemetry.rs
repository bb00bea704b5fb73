//! The access log that carries the authorizer's decision: an `envoyFileAccessLog` extension
//! provider for the mesh config and the Telemetry that turns it on where the policies apply.
//!
//! On every Check the authorizer returns dynamic metadata in the ext_authz filter's namespace
//! (`decision_id`, `reason`, `realm`, `subject`, `rpc`, and `dry_run` when true). Envoy keeps it
//! for allowed and denied calls alike, so the access log line of every call the authorizer saw
//! names the decision, in dry-run too. Calls Istio answered alone (a native rule, a 401 from
//! RequestAuthentication) carry no metadata; their `response_code_details` say who answered.

use super::ACCESS_LOG_PROVIDER;
use super::args::Mode;
use super::model::{
    AccessLogFormat, AccessLogging, EnvoyFileAccessLog, ExtensionProvider, Object, Provider,
    ProviderKind, Spec, TargetRef, TelemetrySpec,
};
use std::collections::BTreeMap;

use super::render::Generator;

/// The dynamic metadata namespace of Envoy's HTTP ext_authz filter (a literal in Envoy, not
/// the filter's configured name).
const EXT_AUTHZ_METADATA: &str = "envoy.filters.http.ext_authz";

/// The keys the authorizer returns as dynamic metadata; the log fields have the same names.
const DECISION_KEYS: [&str; 6] = [
    "decision_id",
    "reason",
    "realm",
    "subject",
    "rpc",
    "dry_run",
];

/// Where the proxy writes the log: the `istio-proxy` container's output.
const ACCESS_LOG_PATH: &str = "/dev/stdout";

/// The Envoy command operator that prints one key of the authorizer's metadata.
fn decision_operator(key: &str) -> String {
    format!("%DYNAMIC_METADATA({EXT_AUTHZ_METADATA}:{key})%")
}

impl Generator<'_> {
    /// `meshConfig.extensionProviders[]` entry of the access log: one JSON object per line.
    /// `subject_header`: the subject header allows carry, printed as `identity_subject`.
    pub(super) fn access_log_provider(subject_header: Option<&str>) -> ExtensionProvider {
        let mut labels: BTreeMap<String, String> = DECISION_KEYS
            .iter()
            .map(|key| (key.to_string(), decision_operator(key)))
            .collect();
        if let Some(name) = subject_header {
            // Denies and dry-run would-be denies carry the metadata by default, plain allows
            // only this header (as the upstream received it).
            labels.insert(
                "identity_subject".into(),
                format!("%REQ({})%", name.to_ascii_uppercase()),
            );
        }
        labels.extend(
            [
                // Envoy's id of the request; the authorizer takes its decision id from it.
                ("request_id", "%REQ(X-REQUEST-ID)%"),
                ("grpc_status", "%GRPC_STATUS%"),
                ("response_code", "%RESPONSE_CODE%"),
                // Which filter answered: `ext_authz_denied`, `rbac_access_denied_matched_policy[…]`
                // (a native rule), `jwt_authn_access_denied{…}` (RequestAuthentication's 401).
                ("response_code_details", "%RESPONSE_CODE_DETAILS%"),
                ("start_time", "%START_TIME%"),
                ("authority", "%REQ(:AUTHORITY)%"),
                ("path", "%REQ(:PATH)%"),
            ]
            .map(|(k, v)| (k.to_string(), v.to_string())),
        );
        ExtensionProvider {
            name: ACCESS_LOG_PROVIDER.into(),
            kind: ProviderKind::EnvoyFileAccessLog(EnvoyFileAccessLog {
                path: ACCESS_LOG_PATH.into(),
                log_format: AccessLogFormat { labels },
            }),
        }
    }

    /// The Telemetry that makes the proxy enforcing the policies write the access log: the
    /// gateway pods' sidecars, or the waypoint (which only reads `targetRefs` Telemetry).
    pub(super) fn telemetry(&self) -> Object<Spec<TelemetrySpec>> {
        let target_refs = if self.mode == Mode::Ambient {
            vec![TargetRef {
                group: "gateway.networking.k8s.io".into(),
                kind: "Gateway".into(),
                name: self.options.waypoint.clone(),
            }]
        } else {
            Vec::new()
        };
        Object {
            api_version: "telemetry.istio.io/v1",
            kind: "Telemetry",
            metadata: self.meta(ACCESS_LOG_PROVIDER),
            body: Spec {
                spec: TelemetrySpec {
                    selector: self.selector(),
                    target_refs,
                    access_logging: vec![AccessLogging {
                        providers: vec![Provider {
                            name: ACCESS_LOG_PROVIDER.into(),
                        }],
                    }],
                },
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::istio::yaml_doc;

    #[test]
    fn log_fields_name_the_authorizer_metadata_quoted() {
        // A plain YAML scalar cannot start with `%` (a directive indicator).
        let text = yaml_doc(&Generator::access_log_provider(Some(
            "x-zeebe-authz-subject",
        )))
        .unwrap();
        for key in DECISION_KEYS {
            let line = format!(
                "      {key}: \"%DYNAMIC_METADATA(envoy.filters.http.ext_authz:{key})%\"\n"
            );
            assert!(text.contains(&line), "{line}in\n{text}");
        }
        assert!(
            text.contains("      request_id: \"%REQ(X-REQUEST-ID)%\"\n"),
            "{text}"
        );
        assert!(
            text.contains("      identity_subject: \"%REQ(X-ZEEBE-AUTHZ-SUBJECT)%\"\n"),
            "{text}"
        );
        let without = yaml_doc(&Generator::access_log_provider(None)).unwrap();
        assert!(!without.contains("identity_subject"), "{without}");
    }
}
