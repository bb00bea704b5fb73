"""Camunda's REST clients as 8.8 ships them, through Envoy's REST listener and zeebe-authz, to
the REST gateway stub (support/rest_gateway.py), each fetching its own tokens from the real
Keycloak (support/keycloak.py; the M2M clients `zeebe-writer` write:*, `zeebe-reader` read:*,
`zeebe-worker` worker:payment) with `policies/dev.yaml`:

- `@camunda8/orchestration-cluster-api` 8.8 (Node, REST only; tests/e2e/node/rest_client.mjs),
  validating every answer under `CAMUNDA_SDK_VALIDATION=res:strict`;
- camunda-client-java 8.8 in its default REST mode (`preferRestOverGrpc`;
  tests/e2e/java/client-driver with `CAMUNDA_REST_ADDRESS`).

Each: calls allowed as the writer, a job worker over REST activation allowed for `payment` and
refused for `shipping`, and a refused call as the client's user sees it (HTTP 403 and the
problem detail's words); each through two doors of the one Envoy (`door`):

- `http/1.1`: the plain REST listener (`http://`), where both clients speak HTTP/1.1 (neither
  speaks h2c: Node's fetch has no HTTP/2 without TLS, the Java client's Apache HttpClient
  negotiates HTTP/2 only by TLS ALPN);
- `h2`: the same listener over TLS (`https://`, ALPN `h2` and `http/1.1`, a CA made for the run by
  support/tls.py), where both negotiate HTTP/2: the Java client as it ships (the CA given by
  `CAMUNDA_CA_CERTIFICATE_PATH`), the Node client with Node's fetch allowed HTTP/2 (an undici
  `Agent({allowH2: true})` as the global dispatcher; the CA by `NODE_EXTRA_CA_CERTS`).

Envoy's access log says which protocol and which listener each request came in on
(`%PROTOCOL%`, `%DOWNSTREAM_LOCAL_ADDRESS%`): every test checks that each of its client's
requests, allowed (by the `x-request-id` the stub saw) and refused, came in through its door in
its protocol. The tokens are fetched from Keycloak over plain HTTP/1.1 either way.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from support.authz import DEV_POLICY, Authz, config_yaml
from support.envoy import Envoy
from support.gateway import StubGateway
from support.java import run_java_client
from support.keycloak import CLIENT_SECRETS, Keycloak
from support.node_clients import client_env, run_rest_client
from support.process import running
from support.rest_gateway import RestCall, StubRestGateway
from support.tls import make_loopback_ca

REFUSED_CREATE = "CreateProcessInstance requires permission write:*, tenant:write, CreateProcessInstance in permissions.zeebe-api"
# A failed condition on REST names the endpoint.
REFUSED_SHIPPING = "POST /v2/jobs/activation: job type 'shipping' not allowed (allowed: payment*)"
# `*` (write:* grants rpcs: ["*"]) means the gRPC rpcs and their REST twins, never a REST-only
# operation such as a user task search (rest.md).
REFUSED_SEARCH = "SearchUserTasks"


@dataclass
class RestIdp:
    token_url: str
    audience: str
    clients: dict[str, tuple[str, str]]  # role → (client id, secret)
    envoy: Envoy
    rest_gateway: StubRestGateway
    # The CA the TLS listener's certificate chains to (PEM).
    ca_cert: Path


# A door of the REST API: the plain listener (HTTP/1.1) or the TLS one (HTTP/2 by ALPN), and
# the protocol Envoy's access log must give each request that came in through it.
DOORS = {"http/1.1": "HTTP/1.1", "h2": "HTTP/2"}


def rest_address(idp: RestIdp, door: str) -> str:
    return f"http://{idp.envoy.rest_address}" if door == "http/1.1" else f"https://{idp.envoy.rest_tls_address}"


def access_log_size(idp: RestIdp) -> int:
    return len(idp.envoy.access_log_entries())


def assert_came_through(idp: RestIdp, door: str, log_before: int, reached: list[RestCall], refused: int) -> None:
    """Envoy's access log: the requests the stub `reached` (by their `x-request-id`) and at least
    `refused` refusals of the authorizer, all logged after `log_before` entries, came in on the
    door's listener in the door's protocol, and so did every other request on that listener."""
    ids = {call.header("x-request-id") for call in reached}
    assert ids and None not in ids, reached
    listener = idp.envoy.rest_address if door == "http/1.1" else idp.envoy.rest_tls_address

    def on_door(entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [e for e in entries[log_before:] if e.get("downstream_local_address") == listener]

    def logged(entries: list[dict[str, Any]]) -> bool:
        mine = on_door(entries)
        denied = [e for e in mine if e.get("response_code_details") == "ext_authz_denied"]
        return ids <= {e.get("request_id") for e in mine} and len(denied) >= refused

    entries = idp.envoy.wait_access_log(logged, f"{len(ids)} allowed and {refused} refused requests on {listener}")
    mine = on_door(entries)
    assert {(e["protocol"], e["path"].split("?")[0].startswith("/v2/")) for e in mine} == {(DOORS[door], True)}, mine
    # Nothing came in on this listener in another protocol, from any test.
    assert {e["protocol"] for e in entries if e.get("downstream_local_address") == listener} == {DOORS[door]}


@pytest.fixture(scope="module")
def rest_idp(workdir: Path, keycloak_server: Keycloak) -> Iterator[RestIdp]:
    """The real Keycloak's realm, trusted by zeebe-authz (policies/dev.yaml), behind an Envoy
    with both doors: gRPC to a stub gateway, REST (plain and TLS listeners) to the REST stub
    (jobs long-polled); with an access log."""
    if keycloak_server.proc is None or keycloak_server.variant:
        keycloak_server.stop()
        keycloak_server.start(variant="")
    ca = make_loopback_ca(workdir / "rest-clients-ca")
    config = config_yaml(keycloak_server.issuer, DEV_POLICY, tenants_claim="tenants", tenants_prefix="/tenants/")
    authz = Authz(workdir / "rest-clients-authz", config, name="zeebe-authz-rest-clients")
    grpc_gateway = StubGateway().start()
    rest_gateway = StubRestGateway(long_poll=True).start()
    try:
        with running(authz, lambda p: p.start().wait_ready()):
            envoy = Envoy(
                workdir / "rest-clients-envoy",
                grpc_gateway.address,
                authz.check_addr,
                name="envoy-rest-clients",
                rest_gateway_addr=rest_gateway.address,
                rest_tls=(ca.server_cert, ca.server_key),
                access_log=True,
            )
            with running(envoy):
                yield RestIdp(
                    token_url=keycloak_server.token_endpoint,
                    audience="zeebe-api",
                    clients={
                        role: (client_id, CLIENT_SECRETS[client_id])
                        for role, client_id in (("write", "zeebe-writer"), ("read", "zeebe-reader"), ("worker", "zeebe-worker"))
                    },
                    envoy=envoy,
                    rest_gateway=rest_gateway,
                    ca_cert=ca.ca_cert,
                )
    finally:
        rest_gateway.stop()
        grpc_gateway.stop()


def since(gateway: StubRestGateway, before: int) -> list[str]:
    return [call.operation for call in gateway.calls()[before:]]


# -- @camunda8/orchestration-cluster-api ----------------------------------------------------


def js(
    idp: RestIdp, door: str, home: Path, role: str, steps: list[dict[str, Any]]
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    client_id, secret = idp.clients[role]
    h2 = {"REST_CLIENT_ALLOW_H2": "1", "NODE_EXTRA_CA_CERTS": str(idp.ca_cert)} if door == "h2" else {}
    env = client_env(
        home,
        CAMUNDA_REST_ADDRESS=rest_address(idp, door),
        CAMUNDA_AUTH_STRATEGY="OAUTH",
        CAMUNDA_OAUTH_URL=idp.token_url,
        CAMUNDA_CLIENT_ID=client_id,
        CAMUNDA_CLIENT_SECRET=secret,
        CAMUNDA_TOKEN_AUDIENCE=idp.audience,
        # Every answer checked against the client's own schemas: the stub's JSON is what the
        # client accepts from a gateway, not merely what it tolerates.
        CAMUNDA_SDK_VALIDATION="req:strict,res:strict",
        # One attempt: a refused call is shown as it is, not retried.
        CAMUNDA_SDK_HTTP_RETRY_MAX_ATTEMPTS="1",
        **h2,
    )
    return run_rest_client(steps, env)


@pytest.mark.parametrize("door", DOORS)
def test_js_rest_client_calls_as_the_writer(rest_idp: RestIdp, door: str, tmp_path: Path) -> None:
    """The writer (write:*) calls the twins of its rpcs over REST; a REST-only operation (a user
    task search) is not among what `*` grants, and is refused as the SDK's user sees it."""
    before, log_before = len(rest_idp.rest_gateway.calls()), access_log_size(rest_idp)
    (topology, created, published, search), exchanges = js(
        rest_idp,
        door,
        tmp_path,
        "write",
        [
            {"op": "topology"},
            {"op": "create", "processDefinitionId": "order-process"},
            {"op": "publish", "name": "order-paid"},
            {"op": "searchUserTasks"},
        ],
    )
    assert topology == {"op": "topology", "ok": True, "gatewayVersion": "8.8.0", "brokers": 1}
    assert created["ok"] and created["processInstanceKey"] == "2251799813685249", created
    assert published["ok"], published
    assert search["ok"] is False and search["status"] == 403, search
    assert REFUSED_SEARCH in (search["detail"] or ""), search
    assert since(rest_idp.rest_gateway, before) == ["Topology", "CreateProcessInstance", "PublishMessage"]
    subjects = set()
    for call in rest_idp.rest_gateway.calls()[before:]:
        # The token the client fetched itself from Keycloak, and the subject the authorizer set.
        assert (call.header("authorization") or "").startswith("Bearer ey"), call
        subjects.add(call.header("x-zeebe-authz-subject"))
    assert len(subjects) == 1 and None not in subjects, subjects
    # The client fetched its token from Keycloak (not through Envoy), then spoke /v2 only.
    paths = [e["path"] for e in exchanges]
    assert paths[0].endswith("/protocol/openid-connect/token"), exchanges
    assert all(p.startswith("/v2/") for p in paths[1:]), exchanges
    assert_came_through(rest_idp, door, log_before, rest_idp.rest_gateway.calls()[before:], refused=1)


