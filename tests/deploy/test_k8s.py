"""deploy/k8s: every overlay builds with ``kubectl kustomize``; every object is valid for
Kubernetes ``KUBE_VERSION`` (kubernetes-validate's bundled schemas, strict: an unknown
field fails) or, for the custom resources Parley uses (KEDA, Prometheus Operator), has
the fields their CRDs require and no others; and Parley's own rules hold. Each rule is a
function from the built objects to its problems, shown to catch a manifest that breaks it
(``test_each_rule_catches_a_broken_manifest``). The workers' probe is run on a health file
that is missing, fresh and stale (a real worker keeps it fresh:
tests/integration/test_worker_liveness.py).

``python -m tests.deploy.test_k8s`` rewrites deploy/monitoring/kubernetes/prometheusrule.yaml
from deploy/monitoring/prometheus/alerts.yml."""

from __future__ import annotations

import copy
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import REPO

K8S = REPO / "deploy" / "k8s"
MONITORING = REPO / "deploy" / "monitoring"
ALERTS = MONITORING / "prometheus" / "alerts.yml"
RULE_COPY = MONITORING / "kubernetes" / "prometheusrule.yaml"
KUBE_VERSION = "1.32.0"  # the oldest Kubernetes the manifests are for (preStop sleep: 1.30)
KUBECTL = shutil.which("kubectl")
needs_kubectl = pytest.mark.skipif(
    KUBECTL is None, reason="kubectl is not installed (Debian: apt-get install kubectl; "
    "`kubectl kustomize` builds the overlays)")
Obj = dict[str, Any]
WORKLOADS = ("Deployment", "StatefulSet", "DaemonSet", "Job")
LONG_RUNNING = ("Deployment", "StatefulSet", "DaemonSet")
PARLEY_PODS = {"parley-gateway", "parley-worker", "parley-db-upgrade"}


# ---------------------------------------------------------------------- building

