"""Regression tests of the hardening fixes, one per defect and named after it, end to end:
Camunda's zeebe-grpc 8.4 stubs → Envoy 1.40 → zeebe-authz → the stub gateway. Where the wire
must carry what no grpc stack sends (two gzip members in one frame, a `:path` with a query
string), the client is `support/raw_grpc.py`, which writes the HTTP/2 request and the
length-prefixed frame byte by byte.

Each test asserts what the client must see after the fix; its docstring says what the client
saw before. Where a defect has several forms, one test checks them all and reports every case,
right or wrong (`assert_cases`), so it fails while any form is still open.

What Envoy 1.40 does with these requests, as these tests found it (the bootstrap of
support/envoy.py, which leaves the HTTP connection manager's path and host options at their
defaults):
- it forwards `:authority` exactly as sent, trailing dot, upper case and port included
  (`strip_trailing_host_dot` is off by default), to the authorizer and upstream;
- it forwards `:path` exactly as sent: a query string, `;x`, `%79` and a trailing `/` reach the
  authorizer (and, when allowed, the gateway) unchanged; it rejects none of them and normalizes
  none (`normalize_path` and `merge_slashes` are off);
- a header value with CR, LF, NUL or DEL in the authorizer's OK response makes Envoy fail the
  call itself: UNAVAILABLE "invalid header value for: <header>" (a tab passes);
- it sends its ext_authz timeout with each Check, as `grpc-timeout` (and as
  `x-envoy-expected-rq-timeout-ms`); when the authorizer has not answered by then, Envoy answers
  UNAVAILABLE itself, with no grpc-message at all (`status_on_error` 503), and counts
  `ext_authz.error`;
- a compressed frame is forwarded still compressed, so the authorizer inflates it itself.

The stub gateway is the Python one (grpc-core) except for the multi-member gzip test, which
runs against the grpc-java stub (tests/e2e/java/gateway-stub): grpc-core refuses a frame of two
gzip members (INTERNAL "Unexpected error decompressing data"), while Zeebe's gateway is
grpc-java, whose `GZIPInputStream` reads every member, as the grpc-java stub shows. So before
the fix a two-member call got *past* the authorizer and a real gateway ran the second member.
"""

from __future__ import annotations

import contextlib
import functools
import gzip
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import pytest
from zeebe_grpc import gateway_pb2 as pb
from zeebe_grpc import gateway_pb2_grpc

from support import raw_grpc
from support.authz import DEFAULT_POLICY, DEV_POLICY, Authz, config_yaml, realms_config_yaml
from support.calls import (
    MESSAGE_PREFIX,
    Expect,
    Outcome,
    Seen,
    allowed,
    assert_cases,
    bearer,
    invoke,
    refused,
    through,
)
from support.envoy import Envoy
from support.gateway import StubGateway
from support.issuer import KeycloakIssuer, RealmKey
from support.java import JavaGateway
from support.process import running

OK = grpc.StatusCode.OK
UNAUTHENTICATED = grpc.StatusCode.UNAUTHENTICATED
PERMISSION_DENIED = grpc.StatusCode.PERMISSION_DENIED
UNAVAILABLE = grpc.StatusCode.UNAVAILABLE

GATEWAY = "/gateway_protocol.Gateway/"
HELD = "tenant-a"
OTHER = "tenant-b"
# What the authorizer's JWKS settings default to after the fix (`jwks.refetch_cooldown`).
DEFAULT_REFETCH_COOLDOWN = 1.0


@functools.cache
def foreign_key() -> RealmKey:
    """A key no issuer publishes, made once: RSA key generation takes the interpreter for
    tens of milliseconds, and a spray that made one per token would stall every thread of
    this process (the issuer's included) instead of loading the authorizer."""
    return RealmKey(kid="foreign")


def unknown_kid_token(issuer: KeycloakIssuer) -> str:
    """A token of `issuer` (its `iss`) under a random `kid` that its JWKS does not list."""
    return issuer.mint(["read:*"], key=foreign_key(), kid=f"unknown-{uuid.uuid4().hex[:12]}")


@dataclass
class Protected:
    """One authorizer behind its own Envoy, and a Zeebe client stub talking to that Envoy."""

    authz: Authz
    envoy: Envoy
    zeebe: gateway_pb2_grpc.GatewayStub


