"""``llm-cost-tracker report``: what was spent in a period, read from Prometheus: table, CSV, JSON or HTML.

The spend of a period ``(start, end]`` is the one definition the budget rules use (``rules/promql.py``,
``period_sum``): the exact increases the spend rules record, summed over the evaluations whose data fall
in the period. A calendar month's report is therefore the month's ``budget:llm_cost_usd:period`` of a
budget that matches everything, to the cent. See docs/reports.md.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from importlib import resources
from typing import Any, Final

from llm_cost_tracker.clock import iso_utc
from llm_cost_tracker.history import REQUESTS_INCREASE, PrometheusHistory
from llm_cost_tracker.rules import promql
from llm_cost_tracker.rules.generator import FORECAST, SERIES_INCREASE, SPEND
from llm_cost_tracker.rules.spec import BudgetFile

GROUP_LABELS: Final = ("org", "project", "provider", "model", "operation")
"""What ``--by`` may name: the labels of the recorded increases."""
TOP: Final = 10
AVOIDED_INCREASE: Final = "series:llm_cost_avoided_usd:increase_exact"


@dataclass
class Row:
    labels: dict[str, str]
    cost_usd: float
    requests: float

    def to_json(self, by: tuple[str, ...]) -> dict[str, Any]:
        labels = {name: self.labels.get(name, "") for name in by}
        return {**labels, "cost_usd": round(self.cost_usd, 9), "requests": round(self.requests, 3)}


@dataclass
class BudgetStatus:
    name: str
    amount_usd: float
    spent_usd: float | None
    forecast_usd: float | None
    period: str


@dataclass
class Report:
    start: datetime
    end: datetime
    by: tuple[str, ...]
    rows: list[Row]
    notes: list[str] = field(default_factory=list)
    daily: list[tuple[date, float]] = field(default_factory=list)
    top: dict[str, list[tuple[str, float]]] = field(default_factory=dict)
    budgets: list[BudgetStatus] = field(default_factory=list)
    unpriced: list[tuple[str, str, float]] = field(default_factory=list)
    savings: list[tuple[str, str, float]] = field(default_factory=list)
    """``(budget, model asked for, USD)``: what budget swaps avoided spending in the period."""

    @property
    def saved_usd(self) -> float:
        return sum(usd for _, _, usd in self.savings)

    @property
    def total_usd(self) -> float:
        return sum(row.cost_usd for row in self.rows)

    def to_json(self) -> dict[str, Any]:
        return {
            "start": iso_utc(self.start),
            "end": iso_utc(self.end),
            "currency": "USD",
            "total_usd": round(self.total_usd, 9),
            "rows": [row.to_json(self.by) for row in self.rows],
        }


def _ms(start: datetime, end: datetime) -> int:
    return round((end - start).total_seconds() * 1000)


def period_expr(record: str, start: datetime, end: datetime, by: tuple[str, ...]) -> str:
    """``record``'s increases of ``(start, end]``, summed ``by``; evaluated at ``end`` plus the query offset."""
    return f"{promql.by(by)} (sum_over_time({record}[{_ms(start, end) - 1}ms]))"


def build(
    history: PrometheusHistory,
    start: datetime,
    end: datetime,
    by: tuple[str, ...],
    *,
    now: datetime,
    budgets: BudgetFile | None = None,
    detail: bool = False,
) -> Report:
    """The report of ``(start, end]``; ``detail``: also what the HTML report shows. Raises ``HistoryError``."""
    at = end + timedelta(seconds=history.offset)
    cost = history.instant(period_expr(SERIES_INCREASE, start, end, by), at, "the spend query")
    calls = history.instant(period_expr(REQUESTS_INCREASE, start, end, by), at, "the calls query")
    rows: dict[tuple[str, ...], Row] = {}
    for labels, value in cost:
        key = tuple(labels.get(name, "") for name in by)
        rows[key] = Row(dict(zip(by, key, strict=True)), value, 0.0)
    for labels, value in calls:
        key = tuple(labels.get(name, "") for name in by)
        rows.setdefault(key, Row(dict(zip(by, key, strict=True)), 0.0, 0.0)).requests = value
    ordered = sorted(rows.values(), key=lambda row: (-row.cost_usd, tuple(row.labels.values())))
    report = Report(start, end, by, [row for row in ordered if row.cost_usd or row.requests])
    if not report.rows:
        report.notes.append(history.why_no_spend(start, end, "this period"))
    kept_from = history.retention_start(now)
    if kept_from is not None and kept_from > start:
        report.notes.append(
            f"Prometheus keeps data from {kept_from:%Y-%m-%d %H:%M} UTC (its retention): the period begins "
            "before it, so the figures leave out what it no longer holds"
        )
    if end > now:
        report.notes.append(f"the period ends after now ({iso_utc(now)}): its figures are to date")
    saved = history.instant(period_expr(AVOIDED_INCREASE, start, end, ("budget", "model")), at, "the savings query")
    report.savings = sorted(
        ((labels.get("budget", ""), labels.get("model", ""), value) for labels, value in saved if value > 0),
        key=lambda item: -item[2],
    )
    if detail:
        _details(history, report, budgets, now)
    return report


