//! `lint --keycloak-realm EXPORT.json`: a config and its policies checked against a Keycloak
//! realm export (what `kc.sh export` or the admin console's partial export writes).
//!
//! Keycloak decides what a token carries; the policy decides what a token may do. This check
//! reads the realm's clients, client scopes, protocol mappers, roles, groups and users and
//! tells, for each realm of the config whose issuer names the export's realm:
//! - **error** when no realm of the config is the export's (`/realms/<name>` of the issuer);
//! - **error** when no client can get a token whose `aud` holds the realm's audience (an
//!   audience mapper naming it, or the audience-resolve mapper with a role of that client);
//! - **warning** for each claim the policy reads (permissions, tenants, the dialect's username,
//!   client id, groups and roles claims, mapping rule claims) that no protocol mapper writes
//!   into access tokens;
//! - **warning** for each permission a grant names that no service account, user, group or
//!   composite role holds (a grant no token can use), and each dialect client or group owner
//!   the realm does not have;
//! - **note** for each client that can get a token for the realm but matches no grant.
//!
//! The model of Keycloak is the part of it tokens depend on: a client's own mappers plus those
//! of its default and optional client scopes (or the realm's default scopes when the export
//! lists none for it), mappers writing into the access token unless `access.token.claim` is
//! `false`, `${client_id}` in a client-role mapper's claim name standing for the client whose
//! roles it writes, role holders through groups (and their parents), the realm's default
//! role and composite roles. Full scope is assumed (`fullScopeAllowed`, Keycloak's default).
//! Claims Keycloak writes without a mapper (`iss`, `sub`, `azp`, `exp`, …) count as written.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::Arc;

use serde_json::Value;

use super::LintedConfig;
use crate::claims::ClaimPath;
use crate::config::RealmConfig;
use crate::diag::{Diagnostic, Diagnostics, Span};
use crate::policy::GrantSource;
use crate::policy::camunda::OwnerType;

/// Claims every Keycloak access token carries without a protocol mapper.
const ALWAYS_WRITTEN: &[&str] = &[
    "iss",
    "sub",
    "aud",
    "azp",
    "exp",
    "iat",
    "jti",
    "typ",
    "scope",
    "sid",
    "auth_time",
    "nbf",
    "acr",
];
/// Clients every realm has: no note when they match no grant.
const BUILTIN_CLIENTS: &[&str] = &[
    "account",
    "account-console",
    "admin-cli",
    "broker",
    "realm-management",
    "security-admin-console",
];

/// A role: of the realm (`client` None) or of a client.
type Role = (Option<String>, String);

/// Checks the config's realms against the realm export `export` (its text `text`).
pub(super) fn check(linted: &LintedConfig, export: &Arc<Path>, text: &str) -> Vec<Diagnostic> {
    let mut diags = Diagnostics::default();
    let value: Value = match serde_json::from_str(text) {
        Ok(v) => v,
        Err(e) => {
            diags.error(
                Span::at(export, e.line() as u64, e.column() as u64),
                "",
                format!("not a Keycloak realm export: {e}"),
            );
            return diags.into_vec();
        }
    };
    let Some(realm) = RealmExport::read(&value) else {
        diags
            .error(
                Span::file(export),
                "realm",
                "not a Keycloak realm export: no `realm` name",
            )
            .hint("export with `kc.sh export --realm R --file F` or the admin console's Realm settings > Action > Partial export");
        return diags.into_vec();
    };
    let place = Places { export, text };
    let mut matched = false;
    for (i, (config, span)) in linted
        .config
        .realms
        .iter()
        .zip(&linted.issuer_spans)
        .enumerate()
    {
        let issuer_realm = realm_of_issuer(&config.issuer);
        if issuer_realm.as_deref() != Some(realm.name.as_str()) {
            continue;
        }
        matched = true;
        check_realm(&realm, config, i, span, &place, &mut diags);
    }
    if !matched {
        for (i, (config, span)) in linted
            .config
            .realms
            .iter()
            .zip(&linted.issuer_spans)
            .enumerate()
        {
            diags
                .error(
                    span.clone(),
                    format!("realms[{i}].issuer"),
                    format!(
                        "the issuer '{}' is not of the exported realm '{}' ({})",
                        config.issuer,
                        realm.name,
                        export.display()
                    ),
                )
                .hint(format!(
                    "Keycloak's issuer is https://HOST/realms/{0} (https://HOST/auth/realms/{0} before Keycloak 17)",
                    realm.name
                ));
        }
    }
    diags.into_vec()
}

