"""The suite's Java side (tests/e2e/java, built by scripts/java-build): the grpc-java stub
gateway and Camunda's Java client driver.

`JavaGateway` runs `zeebeauthz.GatewayStub`: a Zeebe gateway stub on grpc-java (Netty) and
protobuf-java, generated from proto/gateway.proto, that records every call as grpc-java decoded
it after its own decompression. It prints `{"grpc": PORT, "http": PORT}` when it listens (both
127.0.0.1, ephemeral), serves its records at `GET /calls?since=N`, and stops when its stdin
closes (or by SIGTERM to its pid).

`run_java_client` runs `zeebeauthz.ClientDriver` with one or more scenarios and returns the JSON
line each printed.
"""

from __future__ import annotations

import json
import os
import subprocess
import threading
import time
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .authz import REPO_ROOT
from .process import stop_process, wait_until

JAVA_PROJECT = REPO_ROOT / "tests" / "e2e" / "java"
BUILD_SCRIPT = REPO_ROOT / "scripts" / "java-build"
STARTUP_TIMEOUT = 60.0


def build() -> None:
    """Runs scripts/java-build (a no-op when its stamp matches); a failure is an error."""
    done = subprocess.run([str(BUILD_SCRIPT)], capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"scripts/java-build failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")


def java_command(module: str, main: str) -> list[str]:
    """`java -cp <module classes>:<its dependencies> <main>`."""
    target = JAVA_PROJECT / module / "target"
    classpath = f"{target / 'classes'}{os.pathsep}{(target / 'classpath.txt').read_text().strip()}"
    java = Path(os.environ["JAVA_HOME"]) / "bin" / "java" if os.environ.get("JAVA_HOME") else "java"
    # A small, quick-starting JVM: the stub and the driver are short-lived test processes.
    return [str(java), "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1", "-Xss512k", "-cp", classpath, main]


@dataclass(frozen=True)
class JavaCall:
    """One call as grpc-java decoded it."""

    rpc: str
    # The request as protobuf JSON (fields at their default value are left out).
    request: dict[str, Any]
    # Field numbers protobuf-java kept as unknown (in the request or a nested message).
    unknown_fields: list[int] = field(default_factory=list)
    metadata: dict[str, list[str]] = field(default_factory=dict)

    def values(self, key: str) -> list[str]:
        return self.metadata.get(key.lower(), [])

    @property
    def message(self) -> Any:
        """The request as a message of Camunda's zeebe-grpc 8.4 stubs (fields those stubs lack
        are left out), for tests written against the Python stub gateway's records."""
        from google.protobuf import json_format
        from zeebe_grpc import gateway_pb2

        return json_format.ParseDict(self.request, getattr(gateway_pb2, f"{self.rpc}Request")(), ignore_unknown_fields=True)


class JavaGateway:
    def __init__(self, workdir: Path, name: str = "java-gateway"):
        self.workdir = workdir
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.name = name
        self.proc: subprocess.Popen[bytes] | None = None
        self.grpc_port = 0
        self.http_port = 0
        self._log = self.workdir / f"{name}.log"
        self._ports: dict[str, int] | None = None

    def start(self) -> JavaGateway:
        build()
        log = open(self._log, "wb")  # noqa: SIM115 - the child's stderr, closed by the child's exit
        self.proc = subprocess.Popen(
            java_command("gateway-stub", "zeebeauthz.GatewayStub"),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=log,
        )
        reader = threading.Thread(target=self._read_ports, name=f"{self.name}-stdout", daemon=True)
        reader.start()
        try:
            ports = wait_until(lambda: self._ports or self._exited(), STARTUP_TIMEOUT, f"{self.name} ports")
            if not isinstance(ports, dict):
                raise RuntimeError(f"{self.name} exited ({self.proc.returncode}) before listening:\n{self.log()}")
            self.grpc_port, self.http_port = ports["grpc"], ports["http"]
        except BaseException:
            self.stop()
            raise
        return self

    def _exited(self) -> str | None:
        return "exited" if self.proc is not None and self.proc.poll() is not None else None

    def _read_ports(self) -> None:
        assert self.proc is not None and self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if line:
            self._ports = json.loads(line)

    def stop(self) -> None:
        if self.proc is not None:
            if self.proc.stdin is not None:
                self.proc.stdin.close()
            stop_process(self.proc)

    def log(self) -> str:
        return self._log.read_text(errors="replace") if self._log.exists() else ""

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.grpc_port}"

    def _http(self, method: str, path: str, **params: Any) -> Any:
        query = urllib.parse.urlencode(params)
        request = urllib.request.Request(f"http://127.0.0.1:{self.http_port}{path}?{query}", method=method)
        with urllib.request.urlopen(request, data=b"" if method == "POST" else None, timeout=5) as resp:
            return json.loads(resp.read())

    def calls(self, since: int = 0) -> list[JavaCall]:
        return [
            JavaCall(r["rpc"], r["request"], r.get("unknown_fields", []), r.get("metadata", {}))
            for r in self._http("GET", "/calls", since=since)
        ]

    def calls_of(self, rpc: str) -> list[JavaCall]:
        return [call for call in self.calls() if call.rpc == rpc]

    def offer_job(self, job_type: str, key: int, via: str = "poll") -> None:
        """Queues a job (its key) for the next ActivateJobs (`poll`) or open stream (`stream`)."""
        self._http("POST", "/jobs", type=job_type, key=key, via=via)

    def queue_jobs(self, queue: bool) -> None:
        """`True`: a job worker's gateway (ActivateJobs long-polls the queued jobs, job streams
        stay open and get queued jobs); `False` (the default): each answers one job at once."""
        self._http("POST", "/mode", jobs="queue" if queue else "canned")


def run_java_client(env: dict[str, str], *scenarios: str, timeout: float = 120.0) -> list[dict[str, Any]]:
    """Runs the Java client driver with `scenarios`; returns one result per scenario."""
    build()
    started = time.monotonic()
    done = subprocess.run(
        java_command("client-driver", "zeebeauthz.ClientDriver") + list(scenarios),
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    results = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    if done.returncode != 0 or len(results) != len(scenarios):
        raise AssertionError(
            f"Java client driver exited {done.returncode} after {time.monotonic() - started:.1f}s with "
            f"{len(results)} of {len(scenarios)} results:\n{done.stdout}\n{done.stderr[-4000:]}"
        )
    return results