def _details(history: PrometheusHistory, report: Report, budgets: BudgetFile | None, now: datetime) -> None:
    start, end = report.start, report.end
    at = end + timedelta(seconds=history.offset)
    last_day = (end - timedelta(milliseconds=1)).date()
    by_day = {v.day: v.value for v in history.daily(SERIES_INCREASE, start.date(), last_day + timedelta(days=1), ())}
    day = start.date()
    while day <= last_day:
        report.daily.append((day, by_day.get(day, 0.0)))
        day += timedelta(days=1)
    for title, labels in (("projects", ("org", "project")), ("models", ("provider", "model"))):
        values = history.instant(period_expr(SERIES_INCREASE, start, end, labels), at, f"the top {title} query")
        ranked = sorted(
            ((" / ".join(lbl.get(n, "") for n in labels), v) for lbl, v in values if v), key=lambda x: -x[1]
        )
        report.top[title] = ranked[:TOP]
    unpriced = history.instant(
        f"sum by (provider, model) (increase(llm_unpriced_requests_total[{_ms(start, end)}ms]))",
        at,
        "the unpriced query",
    )
    report.unpriced = sorted(
        ((lbl.get("provider", ""), lbl.get("model", ""), v) for lbl, v in unpriced if v >= 0.5), key=lambda x: -x[2]
    )
    when = min(end, now)

    def last(metric: str, budget: str) -> float | None:
        selector = promql.selector(metric, {"budget": budget})
        values = history.instant(f"last_over_time({selector}[10m])", when, f"the {metric} query")
        return values[0][1] if values else None

    for budget in budgets.budgets if budgets is not None else ():
        report.budgets.append(
            BudgetStatus(
                budget.name, budget.amount_usd, last(SPEND, budget.name), last(FORECAST, budget.name), budget.period
            )
        )


def _money(value: float) -> str:
    return f"{value:,.2f}"


def render_table(report: Report) -> str:
    columns = [*report.by, "cost_usd", "requests"]
    body = [
        [*(row.labels.get(n, "") for n in report.by), _money(row.cost_usd), f"{row.requests:,.0f}"]
        for row in report.rows
    ]
    footer = [
        "total",
        *[""] * (len(report.by) - 1),
        _money(report.total_usd),
        f"{sum(r.requests for r in report.rows):,.0f}",
    ]
    if not report.by:
        footer = footer[1:]
    table = [columns, *body, footer]
    widths = [max(len(r[i]) for r in table) for i in range(len(columns))]
    numeric = {"cost_usd", "requests"}

    def fmt(cells: list[str]) -> str:
        return "  ".join(
            c.rjust(w) if columns[i] in numeric else c.ljust(w)
            for i, (c, w) in enumerate(zip(cells, widths, strict=True))
        ).rstrip()

    rule = "  ".join("-" * w for w in widths)
    out = [
        f"LLM spend from {iso_utc(report.start)} to {iso_utc(report.end)} (USD)",
        fmt(columns),
        rule,
        *map(fmt, body),
        rule,
        fmt(footer),
    ]
    if not body:
        out.insert(3, "(no spend in this period)")
    if report.savings:
        out.append(f"saved by budget swaps: {_money(report.saved_usd)} (what the swapped calls would have cost more)")
    return "\n".join(out + [f"note: {n}" for n in report.notes]) + "\n"


def render_csv(report: Report) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow([*report.by, "cost_usd", "requests"])
    for row in report.rows:
        writer.writerow([*(row.labels.get(n, "") for n in report.by), round(row.cost_usd, 9), round(row.requests, 3)])
    return out.getvalue()


def render_html(report: Report, generated_at: datetime) -> str:
    import jinja2

    template = resources.files("llm_cost_tracker").joinpath("templates", "report.html").read_text("utf-8")
    environment = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined)
    environment.filters["money"] = _money
    peak = max((value for _, value in report.daily), default=0.0) or 1.0
    bars = [
        {
            "day": day.isoformat(),
            "value": value,
            "height": round(180 * value / peak, 1),
            "x": 40 + index * (640 / max(1, len(report.daily))),
        }
        for index, (day, value) in enumerate(report.daily)
    ]
    return environment.from_string(template).render(
        report=report,
        start=iso_utc(report.start),
        end=iso_utc(report.end),
        generated=iso_utc(generated_at),
        total=report.total_usd,
        bars=bars,
        bar_width=max(2.0, 640 / max(1, len(report.daily)) - 4),
        peak=peak,
        budgets_at=iso_utc(min(report.end, generated_at)),
    )


def render(report: Report, output_format: str, generated_at: datetime) -> str:
    if output_format == "json":
        return json.dumps(report.to_json(), indent=2) + "\n"
    if output_format == "csv":
        return render_csv(report)
    if output_format == "html":
        return render_html(report, generated_at)
    return render_table(report)
