"""The wall clock, passed in wherever "now" matters, so that tests can set it.

Anything that turns the current time into a decision (a price's date, whether a
tombstone is old, a file's ``updated_at``) takes a ``Clock`` argument that
defaults to ``time.time``; tests pass a clock set to the moment they want
(the last second of a month, 29 February) instead of depending on the day
they run. Durations and timeouts use ``time.monotonic`` and need no clock.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, date, datetime

Clock = Callable[[], float]
"""Seconds since the Unix epoch, as ``time.time()``."""

system_clock: Clock = time.time


def now_ns(clock: Clock) -> int:
    """The clock's time in nanoseconds since the epoch."""
    if clock is system_clock:
        return time.time_ns()
    return int(clock() * 1_000_000_000)


def utc_today(clock: Clock) -> date:
    """The clock's current date in UTC."""
    return datetime.fromtimestamp(clock(), tz=UTC).date()


def midnight(day: date) -> datetime:
    """The start of ``day`` in UTC."""
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


def iso_utc(moment: datetime) -> str:
    """``2026-12-01T00:00:00Z``: an instant in UTC, to the second, as reports and rules print it."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
