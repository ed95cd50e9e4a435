"""The Grafana dashboards, as code (grafana-foundation-sdk), written to grafana/dashboards/*.json.

    python grafana/generate.py          (or `make golden`, which regenerates every generated file)

Every dashboard takes its data source as a variable (``$datasource``), so it can be imported into any
Grafana, and filters by org, project, provider and model. The end-to-end test runs every query here
against a live Prometheus; ``EMPTY_OK`` names the panels that may rightly show no data there.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path

from grafana_foundation_sdk.builders import bargauge, dashboard, prometheus, stat, table, timeseries
from grafana_foundation_sdk.builders.dashboard import ThresholdsConfig
from grafana_foundation_sdk.cog.builder import Builder
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models.dashboard import (
    DashboardCursorSync,
    DataSourceRef,
    Threshold,
    ThresholdsMode,
    VariableRefresh,
    VariableSort,
)

OUT = Path(__file__).parent / "dashboards"
DATASOURCE = DataSourceRef(type_val="prometheus", uid="${datasource}")
FILTER = 'org=~"$org",project=~"$project",provider=~"$provider",model=~"$model"'
BUDGET = f'budget=~"$budget",{FILTER}'
"""A budget's series carry its match labels; a label it does not match on is empty, which ``=~".*"`` matches."""

EMPTY_OK = {
    # Panels that show nothing until something goes wrong or a rare event happens.
    "Rejected spans by reason": "nothing rejected",
    "OTLP requests refused": "nothing refused",
    "Series folded into __overflow__": "no cardinality overflow",
    "Threshold alerts": "no threshold reached",
    "Forecast alerts": "no forecast alert",
    "Burn-rate alerts": "no burn-rate alert",
    "Saved by budget swaps": "the end-to-end app swaps with ModelRouter.resolve, which does not mark calls",
}
"""Panel title → why the end-to-end test may find it empty."""

Panel = Builder[object]


def in_range(metric: str, by: str = "", matchers: str = FILTER) -> str:
    """``metric``'s growth over the dashboard's range: the rules' exact increases (docs/exactness.md), or
    ``increase()`` where the rules are not loaded."""
    aggregate = f"sum by ({by})" if by else "sum"
    exact = metric.removesuffix("_total").replace("llm_", "series:llm_", 1) + ":increase_exact"
    return (
        f"({aggregate} (sum_over_time({exact}{{{matchers}}}[$__range]))"
        f" or {aggregate} (increase({metric}{{{matchers}}}[$__range])))"
    )


def share(part: str, whole: str, by: str) -> str:
    """``part``'s rate as a share of ``whole``'s, by ``by``: 0 (not "no data") where ``part`` has no series, since a
    label set shows a token type or an outcome only once it has counted one."""
    total = f"sum by ({by}) (rate({whole}[$__rate_interval]))"
    return f"(sum by ({by}) (rate({part}[$__rate_interval])) or 0 * {total}) / {total}"


def query(expr: str, legend: str = "", *, instant: bool = False, ref: str = "A") -> prometheus.Dataquery:
    target = prometheus.Dataquery().expr(expr).ref_id(ref)
    if legend:
        target = target.legend_format(legend)
    return target.instant() if instant else target.range()


def thresholds(*steps: tuple[float | None, str]) -> ThresholdsConfig:
    return ThresholdsConfig().mode(ThresholdsMode.ABSOLUTE).steps([Threshold(value=v, color=c) for v, c in steps])


def series(title: str, unit: str, *targets: prometheus.Dataquery, width: int = 12, description: str = "") -> Panel:
    panel = timeseries.Panel().title(title).datasource(DATASOURCE).unit(unit).height(8).span(width)
    if description:
        panel = panel.description(description)
    for target in targets:
        panel = panel.with_target(target)
    return panel


def single(title: str, unit: str, target: prometheus.Dataquery, *, width: int = 6, description: str = "") -> Panel:
    panel = stat.Panel().title(title).datasource(DATASOURCE).unit(unit).height(4).span(width).with_target(target)
    return panel.description(description) if description else panel


def bars(
    title: str, unit: str, target: prometheus.Dataquery, *, width: int = 12, steps: ThresholdsConfig | None = None
) -> Panel:
    panel = bargauge.Panel().title(title).datasource(DATASOURCE).unit(unit).height(8).span(width).with_target(target)
    return panel.thresholds(steps) if steps is not None else panel


def listing(title: str, target: prometheus.Dataquery, *, width: int = 12, description: str = "") -> Panel:
    panel = table.Panel().title(title).datasource(DATASOURCE).height(8).span(width).with_target(target)
    return panel.description(description) if description else panel


