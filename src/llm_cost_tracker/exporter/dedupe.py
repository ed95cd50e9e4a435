"""Count each provider call once, whichever spans describe it.

Two spans can describe one call: the anthropic SDK's own span beside
Traceloop's (same ``gen_ai.response.id``), or one span sent twice because an
OTLP client retried an export it thought had failed (same trace and span id).
The first span counts; a later one adds only the tokens it reports beyond
what was counted, so the result is the most complete usage of the call, and
cost follows.
"""

from __future__ import annotations

from llm_cost_tracker.exporter.usage import LabelKey, Tokens

PriceKey = tuple[str, str, int, str]
"""``(provider, model, day, service tier)``: what ``PriceResolver.resolve`` takes."""

CountedCall = tuple[LabelKey, Tokens, int, int, PriceKey | None]
"""``(labels, tokens, cache_write_1h, cost_fusd, price_key)`` of a counted call.

A plain tuple of strings and numbers, not a class: CPython's garbage collector
stops tracking such tuples, so remembering 100 000 calls adds nothing to the
cost of a collection.
"""


SHARDS = 16
SHARD_MASK = SHARDS - 1


class CallDeduplicator:
    """A bounded memory of counted calls, in two generations of sharded dicts.

    New calls go into the current generation; when it holds half the allowed
    entries or is half a window old, it becomes the previous one and the old
    previous one is forgotten. A call is remembered for between half a window
    and a window (less when more than ``max_entries`` calls arrive per window).

    Every operation is O(1) and none stalls: there is no per-entry expiry, a
    forgotten generation is freed a few entries per call rather than in one
    15 ms deallocation, and each generation is split over 16 dicts so that no
    dict grows past a few thousand entries (resizing one dict of 40 000
    entries takes ~8 ms). Keys should be ``str`` or ``bytes``, whose hash
    CPython computes once and caches.
    """

    def __init__(self, max_entries: int = 100_000, window_s: float = 900.0) -> None:
        self.max_entries = max_entries
        self.window_s = window_s
        self._current: list[dict[object, CountedCall]] = [{} for _ in range(SHARDS)]
        self._previous: list[dict[object, CountedCall]] = [{} for _ in range(SHARDS)]
        self._forgetting: list[dict[object, CountedCall]] = []
        self._current_size = 0
        self._rotated_at: float | None = None

    def __len__(self) -> int:
        return sum(len(shard) for shard in self._current) + sum(len(shard) for shard in self._previous)

    def get(self, key: object) -> CountedCall | None:
        index = hash(key) & SHARD_MASK
        call = self._current[index].get(key)
        return call if call is not None else self._previous[index].get(key)

    def remember(self, key: object, call: CountedCall, now: float) -> None:
        if self._rotated_at is None:
            self._rotated_at = now
        elif self._current_size * 2 >= self.max_entries or now - self._rotated_at >= self.window_s / 2:
            self._forgetting = [shard for shard in self._previous if shard]
            self._previous = self._current
            self._current = [{} for _ in range(SHARDS)]
            self._current_size = 0
            self._rotated_at = now
        if self.max_entries > 0:
            self._current[hash(key) & SHARD_MASK][key] = call
            self._current_size += 1
        forgetting = self._forgetting
        if forgetting:
            # Two out per one in: gone long before the next rotation.
            shard = forgetting[-1]
            shard.popitem()
            if shard:
                shard.popitem()
            if not shard:
                forgetting.pop()

    def replace(self, key: object, call: CountedCall) -> None:
        """Update a remembered call where it is."""
        index = hash(key) & SHARD_MASK
        if key in self._current[index]:
            self._current[index][key] = call
        else:
            self._previous[index][key] = call


def merge_tokens(counted: Tokens, reported: Tokens) -> Tokens:
    """The most complete usage of one call: the larger count of each token type."""
    return (
        max(counted[0], reported[0]),
        max(counted[1], reported[1]),
        max(counted[2], reported[2]),
        max(counted[3], reported[3]),
        max(counted[4], reported[4]),
    )
