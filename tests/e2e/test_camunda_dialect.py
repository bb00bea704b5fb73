"""The Camunda dialect end to end: zeebe-authz running a policy written as Camunda 8.8
authorizations (tests/data/camunda-dialect.yaml), behind Envoy 1.40, in front of the stub
gateway.

- Camunda's zeebe-grpc stubs with Keycloak-shaped tokens whose owners come from claims (a
  group, a client id, a username, a mapping rule on a realm role): allowed calls reach the
  gateway; denied ones get PERMISSION_DENIED with the engine's words between zeebe-authz's
  prefix and the decision id (Envoy's x-request-id), and never reach it.
- Camunda's real clients against npm oidc-provider as the IdP, fetching their own tokens
  (RFC 9068: the client is named in `client_id`): zbctl and @camunda8/sdk as the
  `payments-worker` client, whose x-JOB_TYPE authorization pins its job types to `payment*`,
  see PERMISSION_DENIED, in the engine's words, for `shipping` and for a process they are not
  authorized to start. The SDK gzip-compresses every request, so those decisions are made on
  compressed bodies.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest
from zeebe_grpc import gateway_pb2 as pb
from zeebe_grpc import gateway_pb2_grpc

from support.authz import REPO_ROOT, Authz, config_yaml
from support.calls import Seen, allowed, assert_cases, bearer, decision_id, invoke, refused, through
from support.envoy import Envoy
from support.gateway import StubGateway
from support.issuer import KeycloakIssuer
from support.node_clients import client_env, run_sdk, run_zbctl
from support.oidc_realm import OidcRealm
from support.process import running

DIALECT_POLICY = REPO_ROOT / "tests" / "data" / "camunda-dialect.yaml"
OK = grpc.StatusCode.OK
PERMISSION_DENIED = grpc.StatusCode.PERMISSION_DENIED
GZIP = grpc.Compression.Gzip
# A process definition key: a start sent by key only names no process id at the edge.
DEFINITION_KEY = 2251799813685249
UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")

# The engine's words (Camunda 8.8 AuthorizationCheckBehavior) for what the policy refuses.
ENGINE_CREATE = (
    "Insufficient permissions to perform operation 'CREATE_PROCESS_INSTANCE' on resource 'PROCESS_DEFINITION'"
)


def engine_ids(base: str, resource_id: str) -> str:
    """The engine's message naming the ids that would have passed: `*` and the request's."""
    return f"{base}, required resource identifiers are one of '[{', '.join(sorted(['*', resource_id]))}]'"


def engine(operation: str, resource: str, resource_id: str | None = None) -> str:
    base = f"Insufficient permissions to perform operation '{operation}' on resource '{resource}'"
    return base if resource_id is None else engine_ids(base, resource_id)


def tenant_refusal(tenant: str) -> str:
    return (
        f"Expected to perform operation 'CREATE_PROCESS_INSTANCE' on resource 'PROCESS_DEFINITION' for tenant "
        f"'{tenant}', but user is not assigned to this tenant"
    )


def said(words: str) -> str:
    """The whole deny message before the decision id."""
    return f"zeebe-authz: {words}"


# -- the stubs, with Keycloak-shaped tokens ---------------------------------------------------


@pytest.fixture(scope="module")
def dialect_gateway() -> Iterator[StubGateway]:
    """A gateway whose ActivateJobs long-polls a job queue, as a worker needs."""
    server = StubGateway(long_poll=True).start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def dialect_authz(workdir: Path, issuer: KeycloakIssuer) -> Iterator[Authz]:
    proc = Authz(workdir / "dialect", config_yaml(issuer.url, policy=DIALECT_POLICY, identity_headers="all", engine_authorizations=True), name="zeebe-authz-dialect")
    with running(proc, lambda p: p.start().wait_ready()):
        yield proc


@pytest.fixture(scope="module")
def dialect_client(
    workdir: Path, dialect_gateway: StubGateway, dialect_authz: Authz
) -> Iterator[gateway_pb2_grpc.GatewayStub]:
    proxy = Envoy(workdir / "dialect-envoy", dialect_gateway.address, dialect_authz.check_addr, name="envoy-dialect")
    with running(proxy), grpc.insecure_channel(proxy.address) as channel:
        yield gateway_pb2_grpc.GatewayStub(channel)


def token(issuer: KeycloakIssuer, **claims: Any) -> str:
    """A Keycloak-shaped token with no permissions, carrying `claims` (who the owner is)."""
    base = issuer.claims([])
    base.update(claims)
    return issuer.mint(claims=base)


@pytest.fixture(scope="module")
def callers(issuer: KeycloakIssuer) -> dict[str, str]:
    return {
        "team": token(issuer, preferred_username="ann", groups=["staff", "payments"]),
        "worker": token(issuer, client_id="payments-worker", preferred_username="service-account-payments-worker"),
        "bot": token(issuer, preferred_username="order-bot"),
        # A token with a client id is the client: its username claim names no user.
        "client-named-bot": token(issuer, client_id="reporting", preferred_username="order-bot"),
        "admin": token(issuer, preferred_username="root", realm_access={"roles": ["offline_access", "zeebe-admin"]}),
        "nobody": token(issuer, preferred_username="mallory", groups=["payment"]),
    }


def start(process: str, tenant: str = "") -> pb.CreateProcessInstanceRequest:
    """A start by process id, or by key only when `process` is empty."""
    if not process:
        return pb.CreateProcessInstanceRequest(processDefinitionKey=DEFINITION_KEY, tenantId=tenant)
    # Variables large enough that grpc really compresses the message when asked to.
    variables = '{"order": "' + "x" * 512 + '"}'
    return pb.CreateProcessInstanceRequest(bpmnProcessId=process, version=-1, variables=variables, tenantId=tenant)


def activate(job_type: str) -> pb.ActivateJobsRequest:
    return pb.ActivateJobsRequest(type=job_type, worker="e2e", timeout=30_000, maxJobsToActivate=1)


def publish(name: str) -> pb.PublishMessageRequest:
    return pb.PublishMessageRequest(name=name, correlationKey="42", timeToLive=60_000)


DEPLOY = pb.DeployResourceRequest(resources=[pb.Resource(name="order-process.bpmn", content=b"<definitions/>")])

# (caller, rpc, request, compression) by case name.
CASES: dict[str, tuple[str, str, Any, grpc.Compression | None]] = {
    "team starts order-process in tenant-a": ("team", "CreateProcessInstance", start("order-process", "tenant-a"), None),
    "team starts order-process in tenant-a, gzip": ("team", "CreateProcessInstance", start("order-process", "tenant-a"), GZIP),
    "team starts order-process in tenant-b": ("team", "CreateProcessInstance", start("order-process", "tenant-b"), None),
    "team starts invoice, gzip": ("team", "CreateProcessInstance", start("invoice", "tenant-a"), GZIP),
    "team starts by key only": ("team", "CreateProcessInstance", start("", "tenant-a"), None),
    "team deploys": ("team", "DeployResource", DEPLOY, None),
    "worker activates payment-eu": ("worker", "ActivateJobs", activate("payment-eu"), None),
    "worker activates shipping": ("worker", "ActivateJobs", activate("shipping"), None),
    "worker streams shipping": (
        "worker",
        "StreamActivatedJobs",
        pb.StreamActivatedJobsRequest(type="shipping", worker="e2e", timeout=30_000),
        None,
    ),
    "worker completes a job": ("worker", "CompleteJob", pb.CompleteJobRequest(jobKey=2251799813685400), None),
    "worker starts order-process": ("worker", "CreateProcessInstance", start("order-process"), None),
    "bot publishes order-paid": ("bot", "PublishMessage", publish("order-paid"), None),
    "bot publishes invoice-paid": ("bot", "PublishMessage", publish("invoice-paid"), None),
    "client named order-bot publishes order-paid": ("client-named-bot", "PublishMessage", publish("order-paid"), None),
    "admin starts by key only": ("admin", "CreateProcessInstance", start("", "tenant-b"), None),
    "admin deploys": ("admin", "DeployResource", DEPLOY, None),
    "admin asks topology": ("admin", "Topology", pb.TopologyRequest(), None),
    "nobody asks topology": ("nobody", "Topology", pb.TopologyRequest(), None),
}

EXPECTED = {
    "team starts order-process in tenant-a": allowed("CreateProcessInstance"),
    "team starts order-process in tenant-a, gzip": allowed("CreateProcessInstance"),
    "team starts order-process in tenant-b": refused(PERMISSION_DENIED, said(tenant_refusal("tenant-b"))),
    "team starts invoice, gzip": refused(PERMISSION_DENIED, said(engine_ids(ENGINE_CREATE, "invoice"))),
    "team starts by key only": refused(PERMISSION_DENIED, said(ENGINE_CREATE)),
    "team deploys": refused(PERMISSION_DENIED, said(engine("CREATE", "RESOURCE"))),
    "worker activates payment-eu": allowed("ActivateJobs"),
    "worker activates shipping": refused(PERMISSION_DENIED, said(engine("x-ACTIVATE", "x-JOB_TYPE", "shipping"))),
    "worker streams shipping": refused(PERMISSION_DENIED, said(engine("x-ACTIVATE", "x-JOB_TYPE", "shipping"))),
    "worker completes a job": allowed("CompleteJob"),
    "worker starts order-process": refused(PERMISSION_DENIED, said(engine_ids(ENGINE_CREATE, "order-process"))),
    "bot publishes order-paid": allowed("PublishMessage"),
    "bot publishes invoice-paid": refused(PERMISSION_DENIED, said(engine("CREATE", "MESSAGE", "invoice-paid"))),
    "client named order-bot publishes order-paid": refused(
        PERMISSION_DENIED, said(engine("CREATE", "MESSAGE", "order-paid"))
    ),
    "admin starts by key only": allowed("CreateProcessInstance"),
    "admin deploys": allowed("DeployResource"),
    "admin asks topology": allowed("Topology"),
    "nobody asks topology": refused(PERMISSION_DENIED, said(engine("x-CALL", "x-RPC", "Topology"))),
}


def test_dialect_decisions_through_envoy(
    dialect_client: gateway_pb2_grpc.GatewayStub, dialect_gateway: StubGateway, callers: dict[str, str]
) -> None:
    """Every case at once: allowed calls reach the gateway (exactly that rpc), denied ones get
    PERMISSION_DENIED with exactly `zeebe-authz: <the engine's words>` before the decision id,
    and reach nothing."""
    dialect_gateway.offer_jobs("payment-eu", 1)
    seen: dict[str, Seen] = {}
    for name, (caller, rpc, request, compression) in CASES.items():
        method = getattr(dialect_client, rpc)
        call = functools.partial(invoke, method, request, metadata=bearer(callers[caller]), compression=compression)
        seen[name] = through(dialect_gateway, call)
    assert_cases(seen, EXPECTED)
    # A deny's decision id is the x-request-id Envoy set on the call.
    for name, expect in EXPECTED.items():
        if expect.code != OK:
            assert UUID.match(decision_id(seen[name].outcome.details) or ""), seen[name]


def test_allowed_calls_carry_what_the_gateway_needs(
    dialect_client: gateway_pb2_grpc.GatewayStub, dialect_gateway: StubGateway, callers: dict[str, str]
) -> None:
    """The gzip start reached the gateway whole, in its tenant, with the caller's identity."""
    before = len(dialect_gateway.calls_of("CreateProcessInstance"))
    outcome = invoke(
        dialect_client.CreateProcessInstance,
        start("order-process", "tenant-a"),
        metadata=bearer(callers["team"]),
        compression=GZIP,
    )
    assert outcome.code == OK, outcome
    [call] = dialect_gateway.calls_of("CreateProcessInstance")[before:]
    assert (call.request.bpmnProcessId, call.request.tenantId) == ("order-process", "tenant-a")
    assert call.request.variables.startswith('{"order": "xxx')
    assert call.values("x-zeebe-authz-realm") == ["camunda"]


