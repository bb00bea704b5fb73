"""Both doors, one decision: every rpc and its REST twin (Camunda 8.8's Orchestration Cluster
API under `/v2`) get the same answer for the same token and the same logical request, through
Envoy 1.40: gRPC through the gRPC listener (Camunda's zeebe-grpc stubs), REST through the REST
listener, over HTTP/1.1 and over HTTP/2 (h2c, prior knowledge).

Two matrices, each parametrized over caller × logical request:

- the dev tokens of `serve --dev` (write, read, tenant, worker, no token, a token of no
  realm) with `policies/dev.yaml`;
- Keycloak-shaped tokens whose owners come from claims, with the Camunda 8.8 dialect policy of
  tests/data/camunda-dialect.yaml (the engine's authorizations, checked at the edge).

"The same decision" is read where both doors write it alike: the ext_authz dynamic metadata in
Envoy's access log (`reason`: `allowed`, `missing_permission`, `condition_failed`, …; both
authorizers run with `dynamic_metadata.send: all`). On top of that each door must show it as
its clients understand it: gRPC status OK / PERMISSION_DENIED / UNAUTHENTICATED, HTTP 2xx / 403
/ 401 with an `application/problem+json` body; an allowed call reached its gateway stub and a
denied one reached nothing.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc
import pytest
from zeebe_grpc import gateway_pb2 as pb
from zeebe_grpc import gateway_pb2_grpc

from support import rest_client
from support.authz import REPO_ROOT, Authz, config_yaml
from support.calls import DECISION_SUFFIX, Outcome, bearer, invoke
from support.dev_server import DevServer
from support.envoy import Envoy
from support.gateway import StubGateway
from support.issuer import KeycloakIssuer
from support.process import running
from support.rest_gateway import StubRestGateway

DIALECT_POLICY = REPO_ROOT / "tests" / "data" / "camunda-dialect.yaml"
KEY = 2251799813685400
DEFINITION_KEY = 2251799813685249
BOUNDARY = "zeebe-authz-e2e"
# gRPC status ↔ HTTP status of a deny, as Envoy maps one to the other.
GRPC_TO_HTTP = {
    grpc.StatusCode.PERMISSION_DENIED: 403,
    grpc.StatusCode.UNAUTHENTICATED: 401,
    grpc.StatusCode.UNAVAILABLE: 503,
}


@dataclass(frozen=True)
class Twin:
    """One logical request, as an rpc and as its REST twin."""

    rpc: str
    request: Any
    method: str
    path: str
    body: Any = None
    # A non-JSON body (multipart), with its content-type.
    raw_body: bytes | None = None
    content_type: str | None = None


def start(process: str = "order-process", tenant: str = "", *, result: bool = False) -> Twin:
    grpc_start = pb.CreateProcessInstanceRequest(bpmnProcessId=process, version=-1, tenantId=tenant)
    body: dict[str, Any] = {"processDefinitionId": process}
    if tenant:
        body["tenantId"] = tenant
    if result:
        body["awaitCompletion"] = True
        return Twin(
            "CreateProcessInstanceWithResult",
            pb.CreateProcessInstanceWithResultRequest(request=grpc_start),
            "POST",
            "/v2/process-instances",
            body,
        )
    return Twin("CreateProcessInstance", grpc_start, "POST", "/v2/process-instances", body)


def activate(job_type: str, tenants: tuple[str, ...] = ()) -> Twin:
    body: dict[str, Any] = {"type": job_type, "worker": "e2e", "timeout": 30_000, "maxJobsToActivate": 1}
    if tenants:
        body["tenantIds"] = list(tenants)
    request = pb.ActivateJobsRequest(
        type=job_type, worker="e2e", timeout=30_000, maxJobsToActivate=1, tenantIds=list(tenants)
    )
    return Twin("ActivateJobs", request, "POST", "/v2/jobs/activation", body)


def publish(name: str, tenant: str = "") -> Twin:
    body: dict[str, Any] = {"name": name, "correlationKey": "42", "timeToLive": 60_000}
    if tenant:
        body["tenantId"] = tenant
    request = pb.PublishMessageRequest(name=name, correlationKey="42", timeToLive=60_000, tenantId=tenant)
    return Twin("PublishMessage", request, "POST", "/v2/messages/publication", body)


def deploy(tenant: str = "") -> Twin:
    parts = [
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="resources"; filename="order-process.bpmn"\r\n'
        "Content-Type: application/octet-stream\r\n\r\n<definitions/>\r\n"
    ]
    if tenant:
        parts.append(f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="tenantId"\r\n\r\n{tenant}\r\n')
    raw = ("".join(parts) + f"--{BOUNDARY}--\r\n").encode()
    request = pb.DeployResourceRequest(
        resources=[pb.Resource(name="order-process.bpmn", content=b"<definitions/>")], tenantId=tenant
    )
    return Twin(
        "DeployResource",
        request,
        "POST",
        "/v2/deployments",
        raw_body=raw,
        content_type=f"multipart/form-data; boundary={BOUNDARY}",
    )


# Every rpc with a REST twin in Camunda 8.8, with the conditions' members set and unset.
TWINS: dict[str, Twin] = {
    "topology": Twin("Topology", pb.TopologyRequest(), "GET", "/v2/topology"),
    "start order-process": start(),
    "start order-process in tenant-a": start(tenant="tenant-a"),
    "start order-process in tenant-b": start(tenant="tenant-b"),
    "start invoice": start("invoice"),
    "start order-process with result": start(result=True),
    "start by key only": Twin(
        "CreateProcessInstance",
        pb.CreateProcessInstanceRequest(processDefinitionKey=DEFINITION_KEY),
        "POST",
        "/v2/process-instances",
        {"processDefinitionKey": str(DEFINITION_KEY)},
    ),
    "deploy": deploy(),
    "deploy in tenant-a": deploy("tenant-a"),
    "cancel an instance": Twin(
        "CancelProcessInstance",
        pb.CancelProcessInstanceRequest(processInstanceKey=KEY),
        "POST",
        f"/v2/process-instances/{KEY}/cancellation",
        {},
    ),
    "modify an instance": Twin(
        "ModifyProcessInstance",
        pb.ModifyProcessInstanceRequest(processInstanceKey=KEY),
        "POST",
        f"/v2/process-instances/{KEY}/modification",
        {},
    ),
    "migrate an instance": Twin(
        "MigrateProcessInstance",
        pb.MigrateProcessInstanceRequest(
            processInstanceKey=KEY,
            migrationPlan=pb.MigrateProcessInstanceRequest.MigrationPlan(targetProcessDefinitionKey=DEFINITION_KEY),
        ),
        "POST",
        f"/v2/process-instances/{KEY}/migration",
        {"targetProcessDefinitionKey": str(DEFINITION_KEY), "mappingInstructions": []},
    ),
    "activate payment": activate("payment"),
    "activate payment-eu in tenant-a": activate("payment-eu", ("tenant-a",)),
    "activate payment in tenant-b": activate("payment", ("tenant-b",)),
    "activate shipping": activate("shipping"),
    "complete a job": Twin(
        "CompleteJob", pb.CompleteJobRequest(jobKey=KEY), "POST", f"/v2/jobs/{KEY}/completion", {}
    ),
    "fail a job": Twin(
        "FailJob",
        pb.FailJobRequest(jobKey=KEY, retries=1, errorMessage="no stock"),
        "POST",
        f"/v2/jobs/{KEY}/failure",
        {"retries": 1, "errorMessage": "no stock"},
    ),
    "throw a job error": Twin(
        "ThrowError",
        pb.ThrowErrorRequest(jobKey=KEY, errorCode="NO_STOCK"),
        "POST",
        f"/v2/jobs/{KEY}/error",
        {"errorCode": "NO_STOCK"},
    ),
    "update job retries": Twin(
        "UpdateJobRetries",
        pb.UpdateJobRetriesRequest(jobKey=KEY, retries=3),
        "PATCH",
        f"/v2/jobs/{KEY}",
        {"changeset": {"retries": 3}},
    ),
    "update job timeout": Twin(
        "UpdateJobTimeout",
        pb.UpdateJobTimeoutRequest(jobKey=KEY, timeout=60_000),
        "PATCH",
        f"/v2/jobs/{KEY}",
        {"changeset": {"timeout": 60_000}},
    ),
    "publish order-paid": publish("order-paid"),
    "publish invoice-paid": publish("invoice-paid"),
    "publish order-paid in tenant-b": publish("order-paid", "tenant-b"),
    "broadcast a signal": Twin(
        "BroadcastSignal", pb.BroadcastSignalRequest(signalName="go"), "POST", "/v2/signals/broadcast", {"signalName": "go"}
    ),
    "resolve an incident": Twin(
        "ResolveIncident", pb.ResolveIncidentRequest(incidentKey=KEY), "POST", f"/v2/incidents/{KEY}/resolution", {}
    ),
    "set variables": Twin(
        "SetVariables",
        pb.SetVariablesRequest(elementInstanceKey=KEY, variables='{"paid": true}'),
        "PUT",
        f"/v2/element-instances/{KEY}/variables",
        {"variables": {"paid": True}},
    ),
    "evaluate a decision": Twin(
        "EvaluateDecision",
        pb.EvaluateDecisionRequest(decisionId="discount"),
        "POST",
        "/v2/decision-definitions/evaluation",
        {"decisionDefinitionId": "discount"},
    ),
    "delete a resource": Twin(
        "DeleteResource", pb.DeleteResourceRequest(resourceKey=KEY), "POST", f"/v2/resources/{KEY}/deletion", {}
    ),
}


@dataclass
class Doors:
    """One authorizer behind one Envoy with both listeners, and the two gateway stubs."""

    envoy: Envoy
    grpc_gateway: StubGateway
    rest_gateway: StubRestGateway
    tokens: dict[str, str | None]


@dataclass(frozen=True)
class Answer:
    """One door's answer: the decision as the access log has it, and what the client saw."""

    door: str
    reason: str
    # gRPC: the status name; REST: the HTTP status.
    status: str
    # What reached the door's gateway stub.
    reached: int
    detail: str = ""

    def __str__(self) -> str:
        return f"{self.door}: reason {self.reason}, {self.status}, reached {self.reached} {self.detail[:160]!r}"


