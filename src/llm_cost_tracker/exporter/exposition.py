"""The ledger's counters in the Prometheus text exposition format (0.0.4), which every Prometheus reads.

Rendering works on a ``Snapshot``, a copy made under the ledger's lock, so that
a large ``/metrics`` never blocks ingestion; each series' label text was built
once, when the series began.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from llm_cost_tracker.pricing.prices import FUSD_PER_USD, ResolvedPrice
from llm_cost_tracker.usage import TOKEN_TYPES, LabelKey, Tokens

SERIES_LABELS: Final = ("org", "project", "provider", "model", "operation")

SeriesRow = tuple[str, LabelKey, int, Tokens, int, int, tuple[int, ...], float, float, int, int]
"""``(label text, label values, cost in femto-dollars, tokens, ok, errors, bucket counts, duration sum, created,
changed, lines)``: ``changed`` is the ledger's version at the series' last change, -1 for a series shown at 0;
``lines`` the token and request lines to show (bits below), and in its next ``LINE_BITS`` bits those of them
shown at 0 for now (new to a series that was already shown)."""
OK_BIT: Final = len(TOKEN_TYPES)
ERROR_BIT: Final = OK_BIT + 1
"""A series' ``llm_tokens_total`` lines are bits 0-4 of its ``lines`` (``TOKEN_TYPES``' order), its
``llm_requests_total`` lines these two."""
LINE_BITS: Final = ERROR_BIT + 1
ALL_LINES: Final = (1 << LINE_BITS) - 1
REQUEST_LINES: Final = ((OK_BIT, "ok"), (ERROR_BIT, "error"))
"""The ``outcome`` of each request line's bit."""
CallCounterRow = tuple[str, tuple[str, ...], int, float]
"""``(metric, label values, calls, created)`` of a counter of ``CALL_COUNTERS``."""
UNPRICED: Final = "llm_unpriced_requests_total"
FALLBACK: Final = "llm_price_fallback_requests_total"
AVOIDED: Final = "llm_cost_avoided_usd_total"
CALL_COUNTERS: Final = {
    UNPRICED: ("org", "project", "provider", "model", "reason"),
    FALLBACK: ("org", "project", "provider", "model", "priced_as"),
    AVOIDED: ("org", "project", "provider", "model", "routed_to", "budget"),
}
MONEY_COUNTERS: Final = frozenset({AVOIDED})
"""Of ``CALL_COUNTERS``, those that count femto-dollars (rendered in USD), not calls."""
"""Calls counted apart from the series, with their label names: ``model`` is the model that was priced (the
response model, else the requested one), not the requested model of the series."""


@dataclass(frozen=True, slots=True)
class Snapshot:
    """Every counter of the ledger at one moment, as plain data."""

    series: list[SeriesRow]
    calls: list[CallCounterRow]
    prices: list[tuple[tuple[str, str], ResolvedPrice]]
    dropped: dict[str, int]
    bounds: tuple[float, ...]
    duration_labels: tuple[str, ...] = SERIES_LABELS
    """The labels of ``llm_request_duration_seconds``: the series' histograms are summed over the others."""
    exemplars: dict[str, tuple[bytes, int, float]] | None = None
    """With ``web.exemplars``: a series' label text → (trace id + span id, cost in femto-dollars, when) of a
    recent expensive call."""


DurationRow = tuple[str, tuple[str, ...], Sequence[int], float, float]
"""``(label text, label values, bucket counts, duration sum, created)`` of one duration histogram."""
DURATION_LABELS: Final = ("org", "project", "provider", "operation")
"""The default labels of the duration histogram: per model, its 16 samples would be most of ``/metrics``."""


def durations(snapshot: Snapshot) -> list[DurationRow]:
    """The duration histograms: the series' own, or summed by ``snapshot.duration_labels``."""
    names = snapshot.duration_labels
    if names == SERIES_LABELS:
        return [(row[0], row[1], row[6], row[7], row[8]) for row in snapshot.series]
    index = [SERIES_LABELS.index(name) for name in names]
    groups: dict[tuple[str, ...], tuple[list[int], list[float]]] = {}
    for _, key, _, _, _, _, buckets, duration_sum, created, _, _ in snapshot.series:
        values = tuple(key[i] for i in index)
        group = groups.get(values)
        if group is None:
            groups[values] = (list(buckets), [duration_sum, created])
        else:
            counts, totals = group
            for i, count in enumerate(buckets):
                counts[i] += count
            totals[0] += duration_sum
            totals[1] = min(totals[1], created)
    return [
        (label_text(names, values), values, counts, totals[0], totals[1]) for values, (counts, totals) in groups.items()
    ]