/// The realm name of a Keycloak issuer URL: what follows its last `/realms/`.
fn realm_of_issuer(issuer: &str) -> Option<String> {
    let (_, rest) = issuer.trim_end_matches('/').rsplit_once("/realms/")?;
    (!rest.is_empty() && !rest.contains('/')).then(|| rest.to_string())
}

/// Where findings about the export point: the line of a client in its text.
struct Places<'a> {
    export: &'a Arc<Path>,
    text: &'a str,
}

impl Places<'_> {
    /// The line and column of `"clientId" : "<id>"` (any spacing), else the whole file.
    fn client(&self, client_id: &str) -> Span {
        let quoted = format!("\"{client_id}\"");
        for (n, line) in self.text.lines().enumerate() {
            let Some(at) = line.find("\"clientId\"") else {
                continue;
            };
            let rest = line[at + "\"clientId\"".len()..].trim_start();
            if let Some(value) = rest.strip_prefix(':')
                && value.trim_start().starts_with(&quoted)
            {
                return Span::at(self.export, n as u64 + 1, at as u64 + 1);
            }
        }
        Span::file(self.export)
    }
}

/// A protocol mapper, as the export writes it.
#[derive(Debug, Clone)]
struct Mapper {
    kind: String,
    config: BTreeMap<String, String>,
}

impl Mapper {
    fn read(v: &Value) -> Option<Mapper> {
        let config = v
            .get("config")
            .and_then(Value::as_object)
            .map(|c| {
                c.iter()
                    .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string())))
                    .collect()
            })
            .unwrap_or_default();
        Some(Mapper {
            kind: v.get("protocolMapper")?.as_str()?.to_string(),
            config,
        })
    }

    fn in_access_token(&self) -> bool {
        self.config.get("access.token.claim").map(String::as_str) != Some("false")
    }

    /// The claim this mapper writes, as Keycloak splits it (dots, `\.` a literal dot).
    fn claim(&self) -> Option<Vec<String>> {
        let name = match self.kind.as_str() {
            "oidc-full-name-mapper" => "name",
            "oidc-sub-mapper" => "sub",
            "oidc-allowed-origins-mapper" => "allowed-origins",
            "oidc-audience-mapper" | "oidc-audience-resolve-mapper" => "aud",
            "oidc-usermodel-client-role-mapper" => self
                .config
                .get("claim.name")
                .map_or("resource_access.${client_id}.roles", String::as_str),
            "oidc-usermodel-realm-role-mapper" => self
                .config
                .get("claim.name")
                .map_or("realm_access.roles", String::as_str),
            _ => self.config.get("claim.name")?.as_str(),
        };
        Some(split_claim(name))
    }

    /// Whether it writes the claim `path`; for a client-role mapper, whose roles (the client
    /// `${client_id}` stands for, or the mapper's configured client).
    fn writes(&self, path: &[Box<str>]) -> Option<Writes> {
        if !self.in_access_token() {
            return None;
        }
        let claim = self.claim()?;
        if claim.len() != path.len() {
            return None;
        }
        let mut client = None;
        for (want, have) in claim.iter().zip(path) {
            if want == "${client_id}" {
                client = Some(have.to_string());
            } else if want != &**have {
                return None;
            }
        }
        Some(match self.kind.as_str() {
            "oidc-usermodel-client-role-mapper" => {
                let configured = self
                    .config
                    .get("usermodel.clientRoleMapping.clientId")
                    .filter(|c| !c.is_empty())
                    .cloned();
                match (configured, client) {
                    (Some(c), Some(d)) if c != d => return None,
                    (Some(c), _) | (None, Some(c)) => Writes::ClientRoles(Some(c)),
                    (None, None) => Writes::ClientRoles(None),
                }
            }
            "oidc-usermodel-realm-role-mapper" => Writes::RealmRoles,
            _ => Writes::Other,
        })
    }
}

