"""Count each provider call once, whichever spans describe it.

Two spans can describe one call: the anthropic SDK's own span beside
Traceloop's (same ``gen_ai.response.id``), or one span sent twice because an
OTLP client retried an export it thought had failed (same trace and span id).
The first span counts; a later one adds only the tokens it reports beyond
what was counted, so the result is the most complete usage of the call, and
cost follows.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from dataclasses import dataclass

from llm_cost_tracker.exporter.usage import LabelKey, Tokens
from llm_cost_tracker.pricing.prices import ResolvedPrice


@dataclass(slots=True)
class CountedCall:
    labels: LabelKey
    tokens: Tokens
    cache_write_1h: int
    cost_fusd: int
    price: ResolvedPrice | None
    expires_at: float


class CallDeduplicator:
    """A bounded, time-limited memory of counted calls, keyed by call identity."""

    def __init__(self, max_entries: int = 100_000, window_s: float = 900.0) -> None:
        self.max_entries = max_entries
        self.window_s = window_s
        self._calls: OrderedDict[object, CountedCall] = OrderedDict()

    def __len__(self) -> int:
        return len(self._calls)

    def get(self, key: object, now: float | None = None) -> CountedCall | None:
        call = self._calls.get(key)
        if call is None:
            return None
        if call.expires_at < (time.monotonic() if now is None else now):
            del self._calls[key]
            return None
        return call

    def remember(self, key: object, call: CountedCall) -> None:
        calls = self._calls
        calls[key] = call
        calls.move_to_end(key)
        now = call.expires_at - self.window_s
        while calls and (len(calls) > self.max_entries or next(iter(calls.values())).expires_at < now):
            calls.popitem(last=False)

    def expires_at(self, now: float | None = None) -> float:
        return (time.monotonic() if now is None else now) + self.window_s


def merge_tokens(counted: Tokens, reported: Tokens) -> Tokens:
    """The most complete usage of one call: the larger count of each token type."""
    return (
        max(counted[0], reported[0]),
        max(counted[1], reported[1]),
        max(counted[2], reported[2]),
        max(counted[3], reported[3]),
        max(counted[4], reported[4]),
    )
