"""Conditions on what is inside the call (tenants, job types), decided on the gRPC body that
Envoy forwards, end to end: Camunda's zeebe-grpc 8.4 stubs → Envoy 1.40 → zeebe-authz → the
grpc-java stub gateway (tests/e2e/java/gateway-stub: the gateway's own grpc-java and
protobuf-java, so what "reached the gateway" is what grpc-java decoded after its own
decompression; test_gateway_judge.py replays these bodies and more, byte by byte).

The authorizer here runs `policies/dev.yaml` with `tenants_claim: tenants`:
- `tenant:write` grants every rpc, but on an rpc that carries a tenant every tenant of the
  request must be one the token holds (an empty tenant id is `<default>`);
- `worker:payment` grants the job rpcs, activating only job types matching `payment*`;
- `write:*` grants every rpc without conditions, so its calls never need the body.

Envoy forwards the body as in the sidecar we ship (`with_request_body`: max_request_bytes
64 KiB, allow_partial_message, pack_as_bytes). What Envoy 1.40 does with it is pinned at the
end of this file with a scripted authorizer, and two findings shape the tests above them:

- A gzip call reaches the authorizer still compressed (flag 1, `grpc-encoding: gzip`), and
  the authorizer inflates it. But grpc only compresses a message when that makes it smaller:
  a small message goes out with flag 0 under the same `grpc-encoding: gzip` header. So the
  gzip tests send a compressible request, and the authorizer must read the frame's flag,
  never the header alone.
- A body larger than max_request_bytes reaches the authorizer cut. Envoy flags it with
  `x-envoy-auth-partial-body: true` only when it had buffered *more* than max_request_bytes
  when it stopped; it stops at the first HTTP/2 DATA frame that fills the buffer, and those
  frames are 16 KiB, so with the 64 KiB we ship (a multiple of 16 KiB) a cut body arrives
  flagged `false`. The authorizer still denies it, from the frame's own length (the header
  announces more bytes than arrived), with a "truncated gRPC frame" reason; a second Envoy
  with max_request_bytes 65000 shows the flagged path and its "raise max_request_bytes"
  reason. Either way a partial body is denied whatever its tenant: a decision is never
  guessed from part of a message. Only grants with conditions read the body: `write:*`
  passes a 100 KiB call.

EvaluateConditional (8.9) does not exist in the zeebe-grpc 8.4 stubs, so it is not called
here; the Rust integration tests cover it.
"""

from __future__ import annotations

import contextlib
import gzip
import json
import struct
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest
from zeebe_grpc import gateway_pb2 as pb
from zeebe_grpc import gateway_pb2_grpc

from support import fake_authz as fa
from support.authz import DEV_POLICY, Authz, config_yaml
from support.calls import Outcome, bearer, invoke, raw_unary, reason_of
from support.envoy import MAX_REQUEST_BYTES, Envoy
from support.issuer import KeycloakIssuer
from support.java import JavaGateway
from support.process import running

OK = grpc.StatusCode.OK
PERMISSION_DENIED = grpc.StatusCode.PERMISSION_DENIED
GZIP = grpc.Compression.Gzip

HELD = "tenant-a"
OTHER = "tenant-b"
DEFAULT = "<default>"
# What the body-unavailable deny says when Envoy flagged the body as cut.
PARTIAL_BODY_REASON = (
    "cannot check the request's fields: the request body was truncated by Envoy "
    "(x-envoy-auth-partial-body); raise max_request_bytes"
)
# A JSON `variables` document of about 100 KiB: its frame is larger than max_request_bytes.
BIG_VARIABLES = json.dumps({"blob": "x" * (100 * 1024)})
# Not a multiple of HTTP/2's 16 KiB DATA frames: Envoy flags a body it cuts here as partial.
UNALIGNED_MAX_REQUEST_BYTES = 65_000
# What the authorizer says of a cut body Envoy did not flag (see the module doc).
TRUNCATED_FRAME_REASON = "cannot check the request's fields: truncated gRPC frame: header announces"

BPMN = b"""<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" id="d" targetNamespace="e2e">
  <bpmn:process id="order-process" isExecutable="true"><bpmn:startEvent id="start"/></bpmn:process>
</bpmn:definitions>
"""