# -- Camunda's real clients, tokens from npm oidc-provider ---------------------------------------

OIDC_RESOURCE = "https://zeebe-api.camunda.test"
OIDC_CLIENTS = [
    {"id": "payments-worker", "secret": "worker-secret", "permissions": []},
]


@pytest.fixture(scope="module")
def oidc(workdir: Path) -> Iterator[OidcRealm]:
    with running(OidcRealm(workdir / "dialect-oidc", resource=OIDC_RESOURCE, clients=OIDC_CLIENTS)) as realm:
        yield realm


@pytest.fixture(scope="module")
def oidc_envoy(workdir: Path, oidc: OidcRealm, dialect_gateway: StubGateway) -> Iterator[Envoy]:
    """The dialect policy again, trusting the provider: the client is its token's `client_id`."""
    config = config_yaml(oidc.issuer, policy=DIALECT_POLICY, audiences=(OIDC_RESOURCE,), engine_authorizations=True)
    authz = Authz(workdir / "dialect-oidc-authz", config, name="zeebe-authz-dialect-oidc")
    with running(authz, lambda p: p.start().wait_ready()):
        proxy = Envoy(workdir / "dialect-oidc-envoy", dialect_gateway.address, authz.check_addr, name="envoy-dialect-oidc")
        with running(proxy):
            yield proxy


