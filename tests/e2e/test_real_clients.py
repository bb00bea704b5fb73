"""Camunda's real clients, each fetching its own token from `serve --dev`'s token endpoint, through
the Envoy that `serve --dev --envoy-config` wrote, in front of the stub gateway.

- zbctl (npm `zbctl`, Camunda's Go client 8.4): `status` exactly as the banner prints it,
  `create instance`, and a read-only client refused with PERMISSION_DENIED and the reason
  shown to the user; a cached token the authorizer refuses is replaced (the Go client refetches
  on UNAUTHENTICATED and retries once).
- @camunda8/sdk (8.8, Node): gzip-compresses every request message (grpc-js
  `grpc.default_compression_algorithm: 2`, not configurable), so the tenant and job-type
  conditions here are decided on compressed bodies (pinned first with a recording authorizer);
  a ZBWorker allowed for `payment*` and refused for `shipping`; a token that expires mid-run
  (`--dev-token-ttl 3s`) is refreshed by the client before the authorizer would refuse it.

What the real clients did that the Python stubs never do is listed in each test's docstring.
"""

from __future__ import annotations

import contextlib
import gzip
import shlex
import struct
import time
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from zeebe_grpc import gateway_pb2 as pb
from zeebe_grpc import gateway_pb2_grpc

from support import fake_authz as fa
from support.calls import bearer, invoke
from support.dev_server import DevServer
from support.envoy import Envoy, closed_loopback_port
from support.gateway import StubGateway
from support.node_clients import client_env, run_sdk, run_zbctl, zbctl_binary
from support.process import running

# A token lifetime short enough to expire during a test, long enough for a call to finish.
SHORT_TTL_SECONDS = 3


@contextlib.contextmanager
def dev_stack(workdir: Path, gateway: StubGateway, token_ttl: str | None = None) -> Iterator[tuple[DevServer, Envoy]]:
    """`serve --dev --envoy-config … --gateway <stub>` and the Envoy it wrote, started and stopped."""
    listen = f"127.0.0.1:{closed_loopback_port()}"
    dev = DevServer(workdir / "dev", token_ttl=token_ttl, gateway=gateway.address, envoy_listen=listen)
    with running(dev):
        envoy = Envoy(workdir / "envoy", gateway.address, "", name="envoy-dev", bootstrap_file=dev.envoy_config)
        with running(envoy):
            assert envoy.address == listen
            yield dev, envoy


@pytest.fixture(scope="module")
def jobs_gateway() -> Iterator[StubGateway]:
    """A stub gateway whose ActivateJobs long-polls a job queue, as a worker needs."""
    server = StubGateway(long_poll=True).start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def stack(workdir: Path, jobs_gateway: StubGateway) -> Iterator[tuple[DevServer, Envoy]]:
    with dev_stack(workdir / "real-clients", jobs_gateway) as pair:
        yield pair


@pytest.fixture(scope="module")
def short_stack(workdir: Path, jobs_gateway: StubGateway) -> Iterator[tuple[DevServer, Envoy]]:
    with dev_stack(workdir / "real-clients-short-ttl", jobs_gateway, token_ttl=f"{SHORT_TTL_SECONDS}s") as pair:
        yield pair


def zbctl_env(dev: DevServer, home: Path, role: str) -> dict[str, str]:
    client_id, secret = dev.client(role)
    return client_env(
        home,
        ZEEBE_ADDRESS=dev.export("ZEEBE_ADDRESS"),
        ZEEBE_INSECURE_CONNECTION="true",
        ZEEBE_CLIENT_ID=client_id,
        ZEEBE_CLIENT_SECRET=secret,
        ZEEBE_AUTHORIZATION_SERVER_URL=dev.token_url,
        ZEEBE_TOKEN_AUDIENCE=dev.export("ZEEBE_TOKEN_AUDIENCE"),
    )


def sdk_env(dev: DevServer, home: Path, role: str, **extra: str) -> dict[str, str]:
    """The SDK configured from the banner's @camunda8/sdk lines, with ROLE's client."""
    client_id, secret = dev.client(role)
    settings = {
        "ZEEBE_GRPC_ADDRESS": dev.export("ZEEBE_GRPC_ADDRESS"),
        "CAMUNDA_AUTH_STRATEGY": dev.export("CAMUNDA_AUTH_STRATEGY"),
        "CAMUNDA_OAUTH_URL": dev.export("CAMUNDA_OAUTH_URL"),
        "ZEEBE_TOKEN_AUDIENCE": dev.export("ZEEBE_TOKEN_AUDIENCE"),
        "ZEEBE_CLIENT_ID": client_id,
        "ZEEBE_CLIENT_SECRET": secret,
        # Tokens in memory only: a token cached on disk by an earlier run must not be reused.
        "CAMUNDA_TOKEN_DISK_CACHE_DISABLE": "true",
    }
    return client_env(home, **{**settings, **extra})


