//! The Camunda dialect of a policy: `identity:`, `mapping_rules:` and `authorizations:`,
//! written in Camunda 8.8's words and compiled into ordinary [`Grant`]s.
//!
//! An authorization's owner is resolved from the token alone (the edge has no engine state):
//! a user by the username claim, a client by the client id claim, groups and roles by list
//! claims compared literally, mapping rules by a claim that equals a value (or, for a list
//! claim, contains it). As in the engine, a token with a client id is the client and not a
//! user (unless `prefer_username_claim`), and a token with neither is no owner at all. Each authorization becomes one grant whose rpcs come from [`camunda::RPC_TABLE`]:
//! its resource ids become a condition on the rpc's id field (where the request carries
//! one), its `tenants` a tenant condition.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use ahash::AHashMap;
use serde::Deserialize;
use serde_json::Value;
use serde_saphyr::Spanned;

use super::camunda::{self, OwnerType, Permission, ResourceType};
use super::condition::{ConditionKind, Conditions, Pattern, RawTenant, compile_tenant};
use super::{Grant, GrantSource};
use crate::catalog::{Rpc, RpcSet};
use crate::claims::ClaimPath;
use crate::diag::suggest;
use crate::diag::{Diagnostics, Span};

/// `identity:` as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawIdentity {
    username_claim: Option<Spanned<String>>,
    client_id_claim: Option<Spanned<String>>,
    groups_claim: Option<Spanned<String>>,
    roles_claim: Option<Spanned<String>>,
    prefer_username_claim: Option<bool>,
}

/// One of `mapping_rules:`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawMappingRule {
    id: Spanned<String>,
    claim: Spanned<String>,
    value: Spanned<String>,
}

/// One of `authorizations:`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawAuthorization {
    owner: Spanned<RawOwner>,
    resource_type: Spanned<String>,
    resource_ids: Spanned<Vec<String>>,
    permissions: Spanned<Vec<String>>,
    #[serde(default)]
    tenants: Option<Spanned<RawTenant>>,
}

/// `owner:`: exactly one key.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawOwner {
    user: Option<String>,
    client: Option<String>,
    group: Option<String>,
    role: Option<String>,
    mapping_rule: Option<String>,
}

/// Who a token is, in the dialect's terms.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// The username claim (Camunda's default: `sub`).
    pub username: ClaimPath,
    /// The client id claim; unset, no token is a client (Camunda has no default either).
    pub client_id: Option<ClaimPath>,
    /// A list claim of group ids.
    pub groups: Option<ClaimPath>,
    /// A list claim of role ids (an extension: Camunda keeps role membership in the engine).
    pub roles: Option<ClaimPath>,
    /// A token with both a username and a client id is the user (Camunda's
    /// `prefer-username-claim`); by default it is the client.
    pub prefer_username: bool,
}

/// A mapping rule: matches when the claim equals the value, or is a list containing it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MappingRule {
    /// The rule's id, which authorizations name as owner.
    pub id: Box<str>,
    /// The claim it reads.
    pub claim: ClaimPath,
    /// The value the claim must equal or contain.
    pub value: Box<str>,
}

impl MappingRule {
    fn matches(&self, claims: &Value) -> bool {
        match self.claim.get(claims) {
            Some(Value::String(s)) => **s == *self.value,
            Some(Value::Array(items)) => items.iter().any(|v| v.as_str() == Some(&self.value)),
            // Camunda compares with String.equals: a number or boolean never equals the text.
            _ => false,
        }
    }
}

/// The dialect of a compiled policy: how owners are read from tokens, and which grants each
/// owner holds.
#[derive(Debug)]
pub struct Dialect {
    /// Where owners are read from a token.
    pub identity: Identity,
    /// The mapping rules, in file order.
    pub mapping_rules: Box<[MappingRule]>,
    /// `"client:payments-worker"` → grant indexes.
    pub by_owner: AHashMap<Box<str>, Box<[u16]>>,
    /// The top-level claims [`Dialect::owners`] reads (the first key of each identity claim
    /// path and mapping rule claim), sorted: a verified token's payload keeps only the members
    /// someone reads (`token::verify`).
    claim_roots: Box<[Box<str>]>,
}

