"""The operator's kit against the real thing: the alerting rules (charts/zeebe-authz/files/alerts.yaml)
and the Grafana dashboard (files/dashboard.json) with Prometheus's own tools, built from their Go
modules by scripts/tools.

- `promtool check rules` and `promtool test rules tests/monitoring/alerts-test.yaml`: every alert
  fires on its series and stays quiet on healthy ones.
- A running authorizer behind Envoy, three realms (one enforced, one in dry-run, one whose
  Keycloak is down), a token cache of 8, one good and one broken reload, and calls that are
  allowed, denied for several reasons, would-be denied and refused for want of keys. Its
  `/metrics` passes `promtool check metrics`, and every metric name, label and label value the
  rules, their unit tests and the dashboard use is in it (a label value a short run cannot
  produce, like `keys_timeout`, must at least be spelled so in the Rust source). The names are
  read from the expressions by Prometheus's own parser (`/api/v1/parse_query`), not by regex.
- A real Prometheus scrapes that authorizer every second during the load, loads the rules (all
  healthy), and evaluates every query of the dashboard, each of which must return data.
"""

from __future__ import annotations

import json
import re
import socket
import subprocess
import threading
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest
import yaml
from zeebe_grpc import gateway_pb2 as pb
from zeebe_grpc import gateway_pb2_grpc

from support.authz import DEFAULT_POLICY, REPO_ROOT, Authz, realms_config_yaml
from support.calls import bearer, invoke
from support.envoy import Envoy, closed_loopback_port
from support.gateway import StubGateway
from support.issuer import KeycloakIssuer
from support.process import running, stop_process, wait_until
from support.tools import find_tool

CHART_FILES = REPO_ROOT / "charts" / "zeebe-authz" / "files"
ALERTS = CHART_FILES / "alerts.yaml"
DASHBOARD = CHART_FILES / "dashboard.json"
ALERTS_TEST = REPO_ROOT / "tests" / "monitoring" / "alerts-test.yaml"
RUNBOOK = REPO_ROOT / "docs" / "src" / "alerts.md"
JOB = "zeebe-authz"
# Labels Prometheus or the prometheus-operator put on every series of a target.
TARGET_LABELS = {"job", "instance", "namespace", "pod", "service", "container", "endpoint"}
# What Grafana substitutes: the job the dashboard's variable picks, every realm, a rate window
# that holds a few of the test's one-second scrapes.
RATE_WINDOW = "20s"
# The token cache after the reload: the least token.cache_max_bytes allows (~300 of the load's
# tokens), fewer than the load's TOKENS, so entries in use are evicted.
CACHE_MAX_BYTES = 64 << 10
TOKENS = 600
DASHBOARD_VARIABLES = {"$__rate_interval": RATE_WINDOW, "${job}": JOB, "$job": JOB, "${realm}": ".*", "$realm": ".*"}
PROMETHEUS_TIMEOUT = 60.0
LOAD_TIMEOUT = 90.0


def promtool(*args: str, input: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(find_tool("promtool")), *args], input=input, capture_output=True, text=True)


def alert_rules() -> list[dict[str, Any]]:
    return [r for g in yaml.safe_load(ALERTS.read_text())["groups"] for r in g["rules"]]


def dashboard_exprs() -> list[str]:
    out = []
    for panel in json.loads(DASHBOARD.read_text())["panels"]:
        out.extend(t["expr"] for t in panel.get("targets", []))
    return out


def substituted(expr: str) -> str:
    for name, value in DASHBOARD_VARIABLES.items():
        expr = expr.replace(name, value)
    assert "$" not in expr, f"a dashboard variable the test does not know: {expr}"
    return expr


# ---- promtool on the rules ---------------------------------------------------------------


def test_promtool_check_rules() -> None:
    result = promtool("check", "rules", str(ALERTS))
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(alert_rules())} rules found" in result.stdout