# -- zbctl ------------------------------------------------------------------------------------


def test_zbctl_status_as_the_banner_prints_it(
    stack: tuple[DevServer, Envoy], jobs_gateway: StubGateway, tmp_path: Path
) -> None:
    """The banner's `zbctl status …` line, run as printed (with the npm package's binary for
    `zbctl` and a private HOME for `$HOME`), succeeds through Envoy as the write client."""
    dev, _ = stack
    words = shlex.split(dev.commented_command("zbctl"))
    at = words.index("zbctl")
    settings = dict(word.split("=", 1) for word in words[:at])
    args = [arg.replace("$HOME", str(tmp_path)) for arg in words[at + 1 :]]
    settings = {k: v.replace("$HOME", str(tmp_path)) for k, v in settings.items()}
    before = len(jobs_gateway.calls_of("Topology"))
    done = run_zbctl(args, client_env(tmp_path, **settings))
    assert done.returncode == 0, done.stderr
    assert "Gateway version: 8.4.13" in done.stdout
    assert "Partition 1 : Leader, Healthy" in done.stdout
    topology = jobs_gateway.calls_of("Topology")[before:]
    # The default identity header: the subject of the client's service account.
    assert [call.values("x-zeebe-authz-subject") for call in topology] == [["service-account-dev-writer"]]


def test_zbctl_creates_an_instance_as_the_write_client(
    stack: tuple[DevServer, Envoy], jobs_gateway: StubGateway, tmp_path: Path
) -> None:
    dev, _ = stack
    done = run_zbctl(
        ["create", "instance", "order-process", "--variables", '{"orderId": 42}'],
        zbctl_env(dev, tmp_path, "WRITE"),
    )
    assert done.returncode == 0, done.stderr
    assert '"processInstanceKey":  "2251799813685251"' in done.stdout
    call = jobs_gateway.calls_of("CreateProcessInstance")[-1]
    assert call.request.bpmnProcessId == "order-process"
    assert call.values("x-zeebe-authz-subject") == ["service-account-dev-writer"]


def test_zbctl_read_only_client_is_refused_with_the_reason(
    stack: tuple[DevServer, Envoy], jobs_gateway: StubGateway, tmp_path: Path
) -> None:
    """zbctl prints the gRPC status and the authorizer's message as its error and exits 1;
    nothing reaches the gateway. (zbctl's own status check passes for the same client.)"""
    dev, _ = stack
    env = zbctl_env(dev, tmp_path, "READ")
    assert run_zbctl(["status"], env).returncode == 0
    before = len(jobs_gateway.calls_of("CreateProcessInstance"))
    done = run_zbctl(["create", "instance", "order-process"], env)
    assert done.returncode == 1
    assert "code = PermissionDenied" in done.stderr, done.stderr
    assert "zeebe-authz: CreateProcessInstance requires permission write:*" in done.stderr
    assert len(jobs_gateway.calls_of("CreateProcessInstance")) == before


def test_zbctl_replaces_a_cached_token_the_authorizer_refuses(
    stack: tuple[DevServer, Envoy], tmp_path: Path
) -> None:
    """zbctl caches tokens in a YAML file keyed by audience only (not by client: two clients
    with one cache file and one ZEEBE_TOKEN_AUDIENCE share a token) and, in 8.4, under
    `--clientCache` (default ~/.camunda/credentials) — it does not read
    ZEEBE_CLIENT_CONFIG_PATH, whatever its help says. A cached token the authorizer refuses
    (UNAUTHENTICATED) makes it fetch a new one and retry the call once."""
    dev, _ = stack
    cache = tmp_path / "credentials.yaml"
    stale = dev.export("ZEEBE_AUTHZ_WRITE_TOKEN")[:-8] + "AAAAAAAA"  # a signature that fails
    cache.write_text(
        "zeebe-api:\n  auth:\n    credentials:\n"
        f"      accesstoken: {stale}\n      tokentype: Bearer\n      refreshtoken: \"\"\n"
        "      expiry: 2099-01-01T00:00:00Z\n"
    )
    before = dev.issued("dev-writer")
    done = run_zbctl(["status", "--clientCache", str(cache)], zbctl_env(dev, tmp_path, "WRITE"))
    assert done.returncode == 0, done.stderr
    assert dev.issued("dev-writer") == before + 1
    assert stale not in cache.read_text(), "the new token replaced the refused one in the cache"


