"""PromQL of the generated rules: the one definition of "spend", and the calendar arithmetic.

Only expressions are built here; the YAML around them is built as data
(``generator.py``) and dumped (``render.py``).

Spend is exact, not estimated (docs/exactness.md). ``increase()`` and ``rate()``
extrapolate to the edges of their window and ignore a series' first sample;
summed over a month of windows that is percents off. Instead, at every rule
evaluation ``exact_increase`` records, per series, how much the counter grew
since the previous evaluation, from raw samples:

- the last sample in the interval minus the last sample before it;
- a drop (an exporter restart) counts what the old process added in the
  interval and what the new one counted from 0;
- a series with no earlier sample (new, or back after a long gap) counts from
  its first sample in the interval, which the exporter serves as 0
  (``web.new_series_hold_seconds``).

Those increases telescope: their sum over any run of evaluations is exactly
what the counters grew by. A period's spend is their sum: a running total
for calendar periods (``calendar_spend``: the previous total, or 0 when a new
day, week or month has begun, plus this evaluation's increase), a plain
``sum_over_time`` for rolling windows. Reports and dashboards sum the same
recorded increases.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final


def _now(lag_s: int = 0) -> str:
    """The time the evaluation's data ends (its time, less the query offset), less a millisecond: an increase
    recorded at exactly midnight (it covers the interval that ends there) belongs to the day that ends, as a
    report's ``(start, end]`` says."""
    return f"vector(time() - {lag_s}.001)" if lag_s else "vector(time() - 0.001)"


def period_start(period: str, lag_s: int = 0) -> str:
    """The start of the calendar period (UTC) the evaluation's data falls in, as a one-element vector of whole
    seconds."""
    now = _now(lag_s)
    return {
        "day": f"floor({now} / 86400) * 86400",
        # 1970-01-01 was a Thursday; weeks start on Monday 00:00 UTC.
        "week": f"floor(({now} + 259200) / 604800) * 604800 - 259200",
        "month": f"floor({now} / 86400) * 86400 - (day_of_month({now}) - 1) * 86400",
    }[period]


def _period_length(period: str, lag_s: int = 0) -> str:
    return {"day": "86400", "week": "604800", "month": f"days_in_month({_now(lag_s)}) * 86400"}[period]


CALENDAR_LOOKBACK: Final = {"day": "1d", "week": "7d", "month": "31d"}
"""How far back a running total is looked for: it survives a Prometheus outage shorter than the period."""


def selector(metric: str, labels: Mapping[str, str]) -> str:
    """``metric{a="x",b=~"y.*"}`` from plain values and ``=~``/``!~``/``!=`` matchers."""
    matchers = []
    for name, value in labels.items():
        operator = "="
        for prefix in ("=~", "!~", "!="):
            if value.startswith(prefix):
                operator, value = prefix, value[len(prefix) :]
                break
        escaped = value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
        matchers.append(f'{name}{operator}"{escaped}"')
    return f"{metric}{{{','.join(matchers)}}}" if matchers or not metric else metric


def by(labels: Mapping[str, str] | tuple[str, ...]) -> str:
    return f"sum by ({', '.join(labels)})" if labels else "sum"


def duration(seconds: int) -> str:
    """A PromQL duration: ``300`` → ``5m``, ``10`` → ``10s``."""
    for unit, size in (("d", 86_400), ("h", 3600), ("m", 60)):
        if seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def window(seconds: int) -> str:
    """A range holding exactly the recorded samples of the last ``seconds`` (one per evaluation).

    Prometheus 2 includes a sample at the range's start, Prometheus 3 does not;
    one second less than the window gives the same samples in both.
    """
    return f"{seconds - 1}s"


def lookback_seconds(interval_s: int) -> int:
    """How far back ``exact_increase`` looks for a series' previous sample: 60 evaluations, 5 minutes to an hour.

    A gap in the samples shorter than this (a Prometheus restart, failed
    scrapes) is bridged: the growth across it is counted. After a longer one
    the series counts again from its first sample after the gap.
    """
    return min(3600, max(300, 60 * interval_s))


def exact_increase(counter: str, interval_s: int, lag_s: int = 0) -> str:
    """Per series of ``counter`` (a selector), its growth over the evaluation interval, from raw samples.

    The interval is the one that ended ``lag_s`` seconds before the evaluation (the query offset): a scrape
    in flight when the rules run stores its samples later, stamped with the time it began; an interval
    that ends no later than the scrape timeout before the evaluation already holds all of them, where
    one that ends at the evaluation would miss such a sample for good (the next interval starts after it).

    ``last`` is the interval's last sample, ``before`` the last sample before
    the interval. Counted, in this order of precedence:

    1. ``last - before`` when the counter did not drop;
    2. after a drop (a restart): what the old process added (its highest value
       in the interval minus ``before``; the new process shows 0 for its first
       ``web.new_series_hold_seconds``) plus ``last``, counted from 0;
    3. with no sample before: ``last`` minus the interval's first sample, the 0 the
       exporter serves first;
    4. with no sample in the interval, but one before: 0, so the series is continuous.
    """
    step = duration(interval_s)
    lag = f" offset {duration(lag_s)}" if lag_s else ""
    in_interval = f"{counter}[{step}]{lag}"
    last = f"last_over_time({in_interval})"
    before = (
        f"last_over_time({counter}[{duration(lookback_seconds(interval_s))}] offset {duration(interval_s + lag_s)})"
    )
    return (
        f"(\n  ({last} - {before}) >= 0\n  unless resets({in_interval}) > 0\n)\n"
        f"or\n  clamp_min(max_over_time({in_interval}) - {before}, 0) + {last}\n"
        f"or\n  {last} - min_over_time({in_interval})\n"
        f"or\n  {before} * 0"
    )


def calendar_spend(period: str, total: str, start: str, increase: str, zero: str, lag_s: int = 0) -> str:
    """The running total of a calendar period: the last total if it is of this period (else 0), plus ``increase``.

    ``total`` and ``start`` are the selectors of the recorded total and
    of the recorded start of the period it belongs to; ``increase`` this
    evaluation's increase; ``zero`` a 0 with the total's labels; ``lag_s`` the query offset of the increase.
    """
    lookback = CALENDAR_LOOKBACK[period]
    return (
        f"(\n  (\n    last_over_time({total}[{lookback}])\n"
        f"    and on () (last_over_time({start}[{lookback}]) == on () ({period_start(period, lag_s)}))\n  )\n"
        f"  or\n  {zero}\n)\n+ {increase}"
    )


def period_sum(record: str, seconds: int) -> str:
    """The sum of the increases ``record`` (a selector of recorded increases) holds for one period of ``seconds``,
    evaluated at the period's end plus the rules' query offset.

    This is a report's "spend in (start, end]": an increase recorded at ``t`` covers the interval that ended at
    ``t - offset`` and belongs to the period that holds ``t - offset - 1 ms`` (``_now``), so the period's
    increases are those recorded in ``(start + offset, end + offset]``. A range one millisecond shorter than the
    period holds exactly those, whether the engine includes the range's left edge (Prometheus 2) or not (3).
    """
    return f"sum_over_time({record}[{seconds * 1000 - 1}ms])"


def seconds_left(period: str, lag_s: int = 0) -> str:
    """Seconds until the calendar period of the evaluation's data ends, as a one-element vector."""
    now = f"vector(time() - {lag_s})" if lag_s else "vector(time())"
    return f"{period_start(period, lag_s)} + {_period_length(period, lag_s)} - {now}"