# Every rpc of the 8.4 stubs that carries a tenant, with a request in a given tenant ("" is
# the default tenant: an empty tenantId, or no tenantIds at all for the job rpcs).
TENANT_RPCS: dict[str, Callable[[str], Any]] = {
    "CreateProcessInstance": lambda t: pb.CreateProcessInstanceRequest(
        bpmnProcessId="order-process", version=-1, variables='{"orderId": 42}', tenantId=t
    ),
    "CreateProcessInstanceWithResult": lambda t: pb.CreateProcessInstanceWithResultRequest(
        request=pb.CreateProcessInstanceRequest(bpmnProcessId="order-process", version=-1, tenantId=t),
        requestTimeout=10_000,
    ),
    "DeployResource": lambda t: pb.DeployResourceRequest(
        resources=[pb.Resource(name="order-process.bpmn", content=BPMN)], tenantId=t
    ),
    "PublishMessage": lambda t: pb.PublishMessageRequest(
        name="order-paid", correlationKey="42", timeToLive=60_000, tenantId=t
    ),
    "BroadcastSignal": lambda t: pb.BroadcastSignalRequest(signalName="cancel-orders", tenantId=t),
    "EvaluateDecision": lambda t: pb.EvaluateDecisionRequest(
        decisionId="discount", variables='{"total": 120}', tenantId=t
    ),
    "ActivateJobs": lambda t: pb.ActivateJobsRequest(
        type="payment", worker="e2e-worker", timeout=30_000, maxJobsToActivate=1, tenantIds=[t] if t else []
    ),
    "StreamActivatedJobs": lambda t: pb.StreamActivatedJobsRequest(
        type="payment", worker="e2e-worker", timeout=30_000, tenantIds=[t] if t else []
    ),
}


def tenants_seen_by_gateway(rpc: str, request: Any) -> list[str]:
    """The tenant ids of a request as the gateway decoded it (empty: the default tenant)."""
    if rpc == "CreateProcessInstanceWithResult":
        return [request.request.tenantId] if request.request.tenantId else []
    if rpc in ("ActivateJobs", "StreamActivatedJobs"):
        return list(request.tenantIds)
    return [request.tenantId] if request.tenantId else []


# -- the authorizer with conditions, behind its own Envoy -------------------------------------


@pytest.fixture(scope="module")
def gateway(workdir: Path) -> Iterator[JavaGateway]:
    """The grpc-java stub gateway, in place of the session's Python stub for this module."""
    with running(JavaGateway(workdir / "conditions-java-gateway")) as proc:
        yield proc


@pytest.fixture(scope="module")
def conditions_authz(workdir: Path, issuer: KeycloakIssuer) -> Iterator[Authz]:
    """zeebe-authz on the dev policy; the caller's tenants come from the `tenants` claim."""
    config = config_yaml(issuer.url, policy=DEV_POLICY, tenants_claim="tenants")
    proc = Authz(workdir / "conditions", config, name="zeebe-authz-conditions")
    with running(proc, lambda p: p.start().wait_ready()):
        yield proc


@pytest.fixture(scope="module")
def conditions_envoy(workdir: Path, gateway: JavaGateway, conditions_authz: Authz) -> Iterator[Envoy]:
    proxy = Envoy(workdir / "conditions-envoy", gateway.address, conditions_authz.check_addr, name="envoy-conditions")
    with running(proxy) as proc:
        yield proc


@pytest.fixture(scope="module")
def unaligned_client(workdir: Path, gateway: JavaGateway, conditions_authz: Authz):
    """The same authorizer behind an Envoy whose max_request_bytes is not a multiple of 16 KiB."""
    proxy = Envoy(
        workdir / "conditions-envoy-unaligned",
        gateway.address,
        conditions_authz.check_addr,
        name="envoy-conditions-unaligned",
        max_request_bytes=UNALIGNED_MAX_REQUEST_BYTES,
    )
    with running(proxy), grpc.insecure_channel(proxy.address) as channel:
        yield gateway_pb2_grpc.GatewayStub(channel)


@pytest.fixture(scope="module")
def body_channel(conditions_envoy: Envoy) -> Iterator[grpc.Channel]:
    with grpc.insecure_channel(conditions_envoy.address) as channel:
        yield channel


@pytest.fixture(scope="module")
def client(body_channel: grpc.Channel) -> gateway_pb2_grpc.GatewayStub:
    return gateway_pb2_grpc.GatewayStub(body_channel)


