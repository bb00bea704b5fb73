"""Running the authorizer safely in production (issue 10), end to end: Camunda's zeebe-grpc
stubs (or `zeebe-authz bench load`) → Envoy 1.40 with an access log → zeebe-authz → a stub
gateway.

- Every Check has a decision id (Envoy's `x-request-id`), and the CheckResponse's dynamic
  metadata (decision_id, reason, realm, subject, rpc, dry_run) reaches Envoy's access log
  through `%DYNAMIC_METADATA(envoy.filters.http.ext_authz:<key>)%`.
- A `mode: dry-run` realm allows what enforce would deny, and reports it: the access log, the
  `Denied` log line (`dry_run: true`) and `zeebe_authz_decisions_total{mode="dry-run"}`.
- `serve --reload-interval 0s` reloads on SIGHUP only.
- Policies reloaded 20 times under load (10 file rewrites, 10 Kubernetes ConfigMap `..data`
  symlink swaps) fail no Check, and each decision follows a policy that was in force; a broken
  policy mid-run keeps the last good one.

Each test starts its own issuer, stub gateway, authorizer and Envoy, and stops them.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import grpc
from zeebe_grpc import gateway_pb2 as pb
from zeebe_grpc import gateway_pb2_grpc

from support.authz import Authz, find_binary, realms_config_yaml
from support.calls import MESSAGE_PREFIX, Outcome, bearer, decision_id, invoke, reason_of
from support.envoy import Envoy
from support.gateway import StubGateway
from support.issuer import KeycloakIssuer
from support.process import running, stop_process

OK = grpc.StatusCode.OK
PERMISSION_DENIED = grpc.StatusCode.PERMISSION_DENIED

GENERATION = "zeebe_authz_config_generation"
RELOADS = "zeebe_authz_config_reloads_total"
DECISIONS = "zeebe_authz_decisions_total"
CONFIG_INFO = "zeebe_authz_config_info"
LAST_RELOAD = "zeebe_authz_config_last_reload_timestamp_seconds"

# Two policies that answer Topology for a `read:*` token differently.
TOPOLOGY_ALLOWED = """\
# read:* may call Topology (and nothing else).
grants:
  - permission: "read:*"
    rpcs: [Topology]
unknown_rpcs: deny
other_paths: deny
"""
TOPOLOGY_DENIED = """\
# read:* may create process instances, but not call Topology.
grants:
  - permission: "read:*"
    rpcs: [CreateProcessInstance]
