"""``llm-cost-tracker rules backtest``: when would each budget's alerts have fired over past history?

The budget rules are evaluated again over the spend the spend rules recorded, with every budget rule
inlined: from the raw samples of ``series:llm_cost_usd:increase_exact`` (one per series per rule
evaluation, read from Prometheus), each evaluation's budget increase is the sum over the series the
budget matches, and the running totals, ratios, forecasts and burn rates follow as ``generator.py``
writes them in PromQL (``round`` to the same digits, the same windows and calendar boundaries, ``for``
durations). The spend rules must have run over the range (or been backfilled with ``promtool tsdb
create-blocks-from rules``); a budget that did not exist then is evaluated as if it had.

For ``LLMBudgetExceeded`` of a budget with swaps, it also reports how much spend on the swapped models
(``on_exceeded.swap[].from``) came while the alert would have been firing.
"""

from __future__ import annotations

import fnmatch
import math
from bisect import bisect_right
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Final

from llm_cost_tracker.clock import iso_utc
from llm_cost_tracker.history import PrometheusHistory
from llm_cost_tracker.rules import promql
from llm_cost_tracker.rules.generator import BURN_RATE_TIERS, SERIES_INCREASE
from llm_cost_tracker.rules.spec import Budget, BudgetFile, duration_seconds

FORECAST_FOR: Final = 1800
CHUNK: Final = timedelta(days=7)
"""Raw samples are read a week at a time (a month of one series every minute is 44,640 samples)."""
_WINDOWS: Final = {"5m": 300, "30m": 1800, "1h": 3600, "6h": 21_600}


@dataclass
class Firing:
    alertname: str
    threshold: float | None
    first_firing: datetime | None
    window: str | None = None
    swapped_usd: float | None = None

    def to_json(self) -> dict[str, Any]:
        entry: dict[str, Any] = {
            "alertname": self.alertname,
            "threshold": self.threshold,
            "first_firing": iso_utc(self.first_firing) if self.first_firing else None,
        }
        if self.window is not None:
            entry["window"] = self.window
        if self.swapped_usd is not None:
            entry["swapped_usd"] = round(self.swapped_usd, 9)
        return entry


@dataclass
class BudgetResult:
    name: str
    alerts: list[Firing] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "alerts": [a.to_json() for a in self.alerts]}


def _period_start(period: str, seconds: float) -> float:
    """``promql.period_start`` in Python: the UTC day, week (from Monday) or month ``seconds`` falls in."""
    day = math.floor(seconds / 86400) * 86400
    if period == "day":
        return day
    if period == "week":
        return math.floor((seconds + 259_200) / 604_800) * 604_800 - 259_200
    moment = datetime.fromtimestamp(day, UTC)
    return day - (moment.day - 1) * 86400


def _period_length(period: str, start: float) -> float:
    if period == "month":
        first = datetime.fromtimestamp(start, UTC)
        following = (first.replace(day=28) + timedelta(days=4)).replace(day=1)
        return (following - first).total_seconds()
    return {"day": 86_400.0, "week": 604_800.0}[period]


def _round(value: float, digits: float) -> float:
    """PromQL's ``round(x * digits) / digits`` (round half up)."""
    return math.floor(value * digits + 0.5) / digits


class Series:
    """A budget's increase at each evaluation: times in order, and the increase (and swapped part) at each."""

    def __init__(self, times: list[float], increase: list[float], swapped: list[float]) -> None:
        self.times = times
        self.increase = increase
        self.swapped = swapped
        self.cumulative = [0.0]
        for value in increase:
            self.cumulative.append(self.cumulative[-1] + value)

    def sum_between(self, after: float, until: float) -> float:
        """The increases recorded in ``(after, until]``."""
        return self.cumulative[bisect_right(self.times, until)] - self.cumulative[bisect_right(self.times, after)]


def read_increases(
    history: PrometheusHistory, budget: Budget, start: datetime, end: datetime
) -> list[tuple[dict[str, str], list[tuple[float, float]]]]:
    """The raw samples of every series of the recorded increase the budget matches, in ``(start, end]``."""
    selector = promql.selector(SERIES_INCREASE, budget.match)
    series: dict[tuple[tuple[str, str], ...], tuple[dict[str, str], list[tuple[float, float]]]] = {}
    chunk_end = end
    while chunk_end > start:
        chunk_start = max(start, chunk_end - CHUNK)
        milliseconds = round((chunk_end - chunk_start).total_seconds() * 1000) - 1
        result = history.raw(f"{selector}[{milliseconds}ms]", chunk_end, f"the recorded increases of {budget.name}")
        for labels, samples in result:
            key = tuple(sorted(labels.items()))
            series.setdefault(key, (labels, []))[1].extend(samples)
        chunk_end = chunk_start
    for _, samples in series.values():
        samples.sort()
    return list(series.values())


