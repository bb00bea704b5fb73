"""Making a gRPC call as a Zeebe client does, and capturing what it saw: status and message."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import grpc

CALL_TIMEOUT = 5.0


@dataclass
class Outcome:
    code: grpc.StatusCode
    details: str
    response: Any = None

    def __str__(self) -> str:
        return f"{self.code.name} {self.details!r}"


def bearer(token: str | None, *extra: tuple[str, str], scheme: str = "Bearer") -> tuple[tuple[str, str], ...]:
    """Call metadata with `authorization: <scheme> <token>` (none when token is None)."""
    auth = () if token is None else (("authorization", f"{scheme} {token}"),)
    return auth + tuple(extra)


def invoke(
    method: Callable[..., Any],
    request: Any,
    metadata: tuple[tuple[str, str], ...] = (),
    compression: grpc.Compression | None = None,
) -> Outcome:
    """A unary call, or a server-streaming one read to its end (responses as a list).

    `compression` (e.g. `grpc.Compression.Gzip`) compresses this call's request message.
    """
    try:
        result = method(request, metadata=metadata, timeout=CALL_TIMEOUT, compression=compression)
        if isinstance(result, grpc.Call) and hasattr(result, "__iter__"):
            result = list(result)
        return Outcome(grpc.StatusCode.OK, "", result)
    except grpc.RpcError as err:
        return Outcome(err.code(), err.details() or "")


def raw_unary(channel: grpc.Channel, path: str) -> Callable[..., Any]:
    """A unary method at any path, sending and receiving raw bytes (no generated stub)."""
    return channel.unary_unary(path, request_serializer=None, response_deserializer=None)
