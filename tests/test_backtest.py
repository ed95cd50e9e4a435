"""``rules backtest`` against a real Prometheus holding a leap February of backfilled history.

Counters of two models of one project, scraped every minute at :30, hold a call every 20 minutes (at
:05, :25 and :45, never near a boundary) and a spike of 60 $1 calls on the 10th; the spend rules are
backfilled over them with promtool (evaluations at whole minutes, query offset 10 s). A call at ``c``
is therefore in the increase recorded at ``c + 60 s`` (first scraped at ``c + 30 s``, read by the
evaluation whose interval ends 10 s before the next whole minute). From that alone, the test computes by
brute force, minute by minute, when each alert must first fire: independently of the code under test.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from llm_cost_tracker import cli
from llm_cost_tracker.rules.generator import Resolution, RuleGroup, spend_rules
from tests.conftest import need_binary
from tests.history_fixture import BackfilledPrometheus, Series

HISTORY = (datetime(2028, 1, 30, tzinfo=UTC), datetime(2028, 3, 2, tzinfo=UTC))
FROM, TO = datetime(2028, 2, 1, tzinfo=UTC), datetime(2028, 3, 1, tzinfo=UTC)
SPIKE = datetime(2028, 2, 10, 10, 0, 15, tzinfo=UTC)
NOW = datetime(2028, 3, 5, tzinfo=UTC).timestamp()
BUDGETS = """\
version: llm-cost-tracker/v1
budgets:
  - name: checkout-month
    match: {project: checkout}
    amount_usd: 200
    period: month
    alerts: {thresholds: [0.5, 0.8], forecast: true, burn_rate: true}
    on_exceeded:
      swap: [{from: gpt-4o, to: gpt-4o-mini}]
  - name: checkout-week
    match: {project: checkout, model: gpt-4o}
    amount_usd: 70
    period: 7d
  - name: search-month
    match: {project: search}
    amount_usd: 10
    period: month
