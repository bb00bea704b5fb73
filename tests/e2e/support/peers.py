"""The peers zeebe-authz is compared with (docs/src/peers.md), run with the policy equivalent to
`policies/dev.yaml`: OPA-Envoy (`opa-envoy-plugin`, built by scripts/peers into .peers/bin/).

`OpaEnvoy` writes OPA's config and its data document and starts `opa-envoy-plugin run` with
`peers/opa/policy.rego` on loopback ports picked at run time; ready once OPA's `/health?plugins`
answers 200 (the ext_authz gRPC plugin is up). The data document holds what zeebe-authz takes
from its config and its rpc catalog: the realm's JWKS, issuer and audience, and from the
descriptor set of proto/gateway.proto (`zeebe-authz bench protoset`) the rpcs and where each
carries its tenant(s) and job type, read as zeebe-authz's catalog reads them
(`policy::condition::field_source`): a string field `tenantId` / `tenantIds` / `type` of the
request message, or of its nested `request` message; DeployProcess deploys to the default
tenant.

Used by tests/e2e/test_peers.py (the decision matrix) and scripts/peers-bench (the figures).
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import yaml
from google.protobuf import descriptor_pb2

from .authz import DEV_POLICY, REPO_ROOT
from .process import stop_process, wait_until

PEERS_BIN = REPO_ROOT / ".peers" / "bin"
OPA_POLICY = REPO_ROOT / "peers" / "opa" / "policy.rego"
# OPA's answer: an object with `allowed` and, on a deny, `http_status` (peers/opa/policy.rego).
OPA_DECISION_PATH = "zeebe/authz/result"
# How many verified tokens OPA keeps (its `io_jwt` inter-query value cache, off by default):
# as many as the memory figure shows, so OPA verifies each token once, as zeebe-authz does.
OPA_TOKEN_CACHE_ENTRIES = 200_000
STARTUP_TIMEOUT = 30.0
GATEWAY_SERVICE = "gateway_protocol.Gateway"
TENANT_FIELDS = ("tenantId", "tenantIds")
JOB_TYPE_FIELD = "type"
STRING = descriptor_pb2.FieldDescriptorProto.TYPE_STRING
REPEATED = descriptor_pb2.FieldDescriptorProto.LABEL_REPEATED


class PeerMissing(RuntimeError):
    pass


def find_peer(name: str) -> Path:
    path = PEERS_BIN / name
    if not path.is_file() or not os.access(path, os.X_OK):
        raise PeerMissing(f"{path} is missing: run ./scripts/peers (it builds {name} from its pinned Go module)")
    return path


def build_peers() -> None:
    """scripts/peers: a no-op when every peer's stamp matches its pin."""
    subprocess.run([str(REPO_ROOT / "scripts" / "peers")], check=True)


def write_protoset(binary: Path, out: Path) -> Path:
    """proto/gateway.proto as a descriptor set, written by `zeebe-authz bench protoset`."""
    subprocess.run([str(binary), "bench", "protoset", "--out", str(out)], check=True)
    return out


