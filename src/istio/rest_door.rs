//! The REST door in the Istio policies: since Camunda 8.8 the gateway serves the Orchestration
//! Cluster REST API (`/v2`, under the chart's context path if any) on its HTTP port (8080)
//! beside gRPC, and 8.8+ clients use it by default. A policy that guards only the gRPC port
//! leaves that door open, so the REST port gets the same three pieces as the gRPC port:
//!
//! - DENY without a principal of the realm (RequestAuthentication already covers every port of
//!   the workload);
//! - CUSTOM: the authorizer decides every call on the port. Unlike the gRPC side, no REST call
//!   is decided by native ALLOW rules: which controller a path reaches is Spring MVC's decision
//!   (`;` parameters, percent-encoding, trailing slashes, dot segments), which only the
//!   authorizer reads as Spring does; an Istio path rule matches the raw path, so a native rule
//!   could allow what Spring routes elsewhere, or miss what it routes here;
//! - ALLOW for the realm's principals (the authorizer allowed the call already), or, for a realm
//!   in `mode: dry-run`, for every caller (the authorizer reports what it would decide).
//!
//! The web applications on the same port (Operate, Tasklist, Identity, their logins) are then
//! refused by the authorizer as other services' paths; `--rest-pass-through` names path
//! patterns Istio lets through without asking it (for prefixes Spring cannot route to the REST
//! API, such as `/operate/*`).

use super::enforcement::RealmEnforcement;
use super::model::{Operation, Rule, RuleFrom, RuleTo, Source};
use super::render::Generator;

/// One realm's rules for the REST port.
pub(super) struct RealmRestRules {
    /// DENY: no principal of the realm.
    pub(super) require_principal: Rule,
    /// CUSTOM: the authorizer decides.
    pub(super) custom: Rule,
    /// ALLOW, as enforced (for a dry-run realm: any caller).
    pub(super) allow: Rule,
    /// ALLOW as it would be enforced (the dry-run policy's rule).
    pub(super) allow_would_be: Rule,
}

impl Generator<'_> {
    /// Whether the REST port is guarded (`--gateway-rest-port 0` leaves it as it was, for
    /// gateways before 8.8).
    pub(super) fn rest_door(&self) -> Option<String> {
        let port = self.options.gateway_rest_port;
        (port != 0 && port != self.options.gateway_port).then(|| port.to_string())
    }

    /// The REST port's rules for `realm`, whose gRPC rules share `base` (ports and hosts).
    pub(super) fn rest_rules(
        &self,
        realm: &RealmEnforcement,
        base: &Operation,
    ) -> Option<RealmRestRules> {
        let port = self.rest_door()?;
        let guarded = Operation {
            ports: vec![port],
            not_paths: self.options.rest_pass_through.clone(),
            ..base.clone()
        };
        let to = vec![RuleTo { operation: guarded }];
        let principal = vec![RuleFrom {
            source: Source {
                request_principals: vec![realm.principal()],
                ..Source::default()
            },
        }];
        let allow_would_be = Rule {
            from: principal,
            to: to.clone(),
            when: Vec::new(),
        };
        Some(RealmRestRules {
            require_principal: Rule {
                from: vec![RuleFrom {
                    source: Source {
                        not_request_principals: vec![realm.principal()],
                        ..Source::default()
                    },
                }],
                to: to.clone(),
                when: Vec::new(),
            },
            custom: Rule {
                to: to.clone(),
                ..Rule::default()
            },
            allow: if realm.dry_run {
                Rule {
                    to,
                    ..Rule::default()
                }
            } else {
                allow_would_be.clone()
            },
            allow_would_be,
        })
    }

    /// The ports the policies guard (the gRPC port, and the REST port unless it is left open).
    pub(super) fn guarded_ports(&self) -> Vec<String> {
        let mut ports = vec![self.options.gateway_port.to_string()];
        ports.extend(self.rest_door());
        ports
    }

    /// The ALLOW rule for what the policies leave as it was: other ports, and the REST port's
    /// pass-through paths.
    pub(super) fn pass_through_rules(&self) -> Vec<Rule> {
        let mut rules = vec![Rule {
            to: vec![RuleTo {
                operation: Operation {
                    not_ports: self.guarded_ports(),
                    ..Operation::default()
                },
            }],
            ..Rule::default()
        }];
        if let Some(port) = self.rest_door()
            && !self.options.rest_pass_through.is_empty()
        {
            rules.push(Rule {
                to: vec![RuleTo {
                    operation: Operation {
                        ports: vec![port],
                        paths: self.options.rest_pass_through.clone(),
                        ..Operation::default()
                    },
                }],
                ..Rule::default()
            });
        }
        rules
    }
}