/// The key of an owner in [`Dialect::by_owner`], also how grants name it (`client:worker`).
pub(crate) fn owner_key(owner: OwnerType, id: &str) -> String {
    format!("{}:{id}", owner.key())
}

impl Dialect {
    /// Whether [`Dialect::owners`] reads the top-level claim `name`.
    pub(crate) fn reads_claim(&self, name: &str) -> bool {
        self.claim_roots
            .binary_search_by(|root| (**root).cmp(name))
            .is_ok()
    }

    /// The owner keys a token's claims resolve to.
    pub fn owners(&self, claims: &Value) -> Vec<String> {
        let text = |c: &ClaimPath| {
            c.get(claims)
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty())
        };
        let list = |c: &Option<ClaimPath>| -> Vec<&str> {
            match c.as_ref().and_then(|c| c.get(claims)) {
                Some(Value::Array(items)) => items.iter().filter_map(Value::as_str).collect(),
                Some(Value::String(s)) => vec![s.as_str()],
                _ => Vec::new(),
            }
        };
        let mut owners = Vec::new();
        let identity = &self.identity;
        // One principal, as the Orchestration Cluster picks it: the client when the client id
        // claim is present (the user first with `prefer_username_claim`), else the user; a
        // token with neither is refused there, so it is no owner of anything here.
        let client = identity.client_id.as_ref().and_then(text);
        let user = text(&identity.username);
        let primary = match (client, user) {
            (Some(_), Some(u)) if identity.prefer_username => owner_key(OwnerType::User, u),
            (Some(c), _) => owner_key(OwnerType::Client, c),
            (None, Some(u)) => owner_key(OwnerType::User, u),
            (None, None) => return owners,
        };
        owners.push(primary);
        for g in list(&identity.groups) {
            owners.push(owner_key(OwnerType::Group, g));
        }
        for r in list(&identity.roles) {
            owners.push(owner_key(OwnerType::Role, r));
        }
        for rule in self.mapping_rules.iter().filter(|r| r.matches(claims)) {
            owners.push(owner_key(OwnerType::MappingRule, &rule.id));
        }
        owners
    }
}

/// What a grant compiled from an authorization was written as (for lint, explain and
/// deny messages).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Authorization {
    /// Its index in `authorizations:`.
    pub index: usize,
    /// The owner.
    pub owner: (OwnerType, Box<str>),
    /// The resource type.
    pub resource: ResourceType,
    /// The permissions.
    pub permissions: Box<[Permission]>,
    /// The resource ids as written (`*`, ids, or patterns).
    pub resource_ids: Box<[Box<str>]>,
    /// The tenants as written (`held`, or ids), if any.
    pub tenants: Option<Box<[Box<str>]>>,
}

impl Authorization {
    /// The ids with a `*` that is not the whole id (Camunda takes those literally).
    pub fn partial_wildcards(&self) -> impl Iterator<Item = &str> {
        self.resource_ids
            .iter()
            .map(|s| &**s)
            .filter(|s| *s != "*" && s.contains('*'))
    }
}

/// The dialect's parts of the policy file.
pub(super) struct RawDialect<'a> {
    pub(super) identity: Option<&'a RawIdentity>,
    pub(super) mapping_rules: &'a [RawMappingRule],
    pub(super) authorizations: &'a [RawAuthorization],
}

