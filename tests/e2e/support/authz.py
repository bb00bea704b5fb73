"""Runs the zeebe-authz binary under test: `zeebe-authz serve --config FILE --log-format json`.

Both of its ports are bound to 127.0.0.1:0; the process says which ports it got in its
`Listening` log line (JSON on stderr, fields `check_addr` and `admin_addr`). Readiness is then
asked of its admin endpoint: `/healthz` is 200 once it is up, `/readyz` is 200 once it has the
keys of every realm and 503 before.

`extra_args` are added to the `serve` command line (e.g. `--reload-interval 0s`). The admin
port's `/metrics` (Prometheus text) is read by `metrics()`/`metric()`; `wait_metric()` polls one
value, e.g. `zeebe_authz_config_generation` after a reload.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import threading
import urllib.error
import urllib.request
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .process import stop_process, wait_until

REPO_ROOT = Path(__file__).resolve().parents[3]
DEFAULT_POLICY = REPO_ROOT / "policies" / "default.yaml"
# `serve --dev`'s policy: conditions on tenants (`tenant:write`) and job types (`worker:payment`).
DEV_POLICY = REPO_ROOT / "policies" / "dev.yaml"
STARTUP_TIMEOUT = 20.0


class AuthzBinaryMissing(RuntimeError):
    pass


def find_binary() -> Path:
    """`$ZEEBE_AUTHZ_BIN`, else the debug build in target/."""
    configured = os.environ.get("ZEEBE_AUTHZ_BIN")
    path = Path(configured) if configured else REPO_ROOT / "target" / "debug" / "zeebe-authz"
    if not path.is_file() or not os.access(path, os.X_OK):
        raise AuthzBinaryMissing(
            f"zeebe-authz binary not found at {path}: run ./scripts/test, or `cargo build --bin zeebe-authz` "
            "and set ZEEBE_AUTHZ_BIN"
        )
    return path


def config_yaml(
    issuer_url: str,
    policy: Path = DEFAULT_POLICY,
    audiences: tuple[str, ...] = ("zeebe-api",),
    *,
    tenants_claim: str | list[str] | None = None,
    tenants_prefix: str | None = None,
    refetch_cooldown: str | None = None,
    fetch_timeout: str | None = None,
    identity_headers: str | None = None,
    dynamic_metadata: str | None = None,
    engine_authorizations: bool | None = None,
) -> str:
    """A one-realm config in the format `serve` reads (JSON flow style is YAML too).

    `tenants_claim` (a dotted claim path or a list of keys) and `tenants_prefix` say where the
    realm finds the tenants a token holds; both are left out of the file when None, and so are
    `jwks.refetch_cooldown` and `jwks.fetch_timeout` (the authorizer's defaults, 1 s each, as a
    deployment has them, then apply). `identity_headers` and `dynamic_metadata` set their
    `send` (left out: the subject header, metadata on denies only).
    """
    realm: dict[str, Any] = {
        "name": "camunda",
        "issuer": issuer_url,
        "audiences": list(audiences),
        "hosts": ["*"],
        "policy": str(policy),
    }
    if tenants_claim is not None:
        realm["tenants_claim"] = tenants_claim
    if tenants_prefix is not None:
        realm["tenants_prefix"] = tenants_prefix
    if engine_authorizations is not None:
        realm["engine_authorizations"] = engine_authorizations
    return realms_config_yaml(
        [realm],
        refetch_cooldown=refetch_cooldown,
        fetch_timeout=fetch_timeout,
        identity_headers=identity_headers,
        dynamic_metadata=dynamic_metadata,
    )


def realms_config_yaml(
    realms: list[dict[str, Any]],
    *,
    refetch_cooldown: str | None = None,
    fetch_timeout: str | None = None,
    identity_headers: str | None = None,
    dynamic_metadata: str | None = None,
) -> str:
    """A config with these realms (each as the file spells it), listening on 127.0.0.1:0;
    `identity_headers` / `dynamic_metadata`: their `send` when not None."""
    answer = []
    if identity_headers is not None:
        answer += ["identity_headers:", f"  send: {identity_headers}"]
    if dynamic_metadata is not None:
        answer += ["dynamic_metadata:", f"  send: {dynamic_metadata}"]
    jwks = ["  refresh_interval: 5m"]
    if refetch_cooldown is not None:
        jwks.append(f"  refetch_cooldown: {refetch_cooldown}")
    if fetch_timeout is not None:
        jwks.append(f"  fetch_timeout: {fetch_timeout}")
    return "\n".join(
        [
            "listen:",
            "  check: 127.0.0.1:0",
            "  admin: 127.0.0.1:0",
            "realms:",
            *(f"  - {json.dumps(realm)}" for realm in realms),
            "jwks:",
            *jwks,
            *answer,
            "",
        ]
    )


def listening_addrs(line: str) -> tuple[str, str] | None:
    """(check_addr, admin_addr) from the `Listening` JSON log line, else None."""
    try:
        event = json.loads(line)
    except ValueError:
        return None
    if not isinstance(event, dict):
        return None
    fields = event.get("fields") if isinstance(event.get("fields"), dict) else event
    if fields.get("message") != "Listening":
        return None
    check, admin = fields.get("check_addr"), fields.get("admin_addr")
    if not (isinstance(check, str) and isinstance(admin, str)):
        return None
    return check, admin


_SAMPLE = re.compile(r"^([A-Za-z_:][A-Za-z0-9_:]*)(?:\{(.*)\})?\s+(\S+)(?:\s+\S+)?$")
_LABEL = re.compile(r'([A-Za-z_][A-Za-z0-9_]*)="((?:[^"\\]|\\.)*)"')


def parse_metrics(text: str) -> list[tuple[str, dict[str, str], float]]:
    """Prometheus text exposition as (name, labels, value) samples (comments left out)."""
    samples = []
    for line in text.splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        m = _SAMPLE.match(line.strip())
        if not m:
            continue
        name, labels, value = m.groups()
        samples.append((name, dict(_LABEL.findall(labels or "")), float(value)))
    return samples


class Authz:
    """One zeebe-authz process. `start()` returns once it has said where it listens."""

    def __init__(
        self,
        workdir: Path,
        config_text: str,
        name: str = "zeebe-authz",
        extra_args: Sequence[str] = (),
        *,
        config_path: Path | None = None,
    ):
        """`config_text` is written to `config_path` (default `<workdir>/<name>.yaml`), the
        file `serve --config` reads; `extra_args` go on `serve`'s command line."""
        self.workdir = workdir
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.name = name
        self.extra_args = tuple(extra_args)
        self.config_path = config_path if config_path is not None else workdir / f"{name}.yaml"
        self.config_path.write_text(config_text)
        self.log_path = workdir / f"{name}.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self.check_addr = ""
        self.admin_addr = ""
        self._lines: list[str] = []
        self._lock = threading.Lock()
        self._reader: threading.Thread | None = None

    def start(self) -> Authz:
        binary = find_binary()
        self.proc = subprocess.Popen(
            [str(binary), "serve", "--config", str(self.config_path), "--log-format", "json", *self.extra_args],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            cwd=self.workdir,
        )
        self._reader = threading.Thread(target=self._read_stderr, name=f"{self.name}-stderr", daemon=True)
        self._reader.start()
        try:
            self.check_addr, self.admin_addr = wait_until(
                self._listening, STARTUP_TIMEOUT, f"{self.name} Listening log line"
            )
        except BaseException:
            self.stop()
            raise
        return self

    def _read_stderr(self) -> None:
        assert self.proc is not None and self.proc.stderr is not None
        with open(self.log_path, "w") as log:
            for raw in self.proc.stderr:
                line = raw.decode(errors="replace").rstrip("\n")
                log.write(line + "\n")
                log.flush()
                with self._lock:
                    self._lines.append(line)

    def _listening(self) -> tuple[str, str] | None:
        with self._lock:
            for line in self._lines:
                addrs = listening_addrs(line)
                if addrs:
                    return addrs
        assert self.proc is not None
        if self.proc.poll() is not None:
            if self._reader is not None:
                self._reader.join(timeout=2)
            raise RuntimeError(f"{self.name} exited with {self.proc.returncode} before listening:\n{self.log()}")
        return None

    def admin_status(self, path: str) -> int:
        """HTTP status of GET admin `path` (0 when nothing answers)."""
        try:
            with urllib.request.urlopen(f"http://{self.admin_addr}{path}", timeout=2) as resp:
                return resp.status
        except urllib.error.HTTPError as err:
            return err.code
        except OSError:
            return 0

    def wait_status(self, path: str, status: int, timeout: float = STARTUP_TIMEOUT) -> None:
        def probe() -> bool:
            assert self.proc is not None
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited with {self.proc.returncode}:\n{self.log()}")
            return self.admin_status(path) == status

        wait_until(probe, timeout, f"{self.name} GET {path} = {status}")

    def wait_ready(self) -> Authz:
        self.wait_status("/readyz", 200)
        return self

    # -- metrics and reloads -----------------------------------------------------------------

    def admin_get(self, path: str) -> str:
        """The body of GET admin `path` (raises on a non-200 answer)."""
        with urllib.request.urlopen(f"http://{self.admin_addr}{path}", timeout=2) as resp:
            return resp.read().decode()

    def metrics(self) -> list[tuple[str, dict[str, str], float]]:
        """Every sample of `/metrics`."""
        return parse_metrics(self.admin_get("/metrics"))

    def metric(self, name: str, **labels: str) -> float:
        """The sum of the samples of `name` whose labels include `labels` (0 when none)."""
        return sum(
            value
            for sample, have, value in self.metrics()
            if sample == name and all(have.get(k) == v for k, v in labels.items())
        )

    def wait_metric(
        self, name: str, value: float, timeout: float = STARTUP_TIMEOUT, at_least: bool = False, **labels: str
    ) -> float:
        """Polls `metric(name, **labels)` until it equals `value` (or is at least `value`)."""

        def probe() -> tuple[float] | None:  # a tuple: a value of 0 must count as seen
            assert self.proc is not None
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited with {self.proc.returncode}:\n{self.log()}")
            try:
                seen = self.metric(name, **labels)
            except OSError:
                return None
            return (seen,) if (seen >= value if at_least else seen == value) else None

        what = f"{self.name} {name}{labels or ''} {'>=' if at_least else '=='} {value:g}"
        return wait_until(probe, timeout, what)[0]

    @property
    def pid(self) -> int:
        assert self.proc is not None, f"{self.name} is not running"
        return self.proc.pid

    def sighup(self) -> None:
        """SIGHUP to this process (by pid): reload the config now."""
        assert self.proc is not None and self.proc.poll() is None, f"{self.name} is not running"
        os.kill(self.proc.pid, signal.SIGHUP)

    def lines(self) -> list[str]:
        with self._lock:
            return list(self._lines)

    def events(self) -> list[dict[str, Any]]:
        out = []
        for line in self.lines():
            try:
                event = json.loads(line)
            except ValueError:
                continue
            if isinstance(event, dict):
                out.append(event)
        return out

    def log(self) -> str:
        return "\n".join(self.lines())

    def stop(self) -> None:
        if self.proc is not None:
            stop_process(self.proc)
            if self._reader is not None:
                self._reader.join(timeout=5)
            self.proc = None
