"""The history of tests/test_reconcile.py and tests/test_report.py: four days of LLM calls around a year's end.

One call every 7 to 30 minutes per series, at known prices, as an exporter's counters scraped every minute,
plus what a calendar-month budget's rules would have recorded. Prometheus gets them as blocks, and the spend
rules evaluated over them with promtool (``backfilled``), as a user backfills; a loopback stand-in for the
providers serves a bill chosen per project and day. Expected figures are computed from the calls, not read
back from the code under test.
"""

from __future__ import annotations

import bisect
import random
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

from llm_cost_tracker.rules.generator import Resolution
from tests.billing_server import ANTHROPIC_KEY, OPENAI_KEY, Bill, billing_server
from tests.history_fixture import BackfilledPrometheus, Series

FIRST, END = date(2025, 12, 30), date(2026, 1, 2)  # reconciled: Dec 30, Dec 31, Jan 1 (a year's end)
HISTORY = (date(2025, 12, 29), date(2026, 1, 3))  # history: a day more on each side
SCRAPE = 60
NOW = datetime(2026, 1, 5, 9, 0, tzinfo=UTC).timestamp()
SERIES = (  # provider, project label, provider project id, model
    ("openai", "checkout", "proj_checkout", "gpt-4o-2024-08-06"),
    ("openai", "search", "proj_search", "gpt-4o-mini-2024-07-18"),
    ("anthropic", "support", None, "claude-sonnet-4-5-20250929"),  # the default workspace
)
UNINSTRUMENTED = Decimal("3.25")
"""search's daily spend the exporter never saw (an app without instrumentation)."""


@dataclass(frozen=True)
class Call:
    at: float
    usd: Decimal
    input: int
    output: int


def _calls(seed: int) -> list[Call]:
    """A call every 7 to 30 minutes, none within 5 minutes of a midnight (a boundary is as fine as the
    rule interval: docs/exactness.md)."""
    rng = random.Random(seed)
    start = datetime(*HISTORY[0].timetuple()[:3], tzinfo=UTC).timestamp()
    end = datetime(*HISTORY[1].timetuple()[:3], tzinfo=UTC).timestamp()
    calls, at = [], start + 600.0
    while at < end - 600:
        if 300 < at % 86400 < 86100:
            calls.append(Call(at, Decimal(rng.randint(10, 500)) / 10000, rng.randint(100, 5000), rng.randint(10, 900)))
        at += rng.randint(420, 1800)
    return calls


def _counter(calls: list[Call], value: str) -> list[tuple[float, float]]:
    """Scraped every minute from the history's start (the first sample is the 0 before any call)."""
    start = datetime(*HISTORY[0].timetuple()[:3], tzinfo=UTC).timestamp() + 30
    end = datetime(*HISTORY[1].timetuple()[:3], tzinfo=UTC).timestamp()
    samples, total, index, t = [], Decimal(0), 0, start
    while t < end:
        while index < len(calls) and calls[index].at <= t:
            total += {"usd": calls[index].usd, "requests": 1, "saved": SAVED_PER_CALL}.get(
                value, getattr(calls[index], value, 0)
            )
            index += 1
        samples.append((t, float(total)))
        t += SCRAPE
    return samples


SWAP_BUDGET = "search-monthly"
SAVED_PER_CALL = Decimal("0.001")
"""What each of search's calls saved (``llm_cost_avoided_usd_total``), swapped from gpt-4o by ``SWAP_BUDGET``."""
BUDGET = "everything-monthly"
BUDGET_USD = 15.0


def _budget_series(calls: list[Call]) -> list[Series]:
    """What the rules of a $15 calendar-month budget on all spend would have recorded (every minute): the
    month's running total and its forecast (the last day's rate until the month's end). Written, not
    backfilled: promtool cannot backfill rules that read their own output."""
    calls = sorted(calls, key=lambda c: c.at)
    times = [c.at for c in calls]
    cumulative = [0.0]
    for call in calls:
        cumulative.append(cumulative[-1] + float(call.usd))

    def spent(after: float, until: float) -> float:
        return cumulative[bisect.bisect_right(times, until)] - cumulative[bisect.bisect_right(times, after)]

    start = datetime(*HISTORY[0].timetuple()[:3], tzinfo=UTC).timestamp() + 30
    end = datetime(*HISTORY[1].timetuple()[:3], tzinfo=UTC).timestamp()
    spend, forecast, amount = [], [], []
    t = start
    while t < end:
        moment = datetime.fromtimestamp(t, UTC)
        month = moment.replace(day=1, hour=0, minute=0, second=0).timestamp()
        following = (moment.replace(day=28) + timedelta(days=4)).replace(day=1, hour=0, minute=0, second=0)
        total, last_day = spent(month, t), spent(t - 86400, t)
        spend.append((t, total))
        forecast.append((t, total + last_day / 86400 * (following.timestamp() - t)))
        amount.append((t, BUDGET_USD))
        t += 60
    labels = {"budget": BUDGET}
    return [
        ("budget:llm_cost_usd:period", labels, spend),
        ("budget:llm_cost_usd:forecast", labels, forecast),
        ("llm_budget_amount_usd", labels, amount),
    ]


def _day(at: float) -> date:
    return datetime.fromtimestamp(at, UTC).date()


@dataclass
class World:
    prometheus: BackfilledPrometheus
    config: Path
    bill: Bill
    truth: dict[tuple[str, str, date], Decimal]
    """Tracked truth: (provider, project label, day) → what the exporter priced."""
    tokens: dict[tuple[str, str, date], dict[str, int]]


