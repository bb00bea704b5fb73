"""Runs the real Keycloak (Maven Central `org.keycloak:keycloak-quarkus-dist`, installed and built
by scripts/keycloak into .keycloak/) on 127.0.0.1, with the Camunda realm of
tests/e2e/keycloak/camunda-platform-realm.json, and talks to its token endpoint and admin REST API.

The API the tests (and the Java client's tests) use:

- `Keycloak(workdir).start()` starts it (HTTP on 127.0.0.1 and an ephemeral port, no
  management interface: health and metrics are off, so Keycloak opens no second port) and
  imports the realm file through the admin REST API; `stop()` ends it by pid; `start()` again
  brings the same server back on the same port, with the same database (a restart).
- `base_url` (`http://127.0.0.1:PORT` plus the relative path, e.g. `/auth`), `realm`,
  `issuer` (`<base_url>/realms/<realm>`), `token_endpoint`, `jwks_uri`.
- `token(client_id, secret=None)`: an access token by the client-credentials grant (the secret
  defaults to the realm file's, `CLIENT_SECRETS`); `claims(token)` decodes one, unverified.
- `admin`: an `AdminApi` (`get`, `post`, `put`, `delete` on `/admin/realms/<realm>/...`,
  with a master-realm admin token renewed as needed), and the helpers built on it:
  `key_providers()`, `add_key_provider()`, `set_key_provider()`, `remove_key_provider()`,
  `jwks()`, `client()`, `partial_export()`.
- `export_realm(path)`: `kc.sh export` of the realm into a file, as an operator takes a backup
  (Keycloak must be stopped: the embedded H2 database has one writer).

Start time is what dominates: see docs/src/keycloak.md for the figures. A missing install is an
error naming the command that makes it, never a skip.
"""

from __future__ import annotations

import base64
import json
import os
import re
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

from .process import stop_process, wait_until

REPO_ROOT = Path(__file__).resolve().parents[3]
INSTALL_DIR = REPO_ROOT / ".keycloak"
REALM_FILE = REPO_ROOT / "tests" / "e2e" / "keycloak" / "camunda-platform-realm.json"
REALM = "camunda-platform"
ADMIN_USER = "admin"
ADMIN_PASSWORD = "admin"
# Keycloak on two busy cores: the first start of a fresh database creates the master realm.
STARTUP_TIMEOUT = 300.0
STOP_TIMEOUT = 60.0
HTTP_TIMEOUT = 30.0
# The M2M clients of the realm file and their secrets (a realm export keeps them).
CLIENT_SECRETS = {
    "zeebe-writer": "writer-secret",
    "zeebe-reader": "reader-secret",
    "zeebe-tenant": "tenant-secret",
    "zeebe-worker": "worker-secret",
    "zeebe-nothing": "nothing-secret",
    "zeebe-rpc": "rpc-secret",
}
_LISTENING = re.compile(r"Listening on: http://127\.0\.0\.1:(\d+)")


class KeycloakMissing(RuntimeError):
    pass


def keycloak_home(variant: str = "") -> Path:
    """The built Keycloak of `scripts/keycloak` (`variant` "auth": the one built with
    `--http-relative-path=/auth`)."""
    stamp = INSTALL_DIR / "current"
    if not stamp.is_file():
        raise KeycloakMissing(
            "Keycloak is missing: run ./scripts/test (it runs scripts/keycloak, which installs "
            "org.keycloak:keycloak-quarkus-dist from Maven Central into .keycloak/)"
        )
    home = INSTALL_DIR / (stamp.read_text().strip() + (f"-{variant}" if variant else ""))
    if not (home / "bin" / "kc.sh").is_file():
        raise KeycloakMissing(f"Keycloak is missing at {home}: run scripts/keycloak")
    return home


def b64url_json(part: str) -> dict[str, Any]:
    return json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))


def claims(token: str) -> dict[str, Any]:
    """A JWT's payload, not verified (for assertions on what Keycloak wrote)."""
    return b64url_json(token.split(".")[1])


def header(token: str) -> dict[str, Any]:
    return b64url_json(token.split(".")[0])


def _request(url: str, method: str = "GET", body: Any = None, token: str | None = None, form: dict | None = None):
    data = None
    headers = {}
    if form is not None:
        data = urllib.parse.urlencode(form).encode()
        headers["Content-Type"] = "application/x-www-form-urlencoded"
    elif body is not None:
        data = json.dumps(body).encode()
        headers["Content-Type"] = "application/json"
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    request = urllib.request.Request(url, data=data, method=method, headers=headers)
    with urllib.request.urlopen(request, timeout=HTTP_TIMEOUT) as resp:
        raw = resp.read()
        location = resp.headers.get("Location")
    return (json.loads(raw) if raw else None), location


