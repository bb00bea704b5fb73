//! Conditions on request fields: tenant, job type, process id, decision id, message and signal
//! name. Pure: compiled from the policy's `when:` blocks and evaluated against fields the
//! [`body`](crate::body) decoder read.
//!
//! Where a field lives in each rpc's request is resolved from the rpc catalog (generated from
//! `proto/`) when the policy compiles: the rpc's request message, or the nested `request` of
//! CreateProcessInstanceWithResult. DeployProcess carries no tenant field but always deploys
//! to the default tenant, so a tenant condition sees `<default>` there.

use std::path::Path;
use std::sync::Arc;

use serde::Deserialize;
use serde_saphyr::Spanned;

use crate::body::FieldPath;
use crate::catalog::{FieldKind, MESSAGES, Rpc};
use crate::diag::{Diagnostics, Span};
use crate::text::{Keep, clip};

/// The default tenant's id; an empty tenant id in a request means this tenant.
pub(crate) const DEFAULT_TENANT: &str = "<default>";

/// What a condition constrains.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ConditionKind {
    /// The request's tenant(s).
    Tenant,
    /// ActivateJobs / StreamActivatedJobs `type`.
    JobType,
    /// `bpmnProcessId` of CreateProcessInstance(+WithResult).
    BpmnProcessId,
    /// `decisionId` of EvaluateDecision.
    DecisionId,
    /// `name` of PublishMessage.
    MessageName,
    /// `signalName` of BroadcastSignal.
    SignalName,
}

impl ConditionKind {
    /// How many kinds there are.
    pub(crate) const COUNT: usize = 6;

    /// Every kind.
    pub const ALL: [ConditionKind; ConditionKind::COUNT] = [
        ConditionKind::Tenant,
        ConditionKind::JobType,
        ConditionKind::BpmnProcessId,
        ConditionKind::DecisionId,
        ConditionKind::MessageName,
        ConditionKind::SignalName,
    ];

    /// The key in a policy's `when:` block.
    pub fn key(self) -> &'static str {
        match self {
            ConditionKind::Tenant => "tenant",
            ConditionKind::JobType => "job_type",
            ConditionKind::BpmnProcessId => "bpmn_process_id",
            ConditionKind::DecisionId => "decision_id",
            ConditionKind::MessageName => "message_name",
            ConditionKind::SignalName => "signal_name",
        }
    }

    /// How deny messages name the value.
    pub fn noun(self) -> &'static str {
        match self {
            ConditionKind::Tenant => "tenant",
            ConditionKind::JobType => "job type",
            ConditionKind::BpmnProcessId => "process id",
            ConditionKind::DecisionId => "decision id",
            ConditionKind::MessageName => "message name",
            ConditionKind::SignalName => "signal name",
        }
    }

    /// The proto field names that carry it (singular first).
    fn field_names(self) -> &'static [&'static str] {
        match self {
            ConditionKind::Tenant => &["tenantId", "tenantIds"],
            ConditionKind::JobType => &["type"],
            ConditionKind::BpmnProcessId => &["bpmnProcessId"],
            ConditionKind::DecisionId => &["decisionId"],
            ConditionKind::MessageName => &["name"],
            ConditionKind::SignalName => &["signalName"],
        }
    }

    /// The kind's position in declaration order.
    pub fn index(self) -> usize {
        self as usize
    }
}

/// Where a condition's value comes from in one rpc's request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldSource {
    /// A string field of the body.
    Body(FieldPath),
    /// A fixed tenant (DeployProcess always deploys to the default tenant).
    DefaultTenant,
    /// A member of a REST-only operation's body (its route names it).
    Rest,
}