@contextlib.contextmanager
def protected(
    workdir: Path, gateway: StubGateway, name: str, config: str, ext_authz_timeout: str = "2s"
) -> Iterator[Protected]:
    """Starts zeebe-authz on `config` (ready: it has every realm's keys) and an Envoy asking it
    within `ext_authz_timeout`; stops both."""
    authz = Authz(workdir / name, config, name=f"zeebe-authz-{name}")
    with running(authz, lambda p: p.start().wait_ready()):
        proxy = Envoy(
            workdir / f"{name}-envoy",
            gateway.address,
            authz.check_addr,
            name=f"envoy-{name}",
            ext_authz_timeout=ext_authz_timeout,
        )
        with running(proxy), grpc.insecure_channel(proxy.address) as channel:
            yield Protected(authz, proxy, gateway_pb2_grpc.GatewayStub(channel))


@pytest.fixture
def own_issuer() -> Iterator[KeycloakIssuer]:
    """An issuer for one test, which that test may rotate, break or stop."""
    server = KeycloakIssuer().start()
    yield server
    server.stop()


def topology(zeebe: gateway_pb2_grpc.GatewayStub, token: str) -> Outcome:
    return invoke(zeebe.Topology, pb.TopologyRequest(), metadata=bearer(token))


# -- 1. multi-member gzip ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def java_gateway(workdir: Path) -> Iterator[JavaGateway]:
    """The grpc-java stub gateway: it reads every gzip member, as Zeebe's gateway does."""
    with running(JavaGateway(workdir / "hardening-java-gateway")) as proc:
        yield proc


@pytest.fixture(scope="module")
def conditions(workdir: Path, issuer: KeycloakIssuer, java_gateway: JavaGateway) -> Iterator[Protected]:
    """The dev policy (`tenant:write` on held tenants, `worker:payment` on job types payment*),
    in front of the grpc-java stub gateway."""
    config = config_yaml(issuer.url, policy=DEV_POLICY, tenants_claim="tenants")
    with protected(workdir, java_gateway, "hardening-conditions", config) as stack:
        yield stack


def gzip_member(message: Any) -> bytes:
    return gzip.compress(message.SerializeToString())


def gzip_call(envoy: Envoy, rpc: str, token: str, compressed: bytes) -> raw_grpc.RawOutcome:
    """One frame with compressed-flag 1 and `grpc-encoding: gzip`, carrying `compressed`."""
    return raw_grpc.call(
        envoy.address,
        GATEWAY + rpc,
        raw_grpc.grpc_frame(compressed, compressed=True),
        headers=(("authorization", f"Bearer {token}"), ("grpc-encoding", "gzip")),
    )


def test_multi_member_gzip_escapes_body_conditions(
    conditions: Protected, java_gateway: JavaGateway, issuer: KeycloakIssuer
) -> None:
    """A gzip frame is inflated whole: every member, as the gateway's GZIPInputStream does.

    Before the fix only the first member was read: the authorizer saw tenant-a (or job type
    payment) and allowed, and the call went on to the gateway, whose grpc-java runs tenant-b
    (or shipping): test_gateway_judge.py's `multi-member/a+b` shows grpc-java decoding it so.
    Bytes after the member that are no gzip member were ignored the same way (allowed; grpc-java
    ignores them too, so it ran tenant-a there).
    """
    tenant_token = issuer.mint(["tenant:write"], tenants=[HELD])
    worker_token = issuer.mint(["worker:payment"])
    create = "CreateProcessInstance"
    in_tenant = pb.CreateProcessInstanceRequest(bpmnProcessId="order-process", tenantId=HELD)
    other_tenant = pb.CreateProcessInstanceRequest(tenantId=OTHER)
    payment = pb.ActivateJobsRequest(type="payment", worker="e2e-worker", timeout=30_000, maxJobsToActivate=1)
    cases: dict[str, tuple[str, str, bytes, Expect]] = {
        "one member, tenant-a (control)": (create, tenant_token, gzip_member(in_tenant), allowed(create)),
        "tenant-a member + tenant-b member": (
            create,
            tenant_token,
            gzip_member(in_tenant) + gzip_member(other_tenant),
            refused(
                PERMISSION_DENIED,
                f"{MESSAGE_PREFIX}{create}: tenant '{OTHER}' not allowed (token holds: {HELD})",
            ),
        ),
        "payment member + shipping member": (
            "ActivateJobs",
            worker_token,
            gzip_member(payment) + gzip_member(pb.ActivateJobsRequest(type="shipping")),
            refused(
                PERMISSION_DENIED,
                f"{MESSAGE_PREFIX}ActivateJobs: job type 'shipping' not allowed (allowed: payment*)",
            ),
        ),
        # The trailing bytes are tenant-b's message, uncompressed: no gzip member.
        "tenant-a member + non-gzip bytes": (
            create,
            tenant_token,
            gzip_member(in_tenant) + other_tenant.SerializeToString(),
            refused(PERMISSION_DENIED, contains=(f"{create}: cannot check the request's fields: ", "gzip")),
        ),
    }
    seen = {
        name: through(java_gateway, lambda rpc=rpc, token=token, body=body: gzip_call(conditions.envoy, rpc, token, body))
        for name, (rpc, token, body, _) in cases.items()
    }
    assert_cases(seen, {name: case[3] for name, case in cases.items()})


