"""Builds the `camunda-platform` realm on a running Keycloak through the admin REST API, the way
Camunda Identity (8.0-8.7) shapes it when it starts, and the suite's M2M clients beside it.

Run once by hand to regenerate camunda-platform-realm.json (the suite imports that file; it is a
`kc.sh export` of what this script builds, so it holds Keycloak's own defaults too):

    python tests/e2e/keycloak/build_realm.py http://127.0.0.1:PORT
    # stop Keycloak, then: kc.sh export --realm camunda-platform --file ... --users realm_file

What comes from Identity (docs.camunda.io, "Starting configuration for Identity", 8.1-8.7 and
next: the entities Identity creates or updates in Keycloak at startup):
- the client scope `camunda-identity`, a realm DEFAULT client scope, with the mappers
  `permissions` (oidc-usermodel-client-role-mapper, claim `permissions.${client_id}`, access
  token only), `audience resolve` (oidc-audience-resolve-mapper), `email`
  (oidc-usermodel-property-mapper) and `full name` (oidc-full-name-mapper);
- an API (here `zeebe-api`, Identity's audience for Zeebe: helm chart values
  `global.identity.auth.zeebe.audience: zeebe-api`) is a Keycloak client whose client roles are
  the API's permissions (`write:*` is Identity's preset for Zeebe, `read:*` beside it);
- an M2M application is a confidential client with only service accounts enabled; assigning it
  an API permission maps the client role to its service-account user.
So a service-account token gets `aud` from the audience-resolve mapper (the clients whose roles
it holds) and `permissions.<client>` from the client-role mapper, with no custom mapper.

What is ours, for the Camunda 8.8 dialect and the tenant conditions: a default client scope
`camunda-groups` with two group-membership mappers, `groups` (group names) and `tenants` (full
paths, read with `tenants_prefix: /tenants/`), and groups `/tenants/tenant-a`, `/tenants/tenant-b`,
`/payments`. Key providers for every signing algorithm Keycloak offers (one client per
algorithm, `access.token.signed.response.alg`), all below the default RS256 key's priority.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from support.keycloak import CLIENT_SECRETS, REALM, AdminApi  # noqa: E402

API = "zeebe-api"
PERMISSIONS = ["write:*", "read:*", "tenant:write", "worker:payment", "Topology", "DeployResource"]
# client -> (permissions on zeebe-api, group paths)
M2M = {
    "zeebe-writer": (["write:*"], ["/payments"]),
    "zeebe-reader": (["read:*"], []),
    "zeebe-tenant": (["tenant:write"], ["/tenants/tenant-a"]),
    "zeebe-worker": (["worker:payment"], ["/payments"]),
    "zeebe-nothing": ([], []),
    "zeebe-rpc": (["Topology", "DeployResource"], []),
}
# client -> (signing algorithm, key provider, its config)
ALGORITHMS = {
    "alg-rs384": ("RS384", "rsa-generated", {"algorithm": "RS384"}),
    "alg-rs512": ("RS512", "rsa-generated", {"algorithm": "RS512"}),
    "alg-ps256": ("PS256", "rsa-generated", {"algorithm": "PS256"}),
    "alg-ps384": ("PS384", "rsa-generated", {"algorithm": "PS384"}),
    "alg-ps512": ("PS512", "rsa-generated", {"algorithm": "PS512"}),
    "alg-es256": ("ES256", "ecdsa-generated", {"ecdsaEllipticCurveKey": "P-256"}),
    "alg-es384": ("ES384", "ecdsa-generated", {"ecdsaEllipticCurveKey": "P-384"}),
    "alg-es512": ("ES512", "ecdsa-generated", {"ecdsaEllipticCurveKey": "P-521"}),
    "alg-ed25519": ("EdDSA", "eddsa-generated", {"eddsaEllipticCurveKey": "Ed25519"}),
    "alg-ed448": ("EdDSA", "eddsa-generated", {"eddsaEllipticCurveKey": "Ed448"}),
}
ALGORITHM_SECRET = "alg-secret"


def mapper(name: str, kind: str, **config: str) -> dict:
    return {"name": name, "protocol": "openid-connect", "protocolMapper": kind, "config": config}


def build(admin: AdminApi) -> None:
    admin.create_realm({"realm": REALM, "enabled": True, "defaultSignatureAlgorithm": "RS256"})

    identity_scope = admin.post(
        "client-scopes",
        {
            "name": "camunda-identity",
            "protocol": "openid-connect",
            "description": "Camunda Identity: permissions and audiences in the access token",
            "attributes": {"include.in.token.scope": "true", "display.on.consent.screen": "false"},
            "protocolMappers": [
                mapper(
                    "email",
                    "oidc-usermodel-property-mapper",
                    **{
                        "user.attribute": "email",
                        "claim.name": "email",
                        "jsonType.label": "String",
                        "access.token.claim": "true",
                        "id.token.claim": "true",
                        "userinfo.token.claim": "true",
                    },
                ),
                mapper(
                    "full name",
                    "oidc-full-name-mapper",
                    **{"access.token.claim": "true", "id.token.claim": "true", "userinfo.token.claim": "true"},
                ),
                mapper(
                    "permissions",
                    "oidc-usermodel-client-role-mapper",
                    **{
                        "claim.name": "permissions.${client_id}",
                        "jsonType.label": "String",
                        "multivalued": "true",
                        "access.token.claim": "true",
                        "id.token.claim": "false",
                        "userinfo.token.claim": "false",
                    },
                ),
                mapper("audience resolve", "oidc-audience-resolve-mapper", **{"access.token.claim": "true"}),
            ],
        },
    )
    groups_scope = admin.post(
        "client-scopes",
        {
            "name": "camunda-groups",
            "protocol": "openid-connect",
            "description": "Groups (Camunda 8.8 groupsClaim) and tenants (full group paths)",
            "attributes": {"include.in.token.scope": "false", "display.on.consent.screen": "false"},
            "protocolMappers": [
                mapper(
                    "groups",
                    "oidc-group-membership-mapper",
                    **{"claim.name": "groups", "full.path": "false", "access.token.claim": "true"},
                ),
                mapper(
                    "tenants",
                    "oidc-group-membership-mapper",
                    **{"claim.name": "tenants", "full.path": "true", "access.token.claim": "true"},
                ),
            ],
        },
    )
    for scope in (identity_scope, groups_scope):
        admin.put(f"default-default-client-scopes/{scope}", {})

    # The API: a client whose roles are its permissions (Identity: "Add API").
    api_id = admin.post(
        "clients",
        {
            "clientId": API,
            "name": "Zeebe API",
            "publicClient": False,
            "bearerOnly": False,
            "standardFlowEnabled": False,
            "serviceAccountsEnabled": False,
            "secret": "zeebe-api-secret",
        },
    )
    for permission in PERMISSIONS:
        admin.post(f"clients/{api_id}/roles", {"name": permission, "description": f"Zeebe permission {permission}"})
    roles = {role["name"]: role for role in admin.get(f"clients/{api_id}/roles")}

    groups: dict[str, str] = {}
    for path in ("/tenants/tenant-a", "/tenants/tenant-b", "/payments"):
        parent_path, _, name = path.rpartition("/")
        if parent_path and parent_path not in groups:
            groups[parent_path] = admin.post("groups", {"name": parent_path.lstrip("/")})
        if parent_path:
            groups[path] = admin.post(f"groups/{groups[parent_path]}/children", {"name": name})
        else:
            groups[path] = admin.post("groups", {"name": name})

    def m2m(client_id: str, secret: str, permissions: list[str], group_paths: list[str], attributes: dict) -> None:
        cid = admin.post(
            "clients",
            {
                "clientId": client_id,
                "publicClient": False,
                "standardFlowEnabled": False,
                "directAccessGrantsEnabled": False,
                "serviceAccountsEnabled": True,
                "clientAuthenticatorType": "client-secret",
                "secret": secret,
                "attributes": attributes,
            },
        )
        user = admin.get(f"clients/{cid}/service-account-user")
        if permissions:
            admin.post(f"users/{user['id']}/role-mappings/clients/{api_id}", [roles[p] for p in permissions])
        for path in group_paths:
            admin.put(f"users/{user['id']}/groups/{groups[path]}", {})

    for client_id, (permissions, group_paths) in M2M.items():
        m2m(client_id, CLIENT_SECRETS[client_id], permissions, group_paths, {})
    for client_id, (alg, _, _) in ALGORITHMS.items():
        m2m(client_id, ALGORITHM_SECRET, ["write:*"], [], {"access.token.signed.response.alg": alg})
    for client_id, (alg, provider, config) in ALGORITHMS.items():
        admin.add_key_provider(f"{client_id}-key", provider, {"priority": "50", **config})
    # Keycloak picks the highest-priority active key of the algorithm: Ed448 and Ed25519 are both
    # EdDSA, so the Ed448 client gets its own key only while Ed25519's is passive; the suite flips
    # them at test time. Make Ed448 passive here so Ed25519 signs by default.
    for provider in admin.key_providers():
        if provider["name"] == "alg-ed448-key":
            admin.set_key_provider(provider["id"], active="false")


if __name__ == "__main__":
    build(AdminApi(sys.argv[1].rstrip("/"), REALM))
    print("built realm", REALM)
