"""A stub of the Camunda 8.8 gateway's REST door: the Orchestration Cluster REST API under `/v2`
(no context path by default), on 127.0.0.1 and an ephemeral port, HTTP/1.1 (as Spring Boot
serves it), answering the endpoints Camunda's REST clients use with JSON they accept, and
recording every request that reached it.

The answers follow the shapes of Camunda's OpenAPI spec (zeebe/gateway-protocol's
rest-api.yaml, 8.8; keys are JSON strings of digits): every field the spec marks required is
there, so `@camunda8/orchestration-cluster-api` validates them under `CAMUNDA_SDK_VALIDATION
res:strict` and camunda-client-java's Jackson reads them. Nothing of the spec is copied here.

Each endpoint is named by the operation it is: an endpoint with a gRPC twin by that rpc's name
(`POST /v2/jobs/activation` is `ActivateJobs`), a REST-only one by a name of its own (`POST
/v2/user-tasks/search` is `SearchUserTasks`). An unknown path is a 404 problem detail.

Run alone, it is a REST gateway for trying `serve --dev --envoy-config` without Camunda:
`cd tests/e2e && ../../.venv/bin/python -m support.rest_gateway 127.0.0.1:8080`.

Jobs: by default an activation answers one canned job of the requested type at once; with
`long_poll=True` it hands out the jobs queued by `offer_job` (waiting up to the request's
`requestTimeout`, at most `MAX_LONG_POLL` seconds), as a job worker's gateway does.
"""

from __future__ import annotations

import dataclasses
import json
import re
import sys
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

# The gateway's version as the topology reports it.
GATEWAY_VERSION = "8.8.0"
# How long an activation waits for queued jobs at most (the request's `requestTimeout` first).
MAX_LONG_POLL = 5.0
CANNED_KEY = "2251799813685251"


@dataclass(frozen=True)
class RestCall:
    """One request as it reached the gateway."""

    operation: str
    method: str
    path: str
    # The JSON body (None when there was none or it was not JSON).
    body: Any
    headers: dict[str, str] = field(default_factory=dict)
    # The path variables (`jobKey`, …).
    params: dict[str, str] = field(default_factory=dict)

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())


# (method, path template under the base path, operation). Templates use `{name}` for a path
# variable (digits or any segment text).
ENDPOINTS: tuple[tuple[str, str, str], ...] = (
    ("GET", "/topology", "Topology"),
    ("POST", "/process-instances", "CreateProcessInstance|CreateProcessInstanceWithResult"),
    ("POST", "/deployments", "DeployResource"),
    ("POST", "/process-instances/{processInstanceKey}/cancellation", "CancelProcessInstance"),
    ("POST", "/process-instances/{processInstanceKey}/modification", "ModifyProcessInstance"),
    ("POST", "/process-instances/{processInstanceKey}/migration", "MigrateProcessInstance"),
    ("POST", "/jobs/activation", "ActivateJobs"),
    ("POST", "/jobs/{jobKey}/completion", "CompleteJob"),
    ("POST", "/jobs/{jobKey}/failure", "FailJob"),
    ("POST", "/jobs/{jobKey}/error", "ThrowError"),
    ("PATCH", "/jobs/{jobKey}", "UpdateJobRetries|UpdateJobTimeout"),
    ("POST", "/messages/publication", "PublishMessage"),
    ("POST", "/messages/correlation", "CorrelateMessage"),
    ("POST", "/signals/broadcast", "BroadcastSignal"),
    ("POST", "/incidents/{incidentKey}/resolution", "ResolveIncident"),
    ("PUT", "/element-instances/{elementInstanceKey}/variables", "SetVariables"),
    ("POST", "/decision-definitions/evaluation", "EvaluateDecision"),
    ("POST", "/resources/{resourceKey}/deletion", "DeleteResource"),
    ("POST", "/user-tasks/search", "SearchUserTasks"),
    ("POST", "/user-tasks/{userTaskKey}/completion", "CompleteUserTask"),
    ("POST", "/authorizations", "CreateAuthorization"),
)


def _compile(template: str) -> re.Pattern[str]:
    pattern = re.sub(r"\\\{(\w+)\\\}", r"(?P<\1>[^/]+)", re.escape(template))
    return re.compile(f"^{pattern}$")


def _select(operations: str, body: Any) -> str:
    """Which of an endpoint's two rpcs a body asks for (as the gateway's controller picks):
    `awaitCompletion` makes a start `…WithResult`; a job change of `retries` or `timeout`."""
    body = body if isinstance(body, dict) else {}
    first, second = operations.split("|")
    if first == "CreateProcessInstance":
        return second if body.get("awaitCompletion") is True else first
    changeset = body.get("changeset") if isinstance(body.get("changeset"), dict) else {}
    return first if changeset.get("retries") is not None else second


