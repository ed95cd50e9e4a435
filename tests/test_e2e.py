"""The whole loop, for real: an app's spans → cost in Prometheus → budget alert → Alertmanager → swap → back.

A real Prometheus and Alertmanager (Debian packages) and our ``serve``, configured from deploy/ by the
same code as `make demo`; an app using the real OpenTelemetry SDK with OpenLLMetry's OpenAI
instrumentation and the real openai client, whose provider is a fake on loopback. Every query of every
Grafana dashboard runs against the live Prometheus while the budget is exceeded.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import openai
import pytest
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.instrumentation.openai import OpenAIInstrumentor
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor

from demo.stack import LocalStack, wait_for
from llm_cost_tracker.routing import ModelRouter
from llm_cost_tracker.routing.document import parse
from llm_cost_tracker.rules.generator import Resolution, generate
from llm_cost_tracker.rules.render import prometheus_rules
from llm_cost_tracker.rules.spec import load_budgets
from tests.conftest import need_binary
from tests.fake_provider import FakeProvider, fake_openai
from tests.golden import dashboard_cases, dashboards_module

pytestmark = pytest.mark.binary

BUDGETS = """\
version: llm-cost-tracker/v1
budgets:
  - name: shop-monthly
    match: {{org: e2e, project: shop}}
    amount_usd: {amount}
    period: month
    alerts: {{thresholds: [0.5, 1.0], forecast: true, burn_rate: true, keep_firing_for: 0s}}
    on_exceeded:
      swap: [{{from: gpt-4o, to: gpt-4o-mini}}]