def test_promtool_test_rules() -> None:
    result = promtool("test", "rules", str(ALERTS_TEST))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_promtool_test_rules_fails_when_an_alert_is_wrong(tmp_path: Path) -> None:
    """The unit tests can fail: with one threshold changed they do."""
    rules = ALERTS.read_text().replace("expr: zeebe_authz_realm_ready == 0", "expr: zeebe_authz_realm_ready == 1")
    assert rules != ALERTS.read_text()
    (tmp_path / "alerts.yaml").write_text(rules)
    tests = yaml.safe_load(ALERTS_TEST.read_text())
    tests["rule_files"] = [str(tmp_path / "alerts.yaml")]
    (tmp_path / "alerts-test.yaml").write_text(yaml.safe_dump(tests))
    result = promtool("test", "rules", str(tmp_path / "alerts-test.yaml"))
    assert result.returncode != 0
    assert "ZeebeAuthzRealmNotReady" in result.stdout + result.stderr


def test_every_alert_has_a_firing_test_and_a_runbook_section() -> None:
    tested = set()
    for case in yaml.safe_load(ALERTS_TEST.read_text())["tests"]:
        for check in case.get("alert_rule_test", []):
            if check.get("exp_alerts"):
                tested.add(check["alertname"])
    runbook = RUNBOOK.read_text()
    names = [r["alert"] for r in alert_rules()]
    assert len(names) == len(set(names)) >= 10
    for name in names:
        assert name in tested, f"{name}: no promtool test sees it fire"
        assert f"\n## {name}\n" in runbook, f"{name}: no section in {RUNBOOK}"
    for rule in alert_rules():
        assert rule["annotations"]["runbook"] == f"docs/src/alerts.md#{rule['alert'].lower()}"
        assert rule["labels"]["severity"] in ("warning", "critical")


# ---- a running authorizer under load, scraped by a real Prometheus -------------------------


