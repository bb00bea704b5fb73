"""Camunda's Java client (`io.camunda:camunda-client-java` 8.8.14, tests/e2e/java/client-driver)
in gRPC mode (`preferRestOverGrpc(false)`), with its own OAuth flow: client credentials at the
token endpoint, the token cached in a file of the test's own, sent as `authorization: Bearer`.
Through Envoy and zeebe-authz to the grpc-java stub gateway (tests/e2e/java/gateway-stub),
which hands out jobs to pollers (ActivateJobs) and to open job streams (StreamActivatedJobs).

The OAuth clients, the token endpoint and the authorizer's realm are the real Keycloak's
(`java_idp`: support/keycloak.py, the realm of tests/e2e/keycloak/).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from support.authz import DEV_POLICY, Authz, config_yaml
from support.calls import decision_id, reason_of
from support.envoy import Envoy
from support.java import JavaGateway, run_java_client
from support.keycloak import CLIENT_SECRETS, Keycloak
from support.process import running

DENIED = "PERMISSION_DENIED"


@dataclass
class Idp:
    """Where the Java client gets its tokens, and the Envoy it calls."""

    token_url: str
    audience: str
    clients: dict[str, tuple[str, str]]  # role → (client id, secret)
    envoy: Envoy
    # The authorizer's JSON log events so far.
    events: Callable[[], list[dict[str, Any]]]

    def denied(self) -> list[str]:
        """The details of every deny the authorizer logged so far."""
        return [
            e.get("fields", {}).get("detail", "")
            for e in self.events()
            if e.get("fields", {}).get("message") == "Denied"
        ]


@pytest.fixture(scope="module")
def java_gateway(workdir: Path) -> Iterator[JavaGateway]:
    with running(JavaGateway(workdir / "java-client-gateway")) as proc:
        yield proc


@pytest.fixture(scope="module")
def java_idp(workdir: Path, java_gateway: JavaGateway, keycloak_server: Keycloak) -> Iterator[Idp]:
    """The real Keycloak (support/keycloak.py, the session's) with the realm Camunda Identity
    shapes: the Java client gets its tokens from Keycloak's own token endpoint (client
    credentials) as the M2M clients `zeebe-writer` (write:*), `zeebe-reader` (read:*) and
    `zeebe-worker` (worker:payment). zeebe-authz trusts that realm (issuer and audience only,
    keys from discovery) with `policies/dev.yaml`, behind its own Envoy in front of the grpc-java
    stub gateway."""
    if keycloak_server.proc is None or keycloak_server.variant:
        keycloak_server.stop()
        keycloak_server.start(variant="")
    config = config_yaml(keycloak_server.issuer, DEV_POLICY, tenants_claim="tenants", tenants_prefix="/tenants/")
    authz = Authz(workdir / "java-authz", config, name="zeebe-authz-java")
    with running(authz, lambda p: p.start().wait_ready()):
        with running(Envoy(workdir / "java-envoy", java_gateway.address, authz.check_addr, name="envoy-java")) as envoy:
            yield Idp(
                token_url=keycloak_server.token_endpoint,
                audience="zeebe-api",
                clients={
                    role: (client_id, CLIENT_SECRETS[client_id])
                    for role, client_id in (("write", "zeebe-writer"), ("read", "zeebe-reader"), ("worker", "zeebe-worker"))
                },
                envoy=envoy,
                events=authz.events,
            )


def java_client(idp: Idp, home: Path, role: str, *scenarios: str, tenant: str | None = None) -> list[dict[str, Any]]:
    client_id, secret = idp.clients[role]
    home.mkdir(parents=True, exist_ok=True)
    env = {
        "ZEEBE_GRPC_ADDRESS": f"http://{idp.envoy.address}",
        "CAMUNDA_TOKEN_URL": idp.token_url,
        "CAMUNDA_CLIENT_ID": client_id,
        "CAMUNDA_CLIENT_SECRET": secret,
        "CAMUNDA_AUDIENCE": idp.audience,
        "CAMUNDA_CREDENTIALS_CACHE": str(home / f"credentials-{role}.yaml"),
        "HOME": str(home),
    }
    if tenant:
        env["CAMUNDA_TENANT_ID"] = tenant
    return run_java_client(env, *scenarios)


def by_scenario(results: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {r["scenario"]: r for r in results}


def test_java_client_topology_and_create_instance(java_idp: Idp, java_gateway: JavaGateway, tmp_path: Path) -> None:
    before = len(java_gateway.calls())
    results = by_scenario(java_client(java_idp, tmp_path, "write", "topology", "create-instance:order-process"))
    topology, created = results["topology"], results["create-instance:order-process"]
    assert topology["ok"] and topology["brokers"] == 1 and topology["gatewayVersion"] == "8.8.14", topology
    assert created["ok"] and created["bpmnProcessId"] == "order-process", created
    calls = java_gateway.calls(before)
    # gRPC mode: both calls reached the gRPC gateway, with the token the client fetched itself
    # and the subject the authorizer set.
    assert [c.rpc for c in calls] == ["Topology", "CreateProcessInstance"]
    for call in calls:
        assert call.values("authorization")[0].startswith("Bearer ey"), call
        assert call.values("x-zeebe-authz-subject"), call
    assert calls[1].request["bpmnProcessId"] == "order-process"
    assert calls[1].request.get("tenantId") == "<default>"  # the Java client's default tenant


def test_java_job_worker_gets_its_job_types_by_stream_and_poll(
    java_idp: Idp, java_gateway: JavaGateway, tmp_path: Path
) -> None:
    """A worker for `payment` (worker:payment grants `payment*`) gets one job from its job
    stream and one from ActivateJobs, and completes both; a worker for `shipping` gets nothing:
    both its stream and its polls are refused before the gateway."""
    stream_key, poll_key, shipping_key = 2251799813690001, 2251799813690002, 2251799813690003
    java_gateway.queue_jobs(True)
    try:
        java_gateway.offer_job("payment", stream_key, via="stream")
        java_gateway.offer_job("payment", poll_key, via="poll")
        java_gateway.offer_job("shipping", shipping_key, via="stream")
        java_gateway.offer_job("shipping", shipping_key, via="poll")
        before = len(java_gateway.calls())
        denies_before = len(java_idp.denied())
        results = by_scenario(java_client(java_idp, tmp_path, "worker", "worker:payment:2:30", "worker:shipping:1:3"))
    finally:
        java_gateway.queue_jobs(False)
    payment, shipping = results["worker:payment:2:30"], results["worker:shipping:1:3"]
    assert payment["ok"], payment
    assert sorted(job["key"] for job in payment["handled"]) == [stream_key, poll_key], payment
    assert shipping["ok"] and shipping["handled"] == [], shipping

    calls = java_gateway.calls(before)
    rpcs = {(c.rpc, c.request.get("type")) for c in calls if c.rpc in ("ActivateJobs", "StreamActivatedJobs")}
    assert ("StreamActivatedJobs", "payment") in rpcs and ("ActivateJobs", "payment") in rpcs, rpcs
    assert not any(job_type == "shipping" for _, job_type in rpcs), rpcs
    completed = sorted(int(c.request["jobKey"]) for c in calls if c.rpc == "CompleteJob")
    assert completed == [stream_key, poll_key]
    # The shipping worker did ask, by stream and by poll, and was refused each time.
    denied = set(java_idp.denied()[denies_before:])
    assert denied == {
        f"{rpc}: job type 'shipping' not allowed (allowed: payment*)" for rpc in ("ActivateJobs", "StreamActivatedJobs")
    }, denied


def test_refused_calls_as_the_java_user_sees_them(java_idp: Idp, java_gateway: JavaGateway, tmp_path: Path) -> None:
    """What a Java developer sees when the authorizer refuses: a ClientStatusException whose
    status is PERMISSION_DENIED and whose message is the authorizer's reason."""
    before = len(java_gateway.calls())
    worker = by_scenario(
        java_client(java_idp, tmp_path, "worker", "activate:shipping", "stream:shipping:3", "create-instance:order-process")
    )
    reader = by_scenario(java_client(java_idp, tmp_path, "read", "topology", "create-instance:order-process"))
    assert reader["topology"]["ok"], reader["topology"]
    # The commands throw the client's ClientStatusException; a job stream's future fails with
    # grpc-java's own StatusRuntimeException (the client does not wrap stream errors).
    client_status = "io.camunda.client.api.command.ClientStatusException"
    expected = {
        ("worker", "activate:shipping"): (
            client_status,
            "zeebe-authz: ActivateJobs: job type 'shipping' not allowed (allowed: payment*)",
        ),
        ("worker", "stream:shipping:3"): (
            "io.grpc.StatusRuntimeException",
            "zeebe-authz: StreamActivatedJobs: job type 'shipping' not allowed (allowed: payment*)",
        ),
        ("worker", "create-instance:order-process"): (
            client_status,
            "zeebe-authz: CreateProcessInstance requires permission write:*, tenant:write, CreateProcessInstance in permissions.zeebe-api",
        ),
        ("read", "create-instance:order-process"): (
            client_status,
            "zeebe-authz: CreateProcessInstance requires permission write:*, tenant:write, CreateProcessInstance in permissions.zeebe-api",
        ),
    }
    for (role, scenario), (exception, reason) in expected.items():
        result = (worker if role == "worker" else reader)[scenario]
        assert not result["ok"], result
        assert result["exception"] == exception, result
        assert result["code"] == DENIED, result
        assert result["description"].startswith(reason), result
        # The message the Java user reads: the reason and the decision id to explain (grpc-java's
        # own exception puts the status code first).
        shown = reason if exception == client_status else f"{DENIED}: {reason}"
        assert result["message"].startswith(shown), result
        assert decision_id(result["message"]) and result["message"] == shown + result["message"][len(shown) :], result
        assert reason_of(result["message"][len(shown) - len(reason) :]) == reason, result
    assert [c.rpc for c in java_gateway.calls(before)] == ["Topology"]
