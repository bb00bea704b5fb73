#!/usr/bin/env python3
"""Soak test of zeebe-authz behind a real Envoy: a bounded mixed load with key rotations, and
a watch on the authorizer's memory, file descriptors and CPU. Run it through `scripts/soak`
(which builds the release binary and provides .venv/); the rules it judges by are stated
there and in `judge()` below.

Everything binds 127.0.0.1 on ephemeral ports and is stopped by its own pid (or, for the
in-process issuer and gateway, shut down) on every exit: the end of the run, a failure,
Ctrl-C or SIGTERM. The load stops when the run's time is up; each call has a 5 s deadline.

Hidden knobs for quick iteration (the defaults are the soak): SOAK_ROTATE_SECONDS (60),
SOAK_SAMPLE_SECONDS (10), SOAK_THREADS (6), SOAK_SEED (1), SOAK_WEIGHTS (e.g. `unknown_kid=0,hot=50`:
the share of each class, see WEIGHTS).

Beside the checked Python classes: the volume load, `zeebe-authz bench load --gateway` at
`--rate` calls per second (default 5,000; 0: none) through a second Envoy in front of the same
authorizer (a direct response behind ext_authz, so no Python gateway caps the rate), mixed
rpcs with tokens of a key that stays listed; and an attacker holding `--idle-connections`
(default 400) connections to the authorizer's Check port, half silent, half with an HTTP/2
preface and no request, re-opened as soon as the authorizer closes them.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import os
import random
import re
import signal
import statistics
import subprocess
import sys
import threading
import time
import urllib.request
import uuid
from collections import Counter
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests" / "e2e"))

import importlib.machinery  # noqa: E402
import importlib.util  # noqa: E402
import selectors  # noqa: E402
import socket  # noqa: E402

import grpc  # noqa: E402
from zeebe_grpc import gateway_pb2 as pb  # noqa: E402
from zeebe_grpc import gateway_pb2_grpc  # noqa: E402

from support.authz import DEV_POLICY, Authz, config_yaml  # noqa: E402
from support.calls import CALL_TIMEOUT, Outcome, bearer, invoke  # noqa: E402
from support.envoy import EXT_AUTHZ_TIMEOUT, Envoy  # noqa: E402
from support.gateway import StubGateway  # noqa: E402
from support.issuer import KeycloakIssuer, RealmKey  # noqa: E402
from support.process import running  # noqa: E402

OUT = ROOT / "target" / "soak"

OK = grpc.StatusCode.OK
UNAUTHENTICATED = grpc.StatusCode.UNAUTHENTICATED
PERMISSION_DENIED = grpc.StatusCode.PERMISSION_DENIED
UNAVAILABLE = grpc.StatusCode.UNAVAILABLE
GZIP = grpc.Compression.Gzip

HELD, OTHER = "tenant-a", "tenant-b"
# Envoy answers 503 (UNAVAILABLE) when the authorizer has not answered within this.
AUTHZ_DEADLINE = float(EXT_AUTHZ_TIMEOUT.rstrip("s"))
# An UNAVAILABLE on an unknown kid is the deadline only if the call took about that long.
DEADLINE_SLACK = 0.1
# Small enough that distinct tokens fill the verified-token cache during the warm-up: after
# it, a bounded cache adds no memory, so any growth is a leak (~2,000 ordinary tokens).
CACHE_MAX_BYTES = 512 * 1024
# The key the volume load signs with: listed for the whole run, never rotated out.
BENCH_KID = "soak-bench"
# The HTTP/2 client preface and an empty SETTINGS frame: what a slow attacker sends.
H2_PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + b"\x00\x00\x00\x04\x00\x00\x00\x00\x00"
# Each access token is used at most this long (Keycloak's default lifetime is 300 s).
TOKEN_REFRESH = 120.0
# How much of the run is warm-up (excluded from the trends): 20 %, at most 2 minutes.
WARMUP_FRACTION, WARMUP_MAX = 0.2, 120.0
# Leak rule for RSS: fail when the post-warm-up slope, projected over the whole run, exceeds
# both of these.
RSS_GROWTH_FRACTION, RSS_GROWTH_MIB = 0.10, 8.0
# Leak rule for fds: the final count may exceed the warm-up's highest by at most this.
FD_SLACK = 8
MIN_TREND_SAMPLES = 3
ERRORS_PRINTED = 10
ERRORS_KEPT = 50

# Share of calls per class (see `Plan.next_call`).
WEIGHTS = {"hot": 35, "distinct": 15, "invalid": 10, "unknown_kid": 3, "tenant": 20, "jobs": 17}
CLASSES = list(WEIGHTS)


def say(msg: str) -> None:
    print(f"==> {msg}", file=sys.stderr, flush=True)


def env_float(name: str, default: float) -> float:
    value = os.environ.get(name)
    return float(value) if value else default


# ---------------------------------------------------------------------------------------------
# The servers, as the end-to-end suite has them, with what a long run needs on top


class RotatingIssuer(KeycloakIssuer):
    """The Keycloak-shaped issuer with several signing keys listed, as a realm has during a key
    rotation: `rotate()` adds a key and makes it the active one (new tokens are signed with
    it), `drop_oldest()` removes the oldest listed key once its tokens are no longer used."""

    def __init__(self) -> None:
        super().__init__()
        self._keys_lock = threading.Lock()
        self._signing_keys = [self.signing_key]  # oldest first
        # The volume load's key: always listed (its tokens are cached for the whole run).
        self.bench_key = RealmKey(kid=BENCH_KID)

    def jwks(self) -> dict[str, Any]:
        with self._keys_lock:
            keys = list(self._signing_keys)
        return {"keys": [k.jwk() for k in reversed(keys)] + [self.bench_key.jwk(), self.encryption_key.jwk()]}

    def listed(self) -> tuple[RealmKey, ...]:
        with self._keys_lock:
            return tuple(self._signing_keys)

    def rotate(self) -> RealmKey:
        key = RealmKey(kid=f"sig-{uuid.uuid4().hex[:12]}")
        with self._keys_lock:
            self._signing_keys.append(key)
            self.signing_key = key
        return key

    def drop_oldest(self) -> RealmKey:
        with self._keys_lock:
            return self._signing_keys.pop(0)

    def jwks_fetches(self) -> int:
        with self._lock:
            return sum(1 for p in self.requests if p.endswith("/protocol/openid-connect/certs"))


class CountingGateway(StubGateway):
    """The stub gateway, counting the calls that reach it by rpc instead of keeping them (a
    soak sends millions)."""

    def __init__(self) -> None:
        super().__init__()
        self.reached: Counter[str] = Counter()

    def _record(self, rpc: str, context: grpc.ServicerContext, request: Any = None) -> None:
        with self._lock:
            self.reached[rpc] += 1

    def reached_counts(self) -> Counter[str]:
        with self._lock:
            return Counter(self.reached)


class SoakAuthz(Authz):
    """zeebe-authz whose log goes to its file only: the first lines are kept (for the
    `Listening` line), later ones are counted by level."""

    KEPT_LINES = 200

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.levels: Counter[str] = Counter()

    def _read_stderr(self) -> None:
        assert self.proc is not None and self.proc.stderr is not None
        with open(self.log_path, "w") as log:
            for raw in self.proc.stderr:
                line = raw.decode(errors="replace").rstrip("\n")
                log.write(line + "\n")
                try:
                    level = str(json.loads(line).get("level", "?")).upper()
                except (ValueError, AttributeError):
                    level = "?"
                with self._lock:
                    self.levels[level] += 1
                    if len(self._lines) < self.KEPT_LINES:
                        self._lines.append(line)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


# ---------------------------------------------------------------------------------------------
# The load


@dataclass(frozen=True)
class Tokens:
    """The long-lived tokens of the run, re-minted (with the active key) at every rotation and
    every TOKEN_REFRESH seconds, as clients refresh theirs."""

    kid: str
    hot: str
    tenant: str
    worker: str
    minted_at: float


@dataclass
class Call:
    cls: str
    label: str
    rpc: str
    request: Any
    token: str | None
    expected: grpc.StatusCode
    kid: str = ""
    compression: grpc.Compression | None = None


def compressible_request(tenant: str) -> pb.CreateProcessInstanceRequest:
    """4 KiB of repetitive variables: grpc really gzips it (a small message goes out with flag
    0 under the gzip header, which the plain requests cover)."""
    variables = json.dumps({"note": "paid in full " * 320})
    return pb.CreateProcessInstanceRequest(bpmnProcessId="order-process", variables=variables, tenantId=tenant)


def create_request(tenant: str) -> pb.CreateProcessInstanceRequest:
    return pb.CreateProcessInstanceRequest(bpmnProcessId="order-process", version=-1, variables='{"orderId": 42}',
                                           tenantId=tenant)


def activate_request(job_type: str) -> pb.ActivateJobsRequest:
    return pb.ActivateJobsRequest(type=job_type, worker="soak-worker", timeout=30_000, maxJobsToActivate=1)


class Plan:
    """What the next call is, and the status it must get. Shared by the workers; the main
    thread swaps `tokens` and rotates the issuer's keys."""

    def __init__(self, issuer: RotatingIssuer, weights: dict[str, int]):
        self.issuer = issuer
        # Never listed: tokens it signs have an unknown kid or a bad signature.
        self.stray_key = RealmKey(kid="stray")
        self.rotated_at = time.monotonic()
        self.tokens = self.mint_tokens()
        self.requests = {
            (HELD, False): create_request(HELD),
            (OTHER, False): create_request(OTHER),
            (HELD, True): compressible_request(HELD),
            (OTHER, True): compressible_request(OTHER),
            "payment": activate_request("payment"),
            "shipping": activate_request("shipping"),
            "topology": pb.TopologyRequest(),
        }
        self.classes = list(weights)
        self.weights = list(weights.values())

    def mint_tokens(self) -> Tokens:
        key = self.issuer.signing_key
        return Tokens(
            kid=key.kid,
            hot=self.issuer.mint(["write:*"], key=key),
            tenant=self.issuer.mint(["tenant:write"], key=key, tenants=[HELD]),
            worker=self.issuer.mint(["worker:payment"], key=key),
            minted_at=time.monotonic(),
        )

    def next_call(self, rng: random.Random) -> Call:
        cls = rng.choices(self.classes, self.weights)[0]
        t = self.tokens
        if cls == "hot":
            return Call(cls, "topology", "Topology", self.requests["topology"], t.hot, OK, t.kid)
        if cls == "distinct":
            listed = self.issuer.listed()
            # A quarter signed with the previous key, still listed (tokens minted just before
            # a rotation stay valid); the rest with the active one.
            key = listed[-2] if len(listed) > 1 and rng.random() < 0.25 else listed[-1]
            label = "previous-key" if key is not listed[-1] else "active-key"
            token = self.issuer.mint(["write:*"], key=key)
            return Call(cls, label, "Topology", self.requests["topology"], token, OK, key.kid)
        if cls == "invalid":
            label = rng.choice(["garbage", "bad-signature", "expired", "alg-none"])
            key = self.issuer.signing_key
            if label == "garbage":
                token = "".join(rng.choice("abcdefghijklmnopqrstuvwxyz0123456789-_") for _ in range(40))
            elif label == "bad-signature":
                token = self.issuer.mint(["write:*"], key=self.stray_key, kid=key.kid)
            elif label == "expired":
                now = int(time.time())
                token = self.issuer.mint(["write:*"], key=key, lifetime=-600, iat=now - 900)
            else:
                token = self.issuer.mint_unsigned(["write:*"])
            return Call(cls, label, "Topology", self.requests["topology"], token, UNAUTHENTICATED, key.kid)
        if cls == "unknown_kid":
            kid = f"unknown-{uuid.uuid4().hex[:12]}"
            token = self.issuer.mint(["write:*"], key=self.stray_key, kid=kid)
            return Call(cls, "random-kid", "Topology", self.requests["topology"], token, UNAUTHENTICATED, kid)
        compression = GZIP if rng.random() < 0.25 else None
        suffix = "/gzip" if compression else ""
        if cls == "tenant":
            tenant = HELD if rng.random() < 0.5 else OTHER
            return Call(cls, tenant + suffix, "CreateProcessInstance", self.requests[(tenant, compression is not None)],
                        t.tenant, OK if tenant == HELD else PERMISSION_DENIED, t.kid, compression)
        job_type = "payment" if rng.random() < 0.5 else "shipping"
        return Call(cls, job_type + suffix, "ActivateJobs", self.requests[job_type], t.worker,
                    OK if job_type == "payment" else PERMISSION_DENIED, t.kid, compression)


