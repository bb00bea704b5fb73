"""The Helm chart (charts/zeebe-authz), offline: `helm lint` and `helm template` with the real Helm
CLI (v4, built from its Go module by scripts/tools into .tools/bin), every rendered object against
Kubernetes' schemas (kubernetes-validate, strict) for the oldest and newest Kubernetes the chart
claims, the prometheus-operator objects against their CRD schemas, the Istio objects against
Istio's CRD schemas (../shared/tools/validate-istio), the chart against `zeebe-authz istio` (the
same ConfigMap and the same Istio objects from the same config), the alerting rules and the
dashboard as the chart ships them against their files, and the rendered config served by
`zeebe-authz serve` against loopback issuers.
"""

from __future__ import annotations

import copy
import json
import os
import subprocess
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import yaml

from support.authz import REPO_ROOT, Authz, find_binary
from support.issuer import KeycloakIssuer
from support.process import running
from support.tools import find_tool

CHART = REPO_ROOT / "charts" / "zeebe-authz"
EXAMPLES = CHART / "examples"
# The oldest Kubernetes of Chart.yaml's kubeVersion, and the newest kubernetes-validate ships.
KUBE_VERSIONS = ("1.29.0", kubernetes_validate.utils.latest_version())
RELEASE = "zeebe-authz"
NAMESPACE = "camunda"
ISTIO_GROUPS = ("security.istio.io/", "telemetry.istio.io/", "gateway.networking.k8s.io/")
SHARED = Path(os.environ.get("ZEEBE_AUTHZ_SHARED", REPO_ROOT.parent / "shared"))
VALIDATE_ISTIO = SHARED / "tools" / "validate-istio"
MONITORING_API = "monitoring.coreos.com/v1"
ALERTS = CHART / "files" / "alerts.yaml"
DASHBOARD = CHART / "files" / "dashboard.json"


class HelmError(RuntimeError):
    """`helm` exited with an error; the message is its stderr."""


def strict(schema: Any) -> Any:
    """A CRD's structural schema as kubectl's strict field validation applies it: every object
    that does not say what other properties it takes takes none (and its patterns in Python's
    dialect)."""
    if isinstance(schema, dict):
        out = {k: strict(v) for k, v in schema.items()}
        # Go's regexp takes a flag group anywhere; Python's only at the start.
        if isinstance(out.get("pattern"), str) and out["pattern"].startswith("^(?i)"):
            out["pattern"] = "(?i)^" + out["pattern"][len("^(?i)") :]
        if out.get("type") == "object" and "properties" in out and "additionalProperties" not in out:
            out["additionalProperties"] = False
        return out
    if isinstance(schema, list):
        return [strict(v) for v in schema]
    return schema


# The prometheus-operator's own CRD schema (tests/e2e/data: its source and licence).
PROMETHEUS_RULE_SCHEMA = strict(
    yaml.safe_load((Path(__file__).parent / "data" / "prometheusrule-v1.schema.yaml").read_text())
)

# Everything optional switched on: autoscaling (so a PDB too), a ServiceMonitor, a
# NetworkPolicy, a CA bundle from a Secret, policies from an existing ConfigMap.
EVERYTHING = {
    "autoscaling": {"enabled": True, "minReplicas": 2, "maxReplicas": 4},
    "serviceMonitor": {"enabled": True, "labels": {"release": "prometheus"}},
    "networkPolicy": {"enabled": True},
    "jwks": {"caBundle": {"secretName": "keycloak-ca", "key": "ca.crt"}},
    "policiesConfigMap": "zeebe-authz-extra-policies",
    "logLevel": "info,zeebe_authz=debug",
}

# The alerting rules (a PrometheusRule) and the Grafana dashboard (a ConfigMap), both off by
# default.
MONITORING_ON = {
    "serviceMonitor": {"enabled": True},
    "prometheusRule": {"enabled": True, "labels": {"release": "prometheus"}},
    "grafanaDashboard": {"enabled": True, "annotations": {"grafana_folder": "Camunda"}},
}