def grpc_answer(doors: Doors, stub: gateway_pb2_grpc.GatewayStub, twin: Twin, token: str | None) -> tuple[str, Outcome, int]:
    rid = str(uuid.uuid4())
    before = len(doors.grpc_gateway.calls())
    outcome = invoke(getattr(stub, twin.rpc), twin.request, metadata=bearer(token, ("x-request-id", rid)))
    return rid, outcome, len(doors.grpc_gateway.calls()) - before


def rest_answer(doors: Doors, twin: Twin, token: str | None, http2: bool) -> tuple[str, rest_client.RestOutcome, int]:
    rid = str(uuid.uuid4())
    headers: tuple[tuple[str, str], ...] = (("x-request-id", rid),)
    if twin.content_type:
        headers += (("content-type", twin.content_type),)
    before = len(doors.rest_gateway.calls())
    outcome = rest_client.call(
        doors.envoy.rest_address,
        twin.method,
        twin.path,
        twin.body,
        token=token,
        http2=http2,
        headers=headers,
        raw_body=twin.raw_body,
    )
    return rid, outcome, len(doors.rest_gateway.calls()) - before


@dataclass
class Seen:
    """What one logical request saw on each door: (request id, outcome, calls that reached the
    door's gateway stub)."""

    grpc: tuple[str, Outcome, int]
    rest: dict[str, tuple[str, rest_client.RestOutcome, int]]
    # Each request id's `reason` in Envoy's access log.
    reasons: dict[str, str] = field(default_factory=dict)