@pytest.mark.parametrize("door", DOORS)
def test_js_rest_worker_is_allowed_for_payment_and_refused_for_shipping(rest_idp: RestIdp, door: str, tmp_path: Path) -> None:
    gateway = rest_idp.rest_gateway
    gateway.offer_job("payment", 2251799813691001)
    gateway.offer_job("shipping", 2251799813691002)
    before, log_before = len(gateway.calls()), access_log_size(rest_idp)
    (payment, shipping, activate), _ = js(
        rest_idp,
        door,
        tmp_path,
        "worker",
        [
            {"op": "worker", "type": "payment", "jobs": 1, "ms": 10000},
            {"op": "worker", "type": "shipping", "jobs": 1, "ms": 1500},
            {"op": "activate", "type": "shipping"},
        ],
    )
    assert payment["jobs"] == ["2251799813691001"], payment
    assert payment["activations"] and set(payment["activations"]) == {200}, payment
    # The shipping worker asked (more than once: it keeps polling) and was refused each time.
    assert shipping["jobs"] == [] and shipping["activations"], shipping
    assert set(shipping["activations"]) == {403}, shipping
    # A refused activation as the SDK's user sees it.
    assert activate["ok"] is False and activate["name"] == "HttpSdkError" and activate["status"] == 403, activate
    assert activate["detail"].startswith(f"zeebe-authz: {REFUSED_SHIPPING}"), activate
    reached = gateway.calls()[before:]
    assert [(c.operation, (c.body or {}).get("type")) for c in reached if c.operation == "ActivateJobs"] and all(
        (c.body or {}).get("type") == "payment" for c in reached if c.operation == "ActivateJobs"
    ), reached
    completed = [c.params["jobKey"] for c in reached if c.operation == "CompleteJob"]
    assert completed == ["2251799813691001"], reached
    assert_came_through(rest_idp, door, log_before, reached, refused=len(shipping["activations"]) + 1)


