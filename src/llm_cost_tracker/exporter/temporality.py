"""Cumulative metric streams → deltas, so pushes of running totals count once.

A cumulative stream repeats its running total on every export; only the
growth since the last export is new. A new ``start_time`` or a smaller total
means the app restarted and the stream begins again from zero.

The first point of a stream is ambiguous: it may be new, or it may be a
stream this exporter was not running to see begin. ``auto`` (the
OpenTelemetry Collector's default for its cumulative-to-delta processor)
counts it only when the stream started after this exporter did.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

InitialValue = Literal["auto", "keep", "drop"]


@dataclass(slots=True)
class _Last:
    start_ns: int
    count: int
    total: float
    buckets: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class Delta:
    count: int
    total: float
    buckets: tuple[int, ...]


class CumulativeStreams:
    """The last value of each cumulative stream (bounded; least recently updated evicted first)."""

    def __init__(
        self, max_streams: int = 100_000, initial_value: InitialValue = "auto", started_ns: int | None = None
    ) -> None:
        self.max_streams = max_streams
        self.initial_value = initial_value
        self.started_ns = time.time_ns() if started_ns is None else started_ns
        self.evicted = 0
        self._last: OrderedDict[bytes, _Last] = OrderedDict()

    def __len__(self) -> int:
        return len(self._last)

    def __contains__(self, stream: object) -> bool:
        return stream in self._last

    def delta(
        self, stream: bytes, start_ns: int, count: int, total: float, buckets: Sequence[int] = ()
    ) -> Delta | None:
        """What this point adds to the stream; ``None`` when it adds nothing countable."""
        current = _Last(start_ns, count, total, tuple(buckets))
        last = self._last.get(stream)
        self._last[stream] = current
        self._last.move_to_end(stream)
        while len(self._last) > self.max_streams:
            self._last.popitem(last=False)
            self.evicted += 1
        if last is None:
            if self.initial_value == "keep" or (self.initial_value == "auto" and start_ns >= self.started_ns):
                return Delta(count, total, current.buckets)
            return None
        restarted = start_ns != last.start_ns or count < last.count or len(current.buckets) != len(last.buckets)
        if restarted:
            return Delta(count, total, current.buckets)
        if count == last.count:
            return None
        return Delta(
            count - last.count,
            total - last.total,
            tuple(b - a for a, b in zip(last.buckets, current.buckets, strict=True)),
        )
