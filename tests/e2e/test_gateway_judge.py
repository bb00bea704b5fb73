"""The gateway's own parsing stack as the judge: every body-condition case of the suite, sent
through Envoy and zeebe-authz to a stub gateway on grpc-java and protobuf-java
(tests/e2e/java/gateway-stub, generated from proto/gateway.proto, gzip decompression on as in
Zeebe's gateway), which records what grpc-java decoded after its own decompression.

Each case is a request stream written byte by byte (`support/raw_grpc.py`): a frame's flag,
length and payload, and the `grpc-encoding` header, are the case's. Each is sent twice:

1. straight to the Java stub, which says whether grpc-java takes the call and what it decodes
   (the tenant ids, bpmnProcessId, job type, message name, decision id, signal name);
2. through Envoy to the authorizer (the judge policy below) and on to the same stub.

and the test requires, for every case:

- a call the authorizer allowed decodes, in grpc-java, to fields the policy allows (checked by
  `policy_allows`, a model of the judge policy written from its text), and to the same fields
  as the direct call;
- a call the authorizer denied got a stated reason (`zeebe-authz: <rpc>: ...` and a decision id)
  and never reached the gateway;
- the authorizer allows exactly when grpc-java takes the call and the policy allows what it
  decoded, except for the cases in `KNOWN_DIFFERENCES`, each with why (all are the authorizer
  refusing more than grpc-java, or allowing a call grpc-java itself then refuses; an allow of a
  call grpc-java runs outside the policy is never a known difference: it fails the test).

What the Python stub gateway (grpc-core, support/gateway.py) still does elsewhere: it answers the
other e2e files, whose subject is the authorizer, Envoy and the clients (identity headers,
realms, JWKS, dry-run, the Node clients' long-polling worker), not what a body decodes to.
docs/src/gateway-judge.md says what this proves and how to run it.
"""

from __future__ import annotations

import fnmatch
import gzip
import json
import struct
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from zeebe_grpc import gateway_pb2 as pb

from support import raw_grpc
from support.authz import Authz, config_yaml
from support.calls import MESSAGE_PREFIX, decision_id
from support.envoy import MAX_REQUEST_BYTES, Envoy
from support.issuer import KeycloakIssuer
from support.java import JavaCall, JavaGateway
from support.process import running

GATEWAY = "/gateway_protocol.Gateway/"
HELD = "tenant-a"
OTHER = "tenant-b"
DEFAULT = "<default>"

JUDGE_POLICY = """\
# The differential's policy: one grant per condition kind, each on its own permission.
groups:
  jobs: [ActivateJobs, StreamActivatedJobs, CompleteJob, FailJob]
grants:
  - permission: "tenant:write"
    rpcs: ["*"]
    when: {tenant: held}
  - permission: "worker:payment"
    rpcs: [jobs]
    when: {job_type: ["payment*"]}
  - permission: "process:order"
    rpcs: [CreateProcessInstance, CreateProcessInstanceWithResult]
    when: {bpmn_process_id: ["order-*"]}
  - permission: "decision:discount"
    rpcs: [EvaluateDecision]
    when: {decision_id: [discount]}
  - permission: "message:order"
    rpcs: [PublishMessage]
    when: {message_name: ["order-*"]}
  - permission: "signal:cancel"
    rpcs: [BroadcastSignal]
    when: {signal_name: ["cancel-*"]}
unknown_rpcs: deny
other_paths: deny
"""

# Token name → (permissions, tenants).
TOKENS: dict[str, tuple[list[str], list[str]]] = {
    "tenant": (["tenant:write"], [HELD]),
    "worker": (["worker:payment"], []),
    "process": (["process:order"], []),
    "decision": (["decision:discount"], []),
    "message": (["message:order"], []),
    "signal": (["signal:cancel"], []),
}

JOB_RPCS = {"ActivateJobs", "StreamActivatedJobs", "CompleteJob", "FailJob"}


# -- the policy, modelled from its text: what may the gateway run ------------------------------


def tenants_of(rpc: str, request: dict[str, Any]) -> list[str] | None:
    """The tenants of a request as grpc-java decoded it (None: the rpc carries none)."""
    if rpc == "DeployProcess":
        return [DEFAULT]
    if rpc in ("ActivateJobs", "StreamActivatedJobs"):
        return request.get("tenantIds") or [DEFAULT]
    if rpc == "CreateProcessInstanceWithResult":
        return [request.get("request", {}).get("tenantId") or DEFAULT]
    if rpc in ("CreateProcessInstance", "DeployResource", "PublishMessage", "BroadcastSignal", "EvaluateDecision"):
        return [request.get("tenantId") or DEFAULT]
    return None