class AdminApi:
    """Keycloak's admin REST API for one realm, as `admin` of the master realm (admin-cli)."""

    def __init__(self, base_url: str, realm: str):
        self.base_url = base_url
        self.realm = realm
        self._token = ""
        self._expires = 0.0

    def token(self) -> str:
        if time.monotonic() >= self._expires:
            answer, _ = _request(
                f"{self.base_url}/realms/master/protocol/openid-connect/token",
                "POST",
                form={
                    "grant_type": "password",
                    "client_id": "admin-cli",
                    "username": ADMIN_USER,
                    "password": ADMIN_PASSWORD,
                },
            )
            self._token = answer["access_token"]
            self._expires = time.monotonic() + answer["expires_in"] - 10
        return self._token

    def url(self, path: str) -> str:
        path = path.lstrip("/")
        return f"{self.base_url}/admin/realms/{self.realm}" + (f"/{path}" if path else "")

    def request(self, method: str, path: str, body: Any = None) -> tuple[Any, str | None]:
        """(JSON answer or None, Location header) of `method /admin/realms/<realm>/<path>`."""
        return _request(self.url(path), method, body, token=self.token())

    def get(self, path: str) -> Any:
        return self.request("GET", path)[0]

    def post(self, path: str, body: Any = None) -> str | None:
        """POSTs `body`; the created object's id (from the Location header), if any."""
        _, location = self.request("POST", path, body)
        return location.rsplit("/", 1)[-1] if location else None

    def put(self, path: str, body: Any) -> None:
        self.request("PUT", path, body)

    def delete(self, path: str) -> None:
        self.request("DELETE", path)

    def create_realm(self, representation: dict[str, Any]) -> None:
        _request(f"{self.base_url}/admin/realms", "POST", representation, token=self.token())

    def realm_exists(self) -> bool:
        try:
            self.get("")
        except urllib.error.HTTPError as err:
            if err.code == 404:
                return False
            raise
        return True

    # Keys: the components of type org.keycloak.keys.KeyProvider.

    def key_providers(self) -> list[dict[str, Any]]:
        realm_id = self.get("")["id"]
        query = urllib.parse.urlencode({"parent": realm_id, "type": "org.keycloak.keys.KeyProvider"})
        return self.get(f"components?{query}")

    def keys(self) -> list[dict[str, Any]]:
        """The realm's keys as the admin console lists them (kid, algorithm, status, providerId)."""
        return self.get("keys")["keys"]

    def add_key_provider(self, name: str, provider_id: str, config: dict[str, str]) -> str:
        """A new key provider (`rsa-generated`, `ecdsa-generated`, `eddsa-generated`, …), e.g.
        `{"priority": "200", "algorithm": "RS256"}`; its component id."""
        realm_id = self.get("")["id"]
        body = {
            "name": name,
            "providerId": provider_id,
            "providerType": "org.keycloak.keys.KeyProvider",
            "parentId": realm_id,
            "config": {key: [value] for key, value in config.items()},
        }
        created = self.post("components", body)
        assert created is not None
        return created

    def set_key_provider(self, component_id: str, **config: str) -> None:
        """Changes settings of a key provider (`active="false"` makes it passive: it still
        verifies, no longer signs; `enabled="false"` withdraws it from the JWKS)."""
        component = self.get(f"components/{component_id}")
        for key, value in config.items():
            component["config"][key] = [value]
        self.put(f"components/{component_id}", component)

    def remove_key_provider(self, component_id: str) -> None:
        self.delete(f"components/{component_id}")

    def client(self, client_id: str) -> dict[str, Any]:
        [found] = self.get(f"clients?{urllib.parse.urlencode({'clientId': client_id})}")
        return found

    def partial_export(self) -> dict[str, Any]:
        """The admin console's "Partial export" (clients, groups and roles; secrets masked)."""
        return self.request("POST", "partial-export?exportClients=true&exportGroupsAndRoles=true")[0]


