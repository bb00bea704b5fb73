"""Fixtures of the end-to-end suite: a Keycloak-shaped issuer, a stub Zeebe gateway, the
zeebe-authz binary and a real Envoy in front of them, all on 127.0.0.1 with ephemeral ports.

The expensive ones are session scoped (one issuer, gateway, authorizer and Envoy for the whole
suite); each is stopped by the fixture that started it. Nothing here skips: a missing Envoy or
a missing authorizer binary is an error whose message says how to get it.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from zeebe_grpc import gateway_pb2_grpc

from support.authz import Authz, config_yaml
from support.envoy import Envoy
from support.gateway import StubGateway
from support.issuer import KeycloakIssuer
from support.keycloak import Keycloak
from support.process import RUNNING, running

LOG_TAIL_LINES = 40


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if report.failed:
        for proc in list(RUNNING):
            tail = "\n".join(proc.log().splitlines()[-LOG_TAIL_LINES:])
            report.sections.append((f"{proc.name} log (last {LOG_TAIL_LINES} lines)", tail))


@pytest.fixture(scope="session")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("e2e")


@pytest.fixture(scope="session")
def issuer() -> Iterator[KeycloakIssuer]:
    server = KeycloakIssuer().start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def gateway() -> Iterator[StubGateway]:
    server = StubGateway().start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def authz(workdir: Path, issuer: KeycloakIssuer) -> Iterator[Authz]:
    """zeebe-authz with one realm (the issuer above), ready: it has the realm's keys."""
    proc = Authz(workdir / "authz", config_yaml(issuer.url))
    with running(proc, lambda p: p.start().wait_ready()):
        yield proc


@pytest.fixture(scope="session")
def envoy(workdir: Path, gateway: StubGateway, authz: Authz) -> Iterator[Envoy]:
    """Envoy whose ext_authz filter asks `authz` before routing to the stub gateway."""
    with running(Envoy(workdir / "envoy", gateway.address, authz.check_addr)) as proc:
        yield proc


@pytest.fixture(scope="session")
def zeebe(envoy: Envoy) -> Iterator[gateway_pb2_grpc.GatewayStub]:
    """Camunda's generated Zeebe client stub, talking to the gateway through Envoy."""
    with grpc.insecure_channel(envoy.address) as channel:
        yield gateway_pb2_grpc.GatewayStub(channel)


@pytest.fixture(scope="session")
def channel(envoy: Envoy) -> Iterator[grpc.Channel]:
    """A bare channel through Envoy, for calls the generated stub cannot make."""
    with grpc.insecure_channel(envoy.address) as chan:
        yield chan


@pytest.fixture(scope="session")
def keycloak_server(workdir: Path) -> Iterator[Keycloak]:
    """The real Keycloak (scripts/keycloak), started once per run with the Camunda realm of
    tests/e2e/keycloak/camunda-platform-realm.json; stopped at the end. Use `keycloak`."""
    with running(Keycloak(workdir / "keycloak")) as server:
        yield server


@pytest.fixture
def keycloak(keycloak_server: Keycloak) -> Keycloak:
    """The session's Keycloak, running and served at `/` (a test that stopped it, or moved it
    to `/auth`, leaves it to this fixture to bring it back)."""
    if keycloak_server.proc is None or keycloak_server.variant != "":
        keycloak_server.stop()
        keycloak_server.start(variant="")
    return keycloak_server