def call_both_doors(
    doors: Doors, stub: gateway_pb2_grpc.GatewayStub, callers: tuple[str, ...]
) -> dict[tuple[str, str], Seen]:
    """Every (caller, case): the rpc over gRPC, and its twin over REST/1.1 and REST/2, one
    after the other; then the decisions, read off the access log once for all of them."""
    seen: dict[tuple[str, str], Seen] = {}
    for caller in callers:
        token = doors.tokens[caller]
        for case, twin in TWINS.items():
            seen[caller, case] = Seen(
                grpc_answer(doors, stub, twin, token),
                {f"rest/{'2' if h2 else '1.1'}": rest_answer(doors, twin, token, h2) for h2 in (False, True)},
            )
    ids = {rid for s in seen.values() for rid in [s.grpc[0], *(r[0] for r in s.rest.values())]}
    entries = doors.envoy.wait_access_log(
        lambda entries: {e.get("request_id") for e in entries} >= ids, f"{len(ids)} requests", timeout=60
    )
    reasons = {e["request_id"]: e.get("reason", "-") for e in entries if e.get("request_id") in ids}
    for s in seen.values():
        s.reasons = reasons
    return seen


# A REST deny of a failed condition names the endpoint where the gRPC one names the rpc.
REST_ENDPOINT = re.compile(r"^zeebe-authz: (?:GET|POST|PUT|PATCH|DELETE) /\S+?: ")
# The engine's id list of a missing permission, which the authorizer reads from protobuf bodies
# only: on REST those words name no id.
ENGINE_IDS = re.compile(r", required resource identifiers are one of '\[[^\]]*\]'$")