/// Compiles the dialect into grants appended to `grants` (indexes continue theirs), and the
/// owner index. Returns `None` when the policy uses no dialect.
pub(super) fn compile(
    file: &Arc<Path>,
    raw: &RawDialect<'_>,
    groups: &AHashMap<&str, RpcSet>,
    grants: &mut Vec<Grant>,
    engine_checks: bool,
    diags: &mut Diagnostics,
) -> Option<Dialect> {
    if raw.identity.is_none() && raw.mapping_rules.is_empty() && raw.authorizations.is_empty() {
        return None;
    }
    let identity = compile_identity(file, raw.identity, diags);
    let mut mapping_rules: Vec<MappingRule> = Vec::new();
    for (i, m) in raw.mapping_rules.iter().enumerate() {
        let key = format!("mapping_rules[{i}]");
        let id = m.id.value.as_str();
        if let Err(e) = check_id(id) {
            diags.error(
                Span::of(file, &m.id),
                format!("{key}.id"),
                format!("mapping rule id {e}"),
            );
            continue;
        }
        if let Err(e) = check_id(&m.value.value) {
            diags
                .error(
                    Span::of(file, &m.value),
                    format!("{key}.value"),
                    format!("mapping rule value {e}"),
                )
                .hint("the value is compared exactly with the claim's string (or each string of a list claim)");
            continue;
        }
        if mapping_rules.iter().any(|r| &*r.id == id) {
            diags.error(
                Span::of(file, &m.id),
                format!("{key}.id"),
                format!("mapping rule '{id}' is defined twice"),
            );
            continue;
        }
        match ClaimPath::from_json_path(&m.claim.value) {
            Ok(claim) => mapping_rules.push(MappingRule {
                id: id.into(),
                claim,
                value: m.value.value.as_str().into(),
            }),
            Err(e) => {
                diags
                    .error(Span::of(file, &m.claim), format!("{key}.claim"), e)
                    .hint("a claim name (`groups`), a dotted path or a JSONPath of keys (`$['a']['b']`)");
            }
        }
    }

    let mut by_owner: BTreeMap<String, Vec<u16>> = BTreeMap::new();
    for (i, a) in raw.authorizations.iter().enumerate() {
        let key = format!("authorizations[{i}]");
        let Some((grant, (owner_type, owner_id))) =
            compile_authorization(file, i, a, &mapping_rules, groups, engine_checks, diags)
        else {
            continue;
        };
        if let Some((problem, hint)) = owner_unresolvable(owner_type, &identity) {
            diags
                .warning(Span::of(file, &a.owner), format!("{key}.owner"), problem)
                .hint(hint);
        }
        let Ok(idx) = u16::try_from(grants.len()) else {
            diags.error(
                Span::of(file, &a.owner),
                &key,
                "too many grants (65,535 at most)",
            );
            break;
        };
        by_owner
            .entry(owner_key(owner_type, &owner_id))
            .or_default()
            .push(idx);
        grants.push(grant);
    }
    let mut claim_roots: Vec<Box<str>> = [
        Some(&identity.username),
        identity.client_id.as_ref(),
        identity.groups.as_ref(),
        identity.roles.as_ref(),
    ]
    .into_iter()
    .flatten()
    .chain(mapping_rules.iter().map(|r| &r.claim))
    .filter_map(ClaimPath::root)
    .map(Into::into)
    .collect();
    claim_roots.sort_unstable();
    claim_roots.dedup();
    Some(Dialect {
        identity,
        mapping_rules: mapping_rules.into(),
        claim_roots: claim_roots.into(),
        by_owner: by_owner
            .into_iter()
            .map(|(k, v)| (k.into(), v.into()))
            .collect(),
    })
}

/// Why an owner id, mapping rule id or value cannot be compared with a claim: empty, spaces
/// at either end (the token's value is compared exactly), or control characters (which no
/// identity provider issues, and which would break the identity-as-code lines lint prints).
fn check_id(id: &str) -> Result<(), &'static str> {
    if id.is_empty() {
        Err("is empty")
    } else if id.trim() != id {
        Err("has spaces at either end")
    } else if id.chars().any(char::is_control) {
        Err("contains control characters")
    } else {
        Ok(())
    }
}

/// Why owners of a type can never match under `identity`, with a hint.
fn owner_unresolvable(owner: OwnerType, identity: &Identity) -> Option<(String, &'static str)> {
    match owner {
        OwnerType::Client if identity.client_id.is_none() => Some((
            "a client owner, but identity.client_id_claim is not set, so no token is a client"
                .into(),
            "set identity.client_id_claim (Keycloak service accounts: client_id), as camunda.security.authentication.oidc.client-id-claim",
        )),
        OwnerType::Group if identity.groups.is_none() => Some((
            "a group owner, but identity.groups_claim is not set, so no token is in a group".into(),
            "set identity.groups_claim (the edge reads groups from the token only)",
        )),
        OwnerType::Role if identity.roles.is_none() => Some((
            "a role owner, but identity.roles_claim is not set, so no token holds a role".into(),
            "set identity.roles_claim, e.g. realm_access.roles (the edge reads roles from the token only)",
        )),
        _ => None,
    }
}

