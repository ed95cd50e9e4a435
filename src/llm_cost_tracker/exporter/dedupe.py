"""Count each provider call once, whichever spans describe it.

Two or more spans often describe one call: the anthropic SDK's own span beside
Traceloop's or inside OpenInference's, LangChain's span beside the SDK span it
led to, a framework span around an HTTP client's span, one span sent twice by a
retrying OTLP client. They are recognised, in this order, by

1. the same span (trace id and span id): a retried export;
2. the same provider response id;
3. their place in the trace: a parent and its child, or two siblings whose
   intervals nest, that name the same provider and model, from *different*
   instrumentation scopes (one instrumentation writes one span per call, so
   two spans of one scope are two calls: two sequential calls of a model in
   one trace, a retry that was billed, parallel calls).

The first span counts; a later one adds only what it reports beyond it: the
larger of each *reported* count (input total, cache read, cache write, output
total, reasoning), split once, so a token is never counted twice.
"""

from __future__ import annotations

from typing import Final, Generic, TypeVar

from llm_cost_tracker.usage import Extras, LabelKey, SpanPlace, Tokens, UsageRecord

PriceKey = tuple[str, str, int, str]
"""``(provider, model, call time in Unix ns, service tier)``: what ``PriceResolver.resolve`` takes."""

CountedCall = tuple[LabelKey, Tokens, Extras, int, PriceKey | None, tuple[str, ...], bool]
"""``(labels, reported, extras, cost_fusd, price_key, scopes, ok)`` of a counted call; ``scopes`` are
the instrumentation scopes of its spans that reported usage.

A plain tuple of strings and numbers, not a class: CPython's garbage collector
stops tracking such tuples, so remembering 100 000 calls adds nothing to the
cost of a collection.
"""
SpanNode = tuple[object, str, str, tuple[str, ...], int, int, bool, bool, bool, bytes]
"""``(call key or None, scope, provider, models, start ns, end ns, has usage, failed, has a response id, parent
key)`` of a remembered span: atomic values only, so that the garbage collector stops tracking it (and the
per-trace dicts holding such tuples)."""

SHARDS = 16
SHARD_MASK = SHARDS - 1
NESTING_SLACK_NS: Final = 1_000_000
"""How far (1 ms) one span may stick out of another and still be inside it."""

K = TypeVar("K")
V = TypeVar("V")