def rest_words(detail: str, rpc: str) -> str:
    return REST_ENDPOINT.sub(f"zeebe-authz: {rpc}: ", DECISION_SUFFIX.sub("", detail))


def judge_both_doors(seen: Seen, caller: str, case: str) -> None:
    """One decision on gRPC, REST/1.1 and REST/2, each door saying it as its clients understand it."""
    __tracebackhide__ = True
    rpc = TWINS[case].rpc
    g_rid, g_out, g_reached = seen.grpc
    answers = [Answer("grpc", seen.reasons[g_rid], g_out.code.name, g_reached, g_out.details)]
    for door, (rid, out, reached) in seen.rest.items():
        detail = ""
        if out.status >= 400 and out.body:
            detail = json.dumps(out.json)
        answers.append(Answer(door, seen.reasons[rid], str(out.status), reached, detail))
    table = "\n  ".join(str(a) for a in answers)

    # One decision on every door.
    assert len({a.reason for a in answers}) == 1, f"{caller} / {case}: the doors decided differently:\n  {table}"
    decided = answers[0].reason
    assert decided not in ("", "-"), f"{caller} / {case}: no decision in the access log:\n  {table}"
    # Each door shows it as its clients understand it.
    if decided == "allowed":
        assert g_out.code not in GRPC_TO_HTTP, table
        for door, (_, out, reached) in seen.rest.items():
            assert out.status < 400 and reached == 1, f"{door}: {out}\n  {table}"
    else:
        assert g_out.code in GRPC_TO_HTTP and g_reached == 0, table
        for door, (_, out, reached) in seen.rest.items():
            assert out.status == GRPC_TO_HTTP[g_out.code] and reached == 0, f"{door}: {out}\n  {table}"
            problem = out.problem
            assert problem.get("status") == out.status, f"{door}: {problem}"
            # The same words as the gRPC deny message (each with its own decision id).
            said, g_said = rest_words(str(problem.get("detail", "")), rpc), DECISION_SUFFIX.sub("", g_out.details)
            assert said in (g_said, ENGINE_IDS.sub("", g_said)), (
                f"{door}: problem detail {problem.get('detail')!r} vs gRPC {g_out.details!r}"
            )
            if out.status == 401:
                assert (out.header("www-authenticate") or "").startswith("Bearer"), f"{door}: {out.headers}"


def _doors(workdir: Path, name: str, check_addr: str, tokens: dict[str, str | None]) -> Iterator[Doors]:
    grpc_gateway = StubGateway().start()
    rest_gateway = StubRestGateway().start()
    try:
        envoy = Envoy(
            workdir / name,
            grpc_gateway.address,
            check_addr,
            name=f"envoy-{name}",
            access_log=True,
            rest_gateway_addr=rest_gateway.address,
        )
        with running(envoy):
            yield Doors(envoy, grpc_gateway, rest_gateway, tokens)
    finally:
        rest_gateway.stop()
        grpc_gateway.stop()


# -- the dev tokens with policies/dev.yaml ---------------------------------------------------

DEV_CALLERS = ("WRITE", "READ", "TENANT", "WORKER", "no token", "foreign token")