"""
# Rules evaluated every second, scraped every second: the loop in seconds, not minutes.
RESOLUTION = Resolution.parse("1s", "2s")  # the scrape timeout is 1 s
UNPRICED = "acme-finetune-1"  # a model no catalog prices: the exporter dashboard's unpriced panel
# Grafana's variables, as Grafana would expand them over this test's short history.
GRAFANA_VARIABLES = {
    "$__rate_interval": "15s",
    "$__interval": "5s",
    "$__range": "5m",
    "$org": ".*",
    "$project": ".*",
    "$provider": ".*",
    "$model": ".*",
    "$budget": ".*",
}


def write_rules(stack: LocalStack, budgets: Path) -> None:
    text = prometheus_rules(generate(load_budgets(budgets), RESOLUTION), budgets.name)
    (stack.rules_dir / "budgets.rules.yaml").write_text(text)


@dataclass
class App:
    """An instrumented app that calls gpt-4o through the router, a few calls a second, until stopped."""

    provider: FakeProvider
    otlp_url: str
    routing_file: Path
    stop: threading.Event = field(default_factory=threading.Event)
    errors: list[BaseException] = field(default_factory=list)

    def run(self) -> None:
        tracing = TracerProvider(resource=Resource.create({"service.name": "shop", "service.namespace": "e2e"}))
        tracing.add_span_processor(
            BatchSpanProcessor(OTLPSpanExporter(endpoint=f"{self.otlp_url}/v1/traces"), schedule_delay_millis=200)
        )
        instrumentor = OpenAIInstrumentor()
        instrumentor.instrument(tracer_provider=tracing)
        client = openai.OpenAI(base_url=self.provider.url, api_key="sk-e2e-not-a-key", max_retries=0)
        router = ModelRouter(self.routing_file, scope={"org": "e2e", "project": "shop"})
        try:
            calls = 0
            while not self.stop.is_set():
                model = UNPRICED if calls % 10 == 9 else router.resolve("gpt-4o")
                client.chat.completions.create(
                    model=model, messages=[{"role": "user", "content": "Where is my order?"}]
                )
                calls += 1
                time.sleep(0.15)
        except BaseException as exc:  # reported by the test, not lost in the thread
            self.errors.append(exc)
        finally:
            instrumentor.uninstrument()
            tracing.shutdown()


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[LocalStack]:
    need_binary("prometheus")
    need_binary("prometheus-alertmanager", "alertmanager")
    budgets = tmp_path / "budgets.yaml"
    budgets.write_text(BUDGETS.format(amount=0.1))
    local = LocalStack(tmp_path / "stack", budgets, rules=[], interval="1s", fast_alerts=True)
    local.write_configs()
    write_rules(local, budgets)
    with local:
        yield local


def sent_after(provider: FakeProvider, moment: float) -> list[str]:
    """Models of the requests (gpt-4o family, not the unpriced one) that reached the provider after ``moment``."""
    count = min(len(provider.requests), len(provider.received))
    return [
        str(provider.requests[i]["model"])
        for i in range(count)
        if provider.received[i] > moment and provider.requests[i]["model"] != UNPRICED
    ]


def overrides(stack: LocalStack) -> list[tuple[str, str]]:
    if not stack.routing_file.exists():
        return []
    return [(o.from_, o.to) for o in parse(stack.routing_file.read_text()).overrides]


def wait(stack: LocalStack, predicate: Callable[[], bool], timeout: float, what: str) -> None:
    """``wait_for``, failing with what the stack was doing: alerts, routing file, logs."""
    try:
        wait_for(predicate, timeout, what)
    except TimeoutError as exc:
        am = httpx.get(f"{stack.alertmanager_url}/api/v2/alerts", timeout=10).json()
        routing = stack.routing_file.read_text() if stack.routing_file.exists() else "(no routing file)"
        logs = "\n".join(
            f"--- {name}.log\n" + (stack.workdir / f"{name}.log").read_text(errors="replace")[-2000:]
            for name in ("exporter", "prometheus", "alertmanager")
        )
        raise AssertionError(
            f"{exc}\nPrometheus ALERTS: {stack.query('ALERTS')}\n"
            f"ratio: {stack.query('budget:llm_cost_usd:ratio')}\n"
            f"Alertmanager: {[(a['labels']['alertname'], a['status']['state'], a['endsAt']) for a in am]}\n"
            f"{routing}\n{logs}"
        ) from None


def firing(stack: LocalStack, alertname: str) -> bool:
    return bool(stack.query(f'ALERTS{{alertname="{alertname}",alertstate="firing",budget="shop-monthly"}}'))


def dashboard_queries() -> Iterator[tuple[str, str, str]]:
    """(dashboard, panel title, PromQL with Grafana's variables expanded) for every panel target."""
    for path, text in dashboard_cases().items():
        board = json.loads(text)
        for panel in board["panels"]:
            for target in panel.get("targets", []):
                expr = target["expr"]
                for variable, value in sorted(GRAFANA_VARIABLES.items(), key=lambda kv: -len(kv[0])):
                    expr = expr.replace(variable, value)
                assert "$" not in expr, f"{path.name}: {panel['title']}: unexpanded variable in {expr}"
                yield path.name, panel["title"], expr


def check_dashboards(stack: LocalStack) -> None:
    empty_ok: dict[str, str] = dashboards_module().EMPTY_OK
    problems = []
    for board, title, expr in dashboard_queries():
        try:
            result = stack.query(expr)
        except Exception as exc:
            problems.append(f"{board}: {title}: {exc}")
            continue
        if not result and title not in empty_ok:
            problems.append(f"{board}: {title}: no data for {expr}")
    # Template variables: label_values(metric, label) as Grafana asks Prometheus for them.
    for path, text in dashboard_cases().items():
        for variable in json.loads(text)["templating"]["list"]:
            query = variable.get("query")
            found = re.fullmatch(r"label_values\((\w+), (\w+)\)", query) if isinstance(query, str) else None
            if variable["type"] == "query":
                assert found, f"{path.name}: variable {variable['name']}: unexpected query {query!r}"
                metric, label = found.groups()
                values = httpx.get(
                    f"{stack.prometheus_url}/api/v1/label/{label}/values", params={"match[]": metric}, timeout=10
                ).json()["data"]
                if not values:
                    problems.append(f"{path.name}: variable {variable['name']}: no values")
    assert not problems, "\n".join(problems)


def test_spend_alert_swap_and_swap_back(stack: LocalStack) -> None:
    with fake_openai() as provider:
        app = App(provider, stack.otlp_url, stack.routing_file)
        thread = threading.Thread(target=app.run, daemon=True)
        thread.start()
        try:
            # 1. The app's calls are priced and scraped.
            wait_for(lambda: bool(stack.query('llm_cost_usd_total{project="shop",model="gpt-4o"}')), 30, "cost series")
            assert sent_after(provider, 0)[0] == "gpt-4o"

            # 2. Past $0.10, the generated alert fires, Alertmanager calls the webhook, the file swaps...
            wait(stack, lambda: overrides(stack) == [("gpt-4o", "gpt-4o-mini")], 60, "the swap in the routing file")
            assert firing(stack, "LLMBudgetExceeded")
            swapped_at = stack.routing_file.stat().st_mtime
            # ...and the app's next calls go out with the cheaper model: the body that leaves the app says so.
            wait_for(lambda: len(sent_after(provider, swapped_at + 0.05)) >= 3, 10, "calls after the swap")
            assert set(sent_after(provider, swapped_at + 0.05)) == {"gpt-4o-mini"}
            assert app.errors == []

            # 3. Every dashboard query parses and, where data is expected, returns data.
            wait_for(lambda: bool(stack.query('llm_cost_usd_total{model="gpt-4o-mini"}')), 20, "gpt-4o-mini's cost")
            check_dashboards(stack)

            # 4. Raise the budget: regenerate the rules, reload Prometheus; the alert resolves and the swap reverts.
            stack.budgets.write_text(BUDGETS.format(amount=1000))
            write_rules(stack, stack.budgets)
            stack.reload_prometheus()
            wait(stack, lambda: overrides(stack) == [], 40, "the swap to be removed")
            reverted_at = stack.routing_file.stat().st_mtime
            wait_for(lambda: len(sent_after(provider, reverted_at + 0.05)) >= 3, 10, "calls after the revert")
            assert set(sent_after(provider, reverted_at + 0.05)) == {"gpt-4o"}
            assert not firing(stack, "LLMBudgetExceeded")
        finally:
            app.stop.set()
            thread.join(10)
    assert app.errors == []
    metrics = httpx.get(f"{stack.exporter_url}/metrics", timeout=10).text
    assert 'llm_routing_swaps_total{action="added",budget="shop-monthly"} 1.0' in metrics
    assert 'llm_routing_swaps_total{action="removed",budget="shop-monthly"} 1.0' in metrics