# The part of the prometheus-operator ServiceMonitor API (monitoring.coreos.com/v1) the chart
# writes, strict: kubernetes-validate has no schemas for CRDs.
SERVICE_MONITOR_SCHEMA = {
    "type": "object",
    "additionalProperties": False,
    "required": ["apiVersion", "kind", "metadata", "spec"],
    "properties": {
        "apiVersion": {"const": "monitoring.coreos.com/v1"},
        "kind": {"const": "ServiceMonitor"},
        "metadata": {"type": "object"},
        "spec": {
            "type": "object",
            "additionalProperties": False,
            "required": ["selector", "endpoints"],
            "properties": {
                "selector": {
                    "type": "object",
                    "additionalProperties": False,
                    "properties": {"matchLabels": {"type": "object", "additionalProperties": {"type": "string"}}},
                },
                "endpoints": {
                    "type": "array",
                    "minItems": 1,
                    "items": {
                        "type": "object",
                        "additionalProperties": False,
                        "required": ["port"],
                        "properties": {
                            "port": {"type": "string"},
                            "path": {"type": "string"},
                            "interval": {"type": "string", "pattern": "^(0|(([0-9]+)h)?(([0-9]+)m)?(([0-9]+)s)?(([0-9]+)ms)?)$"},
                            "scrapeTimeout": {"type": "string", "pattern": "^(0|(([0-9]+)h)?(([0-9]+)m)?(([0-9]+)s)?(([0-9]+)ms)?)$"},
                        },
                    },
                },
            },
        },
    },
}


def load_values(name: str) -> dict[str, Any]:
    return yaml.safe_load((EXAMPLES / name).read_text())