/// What a mapper writes into a claim.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Writes {
    /// Roles of this client (None: of every client, in one list).
    ClientRoles(Option<String>),
    /// Realm roles.
    RealmRoles,
    /// Anything else (an attribute, group names, a hardcoded value, a session note).
    Other,
}

/// Splits a Keycloak claim name on dots; `\.` is a dot inside a key.
fn split_claim(name: &str) -> Vec<String> {
    let mut parts = vec![String::new()];
    let mut chars = name.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' if chars.peek() == Some(&'.') => {
                chars.next();
                parts.last_mut().expect("one part").push('.');
            }
            '.' => parts.push(String::new()),
            c => parts.last_mut().expect("one part").push(c),
        }
    }
    parts
}

/// A client of the export.
#[derive(Debug)]
struct Client {
    id: String,
    service_account: bool,
    user_logins: bool,
    mappers: Vec<Mapper>,
    /// Its default client scopes (in every token) …
    scopes: Vec<String>,
    /// … and its optional ones (in tokens that ask for them with `scope`).
    optional_scopes: Vec<String>,
}

/// Who holds roles: a service account (of `client`) or a user.
#[derive(Debug)]
struct Principal {
    id: String,
    username: String,
    service_account_of: Option<String>,
    roles: BTreeSet<Role>,
    groups: Vec<String>,
}

/// The parts of a realm export that decide what tokens carry.
#[derive(Debug)]
struct RealmExport {
    name: String,
    clients: Vec<Client>,
    scopes: BTreeMap<String, Vec<Mapper>>,
    /// Roles that exist, with what each composite role includes.
    roles: BTreeMap<Role, Vec<Role>>,
    /// Group path → the roles its members get (the group's and its parents').
    groups: BTreeMap<String, Vec<Role>>,
    principals: Vec<Principal>,
    /// Whether the export lists users (`kc.sh export` does; the admin console's partial
    /// export does not, so who holds which role is unknown).
    has_users: bool,
}