/// Where `kind` is found in `rpc`'s request, or `None` when the rpc does not carry it. A REST
/// twin carries the same kinds as its rpc (a catalog test holds the two to it); a REST-only
/// operation carries the kinds its route names.
pub fn field_source(rpc: Rpc, kind: ConditionKind) -> Option<FieldSource> {
    if kind == ConditionKind::Tenant && rpc.name() == "DeployProcess" {
        return Some(FieldSource::DefaultTenant);
    }
    if !rpc.is_grpc() {
        return rpc
            .rest_routes()
            .any(|r| r.members.iter().any(|m| m.kind == kind.key()))
            .then_some(FieldSource::Rest);
    }
    let msg = rpc.desc().request_message();
    let string_field = |m: &'static crate::catalog::MessageDesc| {
        kind.field_names()
            .iter()
            .find_map(|name| m.field(name).filter(|f| f.kind == FieldKind::String))
    };
    if let Some(f) = string_field(msg) {
        return Some(FieldSource::Body(FieldPath {
            outer: None,
            number: f.number,
            repeated: f.repeated,
        }));
    }
    let nested = msg.field("request").filter(|f| !f.repeated)?;
    let FieldKind::Message(idx) = nested.kind else {
        return None;
    };
    let f = string_field(&MESSAGES[idx])?;
    Some(FieldSource::Body(FieldPath {
        outer: Some(nested.number),
        number: f.number,
        repeated: f.repeated,
    }))
}

/// The proto name of the field that carries `kind` in `rpc`'s request (`request.bpmnProcessId`
/// for the nested request of CreateProcessInstanceWithResult), for tables and messages; for a
/// REST-only operation, its JSON member.
pub(crate) fn field_name(rpc: Rpc, kind: ConditionKind) -> Option<String> {
    if !rpc.is_grpc() {
        return rpc
            .rest_routes()
            .flat_map(|r| r.members.iter())
            .find(|m| m.kind == kind.key())
            .map(|m| m.name.to_string());
    }
    let FieldSource::Body(path) = field_source(rpc, kind)? else {
        return None;
    };
    let msg = rpc.desc().request_message();
    let (outer, msg) = match path.outer {
        None => (None, msg),
        Some(n) => {
            let f = msg.fields.iter().find(|f| f.number == n)?;
            let FieldKind::Message(idx) = f.kind else {
                return None;
            };
            (Some(f.name), &MESSAGES[idx])
        }
    };
    let inner = msg.fields.iter().find(|f| f.number == path.number)?.name;
    Some(outer.map_or_else(|| inner.to_string(), |o| format!("{o}.{inner}")))
}

/// Whether `id` is a valid Zeebe tenant id (`^[\w.-]{1,31}$`, or `<default>`).
pub(crate) fn is_valid_tenant_id(id: &str) -> bool {
    id == DEFAULT_TENANT
        || (!id.is_empty()
            && id.len() <= 31
            && id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-')))
}

/// A value pattern: text with `*` wildcards (`payment*`, `*-refund`, `order-*-v2`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pattern {
    source: Box<str>,
    parts: Box<[Box<str>]>,
}

/// Why a pattern is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum InvalidPattern {
    /// Empty text.
    #[error("empty pattern")]
    Empty,
    /// Whitespace or control characters, which no Zeebe id contains.
    #[error("pattern contains whitespace or control characters")]
    BadCharacter,
    /// Longer than 256 characters.
    #[error("pattern longer than 256 characters")]
    TooLong,
}

impl Pattern {
    /// Parses a pattern.
    pub(crate) fn parse(source: &str) -> Result<Pattern, InvalidPattern> {
        if source.is_empty() {
            return Err(InvalidPattern::Empty);
        }
        if source.len() > 256 {
            return Err(InvalidPattern::TooLong);
        }
        if source.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(InvalidPattern::BadCharacter);
        }
        Ok(Pattern {
            source: source.into(),
            parts: source.split('*').map(Into::into).collect(),
        })
    }

    /// Whether `value` matches: the parts between `*`s appear in order, the first at the start
    /// and the last at the end.
    pub(crate) fn matches(&self, value: &str) -> bool {
        let parts = &self.parts;
        if parts.len() == 1 {
            return value == &*parts[0];
        }
        let (first, last) = (&parts[0], &parts[parts.len() - 1]);
        if value.len() < first.len() + last.len()
            || !value.starts_with(&**first)
            || !value.ends_with(&**last)
        {
            return false;
        }
        let mut rest = &value[first.len()..value.len() - last.len()];
        for mid in &parts[1..parts.len() - 1] {
            match rest.find(&**mid) {
                Some(i) => rest = &rest[i + mid.len()..],
                None => return false,
            }
        }
        true
    }

    /// The pattern as written.
    pub fn as_str(&self) -> &str {
        &self.source
    }
}

