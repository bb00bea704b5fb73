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
use super::compile::{RawTenant, compile_tenant, suggest};
use super::condition::{Conditions, Pattern};
use super::{Grant, GrantSource};
use crate::catalog::{Rpc, RpcSet};
use crate::claims::ClaimPath;
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
pub(crate) struct Identity {
    /// The username claim (Camunda's default: `sub`).
    pub(crate) username: ClaimPath,
    /// The client id claim; unset, no token is a client (Camunda has no default either).
    pub(crate) client_id: Option<ClaimPath>,
    /// A list claim of group ids.
    pub(crate) groups: Option<ClaimPath>,
    /// A list claim of role ids (an extension: Camunda keeps role membership in the engine).
    pub(crate) roles: Option<ClaimPath>,
    /// A token with both a username and a client id is the user (Camunda's
    /// `prefer-username-claim`); by default it is the client.
    pub(crate) prefer_username: bool,
}

/// A mapping rule: matches when the claim equals the value, or is a list containing it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct MappingRule {
    pub(crate) id: Box<str>,
    pub(crate) claim: ClaimPath,
    pub(crate) value: Box<str>,
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
pub(crate) struct Dialect {
    pub(crate) identity: Identity,
    pub(crate) mapping_rules: Box<[MappingRule]>,
    /// `"client:payments-worker"` → grant indexes.
    pub(crate) by_owner: AHashMap<Box<str>, Box<[u16]>>,
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
    pub(crate) fn owners(&self, claims: &Value) -> Vec<String> {
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
        let Some((grant, (owner_type, owner_id))) = compile_authorization(
            file,
            &key,
            i,
            a,
            &mapping_rules,
            groups,
            engine_checks,
            diags,
        ) else {
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
    key: &str,
    index: usize,
    a: &RawAuthorization,
    mapping_rules: &[MappingRule],
    groups: &AHashMap<&str, RpcSet>,
    engine_checks: bool,
    diags: &mut Diagnostics,
) -> Option<(Grant, (OwnerType, Box<str>))> {
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
                    "{type_name} {} is checked by no gateway rpc, so this authorization grants nothing at the edge",
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
mod tests {
    use std::path::Path;
    use std::sync::Arc;

    use serde_json::json;

    use crate::body::{RequestBody, frame};
    use crate::diag::{Diagnostics, Severity};
    use crate::policy::{Policy, PolicyOptions, RpcDeny, compile_with};
    use crate::proto;

    /// Compiles for a realm whose engine checks its authorizations (what most tests below
    /// compare against); [`engine_off_rpcs_the_engine_decides_need_the_wildcard`] the default.
    fn compile_str(text: &str) -> (Option<Policy>, Diagnostics) {
        compile_str_with(text, true)
    }

    fn compile_str_with(text: &str, engine_authorizations: bool) -> (Option<Policy>, Diagnostics) {
        let mut d = Diagnostics::default();
        let file: Arc<Path> = Arc::from(Path::new("c.yaml"));
        let options = PolicyOptions {
            engine_authorizations,
        };
        (compile_with(&file, text, options, &mut d), d)
    }

    fn policy(text: &str) -> Policy {
        let (p, d) = compile_str(text);
        p.unwrap_or_else(|| panic!("{:?}", d.items()))
    }

    const EXAMPLE: &str = include_str!("../../policies/camunda-8.8.yaml");

    fn rpc(name: &str) -> crate::catalog::Rpc {
        crate::catalog::Rpc::from_name(name).unwrap()
    }

    fn decide(
        p: &Policy,
        claims: &serde_json::Value,
        name: &str,
        msg: &impl prost::Message,
    ) -> Result<(), RpcDeny> {
        let raw = frame(&msg.encode_to_vec());
        let body = RequestBody {
            raw: &raw,
            encoding: None,
            partial: false,
        };
        let grants = p.grants_for_token(claims, []);
        p.authorize(&grants, &[], rpc(name), &body)
    }

    fn start(process: &str, tenant: &str) -> proto::CreateProcessInstanceRequest {
        proto::CreateProcessInstanceRequest {
            bpmn_process_id: process.into(),
            tenant_id: tenant.into(),
            ..Default::default()
        }
    }

    fn activate(job_type: &str) -> proto::ActivateJobsRequest {
        proto::ActivateJobsRequest {
            r#type: job_type.into(),
            ..Default::default()
        }
    }

    fn engine_words(r: Result<(), RpcDeny>) -> String {
        match r {
            Err(RpcDeny::MissingPermission {
                engine: Some(e), ..
            })
            | Err(RpcDeny::ConditionFailed {
                engine: Some(e), ..
            }) => e,
            other => panic!("no engine message: {other:?}"),
        }
    }

    #[test]
    fn owners_resolve_from_claims_as_the_engine_resolves_them() {
        let p = policy(EXAMPLE);
        let d = p.dialect().unwrap();
        let user = json!({"sub": "u-1", "preferred_username": "demo", "groups": ["payments", "x"], "realm_access": {"roles": ["zeebe-admin"]}});
        assert_eq!(
            d.owners(&user),
            [
                "user:demo",
                "group:payments",
                "group:x",
                "mapping_rule:payments-team",
                "mapping_rule:platform-admins"
            ]
        );
        // A token with a client id is the client, not a user.
        let client = json!({"preferred_username": "service-account-payments-worker", "azp": "payments-worker", "client_id": "payments-worker"});
        assert_eq!(d.owners(&client), ["client:payments-worker"]);
        // Non-string values never equal a mapping rule's value; an empty id is no owner.
        let odd = json!({"sub": "s", "preferred_username": "p", "client_id": "", "groups": [true, 3], "realm_access": {"roles": "zeebe-admin"}});
        assert_eq!(d.owners(&odd), ["user:p", "mapping_rule:platform-admins"]);
        // A Keycloak user token names the app in azp: with client_id_claim: client_id it is
        // still the user.
        let user_via_app = json!({"preferred_username": "ann", "azp": "payments-worker"});
        assert_eq!(d.owners(&user_via_app), ["user:ann"]);
        // Neither a username nor a client id: Camunda refuses the token, so no owner, not
        // even of its groups.
        assert!(d.owners(&json!({"groups": ["payments"]})).is_empty());
        assert_eq!(
            d.owners(&json!({"preferred_username": "o", "groups": "ops"})),
            ["user:o", "group:ops"],
            "a string is one group"
        );
        let none = json!({"sub": 7});
        assert!(d.owners(&none).is_empty());
    }

    #[test]
    fn the_example_policy_decides_as_its_comments_say() {
        let p = policy(EXAMPLE);
        let team = json!({"preferred_username": "ann", "groups": ["payments"]});
        assert!(
            decide(
                &p,
                &team,
                "CreateProcessInstance",
                &start("order-process", "tenant-a")
            )
            .is_ok()
        );
        assert!(decide(&p, &team, "Topology", &proto::TopologyRequest {}).is_ok());
        assert_eq!(
            engine_words(decide(
                &p,
                &team,
                "CreateProcessInstance",
                &start("invoice", "tenant-a")
            )),
            "Insufficient permissions to perform operation 'CREATE_PROCESS_INSTANCE' on resource 'PROCESS_DEFINITION', required resource identifiers are one of '[*, invoice]'"
        );
        assert_eq!(
            engine_words(decide(
                &p,
                &team,
                "CreateProcessInstance",
                &start("order-process", "tenant-b")
            )),
            "Expected to perform operation 'CREATE_PROCESS_INSTANCE' on resource 'PROCESS_DEFINITION' for tenant 'tenant-b', but user is not assigned to this tenant"
        );
        assert_eq!(
            engine_words(decide(
                &p,
                &team,
                "DeployResource",
                &proto::DeployResourceRequest::default()
            )),
            "Insufficient permissions to perform operation 'CREATE' on resource 'RESOURCE'"
        );
        let pm = proto::PublishMessageRequest {
            name: "order-paid".into(),
            ..Default::default()
        };
        assert_eq!(
            engine_words(decide(&p, &team, "PublishMessage", &pm)),
            "Insufficient permissions to perform operation 'CREATE' on resource 'MESSAGE', required resource identifiers are one of '[*, order-paid]'"
        );

        let admin =
            json!({"preferred_username": "root", "realm_access": {"roles": ["zeebe-admin"]}});
        for (name, ok) in [
            ("CreateProcessInstance", true),
            ("CompleteJob", true),
            ("DeployResource", true),
            ("PublishMessage", true),
            ("Topology", false),
        ] {
            let r = decide(&p, &admin, name, &start("any", ""));
            assert_eq!(r.is_ok(), ok, "{name}: {r:?}");
        }
        assert_eq!(
            engine_words(decide(&p, &admin, "Topology", &proto::TopologyRequest {})),
            "Insufficient permissions to perform operation 'x-CALL' on resource 'x-RPC', required resource identifiers are one of '[*, Topology]'"
        );
    }

    #[test]
    fn a_request_sent_by_key_only_is_denied_without_an_empty_resource_id() {
        // It was "required resource identifiers are one of '[, *]'": the empty bpmnProcessId
        // of a CreateProcessInstance sent by processDefinitionKey, listed as an id.
        let p = policy(EXAMPLE);
        let team = json!({"preferred_username": "ann", "groups": ["payments"]});
        let by_key = proto::CreateProcessInstanceRequest {
            process_definition_key: 2_251_799_813_685_249,
            tenant_id: "tenant-a".into(),
            ..Default::default()
        };
        assert_eq!(
            engine_words(decide(&p, &team, "CreateProcessInstance", &by_key)),
            "Insufficient permissions to perform operation 'CREATE_PROCESS_INSTANCE' on resource 'PROCESS_DEFINITION'"
        );
        let worker = json!({"client_id": "payments-worker"});
        assert_eq!(
            engine_words(decide(&p, &worker, "ActivateJobs", &activate(""))),
            "Insufficient permissions to perform operation 'x-ACTIVATE' on resource 'x-JOB_TYPE'"
        );
    }

    #[test]
    fn engine_off_rpcs_the_engine_decides_need_the_wildcard() {
        let text = "identity:\n  groups_claim: groups\nauthorizations:\n  - owner: {group: payments}\n    resource_type: PROCESS_DEFINITION\n    resource_ids: [order-process]\n    permissions: [CREATE_PROCESS_INSTANCE, UPDATE_PROCESS_INSTANCE]\n  - owner: {group: admins}\n    resource_type: PROCESS_DEFINITION\n    resource_ids: ['*']\n    permissions: [CREATE_PROCESS_INSTANCE]\n";
        let (p, d) = compile_str_with(text, false);
        let p = p.unwrap_or_else(|| panic!("{:?}", d.items()));
        let lost: Vec<String> = d
            .items()
            .iter()
            .filter(|w| w.severity == Severity::Warning)
            .map(|w| w.to_string())
            .collect();
        assert_eq!(lost.len(), 1, "{lost:?}");
        for rpc in ["BroadcastSignal", "CompleteJob", "SetVariables"] {
            assert!(lost[0].contains(rpc), "{rpc} named in {}", lost[0]);
        }
        assert!(lost[0].contains("engine_authorizations"), "{}", lost[0]);
        let team = json!({"sub": "ann", "groups": ["payments"]});
        let admin = json!({"sub": "bob", "groups": ["admins"]});
        let signal = proto::BroadcastSignalRequest {
            signal_name: "go".into(),
            ..Default::default()
        };
        assert!(decide(&p, &team, "BroadcastSignal", &signal).is_err());
        assert!(
            decide(&p, &admin, "BroadcastSignal", &signal).is_ok(),
            "on *"
        );
        let create = proto::CreateProcessInstanceRequest {
            bpmn_process_id: "order-process".into(),
            ..Default::default()
        };
        assert!(decide(&p, &team, "CreateProcessInstance", &create).is_ok());
        // Where the engine checks, the same authorization lets it decide.
        let (p, _) = compile_str_with(text, true);
        assert!(decide(&p.unwrap(), &team, "BroadcastSignal", &signal).is_ok());
    }

    #[test]
    fn x_job_type_pins_the_job_types_of_an_owner_with_process_authorizations() {
        let p = policy(EXAMPLE);
        let worker = json!({"client_id": "payments-worker"});
        assert!(decide(&p, &worker, "ActivateJobs", &activate("payment-charge")).is_ok());
        assert!(
            decide(
                &p,
                &worker,
                "StreamActivatedJobs",
                &proto::StreamActivatedJobsRequest {
                    r#type: "payment".into(),
                    ..Default::default()
                }
            )
            .is_ok()
        );
        assert_eq!(
            engine_words(decide(&p, &worker, "ActivateJobs", &activate("shipping"))),
            "Insufficient permissions to perform operation 'x-ACTIVATE' on resource 'x-JOB_TYPE', required resource identifiers are one of '[*, shipping]'"
        );
        // Its process authorization still grants the key-only job rpcs.
        assert!(
            decide(
                &p,
                &worker,
                "CompleteJob",
                &proto::CompleteJobRequest::default()
            )
            .is_ok()
        );
        // Without an x-JOB_TYPE authorization, UPDATE_PROCESS_INSTANCE grants activation of
        // any type (the engine filters the jobs by process).
        let admin =
            json!({"preferred_username": "root", "realm_access": {"roles": ["zeebe-admin"]}});
        assert!(decide(&p, &admin, "ActivateJobs", &activate("shipping")).is_ok());
        // The pin is per token: a group's process authorization does not reopen job types
        // for a client that is pinned.
        let p = policy(
            "identity: {client_id_claim: azp, groups_claim: groups}\nauthorizations:\n  - {owner: {group: ops}, resource_type: PROCESS_DEFINITION, resource_ids: ['*'], permissions: [UPDATE_PROCESS_INSTANCE]}\n  - {owner: {client: w}, resource_type: x-JOB_TYPE, resource_ids: ['payment*'], permissions: [x-ACTIVATE]}\n",
        );
        let ops = json!({"azp": "other", "groups": ["ops"]});
        assert!(decide(&p, &ops, "ActivateJobs", &activate("shipping")).is_ok());
        let pinned = json!({"azp": "w", "groups": ["ops"]});
        assert!(decide(&p, &pinned, "ActivateJobs", &activate("shipping")).is_err());
        assert!(decide(&p, &pinned, "ActivateJobs", &activate("payment")).is_ok());
        assert!(
            decide(
                &p,
                &pinned,
                "CompleteJob",
                &proto::CompleteJobRequest::default()
            )
            .is_ok()
        );
    }

    #[test]
    fn grants_and_authorizations_of_one_token_add_up() {
        let p = policy(
            "grants:\n  - {permission: 'read:*', rpcs: [Topology]}\nauthorizations:\n  - owner: {user: ann}\n    resource_type: MESSAGE\n    resource_ids: [order-*]\n    permissions: [CREATE]\n",
        );
        let claims = json!({"sub": "ann"});
        let g = p.grants_for_token(&claims, ["read:*"]);
        let pm = |name: &str| proto::PublishMessageRequest {
            name: name.into(),
            ..Default::default()
        };
        let raw = frame(&prost::Message::encode_to_vec(&pm("order-paid")));
        let body = RequestBody {
            raw: &raw,
            encoding: None,
            partial: false,
        };
        assert!(p.authorize(&g, &[], rpc("PublishMessage"), &body).is_ok());
        assert!(p.authorize(&g, &[], rpc("Topology"), &body).is_ok());
        // A permission named like an owner key is no owner.
        let g = p.grants_for(["user:ann"]);
        assert!(p.authorize(&g, &[], rpc("PublishMessage"), &body).is_err());
        // Our words stay when no authorization covers the rpc's denial... and both when mixed.
        let Err(RpcDeny::MissingPermission {
            granting, engine, ..
        }) = p.authorize(&p.grants_for([]), &[], rpc("Topology"), &body)
        else {
            panic!()
        };
        assert_eq!(&*granting, "read:*");
        assert!(engine.unwrap().contains("'x-RPC'"));
    }

    /// A request of `rpc` whose resource id field (if any) holds `id`.
    fn request_with_id(rpc: crate::catalog::Rpc, id: &str) -> Vec<u8> {
        use prost::Message as _;
        let bytes = match rpc.name() {
            "CreateProcessInstance" => start(id, "").encode_to_vec(),
            "CreateProcessInstanceWithResult" => proto::CreateProcessInstanceWithResultRequest {
                request: Some(start(id, "")),
                ..Default::default()
            }
            .encode_to_vec(),
            "EvaluateDecision" => proto::EvaluateDecisionRequest {
                decision_id: id.into(),
                ..Default::default()
            }
            .encode_to_vec(),
            "PublishMessage" => proto::PublishMessageRequest {
                name: id.into(),
                ..Default::default()
            }
            .encode_to_vec(),
            "ActivateJobs" => activate(id).encode_to_vec(),
            "StreamActivatedJobs" => proto::StreamActivatedJobsRequest {
                r#type: id.into(),
                ..Default::default()
            }
            .encode_to_vec(),
            _ => Vec::new(),
        };
        frame(&bytes)
    }

    #[test]
    fn every_table_row_grants_its_rpc_as_the_row_says() {
        use crate::policy::camunda::{RPC_TABLE, ResourceId};
        for row in RPC_TABLE {
            let rpc = row.rpc();
            let text = |ids: &str| {
                format!(
                    "authorizations:\n  - owner: {{user: a}}\n    resource_type: {}\n    resource_ids: [{ids}]\n    permissions: [{}]\n",
                    row.resource, row.permission
                )
            };
            let claims = json!({"sub": "a"});
            let other = json!({"sub": "b"});
            let check = |p: &Policy, claims: &serde_json::Value, id: &str| {
                let raw = request_with_id(rpc, id);
                let body = RequestBody {
                    raw: &raw,
                    encoding: None,
                    partial: false,
                };
                p.authorize(&p.grants_for_token(claims, []), &[], rpc, &body)
            };
            let star = policy(&text("'*'"));
            assert!(
                check(&star, &claims, "anything").is_ok(),
                "{} on '*'",
                row.rpc
            );
            assert!(
                check(&star, &other, "anything").is_err(),
                "{}: another user",
                row.rpc
            );
            let (named, _) = compile_str(&text("granted-id"));
            let named = named.unwrap();
            let id_result = check(&named, &claims, "granted-id");
            let other_id = check(&named, &claims, "other-id");
            match row.id {
                ResourceId::Field => {
                    assert!(id_result.is_ok(), "{}: {id_result:?}", row.rpc);
                    let words = engine_words(other_id);
                    assert!(
                        words.ends_with(&format!("operation '{}' on resource '{}', required resource identifiers are one of '[*, other-id]'", row.permission, row.resource)),
                        "{}: {words}", row.rpc
                    );
                }
                ResourceId::Resolved => {
                    assert!(
                        id_result.is_ok() && other_id.is_ok(),
                        "{}: the edge cannot see the resource",
                        row.rpc
                    );
                }
                ResourceId::WildcardOnly => {
                    assert!(
                        id_result.is_err() && other_id.is_err(),
                        "{}: '*' only",
                        row.rpc
                    );
                }
            }
        }
    }

    #[test]
    fn camunda_names_are_exact_and_mistakes_are_located() {
        let (p, d) = compile_str(
            "authorizations:\n  - owner: {user: a, client: b}\n    resource_type: process_definition\n    resource_ids: []\n    permissions: [CREATE_PROCESS_INSTANCES]\n  - owner: {mapping_rule: nope}\n    resource_type: PROCESS_DEFINITION\n    resource_ids: ['*']\n    permissions: [CREATE]\n  - owner: {client: w}\n    resource_type: x-RPC\n    resource_ids: [Topolgy]\n    permissions: [x-CALL]\n    tenants: sometimes\n",
        );
        assert!(p.is_none());
        let msgs: Vec<String> = d
            .items()
            .iter()
            .filter(|d| d.severity == Severity::Error)
            .map(|d| {
                format!(
                    "{}:{} {} | {}",
                    d.span.line,
                    d.key,
                    d.message,
                    d.hint.clone().unwrap_or_default()
                )
            })
            .collect();
        let has = |s: &str| assert!(msgs.iter().any(|m| m.contains(s)), "{s} not in {msgs:#?}");
        has("2:authorizations[0].owner an owner names exactly one of");
        has(
            "3:authorizations[0].resource_type unknown resource type 'process_definition' | did you mean 'PROCESS_DEFINITION'?",
        );
        has("authorizations[0].resource_ids no resource id listed");
        has("authorizations[1].owner.mapping_rule unknown mapping rule 'nope'");
        has("authorizations[1].permissions[0] 'CREATE' is not a permission of PROCESS_DEFINITION");
        has(
            "authorizations[2].resource_ids[0] unknown rpc or group 'Topolgy' | did you mean 'Topology'?",
        );
        has("authorizations[2].tenants 'sometimes' is neither");
    }

    #[test]
    fn authorizations_that_grant_nothing_at_the_edge_are_warned() {
        let (p, d) = compile_str(
            "identity: {client_id_claim: azp}\nauthorizations:\n  - owner: {user: a}\n    resource_type: RESOURCE\n    resource_ids: [my-deployment]\n    permissions: [CREATE]\n  - owner: {user: a}\n    resource_type: SYSTEM\n    resource_ids: ['*']\n    permissions: [READ]\n  - owner: {group: g}\n    resource_type: MESSAGE\n    resource_ids: ['*']\n    permissions: [CREATE]\n",
        );
        assert!(p.is_some());
        let msgs: Vec<String> = d
            .items()
            .iter()
            .map(|d| format!("{} {}", d.key, d.message))
            .collect();
        let has = |s: &str| assert!(msgs.iter().any(|m| m.contains(s)), "{s} not in {msgs:#?}");
        has(
            "authorizations[0].resource_ids CREATE on RESOURCE is checked on \"*\" only, so these ids grant no DeployProcess, DeployResource",
        );
        has("authorizations[1] SYSTEM READ is checked by no gateway rpc");
        has("authorizations[2].owner a group owner, but identity.groups_claim is not set");
    }

    #[test]
    fn prefer_username_claim_makes_a_token_with_both_the_user() {
        let p = policy(
            "identity: {username_claim: preferred_username, client_id_claim: azp, prefer_username_claim: true}\nauthorizations:\n  - {owner: {client: app}, resource_type: x-RPC, resource_ids: ['*'], permissions: [x-CALL]}\n",
        );
        let d = p.dialect().unwrap();
        assert_eq!(
            d.owners(&json!({"preferred_username": "ann", "azp": "app"})),
            ["user:ann"]
        );
        assert_eq!(d.owners(&json!({"azp": "app"})), ["client:app"]);
    }

    /// Regression: `azp` as the client id claim made every Keycloak user the client it logged
    /// in through (a user could take a worker's authorizations): it is warned.
    #[test]
    fn azp_as_the_client_id_claim_is_warned() {
        let (p, d) = compile_str(
            "identity: {client_id_claim: azp}\nauthorizations:\n  - {owner: {client: app}, resource_type: x-RPC, resource_ids: ['*'], permissions: [x-CALL]}\n",
        );
        assert!(p.is_some());
        assert!(
            d.items().iter().any(|d| d.severity == Severity::Warning
                && d.key == "identity.client_id_claim"
                && d.message.contains("every user is taken for that client")),
            "{:?}",
            d.items()
        );
    }

    /// Regression: `**` is a pattern matching the empty id of a request sent by key only, so
    /// it passed where the README promises that only "*" does.
    #[test]
    fn ids_of_only_stars_other_than_the_wildcard_are_refused() {
        for id in ["**", "***"] {
            let (p, d) = compile_str(&format!(
                "authorizations:\n  - {{owner: {{user: a}}, resource_type: PROCESS_DEFINITION, resource_ids: ['{id}'], permissions: [CREATE_PROCESS_INSTANCE]}}\n"
            ));
            assert!(p.is_none(), "{id}");
            assert!(
                d.items()
                    .iter()
                    .any(|d| d.message == format!("'{id}' is no resource id")),
                "{:?}",
                d.items()
            );
        }
    }

    /// Regression: owner ids were trimmed (`' root '` was the owner `root`) and mapping rule
    /// values could be empty (matching an empty claim).
    #[test]
    fn owner_ids_and_mapping_values_are_compared_exactly_so_odd_ones_are_refused() {
        for (text, message) in [
            (
                "authorizations:\n  - {owner: {user: ' root '}, resource_type: x-RPC, resource_ids: ['*'], permissions: [x-CALL]}\n",
                "owner id has spaces at either end",
            ),
            (
                "authorizations:\n  - {owner: {user: \"a\\nb\"}, resource_type: x-RPC, resource_ids: ['*'], permissions: [x-CALL]}\n",
                "owner id contains control characters",
            ),
            (
                "mapping_rules: [{id: m, claim: groups, value: ''}]\n",
                "mapping rule value is empty",
            ),
            (
                "mapping_rules: [{id: ' m', claim: groups, value: v}]\n",
                "mapping rule id has spaces at either end",
            ),
        ] {
            let (p, d) = compile_str(text);
            assert!(p.is_none(), "{text}");
            assert!(
                d.items().iter().any(|d| d.message == message),
                "{text}: {:?}",
                d.items()
            );
        }
    }

    #[test]
    fn json_path_claims_and_bad_claims() {
        let p = policy(
            "identity: {username_claim: \"$['camunda']['user']\", groups_claim: $.org.groups}\nauthorizations:\n  - {owner: {group: ops}, resource_type: x-RPC, resource_ids: ['*'], permissions: [x-CALL]}\n",
        );
        let d = p.dialect().unwrap();
        assert_eq!(
            d.owners(&json!({"camunda": {"user": "u"}, "org": {"groups": ["ops"]}})),
            ["user:u", "group:ops"]
        );
        let (p, d) = compile_str(
            "identity: {groups_claim: '$.a[0]'}\nmapping_rules: [{id: m, claim: 'a..b', value: v}]\n",
        );
        assert!(p.is_none());
        assert_eq!(
            d.items()
                .iter()
                .filter(|d| d.severity == Severity::Error)
                .count(),
            2,
            "{:?}",
            d.items()
        );
    }
}