fn strings(v: Option<&Value>) -> Vec<String> {
    v.and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|s| s.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

fn flag(v: &Value, key: &str, default: bool) -> bool {
    v.get(key).and_then(Value::as_bool).unwrap_or(default)
}

/// `{"realmRoles": [...], "clientRoles": {"c": [...]}}` as roles.
fn role_mappings(v: &Value, realm_key: &str, client_key: &str) -> Vec<Role> {
    let mut roles: Vec<Role> = strings(v.get(realm_key))
        .into_iter()
        .map(|r| (None, r))
        .collect();
    if let Some(clients) = v.get(client_key).and_then(Value::as_object) {
        for (client, names) in clients {
            roles.extend(
                strings(Some(names))
                    .into_iter()
                    .map(|r| (Some(client.clone()), r)),
            );
        }
    }
    roles
}

impl RealmExport {
    fn read(v: &Value) -> Option<RealmExport> {
        let name = v.get("realm")?.as_str()?.to_string();
        let default_scopes = strings(v.get("defaultDefaultClientScopes"));
        let optional_scopes = strings(v.get("defaultOptionalClientScopes"));
        let mappers_of = |v: &Value| -> Vec<Mapper> {
            v.get("protocolMappers")
                .and_then(Value::as_array)
                .map(|a| a.iter().filter_map(Mapper::read).collect())
                .unwrap_or_default()
        };
        let scopes = v
            .get("clientScopes")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|s| Some((s.get("name")?.as_str()?.to_string(), mappers_of(s))))
            .collect();
        let clients = v
            .get("clients")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter(|c| flag(c, "enabled", true) && !flag(c, "bearerOnly", false))
            .filter_map(|c| {
                let listed = |key: &str, realm_default: &Vec<String>| match c.get(key) {
                    Some(list) => strings(Some(list)),
                    None => realm_default.clone(),
                };
                Some(Client {
                    id: c.get("clientId")?.as_str()?.to_string(),
                    service_account: flag(c, "serviceAccountsEnabled", false)
                        && !flag(c, "publicClient", false),
                    user_logins: flag(c, "standardFlowEnabled", true)
                        || flag(c, "directAccessGrantsEnabled", false)
                        || flag(c, "implicitFlowEnabled", false),
                    mappers: mappers_of(c),
                    scopes: listed("defaultClientScopes", &default_scopes),
                    optional_scopes: listed("optionalClientScopes", &optional_scopes),
                })
            })
            .collect();

        let mut roles: BTreeMap<Role, Vec<Role>> = BTreeMap::new();
        let roles_v = v.get("roles");
        let mut add_role = |client: Option<String>, r: &Value| {
            if let Some(name) = r.get("name").and_then(Value::as_str) {
                let composites = r
                    .get("composites")
                    .map(|c| role_mappings(c, "realm", "client"))
                    .unwrap_or_default();
                roles.insert((client, name.to_string()), composites);
            }
        };
        for r in roles_v
            .and_then(|r| r.get("realm"))
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            add_role(None, r);
        }
        if let Some(clients) = roles_v
            .and_then(|r| r.get("client"))
            .and_then(Value::as_object)
        {
            for (client, list) in clients {
                for r in list.as_array().into_iter().flatten() {
                    add_role(Some(client.clone()), r);
                }
            }
        }

        let mut groups = BTreeMap::new();
        fn walk(
            list: Option<&Value>,
            parent: &str,
            inherited: &[Role],
            out: &mut BTreeMap<String, Vec<Role>>,
        ) {
            for g in list.and_then(Value::as_array).into_iter().flatten() {
                let Some(name) = g.get("name").and_then(Value::as_str) else {
                    continue;
                };
                let path = format!("{parent}/{name}");
                let mut roles = inherited.to_vec();
                roles.extend(role_mappings(g, "realmRoles", "clientRoles"));
                walk(g.get("subGroups"), &path, &roles, out);
                out.insert(path, roles);
            }
        }
        walk(v.get("groups"), "", &[], &mut groups);

        let default_role = v
            .get("defaultRole")
            .and_then(|r| r.get("name"))
            .and_then(Value::as_str)
            .map(|n| (None, n.to_string()));
        let principals = v
            .get("users")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter(|u| flag(u, "enabled", true))
            .map(|u| {
                let group_paths = strings(u.get("groups"));
                let mut direct = role_mappings(u, "realmRoles", "clientRoles");
                for path in &group_paths {
                    direct.extend(groups.get(path).into_iter().flatten().cloned());
                }
                direct.extend(default_role.clone());
                let text = |key: &str| {
                    u.get(key)
                        .and_then(Value::as_str)
                        .unwrap_or_default()
                        .to_string()
                };
                Principal {
                    id: text("id"),
                    username: text("username"),
                    service_account_of: u
                        .get("serviceAccountClientId")
                        .and_then(Value::as_str)
                        .map(str::to_string),
                    roles: expand(&roles, direct),
                    groups: group_paths,
                }
            })
            .collect();
        Some(RealmExport {
            name,
            clients,
            scopes,
            roles,
            groups,
            principals,
            has_users: v.get("users").is_some(),
        })
    }

    /// The mappers of a client's tokens: its own and those of its default client scopes.
    fn mappers<'a>(&'a self, client: &'a Client) -> impl Iterator<Item = &'a Mapper> {
        client.mappers.iter().chain(
            client
                .scopes
                .iter()
                .filter_map(|s| self.scopes.get(s))
                .flatten(),
        )
    }

    /// Every mapper a token of the client can have: also its optional scopes'.
    fn all_mappers<'a>(&'a self, client: &'a Client) -> impl Iterator<Item = &'a Mapper> {
        self.mappers(client).chain(
            client
                .optional_scopes
                .iter()
                .filter_map(|s| self.scopes.get(s))
                .flatten(),
        )
    }

    /// The principals whose tokens `client` can get: its service account, and every user
    /// when it lets users log in.
    fn principals_of<'a>(&'a self, client: &'a Client) -> impl Iterator<Item = &'a Principal> {
        self.principals
            .iter()
            .filter(move |p| match &p.service_account_of {
                Some(of) => client.service_account && *of == client.id,
                None => client.user_logins,
            })
    }

    /// What writes the claim `path`, over every client: (client, what).
    fn writers(&self, path: &ClaimPath) -> Vec<(&Client, Writes)> {
        let mut out = Vec::new();
        for client in &self.clients {
            for mapper in self.all_mappers(client) {
                if let Some(w) = mapper.writes(path.segments()) {
                    out.push((client, w));
                }
            }
        }
        out
    }

    /// Whether a token of `principal` through `client` has `audience` in `aud`.
    fn gets_audience(&self, client: &Client, principal: &Principal, audience: &str) -> bool {
        self.mappers(client)
            .filter(|m| m.in_access_token())
            .any(|m| match m.kind.as_str() {
                "oidc-audience-mapper" => {
                    m.config.get("included.client.audience").map(String::as_str) == Some(audience)
                        || m.config.get("included.custom.audience").map(String::as_str)
                            == Some(audience)
                }
                "oidc-audience-resolve-mapper" => principal
                    .roles
                    .iter()
                    .any(|(c, _)| c.as_deref() == Some(audience)),
                _ => false,
            })
    }

    /// The claims of an access token of `principal` through `client`, as its mappers write
    /// them (roles, groups, the client id note, hardcoded claims, the username), with
    /// Keycloak's own `sub` and `azp`: what a policy reads of such a token.
    fn token_claims(&self, client: &Client, principal: &Principal) -> Value {
        let mut claims = serde_json::json!({"sub": principal.id, "azp": client.id});
        for mapper in self.mappers(client).filter(|m| m.in_access_token()) {
            let Some(claim) = mapper.claim() else {
                continue;
            };
            let config = |key: &str| mapper.config.get(key).map(String::as_str);
            match mapper.kind.as_str() {
                "oidc-usermodel-client-role-mapper" => {
                    let only =
                        config("usermodel.clientRoleMapping.clientId").filter(|c| !c.is_empty());
                    for (of, role) in &principal.roles {
                        let Some(of) = of else { continue };
                        if only.is_some_and(|o| o != of) {
                            continue;
                        }
                        let path: Vec<String> = claim
                            .iter()
                            .map(|seg| {
                                if seg == "${client_id}" {
                                    of.clone()
                                } else {
                                    seg.clone()
                                }
                            })
                            .collect();
                        push_at(&mut claims, &path, Value::String(role.clone()));
                    }
                }
                "oidc-usermodel-realm-role-mapper" => {
                    for (_, role) in principal.roles.iter().filter(|(c, _)| c.is_none()) {
                        push_at(&mut claims, &claim, Value::String(role.clone()));
                    }
                }
                "oidc-group-membership-mapper" => {
                    let full = config("full.path") != Some("false");
                    for path in &principal.groups {
                        let name = path.rsplit('/').next().unwrap_or(path);
                        push_at(
                            &mut claims,
                            &claim,
                            Value::String(if full { path.clone() } else { name.to_string() }),
                        );
                    }
                }
                "oidc-usersessionmodel-note-mapper"
                    if matches!(config("user.session.note"), Some("client_id" | "clientId"))
                        && principal.service_account_of.is_some() =>
                {
                    set_at(&mut claims, &claim, Value::String(client.id.clone()));
                }
                "oidc-usermodel-attribute-mapper" | "oidc-usermodel-property-mapper"
                    if config("user.attribute") == Some("username") =>
                {
                    let username = Value::String(principal.username.clone());
                    set_at(&mut claims, &claim, username);
                }
                "oidc-hardcoded-claim-mapper" => {
                    if let Some(value) = config("claim.value") {
                        let value = match config("jsonType.label") {
                            Some("JSON") => serde_json::from_str(value).unwrap_or(Value::Null),
                            _ => Value::String(value.to_string()),
                        };
                        set_at(&mut claims, &claim, value);
                    }
                }
                _ => {}
            }
        }
        claims
    }
}