def judge(call: Call, outcome: Outcome, elapsed: float) -> str | None:
    """None when the outcome is the one expected of the call's class, else why not.

    - The status must be the expected one (OK / UNAUTHENTICATED / PERMISSION_DENIED).
    - A refusal must come from zeebe-authz (its message starts `zeebe-authz:`), not Envoy.
    - Only for an unknown kid is UNAVAILABLE accepted, and only when the call took Envoy's
      ext_authz deadline: the authorizer was fetching the JWKS when Envoy gave up. It is
      counted apart ("UNAVAILABLE@deadline").
    """
    if outcome.code == call.expected:
        if outcome.code != OK and not outcome.details.startswith("zeebe-authz:"):
            return "refused, but not by zeebe-authz"
        return None
    if call.cls == "unknown_kid" and outcome.code == UNAVAILABLE and elapsed >= AUTHZ_DEADLINE - DEADLINE_SLACK:
        return None
    return f"expected {call.expected.name}"


class Latency:
    """Call latencies in buckets of 2^(1/8) (≈ 9 %) from 1 µs: bounded memory for any run."""

    PER_OCTAVE, BUCKETS = 8, 256

    def __init__(self) -> None:
        self.counts = [0] * self.BUCKETS
        self.max = 0.0

    def add(self, seconds: float) -> None:
        us = max(seconds * 1e6, 1.0)
        self.counts[min(int(math.log2(us) * self.PER_OCTAVE), self.BUCKETS - 1)] += 1
        self.max = max(self.max, seconds)

    def quantile(self, q: float) -> float:
        """The upper bound of the bucket holding quantile q, in seconds (0 when empty)."""
        total = sum(self.counts)
        if not total:
            return 0.0
        cum = 0
        for i, c in enumerate(self.counts):
            cum += c
            if cum >= q * total:
                return min(2 ** ((i + 1) / self.PER_OCTAVE) / 1e6, self.max)
        return self.max


