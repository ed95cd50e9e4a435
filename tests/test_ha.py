"""A Prometheus HA pair and a two-node Alertmanager cluster in front of one receiver: one swap, one revert.

Both Prometheus servers scrape the one exporter and evaluate the same generated rules, each with its own
``replica`` external label, dropped from alerts (``alert_relabel_configs``) as the Prometheus documentation
advises, so that the alerts of the pair are one alert to Alertmanager. Each Prometheus sends to both
Alertmanagers, which gossip (``--cluster.peer``) so that one of them notifies (a duplicate, when the gossip is
late, changes nothing: the receiver acts per alert, idempotently). The routing file must change exactly
twice, with no flapping between.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from demo.stack import free_port, prometheus_config, spawn
from llm_cost_tracker.rules.generator import Resolution, generate
from llm_cost_tracker.rules.render import prometheus_rules
from llm_cost_tracker.rules.spec import load_budgets
from tests.conftest import need_binary, wait_until
from tests.exactness import Call
from tests.swap_loop import generations, push, start_exporter, swapped

pytestmark = pytest.mark.binary

BUDGETS = """\
version: llm-cost-tracker/v1
budgets:
  - name: shop-hourly
    match: {{project: shop}}
    amount_usd: {amount}
    period: 1h  # a rolling window: no period starts over while the test runs, whatever the clock says
    alerts: {{thresholds: [1.0], keep_firing_for: 0s}}
    on_exceeded:
      swap: [{{from: gpt-4o, to: gpt-4o-mini}}]
"""


def write_rules(workdir: Path) -> None:
    rules = generate(load_budgets(workdir / "budgets.yaml"), Resolution.parse("1s", "2s"))
    (workdir / "budgets.rules.yaml").write_text(prometheus_rules(rules, "budgets.yaml"))


def test_an_ha_pair_and_an_alertmanager_cluster_swap_once_and_revert_once(tmp_path: Path, processes: list[Any]) -> None:
    prometheus_binary = need_binary("prometheus")
    alertmanager_binary = need_binary("prometheus-alertmanager", "alertmanager")
    (tmp_path / "budgets.yaml").write_text(BUDGETS.format(amount=0.01))
    write_rules(tmp_path)
    otlp, web = free_port(), free_port()
    am_web, am_cluster = [free_port(), free_port()], [free_port(), free_port()]
    prom = [free_port(), free_port()]
    routing = tmp_path / "routing.yaml"

    processes.append(start_exporter(tmp_path, otlp, web, am_web))
    for n in range(2):
        processes.append(
            spawn(
                f"alertmanager-{n}",
                [
                    alertmanager_binary,
                    f"--config.file={tmp_path / 'alertmanager.yml'}",
                    f"--storage.path={tmp_path / f'alertmanager-{n}'}",
                    f"--web.listen-address=127.0.0.1:{am_web[n]}",
                    f"--cluster.listen-address=127.0.0.1:{am_cluster[n]}",
                    f"--cluster.advertise-address=127.0.0.1:{am_cluster[n]}",
                    f"--cluster.peer=127.0.0.1:{am_cluster[1 - n]}",
                    "--cluster.peer-timeout=3s",  # the second peer waits this long for the first's notification
                    "--log.level=warn",
                ],
                tmp_path,
                f"http://127.0.0.1:{am_web[n]}/-/ready",
            )
        )
    for n in range(2):
        config = prometheus_config(
            exporter=f"127.0.0.1:{web}",
            alertmanager=f"127.0.0.1:{am_web[0]}",
            itself=f"127.0.0.1:{prom[n]}",
            rule_files=[str(tmp_path / "budgets.rules.yaml")],
            interval="1s",
        )
        config["global"]["external_labels"] = {"replica": f"prometheus-{n}"}
        config["alerting"]["alertmanagers"][0]["static_configs"] = [
            {"targets": [f"127.0.0.1:{port}" for port in am_web]}
        ]
        config["alerting"]["alert_relabel_configs"] = [{"action": "labeldrop", "regex": "replica"}]
        (tmp_path / f"prometheus-{n}.yml").write_text(yaml.safe_dump(config))
        processes.append(
            spawn(
                f"prometheus-{n}",
                [
                    prometheus_binary,
                    f"--config.file={tmp_path / f'prometheus-{n}.yml'}",
                    f"--storage.tsdb.path={tmp_path / f'prometheus-{n}-data'}",
                    f"--web.listen-address=127.0.0.1:{prom[n]}",
                    "--web.enable-lifecycle",
                    "--rules.alert.resend-delay=2s",
                    "--log.level=warn",
                ],
                tmp_path,
                f"http://127.0.0.1:{prom[n]}/-/ready",
            )
        )

    with generations(routing) as seen:
        # Spend past the $0.01 budget: both replicas fire, the cluster notifies, the file swaps once.
        push(otlp, [Call("shop", "exact-a", 2000, 1000) for _ in range(3)])  # $0.0125 each
        wait_until(lambda: swapped(routing), timeout=60)
        time.sleep(8)  # both replicas keep sending it; both Alertmanagers hold it: nothing changes
        assert seen == [1]
        # Raise the budget on both replicas: the alert resolves on each, the file swaps back once.
        (tmp_path / "budgets.yaml").write_text(BUDGETS.format(amount=1000))
        write_rules(tmp_path)
        for port in prom:
            assert httpx.post(f"http://127.0.0.1:{port}/-/reload", timeout=10).status_code == 200
        wait_until(lambda: not swapped(routing), timeout=60)
        time.sleep(8)
        assert seen == [1, 2]
    metrics = httpx.get(f"http://127.0.0.1:{web}/metrics", timeout=10).text
    assert 'llm_routing_swaps_total{action="added",budget="shop-hourly"} 1.0' in metrics
    assert 'llm_routing_swaps_total{action="removed",budget="shop-hourly"} 1.0' in metrics
    # Both Alertmanagers knew the alert (each Prometheus sent to each) and agree it has resolved.
    for port in am_web:
        alerts = httpx.get(f"http://127.0.0.1:{port}/api/v2/alerts", params={"active": "true"}, timeout=10).json()
        assert [a for a in alerts if a["labels"].get("alertname") == "LLMBudgetExceeded"] == []