# -- 2. key rotation right after an unknown kid -------------------------------------------------


def paced(calls: int, over: float, make_call: Callable[[], Outcome], workers: int = 1) -> list[Outcome]:
    """`calls` calls started evenly over `over` seconds (on `workers` threads), in start order.
    The pacing is the load being tested, not a wait for readiness."""
    start = time.monotonic()

    def at(i: int) -> Outcome:
        delay = start + i * over / calls - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        return make_call()

    with ThreadPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(at, range(calls)))


def test_key_rotation_right_after_an_unknown_kid_gives_no_false_denies(
    tmp_path: Path, gateway: StubGateway, own_issuer: KeycloakIssuer
) -> None:
    """`jwks.refetch_cooldown` is left at its default (1 s): a token of a key Keycloak has just
    rotated in is accepted within about that long, even right after an unknown kid started the
    cooldown; and a spray of random kids still costs at most one JWKS fetch per cooldown.

    Before the fix the default cooldown was 10 s: every call with the new kid for the next 10 s
    was UNAUTHENTICATED "zeebe-authz: token signing key (kid) is not in the realm's JWKS".
    """
    # Envoy must wait longer than the cooldown: a Check may wait out the cooldown once.
    config = config_yaml(own_issuer.url, refetch_cooldown=None)
    with protected(tmp_path, gateway, "rotation", config, ext_authz_timeout="2s") as stack:
        outcome = topology(stack.zeebe, unknown_kid_token(own_issuer))
        assert outcome.code == UNAUTHENTICATED, outcome

        own_issuer.rotate_signing_key()
        rotated = paced(12, 3.0, lambda: topology(stack.zeebe, own_issuer.mint(["read:*"])))
        refused_calls = [f"call {i}: {o}" for i, o in enumerate(rotated) if o.code != OK]
        assert not refused_calls, f"{len(refused_calls)} of {len(rotated)} rotated-key calls refused: {refused_calls}"

        # A spray of random kids, several at a time: 40 calls over 2 s.
        fetches_before = own_issuer.jwks_fetches()
        started = time.monotonic()
        sprayed = paced(40, 2.0, lambda: topology(stack.zeebe, unknown_kid_token(own_issuer)), workers=40)
        elapsed = time.monotonic() - started
        fetches = own_issuer.jwks_fetches() - fetches_before
        not_unknown = [f"call {i}: {o}" for i, o in enumerate(sprayed) if o.code != UNAUTHENTICATED]
        assert not not_unknown, f"{len(not_unknown)} of {len(sprayed)} random kids not UNAUTHENTICATED: {not_unknown}"
        # One fetch per cooldown, plus one for a window that starts or ends on a boundary.
        assert fetches <= int(elapsed / DEFAULT_REFETCH_COOLDOWN) + 1, (
            f"{fetches} JWKS fetches for 40 random kids in {elapsed:.1f}s"
        )


# -- 3. unknown kid while Keycloak is unreachable -----------------------------------------------

KEYCLOAK_FAULTS: dict[str, Callable[[KeycloakIssuer], None]] = {
    "http-503": lambda issuer: issuer.fail_jwks(503),
    "connection-refused": lambda issuer: issuer.stop(),
    "not-a-jwks": lambda issuer: issuer.garble_jwks(),
}


@pytest.mark.parametrize("fault", list(KEYCLOAK_FAULTS))
def test_unknown_kid_while_keycloak_is_unreachable_is_unavailable(
    tmp_path: Path, gateway: StubGateway, own_issuer: KeycloakIssuer, fault: str
) -> None:
    """A kid the authorizer does not know, when the refetch that would tell fails, is an
    outage (UNAVAILABLE: retry), not a bad token: it may well be Keycloak's new key.

    Before the fix: UNAUTHENTICATED "zeebe-authz: token signing key (kid) is not in the
    realm's JWKS", for each fault.
    """
    config = config_yaml(own_issuer.url, refetch_cooldown=None)
    with protected(tmp_path, gateway, f"unreachable-{fault}", config) as stack:
        KEYCLOAK_FAULTS[fault](own_issuer)
        token = unknown_kid_token(own_issuer)
        seen = through(gateway, lambda: topology(stack.zeebe, token))
        assert_cases(
            {"unknown kid": seen},
            {"unknown kid": refused(UNAVAILABLE, contains=("keys", "unavailable"))},
        )