@pytest.fixture(scope="module")
def tenant_token(issuer: KeycloakIssuer) -> str:
    """Every rpc, only in tenant-a (the dev mode's ZEEBE_AUTHZ_TENANT_TOKEN)."""
    return issuer.mint(["tenant:write"], tenants=[HELD])


@pytest.fixture(scope="module")
def worker_token(issuer: KeycloakIssuer) -> str:
    """The job rpcs, job types `payment*` only (the dev mode's ZEEBE_AUTHZ_WORKER_TOKEN)."""
    return issuer.mint(["worker:payment"])


@pytest.fixture(scope="module")
def write_all_token(issuer: KeycloakIssuer) -> str:
    return issuer.mint(["write:*"])


class Call:
    """One call through Envoy, with what reached the stub gateway because of it."""

    def __init__(self, gateway: JavaGateway, rpc: str):
        self.gateway = gateway
        self.rpc = rpc
        self._before = len(gateway.calls_of(rpc))

    def reached(self) -> list[Any]:
        """The requests of this rpc that reached the gateway since the call was made, as
        grpc-java decoded them (as messages of the 8.4 stubs)."""
        return [call.message for call in self.gateway.calls_of(self.rpc)[self._before :]]


def call(
    client: gateway_pb2_grpc.GatewayStub,
    gateway: JavaGateway,
    rpc: str,
    request: Any,
    token: str,
    compression: grpc.Compression | None = None,
) -> tuple[Outcome, list[Any]]:
    """Calls `rpc` with `token`; returns the outcome and the requests that reached the gateway."""
    seen = Call(gateway, rpc)
    outcome = invoke(getattr(client, rpc), request, metadata=bearer(token), compression=compression)
    return outcome, seen.reached()


def assert_denied(outcome: Outcome, reached: list[Any], rpc: str, reason: str) -> None:
    """PERMISSION_DENIED with `zeebe-authz: <rpc>: <reason>`, and nothing reached the gateway."""
    assert outcome.code == PERMISSION_DENIED, outcome
    assert reason_of(outcome.details) == f"zeebe-authz: {rpc}: {reason}", outcome
    assert reached == [], f"a denied {rpc} reached the gateway"


def tenant_reason(tenant: str) -> str:
    return f"tenant '{tenant}' not allowed (token holds: {HELD})"


# -- the 8.4 stubs: which rpcs carry a tenant -------------------------------------------------


def _tenant_fields(message: Any) -> list[str]:
    fields = message.fields_by_name
    found = [name for name in ("tenantId", "tenantIds") if name in fields]
    nested = fields.get("request")
    if nested is not None and nested.message_type is not None:
        found += [f"request.{name}" for name in _tenant_fields(nested.message_type)]
    return found


def test_the_table_covers_every_tenant_carrying_rpc_of_the_8_4_stubs() -> None:
    service = pb.DESCRIPTOR.services_by_name["Gateway"]
    carrying = {m.name: _tenant_fields(m.input_type) for m in service.methods if _tenant_fields(m.input_type)}
    assert carrying == {
        "CreateProcessInstance": ["tenantId"],
        "CreateProcessInstanceWithResult": ["request.tenantId"],
        "DeployResource": ["tenantId"],
        "PublishMessage": ["tenantId"],
        "BroadcastSignal": ["tenantId"],
        "EvaluateDecision": ["tenantId"],
        "ActivateJobs": ["tenantIds"],
        "StreamActivatedJobs": ["tenantIds"],
    }
    assert set(carrying) == set(TENANT_RPCS)
    # 8.9's EvaluateConditional is not in the 8.4 stubs.
    assert "EvaluateConditional" not in service.methods_by_name


# -- tenant:write: allowed in the tenants the token holds, denied elsewhere --------------------


@pytest.mark.parametrize("rpc", list(TENANT_RPCS))
def test_tenant_token_is_allowed_in_its_tenant(client, gateway: JavaGateway, tenant_token: str, rpc: str) -> None:
    outcome, reached = call(client, gateway, rpc, TENANT_RPCS[rpc](HELD), tenant_token)
    assert outcome.code == OK, outcome
    assert [tenants_seen_by_gateway(rpc, r) for r in reached] == [[HELD]]