/// The object at `path`'s parent, made as needed (a non-object in the way is replaced).
fn slot<'a>(claims: &'a mut Value, path: &[String]) -> Option<&'a mut Value> {
    let (last, parents) = path.split_last()?;
    let mut at = claims;
    for key in parents {
        if !at.is_object() {
            *at = Value::Object(Default::default());
        }
        at = at
            .as_object_mut()?
            .entry(key.clone())
            .or_insert(Value::Object(Default::default()));
    }
    if !at.is_object() {
        *at = Value::Object(Default::default());
    }
    Some(
        at.as_object_mut()?
            .entry(last.clone())
            .or_insert(Value::Null),
    )
}

fn set_at(claims: &mut Value, path: &[String], value: Value) {
    if let Some(v) = slot(claims, path) {
        *v = value;
    }
}

/// Adds `value` to the list at `path`.
fn push_at(claims: &mut Value, path: &[String], value: Value) {
    if let Some(v) = slot(claims, path) {
        match v {
            Value::Array(items) => items.push(value),
            other => *other = Value::Array(vec![value]),
        }
    }
}

/// `roles` with every composite's members, transitively.
fn expand(all: &BTreeMap<Role, Vec<Role>>, roles: Vec<Role>) -> BTreeSet<Role> {
    let mut seen = BTreeSet::new();
    let mut todo = roles;
    while let Some(role) = todo.pop() {
        if seen.insert(role.clone())
            && let Some(members) = all.get(&role)
        {
            todo.extend(members.iter().cloned());
        }
    }
    seen
}