@pytest.fixture(scope="module")
def dev_doors(workdir: Path, issuer: KeycloakIssuer) -> Iterator[Doors]:
    dev = DevServer(workdir / "equivalence-dev", extra_args=("--dev-dynamic-metadata", "all"))
    with running(dev):
        tokens: dict[str, str | None] = {role: dev.export(f"ZEEBE_AUTHZ_{role}_TOKEN") for role in DEV_CALLERS[:4]}
        tokens["no token"] = None
        # A valid token of another issuer: wrong_issuer on both doors.
        tokens["foreign token"] = issuer.mint(claims=issuer.claims(["write:*"]))
        yield from _doors(workdir, "equivalence-dev", dev.check_addr, tokens)


@pytest.fixture(scope="module")
def dev_stub(dev_doors: Doors) -> Iterator[gateway_pb2_grpc.GatewayStub]:
    with grpc.insecure_channel(dev_doors.envoy.address) as channel:
        yield gateway_pb2_grpc.GatewayStub(channel)


@pytest.fixture(scope="module")
def dev_seen(dev_doors: Doors, dev_stub: gateway_pb2_grpc.GatewayStub) -> dict[tuple[str, str], Seen]:
    return call_both_doors(dev_doors, dev_stub, DEV_CALLERS)


@pytest.mark.parametrize("case", list(TWINS))
@pytest.mark.parametrize("caller", DEV_CALLERS)
def test_dev_tokens_decide_alike_on_both_doors(dev_seen: dict[tuple[str, str], Seen], caller: str, case: str) -> None:
    judge_both_doors(dev_seen[caller, case], caller, case)


# -- the Camunda 8.8 dialect -----------------------------------------------------------------

DIALECT_CALLERS = ("team", "worker", "bot", "admin", "nobody")


def owner_token(issuer: KeycloakIssuer, **claims: Any) -> str:
    base = issuer.claims([])
    base.update(claims)
    return issuer.mint(claims=base)


@pytest.fixture(scope="module")
def dialect_doors(workdir: Path, issuer: KeycloakIssuer) -> Iterator[Doors]:
    config = config_yaml(issuer.url, policy=DIALECT_POLICY, dynamic_metadata="all", engine_authorizations=True)
    authz = Authz(workdir / "equivalence-dialect", config, name="zeebe-authz-equivalence")
    tokens: dict[str, str | None] = {
        "team": owner_token(issuer, preferred_username="ann", groups=["staff", "payments"]),
        "worker": owner_token(issuer, client_id="payments-worker", preferred_username="service-account-payments-worker"),
        "bot": owner_token(issuer, preferred_username="order-bot"),
        "admin": owner_token(issuer, preferred_username="root", realm_access={"roles": ["zeebe-admin"]}),
        "nobody": owner_token(issuer, preferred_username="mallory", groups=["payment"]),
    }
    with running(authz, lambda p: p.start().wait_ready()):
        yield from _doors(workdir, "equivalence-dialect", authz.check_addr, tokens)


@pytest.fixture(scope="module")
def dialect_stub(dialect_doors: Doors) -> Iterator[gateway_pb2_grpc.GatewayStub]:
    with grpc.insecure_channel(dialect_doors.envoy.address) as channel:
        yield gateway_pb2_grpc.GatewayStub(channel)


@pytest.fixture(scope="module")
def dialect_seen(dialect_doors: Doors, dialect_stub: gateway_pb2_grpc.GatewayStub) -> dict[tuple[str, str], Seen]:
    return call_both_doors(dialect_doors, dialect_stub, DIALECT_CALLERS)


@pytest.mark.parametrize("case", list(TWINS))
@pytest.mark.parametrize("caller", DIALECT_CALLERS)
def test_dialect_decides_alike_on_both_doors(
    dialect_seen: dict[tuple[str, str], Seen], caller: str, case: str
) -> None:
    judge_both_doors(dialect_seen[caller, case], caller, case)


def test_matrix_covers_allows_and_each_deny_class(dev_seen: dict[tuple[str, str], Seen]) -> None:
    """The matrix is not all one answer: among the dev tokens' cases there are allows, missing
    permissions, failed conditions and refused tokens on the gRPC door (a matrix that only ever
    denied would pass the equality above trivially)."""
    reasons = {s.reasons[s.grpc[0]] for s in dev_seen.values()}
    assert {"allowed", "missing_permission", "condition_failed", "missing_token", "wrong_issuer"} <= reasons, reasons