def free_port() -> int:
    """A loopback port free now, for Prometheus (which cannot say which port 0 gave it)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Prometheus:
    """The Prometheus server built by scripts/tools, scraping one target every second, with the
    rules loaded; its data in `workdir`."""

    def __init__(self, workdir: Path, target: str):
        self.workdir = workdir
        workdir.mkdir(parents=True, exist_ok=True)
        self.config = workdir / "prometheus.yml"
        self.config.write_text(
            yaml.safe_dump(
                {
                    "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
                    "rule_files": [str(ALERTS)],
                    "scrape_configs": [{"job_name": JOB, "static_configs": [{"targets": [target]}]}],
                }
            )
        )
        self.proc: subprocess.Popen[bytes] | None = None
        self.name = "prometheus"
        self.address = ""
        self.log_path = workdir / "prometheus.log"

    def start(self) -> Prometheus:
        self.address = f"127.0.0.1:{free_port()}"
        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen(
                [
                    str(find_tool("prometheus")),
                    f"--config.file={self.config}",
                    f"--storage.tsdb.path={self.workdir / 'data'}",
                    f"--web.listen-address={self.address}",
                    "--log.level=warn",
                ],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=self.workdir,
            )

        def ready() -> bool:
            if self.proc is not None and self.proc.poll() is not None:
                raise RuntimeError(f"prometheus exited with {self.proc.returncode}:\n{self.log_path.read_text()}")
            try:
                with urllib.request.urlopen(f"http://{self.address}/-/ready", timeout=2) as resp:
                    return resp.status == 200
            except OSError:
                return False

        wait_until(ready, PROMETHEUS_TIMEOUT, "prometheus /-/ready")
        return self

    def api(self, path: str, **params: str) -> Any:
        url = f"http://{self.address}/api/v1/{path}?{urllib.parse.urlencode(params)}"
        with urllib.request.urlopen(url, timeout=10) as resp:
            body = json.loads(resp.read())
        assert body["status"] == "success", body
        return body["data"]

    def query(self, expr: str, at: float | None = None) -> list[dict[str, Any]]:
        data = self.api("query", query=expr, **({"time": f"{at:.3f}"} if at is not None else {}))
        assert data["resultType"] in ("vector", "scalar"), data
        return data["result"] if data["resultType"] == "vector" else [data["result"]]

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def stop(self) -> None:
        if self.proc is not None:
            stop_process(self.proc)


def partners_issuer(down: int) -> str:
    return f"http://127.0.0.1:{down}/realms/partners"


def monitoring_config(issuer: KeycloakIssuer, down: int, max_bytes: int = 2 * CACHE_MAX_BYTES) -> str:
    realm = {"issuer": issuer.url, "audiences": ["zeebe-api"], "policy": str(DEFAULT_POLICY)}
    config = realms_config_yaml(
        [
            {"name": "camunda", **realm, "hosts": ["*"]},
            {"name": "rollout", **realm, "hosts": ["rollout.example"], "mode": "dry-run"},
            # Its Keycloak is down: no keys ever, fetch errors, keys_unavailable.
            {
                "name": "partners",
                "issuer": partners_issuer(down),
                "audiences": ["zeebe-api"],
                "policy": str(DEFAULT_POLICY),
                "hosts": ["partners.example"],
            },
        ],
        refetch_cooldown="200ms",
        fetch_timeout="500ms",
    )
    return config + f"token:\n  cache_max_bytes: {max_bytes}\n"


class Load:
    """Calls through Envoy until stopped: allowed, denied (several reasons), would-be denied in
    the dry-run realm, refused for want of keys; TOKENS distinct tokens in turn, each used twice in
    a row, so the small token cache evicts entries that were in use (hot)."""

    def __init__(self, envoy: Envoy, issuer: KeycloakIssuer, partners_issuer: str):
        self.envoy = envoy
        self.issuer = issuer
        self.partners_issuer = partners_issuer
        self.calls = 0
        self.stop = threading.Event()

    def run(self) -> None:
        writer = [self.issuer.mint(["write:*"], client_id=f"writer-{i}") for i in range(TOKENS)]
        # A token of the realm whose Keycloak is down: its keys are asked for, and missing.
        partner = self.issuer.mint(["write:*"], issuer=self.partners_issuer)
        reader = self.issuer.mint(["read:*"], client_id="reader")
        expired = self.issuer.mint(["write:*"], lifetime=-120)
        create = pb.CreateProcessInstanceRequest(bpmnProcessId="order-process", version=-1)
        channels = [
            grpc.insecure_channel(self.envoy.address, options=[("grpc.default_authority", host)])
            for host in ("zeebe.example", "rollout.example", "partners.example")
        ]
        try:
            zeebe, rollout, partners = (gateway_pb2_grpc.GatewayStub(c) for c in channels)
            while not self.stop.is_set():
                token = writer[self.calls // 8 % len(writer)]
                for _ in range(2):
                    invoke(zeebe.Topology, pb.TopologyRequest(), bearer(token))
                invoke(zeebe.CreateProcessInstance, create, bearer(reader))  # missing_permission
                invoke(zeebe.Topology, pb.TopologyRequest(), bearer(None))  # missing_token
                invoke(zeebe.Topology, pb.TopologyRequest(), bearer(expired))  # expired
                invoke(rollout.CreateProcessInstance, create, bearer(reader))  # dry-run deny
                invoke(rollout.Topology, pb.TopologyRequest(), bearer(reader))  # dry-run allow
                invoke(partners.Topology, pb.TopologyRequest(), bearer(partner))  # keys_unavailable
                self.calls += 8
        finally:
            for channel in channels:
                channel.close()


class Loaded:
    """The authorizer after the load, its Prometheus, its last scrape, when the load ended."""

    def __init__(self, authz: Authz, prometheus: Prometheus, scrape: str, end: float):
        self.authz = authz
        self.prometheus = prometheus
        self.scrape = scrape
        self.end = end


@pytest.fixture(scope="module")
def loaded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Loaded]:
    workdir = tmp_path_factory.mktemp("monitoring")
    issuer = KeycloakIssuer().start()
    gateway = StubGateway().start()
    try:
        down = closed_loopback_port()
        config = monitoring_config(issuer, down)
        authz = Authz(workdir / "authz", config, name="monitored", extra_args=("--reload-interval", "0s"))

        def start(p: Authz) -> None:
            p.start()
            p.wait_metric("zeebe_authz_realm_ready", 1, realm="camunda")
            p.wait_metric("zeebe_authz_realm_ready", 1, realm="rollout")

        with (
            running(authz, start),
            running(Envoy(workdir / "envoy", gateway.address, authz.check_addr)) as envoy,
            running(Prometheus(workdir / "prometheus", authz.admin_addr)) as prometheus,
        ):
            load = Load(envoy, issuer, partners_issuer(down))
            worker = threading.Thread(target=load.run, name="monitoring-load")
            worker.start()
            try:
                # During the load, a good reload (a smaller cache), then a broken one: the last
                # good config stays in force.
                authz.config_path.write_text(monitoring_config(issuer, down, max_bytes=CACHE_MAX_BYTES))
                authz.sighup()
                authz.wait_metric("zeebe_authz_config_generation", 2)
                authz.config_path.write_text(config.replace("realms:", "realms: [", 1))
                authz.sighup()
                authz.wait_metric("zeebe_authz_config_reloads_total", 1, result="error")
                # The small cache has pushed out tokens in use...
                authz.wait_metric("zeebe_authz_token_cache_evictions_total", 1, LOAD_TIMEOUT, at_least=True, queue="hot")
                # ...and Prometheus has scraped the load for long enough that every rate window
                # of the dashboard holds several samples of it.
                wait_until(
                    lambda: prometheus.query(f'count_over_time(zeebe_authz_check_duration_seconds_count{{job="{JOB}"}}[{RATE_WINDOW}]) >= 5'),
                    LOAD_TIMEOUT,
                    "prometheus scraped the load 5 times",
                )
            finally:
                load.stop.set()
                worker.join()
            end = time.time()
            scrape = authz.admin_get("/metrics")
            # Prometheus has scraped the load's end: its count of decisions is the last one.
            final = sum(v for n, _, v in authz.metrics() if n == "zeebe_authz_decisions_total")

            def scraped_all() -> bool:
                result = prometheus.query(f'sum(zeebe_authz_decisions_total{{job="{JOB}"}})')
                return bool(result) and float(result[0]["value"][1]) >= final

            wait_until(scraped_all, PROMETHEUS_TIMEOUT, "prometheus scraped the load's last decisions")
            yield Loaded(authz, prometheus, scrape, end)
    finally:
        gateway.stop()
        issuer.stop()


# The families of the scrape: sample name -> label name -> values seen.
def scrape_families(text: str) -> dict[str, dict[str, set[str]]]:
    families: dict[str, dict[str, set[str]]] = {}
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split(" ", 3)
            suffixes = {"counter": ["_total"], "histogram": ["_bucket", "_sum", "_count"]}.get(kind, [""])
            for suffix in suffixes:
                families.setdefault(name + suffix, {})
        elif line and not line.startswith("#"):
            match = re.match(r"([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? ", line)
            assert match, line
            labels = families.setdefault(match.group(1), {})
            for key, value in re.findall(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"', match.group(3) or ""):
                labels.setdefault(key, set()).add(value)
    return families


def selectors(node: Any) -> Iterator[tuple[str, list[dict[str, str]], set[str]]]:
    """(metric name, matchers, label names the expression groups or matches on) for every
    vector selector of a parse_query tree."""
    if isinstance(node, dict):
        # Prometheus 3.16's tree has a matrix selector's name and matchers on the node itself.
        if node.get("type") in ("vectorSelector", "matrixSelector") and "matchers" in node:
            yield node["name"], node["matchers"], set()
        grouping = set(node.get("grouping") or [])
        matching = set((node.get("matching") or {}).get("labels") or [])
        for value in node.values():
            for name, matchers, labels in selectors(value):
                yield name, matchers, labels | grouping | matching
    elif isinstance(node, list):
        for value in node:
            yield from selectors(value)


def rust_source_literals() -> set[str]:
    """String literals of the crates' non-test code: a label value only a test spells (a
    reason renamed in the code but not in a test) must not count as one the binary emits.
    Test modules are the `tests.rs`/`tests/` files and a file's `#[cfg(test)] mod tests`."""
    out: set[str] = set()
    for path in REPO_ROOT.glob("**/src/**/*.rs"):
        parts = path.relative_to(REPO_ROOT).parts
        if "target" in parts or "tests" in parts or path.name == "tests.rs":
            continue
        text = re.split(r"#\[cfg\(test\)\]\s*mod tests\b", path.read_text(), maxsplit=1)[0]
        out.update(re.findall(r'"([a-z0-9_.+\-() ]+)"', text))
    return out