def label_variable(name: str, label: str, metric: str = "llm_cost_usd_total") -> dashboard.QueryVariable:
    return (
        dashboard.QueryVariable(name)
        .label(label)
        .datasource(DATASOURCE)
        .query(f"label_values({metric}, {name})")
        .multi(True)
        .include_all(True)
        .all_value(".*")
        .refresh(VariableRefresh.ON_TIME_RANGE_CHANGED)
        .sort(VariableSort.ALPHABETICAL_CASE_INSENSITIVE_ASC)
    )


def base(uid: str, title: str, description: str, *, labels: bool = True) -> dashboard.Dashboard:
    board = (
        dashboard.Dashboard(title)
        .uid(uid)
        .description(description)
        .tags(["llm-cost-tracker", "llm", "finops"])
        .refresh("30s")
        .time("now-6h", "now")
        .timezone("utc")
        .tooltip(DashboardCursorSync.CROSSHAIR)
        .with_variable(dashboard.DatasourceVariable("datasource").label("Data source").type("prometheus"))
    )
    if labels:
        for name, label in (("org", "Org"), ("project", "Project"), ("provider", "Provider"), ("model", "Model")):
            board = board.with_variable(label_variable(name, label))
    return board


def cost_overview() -> dashboard.Dashboard:
    cost = f"llm_cost_usd_total{{{FILTER}}}"
    return (
        base("llm-cost-overview", "LLM cost: overview", "Spend by org, project, provider and model; budgets.")
        .with_panel(
            single(
                "Spend in range",
                "currencyUSD",
                query(in_range("llm_cost_usd_total"), instant=True),
                description="Exact, from the generated rules' recorded increases (increase() if they are not loaded).",
            )
        )
        .with_panel(
            single(
                "Spend rate now",
                "currencyUSD",
                query(f"sum(rate({cost}[5m])) * 3600", instant=True),
                description="US dollars per hour, over the last 5 minutes.",
            )
        )
        .with_panel(
            single(
                "LLM calls in range",
                "short",
                query(in_range("llm_requests_total"), instant=True),
            )
        )
        .with_panel(
            single(
                "Cost per 1000 calls",
                "currencyUSD",
                query(
                    f"{in_range('llm_cost_usd_total')} / {in_range('llm_requests_total')} * 1000",
                    instant=True,
                ),
            )
        )
        .with_panel(
            series(
                "Spend by project ($/h)",
                "currencyUSD",
                query(f"sum by (org, project) (rate({cost}[$__rate_interval])) * 3600", "{{org}}/{{project}}").exemplar(
                    True
                ),
                description="With web.exemplars and Prometheus's exemplar storage, the dots are recent expensive "
                "calls: add a trace_id data link to your tracing data source to jump to the trace.",
            )
        )
        .with_panel(
            series(
                "Spend by provider and model ($/h)",
                "currencyUSD",
                query(f"sum by (provider, model) (rate({cost}[$__rate_interval])) * 3600", "{{provider}} {{model}}"),
            )
        )
        .with_panel(
            bars(
                "Top models by spend in range",
                "currencyUSD",
                query(
                    f"topk(10, {in_range('llm_cost_usd_total', 'provider, model')})",
                    "{{provider}} {{model}}",
                    instant=True,
                ),
            )
        )
        .with_panel(
            bars(
                "Spend by org in range",
                "currencyUSD",
                query(in_range("llm_cost_usd_total", "org"), "{{org}}", instant=True),
            )
        )
        .with_panel(
            series(
                "Budgets: spent in period, budget and forecast",
                "currencyUSD",
                query("budget:llm_cost_usd:period", "{{budget}} spent"),
                query("llm_budget_amount_usd", "{{budget}} budget", ref="B"),
                query("budget:llm_cost_usd:forecast", "{{budget}} forecast at period end", ref="C"),
                width=24,
                description="Month-to-date (or day, week, rolling window) spend of each budget, from the generated "
                "recording rules.",
            )
        )
    )