@contextmanager
def build_world(workdir: Path, promtool: str, binary: str) -> Iterator[World]:
    """Write the history, load it into a Prometheus, serve the bill; the rules are backfilled by ``backfilled``."""
    series: list[Series] = []
    truth: dict[tuple[str, str, date], Decimal] = {}
    tokens: dict[tuple[str, str, date], dict[str, int]] = {}
    bill = Bill()
    for seed, (provider, project, project_id, model) in enumerate(SERIES):
        calls = _calls(seed)
        labels = {"org": "acme", "project": project, "provider": provider, "model": model, "operation": "chat"}
        labels |= {"job": "llm-cost-tracker", "instance": "exporter:9464"}
        series.append(("llm_cost_usd_total", labels, _counter(calls, "usd")))
        series.append(("llm_tokens_total", {**labels, "token_type": "input"}, _counter(calls, "input")))
        series.append(("llm_tokens_total", {**labels, "token_type": "output"}, _counter(calls, "output")))
        series.append(("llm_requests_total", {**labels, "outcome": "ok"}, _counter(calls, "requests")))
        if project == "search":  # a budget swap sends search's calls to gpt-4o-mini: each saves a tenth of a cent
            asked = {"org": "acme", "project": project, "provider": provider, "model": "gpt-4o", "budget": SWAP_BUDGET}
            asked["routed_to"] = model
            series.append(
                ("llm_cost_avoided_usd_total", {**asked, "job": "x", "instance": "e"}, _counter(calls, "saved"))
            )
        for call in calls:
            key = (provider, project, _day(call.at))
            truth[key] = truth.get(key, Decimal(0)) + call.usd
            counts = tokens.setdefault(key, {"input": 0, "cache_read": 0, "output": 0, "requests": 0})
            counts["input"] += call.input
            counts["output"] += call.output
            counts["requests"] += 1
        for (p, label, day), usd in truth.items():
            if (p, label) == (provider, project):
                extra = UNINSTRUMENTED if project == "search" else Decimal(0)
                bill.costs[(provider, project_id, day, model)] = usd + extra
                bill.tokens[(provider, project_id, day, model)] = tokens[(p, label, day)]
    bill.costs[("openai", "proj_new", date(2025, 12, 31), "")] = Decimal("2.00")  # a project nobody mapped

    series += _budget_series([call for seed in range(len(SERIES)) for call in _calls(seed)])
    prometheus = BackfilledPrometheus(workdir, promtool, binary)
    prometheus.load_counters(series)
    prometheus.start()
    with billing_server(bill) as base_url:
        (workdir / "openai.key").write_text(OPENAI_KEY + "\n")
        (workdir / "anthropic.key").write_text(ANTHROPIC_KEY)
        config = workdir / "config.yaml"
        config.write_text(
            "version: llm-cost-tracker/v1\n"
            "reconcile:\n"
            "  providers:\n"
            f"    - {{provider: openai, admin_key_file: openai.key, base_url: '{base_url}',\n"
            "       projects: {proj_checkout: checkout, proj_search: search}}\n"
            f"    - {{provider: anthropic, admin_key_file: anthropic.key, base_url: '{base_url}',\n"
            "       projects: {default: support}}\n"
        )
        try:
            yield World(prometheus, config, bill, truth, tokens)
        finally:
            prometheus.stop()


def backfilled(world: World) -> None:
    """Evaluate the spend rules over the history, once (the first test to need them does).

    Then check what the test's expectations rest on: per series, the recorded increases add up to the counter's
    growth over the history (they telescope). promtool's rule backfill, on a loaded CI machine, once left an
    interval out; that is a fault of the fixture, not of what the tests test, so the backfill is done again
    (from the counters alone) rather than the tests failing on an unrelated number.
    """
    if (world.prometheus.workdir / "rule-blocks").exists():
        return
    start = datetime(*HISTORY[0].timetuple()[:3], tzinfo=UTC)
    end = datetime(*HISTORY[1].timetuple()[:3], tzinfo=UTC)
    for attempt in range(3):
        world.prometheus.backfill_rules(start, end, Resolution())
        missing = _untelescoped(world, end)
        if not missing:
            return
        print(f"backfill attempt {attempt + 1} left increases out: {missing}; backfilling again")
        world.prometheus.drop_rule_blocks()
    raise AssertionError(f"promtool's rule backfill keeps leaving increases out: {missing}")


def _untelescoped(world: World, end: datetime) -> list[str]:
    """Series whose recorded increases do not add up to their counter's growth over the history."""
    seconds = round((end - datetime(*HISTORY[0].timetuple()[:3], tzinfo=UTC)).total_seconds())
    at = end.timestamp() + 3600
    recorded = {
        (r["metric"]["project"], r["metric"]["model"]): float(r["value"][1])
        for r in world.prometheus.query(f"sum_over_time(series:llm_cost_usd:increase_exact[{seconds + 3600}s])", at)
    }
    grown = {
        (r["metric"]["project"], r["metric"]["model"]): float(r["value"][1])
        for r in world.prometheus.query(f"last_over_time(llm_cost_usd_total[{seconds + 3600}s])", at)
    }
    return [
        f"{key}: {recorded.get(key, 0.0)} of {total}"
        for key, total in grown.items()
        if abs(recorded.get(key, 0.0) - total) > 1e-9
    ]
