"""Camunda's real clients, installed by ./scripts/test from tests/e2e/node/package-lock.json into
tests/e2e/node/node_modules/ (as .venv/ holds the Python side), and how the tests run them.

- zbctl: the npm package ships Camunda's Go client binary; its `bin/zbctl` is a node wrapper
  that spawns the binary and then asks the npm registry for a newer version. The tests run the
  binary itself (`bin/zbctl-cli.linux`), so nothing leaves the machine at test time.
- @camunda8/sdk: driven by tests/e2e/node/sdk_client.js, one JSON line per step.
- @camunda8/orchestration-cluster-api (the REST client, 8.8): driven by
  tests/e2e/node/rest_client.mjs, one JSON line per step and one line of every HTTP exchange;
  with `REST_CLIENT_ALLOW_H2=1`, Node's fetch may negotiate HTTP/2 (npm undici's
  `Agent({allowH2: true})` as the global dispatcher).
- oidc-provider: tests/e2e/node/oidc_realm.js (see support/oidc_realm.py).

A missing client is an error that says how to install it, never a skip (CI sets CI=true and
runs ./scripts/test, which installs them; nothing here is optional).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

NODE_DIR = Path(__file__).resolve().parents[1] / "node"
NODE_MODULES = NODE_DIR / "node_modules"
ZBCTL = NODE_MODULES / "zbctl" / "bin" / "zbctl-cli.linux"
SDK_CLIENT = NODE_DIR / "sdk_client.js"
REST_CLIENT = NODE_DIR / "rest_client.mjs"
CLIENT_TIMEOUT = 60.0


class ClientMissing(RuntimeError):
    pass


def _missing(what: str) -> ClientMissing:
    return ClientMissing(
        f"{what} is missing: run ./scripts/test (it installs tests/e2e/node/package-lock.json into "
        f"tests/e2e/node/node_modules/ with `npm ci`), or `cd tests/e2e/node && npm ci`"
    )


def node_binary() -> str:
    node = shutil.which("node")
    if node is None:
        raise ClientMissing("Node.js is missing: install Node 20 or newer (its `node` must be on PATH)")
    return node


def zbctl_binary() -> Path:
    if not (ZBCTL.is_file() and os.access(ZBCTL, os.X_OK)):
        raise _missing(f"zbctl ({ZBCTL})")
    return ZBCTL


def require_module(name: str) -> Path:
    path = NODE_MODULES / name
    if not (path / "package.json").is_file():
        raise _missing(f"the npm package {name}")
    return path


def client_env(home: Path, **settings: str) -> dict[str, str]:
    """A clean environment for a client: PATH, a private HOME (clients cache tokens under it),
    and the given settings; nothing from the test runner's own ZEEBE_*/CAMUNDA_* variables."""
    home.mkdir(parents=True, exist_ok=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ZEEBE_", "CAMUNDA_"))}
    env["HOME"] = str(home)
    env.update(settings)
    return env


def run_zbctl(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(zbctl_binary()), *args],
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=CLIENT_TIMEOUT,
    )


def run_sdk(steps: list[dict[str, Any]], env: dict[str, str]) -> list[dict[str, Any]]:
    """Runs sdk_client.js with `steps`; one result per step (an error if it did not finish)."""
    require_module("@camunda8/sdk")
    done = subprocess.run(
        [node_binary(), str(SDK_CLIENT), json.dumps(steps)],
        env={"CAMUNDA_LOG_LEVEL": "none", **env},
        cwd=NODE_DIR,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=CLIENT_TIMEOUT,
    )
    results = []
    for line in done.stdout.splitlines():
        if line.startswith("RESULT "):
            results.append(json.loads(line.removeprefix("RESULT ")))
    assert done.returncode == 0 and len(results) == len(steps), (
        f"sdk_client.js exited {done.returncode} after {len(results)} of {len(steps)} steps\n"
        f"stdout:\n{done.stdout}\nstderr:\n{done.stderr}"
    )
    return results


def run_rest_client(steps: list[dict[str, Any]], env: dict[str, str]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Runs rest_client.mjs with `steps`: one result per step, and every HTTP exchange the
    client made (method, path, status), token requests included."""
    require_module("@camunda8/orchestration-cluster-api")
    if env.get("REST_CLIENT_ALLOW_H2") == "1":
        require_module("undici")
    done = subprocess.run(
        [node_binary(), str(REST_CLIENT), json.dumps(steps)],
        env={"CAMUNDA_SDK_LOG_LEVEL": "silent", **env},
        cwd=NODE_DIR,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=CLIENT_TIMEOUT,
    )
    results: list[dict[str, Any]] = []
    exchanges: list[dict[str, Any]] = []
    for line in done.stdout.splitlines():
        if line.startswith("RESULT "):
            results.append(json.loads(line.removeprefix("RESULT ")))
        elif line.startswith("EXCHANGES "):
            exchanges = json.loads(line.removeprefix("EXCHANGES "))
    assert done.returncode == 0 and len(results) == len(steps), (
        f"rest_client.mjs exited {done.returncode} after {len(results)} of {len(steps)} steps\n"
        f"stdout:\n{done.stdout}\nstderr:\n{done.stderr}"
    )
    return results, exchanges