def build(directory: Path) -> list[Obj]:
    assert KUBECTL is not None
    done = subprocess.run([KUBECTL, "kustomize", str(directory)], capture_output=True,
                          text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    return [o for o in yaml.safe_load_all(done.stdout) if o]


def _without_keda(tmp: Path) -> Path:
    """prod with the documented alternative: components/worker-hpa in place of keda."""
    prod = yaml.safe_load((K8S / "prod" / "kustomization.yaml").read_text())
    swap = {"../components/keda": "../components/worker-hpa"}
    prod["components"] = [os.path.relpath((K8S / "prod" / swap.get(c, c)).resolve(), tmp)
                          for c in prod["components"]]
    resources = []
    for entry in prod["resources"]:  # kustomize takes directories by relative path, not files
        source = (K8S / "prod" / entry).resolve()
        if source.is_file():
            shutil.copy(source, tmp / source.name)
        resources.append(source.name if source.is_file() else os.path.relpath(source, tmp))
    prod["resources"] = resources
    (tmp / "kustomization.yaml").write_text(yaml.safe_dump(prod))
    return tmp


@pytest.fixture(scope="module")
def builds(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[Obj]]:
    if KUBECTL is None:
        pytest.skip("kubectl is not installed (Debian: apt-get install kubectl)")
    return {"dev": build(K8S / "dev"), "prod": build(K8S / "prod"),
            "prod-without-keda": build(_without_keda(tmp_path_factory.mktemp("hpa")))}


# ------------------------------------------------------------------- validation

_STR_MAP = {"type": "object", "additionalProperties": {"type": "string"}}
_META = {"type": "object", "required": ["name"]}
_SELECTOR = {"type": "object", "properties": {"matchLabels": _STR_MAP,
                                              "matchExpressions": {"type": "array"}},
             "additionalProperties": False}
_SCALING = {"type": "object", "additionalProperties": False, "properties": {
    "stabilizationWindowSeconds": {"type": "integer", "minimum": 0, "maximum": 3600},
    "selectPolicy": {"enum": ["Max", "Min", "Disabled"]},
    "policies": {"type": "array", "minItems": 1, "items": {
        "type": "object", "required": ["type", "value", "periodSeconds"],
        "additionalProperties": False, "properties": {
            "type": {"enum": ["Pods", "Percent"]}, "value": {"type": "integer", "minimum": 1},
            "periodSeconds": {"type": "integer", "minimum": 1, "maximum": 1800}}}}}}


def _crd(spec: Obj) -> Obj:
    return {"type": "object", "required": ["apiVersion", "kind", "metadata", "spec"],
            "additionalProperties": False,
            "properties": {"apiVersion": {}, "kind": {}, "metadata": _META, "spec": spec}}


# What the CRDs require (KEDA 2.x keda.sh_scaledobjects / _triggerauthentications;
# prometheus-operator monitoring.coreos.com_servicemonitors / podmonitors /
# prometheusrules), for the fields these manifests use; any other field is a mistake here.
CRD_SCHEMAS: dict[tuple[str, str], Obj] = {
    ("keda.sh/v1alpha1", "ScaledObject"): _crd({
        "type": "object", "required": ["scaleTargetRef", "triggers"],
        "additionalProperties": False, "properties": {
            "scaleTargetRef": {"type": "object", "required": ["name"], "additionalProperties":
                               False, "properties": {"name": {"type": "string"},
                                                     "kind": {"type": "string"},
                                                     "apiVersion": {"type": "string"}}},
            "pollingInterval": {"type": "integer"}, "cooldownPeriod": {"type": "integer"},
            "minReplicaCount": {"type": "integer"}, "maxReplicaCount": {"type": "integer"},
            "advanced": {"type": "object", "additionalProperties": False, "properties": {
                "horizontalPodAutoscalerConfig": {
                    "type": "object", "additionalProperties": False, "properties": {
                        "behavior": {"type": "object", "additionalProperties": False,
                                     "properties": {"scaleUp": _SCALING,
                                                    "scaleDown": _SCALING}}}}}},
            "triggers": {"type": "array", "minItems": 1, "items": {
                "type": "object", "required": ["type", "metadata"],
                "additionalProperties": False, "properties": {
                    "type": {"type": "string"}, "metadata": _STR_MAP,
                    "authenticationRef": {"type": "object", "required": ["name"],
                                          "additionalProperties": False,
                                          "properties": {"name": {"type": "string"}}}}}}}}),
    ("keda.sh/v1alpha1", "TriggerAuthentication"): _crd({
        "type": "object", "additionalProperties": False, "properties": {
            "secretTargetRef": {"type": "array", "items": {
                "type": "object", "required": ["parameter", "name", "key"],
                "additionalProperties": False, "properties": {
                    "parameter": {"type": "string"}, "name": {"type": "string"},
                    "key": {"type": "string"}}}}}}),
    ("monitoring.coreos.com/v1", "ServiceMonitor"): _crd({
        "type": "object", "required": ["selector", "endpoints"],
        "additionalProperties": False, "properties": {
            "selector": _SELECTOR, "jobLabel": {"type": "string"},
            "endpoints": {"type": "array", "minItems": 1, "items": {
                "type": "object", "additionalProperties": False, "properties": {
                    "port": {"type": "string"}, "path": {"type": "string"},
                    "interval": {"type": "string", "pattern": "^[0-9]+(ms|s|m|h)$"}}}}}}),
    ("monitoring.coreos.com/v1", "PodMonitor"): _crd({
        "type": "object", "required": ["selector", "podMetricsEndpoints"],
        "additionalProperties": False, "properties": {
            "selector": _SELECTOR, "jobLabel": {"type": "string"},
            "podMetricsEndpoints": {"type": "array", "minItems": 1, "items": {
                "type": "object", "additionalProperties": False, "properties": {
                    "port": {"type": "string"}, "path": {"type": "string"},
                    "interval": {"type": "string", "pattern": "^[0-9]+(ms|s|m|h)$"}}}}}}),
    ("monitoring.coreos.com/v1", "PrometheusRule"): _crd({
        "type": "object", "required": ["groups"], "additionalProperties": False,
        "properties": {"groups": {"type": "array", "items": {
            "type": "object", "required": ["name", "rules"], "properties": {
                "name": {"type": "string", "minLength": 1}, "interval": {"type": "string"},
                "rules": {"type": "array", "items": {
                    "type": "object", "required": ["expr"], "additionalProperties": False,
                    "oneOf": [{"required": ["alert"]}, {"required": ["record"]}],
                    "properties": {"alert": {"type": "string"}, "record": {"type": "string"},
                                   "expr": {"type": ["string", "integer"]},
                                   "for": {"type": "string"}, "labels": _STR_MAP,
                                   "annotations": _STR_MAP}}}}}}}}),
}


def test_every_overlay_builds_and_every_object_is_valid(builds: dict[str, list[Obj]]) -> None:
    import jsonschema
    import kubernetes_validate

    for name, objects in builds.items():
        assert objects, name
        for obj in objects:
            where = f"{name}: {obj['kind']}/{obj['metadata']['name']}"
            schema = CRD_SCHEMAS.get((obj["apiVersion"], obj["kind"]))
            try:
                if schema is not None:
                    jsonschema.validate(obj, schema)
                else:
                    kubernetes_validate.validate(obj, KUBE_VERSION, strict=True)
            except jsonschema.ValidationError as exc:
                pytest.fail(f"{where}: {exc.message} at {list(exc.absolute_path)}")


def test_the_validation_catches_a_wrong_field(builds: dict[str, list[Obj]]) -> None:
    import jsonschema
    import kubernetes_validate

    deployment = copy.deepcopy(_one(builds["prod"], "Deployment", "parley-gateway"))
    deployment["spec"]["template"]["spec"]["containers"][0]["livenessprobe"] = {}
    with pytest.raises(jsonschema.ValidationError):
        kubernetes_validate.validate(deployment, KUBE_VERSION, strict=True)
    scaled = copy.deepcopy(_one(builds["prod"], "ScaledObject", "parley-worker"))
    del scaled["spec"]["triggers"][0]["metadata"]
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(scaled, CRD_SCHEMAS[("keda.sh/v1alpha1", "ScaledObject")])


# ------------------------------------------------------------------------ rules

def _one(objects: list[Obj], kind: str, name: str) -> Obj:
    found = [o for o in objects if o["kind"] == kind and o["metadata"]["name"] == name]
    assert len(found) == 1, (kind, name)
    return found[0]


def _pod(obj: Obj) -> Obj:
    return obj["spec"]["template"]["spec"]  # type: ignore[no-any-return]


def _containers(obj: Obj) -> Iterator[Obj]:
    pod = _pod(obj)
    yield from pod.get("initContainers", ())
    yield from pod["containers"]


def _workloads(objects: list[Obj], kinds: tuple[str, ...] = WORKLOADS) -> Iterator[Obj]:
    return (o for o in objects if o["kind"] in kinds)


def _matches(selector: Obj, labels: dict[str, str]) -> bool:
    if not all(labels.get(k) == v for k, v in selector.get("matchLabels", {}).items()):
        return False
    for expr in selector.get("matchExpressions", ()):
        value, op = labels.get(expr["key"]), expr["operator"]
        if (op == "In" and value not in expr["values"]) or \
                (op == "NotIn" and value in expr["values"]) or \
                (op == "Exists" and value is None) or (op == "DoesNotExist" and value is not None):
            return False
    return True


def rule_limits(objects: list[Obj]) -> list[str]:
    """Every container requests and limits CPU and memory."""
    return [f"{o['metadata']['name']}/{c['name']}: no {part} {res}"
            for o in _workloads(objects) for c in _containers(o)
            for part in ("requests", "limits") for res in ("cpu", "memory")
            if res not in c.get("resources", {}).get(part, {})]


def rule_probes(objects: list[Obj]) -> list[str]:
    """Every long-running container has startup, liveness and readiness probes (a Job's
    one-shot command has nothing to probe: activeDeadlineSeconds bounds it)."""
    return [f"{o['metadata']['name']}/{c['name']}: no {probe}"
            for o in _workloads(objects, LONG_RUNNING) for c in _pod(o)["containers"]
            for probe in ("startupProbe", "livenessProbe", "readinessProbe") if probe not in c]


def rule_security(objects: list[Obj]) -> list[str]:
    """Non-root, no privilege escalation, no capabilities, a read-only root, no token."""
    problems = []
    for o in _workloads(objects):
        pod, name = _pod(o), o["metadata"]["name"]
        if pod.get("automountServiceAccountToken") is not False:
            problems.append(f"{name}: the service account token is mounted")
        for c in _containers(o):
            sc, where = c.get("securityContext", {}), f"{name}/{c['name']}"
            merged = {**pod.get("securityContext", {}), **sc}
            if merged.get("runAsNonRoot") is not True or merged.get("runAsUser", 1) == 0:
                problems.append(f"{where}: may run as root")
            if sc.get("allowPrivilegeEscalation") is not False:
                problems.append(f"{where}: allowPrivilegeEscalation is not false")
            if sc.get("privileged"):
                problems.append(f"{where}: privileged")
            if "ALL" not in sc.get("capabilities", {}).get("drop", ()) or \
                    sc.get("capabilities", {}).get("add"):
                problems.append(f"{where}: capabilities not all dropped")
            if sc.get("readOnlyRootFilesystem") is not True:
                problems.append(f"{where}: the root filesystem is writable")
    return problems


def rule_disruption_budgets(objects: list[Obj]) -> list[str]:
    """Every Deployment and StatefulSet has a PodDisruptionBudget selecting its pods."""
    budgets = [o["spec"]["selector"] for o in objects if o["kind"] == "PodDisruptionBudget"]
    return [f"{o['kind']}/{o['metadata']['name']}: no PodDisruptionBudget"
            for o in _workloads(objects, ("Deployment", "StatefulSet"))
            if not any(_matches(s, o["spec"]["template"]["metadata"]["labels"])
                       for s in budgets)]


def rule_secrets(objects: list[Obj]) -> list[str]:
    """No Secret is shipped with data, and every Secret (and key) the manifests name is
    listed in deploy/k8s/secrets.example.yaml."""
    listed = yaml.safe_load((K8S / "secrets.example.yaml").read_text())
    problems = [f"Secret/{o['metadata']['name']}: shipped with data" for o in objects
                if o["kind"] == "Secret" and (o.get("data") or o.get("stringData"))]
    for name, key in _secret_references(objects):
        if name not in listed or (key is not None and key not in (listed[name] or {})):
            problems.append(f"secret {name}" + (f" key {key}" if key else "") +
                            " is not in secrets.example.yaml")
    return problems


def _secret_references(objects: list[Obj]) -> Iterator[tuple[str, str | None]]:
    for o in _workloads(objects):
        for c in _containers(o):
            for env in c.get("env", ()):
                ref = env.get("valueFrom", {}).get("secretKeyRef")
                if ref:
                    yield ref["name"], ref["key"]
            for source in c.get("envFrom", ()):
                if "secretRef" in source:
                    yield source["secretRef"]["name"], None
        for volume in _pod(o).get("volumes", ()):
            if "secret" in volume:
                yield volume["secret"]["secretName"], None
    for o in objects:
        if o["kind"] == "Ingress":
            for tls in o["spec"].get("tls", ()):
                yield tls["secretName"], None
        if o["kind"] == "TriggerAuthentication":
            for ref in o["spec"].get("secretTargetRef", ()):
                yield ref["name"], ref["key"]


def rule_no_api_access(objects: list[Obj]) -> list[str]:
    """Service accounts without API access: no RBAC objects, no mounted token, and each
    account a pod names is one of these manifests'."""
    accounts = {o["metadata"]["name"] for o in objects if o["kind"] == "ServiceAccount"}
    problems = [f"{o['kind']}/{o['metadata']['name']}: grants API access" for o in objects
                if o["kind"] in ("Role", "ClusterRole", "RoleBinding", "ClusterRoleBinding")]
    problems += [f"ServiceAccount/{o['metadata']['name']}: mounts its token" for o in objects
                 if o["kind"] == "ServiceAccount" and o.get("automountServiceAccountToken")
                 is not False]
    problems += [f"{o['metadata']['name']}: unknown service account" for o in _workloads(objects)
                 if _pod(o).get("serviceAccountName", "default") not in accounts | {"default"}]
    return problems


def rule_network(objects: list[Obj]) -> list[str]:
    """Ingress to the namespace is denied by default; only the gateway takes traffic from
    the ingress controller; only Parley's pods reach Redis and PostgreSQL."""
    policies = [o for o in objects if o["kind"] == "NetworkPolicy"]
    problems = [] if any(p["spec"]["podSelector"] == {} and not p["spec"].get("ingress")
                         and "Ingress" in p["spec"]["policyTypes"] for p in policies) \
        else ["no default-deny ingress NetworkPolicy"]
    pods = {o["metadata"]["name"]: o["spec"]["template"]["metadata"]["labels"]
            for o in _workloads(objects)}
    for policy in policies:
        selected = {n for n, labels in pods.items()
                    if _matches(policy["spec"]["podSelector"], labels)}
        for rule in policy["spec"].get("ingress", ()):
            for peer in rule.get("from", [{}]):
                namespace = peer.get("namespaceSelector", {}).get("matchLabels", {})
                if "ingress-nginx" in namespace.values() and selected != {"parley-gateway"}:
                    problems.append(f"{policy['metadata']['name']}: the ingress controller "
                                    f"reaches {sorted(selected)}")
                if selected & {"parley-redis", "parley-postgresql"}:
                    if set(peer) != {"podSelector"}:
                        problems.append(f"{policy['metadata']['name']}: Redis or PostgreSQL "
                                        "open beyond this namespace's Parley pods")
                    elif {n for n, labels in pods.items()
                          if _matches(peer["podSelector"], labels)} - PARLEY_PODS:
                        problems.append(f"{policy['metadata']['name']}: Redis or PostgreSQL "
                                        "open to pods other than Parley's")
    return problems


def rule_shutdown(objects: list[Obj]) -> list[str]:
    """The gateway waits before SIGTERM and has time for aiohttp's shutdown (10 s) and the
    dispatcher's flush (10 s) after it; the workers' Celery warm shutdown has a minute."""
    gateway, worker = (_pod(_one(objects, "Deployment", n))
                       for n in ("parley-gateway", "parley-worker"))
    wait = gateway["containers"][0].get("lifecycle", {}).get("preStop", {}) \
        .get("sleep", {}).get("seconds", 0)
    problems = [] if wait >= 5 else ["the gateway has no preStop wait"]
    if gateway.get("terminationGracePeriodSeconds", 30) < wait + 25:
        problems.append("the gateway's grace period is shorter than preStop + 25 s")
    if worker.get("terminationGracePeriodSeconds", 30) < 60:
        problems.append("the workers' grace period is under 60 s")
    return problems


def rule_ingress(objects: list[Obj]) -> list[str]:
    """The Ingress keeps /metrics, /healthz and /readyz inside, and lets sockets live."""
    problems = []
    for ingress in (o for o in objects if o["kind"] == "Ingress"):
        notes = ingress["metadata"].get("annotations", {})
        for name in ("proxy-read-timeout", "proxy-send-timeout"):
            if int(notes.get(f"nginx.ingress.kubernetes.io/{name}", 60)) < 3600:
                problems.append(f"{ingress['metadata']['name']}: {name} too short for sockets")
        for rule in ingress["spec"]["rules"]:
            for path in rule["http"]["paths"]:
                for inner in ("/metrics", "/healthz", "/readyz"):
                    if inner == path["path"] or (path["pathType"] == "Prefix" and (
                            path["path"] == "/" or inner.startswith(path["path"] + "/"))):
                        problems.append(f"{ingress['metadata']['name']}: {path['path']} "
                                        f"exposes {inner}")
    return problems


def rule_scaling(objects: list[Obj]) -> list[str]:
    """Workers scale on parley.inbound and never to zero (gateways are ready only while a
    worker's heartbeat lives), prefetch stays 1, and an autoscaler owns the replicas."""
    problems = []
    config = _one(objects, "ConfigMap", "parley-config")["data"]
    if config.get("PARLEY_WORKER_PREFETCH", "1") != "1":
        problems.append("PARLEY_WORKER_PREFETCH is not 1")
    for o in objects:
        if o["kind"] == "ScaledObject":
            if o["spec"].get("minReplicaCount", 0) < 1:
                problems.append(f"ScaledObject/{o['metadata']['name']}: may scale to zero")
            lists = {t["metadata"].get("listName") for t in o["spec"]["triggers"]
                     if t["type"].startswith("redis")}
            if lists != {"parley.inbound"}:
                problems.append(f"ScaledObject/{o['metadata']['name']}: not on parley.inbound")
        if o["kind"] == "HorizontalPodAutoscaler" and o["spec"].get("minReplicas", 1) < 1:
            problems.append(f"HPA/{o['metadata']['name']}: may scale to zero")
    scaled = {o["spec"]["scaleTargetRef"]["name"] for o in objects
              if o["kind"] in ("ScaledObject", "HorizontalPodAutoscaler")}
    problems += [f"Deployment/{name}: replicas set under an autoscaler" for name in scaled
                 if "replicas" in _one(objects, "Deployment", name)["spec"]]
    return problems


def rule_monitoring(objects: list[Obj]) -> list[str]:
    """The monitors select the gateway Service and the worker pods by the ports they name,
    with the job names alerts.yml uses; the PrometheusRule is alerts.yml."""
    problems = []
    for o in objects:
        if o["kind"] == "ServiceMonitor":
            services = [s for s in objects if s["kind"] == "Service"
                        and _matches(o["spec"]["selector"], s["metadata"].get("labels", {}))]
            if [s["metadata"]["name"] for s in services] != ["parley-gateway"] or not all(
                    e["port"] in {p["name"] for p in services[0]["spec"]["ports"]}
                    for e in o["spec"]["endpoints"]):
                problems.append(f"ServiceMonitor/{o['metadata']['name']}: not the gateway's port")
        if o["kind"] == "PodMonitor":
            pods = [w for w in _workloads(objects) if _matches(
                o["spec"]["selector"], w["spec"]["template"]["metadata"]["labels"])]
            ports = {p["name"] for w in pods for c in _pod(w)["containers"]
                     for p in c.get("ports", ())}
            jobs = {w["spec"]["template"]["metadata"]["labels"].get(o["spec"].get("jobLabel", ""))
                    for w in pods}
            if jobs != {"parley-worker"} or not all(
                    e["port"] in ports for e in o["spec"]["podMetricsEndpoints"]):
                problems.append(f"PodMonitor/{o['metadata']['name']}: not job parley-worker's "
                                "metrics port")
        if o["kind"] == "PrometheusRule" and o["spec"] != yaml.safe_load(ALERTS.read_text()):
            problems.append(f"PrometheusRule/{o['metadata']['name']}: differs from alerts.yml "
                            "(python -m tests.deploy.test_k8s rewrites it)")
    return problems


RULES: list[Callable[[list[Obj]], list[str]]] = [
    rule_limits, rule_probes, rule_security, rule_disruption_budgets, rule_secrets,
    rule_no_api_access, rule_network, rule_shutdown, rule_ingress, rule_scaling,
    rule_monitoring]


@pytest.mark.parametrize("rule", RULES, ids=lambda r: r.__name__)
def test_every_overlay_follows_the_rule(builds: dict[str, list[Obj]],
                                        rule: Callable[[list[Obj]], list[str]]) -> None:
    for name, objects in builds.items():
        assert rule(objects) == [], name


def test_prod_has_the_autoscalers_and_monitors(builds: dict[str, list[Obj]]) -> None:
    kinds = {n: {o["kind"] for o in objects} for n, objects in builds.items()}
    assert {"ScaledObject", "TriggerAuthentication", "ServiceMonitor", "PodMonitor",
            "PrometheusRule", "HorizontalPodAutoscaler"} <= kinds["prod"]
    assert "ScaledObject" not in kinds["prod-without-keda"]
    assert {o["metadata"]["name"] for o in builds["prod-without-keda"]
            if o["kind"] == "HorizontalPodAutoscaler"} == {"parley-gateway", "parley-worker"}
    assert {"StatefulSet"} <= kinds["dev"] and "Secret" not in kinds["dev"] | kinds["prod"]
    for o in _workloads(builds["dev"], ("Deployment",)):
        assert o["spec"]["replicas"] == 1


def _break(objects: list[Obj], kind: str, name: str, change: Callable[[Obj], Any]) -> list[Obj]:
    broken = copy.deepcopy(objects)
    change(_one(broken, kind, name))
    return broken


def _container(o: Obj) -> Obj:
    return _pod(o)["containers"][0]  # type: ignore[no-any-return]


_BREAKAGES: list[tuple[Callable[[list[Obj]], list[str]], str, str, Callable[[Obj], Any]]] = [
    (rule_limits, "Deployment", "parley-worker",
     lambda o: _container(o)["resources"].pop("limits")),
    (rule_limits, "Job", "parley-db-upgrade",
     lambda o: _container(o)["resources"]["requests"].pop("memory")),
    (rule_probes, "Deployment", "parley-worker", lambda o: _container(o).pop("startupProbe")),
    (rule_probes, "Deployment", "parley-gateway",
     lambda o: _container(o).pop("readinessProbe")),
    (rule_security, "Deployment", "parley-gateway",
     lambda o: _container(o)["securityContext"].update(readOnlyRootFilesystem=False)),
    (rule_security, "Deployment", "parley-worker",
     lambda o: _container(o)["securityContext"].update(allowPrivilegeEscalation=True)),
    (rule_security, "Job", "parley-db-upgrade",
     lambda o: _container(o)["securityContext"].update(runAsUser=0)),
    (rule_security, "Deployment", "parley-worker",
     lambda o: _container(o)["securityContext"]["capabilities"].update(drop=["NET_RAW"])),
    (rule_disruption_budgets, "PodDisruptionBudget", "parley-worker",
     lambda o: o["spec"]["selector"]["matchLabels"].update({"app.kubernetes.io/name": "x"})),
    (rule_secrets, "Deployment", "parley-gateway",
     lambda o: _container(o)["env"].append(
         {"name": "X", "valueFrom": {"secretKeyRef": {"name": "unlisted", "key": "k"}}})),
    (rule_no_api_access, "ServiceAccount", "parley-worker",
     lambda o: o.update(automountServiceAccountToken=True)),
    (rule_network, "NetworkPolicy", "parley-gateway-from-ingress",
     lambda o: o["spec"].update(podSelector={})),
    (rule_network, "NetworkPolicy", "parley-default-deny-ingress",
     lambda o: o["spec"].update(ingress=[{}])),
    (rule_shutdown, "Deployment", "parley-gateway",
     lambda o: _pod(o).update(terminationGracePeriodSeconds=20)),
    (rule_ingress, "Ingress", "parley-gateway",
     lambda o: o["spec"]["rules"][0]["http"]["paths"][0].update(path="/", pathType="Prefix")),
    (rule_scaling, "ConfigMap", "parley-config",
     lambda o: o["data"].update(PARLEY_WORKER_PREFETCH="4")),
    (rule_scaling, "ScaledObject", "parley-worker",
     lambda o: o["spec"].update(minReplicaCount=0)),
    (rule_monitoring, "PodMonitor", "parley-worker",
     lambda o: o["spec"].update(jobLabel="app.kubernetes.io/component")),
    (rule_monitoring, "PrometheusRule", "parley",
     lambda o: o["spec"]["groups"][0]["rules"].pop()),
]


@pytest.mark.parametrize("rule, kind, name, change", _BREAKAGES,
                         ids=[f"{r.__name__}-{k}-{n}" for r, k, n, _ in _BREAKAGES])
def test_each_rule_catches_a_broken_manifest(
        builds: dict[str, list[Obj]], rule: Callable[[list[Obj]], list[str]], kind: str,
        name: str, change: Callable[[Obj], Any]) -> None:
    assert rule(_break(builds["prod"], kind, name, change)) != []


def test_the_secret_rule_catches_a_secret_with_data(builds: dict[str, list[Obj]]) -> None:
    secret = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "parley-redis"},
              "stringData": {"url": "redis://:hunter2@redis:6379/0"}}
    assert rule_secrets([*builds["prod"], secret]) != []


