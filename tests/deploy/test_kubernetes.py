"""deploy/kubernetes: every object validates against the Kubernetes schemas (offline, bundled
by kubernetes-validate), and the wiring matches the app: probe paths are real routes, the
settings are real settings, the user, port and data dir are the image's."""

from __future__ import annotations

import re

import jsonschema
import pytest
import yaml
from deploy_support import (
    K8S,
    K8S_BASE,
    K8S_MONITORING,
    app_routes,
    dockerfile,
    env_of,
    kustomization,
    manifests,
    one,
    settings_from_env,
    the,
    unknown_settings,
    yaml_documents,
)
from kubernetes_validate import utils as kv

# The oldest Kubernetes we claim to support and the newest schemas bundled.
K8S_VERSIONS = ["1.30.0", kv.latest_version()]
IMAGE_ENV = env_of(dockerfile())

# monitoring.coreos.com/v1 ServiceMonitor, the part of the operator's CRD schema we use
# (written from its API reference; no CRD schemas are bundled with kubernetes-validate).
_DURATION = (r"^(0|(([0-9]+)y)?(([0-9]+)w)?(([0-9]+)d)?(([0-9]+)h)?(([0-9]+)m)?(([0-9]+)s)?"
             r"(([0-9]+)ms)?)$")
SERVICE_MONITOR_SCHEMA = {
    "type": "object",
    "required": ["apiVersion", "kind", "metadata", "spec"],
    "additionalProperties": False,
    "properties": {
        "apiVersion": {"const": "monitoring.coreos.com/v1"},
        "kind": {"const": "ServiceMonitor"},
        "metadata": {"type": "object", "required": ["name"]},
        "spec": {
            "type": "object",
            "required": ["selector", "endpoints"],
            "additionalProperties": False,
            "properties": {
                "selector": {
                    "type": "object",
                    "additionalProperties": False,
                    "properties": {
                        "matchLabels": {"type": "object",
                                        "additionalProperties": {"type": "string"}},
                        "matchExpressions": {"type": "array"},
                    },
                },
                "namespaceSelector": {"type": "object"},
                "jobLabel": {"type": "string"},
                "endpoints": {
                    "type": "array",
                    "minItems": 1,
                    "items": {
                        "type": "object",
                        "additionalProperties": False,
                        "properties": {
                            "port": {"type": "string"},
                            "targetPort": {"type": ["string", "integer"]},
                            "path": {"type": "string"},
                            "scheme": {"enum": ["http", "https"]},
                            "interval": {"type": "string", "pattern": _DURATION},
                            "scrapeTimeout": {"type": "string", "pattern": _DURATION},
                            "honorLabels": {"type": "boolean"},
                            "authorization": {"type": "object"},
                            "relabelings": {"type": "array"},
                            "metricRelabelings": {"type": "array"},
                        },
                    },
                },
            },
        },
    },
}


def _all_objects():
    """(file, object) for every manifest under deploy/kubernetes, applied or example."""
    for path in sorted(K8S.rglob("*.yaml")):
        if path.name == "kustomization.yaml":
            continue
        for doc in yaml_documents(path):
            yield path.relative_to(K8S), doc


@pytest.mark.parametrize("version", K8S_VERSIONS)
def test_every_manifest_validates_against_the_kubernetes_schemas(version):
    checked = 0
    for path, doc in _all_objects():
        if doc["apiVersion"].startswith("monitoring.coreos.com/"):
            jsonschema.validate(doc, SERVICE_MONITOR_SCHEMA)
        else:
            try:
                kv.validate(doc, version, strict=True)
            except kv.ValidationError as exc:
                where = ".".join(str(p) for p in exc.path)
                pytest.fail(f"{path}: {doc['kind']} invalid at {where}: {exc.message}")
        checked += 1
    assert checked >= 6


def test_a_typo_is_caught():
    """The strict schemas reject unknown fields (so the test above can fail)."""
    deployment = the("Deployment")
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    container["readinessProbes"] = container.pop("readinessProbe")
    with pytest.raises(kv.ValidationError):
        kv.validate(deployment, K8S_VERSIONS[-1], strict=True)


def test_every_manifest_file_is_applied_or_an_example():
    applied = {p.name for p in K8S.rglob("*.yaml")
               if p.name != "kustomization.yaml" and not p.name.endswith(".example.yaml")}
    used = {(folder / r).name for folder in (K8S_BASE, K8S_MONITORING)
            for r in kustomization(folder)["resources"]}
    assert applied <= used, f"manifests no kustomization applies: {applied - used}"
    assert kustomization(K8S_BASE)["namespace"] == kustomization(K8S_MONITORING)["namespace"]
    assert [i["name"] for i in kustomization(K8S_BASE)["images"]] == [_container()["image"]]


def _pod_spec() -> dict:
    return the("Deployment")["spec"]["template"]["spec"]


def _container() -> dict:
    (container,) = _pod_spec()["containers"]
    return container


def test_probes_hit_the_apps_routes():
    routes = app_routes()
    container = _container()
    paths = {kind: container[kind]["httpGet"]["path"]
             for kind in ("startupProbe", "readinessProbe", "livenessProbe")}
    assert paths == {"startupProbe": "/readyz", "readinessProbe": "/readyz",
                     "livenessProbe": "/healthz"}
    assert set(paths.values()) <= routes
    port_names = {p["name"] for p in container["ports"]}
    assert all(container[k]["httpGet"]["port"] in port_names for k in paths)
    startup = container["startupProbe"]
    assert startup["periodSeconds"] * startup["failureThreshold"] >= 15 * 60, \
        "model loading needs a generous startup probe"