@pytest.mark.parametrize("tenant", [OTHER, ""], ids=["tenant-b", "default-tenant"])
@pytest.mark.parametrize("rpc", list(TENANT_RPCS))
def test_tenant_token_is_denied_in_another_tenant(
    client, gateway: JavaGateway, tenant_token: str, rpc: str, tenant: str
) -> None:
    outcome, reached = call(client, gateway, rpc, TENANT_RPCS[rpc](tenant), tenant_token)
    assert_denied(outcome, reached, rpc, tenant_reason(tenant or DEFAULT))


def test_default_tenant_by_its_name_is_denied_too(client, gateway: JavaGateway, tenant_token: str) -> None:
    rpc = "CreateProcessInstance"
    outcome, reached = call(client, gateway, rpc, TENANT_RPCS[rpc](DEFAULT), tenant_token)
    assert_denied(outcome, reached, rpc, tenant_reason(DEFAULT))


def test_deploy_process_always_deploys_to_the_default_tenant(client, gateway: JavaGateway, tenant_token: str) -> None:
    # The deprecated DeployProcess has no tenant field; Zeebe deploys it to <default>.
    request = pb.DeployProcessRequest(processes=[pb.ProcessRequestObject(name="order-process.bpmn", definition=BPMN)])
    outcome, reached = call(client, gateway, "DeployProcess", request, tenant_token)
    assert_denied(outcome, reached, "DeployProcess", tenant_reason(DEFAULT))


@pytest.mark.parametrize("rpc", ["ActivateJobs", "StreamActivatedJobs"])
def test_every_listed_tenant_must_be_held(client, gateway: JavaGateway, tenant_token: str, rpc: str) -> None:
    request = TENANT_RPCS[rpc](HELD)
    request.tenantIds.append(OTHER)
    outcome, reached = call(client, gateway, rpc, request, tenant_token)
    assert_denied(outcome, reached, rpc, tenant_reason(OTHER))


# Camunda 8.9's ActivateJobsRequest.tenantFilter (8) and StreamActivatedJobsRequest.tenantFilter
# (7): ASSIGNED (1) makes the gateway ignore tenantIds. The 8.4 stubs lack the field, so it is
# added as the bytes protobuf writes for it (a varint key, then the value), kept by the stub as an
# unknown field and sent as written.
TENANT_FILTER_FIELD = {"ActivateJobs": 8, "StreamActivatedJobs": 7}
TENANT_FILTER_REASON = (
    "cannot check the request's fields: member 'tenantFilter': not PROVIDED: "
    "the gateway would choose the tenants, unseen by the tenant condition"
)


@pytest.mark.parametrize("rpc", ["ActivateJobs", "StreamActivatedJobs"])
def test_an_assigned_tenant_filter_let_job_activation_pass_on_tenant_ids_the_gateway_ignores(
    client, gateway: JavaGateway, tenant_token: str, rpc: str
) -> None:
    held = TENANT_RPCS[rpc](HELD)
    key = bytes([TENANT_FILTER_FIELD[rpc] << 3])
    assigned = type(held).FromString(held.SerializeToString() + key + b"\x01")
    outcome, reached = call(client, gateway, rpc, assigned, tenant_token)
    assert_denied(outcome, reached, rpc, TENANT_FILTER_REASON)
    # PROVIDED written out (0) is the default: the tenant ids the condition saw are the ones used.
    provided = type(held).FromString(held.SerializeToString() + key + b"\x00")
    outcome, reached = call(client, gateway, rpc, provided, tenant_token)
    assert outcome.code == OK, outcome
    assert [list(r.tenantIds) for r in reached] == [[HELD]]


def test_a_token_holding_both_tenants_may_activate_in_both(
    client, gateway: JavaGateway, issuer: KeycloakIssuer
) -> None:
    request = TENANT_RPCS["ActivateJobs"](HELD)
    request.tenantIds.append(OTHER)
    token = issuer.mint(["tenant:write"], tenants=[HELD, OTHER])
    outcome, reached = call(client, gateway, "ActivateJobs", request, token)
    assert outcome.code == OK, outcome
    assert [list(r.tenantIds) for r in reached] == [[HELD, OTHER]]


def test_a_token_without_tenants_is_denied_everywhere(client, gateway: JavaGateway, issuer: KeycloakIssuer) -> None:
    rpc = "CreateProcessInstance"
    outcome, reached = call(client, gateway, rpc, TENANT_RPCS[rpc](HELD), issuer.mint(["tenant:write"]))
    assert_denied(outcome, reached, rpc, f"tenant '{HELD}' not allowed (token holds: none)")