def budgets() -> dashboard.Dashboard:
    board = (
        base(
            "llm-cost-budgets",
            "LLM cost: budgets",
            "Each budget's spend, thresholds, forecast, burn rate, alerts and model swaps.",
        )
        .with_variable(label_variable("budget", "Budget", "llm_budget_amount_usd"))
        .with_panel(
            bars(
                "Spent of budget",
                "percentunit",
                query(f"budget:llm_cost_usd:ratio{{{BUDGET}}}", "{{budget}}", instant=True),
                steps=thresholds((None, "green"), (0.8, "orange"), (1.0, "red")),
            )
        )
        .with_panel(
            listing(
                "Active model swaps",
                query('llm_routing_override_active{budget=~"$budget|pin",project=~"$project"} == 1', instant=True),
                description="Swaps in the routing file: by budgets exceeded, or pinned by people (budget=pin).",
            )
        )
        .with_panel(
            series(
                "Spent in period and budget",
                "currencyUSD",
                query(f"budget:llm_cost_usd:period{{{BUDGET}}}", "{{budget}} spent"),
                query(f"llm_budget_amount_usd{{{BUDGET}}}", "{{budget}} budget", ref="B"),
            )
        )
        .with_panel(
            series(
                "Forecast at period end",
                "currencyUSD",
                query(f"budget:llm_cost_usd:forecast{{{BUDGET}}}", "{{budget}} forecast"),
                query(f"llm_budget_amount_usd{{{BUDGET}}}", "{{budget}} budget", ref="B"),
                description="Spend at the end of the calendar period if the last day's rate goes on.",
            )
        )
        .with_panel(
            series(
                "Burn rate",
                "x",
                query(f"budget:llm_cost_usd:burn_rate1h{{{BUDGET}}}", "{{budget}} 1h"),
                query(f"budget:llm_cost_usd:burn_rate6h{{{BUDGET}}}", "{{budget}} 6h", ref="B"),
                query(f"budget:llm_cost_usd:burn_rate5m{{{BUDGET}}}", "{{budget}} 5m", ref="C"),
                description="Spending rate / the rate the budget allows. Pages above 14.4 (1h and 5m); warns above "
                "6 (6h and 30m).",
            )
        )
        .with_panel(
            single(
                "Saved by budget swaps",
                "currencyUSD",
                query(in_range("llm_cost_avoided_usd_total", matchers='budget=~"$budget",project=~"$project"')),
                description="What the calls budget swaps sent to cheaper models would have cost more on the models "
                "the apps asked for, over the range (llm_cost_avoided_usd_total; the integrations mark the calls they "
                "swap: docs/routing.md).",
            )
        )
        .with_panel(
            series(
                "Model swaps",
                "short",
                query(
                    'sum by (budget, action) (increase(llm_routing_swaps_total{budget=~"$budget"}[$__rate_interval]))',
                    "{{budget}} {{action}}",
                ),
            )
        )
    )
    alerts = (
        ("Exceeded budgets", 'alertname="LLMBudgetExceeded",alertstate="firing"'),
        ("Threshold alerts", 'alertname="LLMBudgetThresholdReached"'),
        ("Forecast alerts", 'alertname="LLMBudgetForecastExceeded"'),
        ("Burn-rate alerts", 'alertname="LLMBudgetBurnRateHigh"'),
    )
    for title, matchers in alerts:
        board = board.with_panel(listing(title, query(f"ALERTS{{{matchers},{BUDGET}}}", instant=True), width=6))
    return board


def tokens_and_latency() -> dashboard.Dashboard:
    tokens = f"llm_tokens_total{{{FILTER}}}"
    requests = f"llm_requests_total{{{FILTER}}}"
    # Per model only with web.duration_histogram_labels naming model: not filtered by $model.
    buckets = 'llm_request_duration_seconds_bucket{org=~"$org",project=~"$project",provider=~"$provider"}'
    cache_read = f'llm_tokens_total{{{FILTER},token_type="cache_read"}}'
    all_input = f'llm_tokens_total{{{FILTER},token_type=~"input|cache_read|cache_write"}}'
    return (
        base("llm-cost-tokens", "LLM cost: tokens and latency", "Tokens by type, caching, calls, errors, durations.")
        .with_panel(
            series(
                "Tokens by type (per second)",
                "short",
                query(f"sum by (token_type) (rate({tokens}[$__rate_interval]))", "{{token_type}}"),
            )
        )
        .with_panel(
            series(
                "Prompt cache hit ratio",
                "percentunit",
                query(share(cache_read, all_input, "provider, model"), "{{provider}} {{model}}"),
                description="Input tokens read from the provider's prompt cache, of all input tokens.",
            )
        )
        .with_panel(
            series(
                "Calls per second by outcome",
                "reqps",
                query(f"sum by (outcome) (rate({requests}[$__rate_interval]))", "{{outcome}}"),
            )
        )
        .with_panel(
            series(
                "Error ratio by model",
                "percentunit",
                query(
                    share(f'llm_requests_total{{{FILTER},outcome="error"}}', requests, "provider, model"),
                    "{{provider}} {{model}}",
                ),
            )
        )
        .with_panel(
            series(
                "Duration p50 by provider and operation",
                "s",
                query(
                    f"histogram_quantile(0.5, sum by (le, provider, operation) (rate({buckets}[$__rate_interval])))",
                    "{{provider}} {{operation}}",
                ),
            )
        )
        .with_panel(
            series(
                "Duration p95 by provider and operation",
                "s",
                query(
                    f"histogram_quantile(0.95, sum by (le, provider, operation) (rate({buckets}[$__rate_interval])))",
                    "{{provider}} {{operation}}",
                ),
            )
        )
        .with_panel(
            series(
                "Tokens per call by model",
                "short",
                query(
                    f"sum by (model) (rate({tokens}[$__rate_interval]))"
                    f' / sum by (model) (rate(llm_requests_total{{{FILTER},outcome="ok"}}[$__rate_interval]))',
                    "{{model}}",
                ),
                width=24,
            )
        )
    )