def test_gpu_and_resources_are_requested():
    resources = _container()["resources"]
    assert resources["requests"]["nvidia.com/gpu"] == resources["limits"]["nvidia.com/gpu"] == "1"
    for key in ("cpu", "memory"):
        assert key in resources["requests"]
    assert "memory" in resources["limits"]


def test_single_writer_store_gets_one_pod_and_its_own_volume():
    deployment = the("Deployment")
    assert deployment["spec"]["replicas"] == 1
    assert deployment["spec"]["strategy"]["type"] == "Recreate", \
        "a rolling update would run two writers on one DuckDB file"
    pvc = the("PersistentVolumeClaim")
    assert pvc["spec"]["accessModes"] == ["ReadWriteOnce"]
    volumes = {v["name"]: v for v in _pod_spec()["volumes"]}
    mounts = {m["mountPath"]: m["name"] for m in _container()["volumeMounts"]}
    data = volumes[mounts[IMAGE_ENV["SLICK_DATA_DIR"]]]
    assert data["persistentVolumeClaim"]["claimName"] == pvc["metadata"]["name"]


def test_runs_as_the_images_non_root_user():
    uid, _, gid = one(dockerfile(), "USER").args.partition(":")
    pod = _pod_spec()["securityContext"]
    assert pod["runAsNonRoot"] is True
    assert (pod["runAsUser"], pod["runAsGroup"], pod["fsGroup"]) == (int(uid), int(gid), int(gid))
    container = _container()["securityContext"]
    assert container["allowPrivilegeEscalation"] is False
    assert container["capabilities"]["drop"] == ["ALL"]
    if container.get("readOnlyRootFilesystem"):
        mounted = {m["mountPath"] for m in _container()["volumeMounts"]}
        assert {"/tmp", "/home/slick", IMAGE_ENV["SLICK_DATA_DIR"]} <= mounted


def test_settings_come_from_the_configmap_and_the_secret(monkeypatch):
    configmap = the("ConfigMap")
    container = _container()
    assert container["envFrom"] == [{"configMapRef": {"name": configmap["metadata"]["name"]}}]
    env = {**IMAGE_ENV, **configmap["data"]}
    assert not unknown_settings(env), "ConfigMap sets settings that do not exist"
    secret_refs = {e["name"]: e["valueFrom"]["secretKeyRef"] for e in container["env"]
                   if "valueFrom" in e}
    assert "SLICK_API_KEYS" not in configmap["data"], "API keys belong in the Secret"
    example = yaml_documents(K8S / "secret.example.yaml")[0]
    ref = secret_refs["SLICK_API_KEYS"]
    assert ref["name"] == example["metadata"]["name"]
    assert ref["key"] in example["stringData"]
    env["SLICK_API_KEYS"] = "k1,k2"
    settings = settings_from_env(env, monkeypatch)
    assert settings.api_keys == ["k1", "k2"]
    assert settings.engine == "vllm" and isinstance(settings.engine_options, dict)


def test_commented_alternatives_are_real_settings(monkeypatch):
    """The ConfigMap's commented Ray and remote-engine settings work when uncommented."""
    text = (K8S_BASE / "configmap.yaml").read_text()
    lines = [line.strip()[2:] for line in text.splitlines()
             if re.match(r"\s*# SLICK_[A-Z_]+: ", line)]
    ray = yaml.safe_load("\n".join(lines[:4]))
    remote = yaml.safe_load("\n".join(lines[4:]).replace("<", "").replace(">", ""))
    assert set(ray) == {"SLICK_EXECUTOR", "SLICK_RAY_ADDRESS", "SLICK_RAY_WORKERS",
                        "SLICK_RAY_GPUS_PER_WORKER"}
    assert set(remote) == {"SLICK_ENGINE", "SLICK_MODEL", "SLICK_ENGINE_OPTIONS"}
    data = the("ConfigMap")["data"]
    for extra in (ray, remote):
        env = {**IMAGE_ENV, **data, **extra, "SLICK_API_KEYS": "k"}
        assert not unknown_settings(env)
        settings = settings_from_env(env, monkeypatch)
    assert settings.engine == "openai" and settings.engine_options["base_url"].endswith("/v1")
    settings = settings_from_env({**IMAGE_ENV, **data, **ray}, monkeypatch)
    assert settings.executor == "ray" and settings.ray_address.startswith("ray://")


def test_service_and_service_monitor_reach_the_pod():
    service = the("Service")
    pod_labels = the("Deployment")["spec"]["template"]["metadata"]["labels"]
    assert service["spec"]["selector"].items() <= pod_labels.items()
    (port,) = service["spec"]["ports"]
    container_port = next(p for p in _container()["ports"] if p["name"] == port["targetPort"])
    assert str(container_port["containerPort"]) == IMAGE_ENV["SLICK_PORT"]
    monitor = the("ServiceMonitor")
    selector = monitor["spec"]["selector"]["matchLabels"]
    assert selector.items() <= service["metadata"]["labels"].items()
    (endpoint,) = monitor["spec"]["endpoints"]
    assert endpoint["port"] == port["name"]
    assert endpoint["path"] == "/metrics" and "/metrics" in app_routes()
    annotations = service["metadata"]["annotations"]
    assert annotations["prometheus.io/path"] == "/metrics"
    assert annotations["prometheus.io/port"] == str(port["port"])


def test_base_has_no_operator_objects():
    """The base applies on clusters without the Prometheus operator's CRDs."""
    kinds = {doc["kind"] for doc in manifests(K8S_BASE)}
    assert kinds == {"ConfigMap", "PersistentVolumeClaim", "Deployment", "Service"}
