"""The Grafana dashboard and the Prometheus scrape configs: every metric and label they query
is one the service really exports (service/slick_curator/metrics.py)."""

from __future__ import annotations

import json
import re

import pytest
import yaml
from deploy_support import DEPLOY, app_routes, the
from prometheus_client.parser import text_string_to_metric_families
from slick_curator.metrics import Metrics

DASHBOARD = DEPLOY / "grafana" / "dashboards" / "slick-curator.json"
# Labels Prometheus itself attaches to every scraped series.
TARGET_LABELS = {"job", "instance", "namespace", "pod"}


def family(series: str) -> str:
    """slick_x_total / _bucket / _count / _sum / _created -> slick_x."""
    return re.sub(r"_(total|bucket|count|sum|created)$", "", series)


def exported() -> dict[str, set[str]]:
    """Series name -> label names, for every series the service's registry exposes."""
    metrics = Metrics()
    # Touch every labelled child so histograms and counters render their series.
    metrics.job_duration.labels("succeeded").observe(1.0)
    metrics.http_duration.labels("GET", "/healthz", "200").observe(0.01)
    out: dict[str, set[str]] = {}
    for family in text_string_to_metric_families(metrics.render().decode()):
        for sample in family.samples:
            out.setdefault(sample.name, set()).update(sample.labels)
    return out


def dashboard() -> dict:
    return json.loads(DASHBOARD.read_text())


def queries() -> list[str]:
    return [t["expr"] for p in dashboard()["panels"] for t in p.get("targets", [])]


def test_dashboard_is_a_grafana_dashboard():
    board = dashboard()
    assert board["uid"] and board["title"] and board["schemaVersion"] >= 36
    panels = board["panels"]
    ids = [p["id"] for p in panels]
    assert len(ids) == len(set(ids)), "panel ids must be unique"
    variables = {v["name"] for v in board["templating"]["list"]}
    for panel in panels:
        grid = panel["gridPos"]
        assert 0 <= grid["x"] and grid["x"] + grid["w"] <= 24 and grid["h"] > 0
        if panel["type"] == "row":
            continue
        assert panel["targets"], f"panel {panel['title']!r} queries nothing"
        assert panel["datasource"]["uid"] == "${datasource}" and "datasource" in variables
        ref_ids = [t["refId"] for t in panel["targets"]]
        assert len(ref_ids) == len(set(ref_ids))


def test_every_queried_metric_and_label_is_exported():
    series = exported()
    used = set()
    for expr in queries():
        assert expr.count("(") == expr.count(")") and expr.count("{") == expr.count("}"), expr
        names = set(re.findall(r"\b(slick_[a-z0-9_]+)\b", expr))
        assert names or "up{" in expr, f"query reads no service metric: {expr}"
        for name in names:
            assert name in series, f"{name} is not exported (have {sorted(series)})"
        for name, matchers in re.findall(r"\b(slick_[a-z0-9_]+)\{([^}]*)\}", expr):
            for label in re.findall(r"([a-zA-Z_]+)\s*(?:=~|!=|!~|=)", matchers):
                assert label in series[name] | TARGET_LABELS, f"{name} has no label {label}"
        for grouping in re.findall(r"\bby \(([^)]*)\)", expr):
            labels = {g.strip() for g in grouping.split(",")}
            assert any(labels <= series[n] | TARGET_LABELS for n in names), \
                f"grouping by {labels} in {expr}"
        used |= names
    # Every metric family the service defines appears on the dashboard.
    defined = {"slick_jobs", "slick_rows_probed", "slick_generations", "slick_generated_tokens",
               "slick_rows_per_second", "slick_job_duration_seconds", "slick_queue_depth",
               "slick_http_request_duration_seconds"}
    assert {family(n) for n in series} == defined, \
        "metrics.py changed: update the dashboard and this list"
    assert {family(n) for n in used} == defined, "a service metric is not on the dashboard"


def test_job_variable_reads_a_real_metric():
    (job,) = [v for v in dashboard()["templating"]["list"] if v["name"] == "job"]
    metric = re.search(r"label_values\((\w+), job\)", job["definition"])[1]
    assert metric in exported()


@pytest.mark.parametrize("name", ["prometheus.yml", "kubernetes-scrape-config.yml"])
def test_prometheus_scrape_configs_hit_metrics(name):
    config = yaml.safe_load((DEPLOY / "prometheus" / name).read_text())
    (job,) = config["scrape_configs"]
    assert job["job_name"] == "slick-curator"
    assert job["metrics_path"] == "/metrics" and "/metrics" in app_routes()
    if "static_configs" in job:
        (target,) = job["static_configs"][0]["targets"]
        compose = yaml.safe_load((DEPLOY / "docker-compose.yml").read_text())
        host, port = target.split(":")
        assert host in compose["services"] and port == "8000"
    else:
        keep = {tuple(r["source_labels"]): r["regex"] for r in job["relabel_configs"]
                if r.get("action") == "keep"}
        service = the("Service")
        assert keep[("__meta_kubernetes_service_label_app_kubernetes_io_name",)] == \
            service["metadata"]["labels"]["app.kubernetes.io/name"]
        port_name = service["spec"]["ports"][0]["name"]
        assert keep[("__meta_kubernetes_endpoint_port_name",)] == port_name


def test_grafana_provisioning_points_at_the_dashboard_folder():
    provider = yaml.safe_load(
        (DEPLOY / "grafana/provisioning/dashboards/slick-curator.yml").read_text())
    compose = yaml.safe_load((DEPLOY / "docker-compose.yml").read_text())
    mounts = dict(v.split(":")[:2][::-1] for v in compose["services"]["grafana"]["volumes"]
                  if v.startswith("./"))
    folder = mounts[provider["providers"][0]["options"]["path"]]
    assert (DEPLOY / folder / DASHBOARD.name).is_file()
    source = yaml.safe_load(
        (DEPLOY / "grafana/provisioning/datasources/prometheus.yml").read_text())
    assert source["datasources"][0]["url"] == "http://prometheus:9090"