def exprs_in_use() -> list[tuple[str, str]]:
    """(where, PromQL) for every rule, every dashboard query, every unit-test input series."""
    out = [(f"rule {r['alert']}", r["expr"]) for r in alert_rules()]
    out += [(f"dashboard query {i}", substituted(e)) for i, e in enumerate(dashboard_exprs())]
    for case in yaml.safe_load(ALERTS_TEST.read_text())["tests"]:
        out += [(f"test series of '{case['name']}'", s["series"]) for s in case["input_series"]]
    return out


def as_text_format(openmetrics: str) -> str:
    """The scrape (OpenMetrics, what the authorizer serves and Prometheus asks for first) in the
    Prometheus text format 0.0.4, the only one `promtool check metrics` reads: a counter's
    HELP and TYPE name its samples' `_total` name, and the UNIT and EOF lines go. Nothing else
    changes."""
    kinds = dict(line.split(" ")[2:4] for line in openmetrics.splitlines() if line.startswith("# TYPE "))
    out = []
    for line in openmetrics.splitlines():
        if line == "# EOF" or line.startswith("# UNIT "):
            continue
        if line.startswith(("# HELP ", "# TYPE ")):
            parts = line.split(" ", 3)
            if kinds[parts[2]] == "counter":
                parts[2] += "_total"
            line = " ".join(parts)
        out.append(line)
    return "\n".join(out) + "\n"


