"""Runs `zeebe-authz serve --dev` as a newcomer does, and reads what it printed.

Both of its ports are 127.0.0.1:0; with `envoy_listen` and `gateway` it also writes its Envoy
bootstrap (`--envoy-config`), with the REST door's listener (`envoy_rest_listen`) in front of
`rest_gateway`. Its stdout is the banner: `export NAME=VALUE` lines (tokens, the
four OAuth clients, the Camunda client settings) and `#` comments (the `envoy -c` line and a
`zbctl status` line), up to the `# Readiness` line. Its stderr is JSON logs, from which the
tests count the tokens its token endpoint issued (`Token issued`, with `client_id`).
"""

from __future__ import annotations

import json
import subprocess
import threading
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from .authz import find_binary
from .envoy import closed_loopback_port
from .process import stop_process, wait_until

STARTUP_TIMEOUT = 20.0



class DevServer:
    """One `serve --dev` process. `start()` returns once it printed its banner and is ready."""

    def __init__(
        self,
        workdir: Path,
        *,
        token_ttl: str | None = None,
        gateway: str | None = None,
        envoy_listen: str | None = None,
        rest_gateway: str | None = None,
        envoy_rest_listen: str | None = None,
        extra_args: tuple[str, ...] = (),
        name: str = "zeebe-authz-dev",
    ):
        """`rest_gateway` / `envoy_rest_listen`: the REST door's `--rest-gateway` and
        `--envoy-rest-listen` (with `gateway`); `extra_args` are added to `serve --dev`."""
        self.workdir = workdir
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.name = name
        self.token_ttl = token_ttl
        self.gateway = gateway
        self.envoy_listen = envoy_listen
        self.rest_gateway = rest_gateway
        self.envoy_rest_listen = envoy_rest_listen
        self.extra_args = extra_args
        self.envoy_config = workdir / "envoy.yaml"
        self.proc: subprocess.Popen[bytes] | None = None
        self.banner: list[str] = []
        self.exports: dict[str, str] = {}
        self._lines: list[str] = []
        self._lock = threading.Lock()
        self._readers: list[threading.Thread] = []
        self._banner_done = threading.Event()

    def start(self) -> DevServer:
        args = [str(find_binary()), "serve", "--dev", "--log-format", "json"]
        args += ["--dev-check-addr", "127.0.0.1:0", "--dev-admin-addr", "127.0.0.1:0"]
        if self.token_ttl:
            args += ["--dev-token-ttl", self.token_ttl]
        if self.gateway:
            args += ["--envoy-config", str(self.envoy_config), "--gateway", self.gateway]
            if self.envoy_listen:
                args += ["--envoy-listen", self.envoy_listen]
            if self.rest_gateway:
                args += ["--rest-gateway", self.rest_gateway]
            # Never the default 127.0.0.1:8180 in a test: an ephemeral port unless one is given.
            if not self.envoy_rest_listen:
                self.envoy_rest_listen = f"127.0.0.1:{closed_loopback_port()}"
            args += ["--envoy-rest-listen", self.envoy_rest_listen]
        args += list(self.extra_args)
        self.proc = subprocess.Popen(
            args, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=self.workdir
        )
        self._readers = [
            threading.Thread(target=self._read_stdout, name=f"{self.name}-stdout", daemon=True),
            threading.Thread(target=self._read_stderr, name=f"{self.name}-stderr", daemon=True),
        ]
        for reader in self._readers:
            reader.start()
        try:
            wait_until(self._printed_banner, STARTUP_TIMEOUT, f"{self.name} banner")
            wait_until(lambda: self.admin_status("/readyz") == 200, STARTUP_TIMEOUT, f"{self.name} /readyz")
        except BaseException:
            self.stop()
            raise
        return self

    def _read_stdout(self) -> None:
        assert self.proc is not None and self.proc.stdout is not None
        for raw in self.proc.stdout:
            line = raw.decode(errors="replace").rstrip("\n")
            if self._banner_done.is_set():
                continue
            self.banner.append(line)
            if line.startswith("export ") and "=" in line:
                name, _, value = line.removeprefix("export ").partition("=")
                self.exports[name] = value
            if line.startswith("# Readiness"):
                self._banner_done.set()

    def _read_stderr(self) -> None:
        assert self.proc is not None and self.proc.stderr is not None
        with open(self.workdir / f"{self.name}.log", "w") as log:
            for raw in self.proc.stderr:
                line = raw.decode(errors="replace").rstrip("\n")
                log.write(line + "\n")
                log.flush()
                with self._lock:
                    self._lines.append(line)

    def _printed_banner(self) -> bool:
        assert self.proc is not None
        if self.proc.poll() is not None:
            raise RuntimeError(f"{self.name} exited with {self.proc.returncode}:\n{self.log()}")
        return self._banner_done.is_set()

    # -- what it printed ---------------------------------------------------------------------

    def export(self, name: str) -> str:
        assert name in self.exports, f"{self.name} printed no `export {name}=`:\n" + "\n".join(self.banner)
        return self.exports[name]

    def client(self, role: str) -> tuple[str, str]:
        """The (client id, secret) printed for ROLE (WRITE, READ, TENANT, WORKER)."""
        return self.export(f"ZEEBE_AUTHZ_{role}_CLIENT_ID"), self.export(f"ZEEBE_AUTHZ_{role}_CLIENT_SECRET")

    @property
    def token_url(self) -> str:
        return self.export("ZEEBE_AUTHORIZATION_SERVER_URL")

    @property
    def check_addr(self) -> str:
        for line in self.banner:
            if line.startswith("# zeebe-authz dev mode:"):
                return line.split("Check on ", 1)[1].split(",", 1)[0]
        raise AssertionError("no Check address in the banner")

    def commented_commands(self, program: str) -> list[str]:
        """Every `#   <program> …` banner line's command line, in order."""
        return [
            line.removeprefix("#").strip()
            for line in self.banner
            if line.startswith("#   ") and line.removeprefix("#").strip().startswith(f"{program} ")
        ]

    @property
    def admin_addr(self) -> str:
        for line in self.banner:
            if line.startswith("# zeebe-authz dev mode:"):
                return line.rsplit("http://", 1)[1]
        raise AssertionError("no admin address in the banner")

    def commented_command(self, program: str) -> str:
        """The command line of a `#   <program> …` banner line."""
        for line in self.banner:
            text = line.removeprefix("#").strip()
            if line.startswith("#   ") and (text.startswith(f"{program} ") or f" {program} " in text):
                return text
        raise AssertionError(f"no `{program}` line in the banner:\n" + "\n".join(self.banner))

    # -- its token endpoint and logs ---------------------------------------------------------

    def fetch_token(self, role: str) -> str:
        """A token from the printed token endpoint for ROLE's client (form fields)."""
        client_id, secret = self.client(role)
        body = f"grant_type=client_credentials&client_id={client_id}&client_secret={secret}".encode()
        request = urllib.request.Request(
            self.token_url, data=body, headers={"content-type": "application/x-www-form-urlencoded"}
        )
        with urllib.request.urlopen(request, timeout=5) as resp:
            return json.loads(resp.read())["access_token"]

    def issued(self, client_id: str) -> int:
        """How many tokens the token endpoint issued to `client_id`."""
        count = 0
        for event in self.events():
            fields = event.get("fields", {})
            if fields.get("message") == "Token issued" and fields.get("client_id") == client_id:
                count += 1
        return count

    def admin_status(self, path: str) -> int:
        try:
            with urllib.request.urlopen(f"http://{self.admin_addr}{path}", timeout=2) as resp:
                return resp.status
        except urllib.error.HTTPError as err:
            return err.code
        except (OSError, AssertionError):
            return 0

    def events(self) -> list[dict[str, Any]]:
        out = []
        with self._lock:
            lines = list(self._lines)
        for line in lines:
            try:
                event = json.loads(line)
            except ValueError:
                continue
            if isinstance(event, dict):
                out.append(event)
        return out

    def log(self) -> str:
        with self._lock:
            return "\n".join(self._lines)

    def stop(self) -> None:
        if self.proc is not None:
            stop_process(self.proc)
            for reader in self._readers:
                reader.join(timeout=5)
            self.proc = None