fn compile_identity(
    file: &Arc<Path>,
    raw: Option<&RawIdentity>,
    diags: &mut Diagnostics,
) -> Identity {
    let default = RawIdentity::default();
    let raw = raw.unwrap_or(&default);
    let mut claim = |name: &str, v: &Option<Spanned<String>>| -> Option<ClaimPath> {
        let v = v.as_ref()?;
        match ClaimPath::from_json_path(&v.value) {
            Ok(c) => Some(c),
            Err(e) => {
                diags
                    .error(Span::of(file, v), format!("identity.{name}"), e)
                    .hint(
                        "a claim name (`azp`), a dotted path or a JSONPath of keys (`$['a']['b']`)",
                    );
                None
            }
        }
    };
    let identity = Identity {
        username: claim("username_claim", &raw.username_claim)
            .unwrap_or_else(|| ClaimPath::new(["sub"])),
        client_id: claim("client_id_claim", &raw.client_id_claim),
        groups: claim("groups_claim", &raw.groups_claim),
        roles: claim("roles_claim", &raw.roles_claim),
        prefer_username: raw.prefer_username_claim.unwrap_or(false),
    };
    if let (Some(c), Some(raw_claim)) = (&identity.client_id, &raw.client_id_claim)
        && c.segments() == [Box::<str>::from("azp")]
        && !identity.prefer_username
    {
        diags
            .warning(
                Span::of(file, raw_claim),
                "identity.client_id_claim",
                "azp is in every Keycloak access token, user tokens too (it names the app the user logged in through), so every user is taken for that client and gets its authorizations",
            )
            .hint("use client_id (Keycloak service accounts and RFC 9068 tokens carry it, user tokens do not), or set prefer_username_claim: true");
    }
    identity
}

