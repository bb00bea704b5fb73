"""zeebe-authz against an OpenID Provider no one here wrote: npm `oidc-provider` at Keycloak's
`/realms/camunda`, issuing RFC 9068 JWT access tokens (client_credentials, resource indicators)
that carry Camunda Identity's `permissions.<audience>` claim from its `extraTokenClaims` hook.
Discovery, JWKS, key rotation and its tokens must work as with our Keycloak-shaped issuer.

What the provider does differently from our issuer, each pinned here:
- its JWKS and token endpoint are not at Keycloak's paths (`<iss>/jwks`, `<iss>/token`): only
  discovery says where they are;
- the JWKS is served as `application/jwk-set+json`;
- tokens are `typ: at+jwt`, name the client in `client_id` (RFC 9068), not `azp`/`clientId`,
  have `sub` = the client id, and no `typ`, `scope` or `preferred_username` claim;
- `aud` is the resource indicator, an absolute URI (dots, a scheme), so the permissions claim
  is `permissions["https://zeebe-api.camunda.test"]`;
- it ignores Keycloak's `audience` token parameter (the default resource applies) and, by
  default, wants HTTP Basic client authentication (the realm registers client_secret_post,
  which zbctl and the SDK use).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from zeebe_grpc import gateway_pb2 as pb
from zeebe_grpc import gateway_pb2_grpc

from support.authz import DEV_POLICY, Authz, config_yaml
from support.calls import bearer, invoke
from support.envoy import Envoy
from support.gateway import StubGateway
from support.node_clients import client_env, run_sdk, run_zbctl
from support.oidc_realm import OidcRealm
from support.process import running

RESOURCE = "https://zeebe-api.camunda.test"
CLIENTS = [
    {"id": "oidc-writer", "secret": "writer-secret", "permissions": ["write:*"]},
    {"id": "oidc-reader", "secret": "reader-secret", "permissions": ["read:*"]},
    {"id": "oidc-tenant", "secret": "tenant-secret", "permissions": ["tenant:write"], "tenants": ["tenant-a"]},
    {"id": "oidc-worker", "secret": "worker-secret", "permissions": ["worker:payment"]},
]
OK = grpc.StatusCode.OK
PERMISSION_DENIED = grpc.StatusCode.PERMISSION_DENIED


@pytest.fixture(scope="module")
def oidc(workdir: Path) -> Iterator[OidcRealm]:
    with running(OidcRealm(workdir / "oidc", resource=RESOURCE, clients=CLIENTS)) as realm:
        yield realm


@pytest.fixture(scope="module")
def oidc_gateway() -> Iterator[StubGateway]:
    server = StubGateway(long_poll=True).start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def oidc_authz(workdir: Path, oidc: OidcRealm) -> Iterator[Authz]:
    """zeebe-authz trusting the provider exactly as a Keycloak realm is configured: issuer and
    audience only (keys from discovery), the dev policy, tenants in `tenants`."""
    # Every identity header, so the client id read from the provider's tokens shows.
    config = config_yaml(
        oidc.issuer, DEV_POLICY, audiences=(RESOURCE,), tenants_claim="tenants", identity_headers="all"
    )
    proc = Authz(workdir / "oidc-authz", config, name="zeebe-authz-oidc")
    with running(proc, lambda p: p.start().wait_ready()):
        yield proc


@pytest.fixture(scope="module")
def oidc_envoy(workdir: Path, oidc_gateway: StubGateway, oidc_authz: Authz) -> Iterator[Envoy]:
    with running(Envoy(workdir / "oidc-envoy", oidc_gateway.address, oidc_authz.check_addr, name="envoy-oidc")) as proc:
        yield proc


@pytest.fixture(scope="module")
def oidc_zeebe(oidc_envoy: Envoy) -> Iterator[gateway_pb2_grpc.GatewayStub]:
    with grpc.insecure_channel(oidc_envoy.address) as channel:
        yield gateway_pb2_grpc.GatewayStub(channel)


def test_keys_come_from_the_providers_discovery(oidc: OidcRealm, oidc_authz: Authz) -> None:
    """/readyz is 200 (the fixture waited for it): the keys were found through discovery, at
    a JWKS path that is not Keycloak's."""
    doc = oidc.discovery()
    assert doc["issuer"] == oidc.issuer
    assert doc["jwks_uri"] == f"{oidc.issuer}/jwks"
    assert oidc_authz.admin_status("/readyz") == 200


def test_provider_tokens_are_decided_as_ours(
    oidc: OidcRealm, oidc_zeebe: gateway_pb2_grpc.GatewayStub, oidc_gateway: StubGateway
) -> None:
    allowed = invoke(oidc_zeebe.Topology, pb.TopologyRequest(), metadata=bearer(oidc.token("oidc-writer")))
    assert allowed.code == OK, allowed
    call = oidc_gateway.last_call()
    assert call.values("x-zeebe-authz-subject") == ["oidc-writer"]
    # RFC 9068 names the client in `client_id`; a Keycloak token in `azp`.
    assert call.values("x-zeebe-authz-client-id") == ["oidc-writer"]
    request = pb.CreateProcessInstanceRequest(bpmnProcessId="order-process", version=-1)
    refused = invoke(oidc_zeebe.CreateProcessInstance, request, metadata=bearer(oidc.token("oidc-reader")))
    assert refused.code == PERMISSION_DENIED, refused
    assert f"requires permission write:*, tenant:write, CreateProcessInstance in permissions.{RESOURCE}" in refused.details