def test_promtool_check_metrics_passes_on_a_real_scrape(loaded: Loaded) -> None:
    result = promtool("check", "metrics", input=as_text_format(loaded.scrape))
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip() == "" and result.stderr.strip() == "", result.stdout + result.stderr
    # It can fail: read as the text format, the OpenMetrics counters have no help text.
    raw = promtool("check", "metrics", input=loaded.scrape)
    assert raw.returncode != 0 and "zeebe_authz_decisions_total no help text" in raw.stdout + raw.stderr


def test_the_scrape_has_every_metric_label_and_value_in_use(loaded: Loaded) -> None:
    families = scrape_families(loaded.scrape)
    literals = rust_source_literals()
    problems = []
    checked = 0
    for where, expr in exprs_in_use():
        tree = loaded.prometheus.api("parse_query", query=expr)
        for name, matchers, grouped in selectors(tree):
            checked += 1
            if name not in families:
                problems.append(f"{where}: metric {name} is not in the scrape")
                continue
            labels = families[name]
            for label in grouped - TARGET_LABELS:
                if label not in labels:
                    problems.append(f"{where}: groups {name} by {label}, which it does not have in the scrape")
            for m in matchers:
                key, value = m["name"], m["value"]
                if key == "__name__" or key in TARGET_LABELS:
                    continue
                if key not in labels:
                    problems.append(f"{where}: {name} has no label {key} in the scrape")
                    continue
                values = value.split("|") if m["type"] in ("=~", "!~") else [value]
                for v in values:
                    if re.fullmatch(r"[\w.+\-() ]*", v) is None or v in labels[key]:
                        continue  # a pattern (.*), or a value the scrape has
                    if v not in literals:
                        problems.append(f"{where}: {name}{{{key}={v!r}}} is neither in the scrape nor in the Rust source")
    assert problems == [], "\n".join(problems)
    assert checked >= 60


