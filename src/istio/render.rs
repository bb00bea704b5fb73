//! Rendering the manifests of one mode: the mesh extension providers, RequestAuthentications,
//! AuthorizationPolicies (with the dry-run policies of dry-run realms), and the ambient waypoint
//! (the authorizer's own objects are in [`super::authorizer`], the access log provider and its
//! Telemetry in [`super::telemetry`]).

use super::AUTHZ_POLICY_API;
use super::DRY_RUN_ANNOTATION;
use super::GENERATED_MARKER;
use super::GRPC_PORT;
use super::GeneratedFile;
use super::IstioError;
use super::MAX_REQUEST_BYTES;
use super::NAME;
use super::NAME_LABEL;
use super::PART_OF_LABEL;
use super::args::IstioOptions;
use super::args::Mode;
use super::config_map::display_path;
use super::enforcement::Enforcement;
use super::enforcement::HostScope;
use super::enforcement::RealmEnforcement;
use super::enforcement::gateway_paths_pattern;
use super::enforcement::rpc_path;
use super::model::{
    AuthorizationPolicySpec, BodyInCheck, Condition, EnvoyExtAuthzGrpc, ExtensionProvider,
    GatewaySpec, JwtRule, Kustomization, Labels, Listener, MeshConfig, MeshValues, Object,
    ObjectMeta, Operation, Provider, ProviderKind, RequestAuthenticationSpec, Rule, RuleFrom,
    RuleTo, Source, Spec, TargetRef, WorkloadSelector,
};
use super::object_name;
use super::proto_duration;
use super::yaml_doc;
use serde::Serialize;
use std::collections::BTreeMap;
use std::collections::BTreeSet;
use std::path::Path;
use zeebe_authz_core::catalog::Rpc;
use zeebe_authz_core::catalog::RpcSet;

pub(super) struct Generator<'a> {
    pub(super) mode: Mode,
    pub(super) options: &'a IstioOptions,
    pub(super) enforcement: &'a Enforcement,
    pub(super) source: &'a Path,
}

