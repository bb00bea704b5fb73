"""No body buffering where no condition reads the body: the Envoy bootstrap `serve --dev
--envoy-config` writes routes every rpc that `policies/dev.yaml` decides without its body
(Topology, CompleteJob, …) on an exact-path route whose `ExtAuthzPerRoute` turns off the
ext_authz filter's `with_request_body`, and keeps the buffered catch-all for the rest.

Through a real Envoy 1.40 running that bootstrap as written:
- with a scripted authorizer in place of zeebe-authz (only the cluster's address changed), a
  CompleteJob carrying 16 KiB of variables reaches the Check without its body, while a
  CreateProcessInstance (a tenant condition reads it) still reaches it with its body;
- with zeebe-authz itself, the tenant condition still sees the body (tenant-a allowed,
  tenant-b refused) and a 64 KiB CompleteJob passes (that only shows nothing breaks: a buffered
  body cut at max_request_bytes would pass too, CompleteJob having no condition);
- a conditional rpc put on a body-free route by mistake fails closed: tenant-a is refused.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
import yaml
from zeebe_grpc import gateway_pb2 as pb
from zeebe_grpc import gateway_pb2_grpc

from support import fake_authz as fa
from support.calls import bearer, invoke
from support.dev_server import DevServer
from support.envoy import Envoy, closed_loopback_port
from support.gateway import StubGateway
from support.process import running

OK = grpc.StatusCode.OK
PERMISSION_DENIED = grpc.StatusCode.PERMISSION_DENIED
PER_ROUTE = "type.googleapis.com/envoy.extensions.filters.http.ext_authz.v3.ExtAuthzPerRoute"


def variables(size: int) -> str:
    return json.dumps({"pad": "x" * size})


@pytest.fixture(scope="module")
def buffering_gateway() -> Iterator[StubGateway]:
    server = StubGateway().start()
    yield server
    server.stop()


@pytest.fixture
def dev(tmp_path: Path, buffering_gateway: StubGateway) -> Iterator[DevServer]:
    listen = f"127.0.0.1:{closed_loopback_port()}"
    server = DevServer(tmp_path / "dev", gateway=buffering_gateway.address, envoy_listen=listen)
    with running(server):
        yield server


def routes_of(bootstrap: dict) -> list[dict]:
    # The gRPC door's listener (the REST door, `zeebe-rest`, has its own).
    (listener,) = [x for x in bootstrap["static_resources"]["listeners"] if x["name"] == "zeebe"]
    (hcm,) = listener["filter_chains"][0]["filters"]
    (vhost,) = hcm["typed_config"]["route_config"]["virtual_hosts"]
    return vhost["routes"]


def test_the_bootstrap_routes_each_body_free_rpc_without_buffering(dev: DevServer) -> None:
    routes = routes_of(yaml.safe_load(dev.envoy_config.read_text()))
    unbuffered = {
        r["match"]["path"].rsplit("/", 1)[1]
        for r in routes
        if r.get("typed_per_filter_config", {}).get("envoy.filters.http.ext_authz", {}).get("check_settings")
        == {"disable_request_body_buffering": True}
        and r["typed_per_filter_config"]["envoy.filters.http.ext_authz"]["@type"] == PER_ROUTE
    }
    assert {"Topology", "CompleteJob", "FailJob", "ThrowError", "ResolveIncident"} <= unbuffered
    # Every rpc a condition of policies/dev.yaml reads keeps its body.
    assert not unbuffered & {"CreateProcessInstance", "ActivateJobs", "StreamActivatedJobs", "DeployProcess",
                             "CreateProcessInstanceWithResult", "PublishMessage"}
    assert routes[-1]["match"] == {"prefix": "/"} and "typed_per_filter_config" not in routes[-1]


def test_a_body_free_rpc_reaches_the_check_without_its_body(
    tmp_path: Path, dev: DevServer, buffering_gateway: StubGateway
) -> None:
    scripted = fa.FakeAuthz().start()
    try:
        bootstrap = yaml.safe_load(dev.envoy_config.read_text())
        (cluster,) = [c for c in bootstrap["static_resources"]["clusters"] if c["name"] == "zeebe-authz"]
        host, _, port = scripted.address.rpartition(":")
        endpoint = cluster["load_assignment"]["endpoints"][0]["lb_endpoints"][0]["endpoint"]
        endpoint["address"]["socket_address"] = {"address": host, "port_value": int(port)}
        rewritten = tmp_path / "envoy-scripted.yaml"
        rewritten.write_text(json.dumps(bootstrap))
        envoy = Envoy(tmp_path / "envoy", buffering_gateway.address, "", name="envoy-scripted", bootstrap_file=rewritten)
        with running(envoy), grpc.insecure_channel(envoy.address) as channel:
            stub = gateway_pb2_grpc.GatewayStub(channel)
            complete = invoke(stub.CompleteJob, pb.CompleteJobRequest(jobKey=1, variables=variables(16 * 1024)))
            create = invoke(stub.CreateProcessInstance, pb.CreateProcessInstanceRequest(bpmnProcessId="order",
                                                                                          tenantId="tenant-a"))
        assert (complete.code, create.code) == (OK, OK), (complete, create)
        seen = {fa.read_http_request(r).headers[":path"].rsplit("/", 1)[1]: fa.read_http_request(r)
                for r in scripted.requests}
        assert seen["CompleteJob"].raw_body == b"", "CompleteJob's Check carried its body"
        assert b"tenant-a" in seen["CreateProcessInstance"].raw_body, "the conditional rpc lost its body"
    finally:
        scripted.stop()


def test_a_body_condition_still_sees_the_body(
    tmp_path: Path, dev: DevServer, buffering_gateway: StubGateway
) -> None:
    envoy = Envoy(tmp_path / "envoy", buffering_gateway.address, "", name="envoy-dev", bootstrap_file=dev.envoy_config)
    tenant, writer = bearer(dev.export("ZEEBE_AUTHZ_TENANT_TOKEN")), bearer(dev.export("ZEEBE_AUTHZ_WRITE_TOKEN"))
    with running(envoy), grpc.insecure_channel(envoy.address) as channel:
        stub = gateway_pb2_grpc.GatewayStub(channel)

        def create(tenant_id: str) -> grpc.StatusCode:
            request = pb.CreateProcessInstanceRequest(bpmnProcessId="order", tenantId=tenant_id)
            return invoke(stub.CreateProcessInstance, request, tenant).code

        big = pb.CompleteJobRequest(jobKey=1, variables=variables(64 * 1024))
        outcomes = {
            "tenant-a": create("tenant-a"),
            "tenant-b": create("tenant-b"),
            "CompleteJob 64 KiB, tenant token": invoke(stub.CompleteJob, big, tenant).code,
            "CompleteJob 64 KiB, write token": invoke(stub.CompleteJob, big, writer).code,
        }
    assert outcomes == {
        "tenant-a": OK,
        "tenant-b": PERMISSION_DENIED,
        "CompleteJob 64 KiB, tenant token": OK,
        "CompleteJob 64 KiB, write token": OK,
    }


def test_a_conditional_rpc_on_a_body_free_route_fails_closed(
    tmp_path: Path, dev: DevServer, buffering_gateway: StubGateway
) -> None:
    """A hand-written route list that sends CreateProcessInstance without its body must cost
    an outage of that rpc (body_unavailable), never an allow: the tenant condition has
    nothing to read."""
    bootstrap = yaml.safe_load(dev.envoy_config.read_text())
    routes = routes_of(bootstrap)
    body_free = next(r for r in routes if r["match"].get("path", "").endswith("/Topology"))
    wrong = json.loads(json.dumps(body_free))
    wrong["match"]["path"] = "/gateway_protocol.Gateway/CreateProcessInstance"
    routes.insert(0, wrong)
    rewritten = tmp_path / "envoy-wrong-routes.yaml"
    rewritten.write_text(json.dumps(bootstrap))
    envoy = Envoy(tmp_path / "envoy", buffering_gateway.address, "", name="envoy-wrong", bootstrap_file=rewritten)
    tenant = bearer(dev.export("ZEEBE_AUTHZ_TENANT_TOKEN"))
    with running(envoy), grpc.insecure_channel(envoy.address) as channel:
        stub = gateway_pb2_grpc.GatewayStub(channel)
        request = pb.CreateProcessInstanceRequest(bpmnProcessId="order", tenantId="tenant-a")
        refused = invoke(stub.CreateProcessInstance, request, tenant)
        topology = invoke(stub.Topology, pb.TopologyRequest(), tenant).code
    assert refused.code == PERMISSION_DENIED, refused
    assert "body" in refused.details.lower(), refused
    assert topology == OK
