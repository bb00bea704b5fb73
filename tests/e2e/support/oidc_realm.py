"""Runs tests/e2e/node/oidc_realm.mjs: npm `oidc-provider` as the realm's IdP, mounted at
Keycloak's `/realms/<realm>`, issuing JWT access tokens with Camunda Identity's `permissions`
claim to client_credentials clients. Stopped by pid, like every process the tests start."""

from __future__ import annotations

import json
import subprocess
import threading
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

from .node_clients import NODE_DIR, node_binary, require_module
from .process import stop_process, wait_until

STARTUP_TIMEOUT = 20.0
REALM_SCRIPT = NODE_DIR / "oidc_realm.mjs"


class OidcRealm:
    def __init__(self, workdir: Path, *, resource: str, clients: list[dict[str, Any]], name: str = "oidc-provider"):
        self.workdir = workdir
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.name = name
        self.resource = resource
        self.clients = {c["id"]: c for c in clients}
        self.proc: subprocess.Popen[bytes] | None = None
        self.issuer = ""
        self.port = 0
        self._lines: list[str] = []
        self._lock = threading.Lock()
        self._readers: list[threading.Thread] = []

    def start(self) -> OidcRealm:
        require_module("oidc-provider")
        options = {"realm": "camunda", "resource": self.resource, "clients": list(self.clients.values())}
        self.proc = subprocess.Popen(
            [node_binary(), str(REALM_SCRIPT), json.dumps(options)],
            cwd=NODE_DIR,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        reader = threading.Thread(target=self._read, name=f"{self.name}-out", daemon=True)
        reader.start()
        self._readers = [reader]
        try:
            ready = wait_until(self._ready, STARTUP_TIMEOUT, f"{self.name} READY line")
        except BaseException:
            self.stop()
            raise
        self.issuer, self.port = ready["issuer"], ready["port"]
        return self

    def _read(self) -> None:
        assert self.proc is not None and self.proc.stdout is not None
        for raw in self.proc.stdout:
            with self._lock:
                self._lines.append(raw.decode(errors="replace").rstrip("\n"))

    def _ready(self) -> dict[str, Any] | None:
        assert self.proc is not None
        with self._lock:
            for line in self._lines:
                if line.startswith("READY "):
                    return json.loads(line.removeprefix("READY "))
        if self.proc.poll() is not None:
            raise RuntimeError(f"{self.name} exited with {self.proc.returncode}:\n{self.log()}")
        return None

    def discovery(self) -> dict[str, Any]:
        with urllib.request.urlopen(f"{self.issuer}/.well-known/openid-configuration", timeout=5) as resp:
            return json.loads(resp.read())

    def token(self, client_id: str) -> str:
        """A token for `client_id` from the token endpoint the discovery document names."""
        client = self.clients[client_id]
        form = urllib.parse.urlencode(
            {"grant_type": "client_credentials", "client_id": client_id, "client_secret": client["secret"]}
        ).encode()
        with urllib.request.urlopen(self.discovery()["token_endpoint"], data=form, timeout=5) as resp:
            return json.loads(resp.read())["access_token"]

    def rotate(self) -> str:
        """A new signing key (the old one stays published); its kid."""
        request = urllib.request.Request(f"http://127.0.0.1:{self.port}/_test/rotate", data=b"", method="POST")
        with urllib.request.urlopen(request, timeout=10) as resp:
            return json.loads(resp.read())["kid"]

    def log(self) -> str:
        with self._lock:
            return "\n".join(self._lines)

    def stop(self) -> None:
        if self.proc is not None:
            stop_process(self.proc)
            for reader in self._readers:
                reader.join(timeout=5)
            self.proc = None
