"""A scripted ext_authz server, to pin down what Envoy does with each kind of CheckResponse.

It answers `envoy.service.auth.v3.Authorization/Check` with whatever CheckResponse bytes the
test sets, and keeps the raw CheckRequest bytes it got. No Envoy protos are available on PyPI
for this gRPC stack, so the few messages needed are encoded by hand (field numbers from
envoy/service/auth/v3/external_auth.proto and envoy/config/core/v3/base.proto).

These tests prove Envoy's side of the contract that the Rust authorizer relies on, and they
run whether or not the authorizer builds.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

import grpc

from .loopback import LoopbackGrpcServer

# envoy.config.core.v3.HeaderValueOption.HeaderAppendAction
APPEND_IF_EXISTS_OR_ADD = 0
ADD_IF_ABSENT = 1
OVERWRITE_IF_EXISTS_OR_ADD = 2


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _len_field(number: int, payload: bytes) -> bytes:
    return _varint(number << 3 | 2) + _varint(len(payload)) + payload


def _varint_field(number: int, value: int) -> bytes:
    return _varint(number << 3 | 0) + _varint(value)


def header_option(key: str, value: str, append: bool | None = None, append_action: int | None = None) -> bytes:
    """envoy.config.core.v3.HeaderValueOption{header: {key, value}, append, append_action}."""
    out = _len_field(1, _len_field(1, key.encode()) + _len_field(2, value.encode()))
    if append is not None:  # google.protobuf.BoolValue: present even when false
        out += _len_field(2, _varint_field(1, 1) if append else b"")
    if append_action is not None:
        out += _varint_field(3, append_action)
    return out


def _rpc_status(code: int, message: str = "") -> bytes:
    """google.rpc.Status{code, message}."""
    out = _varint_field(1, code) if code else b""
    if message:
        out += _len_field(2, message.encode())
    return out


def denied(
    http_status: int | None,
    body: str = "",
    headers: list[bytes] | None = None,
    rpc_code: int = 7,
    with_denied_response: bool = True,
) -> bytes:
    """CheckResponse{status: {code: rpc_code}, denied_response: {status, headers, body}}."""
    out = _len_field(1, _rpc_status(rpc_code))
    if with_denied_response:
        inner = b""
        if http_status is not None:
            inner += _len_field(1, _varint_field(1, http_status))  # envoy.type.v3.HttpStatus
        for header in headers or []:
            inner += _len_field(2, header)
        if body:
            inner += _len_field(3, body.encode())
        out += _len_field(2, inner)
    return out


def allowed(headers: list[bytes] | None = None) -> bytes:
    """CheckResponse{status: {code: 0}, ok_response: {headers}}."""
    inner = b"".join(_len_field(2, header) for header in headers or [])
    return _len_field(1, b"") + _len_field(3, inner)


def _read_varint(data: bytes, pos: int) -> tuple[int, int]:
    value, shift = 0, 0
    while True:
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, pos
        shift += 7


def _fields(data: bytes) -> list[tuple[int, int | bytes]]:
    """The top-level (number, value) pairs of a protobuf message: ints for varint and fixed
    fields, bytes for length-delimited ones (nested messages are decoded by the caller)."""
    out: list[tuple[int, int | bytes]] = []
    pos = 0
    while pos < len(data):
        key, pos = _read_varint(data, pos)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, pos = _read_varint(data, pos)
            out.append((number, value))
        elif wire == 2:
            length, pos = _read_varint(data, pos)
            out.append((number, data[pos : pos + length]))
            pos += length
        elif wire in (1, 5):
            size = 8 if wire == 1 else 4
            out.append((number, int.from_bytes(data[pos : pos + size], "little")))
            pos += size
        else:
            raise ValueError(f"unexpected wire type {wire} in field {number}")
    return out


def _submessage(data: bytes, number: int) -> bytes:
    """The last occurrence of a nested message field (empty when absent)."""
    found = b""
    for n, value in _fields(data):
        if n == number and isinstance(value, bytes):
            found = value
    return found


@dataclass
class SeenHttpRequest:
    """What Envoy told the authorizer about the HTTP request (CheckRequest.attributes.request.http)."""

    headers: dict[str, str]
    raw_body: bytes


def read_http_request(check_request: bytes) -> SeenHttpRequest:
    """Decodes the headers and `raw_body` of a raw CheckRequest. Field numbers from
    envoy/service/auth/v3: CheckRequest.attributes=1, AttributeContext.request=4,
    Request.http=2, HttpRequest.headers=3 (map<string, string>), HttpRequest.raw_body=12."""
    http = _submessage(_submessage(_submessage(check_request, 1), 4), 2)
    headers: dict[str, str] = {}
    raw_body = b""
    for number, value in _fields(http):
        if number == 3 and isinstance(value, bytes):
            entry = dict(_fields(value))
            key, val = entry.get(1, b""), entry.get(2, b"")
            assert isinstance(key, bytes) and isinstance(val, bytes)
            headers[key.decode()] = val.decode()
        elif number == 12 and isinstance(value, bytes):
            raw_body = value
    return SeenHttpRequest(headers, raw_body)


class FakeAuthz(LoopbackGrpcServer):
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._response = allowed()
        self._abort: tuple[grpc.StatusCode, str] | None = None
        self.requests: list[bytes] = []

    def respond(self, response: bytes) -> None:
        with self._lock:
            self._response, self._abort = response, None

    def fail_with(self, code: grpc.StatusCode, message: str) -> None:
        """Answer Check with a gRPC error instead of a CheckResponse."""
        with self._lock:
            self._abort = (code, message)

    def _check(self, request: bytes, context: grpc.ServicerContext) -> bytes:
        with self._lock:
            self.requests.append(request)
            response, abort = self._response, self._abort
        if abort is not None:
            context.abort(*abort)
        return response

    def start(self) -> FakeAuthz:
        handler = grpc.method_handlers_generic_handler(
            "envoy.service.auth.v3.Authorization",
            {"Check": grpc.unary_unary_rpc_method_handler(self._check)},  # raw bytes in and out
        )
        self._start_server(lambda server: server.add_generic_rpc_handlers((handler,)), workers=4)
        return self