def worker_zbctl_env(oidc: OidcRealm, envoy: Envoy, home: Path) -> dict[str, str]:
    return client_env(
        home,
        ZEEBE_ADDRESS=envoy.address,
        ZEEBE_INSECURE_CONNECTION="true",
        ZEEBE_CLIENT_ID="payments-worker",
        ZEEBE_CLIENT_SECRET="worker-secret",
        ZEEBE_AUTHORIZATION_SERVER_URL=oidc.discovery()["token_endpoint"],
        ZEEBE_TOKEN_AUDIENCE="zeebe-api",
    )


def test_zbctl_worker_is_refused_a_job_type_outside_payment(
    oidc: OidcRealm, oidc_envoy: Envoy, dialect_gateway: StubGateway, tmp_path: Path
) -> None:
    """zbctl, as the payments-worker client with its own token: `status` (x-RPC Topology) and
    `activate jobs payment-eu` pass; `activate jobs shipping` and `create instance
    order-process` fail with exit code 1, the status PermissionDenied and the engine's words,
    and reach nothing."""
    env = worker_zbctl_env(oidc, oidc_envoy, tmp_path)
    status = run_zbctl(["status"], env)
    assert status.returncode == 0, status.stderr
    assert "Gateway version: 8.4.13" in status.stdout
    dialect_gateway.offer_jobs("payment-eu", 1)
    payment = run_zbctl(["activate", "jobs", "payment-eu", "--maxJobsToActivate", "1"], env)
    assert payment.returncode == 0, payment.stderr
    assert '"type":  "payment-eu"' in payment.stdout, payment.stdout
    before = len(dialect_gateway.calls())
    shipping = run_zbctl(["activate", "jobs", "shipping"], env)
    assert shipping.returncode == 1, shipping
    assert "code = PermissionDenied" in shipping.stderr, shipping.stderr
    assert said(engine("x-ACTIVATE", "x-JOB_TYPE", "shipping")) + " [decision " in shipping.stderr
    create = run_zbctl(["create", "instance", "order-process"], env)
    assert create.returncode == 1, create
    assert "code = PermissionDenied" in create.stderr, create.stderr
    assert said(engine_ids(ENGINE_CREATE, "order-process")) + " [decision " in create.stderr
    assert dialect_gateway.calls()[before:] == [], "a refused call reached the gateway"