def budget_series(budget: Budget, raw: Iterable[tuple[dict[str, str], list[tuple[float, float]]]]) -> Series:
    """Sum the matched series per evaluation (the budget's ``increase_exact``); split what the swaps cover."""
    swaps = [swap.from_ for swap in budget.on_exceeded.swap]
    totals: dict[float, list[float]] = {}
    for labels, samples in raw:
        swapped = any(fnmatch.fnmatchcase(labels.get("model", ""), pattern) for pattern in swaps)
        for stamp, value in samples:
            entry = totals.setdefault(stamp, [0.0, 0.0])
            entry[0] += value
            if swapped:
                entry[1] += value
    times = sorted(totals)
    return Series(times, [totals[t][0] for t in times], [totals[t][1] for t in times])


def evaluate(budget: Budget, series: Series, start: datetime, end: datetime, offset_seconds: int) -> BudgetResult:
    """The first firing of each of the budget's alerts at the evaluations in ``[start, end]``."""
    amount = budget.amount_usd
    result = BudgetResult(budget.name)
    thresholds = {t: Firing("LLMBudgetThresholdReached", t, None) for t in budget.alerts.thresholds}
    forecast = Firing("LLMBudgetForecastExceeded", None, None) if budget.alerts.forecast else None
    tiers = (
        [Firing("LLMBudgetBurnRateHigh", factor, None, long) for _, long, _, factor in BURN_RATE_TIERS]
        if budget.alerts.burn_rate
        else []
    )
    exceeded = Firing("LLMBudgetExceeded", 1.0, None, swapped_usd=0.0 if budget.on_exceeded.swap else None)
    keep = duration_seconds(budget.alerts.keep_firing_for) if not budget.alerts.keep_firing_for.startswith("0") else 0
    pending_since: float | None = None
    firing_until = -math.inf
    running, period_of_running = 0.0, None
    lo, hi = start.timestamp(), end.timestamp()
    for index, t in enumerate(series.times):
        data_time = t - offset_seconds - 0.001
        if budget.is_calendar:
            period = _period_start(budget.period, data_time)
            running = (running if period == period_of_running else 0.0) + series.increase[index]
            period_of_running = period
            spend = running
        else:
            spend = series.sum_between(t - budget.period_seconds, t)
        if t < lo:
            continue
        if t > hi:
            break
        ratio = _round(spend / amount, 1e6)
        at = datetime.fromtimestamp(t, UTC)
        for threshold, firing in thresholds.items():
            if firing.first_firing is None and ratio >= threshold:
                firing.first_firing = at
        if forecast is not None and period_of_running is not None:
            rate = series.sum_between(t - 86_400, t) / 86_400
            left = period_of_running + _period_length(budget.period, period_of_running) - (t - offset_seconds)
            predicted = _round(spend + rate * left, 1e9)
            if predicted > amount and ratio < 1:
                pending_since = t if pending_since is None else pending_since
                if forecast.first_firing is None and t - pending_since >= FORECAST_FOR:
                    forecast.first_firing = at
            else:
                pending_since = None
        sustainable = amount / budget.period_seconds
        for tier, (_, long, short, factor) in zip(tiers, BURN_RATE_TIERS if tiers else (), strict=True):
            rates = [
                _round(series.sum_between(t - _WINDOWS[w], t) / _WINDOWS[w] / sustainable, 1e6) for w in (long, short)
            ]
            if tier.first_firing is None and all(rate > factor for rate in rates):
                tier.first_firing = at
        if ratio >= 1:
            firing_until = t + keep
            if exceeded.first_firing is None:
                exceeded.first_firing = at
        if exceeded.swapped_usd is not None and (ratio >= 1 or t <= firing_until):
            # A call swapped at this evaluation is one the app made in the interval it covers.
            exceeded.swapped_usd += series.swapped[index]
    result.alerts = [*thresholds.values(), *([forecast] if forecast else []), *tiers, exceeded]
    return result


def backtest(history: PrometheusHistory, budgets: BudgetFile, start: datetime, end: datetime) -> list[BudgetResult]:
    """Every budget's alerts over ``[start, end]``; raises ``HistoryError``."""
    results = []
    for budget in budgets.budgets:
        lookback = max([86_400.0, 21_600.0, float(budget.period_seconds) if not budget.is_calendar else 0.0])
        read_from = datetime.fromtimestamp(start.timestamp() - lookback, UTC)
        if budget.is_calendar:
            period = _period_start(budget.period, start.timestamp() - history.offset - 0.001)
            read_from = min(read_from, datetime.fromtimestamp(period, UTC))
        raw = read_increases(history, budget, read_from, end)
        results.append(evaluate(budget, budget_series(budget, raw), start, end, history.offset))
    return results


def render_table(results: Sequence[BudgetResult]) -> str:
    rows = [["budget", "alert", "threshold", "first firing (UTC)", "swapped"]]
    for result in results:
        for alert in result.alerts:
            threshold = "" if alert.threshold is None else f"{alert.threshold:g}"
            if alert.window:
                threshold += f" ({alert.window})"
            swapped = "" if alert.swapped_usd is None else f"${alert.swapped_usd:,.2f}"
            rows.append(
                [
                    result.name,
                    alert.alertname,
                    threshold,
                    iso_utc(alert.first_firing) if alert.first_firing else "never",
                    swapped,
                ]
            )
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip() for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines) + "\n"