@dataclass
class ErrorRecord:
    t: float
    since_rotation: float
    cls: str
    label: str
    rpc: str
    kid: str
    expected: str
    got: str
    details: str
    elapsed_ms: float
    why: str

    def line(self) -> str:
        return (f"t={self.t:.1f}s ({self.since_rotation:.1f}s after the last rotation) {self.cls}/{self.label} "
                f"{self.rpc} kid={self.kid}: {self.why}, got {self.got} {self.details!r} in {self.elapsed_ms:.0f} ms")


class Stats:
    """Counters shared by the workers (one lock: a few thousand calls per second)."""

    def __init__(self, started: float) -> None:
        self.started = started
        self.lock = threading.Lock()
        self.calls: Counter[str] = Counter()
        self.errors: Counter[str] = Counter()
        self.statuses: Counter[tuple[str, str]] = Counter()
        self.ok_by_rpc: Counter[str] = Counter()
        self.latency = {cls: Latency() for cls in CLASSES}
        self.first_errors: list[ErrorRecord] = []
        self.printed = 0
        # The earliest and latest an error came after a rotation (or the start), in seconds.
        self.error_window: tuple[float, float] | None = None

    def record(self, call: Call, outcome: Outcome, elapsed: float, since_rotation: float) -> None:
        why = judge(call, outcome, elapsed)
        status = outcome.code.name
        if outcome.code == UNAVAILABLE and why is None:
            status = "UNAVAILABLE@deadline"
        with self.lock:
            self.calls[call.cls] += 1
            self.statuses[(call.cls, status)] += 1
            self.latency[call.cls].add(elapsed)
            if outcome.code == OK:
                self.ok_by_rpc[call.rpc] += 1
            if why is None:
                return
            self.errors[call.cls] += 1
            lo, hi = self.error_window or (since_rotation, since_rotation)
            self.error_window = (min(lo, since_rotation), max(hi, since_rotation))
            if len(self.first_errors) >= ERRORS_KEPT:
                return
            err = ErrorRecord(time.monotonic() - self.started, since_rotation, call.cls, call.label, call.rpc,
                              call.kid, call.expected.name, outcome.code.name, outcome.details[:200],
                              elapsed * 1000, why)
            self.first_errors.append(err)

    def unprinted_errors(self) -> list[ErrorRecord]:
        """The first errors not printed yet (the main thread prints them with its samples, so
        lines do not interleave, and a Ctrl-C that stops Envoy first does not print its fallout)."""
        with self.lock:
            new = self.first_errors[self.printed:ERRORS_PRINTED]
            self.printed += len(new)
            return new

    def counts(self) -> tuple[Counter[str], Counter[str]]:
        with self.lock:
            return Counter(self.calls), Counter(self.errors)


