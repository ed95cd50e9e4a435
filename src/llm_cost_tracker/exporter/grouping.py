"""Which spans of one request describe the same provider call, and the tests two spans must pass to be one
call (also used against the spans remembered from earlier requests, in ``dedupe``)."""

from __future__ import annotations

from typing import Final

from llm_cost_tracker.usage import UsageRecord

NESTING_SLACK_NS: Final = 1_000_000
"""How far (1 ms) one span may stick out of another and still be inside it."""


def nests(a_start: int, a_end: int, b_start: int, b_end: int) -> bool:
    """Whether one interval holds the other (to ``NESTING_SLACK_NS``)."""
    inside = b_start - NESTING_SLACK_NS <= a_start and a_end <= b_end + NESTING_SLACK_NS
    around = a_start - NESTING_SLACK_NS <= b_start and b_end <= a_end + NESTING_SLACK_NS
    return inside or around


def same_models(a: tuple[str, ...], b: tuple[str, ...]) -> bool:
    """Whether two spans name a model in common (``SpanPlace.models``: model families, see ``model_family``)."""
    return any(model in b for model in a)


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
