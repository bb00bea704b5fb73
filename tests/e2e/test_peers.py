"""Every peer decides as zeebe-authz does, before any figure of docs/src/peers.md is taken.

One decision matrix (valid, expired, wrongly signed, wrongly issued and missing tokens; granted
and refused rpcs; tenant-a and tenant-b in the body) through a real Envoy 1.40 in front of the
stub gateway, once with zeebe-authz (`policies/dev.yaml`, tenants from the `tenants` claim)
and once with each peer running its equivalent (peers/opa/policy.rego for OPA-Envoy, built by
scripts/peers). The expected outcome of every case is written here, not taken from zeebe-authz:
both must meet it, code for code (UNAUTHENTICATED for a token refused, PERMISSION_DENIED for an
rpc refused, OK for a call that reached the gateway).

Peers that cannot be run here (Kyverno: not buildable from the module proxy; Authorino: needs
a Kubernetes API server) are not in the matrix; docs/src/peers.md says why.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import pytest
from zeebe_grpc import gateway_pb2 as pb
from zeebe_grpc import gateway_pb2_grpc

from support.authz import DEV_POLICY, Authz, config_yaml, find_binary
from support.calls import bearer, invoke, raw_unary
from support.envoy import Envoy
from support.gateway import StubGateway
from support.issuer import AUDIENCE, KeycloakIssuer, RealmKey
from support.peers import OpaEnvoy, find_peer, gateway_catalog, write_protoset
from support.process import running

OK = grpc.StatusCode.OK
UNAUTHENTICATED = grpc.StatusCode.UNAUTHENTICATED
PERMISSION_DENIED = grpc.StatusCode.PERMISSION_DENIED


@dataclass(frozen=True)
class Call:
    """One rpc call, made through a channel with a token's metadata."""

    name: str
    make: Callable[[grpc.Channel, tuple[tuple[str, str], ...]], grpc.StatusCode]


def _stub_call(method: str, request: Any) -> Callable[[grpc.Channel, tuple[tuple[str, str], ...]], grpc.StatusCode]:
    def make(channel: grpc.Channel, metadata: tuple[tuple[str, str], ...]) -> grpc.StatusCode:
        return invoke(getattr(gateway_pb2_grpc.GatewayStub(channel), method), request, metadata).code

    return make


def _raw_call(path: str) -> Callable[[grpc.Channel, tuple[tuple[str, str], ...]], grpc.StatusCode]:
    def make(channel: grpc.Channel, metadata: tuple[tuple[str, str], ...]) -> grpc.StatusCode:
        return invoke(raw_unary(channel, path), b"", metadata).code

    return make


def _create(tenant: str) -> Callable[[grpc.Channel, tuple[tuple[str, str], ...]], grpc.StatusCode]:
    return _stub_call("CreateProcessInstance", pb.CreateProcessInstanceRequest(bpmnProcessId="order", tenantId=tenant))


def _activate(job_type: str) -> Callable[[grpc.Channel, tuple[tuple[str, str], ...]], grpc.StatusCode]:
    request = pb.ActivateJobsRequest(type=job_type, worker="w", maxJobsToActivate=1, requestTimeout=1, tenantIds=["tenant-a"])
    return _stub_call("ActivateJobs", request)


def _activate_assigned(job_type: str) -> Callable[[grpc.Channel, tuple[tuple[str, str], ...]], grpc.StatusCode]:
    """ActivateJobs with Camunda 8.9's tenantFilter (field 8) = ASSIGNED, which the 8.4 stubs
    lack: the gateway would ignore tenantIds, so a tenant condition must refuse it."""
    listed = pb.ActivateJobsRequest(type=job_type, worker="w", maxJobsToActivate=1, requestTimeout=1, tenantIds=["tenant-a"])
    request = pb.ActivateJobsRequest.FromString(listed.SerializeToString() + bytes([8 << 3, 1]))
    return _stub_call("ActivateJobs", request)


CALLS = {
    call.name: call
    for call in [
        Call("Topology", _stub_call("Topology", pb.TopologyRequest())),
        Call("CreateProcessInstance tenant-a", _create("tenant-a")),
        Call("CreateProcessInstance tenant-b", _create("tenant-b")),
        Call("CreateProcessInstance <default>", _create("")),
        Call("CompleteJob", _stub_call("CompleteJob", pb.CompleteJobRequest(jobKey=1, variables='{"paid":true}'))),
        Call("ActivateJobs payment-card", _activate("payment-card")),
        Call("ActivateJobs shipping", _activate("shipping")),
        Call("ActivateJobs payment-card ASSIGNED", _activate_assigned("payment-card")),
        Call("unknown rpc", _raw_call("/gateway_protocol.Gateway/NoSuchRpc")),
        Call("other service", _raw_call("/other.Service/Method")),
    ]
}

# token name → {call name → expected code}; calls left out of a row are not made with it.
EVERY_CALL = list(CALLS)
GRANTED = {
    "write:*": dict.fromkeys(EVERY_CALL, OK) | {"unknown rpc": PERMISSION_DENIED, "other service": PERMISSION_DENIED},
    "read:*": dict.fromkeys(EVERY_CALL, PERMISSION_DENIED) | {"Topology": OK},
    "Topology (rpc-named)": dict.fromkeys(EVERY_CALL, PERMISSION_DENIED) | {"Topology": OK},
    "tenant:write, holds tenant-a": dict.fromkeys(EVERY_CALL, OK)
    | {
        "CreateProcessInstance tenant-b": PERMISSION_DENIED,
        "CreateProcessInstance <default>": PERMISSION_DENIED,
        "ActivateJobs payment-card ASSIGNED": PERMISSION_DENIED,
        "unknown rpc": PERMISSION_DENIED,
        "other service": PERMISSION_DENIED,
    },
    "worker:payment": dict.fromkeys(EVERY_CALL, PERMISSION_DENIED)
    | {"CompleteJob": OK, "ActivateJobs payment-card": OK, "ActivateJobs payment-card ASSIGNED": OK},
}
REFUSED_TOKENS = [
    "expired",
    "signed by another key",
    "another issuer",
    "another audience",
    "an ID token (typ ID)",
    "no token",
]
SAMPLE = ["Topology", "CreateProcessInstance tenant-a", "CompleteJob"]
EXPECTED: dict[str, dict[str, grpc.StatusCode]] = {
    **GRANTED,
    **{name: dict.fromkeys(SAMPLE, UNAUTHENTICATED) for name in REFUSED_TOKENS},
}


