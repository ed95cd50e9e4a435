"""The files users run the stack from: docker-compose.yml, the Dockerfile, deploy/ and grafana/."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from demo.stack import DEPLOY, prometheus_config
from llm_cost_tracker.config import load_config
from llm_cost_tracker.rules.spec import load_budgets
from tests.conftest import need_binary
from tests.golden import ROOT, dashboard_cases

COMPOSE = ROOT / "docker-compose.yml"


def compose() -> dict[str, object]:
    document: dict[str, object] = yaml.safe_load(COMPOSE.read_text())
    return document


def test_compose_file_follows_the_compose_specification() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "check_jsonschema", "--builtin-schema", "vendor.compose-spec", str(COMPOSE)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_file_compose_mounts_or_builds_from_exists() -> None:
    services = compose()["services"]
    assert isinstance(services, dict)
    mounted = []
    for name, service in services.items():
        for volume in service.get("volumes", []):
            source = volume.split(":", 1)[0]
            if source.startswith((".", "/")):
                mounted.append(source)
                assert (ROOT / source).exists(), f"{name} mounts {source}, which does not exist"
        image = service.get("image", "")
        assert service.get("build") or re.search(r":(v?\d[\w.-]*|local)$", image), f"{name}: pin the image ({image})"
    assert "./deploy/budgets.rules.yaml" in mounted
    assert "./grafana/dashboards" in mounted
    dockerfile = (ROOT / "Dockerfile").read_text()
    for line in dockerfile.splitlines():
        if line.startswith("COPY") and "--from" not in line:
            for source in line.split()[1:-1]:
                assert (ROOT / source).exists(), f"Dockerfile copies {source}, which does not exist"
    assert "USER llm-cost-tracker" in dockerfile
    assert "HEALTHCHECK" in dockerfile
    assert "/-/ready" in dockerfile


def test_compose_shares_the_routing_file_and_provisions_grafana() -> None:
    services = compose()["services"]
    assert isinstance(services, dict)
    exporter_config = load_config(DEPLOY / "llm-cost-tracker.yaml")
    routing_dir = str(exporter_config.routing_file.parent)
    assert f"routing:{routing_dir}" in services["exporter"]["volumes"]
    assert f"routing:{routing_dir}:ro" in services["simulator"]["volumes"]
    assert exporter_config.budgets_file == DEPLOY / "budgets.yaml"
    load_budgets(DEPLOY / "budgets.yaml")
    provider = yaml.safe_load((ROOT / "grafana/provisioning/dashboards/llm-cost-tracker.yaml").read_text())
    dashboards_path = provider["providers"][0]["options"]["path"]
    assert f"./grafana/dashboards:{dashboards_path}:ro" in services["grafana"]["volumes"]
    datasource = yaml.safe_load((ROOT / "grafana/provisioning/datasources/prometheus.yaml").read_text())
    assert datasource["datasources"][0]["url"] == "http://prometheus:9090"


def test_prometheus_config_passes_promtool_with_the_demo_rules(tmp_path: Path) -> None:
    promtool = need_binary("promtool")
    shipped = subprocess.run(
        [promtool, "check", "config", str(DEPLOY / "prometheus.yml")], capture_output=True, text=True, check=False
    )
    assert shipped.returncode == 0, shipped.stdout + shipped.stderr
    config = prometheus_config(
        exporter="127.0.0.1:9464",
        alertmanager="127.0.0.1:9093",
        itself="127.0.0.1:9090",
        rule_files=[str(DEPLOY / "budgets.rules.yaml")],
    )
    path = tmp_path / "prometheus.yml"
    path.write_text(yaml.safe_dump(config))
    result = subprocess.run([promtool, "check", "config", str(path)], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS: 50 rules found" in result.stdout  # deploy/budgets.rules.yaml was checked too


@pytest.mark.parametrize("path", sorted(dashboard_cases()), ids=lambda p: p.name)
def test_dashboards_are_generated_and_importable_anywhere(path: Path) -> None:
    expected = dashboard_cases()[path]
    assert path.read_text() == expected, f"{path.relative_to(ROOT)} is stale: run `make golden` and review"
    board = json.loads(expected)
    variables = {v["name"]: v for v in board["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource"
    titles = [panel["title"] for panel in board["panels"]]
    assert len(set(titles)) == len(titles)
    for panel in board["panels"]:
        assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}, panel["title"]
        refs = [target["refId"] for target in panel["targets"]]
        assert refs, panel["title"]
        assert len(set(refs)) == len(refs), f"{panel['title']}: refIds {refs} repeat"
        for target in panel["targets"]:
            for used in re.findall(r"\$(\w+)", target["expr"]):
                assert used.startswith("__") or used in variables, f"{panel['title']}: ${used} is not a variable"