"""


@dataclass(frozen=True)
class Call:
    at: float
    model: str
    usd: Decimal


def calls() -> list[Call]:
    out = []
    moment = HISTORY[0]
    while moment < HISTORY[1]:
        if moment.minute in (5, 25, 45):
            out.append(Call(moment.timestamp(), "gpt-4o", Decimal("0.10")))
            out.append(Call(moment.timestamp(), "gpt-4o-mini", Decimal("0.02")))
        moment += timedelta(minutes=1)
    out += [Call(SPIKE.timestamp() + 30 * n, "gpt-4o", Decimal(1)) for n in range(60)]
    return sorted(out, key=lambda c: c.at)


def counters(all_calls: list[Call]) -> list[Series]:
    series = []
    for model in ("gpt-4o", "gpt-4o-mini"):
        mine = [c for c in all_calls if c.model == model]
        samples, total, index = [], Decimal(0), 0
        t = HISTORY[0].timestamp() + 30
        while t < HISTORY[1].timestamp():
            while index < len(mine) and mine[index].at <= t:
                total += mine[index].usd
                index += 1
            samples.append((t, float(total)))
            t += 60
        labels = {"org": "acme", "project": "checkout", "provider": "openai", "model": model, "operation": "chat"}
        series.append(("llm_cost_usd_total", {**labels, "job": "x", "instance": "e1"}, samples))
    return series


@pytest.fixture(scope="module")
def prometheus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BackfilledPrometheus]:
    workdir = tmp_path_factory.mktemp("backtest")
    server = BackfilledPrometheus(workdir, need_binary("promtool"), need_binary("prometheus"))
    server.load_counters(counters(calls()))
    server.start()
    try:
        resolution = Resolution()
        cost_only = [RuleGroup("spend", [spend_rules(resolution)[0]], resolution.interval)]  # tokens: not needed
        server.backfill_rules(HISTORY[0], HISTORY[1], resolution, cost_only)
        yield server
    finally:
        server.stop()


class Expected:
    """Brute force over the evaluations (every minute, at the phase promtool chose): the increase recorded at
    ``T`` holds the samples scraped in ``(T - 70 s, T - 10 s]``, so a call counts at the first evaluation
    at least 10 s after its first scrape. Prefix sums keep the windows cheap."""

    def __init__(self, models: tuple[str, ...], phase: float) -> None:
        self.first = HISTORY[0].timestamp() + phase
        slots = int((HISTORY[1].timestamp() - self.first) // 60) + 2
        spend, swapped = [0.0] * slots, [0.0] * slots
        for call in calls():
            if call.model in models:
                scraped = math.ceil((call.at - 30) / 60) * 60 + 30  # the first scrape at or after the call
                slot = math.ceil((scraped + 10 - self.first) / 60)
                spend[slot] += float(call.usd)
                if call.model == "gpt-4o":
                    swapped[slot] += float(call.usd)
        self.cumulative = [0.0]
        for value in spend:
            self.cumulative.append(self.cumulative[-1] + value)
        self.swapped = swapped

    def times(self) -> list[float]:
        """The evaluations in [FROM, TO]."""
        first = math.ceil((FROM.timestamp() - self.first) / 60)
        last = math.floor((TO.timestamp() - self.first) / 60)
        return [self.first + 60 * n for n in range(first, last + 1)]

    def _slot(self, t: float) -> int:
        return round((t - self.first) / 60)

    def between(self, after: float, until: float) -> float:
        """Spend recorded at the evaluations in (after, until]."""
        lo = math.floor((after - self.first) / 60) + 1
        hi = math.floor((until - self.first) / 60)
        return self.cumulative[max(0, hi + 1)] - self.cumulative[max(0, lo)] if hi >= lo else 0.0

    def month_spend(self, t: float) -> float:
        first = datetime.fromtimestamp(t - 10.001, UTC).replace(day=1, hour=0, minute=0, second=0)
        return self.between(first.timestamp() + 10.001, t)

    def swapped_between(self, after: float, until: float) -> float:
        return sum(self.swapped[self._slot(t)] for t in self.times() if after < t <= until)


def _first(expected: Expected, condition: object) -> str | None:
    for t in expected.times():
        if condition(t):  # type: ignore[operator]
            return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return None


def _expected_month(phase: float) -> dict[tuple[str, float | None], str | None]:
    spend = Expected(("gpt-4o", "gpt-4o-mini"), phase)
    amount = 200.0
    out: dict[tuple[str, float | None], str | None] = {}
    for threshold in (0.5, 0.8):
        out[("LLMBudgetThresholdReached", threshold)] = _first(
            spend, lambda t, x=threshold: spend.month_spend(t) / amount >= x
        )
    out[("LLMBudgetExceeded", 1.0)] = _first(spend, lambda t: spend.month_spend(t) >= amount)
    sustainable = amount / (30 * 86400)

    def burning(t: float, long: int, short: int, factor: float) -> bool:
        return all(spend.between(t - w, t) / w / sustainable > factor for w in (long, short))

    out[("LLMBudgetBurnRateHigh", 14.4)] = _first(spend, lambda t: burning(t, 3600, 300, 14.4))
    out[("LLMBudgetBurnRateHigh", 6.0)] = _first(spend, lambda t: burning(t, 21600, 1800, 6.0))

    def predicted_over(t: float) -> bool:
        moment = datetime.fromtimestamp(t - 10, UTC)
        following = (moment.replace(day=28) + timedelta(days=4)).replace(day=1, hour=0, minute=0, second=0)
        left = following.timestamp() - (t - 10)
        spent = spend.month_spend(t)
        return spent + spend.between(t - 86400, t) / 86400 * left > amount and spent < amount

    pending: float | None = None
    out[("LLMBudgetForecastExceeded", None)] = None
    for t in spend.times():
        pending = (pending if pending is not None else t) if predicted_over(t) else None
        if pending is not None and t - pending >= 1800:
            out[("LLMBudgetForecastExceeded", None)] = datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
            break
    return out


def _phase(prometheus: BackfilledPrometheus) -> float:
    """When in the minute promtool evaluated the backfilled rules (read from the recorded samples' times)."""
    result = prometheus.query("series:llm_cost_usd:increase_exact[10m]", HISTORY[0].timestamp() + 3600)
    values = result[0]["values"]
    assert isinstance(values, list)
    return float(values[0][0]) % 60


def _run(prometheus: BackfilledPrometheus, tmp_path: Path, capsys: pytest.CaptureFixture[str], *flags: str) -> str:
    budgets = tmp_path / "budgets.yaml"
    budgets.write_text(BUDGETS)
    argv = ["rules", "backtest", "--budgets", str(budgets), "--prometheus.url", prometheus.url]
    code = cli.main([*argv, "--from", FROM.isoformat(), "--to", TO.isoformat(), *flags], clock=lambda: NOW)
    out = capsys.readouterr()
    assert code == 0, out.err
    return out.out


def test_when_each_alert_would_have_fired(
    prometheus: BackfilledPrometheus, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    result = json.loads(_run(prometheus, tmp_path, capsys, "--format", "json"))
    month, week, search = result["budgets"]
    assert month["name"] == "checkout-month"
    got = {(a["alertname"], a["threshold"]): a["first_firing"] for a in month["alerts"]}
    phase = _phase(prometheus)
    expected = _expected_month(phase)
    assert got == expected
    assert all(expected.values())  # every alert of the month budget fires in February
    # The spike fires the critical burn rate within minutes of its start; the exceeded alert comes later.
    assert expected[("LLMBudgetBurnRateHigh", 14.4)] < "2028-02-10T10:10:00Z"
    exceeded = next(a for a in month["alerts"] if a["alertname"] == "LLMBudgetExceeded")
    spend = Expected(("gpt-4o", "gpt-4o-mini"), phase)
    first = datetime.fromisoformat(exceeded["first_firing"]).timestamp()
    swapped = spend.swapped_between(first - 1, TO.timestamp())
    assert exceeded["swapped_usd"] == pytest.approx(swapped, rel=1e-9)  # gpt-4o spend while it fired

    # The rolling week on gpt-4o: $50.40 a week normally, over $70 once the spike's $60 is in the window.
    week_spend = Expected(("gpt-4o",), phase)
    assert week["alerts"] == [
        {
            "alertname": "LLMBudgetExceeded",
            "threshold": 1.0,
            "first_firing": _first(week_spend, lambda t: week_spend.between(t - 7 * 86400, t) >= 70),
        }
    ]
    assert week["alerts"][0]["first_firing"] is not None
    assert search["alerts"] == [{"alertname": "LLMBudgetExceeded", "threshold": 1.0, "first_firing": None}]


def test_table(prometheus: BackfilledPrometheus, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    lines = _run(prometheus, tmp_path, capsys).splitlines()
    assert lines[0].split() == ["budget", "alert", "threshold", "first", "firing", "(UTC)", "swapped"]
    exceeded = next(line for line in lines if line.startswith("checkout-month") and "LLMBudgetExceeded" in line)
    assert exceeded.split()[-1].startswith("$")
    assert any(line.split()[:2] == ["search-month", "LLMBudgetExceeded"] and "never" in line for line in lines)