class Memory(Generic[K, V]):
    """A bounded memory in two generations of sharded dicts.

    New entries go into the current generation; when it holds half the allowed
    entries or is half a window old, it becomes the previous one and the old
    previous one is forgotten. An entry is remembered for between half a window
    and a window (less when more than ``max_entries`` arrive per window).

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
        self._current: list[dict[K, V]] = [{} for _ in range(SHARDS)]
        self._previous: list[dict[K, V]] = [{} for _ in range(SHARDS)]
        self._forgetting: list[dict[K, V]] = []
        self._current_size = 0
        self._rotated_at: float | None = None

    def __len__(self) -> int:
        return sum(len(shard) for shard in self._current) + sum(len(shard) for shard in self._previous)

    def get(self, key: K) -> V | None:
        index = hash(key) & SHARD_MASK
        value = self._current[index].get(key)
        return value if value is not None else self._previous[index].get(key)

    def remember(self, key: K, value: V, now: float) -> None:
        if self._rotated_at is None:
            self._rotated_at = now
        elif self._current_size * 2 >= self.max_entries or now - self._rotated_at >= self.window_s / 2:
            self._forgetting = [shard for shard in self._previous if shard]
            self._previous = self._current
            self._current = [{} for _ in range(SHARDS)]
            self._current_size = 0
            self._rotated_at = now
        if self.max_entries > 0:
            self._current[hash(key) & SHARD_MASK][key] = value
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

    def replace(self, key: K, value: V) -> None:
        """Update a remembered entry where it is."""
        index = hash(key) & SHARD_MASK
        if key in self._current[index]:
            self._current[index][key] = value
        else:
            self._previous[index][key] = value


def nests(a_start: int, a_end: int, b_start: int, b_end: int) -> bool:
    """Whether one interval holds the other (to ``NESTING_SLACK_NS``)."""
    inside = b_start - NESTING_SLACK_NS <= a_start and a_end <= b_end + NESTING_SLACK_NS
    around = a_start - NESTING_SLACK_NS <= b_start and b_end <= a_end + NESTING_SLACK_NS
    return inside or around


def same_models(a: tuple[str, ...], b: tuple[str, ...]) -> bool:
    """Whether two spans name a model in common (``SpanPlace.models``: model families, see ``model_family``)."""
    return any(model in b for model in a)


def _trace(place: SpanPlace) -> bytes:
    """The trace id: the span key less its 8-byte span id."""
    return place.key[:-8] if len(place.key) > 8 else place.key


TraceSpans = dict[bytes, SpanNode]
"""The GenAI spans remembered of one trace, by span key (at most ``MAX_SPANS_PER_TRACE``, the latest)."""
MAX_SPANS_PER_TRACE: Final = 64


class CallRegistry:
    """The calls counted lately, and the spans that described them, to recognise a call's other spans.

    Spans are remembered per trace (one small dict each), so that a span of a new trace, the common case,
    costs one lookup, and a span's parent, children and siblings are found by scanning its trace's
    spans, a handful.
    """

    def __init__(self, max_entries: int = 100_000, window_s: float = 900.0) -> None:
        self.calls: Memory[object, CountedCall | tuple[object]] = Memory(max_entries, window_s)
        """Call key → the counted call; another key of a call (a twin span's id) → ``(call key,)``."""
        self._traces: Memory[bytes, TraceSpans] = Memory(max_entries, window_s)
        self._new_traces: set[bytes] = set()
        """Traces first seen in the request being counted: their twins were grouped with them already."""

    def begin_request(self) -> None:
        """A new export request: relations within it are ``group_records``'; the memory is for earlier ones."""
        self._new_traces.clear()

    def configure(self, max_entries: int, window_s: float) -> None:
        for memory in (self.calls, self._traces):
            memory.max_entries, memory.window_s = max_entries, window_s

    def __len__(self) -> int:
        return len(self.calls)

    def call_of(self, key: object) -> tuple[object, CountedCall] | None:
        """The call a dedupe key (a span key or response id) was counted under."""
        found = self.calls.get(key)
        if found is None:
            return None
        if len(found) == 1:
            key = found[0]
            found = self.calls.get(key)
            if found is None or len(found) == 1:
                return None
        return key, found

    def related(self, record: UsageRecord, scopes: frozenset[str]) -> tuple[object, CountedCall] | None:
        """A counted call this span is another description of, by its place in the trace.

        ``scopes``: the instrumentation scopes that reported usage for the call this span stands for (its own,
        and those of the spans of its request grouped with it); a call already counted from one of them is
        another call. A child or the parent wins over a sibling; of nested siblings, the closest in length.
        """
        place = record.span
        if place is None:
            return None
        trace = _trace(place)
        spans = None if trace in self._new_traces else self._traces.get(trace)
        if spans is None:
            return None
        provider = record.labels[2]
        identified = isinstance(record.dedupe_key, str)
        best: tuple[int, tuple[object, CountedCall]] | None = None
        for key, node in spans.items():
            if key == place.key:
                continue
            if node[9] == place.key or key == place.parent:  # its child, or its parent
                found = self._match(record, place, provider, node, scopes)
                if found is not None:
                    return found
            elif (
                node[9] == place.parent
                and not (identified and node[8])  # two spans with ids are one call only if the ids agree
                and nests(place.start_ns, place.end_ns, node[4], node[5])
            ):
                found = self._match(record, place, provider, node, scopes)
                if found is not None:
                    width = abs((node[5] - node[4]) - (place.end_ns - place.start_ns))
                    if best is None or width < best[0]:
                        best = (width, found)
        return None if best is None else best[1]

    def _match(
        self, record: UsageRecord, place: SpanPlace, provider: str, node: SpanNode, scopes: frozenset[str]
    ) -> tuple[object, CountedCall] | None:
        call_key, node_scope, node_provider, models, _, _, node_usage, node_failed, _, _ = node
        if call_key is None:
            return None
        if provider and node_provider and provider != node_provider:
            return None
        if not same_models(place.models, models):
            return None
        if not compatible_outcomes(record.ok, record.has_usage, place.scope, not node_failed, node_usage, node_scope):
            return None
        found = self.call_of(call_key)
        if found is None:
            return None
        if scopes.intersection(found[1][5]):
            return None  # one instrumentation, two spans with usage: two calls
        return found

    def remember_span(self, record: UsageRecord, call_key: object, now: float) -> None:
        """Place the span in its trace, under the call it describes (``None``: none yet)."""
        place = record.span
        if place is None:
            return
        node = (
            call_key,
            place.scope,
            record.labels[2],
            place.models,
            place.start_ns,
            place.end_ns,
            record.has_usage,
            not record.ok,
            isinstance(record.dedupe_key, str),
            place.parent,
        )
        trace = _trace(place)
        spans = self._traces.get(trace)
        if spans is None:
            self._traces.remember(trace, {place.key: node}, now)
            self._new_traces.add(trace)
            return
        spans[place.key] = node
        if len(spans) > MAX_SPANS_PER_TRACE:
            del spans[next(iter(spans))]  # the oldest

    def link_unattached(self, record: UsageRecord, call_key: object) -> None:
        """Spans without usage that this call's span sits under or beside: now known to be this call's too."""
        place = record.span
        if place is None:
            return
        trace = _trace(place)
        spans = None if trace in self._new_traces else self._traces.get(trace)
        if spans is None:
            return
        for key, node in spans.items():
            related = key == place.parent or node[9] == place.key
            if related and node[0] is None and not node[6] and same_models(place.models, node[3]):
                spans[key] = (call_key, *node[1:])

    def remember_call(self, key: object, call: CountedCall, now: float) -> None:
        self.calls.remember(key, call, now)

    def alias(self, key: object, call_key: object, now: float) -> None:
        """``key`` (another span's response id or span key) names the call counted under ``call_key``."""
        if key != call_key and self.calls.get(key) is None:
            self.calls.remember(key, (call_key,), now)

    def update_call(self, key: object, call: CountedCall) -> None:
        self.calls.replace(key, call)


SIBLING_WINDOW: Final = 8
"""How many later-starting siblings a span is compared with, in one request (twins start close together)."""


def _compatible(a: UsageRecord, b: UsageRecord) -> bool:
    """Whether two spans can describe one call: same outcome, not two reports of one instrumentation, same
    provider and model."""
    pa, pb = a.span, b.span
    if pa is None or pb is None:
        return False
    if not compatible_outcomes(a.ok, a.has_usage, pa.scope, b.ok, b.has_usage, pb.scope):
        return False
    if a.labels[2] and b.labels[2] and a.labels[2] != b.labels[2]:
        return False
    return same_models(pa.models, pb.models)


def compatible_outcomes(a_ok: bool, a_usage: bool, a_scope: str, b_ok: bool, b_usage: bool, b_scope: str) -> bool:
    """Whether two spans' outcomes and scopes allow them to be one call.

    A failed attempt is not the successful call it was retried into. One instrumentation writes one span
    per call: two of its spans are one call only as a span without usage around (or inside) one with it,
    as the Vercel AI SDK's outer and inner embeddings spans are.
    """
    if a_ok != b_ok:
        return False
    if a_scope == b_scope:
        return a_ok and a_usage != b_usage
    return True


def group_records(records: list[UsageRecord]) -> list[list[int]]:
    """The records of one request grouped by the call they describe: lists of indices, in arrival order.

    Spans of one call usually arrive together (an SDK exports a trace's spans as
    they end), in any order: a span that links two others (a wrapper without
    usage between LangChain's span and the SDK's) may come last. Grouping the
    whole request first counts each call once whatever the order. Links, from
    the strongest: the same response id (or span), a parent and its child,
    siblings whose intervals nest (the tightest first); a group never holds two
    spans with usage from one instrumentation scope.
    """
    count = len(records)
    if count < 2:
        return [[i] for i in range(count)]
    edges: list[tuple[int, int, int, int]] = []  # (strength, tie-break, a, b)
    by_span: dict[bytes, int] = {}
    by_call: dict[object, int] = {}
    children: dict[bytes, list[int]] = {}
    for i, record in enumerate(records):
        key = record.dedupe_key
        if key is not None:
            first = by_call.setdefault(key, i)
            if first != i:
                edges.append((0, 0, first, i))
        place = record.span
        if place is not None:
            by_span.setdefault(place.key, i)
            children.setdefault(place.parent, []).append(i)
    for i, record in enumerate(records):
        place = record.span
        if place is None:
            continue
        parent = by_span.get(place.parent)
        if parent is not None and parent != i and _compatible(records[parent], record):
            edges.append((1, 0, parent, i))
    # Siblings: only where one of the two has no response id (two with ids are one call only if the ids agree).
    anonymous = [not isinstance(r.dedupe_key, str) for r in records]
    for siblings in children.values():
        if len(siblings) < 2 or not any(anonymous[i] for i in siblings):
            continue
        siblings.sort(key=lambda index: records[index].span.start_ns)  # type: ignore[union-attr]
        for position, a in enumerate(siblings):
            if not anonymous[a]:
                continue
            pa = records[a].span
            assert pa is not None
            low = max(0, position - SIBLING_WINDOW)
            for b in siblings[low : position + 1 + SIBLING_WINDOW]:
                if b == a or (anonymous[b] and b < a):  # each pair of anonymous spans once
                    continue
                pb = records[b].span
                assert pb is not None
                if nests(pa.start_ns, pa.end_ns, pb.start_ns, pb.end_ns) and _compatible(records[a], records[b]):
                    width = abs((pa.end_ns - pa.start_ns) - (pb.end_ns - pb.start_ns))
                    edges.append((2, width, min(a, b), max(a, b)))
    if not edges:
        return [[i] for i in range(count)]
    root = list(range(count))
    scopes: list[set[str]] = [{r.span.scope} if r.span is not None and r.has_usage else set() for r in records]

    def find(i: int) -> int:
        while root[i] != i:
            root[i] = root[root[i]]
            i = root[i]
        return i

    for strength, _, a, b in sorted(edges):
        ra, rb = find(a), find(b)
        if ra == rb or (strength > 0 and scopes[ra] & scopes[rb]):
            continue
        low, high = min(ra, rb), max(ra, rb)
        root[high] = low
        scopes[low] |= scopes[high]
    groups: dict[int, list[int]] = {}
    for i in range(count):
        groups.setdefault(find(i), []).append(i)
    return list(groups.values())