/// The claims a realm's config and policy read: (key, path, where it is written).
fn claims_read(
    config: &RealmConfig,
    i: usize,
    issuer_span: &Span,
) -> Vec<(String, ClaimPath, Span)> {
    let policy = &config.policy;
    let mut out = Vec::new();
    if policy
        .grants()
        .iter()
        .any(|g| g.source == GrantSource::Permission)
    {
        out.push((
            format!("realms[{i}].permissions_claim"),
            config.permissions_claim.clone(),
            issuer_span.clone(),
        ));
    }
    if let Some(tenants) = &config.tenants_claim {
        out.push((
            format!("realms[{i}].tenants_claim"),
            tenants.clone(),
            issuer_span.clone(),
        ));
    }
    if let Some(dialect) = policy.dialect() {
        let policy_file = policy
            .grants()
            .first()
            .map_or_else(|| issuer_span.clone(), |g| Span::file(&g.span.file));
        let identity = &dialect.identity;
        let named = [
            ("identity.username_claim", Some(&identity.username)),
            ("identity.client_id_claim", identity.client_id.as_ref()),
            ("identity.groups_claim", identity.groups.as_ref()),
            ("identity.roles_claim", identity.roles.as_ref()),
        ];
        for (key, path) in named {
            if let Some(path) = path {
                out.push((key.to_string(), path.clone(), policy_file.clone()));
            }
        }
        for (j, rule) in dialect.mapping_rules.iter().enumerate() {
            out.push((
                format!("mapping_rules[{j}].claim"),
                rule.claim.clone(),
                policy_file.clone(),
            ));
        }
    }
    out
}

fn dotted(path: &ClaimPath) -> String {
    path.segments().join(".")
}

