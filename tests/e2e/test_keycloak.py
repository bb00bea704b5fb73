"""zeebe-authz through a real Envoy against the real Keycloak (support/keycloak.py), with the
realm Camunda Identity shapes (tests/e2e/keycloak/): tokens from Keycloak's own token endpoint,
every signing algorithm its key providers offer, its `enc` key, key rotation as an operator does
it, Keycloak going away and coming back, and both issuer forms (`/realms/R`, `/auth/realms/R`).

What real Keycloak 26 does that our Keycloak-shaped issuer (src/issuer) did not, each pinned in
`test_the_tokens_keycloak_issues`, is listed in docs/src/keycloak.md.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import grpc
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from zeebe_grpc import gateway_pb2 as pb
from zeebe_grpc import gateway_pb2_grpc

from support.authz import DEV_POLICY, Authz, config_yaml
from support.calls import bearer, invoke
from support.envoy import Envoy
from support.gateway import StubGateway
from support.keycloak import REALM_FILE, Keycloak, claims, header
from support.process import running, wait_until

OK = grpc.StatusCode.OK
PERMISSION_DENIED = grpc.StatusCode.PERMISSION_DENIED
UNAUTHENTICATED = grpc.StatusCode.UNAUTHENTICATED
UNAVAILABLE = grpc.StatusCode.UNAVAILABLE
REFETCH_COOLDOWN = 1.0


def authz_config(issuer: str) -> str:
    """The realm as a Camunda installation configures it: issuer and audience only (keys from
    discovery), the dev policy, tenants from the full group paths under /tenants/."""
    return config_yaml(
        issuer,
        DEV_POLICY,
        tenants_claim="tenants",
        tenants_prefix="/tenants/",
        identity_headers="all",
        refetch_cooldown=f"{REFETCH_COOLDOWN:g}s",
    )


@pytest.fixture(scope="module")
def kc_gateway() -> Iterator[StubGateway]:
    server = StubGateway().start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def kc_authz(workdir: Path, keycloak_server: Keycloak) -> Iterator[Authz]:
    if keycloak_server.proc is None or keycloak_server.variant:
        keycloak_server.stop()
        keycloak_server.start(variant="")
    proc = Authz(workdir / "kc-authz", authz_config(keycloak_server.issuer), name="zeebe-authz-keycloak")
    with running(proc, lambda p: p.start().wait_ready()):
        yield proc


@pytest.fixture(scope="module")
def kc_envoy(workdir: Path, kc_gateway: StubGateway, kc_authz: Authz) -> Iterator[Envoy]:
    with running(Envoy(workdir / "kc-envoy", kc_gateway.address, kc_authz.check_addr, name="envoy-keycloak")) as proc:
        yield proc


@pytest.fixture(scope="module")
def kc_zeebe(kc_envoy: Envoy) -> Iterator[gateway_pb2_grpc.GatewayStub]:
    with grpc.insecure_channel(kc_envoy.address) as channel:
        yield gateway_pb2_grpc.GatewayStub(channel)


def topology(zeebe: gateway_pb2_grpc.GatewayStub, token: str):
    return invoke(zeebe.Topology, pb.TopologyRequest(), metadata=bearer(token))


def create_instance(zeebe: gateway_pb2_grpc.GatewayStub, token: str, tenant: str = ""):
    request = pb.CreateProcessInstanceRequest(bpmnProcessId="order-process", version=-1, tenantId=tenant)
    return invoke(zeebe.CreateProcessInstance, request, metadata=bearer(token))


def activate(zeebe: gateway_pb2_grpc.GatewayStub, token: str, job_type: str):
    request = pb.ActivateJobsRequest(type=job_type, worker="w", timeout=1000, maxJobsToActivate=1, requestTimeout=1)
    return invoke(zeebe.ActivateJobs, request, metadata=bearer(token))


# -- what Keycloak issues --------------------------------------------------------------------


def test_the_tokens_keycloak_issues(keycloak: Keycloak) -> None:
    """A service-account token of the Identity-shaped realm, claim by claim: what the suite's
    own issuer and the policy defaults must agree with."""
    token = keycloak.token("zeebe-writer")
    head, body = header(token), claims(token)
    assert head["alg"] == "RS256" and head["typ"] == "JWT" and head["kid"]
    assert body["iss"] == keycloak.issuer
    # The audience-resolve mapper: every client whose roles the service account holds,
    # `account` among them (the realm's default roles): an array, not our issuer's string.
    assert body["aud"] == ["zeebe-api", "account"]
    # The client-role mapper writes every client's roles under permissions.<client id>.
    assert body["permissions"]["zeebe-api"] == ["write:*"]
    assert "account" in body["permissions"]
    assert body["azp"] == "zeebe-writer" and body["client_id"] == "zeebe-writer"
    assert "clientId" not in body  # Keycloak < 26's claim name; 26 writes client_id
    assert body["preferred_username"] == "service-account-zeebe-writer"
    assert body["sub"] != "zeebe-writer"  # the service-account user's id
    assert body["typ"] == "Bearer" and "nbf" not in body
    assert body["groups"] == ["payments"] and body["tenants"] == ["/payments"]
    assert body["exp"] - body["iat"] == 300
    # A client holding no zeebe-api role gets no zeebe-api audience (a string when alone).
    assert claims(keycloak.token("zeebe-nothing"))["aud"] == "account"


def test_discovery_and_jwks(keycloak: Keycloak, kc_authz: Authz) -> None:
    doc = keycloak.discovery()
    assert doc["issuer"] == keycloak.issuer
    assert doc["jwks_uri"] == keycloak.jwks_uri
    keys = keycloak.jwks()["keys"]
    uses = {(k.get("use"), k.get("alg")) for k in keys}
    assert ("enc", "RSA-OAEP") in uses and ("sig", "RS256") in uses
    assert kc_authz.admin_status("/readyz") == 200


def test_client_credentials_tokens_allowed_and_refused_per_policy(
    keycloak: Keycloak, kc_zeebe: gateway_pb2_grpc.GatewayStub, kc_gateway: StubGateway
) -> None:
    writer = keycloak.token("zeebe-writer")
    assert topology(kc_zeebe, writer).code == OK
    assert create_instance(kc_zeebe, writer).code == OK
    call = kc_gateway.last_call()
    assert call.values("x-zeebe-authz-subject") == [claims(writer)["sub"]]
    assert call.values("x-zeebe-authz-client-id") == ["zeebe-writer"]

    reader = keycloak.token("zeebe-reader")
    assert topology(kc_zeebe, reader).code == OK
    refused = create_instance(kc_zeebe, reader)
    assert refused.code == PERMISSION_DENIED, refused
    assert "requires permission write:*, tenant:write, CreateProcessInstance in permissions.zeebe-api" in refused.details

    tenant = keycloak.token("zeebe-tenant")
    assert create_instance(kc_zeebe, tenant, "tenant-a").code == OK
    denied = create_instance(kc_zeebe, tenant, "tenant-b")
    assert denied.code == PERMISSION_DENIED and "tenant 'tenant-b' not allowed" in denied.details, denied

    worker = keycloak.token("zeebe-worker")
    assert activate(kc_zeebe, worker, "payment-charge").code == OK
    denied = activate(kc_zeebe, worker, "shipping")
    assert denied.code == PERMISSION_DENIED and "job type 'shipping' not allowed" in denied.details, denied

    # The seed PoC's style: permissions named after rpcs.
    rpc = keycloak.token("zeebe-rpc")
    assert topology(kc_zeebe, rpc).code == OK
    assert create_instance(kc_zeebe, rpc).code == PERMISSION_DENIED

    nothing = topology(kc_zeebe, keycloak.token("zeebe-nothing"))
    assert nothing.code == UNAUTHENTICATED, nothing

    # A wrong secret gets no token at all (Keycloak answers 401 invalid_client).
    with pytest.raises(Exception, match="401"):
        keycloak.token("zeebe-writer", "not-the-secret")


# Every signing algorithm Keycloak's key providers offer, and what the README claims of each:
# RS/PS 256-512, ES256/ES384 and EdDSA over Ed25519 verify; ES512 (P-521) and Ed448 do not.
VERIFIED = ["alg-rs384", "alg-rs512", "alg-ps256", "alg-ps384", "alg-ps512", "alg-es256", "alg-es384", "alg-ed25519"]


@pytest.mark.parametrize("client", VERIFIED)
def test_every_claimed_algorithm_verifies(keycloak: Keycloak, kc_zeebe: gateway_pb2_grpc.GatewayStub, client: str) -> None:
    token = keycloak.token(client, "alg-secret")
    assert header(token)["alg"] == client.removeprefix("alg-").upper().replace("ED25519", "EdDSA")
    outcome = topology(kc_zeebe, token)
    assert outcome.code == OK, outcome


def test_es512_is_refused_as_unsupported(keycloak: Keycloak, kc_zeebe: gateway_pb2_grpc.GatewayStub, kc_authz: Authz) -> None:
    """Keycloak offers ES512 (P-521); the README does not claim it: refused, never allowed."""
    token = keycloak.token("alg-es512", "alg-secret")
    assert header(token)["alg"] == "ES512"
    before = kc_authz.metric("zeebe_authz_decisions_total", reason="unsupported_algorithm")
    outcome = topology(kc_zeebe, token)
    assert outcome.code == UNAUTHENTICATED, outcome
    kc_authz.wait_metric("zeebe_authz_decisions_total", before + 1, reason="unsupported_algorithm")


def test_the_enc_key_never_verifies(keycloak: Keycloak, kc_zeebe: gateway_pb2_grpc.GatewayStub) -> None:
    """Keycloak lists its RSA-OAEP `enc` key in every JWKS. A token signed with that very key
    (its private half is in the realm file) and naming it is refused, under RS256 and PS256."""
    import json

    realm = json.loads(REALM_FILE.read_text())
    [provider] = [p for p in realm["components"]["org.keycloak.keys.KeyProvider"] if p["providerId"] == "rsa-enc-generated"]
    pem = "-----BEGIN PRIVATE KEY-----\n" + provider["config"]["privateKey"][0] + "\n-----END PRIVATE KEY-----\n"
    private = serialization.load_pem_private_key(pem.encode(), password=None)
    [enc] = [k for k in keycloak.jwks()["keys"] if k.get("use") == "enc"]
    body = claims(keycloak.token("zeebe-writer"))
    for alg in ("RS256", "PS256", "RSA-OAEP"):
        if alg == "RSA-OAEP":
            token = jwt.encode(body, private, algorithm="RS256", headers={"kid": enc["kid"]})
            head, rest = token.split(".", 1)
            import base64

            patched = {"alg": "RSA-OAEP", "typ": "JWT", "kid": enc["kid"]}
            head = base64.urlsafe_b64encode(json.dumps(patched).encode()).rstrip(b"=").decode()
            token = f"{head}.{rest}"
        else:
            token = jwt.encode(body, private, algorithm=alg, headers={"kid": enc["kid"]})
        outcome = topology(kc_zeebe, token)
        assert outcome.code == UNAUTHENTICATED, (alg, outcome)