def work(index: int, address: str, plan: Plan, stats: Stats, stop: threading.Event, seed: int) -> None:
    rng = random.Random(seed * 1000 + index)
    with grpc.insecure_channel(address, options=[("grpc.enable_http_proxy", 0)]) as channel:
        stub = gateway_pb2_grpc.GatewayStub(channel)
        methods = {rpc: getattr(stub, rpc) for rpc in ("Topology", "CreateProcessInstance", "ActivateJobs")}
        while not stop.is_set():
            call = plan.next_call(rng)
            started = time.perf_counter()
            outcome = invoke(methods[call.rpc], call.request, metadata=bearer(call.token), compression=call.compression)
            elapsed = time.perf_counter() - started
            stats.record(call, outcome, elapsed, time.monotonic() - plan.rotated_at)


# ---------------------------------------------------------------------------------------------
# Process figures from /proc


CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


@dataclass
class ProcSample:
    rss_kib: int
    fds: int
    threads: int
    cpu_s: float


def sample_process(pid: int) -> ProcSample:
    status = Path(f"/proc/{pid}/status").read_text()
    rss = int(re.search(r"^VmRSS:\s+(\d+) kB", status, re.M).group(1))
    threads = int(re.search(r"^Threads:\s+(\d+)", status, re.M).group(1))
    fds = len(os.listdir(f"/proc/{pid}/fd"))
    # Fields after the command name (which may hold spaces): utime and stime are 14 and 15.
    rest = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    cpu = (int(rest[11]) + int(rest[12])) / CLOCK_TICKS
    return ProcSample(rss, fds, threads, cpu)


@dataclass
class Sample:
    t: float
    calls: dict[str, int]
    errors: dict[str, int]
    procs: dict[str, ProcSample]
    keys: list[str] = field(default_factory=list)


def slope_per_s(xs: list[float], ys: list[float]) -> float:
    """Least-squares slope of ys over xs."""
    mx, my = statistics.fmean(xs), statistics.fmean(ys)
    sxx = sum((x - mx) ** 2 for x in xs)
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / sxx if sxx else 0.0


@dataclass
class Trend:
    name: str
    rss_start_kib: int
    rss_median_kib: float
    rss_end_kib: int
    rss_slope_kib_per_min: float
    rss_projected_mib: float
    fds_warmup_max: int
    fds_end: int
    fds_max: int
    threads_end: int
    cpu_s: float
    failures: list[str]


def trend(name: str, samples: list[Sample], warmup: float, run_s: float, baseline: ProcSample) -> Trend:
    """The leak rules (see scripts/soak): on the samples after the warm-up, the least-squares
    RSS slope projected over the whole run must not exceed both RSS_GROWTH_FRACTION of the
    post-warm-up median and RSS_GROWTH_MIB; the final fd count must not exceed the warm-up's
    highest (the first post-warm-up sample included) by more than FD_SLACK."""
    after = [s for s in samples if s.t >= warmup]
    before = [s for s in samples if s.t < warmup] + after[:1]
    failures = []
    if len(after) < MIN_TREND_SAMPLES:
        failures.append(f"{name}: only {len(after)} samples after the warm-up ({warmup:.0f}s); "
                        f"need {MIN_TREND_SAMPLES} to judge a trend (run longer)")
    rss = [s.procs[name].rss_kib for s in after] or [baseline.rss_kib]
    slope = slope_per_s([s.t for s in after], rss) if len(after) >= 2 else 0.0
    median = statistics.median(rss)
    projected_kib = slope * run_s
    if projected_kib > RSS_GROWTH_FRACTION * median and projected_kib > RSS_GROWTH_MIB * 1024:
        failures.append(f"{name}: RSS rising {slope * 60:.0f} KiB/min after the warm-up, "
                        f"{projected_kib / 1024:.1f} MiB over the run (> {RSS_GROWTH_FRACTION:.0%} of the median "
                        f"{median / 1024:.1f} MiB and > {RSS_GROWTH_MIB:.0f} MiB)")
    fds_warm = max(s.procs[name].fds for s in before) if before else baseline.fds
    last = samples[-1].procs[name] if samples else baseline
    if last.fds > fds_warm + FD_SLACK:
        failures.append(f"{name}: {last.fds} open fds at the end, warm-up max {fds_warm} (+{FD_SLACK} allowed)")
    return Trend(name, (samples[0].procs[name] if samples else baseline).rss_kib, median, last.rss_kib, slope * 60,
                 projected_kib / 1024, fds_warm, last.fds, max((s.procs[name].fds for s in samples), default=0),
                 last.threads, last.cpu_s - baseline.cpu_s, failures)


# ---------------------------------------------------------------------------------------------
# The run


def metric_lines(admin_addr: str, prefix: str) -> list[str]:
    try:
        with urllib.request.urlopen(f"http://{admin_addr}/metrics", timeout=5) as r:
            return [l for l in r.read().decode().splitlines() if l.startswith(prefix)]
    except OSError as err:
        return [f"# /metrics unavailable: {err}"]