def policy_allows(token: str, rpc: str, request: dict[str, Any]) -> bool:
    (permission,), held = TOKENS[token]
    if permission == "tenant:write":
        tenants = tenants_of(rpc, request)
        return tenants is None or all(t in held for t in tenants)
    if permission == "worker:payment":
        if rpc in ("ActivateJobs", "StreamActivatedJobs"):
            return fnmatch.fnmatchcase(request.get("type", ""), "payment*")
        return rpc in JOB_RPCS
    if permission == "process:order":
        if rpc == "CreateProcessInstanceWithResult":
            request = request.get("request", {})
        elif rpc != "CreateProcessInstance":
            return False
        return fnmatch.fnmatchcase(request.get("bpmnProcessId", ""), "order-*")
    if permission == "decision:discount":
        return rpc == "EvaluateDecision" and request.get("decisionId", "") == "discount"
    if permission == "message:order":
        return rpc == "PublishMessage" and fnmatch.fnmatchcase(request.get("name", ""), "order-*")
    if permission == "signal:cancel":
        return rpc == "BroadcastSignal" and fnmatch.fnmatchcase(request.get("signalName", ""), "cancel-*")
    raise AssertionError(f"no model of {permission}")


# -- writing bodies byte by byte --------------------------------------------------------------


def varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def key(number: int, wire_type: int) -> bytes:
    return varint(number << 3 | wire_type)


def ld(number: int, value: bytes | str) -> bytes:
    """A length-delimited field."""
    data = value.encode() if isinstance(value, str) else value
    return key(number, 2) + varint(len(data)) + data


def frame(message: bytes, flag: int = 0) -> bytes:
    return bytes([flag]) + struct.pack(">I", len(message)) + message


def gzip_member(data: bytes, *, flags: int = 0, extra: bytes = b"", name: bytes = b"", hcrc: bool | None = None) -> bytes:
    """One gzip member written by hand, so its header flags can be anything (RFC 1952):
    FEXTRA (4), FNAME (8), FHCRC (2: `hcrc` True is a right header CRC, False a wrong one), and
    any reserved bits in `flags`."""
    flg = flags | (4 if extra else 0) | (8 if name else 0) | (2 if hcrc is not None else 0)
    header = bytes([0x1F, 0x8B, 8, flg, 0, 0, 0, 0, 0, 255])
    if extra:
        header += struct.pack("<H", len(extra)) + extra
    if name:
        header += name + b"\0"
    if hcrc is not None:
        crc = zlib.crc32(header) & 0xFFFF
        header += struct.pack("<H", crc if hcrc else crc ^ 0xFFFF)
    deflate = zlib.compressobj(9, zlib.DEFLATED, -15)
    body = deflate.compress(data) + deflate.flush()
    return header + body + struct.pack("<II", zlib.crc32(data), len(data) & 0xFFFFFFFF)


def msg(rpc: str, **fields: Any) -> bytes:
    """A well-formed request of `rpc` (Camunda's zeebe-grpc 8.4 stubs)."""
    return getattr(pb, f"{rpc}Request")(**fields).SerializeToString()


def create(tenant: str = HELD, process: str = "order-process", **more: Any) -> bytes:
    return msg("CreateProcessInstance", bpmnProcessId=process, version=-1, tenantId=tenant, **more)


def activate(job_type: str = "payment", tenants: tuple[str, ...] = ()) -> bytes:
    return msg("ActivateJobs", type=job_type, worker="judge", timeout=30_000, maxJobsToActivate=1, tenantIds=list(tenants))


def stream(job_type: str = "payment", tenants: tuple[str, ...] = ()) -> bytes:
    return msg("StreamActivatedJobs", type=job_type, worker="judge", timeout=30_000, tenantIds=list(tenants))


BPMN = b'<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"/>'
BIG_VARIABLES = json.dumps({"blob": "x" * (100 * 1024)})
COMPRESSIBLE = json.dumps({"note": "paid in full " * 320})


# -- the cases --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    rpc: str
    token: str
    # The whole request stream (one frame unless the case says otherwise).
    body: bytes
    # `grpc-encoding`: one header, several (a tuple), or none.
    encoding: str | tuple[str, ...] | None = None


def tenant_rpc_bodies(tenant: str) -> dict[str, bytes]:
    """Every tenant-carrying rpc of test_conditions.py, in `tenant` ("" is the default)."""
    listed = (tenant,) if tenant else ()
    return {
        "CreateProcessInstance": create(tenant, variables='{"orderId": 42}'),
        "CreateProcessInstanceWithResult": msg(
            "CreateProcessInstanceWithResult",
            request=pb.CreateProcessInstanceRequest(bpmnProcessId="order-process", version=-1, tenantId=tenant),
            requestTimeout=10_000,
        ),
        "DeployResource": msg("DeployResource", resources=[pb.Resource(name="p.bpmn", content=BPMN)], tenantId=tenant),
        "PublishMessage": msg("PublishMessage", name="order-paid", correlationKey="42", timeToLive=60_000, tenantId=tenant),
        "BroadcastSignal": msg("BroadcastSignal", signalName="cancel-orders", tenantId=tenant),
        "EvaluateDecision": msg("EvaluateDecision", decisionId="discount", variables='{"total": 1}', tenantId=tenant),
        "ActivateJobs": activate(tenants=listed),
        "StreamActivatedJobs": stream(tenants=listed),
    }