def free_port() -> int:
    """A loopback port free at this moment (OPA takes fixed addresses in its config)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _field_in(message: descriptor_pb2.DescriptorProto, names: tuple[str, ...]) -> descriptor_pb2.FieldDescriptorProto | None:
    for name in names:
        for field in message.field:
            if field.name == name and field.type == STRING:
                return field
    return None


def gateway_catalog(protoset: Path) -> dict[str, Any]:
    """The rpcs of the gateway service, and per rpc where its tenant(s) and job type are, as
    zeebe-authz's catalog finds them. Paths are protobuf-JSON names (what OPA-Envoy's
    `parsed_body` holds)."""
    files = descriptor_pb2.FileDescriptorSet.FromString(protoset.read_bytes()).file
    messages = {f".{f.package}.{m.name}": m for f in files for m in f.message_type}
    (service,) = [s for f in files for s in f.service if f"{f.package}.{s.name}" == GATEWAY_SERVICE]

    def locate(rpc: descriptor_pb2.MethodDescriptorProto, names: tuple[str, ...]) -> dict[str, Any] | None:
        message = messages[rpc.input_type]
        path: list[str] = []
        field = _field_in(message, names)
        if field is None:
            nested = next((f for f in message.field if f.name == "request" and f.label != REPEATED), None)
            if nested is None or nested.type_name not in messages:
                return None
            field = _field_in(messages[nested.type_name], names)
            if field is None:
                return None
            path = [nested.json_name or nested.name]
        return {"path": [*path, field.json_name or field.name], "repeated": field.label == REPEATED}

    tenant_fields: dict[str, Any] = {}
    job_type_fields: dict[str, Any] = {}
    for rpc in service.method:
        if rpc.name == "DeployProcess":
            tenant_fields[rpc.name] = {"default_tenant": True}
        elif (found := locate(rpc, TENANT_FIELDS)) is not None:
            tenant_fields[rpc.name] = found
        if (found := locate(rpc, (JOB_TYPE_FIELD,))) is not None:
            job_type_fields[rpc.name] = found
    return {
        "rpcs": {rpc.name: True for rpc in service.method},
        "tenant_fields": tenant_fields,
        "job_type_fields": job_type_fields,
    }


def dev_policy_job_rpcs() -> list[str]:
    """The `jobs` group of policies/dev.yaml (what `worker:payment` grants)."""
    return list(yaml.safe_load(DEV_POLICY.read_text())["groups"]["jobs"])


class OpaEnvoy:
    """`opa-envoy-plugin run --server` with peers/opa/policy.rego and its data document."""

    name = "opa-envoy"

    def __init__(
        self,
        workdir: Path,
        *,
        jwks: dict[str, Any],
        issuer: str,
        audience: str,
        protoset: Path,
        wrapper: tuple[str, ...] = (),
        env: dict[str, str] | None = None,
    ):
        self.workdir = workdir
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.data = {
            "zeebe": {
                "jwks": json.dumps(jwks),
                "issuer": issuer,
                "audience": audience,
                "job_rpcs": dev_policy_job_rpcs(),
                **gateway_catalog(protoset),
            }
        }
        self.protoset = protoset
        self.wrapper = wrapper
        self.env = env or {}
        self.log_path = workdir / "opa-envoy.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self.check_addr = ""
        self.http_addr = ""

    def config(self) -> dict[str, Any]:
        return {
            "plugins": {
                "envoy_ext_authz_grpc": {
                    "addr": self.check_addr,
                    "path": OPA_DECISION_PATH,
                    "proto-descriptor": str(self.protoset),
                }
            },
            "decision_logs": {"console": False},
            "caching": {
                "inter_query_builtin_value_cache": {
                    "named": {"io_jwt": {"max_num_entries": OPA_TOKEN_CACHE_ENTRIES, "disabled": False}}
                }
            },
        }

    def start(self) -> OpaEnvoy:
        binary = find_peer("opa-envoy-plugin")
        self.check_addr = f"127.0.0.1:{free_port()}"
        self.http_addr = f"127.0.0.1:{free_port()}"
        config = self.workdir / "opa-config.json"
        config.write_text(json.dumps(self.config(), indent=2))
        data = self.workdir / "data.json"
        data.write_text(json.dumps(self.data, indent=2))
        argv = [
            *self.wrapper,
            str(binary),
            "run",
            "--server",
            "--addr",
            self.http_addr,
            "--config-file",
            str(config),
            "--log-level",
            "error",
            "--disable-telemetry",
            str(OPA_POLICY),
            str(data),
        ]
        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen(
                argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, env={**os.environ, **self.env}
            )
        try:
            wait_until(self._healthy, STARTUP_TIMEOUT, "OPA-Envoy /health?plugins")
        except BaseException:
            self.stop()
            raise
        return self

    def _healthy(self) -> bool:
        assert self.proc is not None
        if self.proc.poll() is not None:
            raise RuntimeError(f"opa-envoy-plugin exited with {self.proc.returncode}:\n{self.log()}")
        try:
            with urllib.request.urlopen(f"http://{self.http_addr}/health?plugins", timeout=2) as resp:
                return resp.status == 200
        except (OSError, urllib.error.HTTPError):
            return False

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def stop(self) -> None:
        if self.proc is not None:
            stop_process(self.proc)
            self.proc = None