class Keycloak:
    """One Keycloak server with the Camunda realm imported. See the module doc."""

    def __init__(
        self,
        workdir: Path,
        *,
        name: str = "keycloak",
        realm_file: Path = REALM_FILE,
    ):
        self.workdir = workdir
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.name = name
        self.variant = ""
        self.relative_path = ""
        self.realm_file = realm_file
        self.realm = REALM
        self.home = keycloak_home()
        self.db_dir = workdir / "db"
        self.log_path = workdir / f"{name}.log"
        self.port = 0
        self.proc: subprocess.Popen[bytes] | None = None
        # How long each start took (seconds), for the report.
        self.start_seconds: list[float] = []
        self._log_file = None
        self._log_offset = 0

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}{self.relative_path}"

    @property
    def issuer(self) -> str:
        return f"{self.base_url}/realms/{self.realm}"

    @property
    def token_endpoint(self) -> str:
        return f"{self.issuer}/protocol/openid-connect/token"

    @property
    def jwks_uri(self) -> str:
        return f"{self.issuer}/protocol/openid-connect/certs"

    @property
    def admin(self) -> AdminApi:
        return AdminApi(self.base_url, self.realm)

    def _env(self) -> dict[str, str]:
        env = dict(os.environ)
        env["KC_BOOTSTRAP_ADMIN_USERNAME"] = ADMIN_USER
        env["KC_BOOTSTRAP_ADMIN_PASSWORD"] = ADMIN_PASSWORD
        # C1 only: less JIT work at startup on two shared cores.
        env["JAVA_OPTS_APPEND"] = "-XX:TieredStopAtLevel=1"
        return env

    def _db_url(self) -> str:
        return f"jdbc:h2:file:{self.db_dir}/keycloakdb;NON_KEYWORDS=VALUE"

    def start(self, variant: str | None = None) -> Keycloak:
        """Starts the server; returns once the realm's discovery answers. The first start binds
        an ephemeral port (`--http-port=0`, read from Keycloak's `Listening on` line) and
        imports the realm file; a later one (a restart) binds the same port and keeps the
        database. `variant="auth"` serves it at `/auth` (the Keycloak built with
        `--http-relative-path=/auth`), `variant=""` at `/` again."""
        if variant is not None and variant != self.variant:
            self.variant = variant
            self.relative_path = f"/{variant}" if variant else ""
            self.home = keycloak_home(variant)
        began = time.monotonic()
        self._log_offset = self.log_path.stat().st_size if self.log_path.exists() else 0
        self._log_file = open(self.log_path, "ab")
        self.proc = subprocess.Popen(
            [
                str(self.home / "bin" / "kc.sh"),
                "start",
                "--optimized",
                "--http-enabled=true",
                "--http-host=127.0.0.1",
                f"--http-port={self.port}",
                # The issuer follows the request's scheme, host and port: http://127.0.0.1:PORT.
                "--hostname-strict=false",
                f"--db-url={self._db_url()}",
            ],
            env=self._env(),
            cwd=self.workdir,
            stdin=subprocess.DEVNULL,
            stdout=self._log_file,
            stderr=subprocess.STDOUT,
        )
        try:
            port = wait_until(self._listening, STARTUP_TIMEOUT, f"{self.name} to listen")
            if self.port not in (0, port):
                raise RuntimeError(f"{self.name} came back on port {port}, not {self.port}")
            self.port = port
            if not self.admin.realm_exists():
                self.admin.create_realm(json.loads(self.realm_file.read_text()))
            wait_until(self._discovery_ok, STARTUP_TIMEOUT, f"{self.name} realm discovery")
        except BaseException:
            self.stop()
            raise
        self.start_seconds.append(time.monotonic() - began)
        return self

    def _listening(self) -> int | None:
        """The port of this start's `Listening on` line, once written."""
        assert self.proc is not None
        if self.proc.poll() is not None:
            raise RuntimeError(f"{self.name} exited with {self.proc.returncode}:\n{self.log()[-4000:]}")
        with open(self.log_path, "rb") as log:
            log.seek(self._log_offset)
            found = _LISTENING.search(log.read().decode(errors="replace"))
        return int(found.group(1)) if found else None

    def _discovery_ok(self) -> bool:
        try:
            return self.discovery()["issuer"] == self.issuer
        except (urllib.error.URLError, OSError, ValueError):
            return False

    def discovery(self) -> dict[str, Any]:
        return _request(f"{self.issuer}/.well-known/openid-configuration")[0]

    def jwks(self) -> dict[str, Any]:
        return _request(self.jwks_uri)[0]

    def token(self, client_id: str, secret: str | None = None, **params: str) -> str:
        """An access token for `client_id` by the client-credentials grant."""
        form = {
            "grant_type": "client_credentials",
            "client_id": client_id,
            "client_secret": secret if secret is not None else CLIENT_SECRETS[client_id],
            **params,
        }
        return _request(self.token_endpoint, "POST", form=form)[0]["access_token"]

    def token_response(self, client_id: str, secret: str | None = None) -> dict[str, Any]:
        form = {
            "grant_type": "client_credentials",
            "client_id": client_id,
            "client_secret": secret if secret is not None else CLIENT_SECRETS[client_id],
        }
        return _request(self.token_endpoint, "POST", form=form)[0]

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def stop(self) -> None:
        """SIGTERM to the one pid (kc.sh execs java), SIGKILL after STOP_TIMEOUT."""
        if self.proc is not None:
            if self.proc.poll() is None:
                self.proc.terminate()
                try:
                    self.proc.wait(timeout=STOP_TIMEOUT)
                except subprocess.TimeoutExpired:
                    stop_process(self.proc)
            self.proc = None
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None

    def export_realm(self, path: Path) -> dict[str, Any]:
        """`kc.sh export --realm R --file PATH --users realm_file` on the (stopped) server's
        database, as an operator takes a realm backup; the export, parsed."""
        if self.proc is not None:
            raise RuntimeError("kc.sh export needs the server stopped (the H2 database has one writer)")
        done = subprocess.run(
            [
                str(self.home / "bin" / "kc.sh"),
                "export",
                "--optimized",
                f"--realm={self.realm}",
                f"--file={path}",
                "--users=realm_file",
                f"--db-url={self._db_url()}",
            ],
            env=self._env(),
            cwd=self.workdir,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=STARTUP_TIMEOUT,
        )
        if done.returncode != 0 or not path.is_file():
            raise RuntimeError(f"kc.sh export failed ({done.returncode}):\n{done.stdout[-4000:]}\n{done.stderr[-4000:]}")
        return json.loads(path.read_text())