# -- 4. a Check never outlives Envoy's timeout --------------------------------------------------

ENVOY_CHECK_TIMEOUT = 1.0


def test_a_check_never_outlives_envoys_timeout(
    tmp_path: Path, gateway: StubGateway, own_issuer: KeycloakIssuer
) -> None:
    """Envoy says how long it waits (`grpc-timeout` on the Check call); when a JWKS fetch would
    take longer, the authorizer answers UNAVAILABLE itself, shortly before that deadline.

    Here Envoy waits 1 s, the authorizer's fetch_timeout is 4 s and Keycloak's JWKS endpoint
    stalls for 5 s. Before the fix the authorizer waited for its fetch, and the client got
    Envoy's own timeout answer after ~1.05 s: UNAVAILABLE with no message at all.
    """
    config = config_yaml(own_issuer.url, refetch_cooldown=None, fetch_timeout="4s")
    with protected(tmp_path, gateway, "stalled", config, ext_authz_timeout=f"{ENVOY_CHECK_TIMEOUT:g}s") as stack:
        # A sidecar's connection to the authorizer is warm: open it first, so Envoy's 1 s is
        # not partly spent connecting (the authorizer's clock starts when the Check arrives).
        warm = topology(stack.zeebe, own_issuer.mint(["read:*"]))
        assert warm.code == OK, warm
        own_issuer.stall_jwks(5.0)
        token = unknown_kid_token(own_issuer)
        started = time.monotonic()
        seen = through(gateway, lambda: topology(stack.zeebe, token))
        elapsed = time.monotonic() - started
        assert_cases(
            {"unknown kid, JWKS stalled": seen},
            {"unknown kid, JWKS stalled": refused(UNAVAILABLE)},
        )
        assert elapsed < ENVOY_CHECK_TIMEOUT + 0.5, f"answered after {elapsed:.2f}s"


# -- 5. crit ------------------------------------------------------------------------------------

CRIT_HEADERS: dict[str, dict[str, Any]] = {
    "crit-exp": {"crit": ["exp"]},
    "crit-extension": {"crit": ["http://example.com/ext"], "http://example.com/ext": True},
}


@pytest.mark.parametrize("case", list(CRIT_HEADERS))
def test_crit_header_accepted(zeebe, gateway: StubGateway, issuer: KeycloakIssuer, case: str) -> None:
    """A JWS whose header marks extensions critical must be refused (RFC 7515 §4.1.11): the
    authorizer understands none, so it cannot honour what the signer made a condition.

    Before the fix: OK (the header's `crit` was ignored).
    """
    token = issuer.mint(["write:*"], header=CRIT_HEADERS[case])
    seen = through(gateway, lambda: topology(zeebe, token))
    assert_cases({case: seen}, {case: refused(UNAUTHENTICATED, contains=("crit",))})


# -- 6. trailing-dot host -----------------------------------------------------------------------

READ_ONLY_POLICY = """\
# The catch-all realm of test_trailing_dot_host_falls_through_to_another_realm: Topology only.
grants:
  - permission: "read:*"
    rpcs: [Topology]
unknown_rpcs: deny
other_paths: deny
"""


@pytest.fixture(scope="module")
def two_realms(workdir: Path, issuer: KeycloakIssuer, gateway: StubGateway) -> Iterator[Protected]:
    """Realm `a` on zeebe.a.example (default policy: `write:*` is every rpc) and a catch-all
    realm `any` on `*` (read-only), both trusting the same issuer."""
    policy = workdir / "hardening-read-only.yaml"
    policy.write_text(READ_ONLY_POLICY)
    realm = {"issuer": issuer.url, "audiences": ["zeebe-api"]}
    config = realms_config_yaml(
        [
            {"name": "a", **realm, "hosts": ["zeebe.a.example"], "policy": str(DEFAULT_POLICY)},
            {"name": "any", **realm, "hosts": ["*"], "policy": str(policy)},
        ],
        # The realm header shows which realm judged.
        identity_headers="all",
    )
    with protected(workdir, gateway, "hardening-two-realms", config) as stack:
        yield stack


