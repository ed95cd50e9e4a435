"""The counters Prometheus scrapes: cost, tokens, requests, durations, prices.

A custom collector over plain dicts rather than ``Counter.labels(...).inc()``
per call: one dict lookup per call finds every counter of its series, costs
are exact integers (femto-dollars) until they are rendered, and the series cap
is enforced in one place. Prometheus is the database; nothing here survives a
restart, and ``increase()`` handles the reset.
"""

from __future__ import annotations

import bisect
import threading
from collections.abc import Iterator, Sequence
from typing import Final

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.registry import Collector

from llm_cost_tracker.exporter.usage import TOKEN_TYPES, LabelKey, Tokens
from llm_cost_tracker.pricing.prices import FUSD_PER_USD, ResolvedPrice

SERIES_LABELS: Final = ("org", "project", "provider", "model", "operation")
OVERFLOW: Final = "__overflow__"
OVERFLOW_KEY: Final[LabelKey] = (OVERFLOW, OVERFLOW, OVERFLOW, OVERFLOW, OVERFLOW)

GENAI_DURATION_BUCKETS: Final = (
    0.01,
    0.02,
    0.04,
    0.08,
    0.16,
    0.32,
    0.64,
    1.28,
    2.56,
    5.12,
    10.24,
    20.48,
    40.96,
    81.92,
)
"""The OTel GenAI semantic conventions' advisory boundaries for ``gen_ai.client.operation.duration``."""


class SeriesState:
    """Every counter of one (org, project, provider, model, operation) series."""

    __slots__ = ("buckets", "cost_fusd", "duration_count", "duration_sum", "errors", "ok", "tokens")

    def __init__(self, bucket_count: int) -> None:
        self.cost_fusd = 0
        self.tokens = [0, 0, 0, 0, 0]
        self.ok = 0
        self.errors = 0
        self.buckets = [0] * bucket_count
        self.duration_sum = 0.0
        self.duration_count = 0