def merged(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(base)
    for k, v in extra.items():
        out[k] = merged(out.get(k) or {}, v) if isinstance(v, dict) else v
    return out


CASES = {
    "defaults": lambda: {},
    "multi-realm-sidecar": lambda: load_values("multi-realm-sidecar.yaml"),
    "multi-realm-ambient": lambda: load_values("multi-realm-ambient.yaml"),
    "everything": lambda: EVERYTHING,
    "monitoring": lambda: MONITORING_ON,
}


def helm(*args: str, values: dict[str, Any] | None = None) -> str:
    """Runs the pinned Helm CLI with `values` on its standard input (`-f -`; JSON is YAML);
    its stdout, or HelmError with its stderr."""
    result = subprocess.run(
        [str(find_tool("helm")), *args, "-f", "-"],
        input=json.dumps(values or {}),
        capture_output=True,
        text=True,
    )
    if result.returncode != 0:
        raise HelmError(result.stderr + result.stdout)
    return result.stdout


def render(
    values: dict[str, Any] | None = None,
    *,
    kube_version: str = KUBE_VERSIONS[-1],
    api_versions: tuple[str, ...] = (),
    namespace: str = NAMESPACE,
    release: str = RELEASE,
) -> list[dict[str, Any]]:
    """`helm template` as objects, in the order of their templates' paths (Helm prints them
    in its install order, by kind), each template's objects in the order it writes them."""
    args = ["template", release, str(CHART), "--namespace", namespace, "--kube-version", f"v{kube_version}"]
    for api in api_versions:
        args += ["--api-versions", api]
    sourced = []
    for i, text in enumerate(helm(*args, values=values).split("\n---\n")):
        source = next((line[len("# Source: ") :] for line in text.splitlines() if line.startswith("# Source: ")), "")
        sourced.extend((source, i, d) for d in yaml.safe_load_all(text) if d)
    return [d for _, _, d in sorted(sourced, key=lambda t: t[:2])]


def by_kind(docs: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [d for d in docs if d["kind"] == kind]


def generate_values(tmp_path: Path, config: Path, mode: str, *extra: str) -> dict[str, Any]:
    out = tmp_path / f"values-{mode}.yaml"
    subprocess.run(
        [str(find_binary()), "istio", "--config", str(config), "--mode", mode, "--helm-values", str(out), *extra],
        check=True,
        capture_output=True,
    )
    return yaml.safe_load(out.read_text())


def generate_manifests(tmp_path: Path, config: Path, mode: str) -> list[dict[str, Any]]:
    out = tmp_path / "istio"
    subprocess.run(
        [str(find_binary()), "istio", "--config", str(config), "--mode", mode, "--out", str(out)],
        check=True,
        capture_output=True,
    )
    docs = []
    for name in ("waypoint.yaml", "authorizer.yaml", "request-authentication.yaml", "authorization-policy.yaml", "telemetry.yaml"):
        path = out / mode / name
        if path.exists():
            docs.extend(d for d in yaml.safe_load_all(path.read_text()) if d)
    return docs


def without_chart_labels(obj: dict[str, Any]) -> dict[str, Any]:
    obj = copy.deepcopy(obj)
    labels = obj["metadata"].get("labels", {})
    for key in ("helm.sh/chart", "app.kubernetes.io/managed-by", "app.kubernetes.io/instance", "app.kubernetes.io/name", "app.kubernetes.io/version"):
        labels.pop(key, None)
    return obj


# ---- helm lint and helm template -------------------------------------------------------


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("kube_version", KUBE_VERSIONS)
def test_helm_lint_is_clean(case: str, kube_version: str) -> None:
    """`helm lint --strict`: no error and no warning (INFO notes, like a missing icon, pass)."""
    out = helm("lint", str(CHART), "--strict", "--namespace", NAMESPACE, "--kube-version", f"v{kube_version}", values=CASES[case]())
    assert "1 chart(s) linted, 0 chart(s) failed" in out, out
    assert "[WARNING]" not in out and "[ERROR]" not in out, out


def test_helm_lint_fails_on_values_that_render_broken_yaml() -> None:
    """The lint above can fail: labels that are not a map make a template write invalid YAML.
    (A template's `fail` is not one: Helm lints in lint mode, where `fail` only logs; `helm
    template` refuses such values, tested below.)"""
    with pytest.raises(HelmError, match=r"templates/dashboard.yaml: unable to parse YAML"):
        helm("lint", str(CHART), "--strict", "--namespace", NAMESPACE, values={"grafanaDashboard": {"enabled": True, "labels": "oops"}})


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("kube_version", KUBE_VERSIONS)
def test_every_rendered_object_validates(case: str, kube_version: str) -> None:
    docs = render(CASES[case](), kube_version=kube_version, api_versions=("monitoring.coreos.com/v1",))
    kinds = set()
    for doc in docs:
        kinds.add(doc["kind"])
        if doc["apiVersion"].startswith(ISTIO_GROUPS):
            continue  # below, against Istio's CRDs
        if doc["kind"] == "ServiceMonitor":
            jsonschema.validate(doc, SERVICE_MONITOR_SCHEMA)
            continue
        if doc["kind"] == "PrometheusRule":
            jsonschema.validate(doc, PROMETHEUS_RULE_SCHEMA)
            continue
        kubernetes_validate.validate(doc, kube_version, strict=True)
    assert {"ServiceAccount", "ConfigMap", "Service", "Deployment", "PodDisruptionBudget"} <= kinds
    if case == "everything":
        assert {"HorizontalPodAutoscaler", "ServiceMonitor", "NetworkPolicy"} <= kinds
    if case == "monitoring":
        assert {"ServiceMonitor", "PrometheusRule"} <= kinds
        assert len(by_kind(docs, "ConfigMap")) == 2


@pytest.mark.parametrize("case", ["multi-realm-sidecar", "multi-realm-ambient"])
def test_istio_objects_validate_against_istio_crds(case: str, tmp_path: Path) -> None:
    if not VALIDATE_ISTIO.exists():
        if os.environ.get("CI") == "true":
            pytest.fail(f"{VALIDATE_ISTIO} is missing (set ZEEBE_AUTHZ_SHARED to the shared folder)")
        pytest.skip(f"{VALIDATE_ISTIO} not found (set ZEEBE_AUTHZ_SHARED)")
    docs = [d for d in render(CASES[case]()) if d["apiVersion"].startswith("security.istio.io/")]
    path = tmp_path / "istio.yaml"
    path.write_text(yaml.safe_dump_all(docs))
    result = subprocess.run([os.sys.executable, str(VALIDATE_ISTIO), str(path)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"{len(docs)} objects checked, 0 problems" in result.stdout
    assert len(docs) >= 5


# ---- one source of truth with `zeebe-authz istio` ---------------------------------------


@pytest.mark.parametrize("config", ["config.yaml", "multi-realm.yaml"])
@pytest.mark.parametrize("mode", ["sidecar", "ambient"])
def test_chart_renders_what_zeebe_authz_istio_generates(config: str, mode: str, tmp_path: Path) -> None:
    """From one config: the chart with the values `istio --helm-values` writes renders the same
    ConfigMap (config and policies) and the same Istio objects as `istio --out` generates."""
    source = REPO_ROOT / "examples" / config
    chart = render(generate_values(tmp_path, source, mode))
    generated = generate_manifests(tmp_path, source, mode)

    def istio(docs):
        # In kind and name order: Helm prints one template's objects in its install order.
        objects = [without_chart_labels(d) for d in docs if d["apiVersion"].startswith(ISTIO_GROUPS)]
        return sorted(objects, key=lambda d: (d["kind"], d["metadata"]["name"]))

    assert istio(chart) == istio(generated)
    assert len(istio(chart)) >= 4

    [chart_cm] = by_kind(chart, "ConfigMap")
    [generated_cm] = by_kind(generated, "ConfigMap")
    assert chart_cm["data"].keys() == generated_cm["data"].keys()
    for key, text in generated_cm["data"].items():
        if key == "config.yaml":
            assert yaml.safe_load(chart_cm["data"][key]) == yaml.safe_load(text)
        else:
            assert chart_cm["data"][key] == text, key


def test_default_values_are_the_example_config(tmp_path: Path) -> None:
    """values.yaml's realms, policies and jwks are examples/config.yaml with the default policy."""
    [chart_cm] = by_kind(render(), "ConfigMap")
    [generated_cm] = by_kind(generate_manifests(tmp_path, REPO_ROOT / "examples" / "config.yaml", "sidecar"), "ConfigMap")
    assert yaml.safe_load(chart_cm["data"]["config.yaml"]) == yaml.safe_load(generated_cm["data"]["config.yaml"])
    assert chart_cm["data"]["policy-default.yaml"] == (REPO_ROOT / "policies" / "default.yaml").read_text()


def test_the_chart_refuses_istio_objects_of_other_values() -> None:
    values = load_values("multi-realm-sidecar.yaml")
    assert render(values)  # as generated: renders

    edited = copy.deepcopy(values)
    edited["realms"][0]["hosts"].append("zeebe-new.example.com")
    with pytest.raises(HelmError, match="sourceSha256"):
        render(edited)
    edited = copy.deepcopy(values)
    edited["policies"][0]["text"] += "# a comment\n"
    with pytest.raises(HelmError, match="regenerate"):
        render(edited)
    with pytest.raises(HelmError, match="namespace"):
        render(values, namespace="elsewhere")
    with pytest.raises(HelmError, match="fullnameOverride"):
        render({**values, "fullnameOverride": "authz"})


# ---- production defaults ------------------------------------------------------------------


def test_production_defaults() -> None:
    docs = render()
    [deployment] = by_kind(docs, "Deployment")
    pod = deployment["spec"]["template"]["spec"]
    [container] = pod["containers"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert container["securityContext"]["allowPrivilegeEscalation"] is False
    assert container["securityContext"]["capabilities"] == {"drop": ["ALL"]}
    assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "admin"}
    assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "admin"}
    assert {c["topologyKey"] for c in pod["topologySpreadConstraints"]} >= {"kubernetes.io/hostname"}
    [service] = by_kind(docs, "Service")
    assert {p["name"]: p.get("appProtocol") for p in service["spec"]["ports"]}["grpc"] == "grpc"
    [pdb] = by_kind(docs, "PodDisruptionBudget")
    assert pdb["spec"]["minAvailable"] == 1
    assert by_kind(render({"replicaCount": 1}), "PodDisruptionBudget") == []
    assert by_kind(docs, "HorizontalPodAutoscaler") == []
    [hpa] = by_kind(render({"autoscaling": {"enabled": True}}), "HorizontalPodAutoscaler")
    assert hpa["apiVersion"] == "autoscaling/v2"


def test_service_monitor_only_where_the_prometheus_operator_api_exists() -> None:
    values = {"serviceMonitor": {"enabled": True}}
    assert by_kind(render(values), "ServiceMonitor") == []
    [monitor] = by_kind(render(values, api_versions=("monitoring.coreos.com/v1",)), "ServiceMonitor")
    assert monitor["spec"]["endpoints"][0]["port"] == "http-admin"
    assert by_kind(render(api_versions=("monitoring.coreos.com/v1",)), "ServiceMonitor") == []


def test_network_policy_admits_proxies_to_check_and_scrapers_to_metrics() -> None:
    [policy] = by_kind(render({"networkPolicy": {"enabled": True}}), "NetworkPolicy")
    check, metrics = policy["spec"]["ingress"]
    assert check["ports"] == [{"port": "grpc", "protocol": "TCP"}]
    assert check["from"] == [{"podSelector": {"matchLabels": {"app.kubernetes.io/component": "zeebe-gateway"}}}]
    assert metrics["ports"] == [{"port": "admin", "protocol": "TCP"}]


def test_config_changes_do_not_roll_pods_but_listen_ports_and_server_settings_do() -> None:
    """Hot reload applies config, policies and the CA bundle: the pod template stays the same;
    the listen ports and `server:` (read once by the accept loop), which need a restart,
    change it."""
    base = render()
    [deployment] = by_kind(base, "Deployment")
    changed = render(
        {
            "realms": [{**load_values("multi-realm-sidecar.yaml")["realms"][1], "policy": "policy-default.yaml"}],
            "token": {"leeway": "5s"},
            "identityHeaders": {"send": "none"},
            "jwks": {"caBundle": {"inline": "-----BEGIN CERTIFICATE-----\n-----END CERTIFICATE-----\n"}},
        }
    )
    assert by_kind(changed, "ConfigMap") != by_kind(base, "ConfigMap")
    assert by_kind(changed, "Deployment") == [deployment]
    [moved] = by_kind(render({"ports": {"check": 9100}}), "Deployment")
    key = "zeebe-authz/restart-checksum"
    assert moved["spec"]["template"]["metadata"]["annotations"][key] != deployment["spec"]["template"]["metadata"]["annotations"][key]
    [capped] = by_kind(render({"server": {"maxConnections": 100}}), "Deployment")
    assert capped["spec"]["template"]["metadata"]["annotations"][key] != deployment["spec"]["template"]["metadata"]["annotations"][key]


def test_answer_settings_reach_the_config_and_a_wrong_one_is_refused() -> None:
    """`identityHeaders.send` and `dynamicMetadata.send` become the config's `send` settings;
    left empty, the config has neither and the binary's defaults apply."""
    [cm] = by_kind(render(), "ConfigMap")
    config = yaml.safe_load(cm["data"]["config.yaml"])
    assert "identity_headers" not in config and "dynamic_metadata" not in config, config
    [cm] = by_kind(render({"identityHeaders": {"send": "all"}, "dynamicMetadata": {"send": "all"}}), "ConfigMap")
    config = yaml.safe_load(cm["data"]["config.yaml"])
    assert config["identity_headers"] == {"send": "all"} and config["dynamic_metadata"] == {"send": "all"}, config
    with pytest.raises(HelmError, match="dynamicMetadata.send must be all, denies or none"):
        render({"dynamicMetadata": {"send": "allows"}})


def test_rest_base_path_reaches_the_config() -> None:
    """`realms[].restBasePath` (the Camunda chart's context path, then /v2) is the realm's
    `rest_base_path`; left out, the config has none and the binary's `/v2` applies. Istio's
    objects do not depend on it (the authorizer decides every call on the REST port)."""
    realm = yaml.safe_load((CHART / "values.yaml").read_text())["realms"][0]
    [cm] = by_kind(render(), "ConfigMap")
    assert "rest_base_path" not in yaml.safe_load(cm["data"]["config.yaml"])["realms"][0]
    [cm] = by_kind(render({"realms": [{**realm, "restBasePath": "/orchestration/v2"}]}), "ConfigMap")
    assert yaml.safe_load(cm["data"]["config.yaml"])["realms"][0]["rest_base_path"] == "/orchestration/v2"
    with pytest.raises(HelmError, match="unknown key"):
        render({"realms": [{**realm, "restBasePathh": "/v2"}]})


def test_hardening_settings_reach_the_config_and_lint_accepts_them(tmp_path: Path) -> None:
    """The chart lacked issue 21's settings: `server:` (connection cap, header and idle
    timeouts, keepalive) and the realms' `tokenType` and `engineAuthorizations` could not be
    set from values. Each reaches the config under the binary's name, lint accepts the result,
    and a wrong value is refused at render time."""
    realm = {"name": "camunda", "issuer": "https://keycloak.example.com/auth/realms/camunda-platform",
             "audiences": ["zeebe-api"], "hosts": ["zeebe.example.com"], "policy": "policy-default.yaml",
             "tokenType": "optional", "engineAuthorizations": True}
    server = {"maxConnections": 500, "headerTimeout": "5s", "idleTimeout": "2m", "keepaliveInterval": "30s",
              "keepaliveTimeout": "10s"}
    values = {"realms": [realm], "server": server}
    docs = render(values)
    [cm] = by_kind(docs, "ConfigMap")
    config = yaml.safe_load(cm["data"]["config.yaml"])
    assert config["server"] == {"max_connections": 500, "header_timeout": "5s", "idle_timeout": "2m",
                                "keepalive_interval": "30s", "keepalive_timeout": "10s"}, config
    assert config["realms"][0]["token_type"] == "optional" and config["realms"][0]["engine_authorizations"] is True
    [cm] = by_kind(render(), "ConfigMap")
    assert "server" not in yaml.safe_load(cm["data"]["config.yaml"])
    path = write_config_map(docs, tmp_path / "etc")
    result = subprocess.run([str(find_binary()), "lint", str(path)], capture_output=True, text=True)
    # tokenType: optional is lint's one warning (exit 1), not an error.
    assert result.returncode == 1 and "0 error(s), 1 warning(s)" in result.stderr, result.stdout + result.stderr
    assert "realms[0].token_type" in result.stdout, result.stdout
    with pytest.raises(HelmError, match="tokenType must be required or optional"):
        render({**values, "realms": [{**realm, "tokenType": "bearer"}]})
    with pytest.raises(HelmError, match="engineAuthorizations must be true or false"):
        render({**values, "realms": [{**realm, "engineAuthorizations": "yes"}]})


def test_ca_bundle_and_policies_from_existing_objects_are_projected_beside_the_config() -> None:
    docs = render(EVERYTHING, api_versions=("monitoring.coreos.com/v1",))
    [deployment] = by_kind(docs, "Deployment")
    [volume] = deployment["spec"]["template"]["spec"]["volumes"]
    sources = volume["projected"]["sources"]
    assert {"configMap": {"name": "zeebe-authz-extra-policies"}} in sources
    assert {"secret": {"name": "keycloak-ca", "items": [{"key": "ca.crt", "path": "ca-bundle.pem"}]}} in sources
    [cm] = by_kind(docs, "ConfigMap")
    assert yaml.safe_load(cm["data"]["config.yaml"])["jwks"]["ca_bundle"] == "ca-bundle.pem"
    with pytest.raises(HelmError, match="at most one"):
        render({"jwks": {"caBundle": {"secretName": "a", "configMapName": "b"}}})
    with pytest.raises(HelmError, match="not the name of one of policies"):
        render({"realms": [{**load_values("multi-realm-sidecar.yaml")["realms"][0], "policy": "missing.yaml"}]})


# ---- the rendered config runs -----------------------------------------------------------


def write_config_map(docs: list[dict[str, Any]], folder: Path) -> Path:
    [cm] = by_kind(docs, "ConfigMap")
    folder.mkdir(parents=True, exist_ok=True)
    for key, text in cm["data"].items():
        (folder / key).write_text(text)
    return folder / "config.yaml"


@pytest.mark.parametrize("case", ["defaults", "multi-realm-sidecar"])
def test_rendered_config_passes_lint(case: str, tmp_path: Path) -> None:
    config = write_config_map(render(CASES[case]()), tmp_path / "etc")
    result = subprocess.run([str(find_binary()), "lint", str(config)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("case", ["defaults", "multi-realm-sidecar"])
def test_serve_starts_on_the_rendered_config(case: str, tmp_path: Path) -> None:
    """The chart's ConfigMap, with each realm's issuer (and jwksUri) pointed at a loopback
    Keycloak-shaped issuer and ephemeral ports: `serve` starts and gets ready (it holds every
    realm's keys)."""
    values = copy.deepcopy(CASES[case]()) or {"realms": yaml.safe_load((CHART / "values.yaml").read_text())["realms"]}
    issuers = [KeycloakIssuer(realm=r["name"]).start() for r in values["realms"]]
    try:
        for realm, issuer in zip(values["realms"], issuers):
            realm["issuer"] = issuer.url
            if realm.get("jwksUri"):
                realm["jwksUri"] = issuer.url + "/protocol/openid-connect/certs"
        values["istio"] = {"enabled": False}
        values["ports"] = {"check": 0, "admin": 0}
        config = write_config_map(render(values), tmp_path / "etc")
        assert yaml.safe_load(config.read_text())["listen"] == {"check": "0.0.0.0:0", "admin": "0.0.0.0:0"}
        proc = Authz(tmp_path, config.read_text(), name=f"chart-{case}", config_path=config)

        def start(p: Authz) -> None:
            p.start()
            # Bound on every interface; probe it on loopback.
            p.admin_addr = p.admin_addr.replace("0.0.0.0", "127.0.0.1")
            p.wait_ready()

        with running(proc, start):
            assert proc.admin_status("/readyz") == 200
            assert all(any(path.endswith("/certs") for path in i.requests) for i in issuers)
    finally:
        for issuer in issuers:
            issuer.stop()


# ---- alerts and dashboard ---------------------------------------------------------------


def identities(docs: list[dict[str, Any]]) -> list[tuple[str, str]]:
    return sorted((d["kind"], d["metadata"]["name"]) for d in docs)


def test_alerts_and_dashboard_are_not_rendered_unless_asked() -> None:
    """Off by default: the defaults render exactly what they render with both toggles off, and
    neither a PrometheusRule nor a second ConfigMap."""
    apis = (MONITORING_API,)
    default = render(api_versions=apis)
    off = render({"prometheusRule": {"enabled": False}, "grafanaDashboard": {"enabled": False}}, api_versions=apis)
    assert default == off
    assert by_kind(default, "PrometheusRule") == []
    assert [cm["metadata"]["name"] for cm in by_kind(default, "ConfigMap")] == ["zeebe-authz"]
    on = render(MONITORING_ON, api_versions=apis)
    assert set(identities(on)) - set(identities(default)) == {
        ("ServiceMonitor", "zeebe-authz"),
        ("PrometheusRule", "zeebe-authz"),
        ("ConfigMap", "zeebe-authz-dashboard"),
    }


def test_prometheus_rule_is_the_rules_file_and_needs_the_operator_api() -> None:
    assert by_kind(render(MONITORING_ON), "PrometheusRule") == []
    [rule] = by_kind(render(MONITORING_ON, api_versions=(MONITORING_API,)), "PrometheusRule")
    jsonschema.validate(rule, PROMETHEUS_RULE_SCHEMA)
    assert rule["metadata"]["namespace"] == NAMESPACE
    assert rule["metadata"]["labels"]["release"] == "prometheus"
    assert rule["spec"] == yaml.safe_load(ALERTS.read_text())
    alerts = [r["alert"] for g in rule["spec"]["groups"] for r in g["rules"]]
    assert len(alerts) == len(set(alerts)) >= 10
    # Prometheus's templates reach the PrometheusRule as written, not consumed by Helm.
    assert all("{{ $labels.instance }}" in str(r["annotations"]) or "{{ $labels.job }}" in str(r["annotations"]) for g in rule["spec"]["groups"] for r in g["rules"])


def test_the_strict_rule_schema_refuses_a_misspelled_field() -> None:
    """The validation above can fail: the operator would drop `expression`, kubectl --strict
    refuses it, and so does the schema."""
    [rule] = by_kind(render(MONITORING_ON, api_versions=(MONITORING_API,)), "PrometheusRule")
    broken = copy.deepcopy(rule)
    broken["spec"]["groups"][0]["rules"][0]["expression"] = broken["spec"]["groups"][0]["rules"][0].pop("expr")
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(broken, PROMETHEUS_RULE_SCHEMA)


@pytest.mark.parametrize("kube_version", KUBE_VERSIONS)
def test_dashboard_config_map_is_the_dashboard_for_grafanas_sidecar(kube_version: str) -> None:
    docs = render(MONITORING_ON, kube_version=kube_version)
    [cm] = [d for d in by_kind(docs, "ConfigMap") if d["metadata"]["name"] == "zeebe-authz-dashboard"]
    kubernetes_validate.validate(cm, kube_version, strict=True)
    assert cm["metadata"]["labels"]["grafana_dashboard"] == "1"
    assert cm["metadata"]["annotations"] == {"grafana_folder": "Camunda"}
    assert list(cm["data"]) == ["zeebe-authz.json"]
    dashboard = json.loads(cm["data"]["zeebe-authz.json"])
    assert dashboard == json.loads(DASHBOARD.read_text())
    assert dashboard["uid"] == "zeebe-authz"
    # The dashboard works without the operator's API (it needs only Grafana's sidecar).
    [custom] = [
        d
        for d in by_kind(render({"grafanaDashboard": {"enabled": True, "labels": {"dashboards": "camunda"}}}), "ConfigMap")
        if d["metadata"]["name"] == "zeebe-authz-dashboard"
    ]
    assert custom["metadata"]["labels"]["dashboards"] == "camunda"
