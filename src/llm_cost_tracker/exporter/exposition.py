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

SeriesRow = tuple[str, LabelKey, int, Tokens, int, int, tuple[int, ...], float, float]
"""``(label text, label values, cost in femto-dollars, tokens, ok, errors, bucket counts, duration sum, created)``."""
CallCounterRow = tuple[str, tuple[str, ...], int, float]
"""``(metric, label values, calls, created)`` of a counter of ``CALL_COUNTERS``."""
UNPRICED: Final = "llm_unpriced_requests_total"
FALLBACK: Final = "llm_price_fallback_requests_total"
CALL_COUNTERS: Final = {
    UNPRICED: ("org", "project", "provider", "model", "reason"),
    FALLBACK: ("org", "project", "provider", "model", "priced_as"),
}
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


DROPPED_METRICS: Final = (
    "llm_cost_usd_total",
    "llm_unpriced_requests_total",
    "llm_price_fallback_requests_total",
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


def text(snapshot: Snapshot) -> str:
    """The snapshot's metric families as exposition text."""
    series, prices, dropped = snapshot.series, snapshot.prices, snapshot.dropped
    out: list[str] = []
    add = out.append
    add(f"# HELP llm_cost_usd_total {HELP['llm_cost_usd_total']}")
    add("# TYPE llm_cost_usd_total counter")
    for labels, _, cost_fusd, *_ in series:
        add(f"llm_cost_usd_total{{{labels}}} {format_value(cost_fusd / FUSD_PER_USD)}")
    add(f"# HELP llm_tokens_total {HELP['llm_tokens_total']}")
    add("# TYPE llm_tokens_total counter")
    for labels, _, _, counts, *_ in series:
        for token_type, count in zip(TOKEN_TYPES, counts, strict=True):
            add(f'llm_tokens_total{{{labels},token_type="{token_type}"}} {count}')
    add(f"# HELP llm_requests_total {HELP['llm_requests_total']}")
    add("# TYPE llm_requests_total counter")
    for labels, _, _, _, ok, errors, *_ in series:
        add(f'llm_requests_total{{{labels},outcome="ok"}} {ok}')
        add(f'llm_requests_total{{{labels},outcome="error"}} {errors}')
    add(f"# HELP llm_request_duration_seconds {HELP['llm_request_duration_seconds']}")
    add("# TYPE llm_request_duration_seconds histogram")
    bounds = [format_value(b) for b in snapshot.bounds]
    for labels, _, _, _, _, _, buckets, duration_sum, _ in series:
        cumulative = 0
        for bound, count in zip(bounds, buckets, strict=False):
            cumulative += count
            add(f'llm_request_duration_seconds_bucket{{{labels},le="{bound}"}} {cumulative}')
        total = cumulative + buckets[-1]
        add(f'llm_request_duration_seconds_bucket{{{labels},le="+Inf"}} {total}')
        add(f"llm_request_duration_seconds_sum{{{labels}}} {format_value(duration_sum)}")
        add(f"llm_request_duration_seconds_count{{{labels}}} {total}")
    for metric, names in CALL_COUNTERS.items():
        add(f"# HELP {metric} {HELP[metric]}")
        add(f"# TYPE {metric} counter")
        for row_metric, key, count, _ in snapshot.calls:
            if row_metric == metric:
                add(f"{metric}{{{label_text(names, key)}}} {count}")
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