def cases() -> dict[str, Case]:
    out: dict[str, Case] = {}

    # test_conditions.py: tenant:write in the held tenant, another one, the default one.
    for label, tenant in (("held", HELD), ("other", OTHER), ("default", "")):
        for rpc, body in tenant_rpc_bodies(tenant).items():
            out[f"conditions/{rpc}/tenant-{label}"] = Case(rpc, "tenant", frame(body))
    out["conditions/default-tenant-by-name"] = Case("CreateProcessInstance", "tenant", frame(create(DEFAULT)))
    out["conditions/DeployProcess-deploys-to-default"] = Case(
        "DeployProcess", "tenant", frame(msg("DeployProcess", processes=[pb.ProcessRequestObject(name="p.bpmn", definition=BPMN)]))
    )
    for rpc, make in (("ActivateJobs", activate), ("StreamActivatedJobs", stream)):
        out[f"conditions/{rpc}/every-listed-tenant"] = Case(rpc, "tenant", frame(make(tenants=(HELD, OTHER))))
        for job_type in ("payment", "payment-refund", "shipping"):
            out[f"conditions/{rpc}/job-type-{job_type}"] = Case(rpc, "worker", frame(make(job_type)))
    out["conditions/CompleteJob-no-tenant"] = Case("CompleteJob", "tenant", frame(msg("CompleteJob", jobKey=1, variables="{}")))
    out["conditions/worker-may-complete"] = Case("CompleteJob", "worker", frame(msg("CompleteJob", jobKey=1, variables="{}")))
    out["conditions/worker-may-not-create"] = Case("CreateProcessInstance", "worker", frame(create("")))

    # The other condition kinds, allowed and not.
    for process in ("order-process", "invoice"):
        out[f"process/CreateProcessInstance/{process}"] = Case("CreateProcessInstance", "process", frame(create("", process)))
        out[f"process/WithResult/{process}"] = Case(
            "CreateProcessInstanceWithResult",
            "process",
            frame(msg("CreateProcessInstanceWithResult", request=pb.CreateProcessInstanceRequest(bpmnProcessId=process))),
        )
    # By key alone (test_camunda_dialect.py's definition-key create): no id for a condition.
    out["process/by-definition-key-only"] = Case(
        "CreateProcessInstance", "process", frame(msg("CreateProcessInstance", processDefinitionKey=2251799813685249))
    )
    out["decision/by-key-only"] = Case("EvaluateDecision", "decision", frame(msg("EvaluateDecision", decisionKey=2251799813685300)))
    for decision in ("discount", "discounts"):
        out[f"decision/{decision}"] = Case("EvaluateDecision", "decision", frame(msg("EvaluateDecision", decisionId=decision)))
    for name in ("order-paid", "invoice-paid"):
        out[f"message/{name}"] = Case("PublishMessage", "message", frame(msg("PublishMessage", name=name, correlationKey="1")))
    for name in ("cancel-orders", "shutdown"):
        out[f"signal/{name}"] = Case("BroadcastSignal", "signal", frame(msg("BroadcastSignal", signalName=name)))

    # gzip (test_conditions.py): a compressed frame, flag 0 under a gzip header, a large call
    # that fits compressed, and sizes around max_request_bytes uncompressed.
    for label, tenant in (("held", HELD), ("other", OTHER)):
        body = create(tenant, variables=COMPRESSIBLE)
        out[f"gzip/compressed/tenant-{label}"] = Case("CreateProcessInstance", "tenant", frame(gzip.compress(body), 1), "gzip")
        out[f"gzip/flag-0-under-gzip-header/tenant-{label}"] = Case("CreateProcessInstance", "tenant", frame(create(tenant)), "gzip")
        big = create(tenant, variables=BIG_VARIABLES)
        out[f"gzip/100KiB-compressed/tenant-{label}"] = Case("CreateProcessInstance", "tenant", frame(gzip.compress(big), 1), "gzip")
        out[f"size/100KiB-uncompressed/tenant-{label}"] = Case("CreateProcessInstance", "tenant", frame(big))
    exact = pb.CreateProcessInstanceRequest(bpmnProcessId="order-process", tenantId=HELD)
    exact.variables = "x" * (MAX_REQUEST_BYTES - 5 - exact.ByteSize() - 4)
    assert 5 + exact.ByteSize() == MAX_REQUEST_BYTES
    out["size/exactly-max_request_bytes"] = Case("CreateProcessInstance", "tenant", frame(exact.SerializeToString()))

    # test_conditions.py: the same field twice (last wins), garbage.
    out["repeated/tenant-b-then-a"] = Case("CreateProcessInstance", "tenant", frame(create(OTHER) + ld(6, HELD)))
    out["repeated/tenant-a-then-b"] = Case("CreateProcessInstance", "tenant", frame(create(HELD) + ld(6, OTHER)))
    out["garbage/length-4GiB"] = Case("CreateProcessInstance", "tenant", frame(b"\x32\xff\xff\xff\x0f"))

    # test_hardening.py: multi-member gzip.
    a, b = create(HELD), msg("CreateProcessInstance", tenantId=OTHER)
    gz = "gzip"
    out["multi-member/a-only"] = Case("CreateProcessInstance", "tenant", frame(gzip.compress(a), 1), gz)
    out["multi-member/a+b"] = Case("CreateProcessInstance", "tenant", frame(gzip.compress(a) + gzip.compress(b), 1), gz)
    out["multi-member/b+a"] = Case("CreateProcessInstance", "tenant", frame(gzip.compress(b) + gzip.compress(a), 1), gz)
    out["multi-member/payment+shipping"] = Case(
        "ActivateJobs", "worker", frame(gzip.compress(activate()) + gzip.compress(msg("ActivateJobs", type="shipping")), 1), gz
    )
    out["multi-member/a+non-gzip-bytes"] = Case("CreateProcessInstance", "tenant", frame(gzip.compress(a) + b, 1), gz)
    out["multi-member/a+empty-member"] = Case("CreateProcessInstance", "tenant", frame(gzip.compress(a) + gzip.compress(b""), 1), gz)
    # Headers grpc-java's GZIPInputStream reads, or refuses (then it ignores the rest).
    for label, second in {
        "fname-fextra": gzip_member(b, name=b"x.bin", extra=b"ab\x02\x00zz"),
        "right-header-crc": gzip_member(b, hcrc=True),
        "wrong-header-crc": gzip_member(b, hcrc=False),
        "reserved-flag-bits": gzip_member(b, flags=0xE0),
    }.items():
        out[f"gzip-header/a+b-{label}"] = Case("CreateProcessInstance", "tenant", frame(gzip.compress(a) + second, 1), gz)
        out[f"gzip-header/b-{label}+a"] = Case("CreateProcessInstance", "tenant", frame(second + gzip.compress(a), 1), gz)
    # One message cut across two members: the members' bytes are one message.
    out["multi-member/message-split-across-members"] = Case(
        "CreateProcessInstance", "tenant", frame(gzip.compress(a[:7]) + gzip.compress(a[7:]), 1), gz
    )
    out["gzip/inflates-beyond-4MiB"] = Case(
        "CreateProcessInstance", "tenant", frame(gzip.compress(create(HELD, variables="x" * (4 << 20))), 1), gz
    )
    out["gzip/empty-payload"] = Case("CreateProcessInstance", "tenant", frame(b"", 1), gz)
    out["gzip/empty-member"] = Case("CreateProcessInstance", "tenant", frame(gzip.compress(b""), 1), gz)

    # The compressed flag against grpc-encoding.
    compressed_a = frame(gzip.compress(a), 1)
    out["flag/1-without-grpc-encoding"] = Case("CreateProcessInstance", "tenant", compressed_a)
    out["flag/1-identity"] = Case("CreateProcessInstance", "tenant", compressed_a, "identity")
    out["flag/1-GZIP-upper-case"] = Case("CreateProcessInstance", "tenant", compressed_a, "GZIP")
    out["flag/1-deflate"] = Case("CreateProcessInstance", "tenant", frame(zlib.compress(a), 1), "deflate")
    out["flag/0-unknown-encoding"] = Case("CreateProcessInstance", "tenant", frame(a), "br")
    out["flag/2-reserved-bit"] = Case("CreateProcessInstance", "tenant", frame(a, 2), gz)
    out["flag/1-gzip-trailing-space"] = Case("CreateProcessInstance", "tenant", compressed_a, "gzip ")
    out["flag/1-gzip-list"] = Case("CreateProcessInstance", "tenant", compressed_a, "gzip, identity")
    out["flag/1-two-encoding-headers"] = Case("CreateProcessInstance", "tenant", compressed_a, ("identity", "gzip"))
    out["flag/1-two-encoding-headers-gzip-first"] = Case("CreateProcessInstance", "tenant", compressed_a, ("gzip", "identity"))
    out["frames/empty-body"] = Case("CreateProcessInstance", "tenant", b"")
    out["frames/two-messages"] = Case("CreateProcessInstance", "tenant", frame(a) + frame(b))
    out["frames/length-short-by-one"] = Case("CreateProcessInstance", "tenant", frame(a)[:-1])

    # Field order, wire forms and keys (the Rust tests' and the fuzz models' cases).
    out["order/tenant-before-process"] = Case("CreateProcessInstance", "tenant", frame(ld(6, HELD) + ld(2, "order-process")))
    out["order/tenant-ids-split"] = Case(
        "ActivateJobs", "tenant", frame(ld(7, HELD) + ld(1, "payment") + ld(7, OTHER) + key(4, 0) + varint(1))
    )
    out["order/tenant-ids-split-held"] = Case("ActivateJobs", "tenant", frame(ld(7, HELD) + ld(1, "payment") + ld(7, HELD)))
    out["wire/tenant-as-varint"] = Case("CreateProcessInstance", "tenant", frame(ld(2, "order-process") + key(6, 0) + varint(5)))
    out["wire/tenant-as-fixed32"] = Case("CreateProcessInstance", "tenant", frame(key(6, 5) + b"abcd"))
    out["wire/tenant-b-then-as-varint"] = Case("CreateProcessInstance", "tenant", frame(ld(6, OTHER) + key(6, 0) + varint(1)))
    # A key padded to 2 bytes (still 32 bits): the same field 6.
    out["keys/padded-2-bytes"] = Case("CreateProcessInstance", "tenant", frame(create(HELD) + b"\xb2\x00" + varint(8) + OTHER.encode()))
    # 5 bytes, value beyond 32 bits: protobuf-java keeps the low 32 (field 6).
    out["keys/wide-5-bytes"] = Case("CreateProcessInstance", "tenant", frame(create(HELD) + b"\xb2\x80\x80\x80\x10" + varint(8) + OTHER.encode()))
    # 10 bytes, the low 32 bits field 6.
    out["keys/wide-10-bytes"] = Case(
        "CreateProcessInstance", "tenant", frame(create(HELD) + b"\xb2\x80\x80\x80\xf0\xff\xff\xff\xff\x01" + varint(8) + OTHER.encode())
    )
    out["keys/field-0"] = Case("CreateProcessInstance", "tenant", frame(create(HELD) + key(0, 0) + varint(1)))
    out["keys/wire-type-7"] = Case("CreateProcessInstance", "tenant", frame(create(HELD) + varint(15 << 3 | 7)))
    # An unknown group (field 15), skipped by protobuf-java.
    group = key(15, 3) + ld(1, "x") + key(15, 4)
    out["groups/unknown-group-then-tenant"] = Case("CreateProcessInstance", "tenant", frame(create(OTHER) + group + ld(6, HELD)))
    out["groups/unknown-group-hiding-tenant"] = Case(
        "CreateProcessInstance", "tenant", frame(create(HELD) + key(15, 3) + ld(6, OTHER) + key(15, 4))
    )
    # An end-group tag with no group: protobuf-java stops the message there, then refuses it.
    out["groups/stray-end-group-then-tenant"] = Case("CreateProcessInstance", "tenant", frame(create(OTHER) + key(15, 4) + ld(6, HELD)))
    out["groups/mismatched-end"] = Case("CreateProcessInstance", "tenant", frame(create(HELD) + key(15, 3) + key(14, 4)))
    # Packed-looking repeated strings: one length-delimited tenantIds is one tenant id.
    out["packed/tenant-ids-one-blob"] = Case("ActivateJobs", "tenant", frame(ld(1, "payment") + ld(7, ld(7, HELD) + ld(7, OTHER))))
    # The nested request of CreateProcessInstanceWithResult: occurrences merge.
    nested = lambda **f: ld(1, msg("CreateProcessInstance", **f))  # noqa: E731
    out["nested/merge-tenant-b-then-process-only"] = Case(
        "CreateProcessInstanceWithResult", "tenant", frame(nested(tenantId=OTHER) + nested(bpmnProcessId="order-process"))
    )
    out["nested/merge-tenant-b-then-a"] = Case("CreateProcessInstanceWithResult", "tenant", frame(nested(tenantId=OTHER) + nested(tenantId=HELD)))
    out["nested/request-as-varint"] = Case("CreateProcessInstanceWithResult", "tenant", frame(nested(tenantId=HELD) + key(1, 0) + varint(3)))
    out["nested/process-in-second-occurrence"] = Case(
        "CreateProcessInstanceWithResult", "process", frame(nested(bpmnProcessId="order-x") + nested(bpmnProcessId="invoice"))
    )
    # Strings: UTF-8 in the condition field, and in a field no condition reads.
    out["utf8/invalid-tenant"] = Case("CreateProcessInstance", "tenant", frame(ld(2, "order-process") + ld(6, b"tenant-\xff")))
    out["utf8/invalid-variables"] = Case("CreateProcessInstance", "tenant", frame(create(HELD) + ld(4, b"{\xff}")))
    out["utf8/surrogate-tenant"] = Case("CreateProcessInstance", "tenant", frame(ld(6, b"tenant-\xed\xa0\x80")))
    out["utf8/non-ascii-held-lookalike"] = Case("CreateProcessInstance", "tenant", frame(create("tenant-\u0430")))
    # Lengths.
    out["length/runs-past-end"] = Case("CreateProcessInstance", "tenant", frame(create(HELD) + key(6, 2) + varint(40) + b"x"))
    out["length/negative-int32"] = Case("CreateProcessInstance", "tenant", frame(create(HELD) + key(6, 2) + b"\xff\xff\xff\xff\x0f"))
    out["length/wide-10-bytes-low-bits-8"] = Case(
        "CreateProcessInstance", "tenant", frame(create(HELD) + key(6, 2) + b"\x88\x80\x80\x80\x80\x80\x80\x80\x80\x01" + OTHER.encode())
    )
    out["varint/11-bytes"] = Case("CreateProcessInstance", "tenant", frame(create(HELD) + key(3, 0) + b"\xff" * 10 + b"\x01"))
    return out