@pytest.mark.parametrize(
    ("rpc", "request_"),
    [
        ("CompleteJob", pb.CompleteJobRequest(jobKey=2251799813685270, variables="{}")),
        ("CancelProcessInstance", pb.CancelProcessInstanceRequest(processInstanceKey=2251799813685251)),
        ("Topology", pb.TopologyRequest()),
    ],
    ids=["CompleteJob", "CancelProcessInstance", "Topology"],
)
def test_rpcs_without_a_tenant_are_left_to_the_broker(
    client, gateway: JavaGateway, tenant_token: str, rpc: str, request_: Any
) -> None:
    outcome, reached = call(client, gateway, rpc, request_, tenant_token)
    assert outcome.code == OK, outcome
    assert len(reached) == 1


# -- worker:payment: the job rpcs, job types payment* ------------------------------------------


@pytest.mark.parametrize("job_type", ["payment", "payment-refund"])
@pytest.mark.parametrize("rpc", ["ActivateJobs", "StreamActivatedJobs"])
def test_worker_may_activate_payment_jobs(
    client, gateway: JavaGateway, worker_token: str, rpc: str, job_type: str
) -> None:
    request = TENANT_RPCS[rpc]("")
    request.type = job_type
    outcome, reached = call(client, gateway, rpc, request, worker_token)
    assert outcome.code == OK, outcome
    assert [r.type for r in reached] == [job_type]
    jobs = [job for response in outcome.response for job in getattr(response, "jobs", [response])]
    assert [job.type for job in jobs] == [job_type]


@pytest.mark.parametrize("rpc", ["ActivateJobs", "StreamActivatedJobs"])
def test_worker_may_not_activate_other_job_types(client, gateway: JavaGateway, worker_token: str, rpc: str) -> None:
    request = TENANT_RPCS[rpc]("")
    request.type = "shipping"
    outcome, reached = call(client, gateway, rpc, request, worker_token)
    assert_denied(outcome, reached, rpc, "job type 'shipping' not allowed (allowed: payment*)")


def test_worker_may_complete_jobs(client, gateway: JavaGateway, worker_token: str) -> None:
    request = pb.CompleteJobRequest(jobKey=2251799813685270, variables='{"paid": true}')
    outcome, reached = call(client, gateway, "CompleteJob", request, worker_token)
    assert outcome.code == OK, outcome
    assert [r.jobKey for r in reached] == [2251799813685270]


def test_worker_may_not_create_process_instances(client, gateway: JavaGateway, worker_token: str) -> None:
    rpc = "CreateProcessInstance"
    outcome, reached = call(client, gateway, rpc, TENANT_RPCS[rpc](""), worker_token)
    assert outcome.code == PERMISSION_DENIED, outcome
    # The permissions that would grant it; tenant:write is one (its condition is on tenants).
    assert reason_of(outcome.details) == (
        f"zeebe-authz: {rpc} requires permission write:*, tenant:write, {rpc} in permissions.zeebe-api"
    ), outcome
    assert reached == []


# -- write:* needs no body ----------------------------------------------------------------------


@pytest.mark.parametrize("rpc", list(TENANT_RPCS))
def test_write_all_is_allowed_in_any_tenant(client, gateway: JavaGateway, write_all_token: str, rpc: str) -> None:
    outcome, reached = call(client, gateway, rpc, TENANT_RPCS[rpc](OTHER), write_all_token)
    assert outcome.code == OK, outcome
    assert [tenants_seen_by_gateway(rpc, r) for r in reached] == [[OTHER]]


def test_write_all_passes_a_call_larger_than_max_request_bytes(
    client, gateway: JavaGateway, write_all_token: str
) -> None:
    # Envoy still sends the authorizer only the first 64 KiB, flagged partial: a grant
    # without conditions never reads it.
    request = pb.CreateProcessInstanceRequest(bpmnProcessId="order-process", variables=BIG_VARIABLES, tenantId=OTHER)
    assert request.ByteSize() > MAX_REQUEST_BYTES
    outcome, reached = call(client, gateway, "CreateProcessInstance", request, write_all_token)
    assert outcome.code == OK, outcome
    assert [len(r.variables) for r in reached] == [len(BIG_VARIABLES)]