fn compile_authorization(
    file: &Arc<Path>,
    index: usize,
    a: &RawAuthorization,
    mapping_rules: &[MappingRule],
    groups: &AHashMap<&str, RpcSet>,
    engine_checks: bool,
    diags: &mut Diagnostics,
) -> Option<(Grant, (OwnerType, Box<str>))> {
    let key = &*format!("authorizations[{index}]");
    let errors_before = diags.error_count();
    let owner_span = Span::of(file, &a.owner);
    let o = &a.owner.value;
    let set: Vec<(OwnerType, &String)> = [
        (OwnerType::User, &o.user),
        (OwnerType::Client, &o.client),
        (OwnerType::Group, &o.group),
        (OwnerType::Role, &o.role),
        (OwnerType::MappingRule, &o.mapping_rule),
    ]
    .into_iter()
    .filter_map(|(t, v)| v.as_ref().map(|v| (t, v)))
    .collect();
    let owner = match set.as_slice() {
        [(t, id)] => match check_id(id) {
            Ok(()) => Some((*t, id.as_str())),
            Err(e) => {
                diags
                    .error(
                        owner_span.clone(),
                        format!("{key}.owner"),
                        format!("owner id {e}"),
                    )
                    .hint("owner ids are compared exactly with the token's claims");
                None
            }
        },
        _ => {
            diags
                .error(
                    owner_span.clone(),
                    format!("{key}.owner"),
                    "an owner names exactly one of user, client, group, role, mapping_rule",
                )
                .hint("e.g. `owner: {client: payments-worker}`");
            None
        }
    };
    if let Some((OwnerType::MappingRule, id)) = owner
        && !mapping_rules.iter().any(|r| &*r.id == id)
    {
        let d = diags.error(
            owner_span.clone(),
            format!("{key}.owner.mapping_rule"),
            format!("unknown mapping rule '{id}'"),
        );
        match suggest(id, mapping_rules.iter().map(|r| &*r.id)) {
            Some(s) => d.hint(format!("did you mean '{s}'?")),
            None => d.hint("define it under mapping_rules: with an id, a claim and a value"),
        };
    }

    let type_name = a.resource_type.value.trim();
    let resource = ResourceType::from_name(type_name);
    if resource.is_none() {
        let d = diags.error(
            Span::of(file, &a.resource_type),
            format!("{key}.resource_type"),
            format!("unknown resource type '{type_name}'"),
        );
        match suggest(type_name, ResourceType::ALL.iter().map(|r| r.as_str())) {
            Some(s) => d.hint(format!("did you mean '{s}'? (Camunda's exact enum names)")),
            None => d.hint("Camunda's resource types, e.g. PROCESS_DEFINITION, or x-JOB_TYPE"),
        };
    }

    let perm_span = Span::of(file, &a.permissions);
    let mut permissions = Vec::new();
    if a.permissions.value.is_empty() {
        diags.error(
            perm_span.clone(),
            format!("{key}.permissions"),
            "no permission listed",
        );
    }
    for (j, name) in a.permissions.value.iter().enumerate() {
        let name = name.trim();
        let valid = resource.map(|r| camunda::permissions_of(r, camunda::CamundaVersion::V8_9));
        match (Permission::from_name(name), valid) {
            (Some(p), Some(valid)) if valid.contains(&p) => permissions.push(p),
            (_, Some(valid)) => {
                let d = diags.error(
                    perm_span.clone(),
                    format!("{key}.permissions[{j}]"),
                    format!("'{name}' is not a permission of {type_name}"),
                );
                match suggest(name, valid.iter().map(|p| p.as_str())) {
                    Some(s) => d.hint(format!("did you mean '{s}'?")),
                    None => d.hint(format!(
                        "{type_name} has {}",
                        valid
                            .iter()
                            .map(|p| p.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    )),
                };
            }
            (_, None) => {}
        }
    }

    let ids_span = Span::of(file, &a.resource_ids);
    let ids: Vec<&str> = a.resource_ids.value.iter().map(|s| s.trim()).collect();
    if ids.is_empty() {
        diags
            .error(
                ids_span.clone(),
                format!("{key}.resource_ids"),
                "no resource id listed",
            )
            .hint("list ids, or \"*\" for every resource of the type");
    }
    for id in ids
        .iter()
        .filter(|id| id.len() > 1 && id.bytes().all(|b| b == b'*'))
    {
        diags
            .error(
                ids_span.clone(),
                format!("{key}.resource_ids"),
                format!("'{id}' is no resource id"),
            )
            .hint("write \"*\" for every resource of the type");
    }
    let wildcard = ids.contains(&"*");
    let mut rpcs = RpcSet::EMPTY;
    let mut star_warned = false;
    let mut conditions = Conditions::default();
    match resource {
        Some(ResourceType::XRpc) => {
            for (j, id) in ids.iter().enumerate() {
                if *id == "*" {
                    rpcs = RpcSet::all();
                } else if let Some(rpc) = Rpc::from_name(id) {
                    rpcs = rpcs.with(rpc);
                } else if let Some(g) = groups.get(id) {
                    rpcs = rpcs.union(*g);
                } else {
                    let d = diags.error(
                        ids_span.clone(),
                        format!("{key}.resource_ids[{j}]"),
                        format!("unknown rpc or group '{id}'"),
                    );
                    if let Some(s) = suggest(id, Rpc::all().map(Rpc::name)) {
                        d.hint(format!("did you mean '{s}'?"));
                    }
                }
            }
        }
        Some(r) => {
            let mut star_only = RpcSet::EMPTY;
            // Rpcs whose resource only the engine sees: granted on any id when it checks.
            let mut engine_decided = RpcSet::EMPTY;
            for &p in &permissions {
                let (any, star) = camunda::rpcs_granted(r, p);
                let resolved = camunda::rpcs_resolved(r, p);
                rpcs = rpcs.union(any.difference(resolved));
                engine_decided = engine_decided.union(resolved);
                star_only = star_only.union(star);
            }
            if wildcard || engine_checks {
                rpcs = rpcs.union(engine_decided);
            } else if !engine_decided.is_empty() {
                star_warned = true;
                diags
                    .warning(
                        ids_span.clone(),
                        format!("{key}.resource_ids"),
                        format!(
                            "the engine checks no authorization here (the realm's engine_authorizations is false) and the edge cannot see which {type_name} they act on, so these ids grant no {}",
                            engine_decided
                                .iter()
                                .map(Rpc::name)
                                .collect::<Vec<_>>()
                                .join(", ")
                        ),
                    )
                    .hint("grant them on resource_ids: [\"*\"], or set the realm's engine_authorizations: true where Camunda enforces its authorizations");
            }
            if wildcard {
                rpcs = rpcs.union(star_only);
            } else if !star_only.is_empty() {
                star_warned = true;
                diags
                    .warning(
                        ids_span.clone(),
                        format!("{key}.resource_ids"),
                        format!(
                            "{} on {type_name} is checked on \"*\" only, so these ids grant no {}",
                            permissions
                                .iter()
                                .map(|p| p.as_str())
                                .collect::<Vec<_>>()
                                .join(", "),
                            star_only
                                .iter()
                                .map(Rpc::name)
                                .collect::<Vec<_>>()
                                .join(", ")
                        ),
                    )
                    .hint("use resource_ids: [\"*\"] (the engine checks the same way)");
            }
            if let (false, Some(kind)) = (wildcard, camunda::id_kind(r)) {
                let mut patterns = Vec::new();
                for id in &ids {
                    match Pattern::parse(id) {
                        Ok(p) => patterns.push(p),
                        Err(e) => {
                            diags.error(
                                ids_span.clone(),
                                format!("{key}.resource_ids"),
                                format!("invalid resource id '{id}': {e}"),
                            );
                        }
                    }
                }
                conditions.patterns.push((kind, patterns.into()));
            }
        }
        None => {}
    }
    if let Some(t) = &a.tenants {
        conditions.tenant = compile_tenant(file, &format!("{key}.tenants"), t, diags);
        // A REST-only operation that carries no tenant member (a search, a read by key, a
        // tenant named in the path) could not be held to the tenants: left out, never granted
        // in every tenant. (A gRPC rpc without a tenant field is key-only, as on the gRPC door.)
        let untenanted: RpcSet = rpcs
            .iter()
            .filter(|r| {
                !r.is_grpc() && super::condition::field_source(*r, ConditionKind::Tenant).is_none()
            })
            .collect();
        if !untenanted.is_empty() {
            rpcs = rpcs.difference(untenanted);
            let names: Vec<&str> = untenanted.iter().map(Rpc::name).collect();
            let shown = names.iter().take(6).copied().collect::<Vec<_>>().join(", ");
            let more = names.len().saturating_sub(6);
            diags
                .warning(
                    Span::of(file, t),
                    format!("{key}.tenants"),
                    format!(
                        "{} REST operation(s) carry no tenant the edge could hold to these tenants, so this authorization does not grant them: {shown}{}",
                        names.len(),
                        if more > 0 { format!(" and {more} more") } else { String::new() }
                    ),
                )
                .hint("grant them in a second authorization without tenants: (the engine's tenant assignment then decides), or by name under grants:");
        }
    }
    if diags.error_count() > errors_before {
        return None;
    }
    let (owner_type, owner_id) = owner?;
    let resource = resource?;
    if rpcs.is_empty() && !star_warned {
        diags
            .warning(
                Span::of(file, &a.resource_type),
                key,
                format!(
                    "{type_name} {} is checked by no gateway rpc or REST operation, so this authorization grants nothing at the edge",
                    permissions.iter().map(|p| p.as_str()).collect::<Vec<_>>().join(", ")
                ),
            )
            .hint("docs/camunda-rpc-permissions.md lists what each rpc needs");
    }
    let conditions =
        (conditions.tenant.is_some() || !conditions.patterns.is_empty()).then_some(conditions);
    let conditional_rpcs = conditions.as_ref().map_or(RpcSet::EMPTY, |c| {
        rpcs.iter()
            .filter(|rpc| {
                c.kinds()
                    .any(|k| super::condition::field_source(*rpc, k).is_some())
            })
            .collect()
    });
    let tenants = a.tenants.as_ref().map(|t| match &t.value {
        RawTenant::Keyword(w) => vec![w.as_str().into()].into(),
        RawTenant::List(l) => l.iter().map(|s| s.as_str().into()).collect(),
    });
    let name = owner_key(owner_type, owner_id);
    let grant = Grant {
        permission: name.into(),
        rpcs,
        conditions: conditions.map(Arc::new),
        conditional_rpcs,
        span: Span::of(file, &a.owner),
        source: GrantSource::Camunda(Arc::new(Authorization {
            index,
            owner: (owner_type, owner_id.into()),
            resource,
            permissions: permissions.into(),
            resource_ids: ids.iter().map(|s| (*s).into()).collect(),
            tenants,
        })),
    };
    Some((grant, (owner_type, owner_id.into())))
}

#[cfg(test)]
mod tests;
