"""One REST call as a Camunda REST client makes it, over HTTP/1.1 (`http.client`, as the Java
client's Apache HttpClient and Node's fetch speak it) or HTTP/2 in clear text with prior
knowledge (PyPI `h2`, as a gRPC-minded proxy or curl --http2-prior-knowledge speaks it).

What it returns is what the user of a REST client would see: the status, the headers, and
the body as JSON (a problem detail on a deny: `title`, `status`, `detail`, …).
"""

from __future__ import annotations

import http.client
import json
import socket
import time
from dataclasses import dataclass, field
from typing import Any

import h2.config
import h2.connection
import h2.events

from .calls import CALL_TIMEOUT

READ_BYTES = 65536


@dataclass
class RestOutcome:
    status: int
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())

    @property
    def json(self) -> Any:
        return json.loads(self.body) if self.body else None

    @property
    def problem(self) -> dict[str, Any]:
        """The problem detail of a deny (RFC 9457), as JSON."""
        assert (self.header("content-type") or "").startswith("application/problem+json"), (
            f"not a problem detail: {self}"
        )
        body = self.json
        assert isinstance(body, dict), f"not a JSON object: {self}"
        return body

    def __str__(self) -> str:
        text = self.body[:300].decode(errors="replace")
        return f"HTTP {self.status} {self.header('content-type') or ''} {text}"


def rest_headers(token: str | None, body: Any, extra: tuple[tuple[str, str], ...]) -> list[tuple[str, str]]:
    headers = [("accept", "application/json")]
    if token is not None:
        headers.append(("authorization", f"Bearer {token}"))
    if body is not None:
        headers.append(("content-type", "application/json"))
    return headers + list(extra)


def call(
    address: str,
    method: str,
    path: str,
    body: Any = None,
    *,
    token: str | None = None,
    http2: bool = False,
    headers: tuple[tuple[str, str], ...] = (),
    raw_body: bytes | None = None,
    timeout: float = CALL_TIMEOUT,
) -> RestOutcome:
    """`method path` at `address` (`127.0.0.1:port`) with `body` as JSON (or `raw_body` as
    given, its content-type among `headers`), `authorization: Bearer token` when a token is
    given."""
    data = raw_body if raw_body is not None else (b"" if body is None else json.dumps(body).encode())
    hdrs = rest_headers(token, body, headers)
    if http2:
        return _call_h2(address, method, path, data, hdrs, timeout)
    host, _, port = address.rpartition(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=timeout)
    try:
        conn.request(method, path, body=data if data or method in ("POST", "PUT", "PATCH") else None, headers=dict(hdrs))
        resp = conn.getresponse()
        return RestOutcome(resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read())
    finally:
        conn.close()


def _call_h2(
    address: str, method: str, path: str, data: bytes, headers: list[tuple[str, str]], timeout: float
) -> RestOutcome:
    host, _, port = address.rpartition(":")
    conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True, header_encoding="utf-8"))
    deadline = time.monotonic() + timeout
    with socket.create_connection((host, int(port)), timeout=timeout) as sock:
        conn.initiate_connection()
        stream = conn.get_next_available_stream_id()
        request = [(":method", method), (":scheme", "http"), (":path", path), (":authority", address), *headers]
        if data:
            request.append(("content-length", str(len(data))))
        conn.send_headers(stream, request, end_stream=not data)
        if data:
            # REST bodies here are small: one DATA frame within the initial window.
            conn.send_data(stream, data, end_stream=True)
        sock.sendall(conn.data_to_send())
        response: dict[str, str] = {}
        received = bytearray()
        ended = False
        while not ended:
            sock.settimeout(max(deadline - time.monotonic(), 0.001))
            chunk = sock.recv(READ_BYTES)
            if not chunk:
                raise ConnectionError(f"connection closed before the answer to {method} {path} ended")
            for event in conn.receive_data(chunk):
                if isinstance(event, h2.events.ResponseReceived) and event.stream_id == stream:
                    response = {k.lower(): v for k, v in event.headers}
                elif isinstance(event, h2.events.DataReceived) and event.stream_id == stream:
                    received += event.data
                    conn.acknowledge_received_data(event.flow_controlled_length, stream)
                elif isinstance(event, (h2.events.StreamEnded, h2.events.StreamReset)) and event.stream_id == stream:
                    ended = True
                elif isinstance(event, h2.events.ConnectionTerminated):
                    ended = True
            sock.sendall(conn.data_to_send())
    return RestOutcome(int(response.get(":status", "0")), response, bytes(received))
