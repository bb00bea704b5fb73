//! The authorizer's own objects: ServiceAccount, ConfigMap, Service and Deployment.

use super::ADMIN_PORT;
use super::CONFIG_DIR;
use super::GRPC_PORT;
use super::IstioError;
use super::NAME;
use super::PART_OF_LABEL;
use super::model::{
    Capabilities, ConfigMapData, ConfigMapRef, Container, ContainerPort, ContainerSecurityContext,
    DeploymentSpec, EnvVar, HttpGet, LabelSelector, Object, PodSecurityContext, PodSpec,
    PodTemplate, Probe, Resources, SeccompProfile, ServiceAccountBody, ServicePort, ServiceSpec,
    Spec, TemplateMeta, Volume, VolumeMount,
};
use super::yaml_doc;
use std::collections::BTreeMap;

use super::render::Generator;

impl Generator<'_> {
    pub(super) fn authorizer(
        &self,
        data: &BTreeMap<String, String>,
    ) -> Result<Vec<String>, IstioError> {
        // No config checksum on the pod template: a changed ConfigMap reaches the running
        // pods (kubelet syncs mounted ConfigMaps within about a minute) and `serve` reloads
        // it without a restart. Only listen addresses need one, and they are fixed here.
        let mut pod_labels = Self::app_labels();
        pod_labels.insert(PART_OF_LABEL.into(), NAME.into());
        let probe = |path: &str, period| Probe {
            http_get: HttpGet {
                path: path.into(),
                port: "admin".into(),
            },
            period_seconds: period,
            failure_threshold: 3,
        };
        let deployment = Object {
            api_version: "apps/v1",
            kind: "Deployment",
            metadata: self.meta(NAME),
            body: Spec {
                spec: DeploymentSpec {
                    replicas: self.options.replicas,
                    selector: LabelSelector {
                        match_labels: Self::app_labels(),
                    },
                    template: PodTemplate {
                        metadata: TemplateMeta { labels: pod_labels },
                        spec: PodSpec {
                            service_account_name: NAME.into(),
                            automount_service_account_token: false,
                            security_context: PodSecurityContext {
                                run_as_non_root: true,
                                run_as_user: 65532,
                                run_as_group: 65532,
                                seccomp_profile: SeccompProfile {
                                    kind: "RuntimeDefault".into(),
                                },
                            },
                            containers: vec![Container {
                                name: NAME.into(),
                                image: self.options.image.clone(),
                                image_pull_policy: "IfNotPresent".into(),
                                args: vec![
                                    "serve".into(),
                                    "--config".into(),
                                    format!("{CONFIG_DIR}/config.yaml"),
                                ],
                                env: vec![EnvVar {
                                    name: "ZEEBE_AUTHZ_LOG_FORMAT".into(),
                                    value: "json".into(),
                                }],
                                ports: vec![
                                    ContainerPort {
                                        name: "grpc".into(),
                                        container_port: GRPC_PORT,
                                        protocol: "TCP".into(),
                                    },
                                    ContainerPort {
                                        name: "admin".into(),
                                        container_port: ADMIN_PORT,
                                        protocol: "TCP".into(),
                                    },
                                ],
                                readiness_probe: probe("/readyz", 5),
                                liveness_probe: probe("/healthz", 10),
                                resources: Resources {
                                    requests: BTreeMap::from([
                                        ("cpu".into(), "100m".into()),
                                        ("memory".into(), "64Mi".into()),
                                    ]),
                                    limits: BTreeMap::from([("memory".into(), "256Mi".into())]),
                                },
                                security_context: ContainerSecurityContext {
                                    allow_privilege_escalation: false,
                                    read_only_root_filesystem: true,
                                    run_as_non_root: true,
                                    capabilities: Capabilities {
                                        drop: vec!["ALL".into()],
                                    },
                                },
                                volume_mounts: vec![VolumeMount {
                                    name: "config".into(),
                                    mount_path: CONFIG_DIR.into(),
                                    read_only: true,
                                }],
                            }],
                            volumes: vec![Volume {
                                name: "config".into(),
                                config_map: ConfigMapRef { name: NAME.into() },
                            }],
                        },
                    },
                },
            },
        };
        let service = Object {
            api_version: "v1",
            kind: "Service",
            metadata: self.meta(NAME),
            body: Spec {
                spec: ServiceSpec {
                    selector: Self::app_labels(),
                    ports: vec![
                        ServicePort {
                            name: "grpc".into(),
                            port: GRPC_PORT,
                            target_port: "grpc".into(),
                            protocol: "TCP".into(),
                            app_protocol: "grpc".into(),
                        },
                        ServicePort {
                            name: "http-admin".into(),
                            port: ADMIN_PORT,
                            target_port: "admin".into(),
                            protocol: "TCP".into(),
                            app_protocol: "http".into(),
                        },
                    ],
                },
            },
        };
        Ok(vec![
            yaml_doc(&Object {
                api_version: "v1",
                kind: "ServiceAccount",
                metadata: self.meta(NAME),
                body: ServiceAccountBody {
                    automount_service_account_token: false,
                },
            })?,
            yaml_doc(&Object {
                api_version: "v1",
                kind: "ConfigMap",
                metadata: self.meta(NAME),
                body: ConfigMapData { data: data.clone() },
            })?,
            yaml_doc(&service)?,
            yaml_doc(&deployment)?,
        ])
    }
}