/// Which tenants a tenant condition allows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TenantRule {
    /// The tenants the caller's token holds (the realm's `tenants_claim`).
    Held,
    /// A fixed list of tenant ids.
    Listed(Box<[Box<str>]>),
}

/// The first condition a request fails: what it constrains, the request's value, and a deny
/// message naming both.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Unmet {
    /// The kind that failed.
    pub(crate) kind: ConditionKind,
    /// The request's value (clipped for display).
    pub(crate) value: String,
    /// `tenant 'tenant-b' not allowed (token holds: tenant-a)`.
    pub(crate) reason: String,
}

/// The conditions of one grant: all must hold (for the kinds the rpc carries).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Conditions {
    /// The tenant rule, if any.
    pub tenant: Option<TenantRule>,
    /// Value patterns by kind (never `Tenant`).
    pub patterns: Vec<(ConditionKind, Box<[Pattern]>)>,
}

impl Conditions {
    /// The kinds this grant constrains.
    pub fn kinds(&self) -> impl Iterator<Item = ConditionKind> + '_ {
        self.tenant
            .iter()
            .map(|_| ConditionKind::Tenant)
            .chain(self.patterns.iter().map(|(k, _)| *k))
    }

    /// Checks the values of the request. `values(kind)` gives the request's values for a kind
    /// the rpc carries (`None`: the rpc does not carry it, so the condition does not apply).
    /// Returns a deny message naming the first value that fails.
    pub(crate) fn check<'v>(
        &self,
        held_tenants: &[Box<str>],
        values: impl Fn(ConditionKind) -> Option<&'v [&'v str]>,
    ) -> Result<(), Unmet> {
        if let Some(rule) = &self.tenant
            && let Some(tenants) = values(ConditionKind::Tenant)
        {
            let allowed: &[Box<str>] = match rule {
                TenantRule::Held => held_tenants,
                TenantRule::Listed(list) => list,
            };
            let tenants: &[&str] = if tenants.is_empty() {
                &[DEFAULT_TENANT]
            } else {
                tenants
            };
            for &t in tenants {
                let t = if t.is_empty() { DEFAULT_TENANT } else { t };
                if !allowed.iter().any(|a| &**a == t) {
                    let which = match rule {
                        TenantRule::Held => "token holds",
                        TenantRule::Listed(_) => "allowed",
                    };
                    let value = clip(t, 64, Keep::Text);
                    return Err(Unmet {
                        kind: ConditionKind::Tenant,
                        reason: format!(
                            "tenant '{value}' not allowed ({which}: {})",
                            display_list(allowed.iter().map(|a| &**a))
                        ),
                        value,
                    });
                }
            }
        }
        for (kind, patterns) in &self.patterns {
            let Some(found) = values(*kind) else { continue };
            let value = found.last().copied().unwrap_or("");
            if !patterns.iter().any(|p| p.matches(value)) {
                let value = clip(value, 64, Keep::Text);
                return Err(Unmet {
                    kind: *kind,
                    reason: format!(
                        "{} '{value}' not allowed (allowed: {})",
                        kind.noun(),
                        display_list(patterns.iter().map(Pattern::as_str))
                    ),
                    value,
                });
            }
        }
        Ok(())
    }
}

fn display_list<'a>(items: impl Iterator<Item = &'a str>) -> String {
    let v: Vec<&str> = items.collect();
    if v.is_empty() {
        "none".into()
    } else {
        v.join(", ")
    }
}

/// `tenant: held` or `tenant: [tenant-a, <default>]`.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub(super) enum RawTenant {
    Keyword(String),
    List(Vec<String>),
}