unknown_rpcs: deny
other_paths: deny
"""
# What each policy answers a `read:*` token's Topology: the code and the metric reason label.
ANSWERS = {
    TOPOLOGY_ALLOWED: (OK, "allowed"),
    TOPOLOGY_DENIED: (PERMISSION_DENIED, "missing_permission"),
}
# No YAML: the bracket is never closed.
BROKEN_POLICY = """\
grants:
  - permission: "read:*"
    rpcs: [Topology
"""

DECISION_LOGGED = "a decision's access log line"


# -- the stack ----------------------------------------------------------------------------------


@dataclass
class Stack:
    """An issuer, a stub gateway, zeebe-authz and an Envoy (with an access log) in front."""

    issuer: KeycloakIssuer
    gateway: StubGateway
    authz: Authz
    envoy: Envoy
    zeebe: gateway_pb2_grpc.GatewayStub


@contextlib.contextmanager
def issuer_and_gateway() -> Iterator[tuple[KeycloakIssuer, StubGateway]]:
    """A fresh issuer and stub gateway for one test; both stopped at its end."""
    with contextlib.ExitStack() as cleanup:
        issuer = KeycloakIssuer().start()
        cleanup.callback(issuer.stop)
        gateway = StubGateway().start()
        cleanup.callback(gateway.stop)
        yield issuer, gateway


def realm(issuer: KeycloakIssuer, policy: Path, **extra: Any) -> dict[str, Any]:
    """Realm `camunda` of `issuer`, on every host, judged by `policy`."""
    return {
        "name": "camunda",
        "issuer": issuer.url,
        "audiences": ["zeebe-api"],
        "hosts": ["*"],
        "policy": str(policy),
        **extra,
    }


@contextlib.contextmanager
def stack(
    workdir: Path,
    issuer: KeycloakIssuer,
    gateway: StubGateway,
    config: str,
    *,
    extra_args: tuple[str, ...] = (),
    config_path: Path | None = None,
) -> Iterator[Stack]:
    """zeebe-authz on `config` (ready), an Envoy with an access log asking it, a client stub."""
    authz = Authz(workdir / "authz", config, extra_args=extra_args, config_path=config_path)
    with running(authz, lambda p: p.start().wait_ready()):
        proxy = Envoy(workdir / "envoy", gateway.address, authz.check_addr, access_log=True)
        with running(proxy), grpc.insecure_channel(proxy.address) as channel:
            yield Stack(issuer, gateway, authz, proxy, gateway_pb2_grpc.GatewayStub(channel))


def topology(zeebe: gateway_pb2_grpc.GatewayStub, token: str, request_id: str) -> Outcome:
    return invoke(zeebe.Topology, pb.TopologyRequest(), bearer(token, ("x-request-id", request_id)))


def create(zeebe: gateway_pb2_grpc.GatewayStub, token: str, request_id: str) -> Outcome:
    request = pb.CreateProcessInstanceRequest(bpmnProcessId="order-process", version=-1)
    return invoke(zeebe.CreateProcessInstance, request, bearer(token, ("x-request-id", request_id)))


def denied_with_id(outcome: Outcome, request_id: str) -> bool:
    """A deny by the authorizer whose message names `request_id` as its decision."""
    return outcome.details.startswith(MESSAGE_PREFIX) and decision_id(outcome.details) == request_id


def reloaded_events(authz: Authz) -> list[dict[str, Any]]:
    return [e["fields"] for e in authz.events() if e.get("fields", {}).get("message") == "Config reloaded"]


# -- a. decision ids in Envoy's access log --------------------------------------------------------


def test_access_log_of_the_defaults_names_an_allows_caller_and_a_denys_decision(tmp_path: Path) -> None:
    """The defaults (subject header, metadata on denies): an allowed call's access log line has
    the caller from the subject header Envoy forwarded (overwriting the one the client
    smuggled) and the request id (its decision id), and no metadata (Envoy stored none); a
    denied call's line carries the whole decision, while its subject header is the client's."""
    policy = tmp_path / "policy.yaml"
    policy.write_text(TOPOLOGY_ALLOWED)
    with issuer_and_gateway() as (issuer, gateway):
        config = realms_config_yaml([realm(issuer, policy)])
        with stack(tmp_path, issuer, gateway, config) as s:
            claims = issuer.claims(["read:*"])
            token = issuer.mint(claims=claims)
            smuggled = ("x-zeebe-authz-subject", "alice")
            allow = invoke(s.zeebe.Topology, pb.TopologyRequest(), bearer(token, ("x-request-id", "default-allow"), smuggled))
            assert allow.code == OK, allow
            request = pb.CreateProcessInstanceRequest(bpmnProcessId="order-process", version=-1)
            deny = invoke(s.zeebe.CreateProcessInstance, request, bearer(token, ("x-request-id", "default-deny"), smuggled))
            assert deny.code == PERMISSION_DENIED, deny
            allowed = s.envoy.access_log_entry("default-allow")
            assert allowed["identity_subject"] == claims["sub"], allowed
            assert allowed["response_code_details"] == "via_upstream", allowed
            assert [allowed.get(k) for k in ("decision_id", "reason", "subject")] == [None] * 3, allowed
            # A line Envoy answered itself prints the header the client sent: the caller is the
            # metadata's `subject` there (README, "Decision ids").
            denied = s.envoy.access_log_entry("default-deny")
            assert denied["identity_subject"] == "alice", denied
            assert denied["response_code_details"] == "ext_authz_denied", denied
            fields = {"decision_id": "default-deny", "reason": "missing_permission", "subject": claims["sub"]}
            assert {key: denied.get(key) for key in fields} == fields, denied


def test_access_log_line_carries_the_decision(tmp_path: Path) -> None:
    """`dynamic_metadata.send: all`: an allowed and a denied call, each with its own
    `x-request-id`: Envoy's access log line of each carries the authorizer's decision
    (decision_id = the request id, reason, realm, rpc, subject), and the denied client's
    message names the same decision id."""
    policy = tmp_path / "policy.yaml"
    policy.write_text(TOPOLOGY_ALLOWED)
    with issuer_and_gateway() as (issuer, gateway):
        config = realms_config_yaml([realm(issuer, policy)], dynamic_metadata="all")
        with stack(tmp_path, issuer, gateway, config) as s:
            claims = issuer.claims(["read:*"])
            token = issuer.mint(claims=claims)
            allowed = topology(s.zeebe, token, "e2e-allow.1")
            denied = create(s.zeebe, token, "e2e-deny:2")
            assert allowed.code == OK, allowed
            assert denied.code == PERMISSION_DENIED, denied
            assert denied_with_id(denied, "e2e-deny:2"), denied
            assert "CreateProcessInstance" in reason_of(denied.details), denied

            common = {"realm": "camunda", "subject": claims["sub"], "dry_run": None, "response_code": 200}
            expected = {
                "e2e-allow.1": {
                    **common,
                    "decision_id": "e2e-allow.1",
                    "reason": "allowed",
                    "rpc": "Topology",
                    "grpc_status": 0,
                    "path": "/gateway_protocol.Gateway/Topology",
                },
                "e2e-deny:2": {
                    **common,
                    "decision_id": "e2e-deny:2",
                    "reason": "missing_permission",
                    "rpc": "CreateProcessInstance",
                    "grpc_status": 7,
                    "path": "/gateway_protocol.Gateway/CreateProcessInstance",
                },
            }
            for request_id, fields in expected.items():
                entry = s.envoy.access_log_entry(request_id)
                assert {key: entry.get(key) for key in fields} == fields, f"{DECISION_LOGGED}: {entry}"

            # The authorizer's own Denied line names the same decision.
            (line,) = [e["fields"] for e in s.authz.events() if e.get("fields", {}).get("message") == "Denied"]
            assert line["decision_id"] == "e2e-deny:2" and line["dry_run"] is False, line


# -- b. dry-run -----------------------------------------------------------------------------------


def test_dry_run_realm_allows_through_envoy_and_reports(tmp_path: Path) -> None:
    """In a `mode: dry-run` realm a call the policy denies reaches the gateway (OK); the access
    log line says `dry_run: true` and the would-be reason, the authorizer logs a Denied line
    with `dry_run: true`, and `/metrics` counts the would-be deny under `mode="dry-run"`."""
    policy = tmp_path / "policy.yaml"
    policy.write_text(TOPOLOGY_ALLOWED)
    with issuer_and_gateway() as (issuer, gateway):
        config = realms_config_yaml([realm(issuer, policy, mode="dry-run")], dynamic_metadata="all")
        with stack(tmp_path, issuer, gateway, config) as s:
            claims = issuer.claims(["read:*"])
            token = issuer.mint(claims=claims)
            before = len(gateway.calls())
            would_deny = create(s.zeebe, token, "dry-would-deny")
            assert would_deny.code == OK, would_deny
            assert [c.rpc for c in gateway.calls()[before:]] == ["CreateProcessInstance"]
            assert gateway.last_call().values("x-zeebe-authz-subject") == [claims["sub"]]
            allowed = topology(s.zeebe, token, "dry-allowed")
            assert allowed.code == OK, allowed

            entry = s.envoy.access_log_entry("dry-would-deny")
            fields = {
                "decision_id": "dry-would-deny",
                "reason": "missing_permission",
                "dry_run": True,
                "rpc": "CreateProcessInstance",
                "realm": "camunda",
                "subject": claims["sub"],
                "grpc_status": 0,
            }
            assert {key: entry.get(key) for key in fields} == fields, f"{DECISION_LOGGED}: {entry}"
            entry = s.envoy.access_log_entry("dry-allowed")
            assert entry["reason"] == "allowed" and entry["grpc_status"] == 0, entry

            deny_lines = [e["fields"] for e in s.authz.events() if e.get("fields", {}).get("message") == "Denied"]
            assert [(d["decision_id"], d["dry_run"], d["reason"]) for d in deny_lines] == [
                ("dry-would-deny", True, "missing_permission")
            ], deny_lines

            would = {"rpc": "CreateProcessInstance", "result": "deny", "reason": "missing_permission"}
            assert s.authz.metric(DECISIONS, mode="dry-run", **would) == 1
            assert s.authz.metric(DECISIONS, mode="enforce") == 0
            assert s.authz.metric(DECISIONS, mode="dry-run", rpc="Topology", result="allow", reason="allowed") == 1


# -- c. SIGHUP ------------------------------------------------------------------------------------

# With the default 2 s interval a change is seen within one interval and reloaded after it held
# one more: watching 5 s shows `--reload-interval 0s` does not poll.
NO_POLL_WATCH = 5.0


def test_sighup_reloads_a_running_server(tmp_path: Path) -> None:
    """`--reload-interval 0s`: a rewritten policy is not picked up by itself (the old policy
    still decides, generation stays 1); SIGHUP to the pid reloads it at once (generation 2,
    `Config reloaded` logged), and the same token is now judged by the new policy."""
    policy = tmp_path / "policy.yaml"
    policy.write_text(TOPOLOGY_ALLOWED)
    with issuer_and_gateway() as (issuer, gateway):
        config = realms_config_yaml([realm(issuer, policy)])
        with stack(tmp_path, issuer, gateway, config, extra_args=("--reload-interval", "0s")) as s:
            token = issuer.mint(["read:*"])
            first = topology(s.zeebe, token, "hup-0")
            assert first.code == OK, first
            sha_before = [labels["sha256"] for name, labels, _ in s.authz.metrics() if name == CONFIG_INFO]

            policy.write_text(TOPOLOGY_DENIED)
            watched: list[Outcome] = []
            deadline = time.monotonic() + NO_POLL_WATCH
            while time.monotonic() < deadline:  # the watch itself is what is tested: no readiness wait
                watched.append(topology(s.zeebe, token, f"hup-watch-{len(watched)}"))
                time.sleep(0.25)
            assert [o.code for o in watched] == [OK] * len(watched), [str(o) for o in watched]
            assert s.authz.metric(GENERATION) == 1
            assert s.authz.metric(RELOADS) == 0
            assert reloaded_events(s.authz) == []

            signalled = time.time()
            s.authz.sighup()
            s.authz.wait_metric(GENERATION, 2, timeout=5)
            after = topology(s.zeebe, token, "hup-after")
            assert after.code == PERMISSION_DENIED and denied_with_id(after, "hup-after"), after
            assert s.envoy.access_log_entry("hup-after")["reason"] == "missing_permission"

            assert s.authz.metric(RELOADS, result="ok") == 1
            assert s.authz.metric(RELOADS, result="error") == 0
            assert s.authz.metric(LAST_RELOAD) >= int(signalled)
            sha_after = [labels["sha256"] for name, labels, _ in s.authz.metrics() if name == CONFIG_INFO]
            assert len(sha_before) == len(sha_after) == 1 and sha_before != sha_after, (sha_before, sha_after)
            (event,) = reloaded_events(s.authz)
            assert event["generation"] == 2 and sha_after[0].startswith(event["sha256"]), event


# -- d. 20 reloads under load ---------------------------------------------------------------------


class ConfigMapVolume:
    """A directory laid out as the kubelet mounts a ConfigMap: the files live in `..<version>/`,
    `..data` points at the current one, and each file name is a symlink to `..data/<name>`. An
    update writes a new version, points `..data_tmp` at it and renames that over `..data`
    (one atomic rename), then removes the old version."""

    def __init__(self, root: Path, files: dict[str, str]):
        self.root = root
        self.root.mkdir(parents=True)
        self.version = 0
        self._write_version(files)
        (self.root / "..data").symlink_to(self._version_dir().name)
        for name in files:
            (self.root / name).symlink_to(f"..data/{name}")

    def _version_dir(self) -> Path:
        return self.root / f"..v{self.version}"

    def _write_version(self, files: dict[str, str]) -> None:
        self.version += 1
        target = self._version_dir()
        target.mkdir()
        for name, text in files.items():
            (target / name).write_text(text)

    def swap(self, files: dict[str, str]) -> None:
        old = self._version_dir()
        self._write_version(files)
        tmp = self.root / "..data_tmp"
        tmp.symlink_to(self._version_dir().name)
        os.replace(tmp, self.root / "..data")
        shutil.rmtree(old)

    def path(self, name: str) -> Path:
        return self.root / name


RELOAD_INTERVAL = "100ms"
RELOADS_UNDER_LOAD = 20
# The 20 reloads take about 5 s here: the load runs twice that.
BENCH_SECONDS = 10
BENCH_CONCURRENCY = 8
# Requests closer than this to a reload (either side) are not judged against one policy.
MARGIN = 0.02


def bench_load(gateway_addr: str, token: str, log_path: Path) -> subprocess.Popen[str]:
    """The binary's own load generator: Topology calls through Envoy, closed loop."""
    command = [
        str(find_binary()),
        "bench",
        "load",
        "--gateway",
        gateway_addr,
        "--bearer",
        token,
        "--rpc",
        "topology",
        "--json",
        "--duration",
        f"{BENCH_SECONDS}s",
        "--warmup",
        "0s",
        "--concurrency",
        str(BENCH_CONCURRENCY),
    ]
    with open(log_path, "w") as stderr:
        return subprocess.Popen(
            command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=stderr, text=True
        )


def test_reload_under_load_through_envoy_loses_no_check(tmp_path: Path) -> None:
    """`bench load` sends Topology calls through Envoy (one hot token: its cached verification
    must not outlive the policy) while the policy alternates 20 times between one that allows
    Topology for the token and one that does not: 10 file rewrites, then 10 ConfigMap symlink
    swaps, each awaited in `/metrics` and followed by a probe call that must get the new
    policy's answer. Between the two halves a broken policy is written: it is refused, the
    last good one keeps deciding.

    No Check may fail: bench reports no errors and only OK / PERMISSION_DENIED, the access log
    has only 200s with gRPC status 0 or 7, every logged decision is one of the two policies'
    answers, and each request that ran wholly between two reloads (by Envoy's start time and
    duration against the authorizer's `Config reloaded` timestamps) got the answer of the
    policy in force then.
    """
    with issuer_and_gateway() as (issuer, gateway):
        mount = tmp_path / "configmap"
        # Every answer carries the metadata, so every access log line names its decision.
        config = realms_config_yaml([realm(issuer, mount / "policy.yaml")], dynamic_metadata="all")
        volume = ConfigMapVolume(mount, {"config.yaml": config, "policy.yaml": TOPOLOGY_ALLOWED})
        with stack(
            tmp_path,
            issuer,
            gateway,
            config,
            extra_args=("--reload-interval", RELOAD_INTERVAL),
            config_path=volume.path("config.yaml"),
        ) as s:
            token = issuer.mint(["read:*"])
            expected: dict[str, tuple[grpc.StatusCode, str]] = {}
            probes: dict[str, Outcome] = {}

            def probe(request_id: str, policy: str) -> None:
                expected[request_id] = ANSWERS[policy]
                probes[request_id] = topology(s.zeebe, token, request_id)

            probe("probe-0", TOPOLOGY_ALLOWED)
            in_force = {1: TOPOLOGY_ALLOWED}  # generation → its policy
            bench = bench_load(s.envoy.address, token, tmp_path / "bench.stderr")
            try:
                generation = 1
                errors_seen = 0
                for i in range(1, RELOADS_UNDER_LOAD + 1):
                    policy = TOPOLOGY_DENIED if i % 2 else TOPOLOGY_ALLOWED
                    if i <= RELOADS_UNDER_LOAD // 2:
                        volume.path("policy.yaml").write_text(policy)  # in place, through the links
                    else:
                        volume.swap({"policy.yaml": policy, "config.yaml": config})
                    generation += 1
                    in_force[generation] = policy
                    s.authz.wait_metric(GENERATION, generation, timeout=10)
                    probe(f"probe-{i}", policy)

                    if i == RELOADS_UNDER_LOAD // 2:
                        # A broken policy: refused, the last good one (Topology allowed) stays.
                        last_good = policy
                        assert last_good == TOPOLOGY_ALLOWED
                        volume.path("policy.yaml").write_text(BROKEN_POLICY)
                        errors_seen = s.authz.wait_metric(RELOADS, 1, timeout=10, result="error")
                        probe("probe-broken", last_good)
                        not_granted = create(s.zeebe, token, "probe-broken-create")
                        assert not_granted.code == PERMISSION_DENIED, f"not the last good policy: {not_granted}"
                        assert s.authz.metric(GENERATION) == generation
                assert bench.poll() is None, "bench load ended before the last reload: not all were under load"
                out, _ = bench.communicate(timeout=BENCH_SECONDS + 30)
            finally:
                if bench.poll() is None:
                    stop_process(bench)
            assert bench.returncode == 0, (bench.returncode, (tmp_path / "bench.stderr").read_text())
            report = json.loads(out)

            # Every probe got the answer of the policy just put in force.
            wrong = {
                rid: str(o)
                for rid, o in probes.items()
                if o.code != expected[rid][0] or (o.code != OK and not denied_with_id(o, rid))
            }
            assert not wrong, f"probes answered against the policy in force: {wrong}"

            # bench: no failed Check, both policies seen, nothing but their two answers.
            assert report["errors"] == {}, report
            assert set(report["decisions"]) <= {"OK", "PERMISSION_DENIED"}, report["decisions"]
            assert all(report["decisions"].get(code) for code in ("OK", "PERMISSION_DENIED")), report["decisions"]

            # The generations: 21 after 20 reloads, and the broken one counted as an error only.
            assert s.authz.metric(GENERATION) == RELOADS_UNDER_LOAD + 1
            assert s.authz.metric(RELOADS, result="ok") == RELOADS_UNDER_LOAD
            assert s.authz.metric(RELOADS, result="error") == errors_seen == 1
            assert [e["generation"] for e in reloaded_events(s.authz)] == list(range(2, RELOADS_UNDER_LOAD + 2))
            messages = [e.get("fields", {}).get("message", "") for e in s.authz.events()]
            failed = [m for m in messages if m == "Config reload failed; the last good config stays in force"]
            assert len(failed) == 1, failed
            located = f"{volume.path('policy.yaml')}:3:"
            assert any(m.startswith(located) for m in messages), f"no error logged at {located}…"

            # The access log: every request a decision of one of the two policies.
            probe_ids = set(probes) | {"probe-broken-create"}
            total = sum(report["decisions"].values()) + len(probe_ids)
            entries = s.envoy.wait_access_log(lambda es: len(es) >= total, f"{total} lines")
            load = [e for e in entries if e.get("request_id") not in probe_ids]
            shapes = Counter(
                (e.get("response_code"), e.get("grpc_status"), e.get("reason"), e.get("rpc"), e.get("realm"))
                for e in load
            )
            assert set(shapes) <= {
                (200, 0, "allowed", "Topology", "camunda"),
                (200, 7, "missing_permission", "Topology", "camunda"),
            }, f"access log lines of failed or unexpected decisions: {shapes}"
            assert all(e.get("decision_id") == e.get("request_id") for e in load)
            for rid, (code, reason) in expected.items():
                entry = s.envoy.access_log_entry(rid)
                assert entry["reason"] == reason and entry["grpc_status"] == code.value[0], entry

            # And each load request that ran wholly between two reloads got the answer of the
            # policy in force then ("Config reloaded" is logged once the new one is in force).
            reloaded_at = {
                e["fields"]["generation"]: datetime.fromisoformat(e["timestamp"]).timestamp()
                for e in s.authz.events()
                if e.get("fields", {}).get("message") == "Config reloaded"
            }
            windows = [
                (reloaded_at.get(g, float("-inf")) + MARGIN, reloaded_at.get(g + 1, float("inf")) - MARGIN, policy)
                for g, policy in in_force.items()
            ]
            judged, against = 0, []
            for e in load:
                start = float(e["start_time"])
                end = start + (int(e["duration_ms"]) + 1) / 1000
                for low, high, policy in windows:
                    if low <= start and end <= high:
                        judged += 1
                        if e["reason"] != ANSWERS[policy][1]:
                            against.append(e)
                        break
            assert not against, f"{len(against)} of {judged} decisions against the policy in force: {against[:5]}"
            assert judged >= len(load) // 2, f"only {judged} of {len(load)} load requests ran between two reloads"