def test_tenant_and_job_type_conditions_on_provider_tokens(
    oidc: OidcRealm, oidc_zeebe: gateway_pb2_grpc.GatewayStub
) -> None:
    tenant = bearer(oidc.token("oidc-tenant"))
    held = pb.CreateProcessInstanceRequest(bpmnProcessId="order-process", version=-1, tenantId="tenant-a")
    other = pb.CreateProcessInstanceRequest(bpmnProcessId="order-process", version=-1, tenantId="tenant-b")
    assert invoke(oidc_zeebe.CreateProcessInstance, held, metadata=tenant).code == OK
    denied = invoke(oidc_zeebe.CreateProcessInstance, other, metadata=tenant)
    assert denied.code == PERMISSION_DENIED and "tenant 'tenant-b' not allowed" in denied.details, denied
    worker = bearer(oidc.token("oidc-worker"))
    shipping = pb.ActivateJobsRequest(type="shipping", worker="w", timeout=1000, maxJobsToActivate=1)
    denied = invoke(oidc_zeebe.ActivateJobs, shipping, metadata=worker)
    assert denied.code == PERMISSION_DENIED and "job type 'shipping' not allowed" in denied.details, denied


def test_zbctl_and_the_sdk_fetch_their_tokens_from_the_provider(
    oidc: OidcRealm, oidc_envoy: Envoy, tmp_path: Path
) -> None:
    """The clients only need the token endpoint the discovery document names; the `audience`
    they send (required by zbctl) is ignored by the provider."""
    token_url = oidc.discovery()["token_endpoint"]
    assert token_url == f"{oidc.issuer}/token"
    writer = client_env(
        tmp_path / "zbctl",
        ZEEBE_ADDRESS=oidc_envoy.address,
        ZEEBE_INSECURE_CONNECTION="true",
        ZEEBE_CLIENT_ID="oidc-writer",
        ZEEBE_CLIENT_SECRET="writer-secret",
        ZEEBE_AUTHORIZATION_SERVER_URL=token_url,
        ZEEBE_TOKEN_AUDIENCE="zeebe-api",
    )
    done = run_zbctl(["status"], writer)
    assert done.returncode == 0, done.stderr
    assert "Gateway version: 8.4.13" in done.stdout
    tenant = client_env(
        tmp_path / "sdk",
        ZEEBE_GRPC_ADDRESS=f"grpc://{oidc_envoy.address}",
        CAMUNDA_AUTH_STRATEGY="OAUTH",
        CAMUNDA_OAUTH_URL=token_url,
        ZEEBE_TOKEN_AUDIENCE="zeebe-api",
        ZEEBE_CLIENT_ID="oidc-tenant",
        ZEEBE_CLIENT_SECRET="tenant-secret",
        CAMUNDA_TOKEN_DISK_CACHE_DISABLE="true",
    )
    held, other = run_sdk(
        [
            {"op": "create", "bpmnProcessId": "order-process", "tenantId": "tenant-a"},
            {"op": "create", "bpmnProcessId": "order-process", "tenantId": "tenant-b"},
        ],
        tenant,
    )
    assert held["ok"], held
    assert other["code"] == PERMISSION_DENIED.value[0] and "tenant 'tenant-b' not allowed" in other["details"]


def test_key_rotation_at_the_provider(
    oidc: OidcRealm, oidc_authz: Authz, oidc_zeebe: gateway_pb2_grpc.GatewayStub
) -> None:
    """A new signing key: the first token with its kid makes the authorizer refetch the JWKS
    (through discovery) and is allowed; a token of the old key, still published, is too."""
    old = oidc.token("oidc-writer")
    assert invoke(oidc_zeebe.Topology, pb.TopologyRequest(), metadata=bearer(old)).code == OK
    kid = oidc.rotate()
    new = oidc.token("oidc-writer")
    import base64
    import json

    header = json.loads(base64.urlsafe_b64decode(new.split(".")[0] + "=="))
    assert header["kid"] == kid and header["typ"] == "at+jwt"
    fresh = invoke(oidc_zeebe.Topology, pb.TopologyRequest(), metadata=bearer(new))
    assert fresh.code == OK, fresh
    assert invoke(oidc_zeebe.Topology, pb.TopologyRequest(), metadata=bearer(old)).code == OK
    fetches = [
        e["fields"]
        for e in oidc_authz.events()
        if e.get("fields", {}).get("message") == "JWKS loaded" and e["fields"].get("cause") != "startup"
    ]
    assert fetches, "the new kid caused a JWKS fetch"