def exporter_health() -> dashboard.Dashboard:
    return (
        base(
            "llm-cost-exporter",
            "LLM cost: exporter health",
            "The exporter's own metrics: ingestion, rejections, unpriced models, cardinality, reloads, routing.",
            labels=False,
        )
        .with_panel(single("Exporters", "short", query("count(llm_cost_tracker_build_info)", instant=True)))
        .with_panel(
            single(
                "Config reload ok",
                "bool",
                query("min(llm_cost_tracker_config_last_reload_successful)", instant=True),
            )
        )
        .with_panel(
            single(
                "Routing file generation",
                "short",
                query("max(llm_routing_file_generation)", instant=True),
                description="Bumped on every change of the routing file; 0 when there is none yet.",
            )
        )
        .with_panel(
            single(
                "Routing file readable",
                "bool",
                query("min(llm_routing_file_readable)", instant=True),
            )
        )
        .with_panel(
            series(
                "Spans per second by result",
                "short",
                query(
                    "sum by (result) (rate(llm_cost_tracker_spans_total[$__rate_interval]))",
                    "{{result}}",
                ),
            )
        )
        .with_panel(
            series(
                "Rejected spans by reason",
                "short",
                query(
                    'sum by (reason) (rate(llm_cost_tracker_spans_total{result="rejected"}[$__rate_interval])) > 0',
                    "{{reason}}",
                ),
            )
        )
        .with_panel(
            listing(
                "Unpriced models",
                query(
                    "sum by (provider, model) (increase(llm_unpriced_requests_total[$__range])) > 0",
                    instant=True,
                ),
                description="Calls no price applies to: add the model to the price overrides file.",
            )
        )
        .with_panel(
            series(
                "Series folded into __overflow__",
                "short",
                query(
                    "sum by (metric) (increase(llm_cost_tracker_series_dropped_total[$__rate_interval])) > 0",
                    "{{metric}}",
                ),
            )
        )
        .with_panel(
            series(
                "OTLP requests per second by code",
                "reqps",
                query(
                    "sum by (signal, code) (rate(llm_cost_tracker_otlp_requests_total[$__rate_interval]))",
                    "{{signal}} {{code}}",
                ),
            )
        )
        .with_panel(
            series(
                "OTLP requests refused",
                "reqps",
                query(
                    "sum by (signal, reason) (rate(llm_cost_tracker_otlp_request_errors_total[$__rate_interval])) > 0",
                    "{{signal}} {{reason}}",
                ),
            )
        )
        .with_panel(
            series(
                "Ingest duration p99",
                "s",
                query(
                    "histogram_quantile(0.99, sum by (le, signal) "
                    "(rate(llm_cost_tracker_ingest_duration_seconds_bucket[$__rate_interval])))",
                    "{{signal}}",
                ),
            )
        )
        .with_panel(
            series(
                "Webhook requests by code",
                "short",
                query(
                    "sum by (code) (increase(llm_cost_tracker_webhook_requests_total[$__rate_interval]))",
                    "{{code}}",
                ),
            )
        )
    )


DASHBOARDS: dict[str, Callable[[], dashboard.Dashboard]] = {
    "llm-cost-overview.json": cost_overview,
    "llm-cost-budgets.json": budgets,
    "llm-cost-tokens.json": tokens_and_latency,
    "llm-cost-exporter.json": exporter_health,
}


def render() -> dict[Path, str]:
    """Dashboard file → its JSON."""
    return {
        OUT / name: json.dumps(build().build(), cls=JSONEncoder, indent=2, sort_keys=True) + "\n"
        for name, build in DASHBOARDS.items()
    }


def main() -> None:
    OUT.mkdir(exist_ok=True)
    for path, text in render().items():
        path.write_text(text)
        print(f"wrote {path}", file=sys.stderr)


if __name__ == "__main__":
    main()
