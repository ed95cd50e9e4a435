"""The tests' wall clock: real time by default, or any moment chosen with ``--now``.

``pytest --now 2028-02-29T12:00:00Z`` runs every test that takes the ``clock``
fixture as if it were that moment (the clock then runs at real speed from
there), so month ends, leap days and year ends are run on purpose rather than
on the days they happen to fall. Fixtures build their timestamps from the
clock, never from a literal date.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime


def parse_now(text: str) -> float:
    """``2027-01-31T23:59:30Z`` → seconds since the epoch (a naive time is UTC)."""
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


def rfc3339(seconds: float) -> str:
    """Alertmanager's timestamp format, to the nanosecond: ``2026-11-28T02:59:12.123456789Z``."""
    whole = int(seconds // 1)
    nanos = round((seconds - whole) * 1e9)
    if nanos >= 1_000_000_000:
        whole, nanos = whole + 1, nanos - 1_000_000_000
    return datetime.fromtimestamp(whole, tz=UTC).strftime("%Y-%m-%dT%H:%M:%S") + f".{nanos:09d}Z"


class TestClock:
    """``time.time()`` as if the test started at ``start``; ``advance`` jumps ahead."""

    __test__ = False  # not a test class, despite its name

    def __init__(self, start: float | None = None) -> None:
        self.start = time.time() if start is None else start
        self._started = time.monotonic()
        self._offset = 0.0

    def __call__(self) -> float:
        return self.start + (time.monotonic() - self._started) + self._offset

    def advance(self, seconds: float) -> None:
        self._offset += seconds

    def iso(self, delta: float = 0.0) -> str:
        """The clock's time ``delta`` seconds from now, as Alertmanager writes times."""
        return rfc3339(self() + delta)
