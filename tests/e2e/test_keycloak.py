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


# -- key rotation as an operator does it ------------------------------------------------------


def forged(body: dict, kid: str) -> str:
    """A token with Keycloak's claims, signed by a key no JWKS lists, naming `kid`."""
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return jwt.encode(body, key, algorithm="RS256", headers={"kid": kid})


class Load:
    """A steady load: one thread calling Topology in a loop with each token of `tokens()`
    in turn (the list may grow), recording (start, end, token name, status) per call."""

    def __init__(self, zeebe: gateway_pb2_grpc.GatewayStub):
        self.zeebe = zeebe
        self.tokens: dict[str, str] = {}
        self.calls: list[tuple[float, float, str, grpc.StatusCode, str]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="keycloak-load", daemon=True)

    def __enter__(self) -> Load:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=30)

    def _run(self) -> None:
        while not self._stop.is_set():
            for name, token in list(self.tokens.items()):
                began = time.monotonic()
                outcome = topology(self.zeebe, token)
                self.calls.append((began, time.monotonic(), name, outcome.code, outcome.details))
            if not self.tokens:
                self._stop.wait(0.01)

    def wait_calls(self, name: str, count: int, after: float) -> None:
        wait_until(
            lambda: sum(1 for c in self.calls if c[2] == name and c[0] >= after) >= count,
            60,
            f"{count} calls with the {name} token",
        )


def fetches(authz: Authz) -> float:
    return authz.metric("zeebe_authz_jwks_fetches_total")


def test_key_rotation_as_an_operator_does_it(
    keycloak: Keycloak, kc_zeebe: gateway_pb2_grpc.GatewayStub, kc_authz: Authz
) -> None:
    """A new RS256 key provider with a higher priority, then the old one passive, then removed,
    all through the admin REST API, under a steady load of calls with old and new tokens:
    no false deny while the old key is listed; once the authorizer has fetched a JWKS without
    it, the old tokens are refused from the first Check on (those it had verified and cached
    before too); and never more than one JWKS fetch per cooldown."""
    admin = keycloak.admin
    [old] = [p for p in admin.key_providers() if p["providerId"] == "rsa-generated" and p["config"].get("algorithm", ["RS256"]) == ["RS256"] and p["config"].get("active", ["true"]) == ["true"] and int(p["config"]["priority"][0]) >= 100]
    old_token = keycloak.token("zeebe-writer")
    old_kid = header(old_token)["kid"]
    fetches_before, began = fetches(kc_authz), time.monotonic()

    with Load(kc_zeebe) as load:
        load.tokens["old"] = old_token
        load.wait_calls("old", 5, began)

        new_provider = admin.add_key_provider(
            "rsa-rotated", "rsa-generated", {"priority": str(int(old["config"]["priority"][0]) + 100), "algorithm": "RS256"}
        )
        new_token = keycloak.token("zeebe-writer")
        assert header(new_token)["kid"] != old_kid
        load.tokens["new"] = new_token
        load.wait_calls("new", 5, time.monotonic())

        admin.set_key_provider(old["id"], active="false")
        assert old_kid in {k["kid"] for k in keycloak.jwks()["keys"]}, "a passive key stays listed"
        assert header(keycloak.token("zeebe-writer"))["kid"] != old_kid
        load.wait_calls("old", 5, time.monotonic())
        listed_until = time.monotonic()

        admin.remove_key_provider(old["id"])
        assert old_kid not in {k["kid"] for k in keycloak.jwks()["keys"]}
        # The authorizer learns of the removal at its next fetch: a kid it does not know makes
        # one now (instead of waiting for refresh_interval).
        seen = fetches(kc_authz)
        unknown = topology(kc_zeebe, forged(claims(new_token), "not-a-keycloak-kid"))
        assert unknown.code == UNAUTHENTICATED, unknown
        kc_authz.wait_metric("zeebe_authz_jwks_fetches_total", seen + 1, at_least=True)
        fetched = time.monotonic()
        load.wait_calls("old", 5, fetched)
        load.wait_calls("new", 5, fetched)
    elapsed = time.monotonic() - began
    calls = list(load.calls)
    admin.set_key_provider(new_provider, priority="150")

    false_denies = [c for c in calls if c[1] <= listed_until and c[3] != OK]
    assert not false_denies, f"{len(false_denies)} false denies while the old key was listed: {false_denies[:3]}"
    assert all(c[3] == OK for c in calls if c[2] == "new"), [c for c in calls if c[2] == "new" and c[3] != OK][:3]
    after = [c for c in calls if c[2] == "old" and c[0] >= fetched]
    assert after and all(c[3] == UNAUTHENTICATED for c in after), (
        f"old-key tokens after the JWKS without the key: {[(c[3].name, c[4]) for c in after[:3]]}"
    )
    total = fetches(kc_authz) - fetches_before
    assert total <= int(elapsed / REFETCH_COOLDOWN) + 1, f"{total} JWKS fetches in {elapsed:.1f}s"


# -- Keycloak goes away and comes back -------------------------------------------------------


def test_keycloak_stopped_and_started_again(
    keycloak: Keycloak, kc_zeebe: gateway_pb2_grpc.GatewayStub, kc_authz: Authz, workdir: Path
) -> None:
    """While Keycloak is down, the keys the authorizer has keep serving (a token it never saw,
    signed by a cached key, is allowed); an unknown kid is 14 UNAVAILABLE (it may be
    Keycloak's new key); once Keycloak is back, the authorizer fetches again by itself. The
    downtime is also when an operator takes a `kc.sh export` (the lint test reads it)."""
    seen, unseen = keycloak.token("zeebe-writer"), keycloak.token("zeebe-reader")
    assert topology(kc_zeebe, seen).code == OK
    keycloak.stop()
    try:
        assert topology(kc_zeebe, seen).code == OK
        served = topology(kc_zeebe, unseen)
        assert served.code == OK, served
        unknown = topology(kc_zeebe, forged(claims(seen), "kid-while-down"))
        assert unknown.code == UNAVAILABLE, unknown
        keycloak.export_realm(workdir / "keycloak-export.json")
        # Still serving after minutes of downtime.
        assert topology(kc_zeebe, unseen).code == OK
    finally:
        keycloak.start()
    assert kc_authz.admin_status("/readyz") == 200
    recovered = topology(kc_zeebe, forged(claims(seen), "kid-after-restart"))
    # Keycloak answers again: the kid is now known to be nobody's (16), not an outage (14).
    assert recovered.code == UNAUTHENTICATED, recovered
    assert topology(kc_zeebe, keycloak.token("zeebe-writer")).code == OK
