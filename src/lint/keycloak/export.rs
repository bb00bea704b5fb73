//! The parts of a Keycloak realm export that decide what tokens carry: clients, client scopes
//! and their protocol mappers, roles, groups and users, read from the export's JSON, and the
//! places in its text that findings point to.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::Arc;

use serde_json::Value;

use super::Role;
use zeebe_authz_core::claims::ClaimPath;
use zeebe_authz_core::diag::Span;

/// Where findings about the export point: the line of a client in its text.
pub(super) struct Places<'a> {
    pub(super) export: &'a Arc<Path>,
    pub(super) text: &'a str,
}

impl Places<'_> {
    /// The line and column of `"clientId" : "<id>"` (any spacing), else the whole file.
    pub(super) fn client(&self, client_id: &str) -> Span {
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
pub(super) struct Mapper {
    pub(super) kind: String,
    pub(super) config: BTreeMap<String, String>,
}

impl Mapper {
    pub(super) fn read(v: &Value) -> Option<Mapper> {
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

    pub(super) fn in_access_token(&self) -> bool {
        self.config.get("access.token.claim").map(String::as_str) != Some("false")
    }

    /// The claim this mapper writes, as Keycloak splits it (dots, `\.` a literal dot).
    pub(super) fn claim(&self) -> Option<Vec<String>> {
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
    pub(super) fn writes(&self, path: &[Box<str>]) -> Option<Writes> {
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
pub(super) enum Writes {
    /// Roles of this client (None: of every client, in one list).
    ClientRoles(Option<String>),
    /// Realm roles.
    RealmRoles,
    /// Anything else (an attribute, group names, a hardcoded value, a session note).
    Other,
}

/// Splits a Keycloak claim name on dots; `\.` is a dot inside a key.
pub(super) fn split_claim(name: &str) -> Vec<String> {
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
pub(super) struct Client {
    pub(super) id: String,
    pub(super) service_account: bool,
    pub(super) user_logins: bool,
    pub(super) mappers: Vec<Mapper>,
    /// Its default client scopes (in every token) …
    pub(super) scopes: Vec<String>,
    /// … and its optional ones (in tokens that ask for them with `scope`).
    pub(super) optional_scopes: Vec<String>,
}

/// Who holds roles: a service account (of `client`) or a user.
#[derive(Debug)]
pub(super) struct Principal {
    pub(super) id: String,
    pub(super) username: String,
    pub(super) service_account_of: Option<String>,
    pub(super) roles: BTreeSet<Role>,
    pub(super) groups: Vec<String>,
}

/// The parts of a realm export that decide what tokens carry.
#[derive(Debug)]
pub(super) struct RealmExport {
    pub(super) name: String,
    pub(super) clients: Vec<Client>,
    pub(super) scopes: BTreeMap<String, Vec<Mapper>>,
    /// Roles that exist, with what each composite role includes.
    pub(super) roles: BTreeMap<Role, Vec<Role>>,
    /// Group path → the roles its members get (the group's and its parents').
    pub(super) groups: BTreeMap<String, Vec<Role>>,
    pub(super) principals: Vec<Principal>,
    /// Whether the export lists users (`kc.sh export` does; the admin console's partial
    /// export does not, so who holds which role is unknown).
    pub(super) has_users: bool,
}

pub(super) fn strings(v: Option<&Value>) -> Vec<String> {
    v.and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|s| s.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

pub(super) fn flag(v: &Value, key: &str, default: bool) -> bool {
    v.get(key).and_then(Value::as_bool).unwrap_or(default)
}

/// `{"realmRoles": [...], "clientRoles": {"c": [...]}}` as roles.
pub(super) fn role_mappings(v: &Value, realm_key: &str, client_key: &str) -> Vec<Role> {
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
    pub(super) fn read(v: &Value) -> Option<RealmExport> {
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
    pub(super) fn mappers<'a>(&'a self, client: &'a Client) -> impl Iterator<Item = &'a Mapper> {
        client.mappers.iter().chain(
            client
                .scopes
                .iter()
                .filter_map(|s| self.scopes.get(s))
                .flatten(),
        )
    }

    /// Every mapper a token of the client can have: also its optional scopes'.
    pub(super) fn all_mappers<'a>(
        &'a self,
        client: &'a Client,
    ) -> impl Iterator<Item = &'a Mapper> {
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
    pub(super) fn principals_of<'a>(
        &'a self,
        client: &'a Client,
    ) -> impl Iterator<Item = &'a Principal> {
        self.principals
            .iter()
            .filter(move |p| match &p.service_account_of {
                Some(of) => client.service_account && *of == client.id,
                None => client.user_logins,
            })
    }

    /// What writes the claim `path`, over every client: (client, what).
    pub(super) fn writers(&self, path: &ClaimPath) -> Vec<(&Client, Writes)> {
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
    pub(super) fn gets_audience(
        &self,
        client: &Client,
        principal: &Principal,
        audience: &str,
    ) -> bool {
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
    pub(super) fn token_claims(&self, client: &Client, principal: &Principal) -> Value {
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
pub(super) fn slot<'a>(claims: &'a mut Value, path: &[String]) -> Option<&'a mut Value> {
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

pub(super) fn set_at(claims: &mut Value, path: &[String], value: Value) {
    if let Some(v) = slot(claims, path) {
        *v = value;
    }
}

/// Adds `value` to the list at `path`.
pub(super) fn push_at(claims: &mut Value, path: &[String], value: Value) {
    if let Some(v) = slot(claims, path) {
        match v {
            Value::Array(items) => items.push(value),
            other => *other = Value::Array(vec![value]),
        }
    }
}

/// `roles` with every composite's members, transitively.
pub(super) fn expand(all: &BTreeMap<Role, Vec<Role>>, roles: Vec<Role>) -> BTreeSet<Role> {
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