def _read_body(req: BaseHTTPRequestHandler) -> bytes:
    """The request body: `content-length` bytes, or the chunks of a chunked one (Envoy sends an
    HTTP/2 request without a length upstream as chunked HTTP/1.1)."""
    if "chunked" in (req.headers.get("transfer-encoding") or "").lower():
        out = bytearray()
        while True:
            size = int(req.rfile.readline().split(b";", 1)[0].strip() or b"0", 16)
            if size == 0:
                while req.rfile.readline() not in (b"\r\n", b"\n", b""):
                    pass  # trailers
                return bytes(out)
            out += req.rfile.read(size)
            req.rfile.readline()  # the CRLF after the chunk
    length = int(req.headers.get("content-length") or 0)
    return req.rfile.read(length) if length else b""


def _problem(status: int, title: str, detail: str, instance: str) -> dict[str, Any]:
    return {"type": "about:blank", "title": title, "status": status, "detail": detail, "instance": instance}


def _activated_job(job_type: str, key: str, worker: str, tenant: str) -> dict[str, Any]:
    return {
        "type": job_type,
        "processDefinitionId": "order-process",
        "processDefinitionVersion": 1,
        "elementId": "task",
        "customHeaders": {},
        "worker": worker,
        "retries": 3,
        "deadline": int(time.time() * 1000) + 60_000,
        "variables": {"orderId": 42},
        "tenantId": tenant,
        "jobKey": key,
        "processInstanceKey": "2251799813685249",
        "processDefinitionKey": "2251799813685248",
        "elementInstanceKey": "2251799813685250",
        "kind": "BPMN_ELEMENT",
        "listenerEventType": "UNSPECIFIED",
    }