def tokens(issuer: KeycloakIssuer) -> dict[str, str | None]:
    impostor = RealmKey(kid=issuer.signing_key.kid)  # the realm's kid, another key
    return {
        "write:*": issuer.mint(["write:*"]),
        "read:*": issuer.mint(["read:*"]),
        "Topology (rpc-named)": issuer.mint(["Topology"]),
        "tenant:write, holds tenant-a": issuer.mint(["tenant:write"], tenants=["tenant-a"]),
        "worker:payment": issuer.mint(["worker:payment"]),
        "expired": issuer.mint(["write:*"], lifetime=-600),
        "signed by another key": issuer.mint(["write:*"], key=impostor),
        "another issuer": issuer.mint(["write:*"], issuer="http://127.0.0.1:9/realms/elsewhere"),
        "another audience": issuer.mint(["write:*"], audience="other-api"),
        "an ID token (typ ID)": issuer.mint(["write:*"], typ="ID"),
        "no token": None,
    }


def decide_all(envoy: Envoy, minted: dict[str, str | None]) -> dict[str, dict[str, grpc.StatusCode]]:
    seen: dict[str, dict[str, grpc.StatusCode]] = {}
    with grpc.insecure_channel(envoy.address) as channel:
        for token_name, row in EXPECTED.items():
            metadata = bearer(minted[token_name])
            seen[token_name] = {call: CALLS[call].make(channel, metadata) for call in row}
    return seen


def mismatches(seen: dict[str, dict[str, grpc.StatusCode]]) -> list[str]:
    return [
        f"{token} × {call}: expected {want.name}, got {seen[token][call].name}"
        for token, row in EXPECTED.items()
        for call, want in row.items()
        if seen[token][call] != want
    ]


@pytest.fixture(scope="module")
def realm() -> Iterator[KeycloakIssuer]:
    server = KeycloakIssuer().start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def matrix_gateway() -> Iterator[StubGateway]:
    server = StubGateway().start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def protoset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_protoset(find_binary(), tmp_path_factory.mktemp("protoset") / "gateway.protoset")


def test_the_matrix_covers_what_it_claims() -> None:
    """Valid and refused tokens, granted and refused rpcs, both tenants: each kind of case is
    in the matrix, and so is each expected code."""
    codes = {code for row in EXPECTED.values() for code in row.values()}
    assert codes == {OK, UNAUTHENTICATED, PERMISSION_DENIED}
    tenant_row = EXPECTED["tenant:write, holds tenant-a"]
    assert tenant_row["CreateProcessInstance tenant-a"] == OK
    assert tenant_row["CreateProcessInstance tenant-b"] == PERMISSION_DENIED


def test_the_opa_data_reads_tenants_where_zeebe_authz_does(protoset: Path) -> None:
    """The rpcs and tenant fields OPA is given come from the same proto as zeebe-authz's catalog:
    the nine tenant-carrying rpcs and DeployProcess (compile.rs counts the same ten)."""
    catalog = gateway_catalog(protoset)
    assert len(catalog["rpcs"]) == 22
    assert len(catalog["tenant_fields"]) == 10
    assert catalog["tenant_fields"]["CreateProcessInstance"] == {"path": ["tenantId"], "repeated": False}
    assert catalog["tenant_fields"]["ActivateJobs"] == {"path": ["tenantIds"], "repeated": True}
    assert catalog["tenant_fields"]["CreateProcessInstanceWithResult"]["path"] == ["request", "tenantId"]
    assert "CompleteJob" not in catalog["tenant_fields"]
    assert set(catalog["job_type_fields"]) == {"ActivateJobs", "StreamActivatedJobs"}


def test_zeebe_authz_meets_the_matrix(
    tmp_path: Path, realm: KeycloakIssuer, matrix_gateway: StubGateway
) -> None:
    authz = Authz(tmp_path / "authz", config_yaml(realm.url, policy=DEV_POLICY, tenants_claim="tenants"))
    with running(authz, lambda p: p.start().wait_ready()):
        with running(Envoy(tmp_path / "envoy", matrix_gateway.address, authz.check_addr)) as envoy:
            seen = decide_all(envoy, tokens(realm))
    assert not mismatches(seen), "\n".join(mismatches(seen))


def test_opa_envoy_decides_as_zeebe_authz(
    tmp_path: Path, realm: KeycloakIssuer, matrix_gateway: StubGateway, protoset: Path
) -> None:
    find_peer("opa-envoy-plugin")
    opa = OpaEnvoy(tmp_path / "opa", jwks=realm.jwks(), issuer=realm.url, audience=AUDIENCE, protoset=protoset)
    with running(opa):
        with running(Envoy(tmp_path / "envoy", matrix_gateway.address, opa.check_addr)) as envoy:
            seen = decide_all(envoy, tokens(realm))
    assert not mismatches(seen), "\n".join(mismatches(seen))