# -- gzip: decided on the inflated content ------------------------------------------------------


def compressible_request(tenant: str) -> pb.CreateProcessInstanceRequest:
    """A request that gzip shrinks (4 KiB of repetitive variables), so grpc really compresses it;
    `test_envoy_forwards_a_gzip_body_still_compressed` checks that it arrives with flag 1."""
    variables = json.dumps({"note": "paid in full " * 320})
    return pb.CreateProcessInstanceRequest(bpmnProcessId="order-process", variables=variables, tenantId=tenant)


@pytest.mark.parametrize(("tenant", "allowed"), [(HELD, True), (OTHER, False)], ids=["tenant-a", "tenant-b"])
def test_gzip_call_is_decided_on_its_content(
    client, gateway: JavaGateway, tenant_token: str, tenant: str, allowed: bool
) -> None:
    rpc = "CreateProcessInstance"
    outcome, reached = call(client, gateway, rpc, compressible_request(tenant), tenant_token, compression=GZIP)
    if allowed:
        assert outcome.code == OK, outcome
        assert [r.tenantId for r in reached] == [HELD]
    else:
        assert_denied(outcome, reached, rpc, tenant_reason(tenant))


@pytest.mark.parametrize(("tenant", "allowed"), [(HELD, True), (OTHER, False)], ids=["tenant-a", "tenant-b"])
def test_gzip_header_on_an_uncompressed_frame_is_decided_on_its_content(
    client, gateway: JavaGateway, tenant_token: str, tenant: str, allowed: bool
) -> None:
    # Too small to shrink: grpc sends flag 0 under `grpc-encoding: gzip`.
    rpc = "CreateProcessInstance"
    outcome, reached = call(client, gateway, rpc, TENANT_RPCS[rpc](tenant), tenant_token, compression=GZIP)
    if allowed:
        assert outcome.code == OK, outcome
        assert [r.tenantId for r in reached] == [HELD]
    else:
        assert_denied(outcome, reached, rpc, tenant_reason(tenant))


def test_gzip_lets_a_large_but_compressible_call_fit_in_max_request_bytes(
    client, gateway: JavaGateway, tenant_token: str
) -> None:
    # 100 KiB of variables compress to a few hundred bytes: Envoy buffers the compressed
    # frame whole, and the authorizer inflates it. Uncompressed, the same call is partial.
    request = pb.CreateProcessInstanceRequest(bpmnProcessId="order-process", variables=BIG_VARIABLES, tenantId=HELD)
    outcome, reached = call(client, gateway, "CreateProcessInstance", request, tenant_token, compression=GZIP)
    assert outcome.code == OK, outcome
    assert [(r.tenantId, len(r.variables)) for r in reached] == [(HELD, len(BIG_VARIABLES))]

    request.tenantId = OTHER
    outcome, reached = call(client, gateway, "CreateProcessInstance", request, tenant_token, compression=GZIP)
    assert_denied(outcome, reached, "CreateProcessInstance", tenant_reason(OTHER))


# -- a body larger than max_request_bytes: never allowed on a guess ------------------------------


def big_request(tenant: str) -> pb.CreateProcessInstanceRequest:
    request = pb.CreateProcessInstanceRequest(bpmnProcessId="order-process", variables=BIG_VARIABLES, tenantId=tenant)
    assert request.ByteSize() > MAX_REQUEST_BYTES
    return request


# Why tenant-a is denied too: the tenant id (field 6) follows the variables (field 4) on the
# wire, so it is not even in the part Envoy sent; and when a field does happen to be there, a
# decision on part of a message is a guess (a later occurrence of the field would win). Calls
# this large need a larger max_request_bytes, or compression.


@pytest.mark.parametrize("tenant", [OTHER, HELD], ids=["tenant-b", "tenant-a"])
def test_a_100_kib_call_is_denied_as_truncated_in_any_tenant(
    client, gateway: JavaGateway, tenant_token: str, tenant: str
) -> None:
    # With the shipped 64 KiB, Envoy does not flag the cut body (see the module doc): the
    # authorizer denies it from the frame length.
    outcome, reached = call(client, gateway, "CreateProcessInstance", big_request(tenant), tenant_token)
    assert outcome.code == PERMISSION_DENIED, outcome
    assert outcome.details.startswith(f"zeebe-authz: CreateProcessInstance: {TRUNCATED_FRAME_REASON}"), outcome
    assert f"{MAX_REQUEST_BYTES - 5} present" in outcome.details, outcome
    assert reached == []