def git_describe() -> str:
    try:
        sha = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True,
                             check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=ROOT,
                               capture_output=True, text=True).stdout.strip()
        return sha + ("+dirty" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def preflight(address: str, plan: Plan) -> list[str]:
    """One call of each kind before the clock starts: a broken setup fails in seconds."""
    rng = random.Random(0)
    seen: dict[tuple[str, str], str | None] = {}
    with grpc.insecure_channel(address, options=[("grpc.enable_http_proxy", 0)]) as channel:
        stub = gateway_pb2_grpc.GatewayStub(channel)
        for _ in range(2000):
            call = plan.next_call(rng)
            if (call.cls, call.label) in seen:
                continue
            started = time.perf_counter()
            outcome = invoke(getattr(stub, call.rpc), call.request, metadata=bearer(call.token),
                             compression=call.compression)
            why = judge(call, outcome, time.perf_counter() - started)
            seen[(call.cls, call.label)] = None if why is None else f"{call.cls}/{call.label}: {why}, got {outcome}"
    return [why for why in seen.values() if why]


def fetch_results(metric_lines: list[str]) -> str:
    """`ok 4, cooldown 12` from the zeebe_authz_jwks_fetches_total lines (summed over causes)."""
    results: Counter[str] = Counter()
    for line in metric_lines:
        m = re.search(r'result="([^"]+)"\}\s+(\d+)', line)
        if m:
            results[m.group(1)] += int(m.group(2))
    return ", ".join(f"{r} {n}" for r, n in results.items())


def fmt_mib(kib: float) -> str:
    return f"{kib / 1024:.1f} MiB"


def render(report: dict[str, Any], stats: Stats, trends: list[Trend], failures: list[str]) -> str:
    calls, errors = stats.counts()
    total = sum(calls.values())
    run_s = report["run_seconds"]
    statuses = ["OK", "UNAUTHENTICATED", "PERMISSION_DENIED", "UNAVAILABLE@deadline"]
    others = sorted({s for (_, s) in stats.statuses} - set(statuses))
    lines = [
        f"### Soak: {run_s / 60:.1f} min, mixed load through Envoy ({report['version']}, {report['git']})",
        "",
        f"{report['threads']} client threads through one Envoy {report['envoy_version']} (`--concurrency 1`); "
        f"a signing key rotation every {report['rotate_seconds']:.0f} s (rotations: {report['rotations']}, "
        f"old keys dropped: {report['drops']}); token cache bound {CACHE_MAX_BYTES} bytes; "
        f"class shares {report['weights']}; "
        f"{total:,} calls ({total / run_s:,.0f}/s), {sum(errors.values())} errors; "
        f"JWKS fetches served by the issuer: {report['jwks_fetches']}; the authorizer's by result: "
        f"{fetch_results(report['authz_jwks_metrics']) or 'not reported'}."
        + (f" The errors came {stats.error_window[0]:.1f}–{stats.error_window[1]:.1f} s after the latest "
           "rotation (or the start)." if stats.error_window else ""),
        "",
        "| class | calls | " + " | ".join(statuses + others) + " | errors | p50 | p99 | max |",
        "|---|---:|" + "---:|" * (len(statuses) + len(others)) + "---:|---:|---:|---:|",
    ]
    for cls in CLASSES:
        lat = stats.latency[cls]
        cells = [f"{stats.statuses.get((cls, s), 0):,}" for s in statuses + others]
        lines.append(f"| {cls} | {calls[cls]:,} | " + " | ".join(cells)
                     + f" | {errors[cls]:,} | {lat.quantile(0.5) * 1e3:.2f} ms | {lat.quantile(0.99) * 1e3:.2f} ms"
                     f" | {lat.max * 1e3:.0f} ms |")
    lines += [
        "",
        "| process | RSS first sample | RSS median after warm-up | RSS end | RSS slope after warm-up | fds (warm-up max → end, max) | threads | CPU per call |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for tr in trends:
        lines.append(
            f"| {tr.name} | {fmt_mib(tr.rss_start_kib)} | {fmt_mib(tr.rss_median_kib)} | {fmt_mib(tr.rss_end_kib)} | "
            f"{tr.rss_slope_kib_per_min:+.0f} KiB/min ({tr.rss_projected_mib:+.1f} MiB over the run) | "
            f"{tr.fds_warmup_max} → {tr.fds_end}, {tr.fds_max} | {tr.threads_end} | "
            f"{tr.cpu_s / max(total, 1) * 1e6:.0f} µs |")
    lines.append("")
    lines.append(f"Warm-up: first {report['warmup_seconds']:.0f} s. Verdict: "
                 + ("**pass**" if not failures else "**FAIL**: " + "; ".join(failures)))
    return "\n".join(lines)


class IdleAttacker:
    """Holds `count` connections to `address` open and idle: half send nothing, half send the
    HTTP/2 preface and SETTINGS and never a request. Each one the server closes is re-opened at
    once (counted): the authorizer must keep its descriptors, memory and CPU flat regardless."""

    def __init__(self, address: str, count: int) -> None:
        host, _, port = address.rpartition(":")
        self.target = (host, int(port))
        self.count = count
        self.closed_by_server = 0
        self.connect_failures = 0
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, name="idle-attacker", daemon=True)

    def _open(self, sel: selectors.BaseSelector, slow: bool) -> None:
        sock = socket.socket()
        sock.settimeout(2.0)
        try:
            sock.connect(self.target)
            if slow:
                sock.sendall(H2_PREFACE)
        except OSError:
            self.connect_failures += 1
            sock.close()
            return
        sock.setblocking(False)
        sel.register(sock, selectors.EVENT_READ, slow)

    def _run(self) -> None:
        sel = selectors.DefaultSelector()
        try:
            for i in range(self.count):
                if self.stop.is_set():
                    return
                self._open(sel, slow=i % 2 == 1)
            while not self.stop.is_set():
                for key, _ in sel.select(timeout=0.5):
                    sock = key.fileobj
                    try:
                        data = sock.recv(65536)
                    except BlockingIOError:
                        continue
                    except OSError:
                        data = b""
                    if data:
                        continue  # the server's SETTINGS and the like
                    sel.unregister(sock)
                    sock.close()
                    self.closed_by_server += 1
                    if not self.stop.is_set():
                        self._open(sel, slow=key.data)
                missing = self.count - len(sel.get_map())
                for i in range(missing):
                    if self.stop.is_set():
                        break
                    self._open(sel, slow=i % 2 == 1)
                if missing:
                    self.stop.wait(0.2)
        finally:
            for key in list(sel.get_map().values()):
                key.fileobj.close()
            sel.close()

    def start(self) -> "IdleAttacker":
        self.thread.start()
        return self

    def close(self) -> None:
        self.stop.set()
        self.thread.join(timeout=5)


def load_bench_script() -> Any:
    """scripts/bench as a module: its Envoy bootstrap (direct response behind ext_authz)."""
    loader = importlib.machinery.SourceFileLoader("zeebe_authz_bench", str(ROOT / "scripts" / "bench"))
    spec = importlib.util.spec_from_loader(loader.name, loader)
    module = importlib.util.module_from_spec(spec)
    loader.exec_module(module)
    return module


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("minutes", type=float, nargs="?", default=10.0, help="length of the load (default 10)")
    parser.add_argument("--binary", type=Path, help="zeebe-authz to soak (default: $ZEEBE_AUTHZ_BIN)")
    parser.add_argument("--volume", choices=("max", "rate", "none"), default="max",
                        help="volume load through Envoy with `bench load`: as fast as it goes (max, the default; "
                             "issue 21's bar is 5,000 calls/s), at --rate (an open loop), or none")
    parser.add_argument("--rate", type=int, default=5000, help="calls/s of --volume rate (default 5000)")
    parser.add_argument("--idle-connections", type=int, default=400,
                        help="idle attacker connections held to the Check port (default 400; 0: none)")
    opts = parser.parse_args()
    if opts.binary:
        os.environ["ZEEBE_AUTHZ_BIN"] = str(opts.binary.resolve())
    binary = Path(os.environ.get("ZEEBE_AUTHZ_BIN", ROOT / "target" / "release" / "zeebe-authz"))
    os.environ["ZEEBE_AUTHZ_BIN"] = str(binary)
    run_s = opts.minutes * 60
    rotate_s = env_float("SOAK_ROTATE_SECONDS", 60.0)
    sample_s = env_float("SOAK_SAMPLE_SECONDS", 10.0)
    threads = int(env_float("SOAK_THREADS", 6))
    seed = int(env_float("SOAK_SEED", 1))
    warmup = min(WARMUP_FRACTION * run_s, WARMUP_MAX)
    weights = dict(WEIGHTS)
    for item in filter(None, os.environ.get("SOAK_WEIGHTS", "").split(",")):
        cls, _, share = item.partition("=")
        if cls not in weights or not share.isdigit():
            print(f"error: SOAK_WEIGHTS: {item!r} is not CLASS=N with CLASS one of {', '.join(WEIGHTS)}",
                  file=sys.stderr)
            return 64
        weights[cls] = int(share)
    if not sum(weights.values()):
        print("error: SOAK_WEIGHTS leaves no class to call", file=sys.stderr)
        return 64
    if run_s <= 0 or rotate_s <= 0 or sample_s <= 0 or threads <= 0:
        print("error: minutes, SOAK_ROTATE_SECONDS, SOAK_SAMPLE_SECONDS and SOAK_THREADS must be positive",
              file=sys.stderr)
        return 64

    OUT.mkdir(parents=True, exist_ok=True)
    # Denies are logged at info, one line per call: keep the authorizer's log to what matters.
    os.environ["RUST_LOG"] = os.environ.get("SOAK_RUST_LOG", "info,zeebe_authz::authorizer=warn")

    # SIGTERM and SIGHUP end the run like Ctrl-C: through the `finally` that stops everything.
    def interrupt(signum: int, _frame: Any) -> None:
        raise KeyboardInterrupt(signal.Signals(signum).name)

    signal.signal(signal.SIGTERM, interrupt)
    signal.signal(signal.SIGHUP, interrupt)

    stop = threading.Event()
    workers: list[threading.Thread] = []
    samples: list[Sample] = []
    interrupted = False
    with ExitStack() as stack:
        try:
            issuer = RotatingIssuer().start()
            stack.callback(issuer.stop)
            gateway = CountingGateway().start()
            stack.callback(gateway.stop)
            # The JWKS timing a deployment has: the product's defaults (refetch_cooldown 1 s,
            # fetch_timeout 1 s).
            config = config_yaml(issuer.url, policy=DEV_POLICY, tenants_claim="tenants")
            config += f"token:\n  cache_max_bytes: {CACHE_MAX_BYTES}\n"
            authz = stack.enter_context(running(SoakAuthz(OUT, config, name="zeebe-authz"),
                                                lambda p: p.start().wait_ready()))
            envoy = stack.enter_context(running(Envoy(OUT, gateway.address, authz.check_addr, name="envoy")))
            # Stop the load before the servers go (ExitStack unwinds in reverse).
            stack.callback(lambda: [w.join(timeout=CALL_TIMEOUT + 1) for w in workers])
            stack.callback(stop.set)
            pids = {"zeebe-authz": authz.proc.pid, "envoy": envoy.proc.pid}
            version = subprocess.run([binary, "--version"], capture_output=True, text=True).stdout.strip()
            envoy_version = subprocess.run([str(Path(envoy.proc.args[0])), "--version"], capture_output=True,
                                           text=True).stdout
            m = re.search(r"/(\d+\.\d+\.\d+)/", envoy_version)
            envoy_version = m.group(1) if m else "?"
            say(f"{version} (pid {pids['zeebe-authz']}, check {authz.check_addr}), Envoy {envoy_version} "
                f"(pid {pids['envoy']}, {envoy.address}), issuer {issuer.url}, gateway {gateway.address}")

            plan = Plan(issuer, weights)
            broken = preflight(envoy.address, plan)
            if broken:
                print("error: the setup does not answer as expected (before the soak started):", file=sys.stderr)
                for why in broken:
                    print(f"  {why}", file=sys.stderr)
                return 1

            volume = None
            if opts.volume != "none":
                bench = load_bench_script()
                envoy_bin = bench.find_envoy()
                bootstrap = {
                    "admin": {"address": bench.socket_address("127.0.0.1:0")},
                    "static_resources": {
                        "listeners": [bench.envoy_listener("volume", [bench.ext_authz_filter("zeebe_authz")])],
                        "clusters": [bench.h2_cluster("zeebe_authz", authz.check_addr)],
                    },
                }
                bench.OUT.mkdir(parents=True, exist_ok=True)
                volume_envoy, volume_addrs = bench.start_envoy(envoy_bin, bootstrap, workers=2)
                stack.callback(volume_envoy.stop)
                pids["envoy-volume"] = volume_envoy.proc.pid
                key_pem = OUT / "bench-key.pem"
                from cryptography.hazmat.primitives import serialization
                key_pem.write_bytes(issuer.bench_key.private_key.private_bytes(
                    serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
                volume_argv = [str(binary), "bench", "load", "--json", "--gateway", volume_addrs["volume"],
                               "--key", str(key_pem), "--key-id", BENCH_KID, "--issuer", issuer.url,
                               "--rpc", "mixed", "--permissions", "write:*", "--token-tenants", HELD,
                               "--tenant", HELD, "--concurrency", "128", "--connections", "4",
                               # Ends a little before the run, so its report is in before the judging.
                               "--duration", f"{max(run_s - 15, 5):.0f}s", "--warmup", "0s"]
                if opts.volume == "rate":
                    # An open loop sends what fell behind too: bounded by count, not only time.
                    volume_argv += ["--rate", str(opts.rate), "--requests", str(int(opts.rate * max(run_s - 15, 5)))]
            attacker = None
            say(f"soak: {opts.minutes:g} min, {threads} threads, rotation every {rotate_s:g}s, "
                f"a sample every {sample_s:g}s, warm-up {warmup:.0f}s; output in {OUT.relative_to(ROOT)}/")
            baseline = {name: sample_process(pid) for name, pid in pids.items()}
            started = time.monotonic()
            stats = Stats(started)
            jwks_before = issuer.jwks_fetches()
            reached_before = gateway.reached_counts()  # the preflight's calls
            plan.rotated_at = started
            for i in range(threads):
                w = threading.Thread(target=work, args=(i, envoy.address, plan, stats, stop, seed),
                                     name=f"soak-{i}", daemon=True)
                w.start()
                workers.append(w)
            if opts.volume != "none":
                volume_out = open(OUT / "bench-load.json", "w")
                stack.callback(volume_out.close)
                volume = subprocess.Popen(volume_argv, stdout=volume_out, stderr=open(OUT / "bench-load.err", "w"),
                                          env={**os.environ, "RUST_LOG": "warn"})
                stack.callback(lambda: volume.poll() is None and (volume.terminate(), volume.wait(timeout=10)))
                say(f"volume load ({opts.volume}): mixed rpcs through Envoy {volume_addrs['volume']} (bench load)")
            if opts.idle_connections > 0:
                attacker = IdleAttacker(authz.check_addr, opts.idle_connections).start()
                stack.callback(attacker.close)
                say(f"attacker: {opts.idle_connections} idle connections held to {authz.check_addr}")

            end = started + run_s
            next_sample = started + sample_s
            next_rotation = started + rotate_s
            next_drop = math.inf
            rotations = drops = 0
            prev_calls: Counter[str] = Counter()
            prev_errors: Counter[str] = Counter()
            prev_cpu = {name: s.cpu_s for name, s in baseline.items()}
            prev_t = 0.0
            print(f"{'t':>6} {'calls/s':>8} {'errors':>6} | {'authz RSS':>10} {'fds':>4} {'thr':>3} {'cpu':>5}"
                  f" | {'envoy RSS':>10} {'fds':>4} {'cpu':>5} | keys", flush=True)
            while True:
                now = time.monotonic()
                if now >= end:
                    break
                if now >= next_rotation:
                    key = issuer.rotate()
                    plan.rotated_at = time.monotonic()
                    plan.tokens = plan.mint_tokens()
                    rotations += 1
                    next_rotation += rotate_s
                    if len(issuer.listed()) > 2:
                        next_drop = plan.rotated_at + rotate_s / 2
                    print(f"  rotation {rotations}: signing with {key.kid}", flush=True)
                elif now >= next_drop:
                    dropped = issuer.drop_oldest()
                    drops += 1
                    next_drop = math.inf
                    print(f"  dropped {dropped.kid} from the JWKS", flush=True)
                elif now - plan.tokens.minted_at >= TOKEN_REFRESH:
                    plan.tokens = plan.mint_tokens()
                if now >= next_sample:
                    for err in stats.unprinted_errors():
                        print(f"  ERROR {err.line()}", flush=True)
                    t = now - started
                    for name, proc in (("zeebe-authz", authz.proc), ("envoy", envoy.proc)):
                        if proc.poll() is not None:
                            raise RuntimeError(f"{name} exited with {proc.returncode} during the soak")
                    procs = {name: sample_process(pid) for name, pid in pids.items()}
                    calls, errors = stats.counts()
                    sample = Sample(t, dict(calls - prev_calls), dict(errors - prev_errors), procs,
                                    [k.kid for k in issuer.listed()])
                    samples.append(sample)
                    dt = t - prev_t
                    a, e = procs["zeebe-authz"], procs["envoy"]
                    print(f"{t:5.0f}s {sum((calls - prev_calls).values()) / dt:8,.0f} "
                          f"{sum((errors - prev_errors).values()):6} | {fmt_mib(a.rss_kib):>10} {a.fds:4} "
                          f"{a.threads:3} {(a.cpu_s - prev_cpu['zeebe-authz']) / dt:5.0%} | "
                          f"{fmt_mib(e.rss_kib):>10} {e.fds:4} {(e.cpu_s - prev_cpu['envoy']) / dt:5.0%} | "
                          f"{len(sample.keys)}", flush=True)
                    prev_calls, prev_errors, prev_t = calls, errors, t
                    prev_cpu = {name: s.cpu_s for name, s in procs.items()}
                    next_sample += sample_s
                wake = min(end, next_sample, next_rotation, next_drop, plan.tokens.minted_at + TOKEN_REFRESH)
                stop.wait(max(0.0, wake - time.monotonic()))

            stop.set()
            for w in workers:
                w.join(timeout=CALL_TIMEOUT + 1)
            stuck = [w.name for w in workers if w.is_alive()]
            volume_report: dict[str, Any] = {}
            if volume is not None:
                try:
                    volume.wait(timeout=120)
                    volume_report = json.loads((OUT / "bench-load.json").read_text() or "{}")
                except (subprocess.TimeoutExpired, ValueError) as e:
                    volume_report = {"error": str(e)}
            attack = ({"held": attacker.count, "closed_by_server": attacker.closed_by_server,
                       "connect_failures": attacker.connect_failures} if attacker else {})
            connections_metric = metric_lines(authz.admin_addr, "zeebe_authz_check_connections")
            elapsed = time.monotonic() - started
            final = {name: sample_process(pid) for name, pid in pids.items()}
            calls, _ = stats.counts()
            reached = gateway.reached_counts() - reached_before
            jwks_metrics = metric_lines(authz.admin_addr, "zeebe_authz_jwks_fetch")
            levels = dict(authz.levels)
        except KeyboardInterrupt as why:
            interrupted = True
            say(f"interrupted ({str(why) or 'SIGINT'}): stopping everything")
        finally:
            stop.set()
    if interrupted:
        return 130

    failures: list[str] = []
    if stuck:
        failures.append(f"client threads still running after the load stopped: {stuck}")
    _, errors = stats.counts()
    if sum(errors.values()):
        failures.append(f"{sum(errors.values())} calls got a status other than their class's")
    # Every allowed call reached the gateway, and no refused one did.
    mismatch = {rpc: (stats.ok_by_rpc[rpc], reached[rpc]) for rpc in set(reached) | set(stats.ok_by_rpc)
                if stats.ok_by_rpc[rpc] != reached[rpc]}
    if mismatch:
        failures.append(f"calls that reached the gateway differ from the allowed ones (allowed, reached): {mismatch}")
    if sum(calls.values()) == 0:
        failures.append("no call was made")
    if opts.volume != "none":
        if not volume_report or "error" in volume_report:
            failures.append(f"the volume load gave no report: {volume_report}")
        elif set(map(str, volume_report.get("decisions", {}))) - {"OK"} or volume_report.get("errors"):
            failures.append(f"the volume load saw denies or errors: {volume_report.get('decisions')} "
                            f"{volume_report.get('errors')}")
    trends = [trend(name, samples, warmup, elapsed, baseline[name]) for name in pids]
    # Only the authorizer is judged; Envoy's figures are reported for comparison.
    failures += trends[0].failures
    report = {
        "version": version,
        "git": git_describe(),
        "envoy_version": envoy_version,
        "run_seconds": elapsed,
        "warmup_seconds": warmup,
        "rotate_seconds": rotate_s,
        "sample_seconds": sample_s,
        "threads": threads,
        "weights": ", ".join(f"{c} {w}" for c, w in weights.items()),
        "rotations": rotations,
        "drops": drops,
        "jwks_fetches": issuer.jwks_fetches() - jwks_before,
        "authz_jwks_metrics": jwks_metrics,
        "authz_log_levels": levels,
        "calls": dict(calls),
        "errors": dict(errors),
        "statuses": {f"{c}/{s}": n for (c, s), n in sorted(stats.statuses.items())},
        "reached_gateway": dict(reached),
        "first_errors": [vars(e) for e in stats.first_errors],
        "error_seconds_after_rotation": stats.error_window,
        "baseline": {name: vars(s) for name, s in baseline.items()},
        "final": {name: vars(s) for name, s in final.items()},
        "samples": [{"t": s.t, "calls": s.calls, "errors": s.errors, "keys": s.keys,
                     "procs": {n: vars(p) for n, p in s.procs.items()}} for s in samples],
        "trends": [vars(t) for t in trends],
        "failures": failures,
        "volume_load": {k: volume_report.get(k) for k in ("throughput", "requests", "decisions", "errors",
                                                          "latency_us", "elapsed_secs", "late")
                        if k in volume_report} or volume_report,
        "attacker": attack,
        "check_connections_at_end": connections_metric,
    }
    (OUT / "report.json").write_text(json.dumps(report, indent=2))
    with open(OUT / "samples.csv", "w", newline="") as f:
        out = csv.writer(f)
        names = list(pids)
        out.writerow(["t_s"] + [f"{n}_{k}" for n in names for k in ("rss_kib", "fds", "threads", "cpu_s")]
                     + [f"calls_{c}" for c in CLASSES] + [f"errors_{c}" for c in CLASSES] + ["keys_listed"])
        for s in samples:
            out.writerow([f"{s.t:.1f}"]
                         + [v for n in names for v in (s.procs[n].rss_kib, s.procs[n].fds, s.procs[n].threads,
                                                       f"{s.procs[n].cpu_s:.2f}")]
                         + [s.calls.get(c, 0) for c in CLASSES] + [s.errors.get(c, 0) for c in CLASSES]
                         + [len(s.keys)])
    summary = render(report, stats, trends, failures)
    (OUT / "summary.md").write_text(summary + "\n")
    print()
    if stats.first_errors:
        print(f"First errors ({sum(errors.values())} in all):")
        for err in stats.first_errors[:ERRORS_PRINTED]:
            print(f"  {err.line()}")
        print()
    print(summary)
    if volume_report:
        print(f"Volume load (bench load through Envoy): {json.dumps(report['volume_load'])}")
    if attack:
        print(f"Idle attacker: {json.dumps(attack)}; open Check connections at the end: {connections_metric}")
    say(f"samples: {(OUT / 'samples.csv').relative_to(ROOT)}, report: {(OUT / 'report.json').relative_to(ROOT)}, "
        f"logs: {OUT.relative_to(ROOT)}/zeebe-authz.log, envoy.log")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