def test_a_renamed_metric_is_caught(loaded: Loaded) -> None:
    """The check above can fail: a scrape without one metric the rules use does."""
    families = scrape_families(loaded.scrape.replace("zeebe_authz_realm_ready", "zeebe_authz_realm_is_ready"))
    assert "zeebe_authz_realm_ready" not in families
    assert "zeebe_authz_realm_ready" in {n for _, e in exprs_in_use() for n, _, _ in selectors(loaded.prometheus.api("parse_query", query=e))}


def test_the_load_produced_what_the_dashboard_shows(loaded: Loaded) -> None:
    """The load is what the dashboard is tested on: it must reach each kind of decision."""
    m = loaded.authz.metric
    assert m("zeebe_authz_realm_decisions_total", realm="camunda", result="allow", mode="enforce") > 0
    assert m("zeebe_authz_realm_decisions_total", realm="rollout", result="deny", mode="dry-run") > 0
    assert m("zeebe_authz_realm_decisions_total", realm="partners", result="deny", mode="enforce") > 0
    assert m("zeebe_authz_realm_ready", realm="partners") == 0
    assert m("zeebe_authz_token_cache_evictions_total", queue="hot") > 0
    assert m("zeebe_authz_config_last_reload_successful") == 0
    assert m("zeebe_authz_config_generation") == 2
    assert m("zeebe_authz_token_cache_max_bytes") == CACHE_MAX_BYTES
    assert m("zeebe_authz_jwks_keys_max_age_seconds", realm="camunda") == 12 * 3600
    assert 0 <= m("zeebe_authz_jwks_keys_age_seconds", realm="camunda") < 300


def test_every_rule_loads_into_prometheus_healthy(loaded: Loaded) -> None:
    groups = loaded.prometheus.api("rules", type="alert")["groups"]
    rules = [r for g in groups for r in g["rules"]]
    assert sorted(r["name"] for r in rules) == sorted(r["alert"] for r in alert_rules())
    # Evaluated at least once, without error.
    wait_until(
        lambda: all(r.get("lastEvaluation", "").startswith("2") and r["health"] == "ok" for g in loaded.prometheus.api("rules", type="alert")["groups"] for r in g["rules"]),
        PROMETHEUS_TIMEOUT,
        "every rule evaluated healthy",
    )


@pytest.mark.parametrize("index", range(len(dashboard_exprs())))
def test_every_dashboard_query_returns_data(loaded: Loaded, index: int) -> None:
    """Evaluated when the load ended (its rate windows hold the load): some series, and a
    number in at least one of them (not only NaN, as a ratio of nothing would give)."""
    expr = substituted(dashboard_exprs()[index])
    result = loaded.prometheus.query(expr, at=loaded.end)
    assert result, f"no data for {expr}"
    values = [float(r["value"][1]) for r in result]
    assert any(v == v for v in values), f"only NaN for {expr}: {result}"


def test_dashboard_variables_have_values(loaded: Loaded) -> None:
    """The variables' label_values() queries, as Grafana asks them (the series API)."""
    variables = {v["name"]: v for v in json.loads(DASHBOARD.read_text())["templating"]["list"]}
    for name in ("job", "realm"):
        query = variables[name]["query"]["query"]
        match = re.fullmatch(r"label_values\((.+), (\w+)\)", query)
        assert match, query
        selector, label = substituted(match.group(1)), match.group(2)
        values = loaded.prometheus.api(f"label/{label}/values", **{"match[]": selector})
        assert values, f"{name}: no values for {query}"
    assert sorted(loaded.prometheus.api("label/realm/values", **{"match[]": "zeebe_authz_realm_ready"})) == ["camunda", "partners", "rollout"]