DROPPED_METRICS: Final = (
    "llm_cost_usd_total",
    "llm_unpriced_requests_total",
    "llm_price_fallback_requests_total",
    "llm_cost_avoided_usd_total",
    "llm_price_usd_per_token",
)
HELP: Final = {
    "llm_cost_usd_total": "Cost of LLM calls in USD, priced from the price catalog.",
    "llm_tokens_total": "Tokens of LLM calls by non-overlapping type (input = uncached input).",
    "llm_requests_total": "LLM calls by outcome.",
    "llm_request_duration_seconds": "Duration of LLM calls.",
    "llm_unpriced_requests_total": "LLM calls that no price applies to (counted at $0 cost), by the model "
    "that could not be priced.",
    "llm_price_fallback_requests_total": "LLM calls whose answering model has no price yet, priced as the "
    "requested model (priced_as).",
    "llm_cost_avoided_usd_total": "What calls a budget swap sent to a cheaper model would have cost more on the "
    "model the app asked for (model), in USD.",
    "llm_price_usd_per_token": "Base price in USD per token of every model seen, for re-pricing history in PromQL.",
    "llm_cost_tracker_series_dropped_total": "Records folded into an __overflow__ series "
    "(or, for prices, not exported) because a metric reached its series cap.",
}


def escape_label_value(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def label_text(names: Sequence[str], values: Sequence[str]) -> str:
    """``org="acme",project="checkout"`` (escaped as the text exposition format requires)."""
    return ",".join(f'{name}="{escape_label_value(value)}"' for name, value in zip(names, values, strict=True))


def format_value(value: float) -> str:
    """Go-style float text, as Prometheus writes it."""
    if value != value:
        return "NaN"
    if value in (float("inf"), float("-inf")):
        return "+Inf" if value > 0 else "-Inf"
    if value == int(value) and abs(value) < 1e15:
        return str(int(value))
    return repr(value)


def zero_lines(row: SeriesRow, bits: int) -> SeriesRow:
    """``row`` with the lines of ``bits`` shown at 0 (they are new to a series already shown: ``ledger.py``)."""
    labels, key, cost_fusd, counts, ok, errors, buckets, duration_sum, created, changed, lines = row
    shown = [0 if bits >> i & 1 else count for i, count in enumerate(counts)]
    return (
        labels,
        key,
        cost_fusd,
        (shown[0], shown[1], shown[2], shown[3], shown[4]),
        0 if bits >> OK_BIT & 1 else ok,
        0 if bits >> ERROR_BIT & 1 else errors,
        buckets,
        duration_sum,
        created,
        changed,
        lines | bits << LINE_BITS,
    )


class RenderCache:
    """Each series' lines from the last render, by family, reused while the series has not changed.

    At the series cap most series do not change between two scrapes; formatting their numbers again would
    be most of a scrape's time, all of it holding the GIL that ingestion needs. Renders on several threads
    may share one cache: a race only formats a series twice.
    """

    def __init__(self) -> None:
        self._blocks: dict[LabelKey, tuple[int, int, str, str, str, str]] = {}

    def blocks(self, row: SeriesRow, bounds: Sequence[str], histogram: bool) -> tuple[int, int, str, str, str, str]:
        """``(changed, lines, cost line, token lines, request lines, histogram lines)`` of ``row`` (histogram
        lines only when ``histogram``: the series has its own); a block without token or request lines is ``""``
        there."""
        labels, key, cost_fusd, counts, ok, errors, buckets, duration_sum, _, changed, lines = row
        cached = self._blocks.get(key)
        if cached is not None and cached[0] == changed and cached[1] == lines and (cached[5] != "" or not histogram):
            return cached
        block = (
            changed,
            lines,
            f"llm_cost_usd_total{{{labels}}} {format_value(cost_fusd / FUSD_PER_USD)}",
            "\n".join(
                [
                    f'llm_tokens_total{{{labels},token_type="{token_type}"}} {count}'
                    for i, (token_type, count) in enumerate(zip(TOKEN_TYPES, counts, strict=True))
                    if lines >> i & 1
                ]
            ),
            "\n".join(
                [
                    f'llm_requests_total{{{labels},outcome="{outcome}"}} {count}'
                    for (bit, outcome), count in zip(REQUEST_LINES, (ok, errors), strict=True)
                    if lines >> bit & 1
                ]
            ),
            histogram_lines(labels, bounds, buckets, duration_sum) if histogram else "",
        )
        self._blocks[key] = block
        return block


def histogram_lines(labels: str, bounds: Sequence[str], buckets: Sequence[int], duration_sum: float) -> str:
    out = []
    cumulative = 0
    for bound, count in zip(bounds, buckets, strict=False):
        cumulative += count
        out.append(f'llm_request_duration_seconds_bucket{{{labels},le="{bound}"}} {cumulative}')
    total = cumulative + buckets[-1]
    out.append(f'llm_request_duration_seconds_bucket{{{labels},le="+Inf"}} {total}')
    out.append(f"llm_request_duration_seconds_sum{{{labels}}} {format_value(duration_sum)}")
    out.append(f"llm_request_duration_seconds_count{{{labels}}} {total}")
    return "\n".join(out)


def text(snapshot: Snapshot, cache: RenderCache | None = None) -> str:
    """The snapshot's metric families as exposition text; ``cache``: the lines of the last render."""
    prices, dropped = snapshot.prices, snapshot.dropped
    cache = cache if cache is not None else RenderCache()
    bounds = [format_value(b) for b in snapshot.bounds]
    own_histograms = snapshot.duration_labels == SERIES_LABELS
    blocks = [cache.blocks(row, bounds, own_histograms) for row in snapshot.series]
    out: list[str] = []
    add = out.append
    add(f"# HELP llm_cost_usd_total {HELP['llm_cost_usd_total']}")
    add("# TYPE llm_cost_usd_total counter")
    out.extend([block[2] for block in blocks])
    add(f"# HELP llm_tokens_total {HELP['llm_tokens_total']}")
    add("# TYPE llm_tokens_total counter")
    out.extend([block[3] for block in blocks if block[3]])
    add(f"# HELP llm_requests_total {HELP['llm_requests_total']}")
    add("# TYPE llm_requests_total counter")
    out.extend([block[4] for block in blocks if block[4]])
    add(f"# HELP llm_request_duration_seconds {HELP['llm_request_duration_seconds']}")
    add("# TYPE llm_request_duration_seconds histogram")
    if own_histograms:
        out.extend([block[5] for block in blocks])
    else:
        for labels, _, buckets, duration_sum, _ in durations(snapshot):
            add(histogram_lines(labels, bounds, buckets, duration_sum))
    for metric, names in CALL_COUNTERS.items():
        add(f"# HELP {metric} {HELP[metric]}")
        add(f"# TYPE {metric} counter")
        money = metric in MONEY_COUNTERS
        for row_metric, key, count, _ in snapshot.calls:
            if row_metric == metric:
                value = format_value(count / FUSD_PER_USD) if money else str(count)
                add(f"{metric}{{{label_text(names, key)}}} {value}")
    add(f"# HELP llm_price_usd_per_token {HELP['llm_price_usd_per_token']}")
    add("# TYPE llm_price_usd_per_token gauge")
    for (provider, model), price in prices:
        labels = label_text(("provider", "model"), (provider, model))
        for token_type, usd in price.usd_per_token().items():
            add(f'llm_price_usd_per_token{{{labels},token_type="{token_type}"}} {format_value(usd)}')
    add(f"# HELP llm_cost_tracker_series_dropped_total {HELP['llm_cost_tracker_series_dropped_total']}")
    add("# TYPE llm_cost_tracker_series_dropped_total counter")
    for metric in DROPPED_METRICS:
        add(f'llm_cost_tracker_series_dropped_total{{metric="{metric}"}} {dropped.get(metric, 0)}')
    add("")
    return "\n".join(out)