@pytest.mark.parametrize("door", DOORS)
def test_js_rest_client_refused_as_its_user_sees_it(rest_idp: RestIdp, door: str, tmp_path: Path) -> None:
    before, log_before = len(rest_idp.rest_gateway.calls()), access_log_size(rest_idp)
    (topology, create), _ = js(
        rest_idp, door, tmp_path, "read", [{"op": "topology"}, {"op": "create", "processDefinitionId": "order-process"}]
    )
    assert topology["ok"], topology
    assert create["ok"] is False and create["name"] == "HttpSdkError" and create["status"] == 403, create
    assert create["detail"].startswith(f"zeebe-authz: {REFUSED_CREATE}"), create
    assert since(rest_idp.rest_gateway, before) == ["Topology"]
    assert_came_through(rest_idp, door, log_before, rest_idp.rest_gateway.calls()[before:], refused=1)


# -- camunda-client-java, REST mode -----------------------------------------------------------


def java(idp: RestIdp, door: str, home: Path, role: str, *scenarios: str) -> dict[str, dict[str, Any]]:
    client_id, secret = idp.clients[role]
    home.mkdir(parents=True, exist_ok=True)
    env = {
        "CAMUNDA_REST_ADDRESS": rest_address(idp, door),
        "ZEEBE_GRPC_ADDRESS": f"http://{idp.envoy.address}",
        "CAMUNDA_TOKEN_URL": idp.token_url,
        "CAMUNDA_CLIENT_ID": client_id,
        "CAMUNDA_CLIENT_SECRET": secret,
        "CAMUNDA_AUDIENCE": idp.audience,
        "CAMUNDA_CREDENTIALS_CACHE": str(home / f"credentials-{role}.yaml"),
        "HOME": str(home),
    }
    if door == "h2":
        # Read by the client's builder itself (its environment overrides): the PEM it trusts
        # for TLS. Nothing else changes: the client offers h2 by ALPN as it ships.
        env["CAMUNDA_CA_CERTIFICATE_PATH"] = str(idp.ca_cert)
    return {r["scenario"]: r for r in run_java_client(env, *scenarios)}