@pytest.mark.parametrize("tenant", [OTHER, HELD], ids=["tenant-b", "tenant-a"])
def test_a_100_kib_call_flagged_partial_by_envoy_is_denied_in_any_tenant(
    unaligned_client, gateway: JavaGateway, tenant_token: str, tenant: str
) -> None:
    outcome, reached = call(unaligned_client, gateway, "CreateProcessInstance", big_request(tenant), tenant_token)
    assert_denied(outcome, reached, "CreateProcessInstance", PARTIAL_BODY_REASON)


def test_a_call_of_exactly_max_request_bytes_is_decided_on_its_content(
    client, gateway: JavaGateway, tenant_token: str
) -> None:
    request = pb.CreateProcessInstanceRequest(bpmnProcessId="order-process", tenantId=HELD)
    # Fill `variables` so that the whole gRPC frame (5-byte header + message) is 64 KiB exactly:
    # one more field byte (tag) and three length bytes come with it.
    request.variables = "x" * (MAX_REQUEST_BYTES - 5 - request.ByteSize() - 4)
    assert 5 + request.ByteSize() == MAX_REQUEST_BYTES
    outcome, reached = call(client, gateway, "CreateProcessInstance", request, tenant_token)
    assert outcome.code == OK, outcome
    assert [r.tenantId for r in reached] == [HELD]


# -- bodies a stub cannot make: the same field twice, garbage -----------------------------------


def test_last_occurrence_of_a_tenant_wins_as_in_the_gateway(
    body_channel: grpc.Channel, gateway: JavaGateway, tenant_token: str
) -> None:
    """Protobuf keeps the last value of a repeated singular field; so does the authorizer, so a
    body cannot show it one tenant and the gateway another."""
    method = raw_unary(body_channel, "/gateway_protocol.Gateway/CreateProcessInstance")

    def twice(first: str, last: str) -> bytes:
        return (
            pb.CreateProcessInstanceRequest(bpmnProcessId="order-process", tenantId=first).SerializeToString()
            + pb.CreateProcessInstanceRequest(tenantId=last).SerializeToString()
        )

    seen = Call(gateway, "CreateProcessInstance")
    outcome = invoke(method, twice(OTHER, HELD), metadata=bearer(tenant_token))
    assert outcome.code == OK, outcome
    assert pb.CreateProcessInstanceResponse.FromString(outcome.response).tenantId == HELD
    assert [r.tenantId for r in seen.reached()] == [HELD]

    seen = Call(gateway, "CreateProcessInstance")
    outcome = invoke(method, twice(HELD, OTHER), metadata=bearer(tenant_token))
    assert_denied(outcome, seen.reached(), "CreateProcessInstance", tenant_reason(OTHER))


def test_a_garbage_body_is_denied_with_a_reason(
    body_channel: grpc.Channel, gateway: JavaGateway, tenant_token: str
) -> None:
    method = raw_unary(body_channel, "/gateway_protocol.Gateway/CreateProcessInstance")
    seen = Call(gateway, "CreateProcessInstance")
    outcome = invoke(method, b"\x32\xff\xff\xff\x0f", metadata=bearer(tenant_token))  # tenantId, length 4 GiB
    assert outcome.code == PERMISSION_DENIED, outcome
    assert outcome.details.startswith(
        "zeebe-authz: CreateProcessInstance: cannot check the request's fields: malformed protobuf message"
    ), outcome
    assert seen.reached() == []


# -- what Envoy 1.40 forwards to the authorizer (pinned with a scripted authorizer) --------------


@pytest.fixture(scope="module")
def recorder() -> Iterator[fa.FakeAuthz]:
    server = fa.FakeAuthz().start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def recorded_clients(workdir: Path, gateway: JavaGateway, recorder: fa.FakeAuthz):
    """Two Envoys asking the recorder: one with the shipped max_request_bytes, one unaligned."""
    clients = {}
    with contextlib.ExitStack() as stack:
        for max_bytes in (MAX_REQUEST_BYTES, UNALIGNED_MAX_REQUEST_BYTES):
            proxy = Envoy(
                workdir / f"body-recorder-{max_bytes}",
                gateway.address,
                recorder.address,
                name=f"envoy-body-recorder-{max_bytes}",
                max_request_bytes=max_bytes,
            )
            stack.enter_context(running(proxy))
            channel = stack.enter_context(grpc.insecure_channel(proxy.address))
            clients[max_bytes] = gateway_pb2_grpc.GatewayStub(channel)
        yield clients