class UsageLedger(Collector):
    """In-memory counters, rendered by ``prometheus_client`` on scrape.

    Writers (the event loop) and the scrape (a worker thread) share ``lock``:
    ingestion takes it once per request, ``collect`` only while it copies.
    """

    def __init__(self, max_series: int = 10_000, buckets: Sequence[float] = GENAI_DURATION_BUCKETS) -> None:
        self.lock = threading.Lock()
        self.max_series = max_series
        self.bounds = tuple(buckets)
        self._series: dict[LabelKey, SeriesState] = {}
        self._unpriced: dict[tuple[str, str, str], int] = {}
        self._prices: dict[tuple[str, str], ResolvedPrice] = {}
        self.dropped: dict[str, int] = {}
        """Records folded into ``__overflow__`` series because a metric hit its cap, by metric."""

    def series(self, key: LabelKey) -> SeriesState:
        """The series for ``key``; the ``__overflow__`` series once the cap is reached."""
        state = self._series.get(key)
        if state is None:
            if len(self._series) >= self.max_series and key != OVERFLOW_KEY:
                self.dropped["llm_cost_usd_total"] = self.dropped.get("llm_cost_usd_total", 0) + 1
                return self.series(OVERFLOW_KEY)
            state = self._series[key] = SeriesState(len(self.bounds) + 1)
        return state

    def add(
        self,
        key: LabelKey,
        tokens: Tokens,
        cost_fusd: int,
        *,
        ok: int = 0,
        errors: int = 0,
        duration_s: float | None = None,
    ) -> None:
        """Count one call's usage (caller holds ``lock``)."""
        state = self.series(key)
        state.cost_fusd += cost_fusd
        counts = state.tokens
        counts[0] += tokens[0]
        counts[1] += tokens[1]
        counts[2] += tokens[2]
        counts[3] += tokens[3]
        counts[4] += tokens[4]
        state.ok += ok
        state.errors += errors
        if duration_s is not None:
            state.buckets[bisect.bisect_left(self.bounds, duration_s)] += 1
            state.duration_sum += duration_s
            state.duration_count += 1

    def add_durations(self, key: LabelKey, bucket_counts: Sequence[int], bounds: Sequence[float], total: float) -> None:
        """Merge a histogram from a metrics push (caller holds ``lock``).

        A bucket whose boundaries are not ours lands in our bucket holding its
        upper bound, so ``+Inf`` always equals the count.
        """
        state = self.series(key)
        if tuple(bounds) == self.bounds:
            for index, count in enumerate(bucket_counts[: len(state.buckets)]):
                state.buckets[index] += count
        else:
            for index, count in enumerate(bucket_counts):
                upper = bounds[index] if index < len(bounds) else float("inf")
                state.buckets[bisect.bisect_left(self.bounds, upper)] += count
        state.duration_count += sum(bucket_counts)
        state.duration_sum += total

    def count_unpriced(self, provider: str, model: str, reason: str, calls: int = 1) -> None:
        key = (provider, model, reason)
        if key not in self._unpriced and len(self._unpriced) >= self.max_series:
            self.dropped["llm_unpriced_requests_total"] = self.dropped.get("llm_unpriced_requests_total", 0) + 1
            key = (OVERFLOW, OVERFLOW, reason)
        self._unpriced[key] = self._unpriced.get(key, 0) + calls

    def note_price(self, provider: str, model: str, price: ResolvedPrice) -> None:
        key = (provider, model)
        if self._prices.get(key) is price:
            return
        if key not in self._prices and len(self._prices) >= self.max_series:
            self.dropped["llm_price_usd_per_token"] = self.dropped.get("llm_price_usd_per_token", 0) + 1
            return
        self._prices[key] = price

    def collect(self) -> Iterator[CounterMetricFamily | GaugeMetricFamily | HistogramMetricFamily]:
        with self.lock:
            series = [
                (key, s.cost_fusd, tuple(s.tokens), s.ok, s.errors, tuple(s.buckets), s.duration_sum)
                for key, s in self._series.items()
            ]
            unpriced = list(self._unpriced.items())
            prices = list(self._prices.items())
            dropped = dict(self.dropped)

        cost = CounterMetricFamily(
            "llm_cost_usd", "Cost of LLM calls in USD, priced from the price catalog.", labels=SERIES_LABELS
        )
        tokens = CounterMetricFamily(
            "llm_tokens",
            "Tokens of LLM calls by non-overlapping type (input = uncached input).",
            labels=(*SERIES_LABELS, "token_type"),
        )
        requests = CounterMetricFamily("llm_requests", "LLM calls by outcome.", labels=(*SERIES_LABELS, "outcome"))
        durations = HistogramMetricFamily(
            "llm_request_duration_seconds", "Duration of LLM calls.", labels=SERIES_LABELS
        )
        bounds = [str(b) for b in self.bounds] + ["+Inf"]
        for key, cost_fusd, counts, ok, errors, buckets, duration_sum in series:
            labels = list(key)
            cost.add_metric(labels, cost_fusd / FUSD_PER_USD)
            for token_type, count in zip(TOKEN_TYPES, counts, strict=True):
                tokens.add_metric([*labels, token_type], count)
            requests.add_metric([*labels, "ok"], ok)
            requests.add_metric([*labels, "error"], errors)
            cumulative = 0
            histogram = []
            for bound, count in zip(bounds, buckets, strict=True):
                cumulative += count
                histogram.append((bound, cumulative))
            durations.add_metric(labels, histogram, duration_sum)
        yield cost
        yield tokens
        yield requests
        yield durations

        unpriced_family = CounterMetricFamily(
            "llm_unpriced_requests",
            "LLM calls that no price applies to (counted at $0 cost).",
            labels=("provider", "model", "reason"),
        )
        for (provider, model, reason), count in unpriced:
            unpriced_family.add_metric([provider, model, reason], count)
        yield unpriced_family

        price_family = GaugeMetricFamily(
            "llm_price_usd_per_token",
            "Base price in USD per token of every model seen, for re-pricing history in PromQL.",
            labels=("provider", "model", "token_type"),
        )
        for (provider, model), price in prices:
            for token_type, usd in price.usd_per_token().items():
                price_family.add_metric([provider, model, token_type], usd)
        yield price_family

        dropped_family = CounterMetricFamily(
            "llm_cost_tracker_series_dropped",
            "Records folded into an __overflow__ series (or, for prices, not exported) "
            "because a metric reached its series cap.",
            labels=("metric",),
        )
        for metric in ("llm_cost_usd_total", "llm_unpriced_requests_total", "llm_price_usd_per_token"):
            dropped_family.add_metric([metric], dropped.get(metric, 0))
        yield dropped_family
