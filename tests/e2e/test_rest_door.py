"""The REST door of `serve --dev`: the Envoy bootstrap that `serve --dev --envoy-config` writes
has a REST listener (`--envoy-rest-listen`) in front of the REST gateway (`--rest-gateway`), and
the dev tokens mean on `/v2` exactly what they mean on gRPC, on the Check port they already use.

Before, a REST call through the dev Envoy reached only the gRPC listener and was refused as
"another service's path" whatever the token (test
`test_rest_call_through_the_dev_envoy_was_refused_as_another_services_path`).
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from support import rest_client
from support.dev_server import DevServer
from support.envoy import Envoy, closed_loopback_port
from support.gateway import StubGateway
from support.process import running
from support.rest_gateway import StubRestGateway


@dataclass
class DevDoors:
    dev: DevServer
    envoy: Envoy
    rest_gateway: StubRestGateway

    def token(self, role: str) -> str:
        return self.dev.export(f"ZEEBE_AUTHZ_{role}_TOKEN")


@pytest.fixture(scope="module")
def dev_doors(workdir: Path) -> Iterator[DevDoors]:
    grpc_gateway = StubGateway().start()
    rest_gateway = StubRestGateway().start()
    try:
        dev = DevServer(
            workdir / "rest-door-dev",
            gateway=grpc_gateway.address,
            envoy_listen=f"127.0.0.1:{closed_loopback_port()}",
            rest_gateway=rest_gateway.address,
            envoy_rest_listen=f"127.0.0.1:{closed_loopback_port()}",
        )
        with running(dev):
            envoy = Envoy(workdir / "rest-door-envoy", "", "", name="envoy-rest-door", bootstrap_file=dev.envoy_config)
            with running(envoy):
                yield DevDoors(dev, envoy, rest_gateway)
    finally:
        rest_gateway.stop()
        grpc_gateway.stop()


def reached(doors: DevDoors, before: int) -> list[str]:
    return [call.operation for call in doors.rest_gateway.calls()[before:]]


@pytest.mark.parametrize("http2", [False, True], ids=["http1.1", "http2"])
def test_rest_call_through_the_dev_envoy_was_refused_as_another_services_path(dev_doors: DevDoors, http2: bool) -> None:
    """Each dev token on /v2 as on gRPC: read may ask the topology and nothing else; write may
    start an instance; worker may activate `payment*` jobs only; no token is a 401 with a
    Bearer challenge. Every deny is a problem detail and reaches nothing."""
    doors = dev_doors
    address = doors.envoy.rest_address
    start = {"processDefinitionId": "order-process"}
    cases = [
        ("READ", "GET", "/v2/topology", None, 200, "Topology"),
        ("WRITE", "POST", "/v2/process-instances", start, 200, "CreateProcessInstance"),
        ("WORKER", "POST", "/v2/jobs/activation", {"type": "payment-eu", "timeout": 1000, "maxJobsToActivate": 1}, 200, "ActivateJobs"),
        ("READ", "POST", "/v2/process-instances", start, 403, None),
        ("WORKER", "POST", "/v2/jobs/activation", {"type": "shipping", "timeout": 1000, "maxJobsToActivate": 1}, 403, None),
        (None, "GET", "/v2/topology", None, 401, None),
    ]
    for role, method, path, body, status, operation in cases:
        before = len(doors.rest_gateway.calls())
        token = doors.token(role) if role else None
        out = rest_client.call(address, method, path, body, token=token, http2=http2)
        assert out.status == status, f"{role} {method} {path}: {out}"
        if operation:
            assert reached(doors, before) == [operation], f"{role} {method} {path}"
        else:
            assert reached(doors, before) == [], f"{role} {method} {path}"
            problem = out.problem
            assert problem["status"] == status, problem
            assert "another service" not in str(problem.get("detail")), problem
        if status == 401:
            assert (out.header("www-authenticate") or "").startswith("Bearer"), out.headers


def test_a_path_beside_v2_is_refused_whatever_the_token(dev_doors: DevDoors) -> None:
    """The REST listener sends every path on; the authorizer lets through only /v2 operations
    (the web applications and /v1 on the same port stay shut, even to the write token). Each
    refusal is a problem detail an HTTP client reads, with the decision id, never a gRPC status
    (a review found these answered with grpc-status headers and no body)."""
    before = len(dev_doors.rest_gateway.calls())
    for path, role, status in (
        ("/operate/api/process-instances", "WRITE", 403),
        ("/v1/process-definitions/search", "WRITE", 403),
        ("/actuator/health", "WRITE", 403),
        ("/v1/topology", None, 401),
    ):
        token = dev_doors.token(role) if role else None
        out = rest_client.call(dev_doors.envoy.rest_address, "GET", path, token=token)
        assert out.status == status, f"{path}: {out}"
        assert out.header("grpc-status") is None, f"{path}: {out}"
        problem = out.problem
        assert problem["status"] == status and problem["instance"] == path, problem
        assert problem["decisionId"] in problem["detail"], problem
        if status == 401:
            assert (out.header("www-authenticate") or "").startswith("Bearer"), out.headers
    assert reached(dev_doors, before) == []


def test_banner_prints_the_rest_address_and_two_curl_calls_that_work_as_printed(dev_doors: DevDoors) -> None:
    """`export CAMUNDA_REST_ADDRESS=…` names the REST listener; the two `curl` lines, run as
    printed (with the printed read token), are allowed and refused: the README's quick start."""
    dev = dev_doors.dev
    assert dev.export("CAMUNDA_REST_ADDRESS") == f"http://{dev_doors.envoy.rest_address}"
    curl = shutil.which("curl")
    assert curl, "curl is missing (the README's quick start uses it): apt-get install curl"
    allowed, refused = dev.commented_commands("curl")
    env = {**os.environ, "ZEEBE_AUTHZ_READ_TOKEN": dev.export("ZEEBE_AUTHZ_READ_TOKEN")}
    before = len(dev_doors.rest_gateway.calls())
    ok = subprocess.run(["bash", "-c", allowed], env=env, capture_output=True, text=True, timeout=30)
    assert ok.returncode == 0 and '"gatewayVersion"' in ok.stdout, ok
    no = subprocess.run(["bash", "-c", refused], env=env, capture_output=True, text=True, timeout=30)
    assert no.returncode == 0 and no.stdout.startswith("HTTP/1.1 403"), no
    assert "application/problem+json" in no.stdout and "CreateProcessInstance requires permission" in no.stdout, no
    assert reached(dev_doors, before) == ["Topology"]
    assert shlex.split(allowed)[0] == "curl"