fn check_realm(
    realm: &RealmExport,
    config: &RealmConfig,
    i: usize,
    span: &Span,
    place: &Places<'_>,
    diags: &mut Diagnostics,
) {
    // Who can get a token for this realm: (client, principal) pairs with an accepted audience.
    let mut audienced: Vec<(&Client, &Principal)> = Vec::new();
    for audience in config.audiences.iter() {
        let mut found = false;
        for client in &realm.clients {
            for principal in realm.principals_of(client) {
                if realm.gets_audience(client, principal, audience) {
                    found = true;
                    if !audienced
                        .iter()
                        .any(|(c, p)| c.id == client.id && std::ptr::eq(*p, principal))
                    {
                        audienced.push((client, principal));
                    }
                }
            }
        }
        if !found && !realm.has_users {
            // No users: a client's role holdings are unknown; the audience can come from the
            // audience-resolve mapper if the audience client has roles at all.
            found = realm.clients.iter().any(|client| {
                client.service_account
                    && realm.mappers(client).any(|m| {
                        m.in_access_token()
                            && (m.kind == "oidc-audience-resolve-mapper"
                                && realm
                                    .roles
                                    .keys()
                                    .any(|(c, _)| c.as_deref() == Some(&**audience))
                                || m.kind == "oidc-audience-mapper"
                                    && [
                                        m.config.get("included.client.audience"),
                                        m.config.get("included.custom.audience"),
                                    ]
                                    .iter()
                                    .any(|a| a.map(String::as_str) == Some(&**audience)))
                    })
            });
        }
        if !found {
            diags
                .error(
                    span.clone(),
                    format!("realms[{i}].audiences"),
                    format!(
                        "no client of realm '{}' gets '{audience}' into its tokens' aud: every token would be refused",
                        realm.name
                    ),
                )
                .hint(format!(
                    "give the M2M clients a role of client '{audience}' (Identity: assign an API permission; the audience-resolve mapper then adds it), or an audience mapper naming it"
                ));
        }
    }

    for (key, path, at) in claims_read(config, i, span) {
        let written = ALWAYS_WRITTEN.contains(&path.root().unwrap_or_default())
            && path.segments().len() == 1
            || !realm.writers(&path).is_empty();
        if !written {
            diags
                .warning(
                    at,
                    key,
                    format!(
                        "no protocol mapper of realm '{}' writes the claim '{}' into access tokens: what the policy reads there is never found",
                        realm.name,
                        dotted(&path)
                    ),
                )
                .hint("add a mapper with this claim name (access token on) to a client scope the clients have, e.g. Identity's camunda-identity scope");
        }
    }

    check_grants(realm, config, place, diags);
    if realm.has_users {
        note_unmatched_clients(realm, config, &audienced, place, diags);
    } else {
        diags
            .note(
                Span::file(place.export),
                "users",
                "the export lists no users (the admin console's partial export leaves them out): who holds which permission is not checked",
            )
            .hint("take the export with `kc.sh export --realm R --file F --users same_file` for the full check");
    }
}

/// Each permission a grant names is held by someone; each dialect client or group owner
/// exists.
fn check_grants(
    realm: &RealmExport,
    config: &RealmConfig,
    place: &Places<'_>,
    diags: &mut Diagnostics,
) {
    let writers = realm.writers(&config.permissions_claim);
    let sources: BTreeSet<Option<String>> = writers
        .iter()
        .filter_map(|(_, w)| match w {
            Writes::ClientRoles(c) => Some(c.clone()),
            Writes::RealmRoles => Some(None),
            Writes::Other => None,
        })
        .collect();
    let mut seen = BTreeSet::new();
    for grant in config.policy.grants() {
        match &grant.source {
            GrantSource::Permission => {
                if sources.is_empty() || !seen.insert(grant.permission.clone()) {
                    continue;
                }
                let holds = |role: &Role| realm.principals.iter().any(|p| p.roles.contains(role));
                let roles: Vec<Role> = sources
                    .iter()
                    .map(|c| (c.clone(), grant.permission.to_string()))
                    .collect();
                let exists = roles.iter().any(|r| realm.roles.contains_key(r));
                if roles.iter().any(holds) || (!realm.has_users && exists) {
                    continue;
                }
                let whose = sources
                    .iter()
                    .map(|c| {
                        c.as_deref().map_or("a realm role".to_string(), |c| {
                            format!("a role of client '{c}'")
                        })
                    })
                    .collect::<Vec<_>>()
                    .join(" or ");
                let message = if exists {
                    format!(
                        "no client or user of realm '{}' holds '{}' ({whose}): a grant no token can use",
                        realm.name, grant.permission
                    )
                } else {
                    format!(
                        "realm '{}' has no role '{}' ({whose}): a grant no token can use",
                        realm.name, grant.permission
                    )
                };
                diags
                    .warning(grant.span.clone(), "permission", message)
                    .hint("assign the permission to an M2M application in Identity (a client role of the API), or remove the grant");
            }
            GrantSource::Camunda(auth) => {
                let (owner, id) = (&auth.owner.0, &*auth.owner.1);
                let missing = match owner {
                    OwnerType::Client => !realm
                        .clients
                        .iter()
                        .any(|c| c.id == id && (c.service_account || c.user_logins)),
                    OwnerType::Group => !realm
                        .groups
                        .keys()
                        .any(|path| path == id || path.rsplit('/').next() == Some(id)),
                    _ => false,
                };
                if missing && seen.insert(grant.permission.clone()) {
                    diags
                        .warning(
                            grant.span.clone(),
                            "owner",
                            format!(
                                "realm '{}' has no {} '{id}' that can get a token: an authorization no token can use",
                                realm.name,
                                owner.key()
                            ),
                        )
                        .hint(format!("check the spelling against the realm export ({})", place.export.display()));
                }
            }
        }
    }
}

