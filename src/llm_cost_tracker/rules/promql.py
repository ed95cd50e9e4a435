"""PromQL fragments of the generated rules: templates rendered with strict undefined.

Only expressions are templated; the YAML around them is built as data
(``generator.py``) and dumped (``render.py``).

Spend is rounded to nano-dollars and ratios to millionths so that a spend
exactly at the budget is exactly 1, not 0.9999999999 (and so that promtool
unit tests, which compare floats exactly, see the numbers a person expects).

How a calendar period's spend is exact (``period_spend``): the budget's usage
is recorded as its increase over the last hour and over the last step (5
minutes unless ``rules generate --step`` says otherwise), at every rule
evaluation. The period's spend is the sum of the hourly
increases recorded at hour boundaries whose hour lies inside the period (a
``[31d:1h]`` subquery: its steps are aligned to absolute hours) plus the
step increases recorded since the last hour boundary (``[1h:5m]``). The
hour ending at 00:00 on the 1st belongs to the previous month and is left
out. ``increase()`` handles counter resets (an exporter restart), and the
sum over series handles exporter replicas. Inside a subquery, the
evaluation time of the rule itself is ``max_over_time(vector(time())[1m:1m]
@ end())``, the last whole minute.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

import jinja2

_ENV = jinja2.Environment(undefined=jinja2.StrictUndefined, autoescape=False, trim_blocks=True, lstrip_blocks=True)  # noqa: S701 - PromQL, not HTML

NOW: Final = "max_over_time(vector(time())[1m:1m] @ end())"
"""The rule's evaluation time (to the minute), usable inside a subquery."""

_PERIOD_START: Final = {
    "day": "{{ now }} - {{ now }} % 86400",
    # 1970-01-01 was a Thursday; weeks start on Monday 00:00 UTC.
    "week": "{{ now }} - ({{ now }} + 259200) % 604800",
    "month": "{{ now }} - {{ now }} % 86400 - (day_of_month({{ now }}) - 1) * 86400",
}
_SECONDS_LEFT: Final = {
    "day": "86400 - time() % 86400",
    "week": "604800 - (time() + 259200) % 604800",
    "month": "(days_in_month() - day_of_month()) * 86400 + 86400 - time() % 86400",
}
_CALENDAR_RANGE: Final = {"day": "1d", "week": "7d", "month": "31d"}

_COMPLETE_HOURS = _ENV.from_string(
    "sum_over_time(({{ hourly }} and on () (vector(time()) - 3600 >= on () ({{ start }})))[{{ range }}:1h])"
)
_CURRENT_HOUR = _ENV.from_string(
    "sum_over_time(({{ steps }} and on () "
    "(floor((vector(time()) - {{ step_seconds }}) / 3600) == on () floor({{ now }} / 3600)))[3599s:{{ step }}])"
)
_SUM_OR_ZERO = _ENV.from_string(
    """round(
  (
    ({{ first }} or {{ zero }})
    +
    ({{ second }} or {{ zero }})
  ) * 1e9
) / 1e9"""
)


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
    return f"{metric}{{{','.join(matchers)}}}"


def steps(seconds: int) -> str:
    """A subquery range holding exactly ``seconds`` worth of steps.

    Prometheus 2 includes a sample at the range's start, Prometheus 3 does not:
    ``[1h:5m]`` has 13 steps in one and 12 in the other. One second less has
    12 in both.
    """
    return f"{seconds - 1}s"


def by(labels: Mapping[str, str]) -> str:
    return f"sum by ({', '.join(labels)})" if labels else "sum"


def duration(seconds: int) -> str:
    """A PromQL duration: ``300`` → ``5m``, ``10`` → ``10s``."""
    for unit, size in (("h", 3600), ("m", 60)):
        if seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def _current_hour(step_series: str, step_seconds: int) -> str:
    return _CURRENT_HOUR.render(steps=step_series, step_seconds=step_seconds, step=duration(step_seconds), now=NOW)


def calendar_spend(period: str, hourly: str, step_series: str, step_seconds: int, zero: str) -> str:
    """Spend in the current calendar period (day, week or month, UTC), exact to one step (5 minutes)."""
    start = _ENV.from_string(_PERIOD_START[period]).render(now=NOW)
    complete = _COMPLETE_HOURS.render(hourly=hourly, start=start, range=_CALENDAR_RANGE[period])
    current = _current_hour(step_series, step_seconds)
    return _SUM_OR_ZERO.render(first=complete, second=current, zero=zero)


def rolling_spend(seconds: int, hourly: str, step_series: str, step_seconds: int, zero: str) -> str:
    """Spend in the last ``seconds``: steps under a day; above, whole hours plus the current hour
    (so the oldest, partial hour of the window is left out: under 1/24 of a one-day window)."""
    if seconds < 86_400:
        return (
            f"round(\n  (sum_over_time({step_series}[{steps(seconds)}:{duration(step_seconds)}]) or {zero}) * 1e9\n)"
            " / 1e9"
        )
    start = f"{NOW} - {seconds}"
    complete = _COMPLETE_HOURS.render(hourly=hourly, start=start, range=f"{seconds}s")
    current = _current_hour(step_series, step_seconds)
    return _SUM_OR_ZERO.render(first=complete, second=current, zero=zero)


def seconds_left(period: str) -> str:
    """Seconds until the current calendar period ends, as a one-element vector."""
    return _SECONDS_LEFT[period]
