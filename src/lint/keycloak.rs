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

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::Arc;

use serde_json::Value;

use super::LintedConfig;
use zeebe_authz_core::claims::ClaimPath;
use zeebe_authz_core::config::RealmConfig;
use zeebe_authz_core::diag::{Diagnostic, Diagnostics, Span};
use zeebe_authz_core::policy::GrantSource;
use zeebe_authz_core::policy::camunda::OwnerType;

mod export;

use export::*;

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
                    .any(|p| zeebe_authz_core::catalog::Rpc::from_grpc_name(p).is_some());
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
mod tests;