def test_the_network_rule_catches_redis_open_to_others(builds: dict[str, list[Obj]]) -> None:
    def open_to_all(o: Obj) -> None:
        o["spec"]["ingress"][0]["from"] = [{"namespaceSelector": {}}]
    assert rule_network(_break(builds["dev"], "NetworkPolicy", "parley-redis-from-parley",
                               open_to_all)) != []


# --------------------------------------------------------------- the workers' probe

def _worker_probe(objects: list[Obj]) -> tuple[list[str], dict[str, str]]:
    """The worker's probe command (run with this interpreter) and the environment the
    container gives it."""
    container = _container(_one(objects, "Deployment", "parley-worker"))
    command = list(container["startupProbe"]["exec"]["command"])
    assert command[:3] == ["python", "-m", "workers.liveness"]
    assert all(container[p]["exec"]["command"] == command
               for p in ("readinessProbe", "livenessProbe"))
    env = {e["name"]: e["value"] for e in container["env"] if "value" in e}
    return [sys.executable, *command[1:]], env


def test_the_worker_probe_reads_the_health_file_the_workers_touch(
        builds: dict[str, list[Obj]], tmp_path: Path) -> None:
    """Missing (no process has loaded the bot), fresh, then older than the probe allows
    (tests/integration/test_worker_liveness.py has a real worker keep it fresh)."""
    from workers.liveness import touch

    command, env = _worker_probe(builds["prod"])
    assert env["PARLEY_WORKER_HEALTH_PATH"].startswith("/tmp/")  # the one writable mount
    health = tmp_path / "alive"
    run_env = {**os.environ, "PARLEY_WORKER_HEALTH_PATH": str(health)}

    def probe() -> int:
        return subprocess.run(command, cwd=REPO, env=run_env, capture_output=True,
                              timeout=10, check=False).returncode

    assert probe() == 1
    touch(health)
    assert probe() == 0
    stale = time.time() - 31
    os.utime(health, (stale, stale))
    assert probe() == 1


# ----------------------------------------------------------------- the rule copy

def write_rule_copy() -> None:
    rule = {"apiVersion": "monitoring.coreos.com/v1", "kind": "PrometheusRule",
            "metadata": {"name": "parley", "labels": {"app.kubernetes.io/part-of": "parley",
                                                      "release": "kube-prometheus-stack"}},
            "spec": yaml.safe_load(ALERTS.read_text())}
    class Dumper(yaml.SafeDumper):
        pass

    def text(dumper: yaml.SafeDumper, value: str) -> yaml.Node:
        style = "|" if "\n" in value else None
        return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)

    Dumper.add_representer(str, text)
    RULE_COPY.write_text(
        "# GENERATED from ../prometheus/alerts.yml by `python -m tests.deploy.test_k8s`;\n"
        "# tests/deploy/test_k8s.py fails when the two differ. Edit alerts.yml instead.\n"
        + yaml.dump(rule, Dumper=Dumper, sort_keys=False, width=100, allow_unicode=True))


if __name__ == "__main__":
    write_rule_copy()