CASES = cases()

# Where the authorizer and grpc-java (with the policy) part ways, and why that is safe. A case
# listed here must still part ways (the list is checked both ways), and none of these is an
# allow of a call grpc-java runs outside the policy.
REFUSED_THOUGH_GATEWAY_WOULD_ALLOW = "refused though grpc-java decodes it to fields the policy allows"
ALLOWED_THOUGH_GATEWAY_REFUSES = "allowed, and then refused by grpc-java itself"
KNOWN_DIFFERENCES: dict[str, tuple[str, str]] = {
    # GZIPInputStream reads a member, then tries the next header; when that header is no gzip
    # header it treats the rest as trailing garbage and ends. The authorizer reads every member
    # and refuses bytes that form none (flate2 also checks the header CRC and the reserved flag
    # bits, which GZIPInputStream ignores).
    "multi-member/a+non-gzip-bytes": (
        REFUSED_THOUGH_GATEWAY_WOULD_ALLOW,
        "bytes after the last member that form no gzip member are refused",
    ),
    "gzip-header/a+b-wrong-header-crc": (
        REFUSED_THOUGH_GATEWAY_WOULD_ALLOW,
        "a second member with a wrong header CRC: GZIPInputStream drops it (and runs member a), flate2 refuses",
    ),
    "gzip-header/b-reserved-flag-bits+a": (
        REFUSED_THOUGH_GATEWAY_WOULD_ALLOW,
        "a member with reserved FLG bits: GZIPInputStream reads it, flate2 refuses it",
    ),
    # protobuf-java skips an unknown group (and every field inside it); the authorizer refuses
    # groups, which the gateway protocol never uses.
    "groups/unknown-group-then-tenant": (REFUSED_THOUGH_GATEWAY_WOULD_ALLOW, "groups are refused"),
    "groups/unknown-group-hiding-tenant": (REFUSED_THOUGH_GATEWAY_WOULD_ALLOW, "groups are refused"),
    # Envoy forwards at most max_request_bytes: a larger uncompressed call is never allowed on a
    # part of it (test_conditions.py).
    "size/100KiB-uncompressed/tenant-held": (REFUSED_THOUGH_GATEWAY_WOULD_ALLOW, "cut at max_request_bytes"),
    # grpc-java looks `grpc-encoding` up exactly (`gzip`, `identity`) and refuses any other,
    # whatever the frame's flag; the authorizer reads a flag-0 frame under any encoding and
    # takes `GZIP` for gzip. The gateway refuses these calls itself (UNIMPLEMENTED).
    "flag/0-unknown-encoding": (ALLOWED_THOUGH_GATEWAY_REFUSES, "grpc-java: Can't find decompressor for br"),
    "flag/1-GZIP-upper-case": (ALLOWED_THOUGH_GATEWAY_REFUSES, "grpc-java: Can't find decompressor for GZIP"),
    # Two `grpc-encoding` headers: grpc-java takes the last (gzip); Envoy hands the authorizer
    # both joined ("identity,gzip"), which it refuses as an encoding it does not read.
    "flag/1-two-encoding-headers": (REFUSED_THOUGH_GATEWAY_WOULD_ALLOW, "two grpc-encoding headers are refused"),
    # The authorizer checks UTF-8 only in the fields a condition reads; protobuf-java checks
    # every proto3 string and refuses the call.
    "utf8/invalid-variables": (ALLOWED_THOUGH_GATEWAY_REFUSES, "invalid UTF-8 in a field no condition reads"),
}


