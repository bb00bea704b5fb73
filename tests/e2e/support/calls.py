"""Making a gRPC call as a Zeebe client does, and capturing what it saw: status and message."""

from __future__ import annotations

import re
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


# -- several cases of one regression, judged together ---------------------------------------

# Every message the authorizer itself sends starts with this (Envoy's own answers do not).
MESSAGE_PREFIX = "zeebe-authz: "
# ... and ends with the decision id and how to explain it.
DECISION_SUFFIX = re.compile(r" \[decision ([A-Za-z0-9._:-]{1,64}): zeebe-authz explain shows why\]$")


def decision_id(details: str) -> str | None:
    """The decision id at the end of an authorizer's deny message."""
    m = DECISION_SUFFIX.search(details)
    return m and m.group(1)


def reason_of(details: str) -> str:
    """An authorizer's deny message without its decision suffix (which must be there)."""
    assert decision_id(details), f"no decision id at the end of {details!r}"
    return DECISION_SUFFIX.sub("", details)


@dataclass
class Seen:
    """What one call saw (an `Outcome`, or a `raw_grpc.RawOutcome`: both have `code` and
    `details`), and the rpcs that reached the stub gateway while it ran."""

    outcome: Any
    reached: list[str]

    def __str__(self) -> str:
        return f"{self.outcome}; reached the gateway: {', '.join(self.reached) or 'nothing'}"


def through(gateway: Any, make_call: Callable[[], Any]) -> Seen:
    """Makes one call (`make_call()`) and records which rpcs reached `gateway` meanwhile."""
    before = len(gateway.calls())
    outcome = make_call()
    return Seen(outcome, [call.rpc for call in gateway.calls()[before:]])


@dataclass(frozen=True)
class Expect:
    """An expected answer: OK with `rpc` reaching the gateway, or `code` with a message
    (`message` exactly, or one that starts with `starts` and contains each of `contains`) and
    nothing reaching the gateway."""

    code: grpc.StatusCode
    rpc: str = ""
    message: str | None = None
    starts: str = ""
    contains: tuple[str, ...] = ()

    def met_by(self, seen: Seen) -> bool:
        details = seen.outcome.details or ""
        if seen.outcome.code != self.code:
            return False
        if self.code == grpc.StatusCode.OK:
            return seen.reached == [self.rpc]
        return (
            seen.reached == []
            and decision_id(details) is not None
            and (self.message is None or reason_of(details) == self.message)
            and details.startswith(self.starts)
            and all(part in details for part in self.contains)
        )

    def __str__(self) -> str:
        if self.code == grpc.StatusCode.OK:
            return f"OK; reached the gateway: {self.rpc}"
        said = repr(self.message) if self.message is not None else f"{self.starts!r}…"
        said += "".join(f" containing {part!r}" for part in self.contains)
        return f"{self.code.name} {said}; reached the gateway: nothing"


def allowed(rpc: str) -> Expect:
    return Expect(grpc.StatusCode.OK, rpc=rpc)


def refused(code: grpc.StatusCode, message: str | None = None, *, contains: tuple[str, ...] = ()) -> Expect:
    """A deny by the authorizer: `code`, with a message that starts with `zeebe-authz: `."""
    return Expect(code, message=message, starts=MESSAGE_PREFIX, contains=contains)


def assert_cases(seen: dict[str, Seen], expected: dict[str, Expect]) -> None:
    """Every case got its expected answer; a failure lists every case, right or wrong."""
    __tracebackhide__ = True
    assert seen.keys() == expected.keys()
    wrong = [name for name, expect in expected.items() if not expect.met_by(seen[name])]
    table = "\n".join(
        f"{'WRONG' if name in wrong else 'ok'}: {name}\n    expected {expected[name]}\n    saw      {seen[name]}"
        for name in expected
    )
    assert not wrong, f"{len(wrong)} of {len(expected)} cases answered wrong:\n{table}"
