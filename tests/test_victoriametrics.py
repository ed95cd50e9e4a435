"""The generated rules on VictoriaMetrics, for real: vmagent scrapes, vmalert evaluates, Alertmanager swaps.

VictoriaMetrics, vmagent and vmalert from Debian's ``victoria-metrics`` package, our ``serve`` and a real
Alertmanager. vmalert runs the ``--format vmalert`` rule file; the spend it records must be the exact sum of
the calls' prices, as on Prometheus, although vmalert writes each rule's result asynchronously (a rule that
reads another sees its previous evaluation) and MetricsQL's ``increase()`` differs from PromQL's; the budget
must swap the model once when exceeded and swap it back once when raised, after its ``keep_firing_for``.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from demo.stack import (
    alertmanager_command,
    free_port,
    spawn,
    wait_for,
)
from llm_cost_tracker.rules.generator import Resolution, generate
from llm_cost_tracker.rules.render import vmalert_rules
from llm_cost_tracker.rules.spec import load_budgets
from tests.conftest import need_binary
from tests.exactness import Call, calls
from tests.swap_loop import generations, push, start_exporter, swapped

pytestmark = pytest.mark.binary

HINT = "Debian: apt-get install victoria-metrics (VictoriaMetrics, vmagent and vmalert)"
BUDGETS = """\
version: llm-cost-tracker/v1
budgets:
  - {{name: all-month, amount_usd: 1000, period: month}}
  - {{name: all-hour, amount_usd: 1000, period: 1h}}
  - name: shop-hourly
    match: {{project: shop}}
    amount_usd: {amount}
    period: 1h  # a rolling window: no period starts over while the test runs, whatever the clock says
    alerts: {{thresholds: [1.0], keep_firing_for: 20s}}
    on_exceeded:
      swap: [{{from: gpt-4o, to: gpt-4o-mini}}]