# -- the stack --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def java_gateway(workdir: Path) -> Iterator[JavaGateway]:
    with running(JavaGateway(workdir / "java-gateway")) as proc:
        yield proc


@pytest.fixture(scope="module")
def judged(workdir: Path, issuer: KeycloakIssuer, java_gateway: JavaGateway) -> Iterator[Envoy]:
    policy = workdir / "judge-policy.yaml"
    policy.write_text(JUDGE_POLICY)
    config = config_yaml(issuer.url, policy=policy, tenants_claim="tenants")
    authz = Authz(workdir / "judge-authz", config, name="zeebe-authz-judge")
    with running(authz, lambda p: p.start().wait_ready()):
        with running(Envoy(workdir / "judge-envoy", java_gateway.address, authz.check_addr, name="envoy-judge")) as proxy:
            yield proxy


@pytest.fixture(scope="module")
def tokens(issuer: KeycloakIssuer) -> dict[str, str]:
    return {name: issuer.mint(perms, tenants=tenants) for name, (perms, tenants) in TOKENS.items()}


@dataclass
class Verdict:
    """One case, sent straight to grpc-java and then through Envoy."""

    direct: raw_grpc.RawOutcome
    direct_calls: list[JavaCall]
    through: raw_grpc.RawOutcome
    through_calls: list[JavaCall]

    @property
    def gateway_decoded(self) -> dict[str, Any] | None:
        """What grpc-java decoded when sent the call straight (None: it refused the call)."""
        if self.direct.grpc_status == 0 and len(self.direct_calls) == 1:
            return self.direct_calls[0].request
        return None

    @property
    def authorizer_denied(self) -> bool:
        return self.through.message.startswith(MESSAGE_PREFIX)