def seen_by_authorizer(
    recorder: fa.FakeAuthz, client, request: Any, compression: grpc.Compression | None = None
) -> fa.SeenHttpRequest:
    recorder.respond(fa.allowed())
    before = len(recorder.requests)
    outcome = invoke(client.CreateProcessInstance, request, compression=compression)
    assert outcome.code == OK, outcome
    assert len(recorder.requests) == before + 1
    return fa.read_http_request(recorder.requests[-1])


def frame(message: bytes, compressed: bool = False) -> bytes:
    return bytes([1 if compressed else 0]) + struct.pack(">I", len(message)) + message


def test_envoy_forwards_a_whole_body_flagged_not_partial(recorder: fa.FakeAuthz, recorded_clients) -> None:
    request = TENANT_RPCS["CreateProcessInstance"](HELD)
    seen = seen_by_authorizer(recorder, recorded_clients[MAX_REQUEST_BYTES], request)
    assert seen.raw_body == frame(request.SerializeToString())
    assert seen.headers.get("x-envoy-auth-partial-body") == "false"


@pytest.mark.parametrize(
    ("max_bytes", "flag"),
    [(MAX_REQUEST_BYTES, "false"), (UNALIGNED_MAX_REQUEST_BYTES, "true")],
    ids=["64KiB-unflagged", "65000-flagged"],
)
def test_envoy_cuts_a_large_body_at_max_request_bytes(
    recorder: fa.FakeAuthz, recorded_clients, max_bytes: int, flag: str
) -> None:
    """Envoy 1.40 flags a cut body only when it had buffered more than max_request_bytes; with
    16 KiB DATA frames and a multiple of 16 KiB it has buffered exactly that much."""
    request = big_request(OTHER)
    seen = seen_by_authorizer(recorder, recorded_clients[max_bytes], request)
    assert len(seen.raw_body) == max_bytes
    assert frame(request.SerializeToString()).startswith(seen.raw_body)
    assert seen.headers.get("x-envoy-auth-partial-body") == flag
    assert OTHER.encode() not in seen.raw_body  # tenantId (field 6) follows the variables (field 4)


def test_envoy_forwards_a_gzip_body_still_compressed(recorder: fa.FakeAuthz, recorded_clients) -> None:
    request = compressible_request(HELD)
    seen = seen_by_authorizer(recorder, recorded_clients[MAX_REQUEST_BYTES], request, compression=GZIP)
    assert seen.headers.get("grpc-encoding") == "gzip"
    assert seen.raw_body[0] == 1, "the frame's compressed-flag"
    (length,) = struct.unpack(">I", seen.raw_body[1:5])
    assert length == len(seen.raw_body) - 5 < request.ByteSize()
    assert gzip.decompress(seen.raw_body[5:]) == request.SerializeToString()


def test_grpc_sends_a_small_message_uncompressed_under_a_gzip_header(
    recorder: fa.FakeAuthz, recorded_clients
) -> None:
    request = TENANT_RPCS["CreateProcessInstance"](HELD)
    seen = seen_by_authorizer(recorder, recorded_clients[MAX_REQUEST_BYTES], request, compression=GZIP)
    assert seen.headers.get("grpc-encoding") == "gzip"
    assert seen.raw_body == frame(request.SerializeToString(), compressed=False)


# -- no token in what the authorizer logged -----------------------------------------------------


def test_denies_are_logged_with_their_reason_and_no_token(
    conditions_authz: Authz, tenant_token: str, worker_token: str
) -> None:
    """Runs after the calls above: the authorizer logged why it denied (tenant, job type), and
    none of the tokens, nor any part of one."""
    details = [
        event.get("fields", {}).get("detail", "")
        for event in conditions_authz.events()
        if event.get("fields", {}).get("message") == "Denied"
    ]
    assert f"CreateProcessInstance: {tenant_reason(OTHER)}" in details
    assert "ActivateJobs: job type 'shipping' not allowed (allowed: payment*)" in details
    log = conditions_authz.log()
    for token in (tenant_token, worker_token):
        for part in token.split("."):
            assert part not in log