def test_sdk_worker_is_allowed_payment_and_refused_shipping_on_compressed_bodies(
    oidc: OidcRealm, oidc_envoy: Envoy, dialect_gateway: StubGateway, tmp_path: Path
) -> None:
    """@camunda8/sdk's ZBWorker (gzip requests) as payments-worker: two payment-eu jobs are
    activated and completed; a shipping worker's stream fails with PERMISSION_DENIED (the
    status code the SDK reports) and the engine's words; a start of order-process too."""
    env = client_env(
        tmp_path,
        ZEEBE_GRPC_ADDRESS=f"grpc://{oidc_envoy.address}",
        CAMUNDA_AUTH_STRATEGY="OAUTH",
        CAMUNDA_OAUTH_URL=oidc.discovery()["token_endpoint"],
        ZEEBE_TOKEN_AUDIENCE="zeebe-api",
        ZEEBE_CLIENT_ID="payments-worker",
        ZEEBE_CLIENT_SECRET="worker-secret",
        CAMUNDA_TOKEN_DISK_CACHE_DISABLE="true",
    )
    dialect_gateway.offer_jobs("payment-eu", 2)
    before_complete = len(dialect_gateway.calls_of("CompleteJob"))
    payment, shipping, created = run_sdk(
        [
            {"op": "worker", "type": "payment-eu", "jobs": 2, "ms": 8000},
            {"op": "worker", "type": "shipping", "ms": 8000},
            {"op": "create", "bpmnProcessId": "order-process"},
        ],
        env,
    )
    assert payment["ok"] and len(payment["jobs"]) == 2, payment
    completed = dialect_gateway.calls_of("CompleteJob")[before_complete:]
    assert sorted(str(c.request.jobKey) for c in completed) == sorted(payment["jobs"])
    assert not shipping["ok"] and shipping["jobs"] == [], shipping
    assert {e["code"] for e in shipping["errors"]} == {PERMISSION_DENIED.value[0]}, shipping
    assert said(engine("x-ACTIVATE", "x-JOB_TYPE", "shipping")) + " [decision " in shipping["errors"][0]["details"]
    assert not [c for c in dialect_gateway.calls_of("ActivateJobs") if c.request.type == "shipping"]
    assert created["code"] == PERMISSION_DENIED.value[0], created
    assert said(engine_ids(ENGINE_CREATE, "order-process")) + " [decision " in created["details"]