def send(address: str, case: Case, token: str | None) -> raw_grpc.RawOutcome:
    headers: list[tuple[str, str]] = []
    if token:
        headers.append(("authorization", f"Bearer {token}"))
    encodings = (case.encoding,) if isinstance(case.encoding, str) else case.encoding or ()
    headers += [("grpc-encoding", encoding) for encoding in encodings]
    return raw_grpc.call(address, GATEWAY + case.rpc, case.body, headers=tuple(headers))


def judge(java_gateway: JavaGateway, envoy: Envoy, case: Case, token: str) -> Verdict:
    before = len(java_gateway.calls())
    direct = send(java_gateway.address, case, None)
    middle = len(java_gateway.calls())
    through = send(envoy.address, case, token)
    return Verdict(direct, java_gateway.calls(before)[: middle - before], through, java_gateway.calls(middle))


@pytest.fixture(scope="module")
def verdicts(java_gateway: JavaGateway, judged: Envoy, tokens: dict[str, str]) -> dict[str, Verdict]:
    return {name: judge(java_gateway, judged, case, tokens[case.token]) for name, case in CASES.items()}


def describe(name: str, verdict: Verdict) -> str:
    decoded = verdict.gateway_decoded
    java = json.dumps(decoded, sort_keys=True)[:200] if decoded is not None else f"refused: {verdict.direct}"
    return f"{name}: grpc-java {java}; through Envoy {verdict.through}"