# -- @camunda8/sdk ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def recorder() -> Iterator[fa.FakeAuthz]:
    server = fa.FakeAuthz().start()
    yield server
    server.stop()


def test_sdk_sends_every_request_gzip_compressed(
    workdir: Path, stack: tuple[DevServer, Envoy], jobs_gateway: StubGateway, recorder: fa.FakeAuthz, tmp_path: Path
) -> None:
    """Pinned with a recording authorizer behind Envoy: @camunda8/sdk's requests reach ext_authz
    as gzip frames (flag 1) even when tiny, which Python's grpc never sends (it sends a small
    message uncompressed under the same header). So the decisions below are made on
    compressed bodies."""
    dev, _ = stack
    recorder.respond(fa.allowed())
    proxy = Envoy(workdir / "sdk-recorder", jobs_gateway.address, recorder.address, name="envoy-sdk-recorder")
    with running(proxy):
        env = sdk_env(dev, tmp_path, "TENANT", ZEEBE_GRPC_ADDRESS=f"grpc://{proxy.address}")
        before = len(recorder.requests)
        [created] = run_sdk([{"op": "create", "bpmnProcessId": "order-process", "tenantId": "tenant-a"}], env)
    assert created["ok"], created
    seen = [fa.read_http_request(raw) for raw in recorder.requests[before:]]
    [create] = [s for s in seen if s.headers.get(":path", "").endswith("/CreateProcessInstance")]
    assert create.headers.get("grpc-encoding") == "gzip"
    assert create.raw_body[0] == 1, "the frame's compressed-flag"
    (length,) = struct.unpack(">I", create.raw_body[1:5])
    message = pb.CreateProcessInstanceRequest.FromString(gzip.decompress(create.raw_body[5 : 5 + length]))
    assert (message.bpmnProcessId, message.tenantId) == ("order-process", "tenant-a")


def test_sdk_topology_and_create_as_the_write_client(
    stack: tuple[DevServer, Envoy], jobs_gateway: StubGateway, tmp_path: Path
) -> None:
    """The SDK sends `tenantId: <default>` explicitly (CAMUNDA_TENANT_ID's default) where the
    stubs leave it empty."""
    dev, _ = stack
    topology, created = run_sdk(
        [{"op": "topology"}, {"op": "create", "bpmnProcessId": "order-process"}], sdk_env(dev, tmp_path, "WRITE")
    )
    assert topology == {"op": "topology", "ok": True, "gatewayVersion": "8.4.13", "brokers": 1}
    assert created["ok"], created
    call = jobs_gateway.calls_of("CreateProcessInstance")[-1]
    assert call.request.tenantId == "<default>"
    assert call.values("x-zeebe-authz-subject") == ["service-account-dev-writer"]


def test_sdk_tenant_client_is_held_to_its_tenant_on_compressed_bodies(
    stack: tuple[DevServer, Envoy], tmp_path: Path
) -> None:
    dev, _ = stack
    held, other, default = run_sdk(
        [
            {"op": "create", "bpmnProcessId": "order-process", "tenantId": "tenant-a"},
            {"op": "create", "bpmnProcessId": "order-process", "tenantId": "tenant-b"},
            {"op": "create", "bpmnProcessId": "order-process"},
        ],
        sdk_env(dev, tmp_path, "TENANT"),
    )
    assert held == {"op": "create", "ok": True, "processInstanceKey": "2251799813685251", "tenantId": "tenant-a"}
    assert other["code"] == grpc.StatusCode.PERMISSION_DENIED.value[0], other
    assert "tenant 'tenant-b' not allowed (token holds: tenant-a)" in other["details"]
    assert default["code"] == grpc.StatusCode.PERMISSION_DENIED.value[0], default
    assert "tenant '<default>' not allowed" in default["details"]