"""
# VictoriaMetrics makes a sample searchable a second or two after it arrives: each rule must find the result of
# the previous evaluation of the rules it reads, so the interval is longer than in the Prometheus tests.
RESOLUTION = Resolution.parse("10s", "5s")
LATENCY = "5s"  # VictoriaMetrics' -search.latencyOffset, and vmalert's -datasource.lookback that matches it


def write_rules(workdir: Path) -> None:
    rules = generate(load_budgets(workdir / "budgets.yaml"), RESOLUTION)
    (workdir / "budgets.rules.yaml").write_text(vmalert_rules(rules, "budgets.yaml"))


def query(vm: int, expr: str) -> dict[str, float]:
    """``expr`` at VictoriaMetrics, ``{budget: value}``."""
    response = httpx.get(f"http://127.0.0.1:{vm}/api/v1/query", params={"query": expr, "nocache": "1"}, timeout=10)
    response.raise_for_status()
    return {r["metric"].get("budget", ""): float(r["value"][1]) for r in response.json()["data"]["result"]}


def test_vmalert_records_exact_spend_and_swaps_once_and_back_once(tmp_path: Path, processes: list[Any]) -> None:
    binaries = {name: need_binary(name, hint=HINT) for name in ("victoria-metrics", "vmagent", "vmalert")}
    alertmanager_binary = need_binary("prometheus-alertmanager", "alertmanager")
    (tmp_path / "budgets.yaml").write_text(BUDGETS.format(amount="0.02"))
    write_rules(tmp_path)
    otlp, web, vm, agent, alert, am = (free_port() for _ in range(6))
    routing = tmp_path / "routing.yaml"
    (tmp_path / "scrape.yml").write_text(
        yaml.safe_dump(
            {
                "global": {"scrape_interval": "1s", "scrape_timeout": "1s"},
                "scrape_configs": [
                    {"job_name": "llm-cost-tracker", "static_configs": [{"targets": [f"127.0.0.1:{web}"]}]}
                ],
            }
        )
    )
    # A new series' zero must reach VictoriaMetrics an evaluation before its first call: then the series the
    # rules record for it exists (and is searchable, which takes VictoriaMetrics longer for a new series than
    # for a new sample) before it first records an increase.
    processes.append(start_exporter(tmp_path, otlp, web, [am], hold=2 * RESOLUTION.interval_seconds))
    processes.append(
        spawn(
            "alertmanager",
            alertmanager_command(alertmanager_binary, tmp_path, am),
            tmp_path,
            f"http://127.0.0.1:{am}/-/ready",
        )
    )
    processes.append(
        spawn(
            "victoria-metrics",
            [
                binaries["victoria-metrics"],
                f"-storageDataPath={tmp_path / 'vm-data'}",
                f"-httpListenAddr=127.0.0.1:{vm}",
                f"-search.latencyOffset={LATENCY}",
                "-loggerLevel=WARN",
            ],
            tmp_path,
            f"http://127.0.0.1:{vm}/health",
        )
    )
    processes.append(
        spawn(
            "vmagent",
            [
                binaries["vmagent"],
                f"-promscrape.config={tmp_path / 'scrape.yml'}",
                f"-remoteWrite.url=http://127.0.0.1:{vm}/api/v1/write",
                f"-remoteWrite.tmpDataPath={tmp_path / 'vmagent-data'}",
                "-remoteWrite.flushInterval=200ms",
                f"-httpListenAddr=127.0.0.1:{agent}",
                "-loggerLevel=WARN",
            ],
            tmp_path,
            f"http://127.0.0.1:{agent}/health",
        )
    )
    processes.append(
        spawn(
            "vmalert",
            [
                binaries["vmalert"],
                f"-rule={tmp_path / 'budgets.rules.yaml'}",
                f"-datasource.url=http://127.0.0.1:{vm}",
                f"-remoteWrite.url=http://127.0.0.1:{vm}",
                f"-notifier.url=http://127.0.0.1:{am}",
                f"-datasource.lookback={LATENCY}",
                "-remoteWrite.flushInterval=200ms",
                "-evaluationInterval=10s",
                f"-httpListenAddr=127.0.0.1:{alert}",
                "-loggerLevel=WARN",
            ],
            tmp_path,
            f"http://127.0.0.1:{alert}/health",
        )
    )

    with generations(routing) as seen:
        # New series arriving over several evaluations, each call's first increment included.
        started = datetime.now(tz=UTC)
        sent = calls(label_sets=40, seed=7)
        for n in range(4):
            push(otlp, sent[n::4])
            time.sleep(1.5)
        truth = sum((call.cost for call in sent), Decimal(0))

        def recorded(budget: str) -> Decimal | None:
            got = query(vm, f'budget:llm_cost_usd:period{{budget="{budget}"}}').get(budget)
            return None if got is None else Decimal(repr(got))

        def same_month() -> bool:
            """The rules read the real clock: a run across a month's end starts all-month over (the rules read
            10 s late: a minute's margin)."""
            first, last = started - timedelta(minutes=1), datetime.now(tz=UTC) + timedelta(minutes=1)
            return (first.year, first.month) == (last.year, last.month)

        def spend_is(expected: Decimal, what: str) -> None:
            """The rolling hour's spend (a sum of the recorded increases) and, unless the month ended meanwhile,
            the calendar month's (each evaluation adds to the previous one's total) are exactly ``expected``."""
            for budget in ("all-hour", "all-month") if same_month() else ("all-hour",):

                def exact(budget: str = budget) -> bool:
                    got = recorded(budget)
                    return got is not None and abs(got - expected) < Decimal("1e-9")

                try:
                    wait_for(exact, 120, f"{what} ({budget})", interval=0.5)
                except TimeoutError as exc:
                    raise AssertionError(f"{exc}: recorded {recorded(budget)}, the calls cost {expected}") from None

        def swapped_is(expected: bool, what: str) -> None:
            try:
                wait_for(lambda: swapped(routing) == expected, 120, what)
            except TimeoutError as exc:
                alerts = httpx.get(f"http://127.0.0.1:{alert}/api/v1/alerts", timeout=10).text
                ratio = query(vm, "budget:llm_cost_usd:ratio")
                raise AssertionError(f"{exc}: ratio {ratio}, vmalert's alerts {alerts}") from None

        spend_is(truth, "the spend of the first calls")
        assert seen == []

        # Spend past shop's $0.02 an hour: vmalert fires, Alertmanager notifies, the file swaps once.
        shop = [Call("shop", "exact-a", 2000, 1000) for _ in range(3)]  # $0.0125 each
        push(otlp, shop)
        swapped_is(True, "the swap")
        truth += sum((call.cost for call in shop), Decimal(0))
        spend_is(truth, "the spend with shop's calls")
        time.sleep(12)  # vmalert keeps sending it: nothing changes
        assert seen == [1]

        # Raise the budget: the alert resolves once its 20 s keep_firing_for is over, the file swaps back once.
        (tmp_path / "budgets.yaml").write_text(BUDGETS.format(amount=1000))
        write_rules(tmp_path)
        raised = time.monotonic()
        assert httpx.get(f"http://127.0.0.1:{alert}/-/reload", timeout=10).status_code == 200
        swapped_is(False, "the swap back")
        assert time.monotonic() - raised >= 20
        time.sleep(12)
        assert seen == [1, 2]
        spend_is(truth, "the spend, unchanged")