impl Generator<'_> {
    pub(super) fn files(
        &self,
        config_map: &BTreeMap<String, String>,
    ) -> Result<Vec<GeneratedFile>, IstioError> {
        let dir = Path::new(self.mode.dir());
        let policy_what = self.authorization_policy_description();
        let mut files = vec![
            (
                "mesh-config.yaml",
                "istiod Helm values (merge into your istiod values): the ext_authz extension provider, and the\n# access log provider whose lines carry the authorizer's decision (telemetry.yaml turns it on).",
                vec![yaml_doc(&self.mesh_values())?],
            ),
            (
                "authorizer.yaml",
                "The authorizer: ServiceAccount, ConfigMap (config and policies), Service, Deployment.",
                self.authorizer(config_map)?,
            ),
            (
                "request-authentication.yaml",
                "JWT authentication of the gateway's callers, one RequestAuthentication per realm. A call\n# without a token passes here (the policies decide); a call with an invalid token (bad signature,\n# expired, another audience) is answered 401 here, also in realms in mode: dry-run.",
                self.request_authentications()?,
            ),
            (
                "authorization-policy.yaml",
                policy_what.as_str(),
                self.authorization_policies()?,
            ),
            (
                "telemetry.yaml",
                "Turns on the zeebe-authz-access-log provider of mesh-config.yaml where the policies are enforced:\n# one JSON line per call with the authorizer's decision_id, reason, realm, subject, rpc and dry_run.\n# It replaces the mesh's default access log there, and Istio takes one Telemetry per workload.",
                vec![yaml_doc(&self.telemetry())?],
            ),
        ];
        if self.mode == Mode::Ambient {
            files.push((
                "waypoint.yaml",
                "The waypoint that enforces L7 policy for the gateway Service in ambient mode.",
                vec![yaml_doc(&self.waypoint())?],
            ));
            files.push((
                "gateway-service-patch.yaml",
                "Routes the gateway Service (ingress traffic too) through the waypoint. Apply with:\n#   kubectl -n NAMESPACE patch service GATEWAY_SERVICE --patch-file gateway-service-patch.yaml",
                vec![yaml_doc(&self.use_waypoint_patch())?],
            ));
        }
        let mut resources = vec![
            "authorizer.yaml".to_string(),
            "request-authentication.yaml".into(),
            "authorization-policy.yaml".into(),
            "telemetry.yaml".into(),
        ];
        if self.mode == Mode::Ambient {
            resources.insert(0, "waypoint.yaml".into());
        }
        files.push((
            "kustomization.yaml",
            "kubectl apply -k on this folder applies every object (not mesh-config.yaml, not patches).",
            vec![yaml_doc(&Kustomization {
                api_version: "kustomize.config.k8s.io/v1beta1",
                kind: "Kustomization",
                resources,
            })?],
        ));
        Ok(files
            .into_iter()
            .map(|(name, what, docs)| GeneratedFile {
                path: dir.join(name),
                contents: self.file_text(what, &docs),
            })
            .collect())
    }

    pub(super) fn file_text(&self, what: &str, docs: &[String]) -> String {
        let mut out = format!(
            "{GENERATED_MARKER} from {} (mode {}). Do not edit:\n# change the config or policy and regenerate (see istio/README.md).\n# {what}\n",
            display_path(self.source),
            self.mode.dir(),
        );
        for (i, doc) in docs.iter().enumerate() {
            if i > 0 {
                out.push_str("---\n");
            }
            out.push_str(doc);
        }
        out
    }

    pub(super) fn meta(&self, name: &str) -> ObjectMeta {
        ObjectMeta {
            name: name.to_string(),
            namespace: Some(self.options.namespace.clone()),
            labels: Labels::from([(PART_OF_LABEL.to_string(), NAME.to_string())]),
            annotations: BTreeMap::new(),
        }
    }

    pub(super) fn app_labels() -> Labels {
        Labels::from([(NAME_LABEL.to_string(), NAME.to_string())])
    }

    pub(super) fn selector(&self) -> Option<WorkloadSelector> {
        (self.mode == Mode::Sidecar).then(|| WorkloadSelector {
            match_labels: self.options.gateway_selector.clone(),
        })
    }

    fn target_refs(&self) -> Vec<TargetRef> {
        if self.mode == Mode::Ambient {
            vec![TargetRef {
                group: String::new(),
                kind: "Service".into(),
                name: self.options.gateway_service.clone(),
            }]
        } else {
            Vec::new()
        }
    }

    fn mesh_values(&self) -> MeshValues {
        let ext_authz = ExtensionProvider {
            name: NAME.into(),
            kind: ProviderKind::EnvoyExtAuthzGrpc(EnvoyExtAuthzGrpc {
                service: format!("{NAME}.{}.svc.cluster.local", self.options.namespace),
                port: GRPC_PORT,
                timeout: proto_duration(self.options.check_timeout),
                fail_open: false,
                status_on_error: "503".into(),
                include_request_body_in_check: self.enforcement.needs_body.then_some(BodyInCheck {
                    max_request_bytes: MAX_REQUEST_BYTES,
                    allow_partial_message: true,
                    pack_as_bytes: true,
                }),
            }),
        };
        MeshValues {
            mesh_config: MeshConfig {
                extension_providers: vec![
                    ext_authz,
                    Self::access_log_provider(self.enforcement.subject_header.as_deref()),
                ],
            },
        }
    }

    fn request_authentications(&self) -> Result<Vec<String>, IstioError> {
        // Realms sharing an issuer share one rule (Istio keeps one provider per issuer).
        let mut rules: Vec<(String, JwtRule)> = Vec::new();
        for realm in &self.enforcement.realms {
            if let Some((_, rule)) = rules.iter_mut().find(|(_, r)| r.issuer == realm.issuer) {
                for a in &realm.audiences {
                    if !rule.audiences.contains(a) {
                        rule.audiences.push(a.clone());
                    }
                }
                continue;
            }
            rules.push((
                realm.name.clone(),
                JwtRule {
                    issuer: realm.issuer.clone(),
                    jwks_uri: realm.jwks_uri.clone(),
                    audiences: realm.audiences.clone(),
                    forward_original_token: true,
                },
            ));
        }
        let mut used = BTreeSet::new();
        rules
            .into_iter()
            .enumerate()
            .map(|(i, (realm, rule))| {
                let mut name = object_name(NAME, &realm);
                if !used.insert(name.clone()) {
                    name = format!("{NAME}-realm-{i}");
                    used.insert(name.clone());
                }
                yaml_doc(&Object {
                    api_version: AUTHZ_POLICY_API,
                    kind: "RequestAuthentication",
                    metadata: self.meta(&name),
                    body: Spec {
                        spec: RequestAuthenticationSpec {
                            selector: self.selector(),
                            target_refs: self.target_refs(),
                            jwt_rules: vec![rule],
                        },
                    },
                })
            })
            .collect()
    }

    /// The gateway port and the realm's hosts, the part every rule of the realm shares.
    fn realm_operation(&self, realm: &RealmEnforcement) -> Operation {
        let mut op = Operation {
            ports: vec![self.options.gateway_port.to_string()],
            ..Operation::default()
        };
        match &realm.hosts {
            HostScope::Any => {}
            HostScope::Only(h) => op.hosts = h.clone(),
            HostScope::AllBut(h) => op.not_hosts = h.clone(),
        }
        op
    }

    fn principal_of(realm: &RealmEnforcement) -> Vec<RuleFrom> {
        vec![RuleFrom {
            source: Source {
                request_principals: vec![realm.principal()],
                ..Source::default()
            },
        }]
    }

    fn policy(
        &self,
        name: &str,
        action: &'static str,
        rules: Vec<Rule>,
    ) -> Result<String, IstioError> {
        self.policy_on(
            self.meta(name),
            action,
            rules,
            self.selector(),
            self.target_refs(),
        )
    }

    /// An ALLOW or DENY policy Istio evaluates and reports (RBAC shadow rules: the proxy's
    /// `rbac` stats with `authz_dry_run_result`, its rbac debug log) but does not enforce.
    fn dry_run_policy(
        &self,
        name: &str,
        action: &'static str,
        rules: Vec<Rule>,
    ) -> Result<String, IstioError> {
        debug_assert_ne!(
            action, "CUSTOM",
            "Istio still calls ext_authz for dry-run CUSTOM"
        );
        let mut metadata = self.meta(name);
        metadata
            .annotations
            .insert(DRY_RUN_ANNOTATION.into(), "true".into());
        self.policy_on(metadata, action, rules, self.selector(), self.target_refs())
    }

    fn policy_on(
        &self,
        metadata: ObjectMeta,
        action: &'static str,
        rules: Vec<Rule>,
        selector: Option<WorkloadSelector>,
        target_refs: Vec<TargetRef>,
    ) -> Result<String, IstioError> {
        yaml_doc(&Object {
            api_version: AUTHZ_POLICY_API,
            kind: "AuthorizationPolicy",
            metadata,
            body: Spec {
                spec: AuthorizationPolicySpec {
                    selector,
                    target_refs,
                    action,
                    provider: (action == "CUSTOM").then(|| Provider { name: NAME.into() }),
                    rules,
                },
            },
        })
    }

    /// The header comment of `authorization-policy.yaml`: what it holds, and how dry-run
    /// realms are rendered when there are any.
    fn authorization_policy_description(&self) -> String {
        let mut what = String::from(
            "Authorization of gateway calls: require a token, native ALLOW rules, CUSTOM (the authorizer).",
        );
        let dry_run: Vec<String> = self
            .enforcement
            .realms
            .iter()
            .filter(|r| r.dry_run)
            .map(|r| format!("{:?}", r.name))
            .collect();
        if !dry_run.is_empty() {
            what.push_str(&format!(
                "\n# Realms in mode: dry-run ({}): CUSTOM sends every call of theirs to the authorizer,\n\
                 # which allows it and reports what it would decide, and {NAME}-allow lets those calls through.\n\
                 # Their native rules are in {NAME}-require-jwt-dry-run and {NAME}-allow-dry-run\n\
                 # ({DRY_RUN_ANNOTATION}: \"true\"): Istio evaluates and reports them without enforcing them.\n\
                 # RequestAuthentication still answers 401 to an invalid token. Rolling out: istio/README.md.",
                dry_run.join(", ")
            ));
        }
        what
    }

    fn authorization_policies(&self) -> Result<Vec<String>, IstioError> {
        let paths = |rpcs: RpcSet| rpcs.iter().map(rpc_path).collect::<Vec<_>>();
        let mut deny = Vec::new();
        let mut allow = Vec::new();
        let mut custom = Vec::new();
        // Dry-run realms: the DENY rules Istio would enforce, and the whole ALLOW policy it
        // would enforce. Istio evaluates dry-run ALLOW policies apart from the enforced ones (a
        // call is shadow-allowed when a dry-run ALLOW rule matches), so this one repeats the
        // enforced rules of the other realms, and its result is what enforcing would decide.
        let mut deny_dry_run = Vec::new();
        let mut allow_would_be = Vec::new();
        for realm in &self.enforcement.realms {
            let base = self.realm_operation(realm);
            // The REST door (super::rest_door): the authorizer decides every call there.
            let rest = self.rest_rules(realm, &base);
            let require_principal = Rule {
                from: vec![RuleFrom {
                    source: Source {
                        not_request_principals: vec![realm.principal()],
                        ..Source::default()
                    },
                }],
                to: vec![RuleTo {
                    operation: base.clone(),
                }],
                when: Vec::new(),
            };
            let realm_allow = if realm.authorizer_decides_all {
                // The authorizer decides every call; Istio only requires the realm's token.
                custom.push(Rule {
                    to: vec![RuleTo {
                        operation: base.clone(),
                    }],
                    ..Rule::default()
                });
                vec![Rule {
                    from: Self::principal_of(realm),
                    to: vec![RuleTo {
                        operation: base.clone(),
                    }],
                    when: Vec::new(),
                }]
            } else {
                if !realm.authorizer_rpcs.is_empty() {
                    custom.push(Rule {
                        to: vec![RuleTo {
                            operation: Operation {
                                paths: paths(realm.authorizer_rpcs),
                                ..base.clone()
                            },
                        }],
                        ..Rule::default()
                    });
                }
                self.native_allow_rules(realm, &base)
            };

            if realm.dry_run {
                // The authorizer allows every call of the realm (reporting what it would
                // decide); Istio lets them through, and evaluates its own rules in dry-run.
                allow.push(Rule {
                    to: vec![RuleTo { operation: base }],
                    ..Rule::default()
                });
                deny_dry_run.push(require_principal);
            } else {
                deny.push(require_principal);
                allow.extend(realm_allow.iter().cloned());
            }
            allow_would_be.extend(realm_allow);
            if let Some(rest) = rest {
                custom.push(rest.custom);
                allow.push(rest.allow);
                allow_would_be.push(rest.allow_would_be);
                if realm.dry_run {
                    deny_dry_run.push(rest.require_principal);
                } else {
                    deny.push(rest.require_principal);
                }
            }
        }
        // The policies guard the gRPC and REST ports; the gateway's other ports (management)
        // and the REST port's pass-through paths keep working as before, since an ALLOW policy
        // on a workload denies whatever it does not match.
        let pass_through = self.pass_through_rules();
        allow.extend(pass_through.iter().cloned());
        allow_would_be.extend(pass_through);

        // Emitted even without rules (every realm in dry-run; a DENY policy without rules
        // matches nothing): `kubectl apply` does not delete objects no longer generated, and a
        // stale enforced DENY would defeat a realm's dry-run.
        let mut docs = vec![
            self.policy(&format!("{NAME}-require-jwt"), "DENY", deny)?,
            self.policy(&format!("{NAME}-allow"), "ALLOW", allow)?,
        ];
        if !custom.is_empty() {
            docs.push(self.policy(&format!("{NAME}-custom"), "CUSTOM", custom)?);
        }
        if !deny_dry_run.is_empty() {
            docs.push(self.dry_run_policy(
                &format!("{NAME}-require-jwt-dry-run"),
                "DENY",
                deny_dry_run,
            )?);
            docs.push(self.dry_run_policy(
                &format!("{NAME}-allow-dry-run"),
                "ALLOW",
                allow_would_be,
            )?);
        }
        if self.mode == Mode::Ambient {
            docs.push(self.via_waypoint_only()?);
        }
        Ok(docs)
    }

    /// The ALLOW rules of a realm whose calls Istio decides in part: the calls the authorizer
    /// allowed (CUSTOM), native permission rules, and the paths open to any principal.
    fn native_allow_rules(&self, realm: &RealmEnforcement, base: &Operation) -> Vec<Rule> {
        let paths = |rpcs: RpcSet| rpcs.iter().map(rpc_path).collect::<Vec<_>>();
        let mut allow = Vec::new();
        if !realm.authorizer_rpcs.is_empty() {
            // The authorizer allowed these already; Istio needs an ALLOW that matches.
            allow.push(Rule {
                from: Self::principal_of(realm),
                to: vec![RuleTo {
                    operation: Operation {
                        paths: paths(realm.authorizer_rpcs),
                        ..base.clone()
                    },
                }],
                when: Vec::new(),
            });
        }
        let permission_rule = |permission: &str, rpcs: RpcSet| Rule {
            from: Self::principal_of(realm),
            to: vec![RuleTo {
                operation: Operation {
                    methods: vec!["POST".into()],
                    paths: paths(rpcs),
                    ..base.clone()
                },
            }],
            when: vec![Condition {
                key: realm.claim_key.clone(),
                values: vec![permission.to_string()],
            }],
        };
        for grant in &realm.native_grants {
            allow.push(permission_rule(&grant.permission, grant.rpcs));
        }
        for rpc in realm.rpc_named.iter() {
            allow.push(permission_rule(rpc.name(), RpcSet::EMPTY.with(rpc)));
        }
        if realm.unknown_rpcs_authenticated {
            allow.push(Rule {
                from: Self::principal_of(realm),
                to: vec![RuleTo {
                    operation: Operation {
                        paths: vec![gateway_paths_pattern()],
                        not_paths: Rpc::all().map(rpc_path).collect(),
                        ..base.clone()
                    },
                }],
                when: Vec::new(),
            });
        }
        if realm.other_paths_authenticated {
            allow.push(Rule {
                from: Self::principal_of(realm),
                to: vec![RuleTo {
                    operation: Operation {
                        not_paths: vec![gateway_paths_pattern()],
                        ..base.clone()
                    },
                }],
                when: Vec::new(),
            });
        }
        allow
    }

    /// Ambient mode: the waypoint enforces the policies above only for traffic sent to the
    /// gateway Service. A client reaching a gateway pod directly (its pod IP) would skip it, so
    /// ztunnel (an L4 policy selecting the pods) admits the gRPC and REST ports only from the
    /// waypoint.
    fn via_waypoint_only(&self) -> Result<String, IstioError> {
        let ports = self.guarded_ports();
        let rules = vec![
            Rule {
                from: vec![RuleFrom {
                    source: Source {
                        // The waypoint runs as a service account named after it.
                        principals: vec![format!(
                            "cluster.local/ns/{}/sa/{}",
                            self.options.namespace, self.options.waypoint
                        )],
                        ..Source::default()
                    },
                }],
                to: vec![RuleTo {
                    operation: Operation {
                        ports: ports.clone(),
                        ..Operation::default()
                    },
                }],
                when: Vec::new(),
            },
            Rule {
                to: vec![RuleTo {
                    operation: Operation {
                        not_ports: ports,
                        ..Operation::default()
                    },
                }],
                ..Rule::default()
            },
        ];
        self.policy_on(
            self.meta(&format!("{NAME}-via-waypoint")),
            "ALLOW",
            rules,
            Some(WorkloadSelector {
                match_labels: self.options.gateway_selector.clone(),
            }),
            Vec::new(),
        )
    }

    fn waypoint(&self) -> Object<Spec<GatewaySpec>> {
        let mut metadata = self.meta(&self.options.waypoint);
        metadata
            .labels
            .insert("istio.io/waypoint-for".into(), "service".into());
        Object {
            api_version: "gateway.networking.k8s.io/v1",
            kind: "Gateway",
            metadata,
            body: Spec {
                spec: GatewaySpec {
                    gateway_class_name: "istio-waypoint".into(),
                    listeners: vec![Listener {
                        name: "mesh".into(),
                        port: 15008,
                        protocol: "HBONE".into(),
                    }],
                },
            },
        }
    }

    fn use_waypoint_patch(&self) -> UseWaypointPatch {
        UseWaypointPatch {
            metadata: PatchMeta {
                labels: Labels::from([
                    (
                        "istio.io/use-waypoint".to_string(),
                        self.options.waypoint.clone(),
                    ),
                    // Without it, traffic from an Istio ingress gateway skips the waypoint
                    // (and with it every L7 policy).
                    (
                        "istio.io/ingress-use-waypoint".to_string(),
                        "true".to_string(),
                    ),
                ]),
            },
        }
    }
}

/// A strategic-merge patch adding the `istio.io/use-waypoint` label to the gateway Service.
#[derive(Debug, Serialize)]
struct UseWaypointPatch {
    metadata: PatchMeta,
}

#[derive(Debug, Serialize)]
struct PatchMeta {
    labels: Labels,
}