def test_sdk_worker_is_allowed_for_payment_and_refused_for_shipping(
    stack: tuple[DevServer, Envoy], jobs_gateway: StubGateway, tmp_path: Path
) -> None:
    """A ZBWorker long-polls ActivateJobs (compressed, with `tenantIds: [<default>]`) and
    completes the jobs it gets with CompleteJob; its stream error carries the authorizer's
    reason. A worker stops on PERMISSION_DENIED only because this harness closes it: the SDK
    itself would poll again after its backoff."""
    dev, _ = stack
    jobs_gateway.offer_jobs("payment-eu", 2)
    before_complete = len(jobs_gateway.calls_of("CompleteJob"))
    payment, shipping = run_sdk(
        [
            {"op": "worker", "type": "payment-eu", "jobs": 2, "ms": 8000},
            {"op": "worker", "type": "shipping", "ms": 8000},
        ],
        sdk_env(dev, tmp_path, "WORKER"),
    )
    assert payment["ok"] and len(payment["jobs"]) == 2, payment
    completed = jobs_gateway.calls_of("CompleteJob")[before_complete:]
    assert sorted(str(c.request.jobKey) for c in completed) == sorted(payment["jobs"])
    activations = [c for c in jobs_gateway.calls_of("ActivateJobs") if c.request.type == "payment-eu"]
    assert list(activations[-1].request.tenantIds) == ["<default>"]
    assert not shipping["ok"] and shipping["jobs"] == []
    error = shipping["errors"][0]
    assert {e["code"] for e in shipping["errors"]} == {grpc.StatusCode.PERMISSION_DENIED.value[0]}
    assert error["code"] == grpc.StatusCode.PERMISSION_DENIED.value[0]
    assert "ActivateJobs: job type 'shipping' not allowed (allowed: payment*)" in error["details"]
    assert not [c for c in jobs_gateway.calls_of("ActivateJobs") if c.request.type == "shipping"]


# -- token refresh ------------------------------------------------------------------------------


def test_sdk_refreshes_a_token_that_expires_mid_run(
    short_stack: tuple[DevServer, Envoy], jobs_gateway: StubGateway, tmp_path: Path
) -> None:
    """With 3 s tokens, one SDK client makes calls 4 s apart: each is allowed, because the SDK
    fetches a new token once its cached one is within CAMUNDA_OAUTH_TOKEN_REFRESH_THRESHOLD_MS
    (1 s) of `exp`. The first token itself is refused by then (dev mode has no leeway), so the
    calls did not pass on an old token."""
    dev, envoy = short_stack
    first = dev.fetch_token("WRITE")
    before = dev.issued("dev-writer")
    pause = {"op": "sleep", "ms": (SHORT_TTL_SECONDS + 1) * 1000}
    results = run_sdk(
        [{"op": "topology"}, pause, {"op": "topology"}, pause, {"op": "topology"}], sdk_env(dev, tmp_path, "WRITE")
    )
    assert [r["ok"] for r in results] == [True] * 5, results
    assert dev.issued("dev-writer") - before >= 3, "a fresh token for each call after the pause"
    with grpc.insecure_channel(envoy.address) as channel:
        stale = invoke(gateway_pb2_grpc.GatewayStub(channel).Topology, pb.TopologyRequest(), metadata=bearer(first))
    assert stale.code == grpc.StatusCode.UNAUTHENTICATED, stale
    assert "token expired" in stale.details


def test_zbctl_works_with_tokens_shorter_than_its_expiry_margin(
    short_stack: tuple[DevServer, Envoy], tmp_path: Path
) -> None:
    """Go's oauth2 treats a token as expired 10 s before `exp`: with 3 s tokens zbctl fetches
    one for every command and still works; two commands a token lifetime apart both pass."""
    dev, _ = short_stack
    env = zbctl_env(dev, tmp_path, "WRITE")
    before = dev.issued("dev-writer")
    assert run_zbctl(["status"], env).returncode == 0
    time.sleep(SHORT_TTL_SECONDS + 1)
    done = run_zbctl(["status"], env)
    assert done.returncode == 0, done.stderr
    assert dev.issued("dev-writer") - before == 2


def test_zbctl_binary_is_camundas_go_client(tmp_path: Path) -> None:
    done = run_zbctl(["version"], client_env(tmp_path))
    assert done.returncode == 0 and done.stdout.startswith("zbctl 8.4"), done
    assert zbctl_binary().name == "zbctl-cli.linux"