# -- the judgement ----------------------------------------------------------------------------


def test_every_allowed_call_decodes_in_grpc_java_to_fields_the_policy_allows(verdicts: dict[str, Verdict]) -> None:
    wrong = []
    for name, verdict in verdicts.items():
        case = CASES[name]
        if verdict.authorizer_denied:
            continue
        for call in verdict.through_calls:
            if call.rpc != case.rpc or not policy_allows(case.token, case.rpc, call.request):
                wrong.append(f"SECURITY: {describe(name, verdict)}; the gateway ran {call.rpc} {call.request}")
        if verdict.through_calls and verdict.gateway_decoded is not None:
            if [c.request for c in verdict.through_calls] != [verdict.gateway_decoded]:
                wrong.append(f"decoded differently through Envoy: {describe(name, verdict)}")
    assert not wrong, "\n".join(wrong)


def test_every_deny_has_a_stated_reason_and_reaches_nothing(verdicts: dict[str, Verdict]) -> None:
    wrong = []
    for name, verdict in verdicts.items():
        if not verdict.authorizer_denied:
            continue
        if verdict.through.code is None or verdict.through.code.name != "PERMISSION_DENIED":
            wrong.append(f"not PERMISSION_DENIED: {describe(name, verdict)}")
        if decision_id(verdict.through.message) is None or f": {CASES[name].rpc}" not in verdict.through.message:
            wrong.append(f"no reason naming the rpc and a decision id: {describe(name, verdict)}")
        if verdict.through_calls:
            wrong.append(f"denied yet reached the gateway: {describe(name, verdict)}")
    assert not wrong, "\n".join(wrong)


def test_the_authorizer_allows_exactly_what_grpc_java_and_the_policy_allow(verdicts: dict[str, Verdict]) -> None:
    """Agreement, case by case; the parting cases must be exactly `KNOWN_DIFFERENCES`."""
    parted: dict[str, str] = {}
    for name, verdict in verdicts.items():
        case = CASES[name]
        decoded = verdict.gateway_decoded
        gateway_allows = decoded is not None and policy_allows(case.token, case.rpc, decoded)
        if verdict.authorizer_denied and gateway_allows:
            parted[name] = REFUSED_THOUGH_GATEWAY_WOULD_ALLOW
        elif not verdict.authorizer_denied and not gateway_allows:
            parted[name] = ALLOWED_THOUGH_GATEWAY_REFUSES if decoded is None else "SECURITY: allowed outside the policy"
    report = "\n".join(f"{kind}: {describe(name, verdicts[name])}" for name, kind in sorted(parted.items()))
    assert {n: k for n, k in parted.items()} == {n: k for n, (k, _) in KNOWN_DIFFERENCES.items()}, report