class StubRestGateway:
    """The REST stub. `start()` returns once it listens; `stop()` shuts it down."""

    def __init__(self, base_path: str = "/v2", *, long_poll: bool = False, name: str = "rest-gateway"):
        self.base_path = base_path.rstrip("/")
        self.long_poll = long_poll
        self.name = name
        self._routes = [(method, _compile(self.base_path + template), op) for method, template, op in ENDPOINTS]
        self._calls: list[RestCall] = []
        self._jobs: list[tuple[str, str]] = []  # (type, key) queued for activation
        self._lock = threading.Condition()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle -------------------------------------------------------------------------------

    def start(self, listen: str = "127.0.0.1:0") -> StubRestGateway:
        gateway = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base's name
                pass

            def _serve(self) -> None:
                gateway._handle(self)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _serve  # noqa: N815

        host, _, port = listen.rpartition(":")
        self._server = ThreadingHTTPServer((host, int(port)), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name=self.name, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        with self._lock:
            self._lock.notify_all()

    def log(self) -> str:
        return "\n".join(f"{c.method} {c.path} -> {c.operation}" for c in self.calls())

    @property
    def address(self) -> str:
        assert self._server is not None, f"{self.name} is not started"
        return f"127.0.0.1:{self._server.server_address[1]}"

    # -- what reached it -------------------------------------------------------------------------

    def calls(self) -> list[RestCall]:
        with self._lock:
            return list(self._calls)

    def calls_of(self, operation: str) -> list[RestCall]:
        return [call for call in self.calls() if call.operation == operation]

    def offer_job(self, job_type: str, key: int | str) -> None:
        """Queues a job for the next activation of its type (`long_poll=True`)."""
        with self._lock:
            self._jobs.append((job_type, str(key)))
            self._lock.notify_all()

    # -- answering -------------------------------------------------------------------------------

    def _handle(self, req: BaseHTTPRequestHandler) -> None:
        raw = _read_body(req)
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = None
        path = req.path.split("?", 1)[0]
        for method, pattern, op in self._routes:
            match = pattern.match(path)
            if match and method == req.command:
                call = RestCall(
                    operation=op,
                    method=req.command,
                    path=req.path,
                    body=body,
                    headers={k.lower(): v for k, v in req.headers.items()},
                    params=match.groupdict(),
                )
                if "|" in op:
                    call = dataclasses.replace(call, operation=_select(op, body))
                with self._lock:
                    self._calls.append(call)
                status, answer = self._answer(call)
                return self._send(req, status, answer, "application/json")
        problem = _problem(404, "NOT_FOUND", f"No endpoint {req.command} {req.path}", req.path)
        self._send(req, 404, problem, "application/problem+json")

    @staticmethod
    def _send(req: BaseHTTPRequestHandler, status: int, answer: Any, content_type: str) -> None:
        data = b"" if answer is None else json.dumps(answer).encode()
        req.send_response(status)
        if answer is not None:
            req.send_header("content-type", content_type)
        req.send_header("content-length", str(len(data)))
        req.end_headers()
        req.wfile.write(data)

    def _answer(self, call: RestCall) -> tuple[int, Any]:
        body = call.body if isinstance(call.body, dict) else {}
        tenant = str(body.get("tenantId") or "<default>")
        match call.operation:
            case "Topology":
                return 200, {
                    "brokers": [
                        {
                            "nodeId": 0,
                            "host": "127.0.0.1",
                            "port": 26501,
                            "partitions": [{"partitionId": 1, "role": "leader", "health": "healthy"}],
                            "version": GATEWAY_VERSION,
                        }
                    ],
                    "clusterSize": 1,
                    "partitionsCount": 1,
                    "replicationFactor": 1,
                    "gatewayVersion": GATEWAY_VERSION,
                    "lastCompletedChangeId": "-1",
                }
            case "CreateProcessInstance" | "CreateProcessInstanceWithResult":
                return 200, {
                    "processDefinitionId": str(body.get("processDefinitionId") or "order-process"),
                    "processDefinitionVersion": 1,
                    "tenantId": tenant,
                    "variables": {},
                    "processDefinitionKey": str(body.get("processDefinitionKey") or "2251799813685248"),
                    "processInstanceKey": "2251799813685249",
                }
            case "ActivateJobs":
                job_type = str(body.get("type") or "")
                worker = str(body.get("worker") or "")
                tenants = body.get("tenantIds") or ["<default>"]
                tenant = str(tenants[0]) if isinstance(tenants, list) and tenants else "<default>"
                if not self.long_poll:
                    return 200, {"jobs": [_activated_job(job_type, CANNED_KEY, worker, tenant)]}
                wait = min(float(body.get("requestTimeout") or 0) / 1000 or MAX_LONG_POLL, MAX_LONG_POLL)
                wanted = int(body.get("maxJobsToActivate") or 1)
                return 200, {"jobs": [_activated_job(job_type, key, worker, tenant) for key in self._take(job_type, wanted, wait)]}
            case "PublishMessage":
                return 200, {"tenantId": tenant, "messageKey": "2251799813685260"}
            case "CorrelateMessage":
                return 200, {"tenantId": tenant, "messageKey": "2251799813685261", "processInstanceKey": "2251799813685249"}
            case "BroadcastSignal":
                return 200, {"tenantId": tenant, "signalKey": "2251799813685262"}
            case "EvaluateDecision":
                return 200, {
                    "decisionDefinitionId": str(body.get("decisionDefinitionId") or "decision"),
                    "decisionDefinitionKey": "2251799813685263",
                    "decisionDefinitionName": "decision",
                    "decisionDefinitionVersion": 1,
                    "decisionRequirementsId": "requirements",
                    "decisionRequirementsKey": "2251799813685264",
                    "decisionInstanceKey": "2251799813685265",
                    "decisionEvaluationKey": "2251799813685265",
                    "output": "null",
                    "failedDecisionDefinitionId": "",
                    "failureMessage": "",
                    "tenantId": tenant,
                    "evaluatedDecisions": [],
                }
            case "DeployResource":
                return 200, {"deploymentKey": "2251799813685267", "tenantId": "<default>", "deployments": []}
            case "SearchUserTasks":
                return 200, {"items": [], "page": {"totalItems": 0}}
            case "CreateAuthorization":
                return 201, {"authorizationKey": "2251799813685266"}
            case _:
                return 204, None

    def _take(self, job_type: str, wanted: int, wait: float) -> list[str]:
        deadline = time.monotonic() + wait
        with self._lock:
            while True:
                mine = [key for kind, key in self._jobs if kind == job_type][:wanted]
                if mine or self._server is None:
                    self._jobs = [(kind, key) for kind, key in self._jobs if key not in mine or kind != job_type]
                    return mine
                left = deadline - time.monotonic()
                if left <= 0:
                    return []
                self._lock.wait(left)


def main(argv: list[str]) -> int:
    """Serves the stub on the address given (default 127.0.0.1:8080) until interrupted."""
    gateway = StubRestGateway().start(argv[1] if len(argv) > 1 else "127.0.0.1:8080")
    print(f"stub REST gateway on http://{gateway.address}/v2 (Ctrl-C to stop)", flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        gateway.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