/// A note for each client that gets a token for the realm but matches no grant.
fn note_unmatched_clients(
    realm: &RealmExport,
    config: &RealmConfig,
    audienced: &[(&Client, &Principal)],
    place: &Places<'_>,
    diags: &mut Diagnostics,
) {
    let policy = &config.policy;
    let dialect = policy.dialect();
    let mut noted = BTreeSet::new();
    for (client, principal) in audienced {
        if principal.service_account_of.is_none()
            || BUILTIN_CLIENTS.contains(&client.id.as_str())
            || noted.contains(&client.id)
        {
            continue;
        }
        let claims = realm.token_claims(client, principal);
        let permissions = config.permissions_claim.read(&claims);
        let by_permission =
            policy.grants().iter().any(|g| {
                g.source == GrantSource::Permission && permissions.contains(&&*g.permission)
            }) || policy.rpc_named_permissions()
                && permissions
                    .iter()
                    .any(|p| crate::catalog::Rpc::from_name(p).is_some());
        let by_owner = dialect.is_some_and(|d| {
            d.owners(&claims)
                .iter()
                .any(|owner| d.by_owner.contains_key(owner.as_str()))
        });
        if !by_permission && !by_owner {
            noted.insert(client.id.clone());
            diags
                .note(
                    place.client(&client.id),
                    format!("clients['{}']", client.id),
                    format!(
                        "client '{}' can get a token for realm '{}' (audience {}) but matches no grant: all its calls are refused",
                        client.id,
                        realm.name,
                        config.audiences.join(", ")
                    ),
                )
                .hint("give it a permission a grant names, or drop its access to the API");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn claim_names_split_as_keycloak_splits_them() {
        assert_eq!(
            split_claim("permissions.${client_id}"),
            ["permissions", "${client_id}"]
        );
        assert_eq!(split_claim(r"a\.b.c"), ["a.b", "c"]);
        assert_eq!(split_claim("groups"), ["groups"]);
    }

    #[test]
    fn the_realm_of_an_issuer() {
        assert_eq!(
            realm_of_issuer("https://kc/realms/camunda-platform").as_deref(),
            Some("camunda-platform")
        );
        assert_eq!(
            realm_of_issuer("https://kc/auth/realms/r/").as_deref(),
            Some("r")
        );
        assert_eq!(realm_of_issuer("https://kc/other"), None);
    }

    #[test]
    fn a_client_role_mapper_writes_permissions_of_the_client_its_claim_names() {
        let mapper = Mapper {
            kind: "oidc-usermodel-client-role-mapper".into(),
            config: [(
                "claim.name".to_string(),
                "permissions.${client_id}".to_string(),
            )]
            .into(),
        };
        let path = ClaimPath::from_dotted("permissions.zeebe-api");
        assert_eq!(
            mapper.writes(path.segments()),
            Some(Writes::ClientRoles(Some("zeebe-api".into())))
        );
        assert_eq!(
            mapper.writes(ClaimPath::from_dotted("permissions").segments()),
            None
        );
        let off = Mapper {
            config: [
                (
                    "claim.name".to_string(),
                    "permissions.${client_id}".to_string(),
                ),
                ("access.token.claim".to_string(), "false".to_string()),
            ]
            .into(),
            ..mapper
        };
        assert_eq!(off.writes(path.segments()), None);
    }
}