def test_the_cases_cover_every_condition_kind_and_both_answers(verdicts: dict[str, Verdict]) -> None:
    """The corpus is not one-sided: each token has calls allowed and denied, and grpc-java
    refuses some calls itself."""
    for token in TOKENS:
        answers = {verdicts[n].authorizer_denied for n, c in CASES.items() if c.token == token}
        assert answers == {True, False}, token
    assert any(v.gateway_decoded is None for v in verdicts.values())


# -- the Python stub gateway (grpc-core, Python protobuf) against grpc-java ----------------------

# Where the Python stub gateway of the other e2e files (support/gateway.py: grpc-core and
# Python's protobuf) takes a call differently from grpc-java, found by this corpus. The rest of
# the suite uses it only where none of these matter (see the module doc).
PYTHON_STUB_DIFFERENCES: dict[str, str] = {
    # grpc-core inflates one gzip member and refuses the frame when bytes follow it.
    "multi-member/a+b": "grpc-core refuses a second gzip member; grpc-java reads it (tenant-b)",
    "multi-member/b+a": "grpc-core refuses a second gzip member; grpc-java reads it (tenant-a)",
    "multi-member/payment+shipping": "grpc-core refuses a second gzip member; grpc-java reads it",
    "multi-member/a+empty-member": "grpc-core refuses a second gzip member, even an empty one",
    "multi-member/message-split-across-members": "grpc-core refuses a second gzip member",
    "multi-member/a+non-gzip-bytes": "grpc-core refuses bytes after the member; grpc-java ignores them",
    "gzip-header/a+b-fname-fextra": "grpc-core refuses a second gzip member",
    "gzip-header/a+b-right-header-crc": "grpc-core refuses a second gzip member",
    "gzip-header/a+b-wrong-header-crc": "grpc-core refuses the bytes after member a; grpc-java ignores them",
    "gzip-header/a+b-reserved-flag-bits": "grpc-core refuses a second gzip member",
    "gzip-header/b-fname-fextra+a": "grpc-core refuses a second gzip member",
    "gzip-header/b-right-header-crc+a": "grpc-core refuses a second gzip member",
    "gzip-header/b-reserved-flag-bits+a": "grpc-core refuses a second gzip member",
    # Python's protobuf refuses a key or a length beyond 32 bits; protobuf-java keeps the low 32
    # bits (field 6, length 8: tenant-b).
    "keys/wide-5-bytes": "Python protobuf refuses the key; protobuf-java reads field 6",
    "keys/wide-10-bytes": "Python protobuf refuses the key; protobuf-java reads field 6",
    "length/wide-10-bytes-low-bits-8": "Python protobuf refuses the length; protobuf-java reads 8 bytes",
    # Frames grpc-core takes and grpc-java refuses.
    "flag/1-deflate": "grpc-core inflates deflate; grpc-java has no deflate decompressor by default",
    "gzip/empty-payload": "grpc-core takes an empty compressed payload as an empty message; grpc-java refuses it",
    "frames/two-messages": "grpc-core runs the first of two messages; grpc-java: Too many requests",
}
# Where grpc-core answers differently from run to run (left out of the comparison): flag 2
# (grpc-java: "reserved bits not zero") is mostly taken as an empty message, sometimes
# refused (UNIMPLEMENTED "requires exactly one request message").
PYTHON_STUB_UNSTABLE = {"flag/2-reserved-bit"}


@pytest.fixture(scope="module")
def python_stub_verdicts(gateway) -> dict[str, tuple[raw_grpc.RawOutcome, list[dict[str, Any]]]]:
    from google.protobuf.json_format import MessageToDict

    out = {}
    for name, case in CASES.items():
        before = len(gateway.calls())
        outcome = send(gateway.address, case, None)
        out[name] = (outcome, [MessageToDict(c.request) for c in gateway.calls()[before:]])
    return out


def test_where_the_python_stub_gateway_differs_from_grpc_java(
    verdicts: dict[str, Verdict], python_stub_verdicts
) -> None:
    """The same bodies, straight to the Python stub gateway and straight to grpc-java: where one
    takes a call the other refuses, or decodes other fields, it is listed above."""
    differ = {}
    for name, verdict in verdicts.items():
        if name in PYTHON_STUB_UNSTABLE:
            continue
        outcome, decoded = python_stub_verdicts[name]
        python = decoded[0] if outcome.grpc_status == 0 and len(decoded) == 1 else None
        if python != verdict.gateway_decoded:
            differ[name] = f"python stub {python if python is not None else outcome}; grpc-java {verdict.gateway_decoded}"
    report = "\n".join(f"{name}: {what}"[:300] for name, what in sorted(differ.items()))
    assert set(differ) == set(PYTHON_STUB_DIFFERENCES), report
