"""zeebe-authz behind a real Envoy, called by Camunda's own generated Zeebe client stubs.

Each test asserts what the Zeebe client sees: the gRPC status (OK, 16 UNAUTHENTICATED, 7
PERMISSION_DENIED, 14 UNAVAILABLE), the message, and, for allowed calls, what reached the
gateway. Tokens come from a Keycloak-shaped issuer; the policy is `policies/default.yaml`
(`write:*` grants every rpc, `read:*` grants Topology, a permission named after an rpc grants
that rpc).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path

import grpc
import pytest
from zeebe_grpc import gateway_pb2 as pb
from zeebe_grpc import gateway_pb2_grpc

from support.authz import Authz, config_yaml
from support.calls import Outcome, bearer, invoke, raw_unary
from support.envoy import Envoy, closed_loopback_port
from support.gateway import StubGateway
from support.issuer import KeycloakIssuer, RealmKey
from support.process import running

OK = grpc.StatusCode.OK
UNAUTHENTICATED = grpc.StatusCode.UNAUTHENTICATED
PERMISSION_DENIED = grpc.StatusCode.PERMISSION_DENIED
UNAVAILABLE = grpc.StatusCode.UNAVAILABLE

# Every token a test sent, so the last test can check none of them was logged.
SENT_TOKENS: list[str] = []


def send(method, request, token: str | None, *extra: tuple[str, str], scheme: str = "Bearer") -> Outcome:
    if token:
        SENT_TOKENS.append(token)
    return invoke(method, request, metadata=bearer(token, *extra, scheme=scheme))


def assert_no_token_in(text: str, token: str | None) -> None:
    """Neither the token nor any of its parts (header, claims, signature) appear in `text`.
    Strings shorter than 8 characters prove nothing (they turn up in any hex id or timestamp),
    so every token the tests send is longer."""
    if token:
        assert len(token) >= 8, f"a test token too short to look for: {token!r}"
        assert token not in text
        for part in token.split("."):
            if len(part) >= 8:
                assert part not in text


def create_request() -> pb.CreateProcessInstanceRequest:
    return pb.CreateProcessInstanceRequest(bpmnProcessId="order-process", version=-1, variables='{"orderId": 42}')


# -- allowed --------------------------------------------------------------------------------


def test_write_all_allows_topology(zeebe, issuer: KeycloakIssuer, gateway: StubGateway) -> None:
    outcome = send(zeebe.Topology, pb.TopologyRequest(), issuer.mint(["write:*"]))
    assert outcome.code == OK, outcome
    assert outcome.response.gatewayVersion == "8.4.13"
    assert gateway.last_call().rpc == "Topology"


def test_write_all_allows_create_process_instance(zeebe, issuer: KeycloakIssuer, gateway: StubGateway) -> None:
    outcome = send(zeebe.CreateProcessInstance, create_request(), issuer.mint(["write:*"]))
    assert outcome.code == OK, outcome
    assert outcome.response.bpmnProcessId == "order-process"
    assert gateway.last_call().rpc == "CreateProcessInstance"


def test_write_all_allows_activate_jobs_stream(zeebe, issuer: KeycloakIssuer) -> None:
    request = pb.ActivateJobsRequest(type="payment", worker="e2e-worker", timeout=30000, maxJobsToActivate=1)
    outcome = send(zeebe.ActivateJobs, request, issuer.mint(["write:*"]))
    assert outcome.code == OK, outcome
    assert [job.type for response in outcome.response for job in response.jobs] == ["payment"]


def test_read_all_allows_topology(zeebe, issuer: KeycloakIssuer) -> None:
    outcome = send(zeebe.Topology, pb.TopologyRequest(), issuer.mint(["read:*"]))
    assert outcome.code == OK, outcome


def test_permission_named_after_an_rpc_allows_that_rpc(zeebe, issuer: KeycloakIssuer) -> None:
    outcome = send(zeebe.CreateProcessInstance, create_request(), issuer.mint(["CreateProcessInstance"]))
    assert outcome.code == OK, outcome


def test_audience_array_is_accepted(zeebe, issuer: KeycloakIssuer) -> None:
    token = issuer.mint(["write:*"], audience=["zeebe-api", "account"])
    assert send(zeebe.Topology, pb.TopologyRequest(), token).code == OK


def test_bearer_scheme_is_case_insensitive(zeebe, issuer: KeycloakIssuer) -> None:
    outcome = send(zeebe.Topology, pb.TopologyRequest(), issuer.mint(["read:*"]), scheme="bearer")
    assert outcome.code == OK, outcome


def test_identity_headers_reach_the_gateway_and_overwrite_smuggled_ones(
    zeebe, issuer: KeycloakIssuer, gateway: StubGateway
) -> None:
    """The default (`identity_headers.send: subject`): the subject overwrites a smuggled one, and
    the client id and realm a client sent are removed, not passed on."""
    claims = issuer.claims(["write:*"], client_id="billing-worker")
    outcome = send(
        zeebe.Topology,
        pb.TopologyRequest(),
        issuer.mint(claims=claims),
        ("x-zeebe-authz-subject", "smuggled"),
        ("x-zeebe-authz-client-id", "smuggled"),
        ("x-zeebe-authz-realm", "smuggled"),
    )
    assert outcome.code == OK, outcome
    call = gateway.last_call()
    assert call.values("x-zeebe-authz-subject") == [claims["sub"]]
    assert call.values("x-zeebe-authz-client-id") == []
    assert call.values("x-zeebe-authz-realm") == []


# -- UNAUTHENTICATED: no valid token --------------------------------------------------------


def _foreign_key_same_kid(issuer: KeycloakIssuer) -> str:
    return issuer.mint(["write:*"], key=RealmKey(kid="attacker"), kid=issuer.signing_key.kid)


BAD_TOKENS: dict[str, Callable[[KeycloakIssuer], str | None]] = {
    "no-token": lambda issuer: None,
    "bad-signature-same-kid": _foreign_key_same_kid,
    "unknown-kid": lambda issuer: issuer.mint(["write:*"], key=RealmKey(kid="not-in-jwks")),
    "signed-with-enc-key": lambda issuer: issuer.mint(["write:*"], key=issuer.encryption_key),
    "expired": lambda issuer: issuer.mint(["write:*"], lifetime=-600, iat=int(time.time()) - 900),
    "wrong-issuer": lambda issuer: issuer.mint(["write:*"], issuer="http://127.0.0.1:1/realms/other"),
    "wrong-audience": lambda issuer: issuer.mint(["write:*"], audience="operate-api"),
    "alg-none": lambda issuer: issuer.mint_unsigned(["write:*"]),
    "garbage": lambda issuer: "garbage-not-a-jwt",
}


@pytest.mark.parametrize("case", list(BAD_TOKENS))
def test_invalid_token_is_unauthenticated(zeebe, issuer: KeycloakIssuer, gateway: StubGateway, case: str) -> None:
    token = BAD_TOKENS[case](issuer)
    before = len(gateway.calls())
    outcome = send(zeebe.CreateProcessInstance, create_request(), token)
    assert outcome.code == UNAUTHENTICATED, outcome
    assert "token" in outcome.details.lower(), f"message should say what is wrong with the token: {outcome}"
    assert_no_token_in(outcome.details, token)
    assert len(gateway.calls()) == before, "a rejected call reached the gateway"


def test_expired_token_message_says_expired(zeebe, issuer: KeycloakIssuer) -> None:
    outcome = send(
        zeebe.Topology, pb.TopologyRequest(), issuer.mint(["write:*"], lifetime=-600, iat=int(time.time()) - 900)
    )
    assert outcome.code == UNAUTHENTICATED
    assert "expired" in outcome.details.lower(), outcome


# -- PERMISSION_DENIED: valid token, not allowed --------------------------------------------


def test_read_all_cannot_create_process_instance(zeebe, issuer: KeycloakIssuer, gateway: StubGateway) -> None:
    token = issuer.mint(["read:*"])
    before = len(gateway.calls())
    outcome = send(zeebe.CreateProcessInstance, create_request(), token)
    assert outcome.code == PERMISSION_DENIED, outcome
    assert "permission" in outcome.details.lower(), outcome
    assert "CreateProcessInstance" in outcome.details, f"message should name the rpc: {outcome}"
    assert_no_token_in(outcome.details, token)
    assert len(gateway.calls()) == before


def test_rpc_permission_grants_only_that_rpc(zeebe, issuer: KeycloakIssuer) -> None:
    outcome = send(zeebe.Topology, pb.TopologyRequest(), issuer.mint(["CreateProcessInstance"]))
    assert outcome.code == PERMISSION_DENIED, outcome
    assert "Topology" in outcome.details, outcome


def test_token_without_permissions_is_denied(zeebe, issuer: KeycloakIssuer) -> None:
    claims = issuer.claims([])
    del claims["permissions"]
    outcome = send(zeebe.Topology, pb.TopologyRequest(), issuer.mint(claims=claims))
    assert outcome.code == PERMISSION_DENIED, outcome


def test_unknown_rpc_is_denied(channel: grpc.Channel, issuer: KeycloakIssuer, gateway: StubGateway) -> None:
    before = len(gateway.calls())
    method = raw_unary(channel, "/gateway_protocol.Gateway/NoSuchRpc")
    outcome = send(method, b"", issuer.mint(["write:*"]))
    assert outcome.code == PERMISSION_DENIED, outcome
    assert "NoSuchRpc" in outcome.details, outcome
    assert len(gateway.calls()) == before


def test_grpc_message_is_percent_encoded_end_to_end(channel: grpc.Channel, issuer: KeycloakIssuer) -> None:
    # The rpc name is echoed in the message; a literal "%25" must survive the authorizer's
    # encoding and the client's decoding unchanged.
    outcome = send(raw_unary(channel, "/gateway_protocol.Gateway/No%25Rpc"), b"", issuer.mint(["write:*"]))
    assert outcome.code == PERMISSION_DENIED, outcome
    assert "No%25Rpc" in outcome.details, outcome


def test_other_service_is_denied(channel: grpc.Channel, issuer: KeycloakIssuer, gateway: StubGateway) -> None:
    before = len(gateway.calls())
    method = raw_unary(channel, "/grpc.health.v1.Health/Check")
    outcome = send(method, b"", issuer.mint(["write:*"]))
    assert outcome.code == PERMISSION_DENIED, outcome
    assert len(gateway.calls()) == before


# -- UNAVAILABLE: the realm's keys cannot be had ---------------------------------------------


@pytest.fixture(scope="module")
def keyless_authz(workdir: Path) -> Iterator[Authz]:
    """An authorizer whose issuer is a closed loopback port: it starts, but never gets keys."""
    dead_issuer = f"http://127.0.0.1:{closed_loopback_port()}/realms/camunda"
    proc = Authz(workdir / "keyless", config_yaml(dead_issuer), name="zeebe-authz-keyless")
    proc.issuer_url = dead_issuer
    with running(proc, lambda p: p.start().wait_status("/healthz", 200)):
        yield proc


@pytest.fixture(scope="module")
def keyless_zeebe(workdir: Path, gateway: StubGateway, keyless_authz: Authz):
    proxy = Envoy(workdir / "keyless-envoy", gateway.address, keyless_authz.check_addr, name="envoy-keyless")
    with running(proxy), grpc.insecure_channel(proxy.address) as channel:
        yield gateway_pb2_grpc.GatewayStub(channel)


def test_authorizer_without_keys_is_not_ready(keyless_authz: Authz) -> None:
    assert keyless_authz.admin_status("/healthz") == 200
    assert keyless_authz.admin_status("/readyz") == 503


def test_authorizer_without_keys_answers_unavailable(
    keyless_zeebe, keyless_authz: Authz, issuer: KeycloakIssuer, gateway: StubGateway
) -> None:
    # A token of the realm's own (unreachable) issuer: its key may exist, so retry (14). A
    # token of any other issuer is refused as such (16) without a fetch.
    token = issuer.mint(["write:*"], issuer=keyless_authz.issuer_url)
    before = len(gateway.calls())
    outcome = send(keyless_zeebe.Topology, pb.TopologyRequest(), token)
    assert outcome.code == UNAVAILABLE, outcome
    # Envoy's own fail-closed path (status_on_error) carries no message: a message shows the
    # authorizer itself answered, as a deny, that it has no keys.
    assert "unavailable" in outcome.details.lower(), outcome
    assert_no_token_in(outcome.details, token)
    assert len(gateway.calls()) == before


# -- what the authorizer said ----------------------------------------------------------------


def test_ready_authorizer_reports_healthy_and_ready(authz: Authz) -> None:
    assert authz.admin_status("/healthz") == 200
    assert authz.admin_status("/readyz") == 200


def test_authorizer_fetched_the_realm_keys(authz: Authz, issuer: KeycloakIssuer) -> None:
    assert "/realms/camunda/protocol/openid-connect/certs" in issuer.requests


def test_no_token_was_ever_logged(authz: Authz, envoy: Envoy) -> None:
    """Runs last in this module: every token the tests above sent, against every log line."""
    assert SENT_TOKENS, "no token was sent before this test"
    logs = authz.log() + "\n" + envoy.log()
    for token in SENT_TOKENS:
        assert_no_token_in(logs, token)
