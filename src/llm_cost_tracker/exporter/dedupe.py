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

from typing import Final

from llm_cost_tracker.exporter.grouping import compatible_outcomes, nests, same_models
from llm_cost_tracker.exporter.memory import Memory
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