def test_trailing_dot_host_falls_through_to_another_realm(
    two_realms: Protected, gateway: StubGateway, issuer: KeycloakIssuer
) -> None:
    """`zeebe.a.example.` is zeebe.a.example (DNS's absolute form), in any case and with a
    port: realm `a` judges it, and the gateway is told so (`x-zeebe-authz-realm: a`).

    Before the fix a trailing dot missed realm `a` and fell through to the `*` realm:
    PERMISSION_DENIED "zeebe-authz: CreateProcessInstance requires permission no permission in
    permissions.zeebe-api" (judged by the read-only policy).
    """
    token = issuer.mint(["write:*"])
    create = "CreateProcessInstance"
    request = pb.CreateProcessInstanceRequest(bpmnProcessId="order-process", version=-1)
    expected = {
        "zeebe.a.example": allowed(create),  # control
        "zeebe.a.example.": allowed(create),
        "ZEEBE.A.EXAMPLE.:26500": allowed(create),
        "other.example": refused(PERMISSION_DENIED),  # control: the catch-all is read-only
    }
    seen: dict[str, Seen] = {}
    realms: dict[str, list[str | bytes]] = {}
    for authority in expected:
        options = [("grpc.default_authority", authority)]
        with grpc.insecure_channel(two_realms.envoy.address, options=options) as channel:
            zeebe = gateway_pb2_grpc.GatewayStub(channel)
            before = len(gateway.calls())
            seen[authority] = through(gateway, lambda: invoke(zeebe.CreateProcessInstance, request, bearer(token)))
            realms[authority] = [v for call in gateway.calls()[before:] for v in call.values("x-zeebe-authz-realm")]
    assert_cases(seen, expected)
    assert realms == {host: ["a"] if e.code == OK else [] for host, e in expected.items()}


# -- 7. identity headers from token claims ------------------------------------------------------

SUBJECTS: dict[str, tuple[str, str]] = {
    # sub → x-zeebe-authz-subject as the gateway must receive it
    "crlf": ("alice\r\nx-injected: 1", "alice%0D%0Ax-injected: 1"),
    "controls": (" bob\x00\t\x7f 100% ", "%20bob%00%09%7F 100%25%20"),
}


@pytest.mark.parametrize("case", list(SUBJECTS))
def test_header_values_from_tokens_go_out_unsanitized(
    zeebe, gateway: StubGateway, issuer: KeycloakIssuer, case: str
) -> None:
    """A claim copied into an identity header is percent-escaped: control characters (CR, LF,
    NUL, tab, DEL), `%` itself, and spaces at either end (which HTTP would strip). So a `sub`
    cannot add a header of its own, and the gateway can decode the value back exactly.

    Before the fix Envoy refused the authorizer's OK response, and the client got
    UNAVAILABLE "invalid header value for: x-zeebe-authz-subject" (for CR/LF, NUL and DEL; a
    tab and the spaces went out raw).
    """
    sub, escaped = SUBJECTS[case]
    token = issuer.mint(["write:*"], sub=sub)
    before = len(gateway.calls())
    seen = through(gateway, lambda: topology(zeebe, token))
    assert_cases({case: seen}, {case: allowed("Topology")})
    (call,) = gateway.calls()[before:]
    assert call.values("x-zeebe-authz-subject") == [escaped]
    assert call.values("x-injected") == []


# -- 8. paths that only start like an rpc ---------------------------------------------------------

# Each is a method the gateway (grpc-java, which looks the method up by the whole path) does
# not have; Envoy forwards each unchanged.
NOT_TOPOLOGY = ["Topology?x=1", "Topology;x", "Topolog%79", "Topology/"]


def test_paths_with_a_query_string_are_judged_by_their_prefix(
    envoy: Envoy, gateway: StubGateway, issuer: KeycloakIssuer
) -> None:
    """Only the exact path `/gateway_protocol.Gateway/Topology` is Topology: a path that merely
    starts with it is an unknown rpc, denied by the default policy (`unknown_rpcs: deny`).

    Envoy 1.40 neither rejects nor normalizes any of these paths: each reaches the authorizer
    as sent (the deny message echoes it). Before the fix the authorizer cut the query string
    and allowed `Topology?x=1` as Topology; the stub gateway then answered UNIMPLEMENTED
    "Method not found!". The other three were already unknown rpcs.
    """
    token = issuer.mint(["read:*"])  # granted Topology, and nothing else

    def raw(method: str) -> raw_grpc.RawOutcome:
        return raw_grpc.call(
            envoy.address,
            GATEWAY + method,
            raw_grpc.grpc_frame(pb.TopologyRequest().SerializeToString()),
            headers=(("authorization", f"Bearer {token}"),),
        )

    expected = {"Topology": allowed("Topology")} | {  # control
        method: refused(PERMISSION_DENIED, f"{MESSAGE_PREFIX}unknown gateway rpc '{method}' (not an rpc name)") for method in NOT_TOPOLOGY
    }
    seen = {method: through(gateway, lambda method=method: raw(method)) for method in expected}
    assert_cases(seen, expected)