/// Compiles `held` or a list of tenant ids (a grant's `when.tenant`, an authorization's
/// `tenants`).
pub(super) fn compile_tenant(
    file: &Arc<Path>,
    k: &str,
    t: &Spanned<RawTenant>,
    diags: &mut Diagnostics,
) -> Option<TenantRule> {
    let span = Span::of(file, t);
    match &t.value {
        RawTenant::Keyword(w) if w == "held" => Some(TenantRule::Held),
        RawTenant::Keyword(other) => {
            diags
                .error(span, k, format!("'{other}' is neither 'held' nor a list of tenant ids"))
                .hint("use `held` (the tenants in the caller's token) or a list such as `[tenant-a, <default>]`");
            None
        }
        RawTenant::List(ids) => {
            for id in ids.iter().filter(|id| !is_valid_tenant_id(id)) {
                diags
                    .error(span.clone(), k, format!("'{id}' is not a valid tenant id"))
                    .hint("tenant ids match ^[\\w.-]{1,31}$; the default tenant is <default>");
            }
            if ids.is_empty() {
                diags
                    .error(span, k, "empty tenant list allows no tenant")
                    .hint("list tenant ids or use `held`");
            }
            Some(TenantRule::Listed(
                ids.iter().map(|i| i.as_str().into()).collect(),
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rpc(name: &str) -> Rpc {
        Rpc::from_name(name).unwrap()
    }

    /// A REST twin that lacked a kind its rpc carries would be refused at every conditional
    /// Check (never let through); one that carried more would read what the rpc cannot.
    #[test]
    fn rest_twins_carry_exactly_the_condition_kinds_of_their_rpcs() {
        for route in crate::catalog::REST_ROUTES {
            for &op in route.operations.iter().filter(|r| r.is_grpc()) {
                for kind in ConditionKind::ALL {
                    let rpc_has = matches!(field_source(op, kind), Some(FieldSource::Body(_)));
                    let route_has = route.members.iter().any(|m| m.kind == kind.key());
                    assert_eq!(
                        rpc_has, route_has,
                        "{} {} ({op}): {kind:?}",
                        route.method, route.template
                    );
                }
            }
        }
        let correlate = rpc("CorrelateMessage");
        assert_eq!(
            field_source(correlate, ConditionKind::MessageName),
            Some(FieldSource::Rest)
        );
        assert_eq!(field_source(correlate, ConditionKind::JobType), None);
        assert_eq!(
            field_name(correlate, ConditionKind::Tenant).as_deref(),
            Some("tenantId")
        );
    }

    #[test]
    fn tenant_fields_come_from_the_catalog() {
        let body = |outer, number, repeated| {
            Some(FieldSource::Body(FieldPath {
                outer,
                number,
                repeated,
            }))
        };
        let t = ConditionKind::Tenant;
        assert_eq!(
            field_source(rpc("CreateProcessInstance"), t),
            body(None, 6, false)
        );
        assert_eq!(
            field_source(rpc("CreateProcessInstanceWithResult"), t),
            body(Some(1), 6, false)
        );
        assert_eq!(field_source(rpc("DeployResource"), t), body(None, 2, false));
        assert_eq!(field_source(rpc("PublishMessage"), t), body(None, 6, false));
        assert_eq!(
            field_source(rpc("BroadcastSignal"), t),
            body(None, 3, false)
        );
        assert_eq!(
            field_source(rpc("EvaluateDecision"), t),
            body(None, 4, false)
        );
        assert_eq!(field_source(rpc("ActivateJobs"), t), body(None, 7, true));
        assert_eq!(
            field_source(rpc("StreamActivatedJobs"), t),
            body(None, 6, true)
        );
        assert_eq!(
            field_source(rpc("EvaluateConditional"), t),
            body(None, 1, false)
        );
        assert_eq!(
            field_source(rpc("DeployProcess"), t),
            Some(FieldSource::DefaultTenant)
        );
        for keyed in [
            "CompleteJob",
            "FailJob",
            "CancelProcessInstance",
            "Topology",
            "SetVariables",
        ] {
            assert_eq!(field_source(rpc(keyed), t), None, "{keyed}");
        }
    }

    #[test]
    fn other_fields_come_from_the_catalog() {
        let body = |outer, number| {
            Some(FieldSource::Body(FieldPath {
                outer,
                number,
                repeated: false,
            }))
        };
        assert_eq!(
            field_source(rpc("ActivateJobs"), ConditionKind::JobType),
            body(None, 1)
        );
        assert_eq!(
            field_source(rpc("StreamActivatedJobs"), ConditionKind::JobType),
            body(None, 1)
        );
        assert_eq!(
            field_source(rpc("CompleteJob"), ConditionKind::JobType),
            None
        );
        assert_eq!(
            field_source(rpc("CreateProcessInstance"), ConditionKind::BpmnProcessId),
            body(None, 2)
        );
        assert_eq!(
            field_source(
                rpc("CreateProcessInstanceWithResult"),
                ConditionKind::BpmnProcessId
            ),
            body(Some(1), 2)
        );
        assert_eq!(
            field_source(rpc("EvaluateDecision"), ConditionKind::DecisionId),
            body(None, 2)
        );
        assert_eq!(
            field_source(rpc("PublishMessage"), ConditionKind::MessageName),
            body(None, 1)
        );
        assert_eq!(
            field_source(rpc("DeployResource"), ConditionKind::MessageName),
            None
        );
        assert_eq!(
            field_source(rpc("BroadcastSignal"), ConditionKind::SignalName),
            body(None, 1)
        );
    }

    #[test]
    fn tenant_ids() {
        for ok in ["tenant-a", "<default>", "a", "A_b.c-1", &"x".repeat(31)] {
            assert!(is_valid_tenant_id(ok), "{ok}");
        }
        for bad in ["", "a b", "tenant/a", &"x".repeat(32), "<DEFAULT>", "ü"] {
            assert!(!is_valid_tenant_id(bad), "{bad}");
        }
    }

    #[test]
    fn patterns() {
        let p = |s| Pattern::parse(s).unwrap();
        assert!(p("payment*").matches("payment") && p("payment*").matches("payment-refund"));
        assert!(!p("payment*").matches("shipping") && !p("payment*").matches("pay"));
        assert!(p("*-refund").matches("payment-refund") && !p("*-refund").matches("refund"));
        assert!(
            p("a*b*c").matches("abc") && p("a*b*c").matches("a-b-c") && !p("a*b*c").matches("acb")
        );
        assert!(
            p("*").matches("") && p("exact").matches("exact") && !p("exact").matches("exactly")
        );
        assert!(!p("ab*ab").matches("ab"), "overlapping prefix and suffix");
        assert_eq!(Pattern::parse(""), Err(InvalidPattern::Empty));
        assert_eq!(Pattern::parse("a b"), Err(InvalidPattern::BadCharacter));
    }

    /// `Conditions::check` with only the message of a failure.
    struct ReasonOnly(Conditions);

    impl ReasonOnly {
        fn check<'v>(
            &self,
            held: &[Box<str>],
            values: impl Fn(ConditionKind) -> Option<&'v [&'v str]>,
        ) -> Result<(), String> {
            self.0.check(held, values).map_err(|u| u.reason)
        }
    }

    #[test]
    fn conditions_name_the_failing_value() {
        let c = Conditions {
            tenant: Some(TenantRule::Held),
            patterns: vec![(
                ConditionKind::JobType,
                Box::new([Pattern::parse("payment*").unwrap()]),
            )],
        };
        let held: Vec<Box<str>> = vec!["tenant-a".into()];
        let c = ReasonOnly(c);
        let vals = |tenants: &'static [&'static str], ty: &'static [&'static str]| {
            move |k: ConditionKind| match k {
                ConditionKind::Tenant => Some(tenants),
                ConditionKind::JobType => Some(ty),
                _ => None,
            }
        };
        assert_eq!(c.check(&held, vals(&["tenant-a"], &["payment"])), Ok(()));
        assert_eq!(
            c.check(&held, vals(&["tenant-b"], &["payment"])),
            Err("tenant 'tenant-b' not allowed (token holds: tenant-a)".into())
        );
        assert_eq!(
            c.check(&held, vals(&[], &["payment"])),
            Err("tenant '<default>' not allowed (token holds: tenant-a)".into())
        );
        assert_eq!(
            c.check(&held, vals(&[""], &["payment"])).unwrap_err(),
            "tenant '<default>' not allowed (token holds: tenant-a)"
        );
        assert!(
            c.check(&held, vals(&["tenant-a", "tenant-b"], &["payment"]))
                .unwrap_err()
                .contains("'tenant-b'")
        );
        assert_eq!(
            c.check(&held, vals(&["tenant-a"], &["shipping"])),
            Err("job type 'shipping' not allowed (allowed: payment*)".into())
        );
        // Kinds the rpc does not carry do not apply.
        assert_eq!(c.check(&held, |_| None), Ok(()));
        let unmet =
            c.0.check(&held, vals(&["tenant-a"], &["shipping"]))
                .unwrap_err();
        assert_eq!(
            (unmet.kind, unmet.value.as_str()),
            (ConditionKind::JobType, "shipping")
        );
    }
}