@pytest.mark.parametrize("door", DOORS)
def test_java_rest_client_calls_as_the_writer(rest_idp: RestIdp, door: str, tmp_path: Path) -> None:
    before, log_before = len(rest_idp.rest_gateway.calls()), access_log_size(rest_idp)
    results = java(rest_idp, door, tmp_path, "write", "topology", "create-instance:order-process", "publish:order-paid")
    assert all(r["ok"] for r in results.values()), results
    assert results["topology"]["gatewayVersion"] == "8.8.0", results
    assert results["create-instance:order-process"]["bpmnProcessId"] == "order-process", results
    assert since(rest_idp.rest_gateway, before) == ["Topology", "CreateProcessInstance", "PublishMessage"]
    for call in rest_idp.rest_gateway.calls()[before:]:
        assert call.header("x-zeebe-authz-subject"), call
    assert_came_through(rest_idp, door, log_before, rest_idp.rest_gateway.calls()[before:], refused=0)


@pytest.mark.parametrize("door", DOORS)
def test_java_rest_worker_is_allowed_for_payment_and_refused_for_shipping(
    rest_idp: RestIdp, door: str, tmp_path: Path
) -> None:
    gateway = rest_idp.rest_gateway
    gateway.offer_job("payment", 2251799813692001)
    gateway.offer_job("shipping", 2251799813692002)
    before, log_before = len(gateway.calls()), access_log_size(rest_idp)
    results = java(rest_idp, door, tmp_path, "worker", "worker:payment:1:30", "worker:shipping:1:3", "activate:shipping")
    payment, shipping, activate = results["worker:payment:1:30"], results["worker:shipping:1:3"], results["activate:shipping"]
    assert payment["ok"] and [job["key"] for job in payment["handled"]] == [2251799813692001], payment
    assert shipping["ok"] and shipping["handled"] == [], shipping
    # A refused activation as the Java user sees it: a ProblemException with the status and
    # the problem detail.
    assert activate["ok"] is False, activate
    assert activate["exception"] == "io.camunda.client.api.command.ProblemException", activate
    assert activate["status"] == 403, activate
    assert (activate.get("detail") or "").startswith(f"zeebe-authz: {REFUSED_SHIPPING}"), activate
    reached = gateway.calls()[before:]
    types = {(c.body or {}).get("type") for c in reached if c.operation == "ActivateJobs"}
    assert types == {"payment"}, reached
    assert [c.params["jobKey"] for c in reached if c.operation == "CompleteJob"] == ["2251799813692001"], reached
    # The shipping worker's refused polls, and the refused activation.
    assert_came_through(rest_idp, door, log_before, reached, refused=2)


@pytest.mark.parametrize("door", DOORS)
def test_java_rest_client_refused_as_its_user_sees_it(rest_idp: RestIdp, door: str, tmp_path: Path) -> None:
    before, log_before = len(rest_idp.rest_gateway.calls()), access_log_size(rest_idp)
    results = java(rest_idp, door, tmp_path, "read", "topology", "create-instance:order-process")
    assert results["topology"]["ok"], results
    create = results["create-instance:order-process"]
    assert create["ok"] is False and create["status"] == 403, create
    assert create["exception"] == "io.camunda.client.api.command.ProblemException", create
    assert (create.get("detail") or "").startswith(f"zeebe-authz: {REFUSED_CREATE}"), create
    assert since(rest_idp.rest_gateway, before) == ["Topology"]
    assert_came_through(rest_idp, door, log_before, rest_idp.rest_gateway.calls()[before:], refused=1)
