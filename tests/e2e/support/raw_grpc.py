"""One gRPC call on the wire, for requests a grpc stack will not make: any `:path` and
`:authority`, any headers, and the exact bytes of the length-prefixed message (its
compressed-flag, its length and its payload are the caller's, so a frame can claim gzip and
carry two gzip members, or trailing garbage).

It speaks HTTP/2 in clear text (prior knowledge, as grpc does) to a loopback listener with
PyPI `h2`, sends one request stream and reads the answer to its end. What it returns is what
a Zeebe client would see: the `grpc-status` and the percent-decoded `grpc-message`, from the
trailers or from a trailers-only response (which is how Envoy sends an ext_authz deny).
"""

from __future__ import annotations

import socket
import struct
import time
import urllib.parse
from dataclasses import dataclass, field

import grpc
import h2.config
import h2.connection
import h2.events

from .calls import CALL_TIMEOUT

READ_BYTES = 65536
STATUS_CODES = {code.value[0]: code for code in grpc.StatusCode}


def grpc_frame(payload: bytes, compressed: bool = False) -> bytes:
    """A length-prefixed message: compressed-flag (1 byte), length (4 bytes, big endian), payload."""
    return bytes([1 if compressed else 0]) + struct.pack(">I", len(payload)) + payload


@dataclass
class RawOutcome:
    """What came back on the stream."""

    http_status: int
    # The gRPC status code as a number (None when the answer carried none, e.g. a stream reset).
    grpc_status: int | None
    # `grpc-message`, percent-decoded as a gRPC client does.
    message: str
    headers: dict[str, str] = field(default_factory=dict)
    trailers: dict[str, str] = field(default_factory=dict)
    # The response body (the gateway's length-prefixed messages, if it answered).
    body: bytes = b""
    # The HTTP/2 error code when the stream was reset instead of answered.
    reset: int | None = None

    @property
    def code(self) -> grpc.StatusCode | None:
        """The status as grpc names it (as `calls.Outcome.code`)."""
        return None if self.grpc_status is None else STATUS_CODES.get(self.grpc_status)

    @property
    def details(self) -> str:
        """The message (as `calls.Outcome.details`)."""
        return self.message

    def __str__(self) -> str:
        if self.grpc_status is None:
            return f"HTTP {self.http_status}, no grpc-status (reset: {self.reset})"
        name = self.code.name if self.code else str(self.grpc_status)
        return f"{name} {self.message!r}"


def _text(pairs) -> dict[str, str]:
    out: dict[str, str] = {}
    for key, value in pairs:
        key = key.decode() if isinstance(key, bytes) else key
        value = value.decode(errors="replace") if isinstance(value, bytes) else value
        out[key] = value
    return out


def call(
    address: str,
    path: str,
    body: bytes,
    *,
    authority: str | None = None,
    headers: tuple[tuple[str, str], ...] = (),
    timeout: float = CALL_TIMEOUT,
) -> RawOutcome:
    """POSTs one gRPC request (`body` sent as given, as the whole request stream) to
    `address` (`127.0.0.1:port`) and reads the answer. `authority` defaults to `address`."""
    host, _, port = address.rpartition(":")
    conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True, header_encoding=None))
    deadline = time.monotonic() + timeout
    with socket.create_connection((host, int(port)), timeout=timeout) as sock:
        conn.initiate_connection()
        sock.sendall(conn.data_to_send())
        stream = conn.get_next_available_stream_id()
        request_headers = [
            (":method", "POST"),
            (":scheme", "http"),
            (":path", path),
            (":authority", authority if authority is not None else address),
            ("content-type", "application/grpc"),
            ("te", "trailers"),
            *headers,
        ]
        conn.send_headers(stream, request_headers)
        sock.sendall(conn.data_to_send())

        response: dict[str, str] = {}
        trailers: dict[str, str] = {}
        received = bytearray()
        reset: int | None = None
        unsent = memoryview(body)
        request_ended = False
        ended = False
        while not ended:
            # Send what flow control allows; the rest goes out as the peer opens its window.
            while not request_ended:
                window = min(conn.local_flow_control_window(stream), conn.max_outbound_frame_size)
                if len(unsent) > window:
                    if window <= 0:
                        break
                    # One DATA frame; more while the window lasts (a peer that opened a large
                    # window sends no WINDOW_UPDATE until it has seen data).
                    conn.send_data(stream, bytes(unsent[:window]))
                    unsent = unsent[window:]
                    continue
                conn.send_data(stream, bytes(unsent), end_stream=True)
                request_ended = True
            sock.sendall(conn.data_to_send())

            sock.settimeout(max(deadline - time.monotonic(), 0.001))
            try:
                data = sock.recv(READ_BYTES)
            except TimeoutError as err:
                raise TimeoutError(f"no complete answer to {path} within {timeout}s") from err
            if not data:
                raise ConnectionError(f"connection closed before the answer to {path} ended")
            for event in conn.receive_data(data):
                if isinstance(event, h2.events.ResponseReceived) and event.stream_id == stream:
                    response = _text(event.headers)
                elif isinstance(event, h2.events.TrailersReceived) and event.stream_id == stream:
                    trailers = _text(event.headers)
                elif isinstance(event, h2.events.DataReceived) and event.stream_id == stream:
                    received += event.data
                    conn.acknowledge_received_data(event.flow_controlled_length, stream)
                elif isinstance(event, h2.events.StreamReset) and event.stream_id == stream:
                    reset = int(event.error_code)
                    ended = True
                elif isinstance(event, h2.events.StreamEnded) and event.stream_id == stream:
                    ended = True
                elif isinstance(event, h2.events.ConnectionTerminated):
                    reset = int(event.error_code)
                    ended = True
            sock.sendall(conn.data_to_send())

    # A trailers-only answer carries grpc-status in its one HEADERS frame.
    status_from = trailers if "grpc-status" in trailers else response
    status = status_from.get("grpc-status")
    return RawOutcome(
        http_status=int(response.get(":status", "0")),
        grpc_status=int(status) if status is not None else None,
        message=urllib.parse.unquote(status_from.get("grpc-message", ""), errors="replace"),
        headers=response,
        trailers=trailers,
        body=bytes(received),
        reset=reset,
    )
