"""Envoy's side of the ext_authz contract, pinned with a scripted authorizer.

What a gRPC client sees depends on how Envoy 1.40 turns a CheckResponse into a local reply.
For a gRPC request Envoy answers trailers-only (HTTP 200, `content-type: application/grpc`):
`grpc-status` is `Grpc::Utility::httpToGrpcStatus(denied_response.status)` (400→13, 401→16,
403→7, 404→12, 429/502/503/504→14, anything else→2) unless the denied response set a
`grpc-status` header itself, which then wins; `grpc-message` is the denied response's body,
percent-encoded by Envoy, or, when the body is empty, a `grpc-message` header as given. The
CheckResponse's own `status.code` does not choose the client's status. The authorizer (src/) relies on exactly this, so these tests
fail if an Envoy upgrade changes it.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from zeebe_grpc import gateway_pb2 as pb
from zeebe_grpc import gateway_pb2_grpc

from support import fake_authz as fa
from support.calls import invoke
from support.envoy import Envoy, closed_loopback_port
from support.gateway import StubGateway
from support.process import running

SUBJECT = "x-zeebe-authz-subject"


@pytest.fixture(scope="module")
def fake() -> Iterator[fa.FakeAuthz]:
    server = fa.FakeAuthz().start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def fake_envoy(workdir: Path, gateway: StubGateway, fake: fa.FakeAuthz) -> Iterator[Envoy]:
    with running(Envoy(workdir / "contract", gateway.address, fake.address, name="envoy-fake-authz")) as proc:
        yield proc


@pytest.fixture(scope="module")
def client(fake_envoy: Envoy) -> Iterator[gateway_pb2_grpc.GatewayStub]:
    with grpc.insecure_channel(fake_envoy.address) as channel:
        yield gateway_pb2_grpc.GatewayStub(channel)


def topology(client: gateway_pb2_grpc.GatewayStub, *metadata: tuple[str, str]):
    return invoke(client.Topology, pb.TopologyRequest(), metadata=metadata)


@pytest.mark.parametrize(
    ("http_status", "expected"),
    [
        (401, grpc.StatusCode.UNAUTHENTICATED),
        (403, grpc.StatusCode.PERMISSION_DENIED),
        (503, grpc.StatusCode.UNAVAILABLE),
        (200, grpc.StatusCode.UNKNOWN),
    ],
)
def test_denied_http_status_becomes_grpc_status_and_body_becomes_message(
    fake: fa.FakeAuthz, client, http_status: int, expected: grpc.StatusCode
) -> None:
    fake.respond(fa.denied(http_status, "the reason"))
    outcome = topology(client)
    assert (outcome.code, outcome.details) == (expected, "the reason")


def test_grpc_message_survives_percent_encoding(fake: fa.FakeAuthz, client) -> None:
    reason = "100% denied: caller lacks 'write:*' — rpc CreateProcessInstance\nsecond line"
    fake.respond(fa.denied(403, reason))
    assert topology(client).details == reason


def test_grpc_status_header_overrides_the_http_mapping(fake: fa.FakeAuthz, client) -> None:
    fake.respond(fa.denied(403, "token expired", [fa.header_option("grpc-status", "16")]))
    outcome = topology(client)
    assert (outcome.code, outcome.details) == (grpc.StatusCode.UNAUTHENTICATED, "token expired")


def test_body_wins_over_a_grpc_message_header(fake: fa.FakeAuthz, client) -> None:
    fake.respond(fa.denied(403, "from body", [fa.header_option("grpc-message", "from header")]))
    assert topology(client).details == "from body"


def test_grpc_message_header_is_passed_as_is_when_body_is_empty(fake: fa.FakeAuthz, client) -> None:
    # Not percent-encoded by Envoy on this path: the authorizer would have to encode it.
    fake.respond(fa.denied(403, "", [fa.header_option("grpc-message", "50%25 off")]))
    assert topology(client).details == "50% off"


def test_check_status_code_alone_does_not_choose_the_client_status(fake: fa.FakeAuthz, client) -> None:
    # CheckResponse.status = 16 without a denied_response: Envoy's default 403 wins.
    fake.respond(fa.denied(None, rpc_code=16, with_denied_response=False))
    assert topology(client).code == grpc.StatusCode.PERMISSION_DENIED
    # A denied_response without an HTTP status is 403 too.
    fake.respond(fa.denied(None, "no status", rpc_code=16))
    assert topology(client).code == grpc.StatusCode.PERMISSION_DENIED


def test_an_authorizer_error_fails_closed_as_unavailable(fake: fa.FakeAuthz, client, gateway: StubGateway) -> None:
    # Why a deny must be a CheckResponse: a gRPC error is an outage (status_on_error 503).
    before = len(gateway.calls())
    fake.fail_with(grpc.StatusCode.UNAUTHENTICATED, "bad token")
    outcome = topology(client)
    assert (outcome.code, outcome.details) == (grpc.StatusCode.UNAVAILABLE, "")
    assert len(gateway.calls()) == before


@pytest.mark.parametrize(
    ("option", "expected"),
    [
        (fa.header_option(SUBJECT, "alice"), ["alice"]),
        (fa.header_option(SUBJECT, "alice", append=False), ["alice"]),
        (fa.header_option(SUBJECT, "alice", append_action=fa.OVERWRITE_IF_EXISTS_OR_ADD), ["alice"]),
        # The one setting that lets a client's own value through: never use it.
        (fa.header_option(SUBJECT, "alice", append=True), ["smuggled,alice"]),
    ],
    ids=["default", "append-false", "overwrite-if-exists-or-add", "append-true"],
)
def test_allowed_headers_overwrite_client_values(
    fake: fa.FakeAuthz, client, gateway: StubGateway, option: bytes, expected: list[str]
) -> None:
    fake.respond(fa.allowed([option]))
    outcome = topology(client, (SUBJECT, "smuggled"))
    assert outcome.code == grpc.StatusCode.OK
    assert gateway.last_call().values(SUBJECT) == expected


def test_check_request_carries_the_grpc_frame(fake: fa.FakeAuthz, client) -> None:
    fake.respond(fa.allowed())
    request = pb.CreateProcessInstanceRequest(bpmnProcessId="order-process", tenantId="tenant-a", version=-1)
    assert invoke(client.CreateProcessInstance, request).code == grpc.StatusCode.OK
    message = request.SerializeToString()
    frame = b"\x00" + struct.pack(">I", len(message)) + message
    # with_request_body.pack_as_bytes: the frame travels verbatim in attributes.request.http.raw_body.
    assert frame in fake.requests[-1]


def test_unreachable_authorizer_is_unavailable(workdir: Path, gateway: StubGateway) -> None:
    nowhere = f"127.0.0.1:{closed_loopback_port()}"
    proxy = Envoy(workdir / "nowhere", gateway.address, nowhere, name="envoy-no-authz")
    with running(proxy), grpc.insecure_channel(proxy.address) as channel:
        before = len(gateway.calls())
        outcome = topology(gateway_pb2_grpc.GatewayStub(channel))
    assert outcome.code == grpc.StatusCode.UNAVAILABLE
    assert len(gateway.calls()) == before
