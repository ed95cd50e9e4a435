"""The counters Prometheus scrapes: cost, tokens, requests, durations, prices.

Plain dicts and a text renderer of our own rather than ``Counter.labels(...)
.inc()`` per call and ``generate_latest``: one dict lookup per call finds every
counter of its series, costs are exact integers (femto-dollars) until they are
rendered, the series cap is enforced in one place, and each series' label text
is built once, so 10 000 series render in a few milliseconds instead of ~100.
Prometheus is the database; nothing here survives a restart, and
``increase()`` handles the reset.

A new series is first shown at 0 (``hold_s``): a counter whose first sample is
already above 0 contributes nothing to ``increase()`` or to the generated
rules, so the first call of every new label set (and every call before a
restart's first scrape) would be lost. Its real values are shown once a scrape
has served the zero and ``hold_s`` seconds have passed, so that every
Prometheus scraping at most that often has stored a 0 first (docs/exactness.md).
"""

from __future__ import annotations

import bisect
import threading
import time
from collections.abc import Callable, Sequence
from typing import Final

from llm_cost_tracker.exporter.usage import NO_TOKENS, TOKEN_TYPES, LabelKey, Tokens
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


class SeriesState:
    """Every counter of one (org, project, provider, model, operation) series."""

    __slots__ = ("buckets", "cost_fusd", "duration_count", "duration_sum", "errors", "labels", "ok", "tokens")

    def __init__(self, key: LabelKey, bucket_count: int) -> None:
        self.labels = label_text(SERIES_LABELS, key)
        self.cost_fusd = 0
        self.tokens = [0, 0, 0, 0, 0]
        self.ok = 0
        self.errors = 0
        self.buckets = [0] * bucket_count
        self.duration_sum = 0.0
        self.duration_count = 0


class UsageLedger:
    """In-memory counters, rendered as Prometheus text on scrape.

    Writers (the event loop) and the scrape (a worker thread) share ``lock``:
    ingestion takes it once per request, ``render`` only while it copies.
    """

    def __init__(
        self,
        max_series: int = 10_000,
        buckets: Sequence[float] = GENAI_DURATION_BUCKETS,
        *,
        hold_s: float = 0.0,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.lock = threading.Lock()
        self.max_series = max_series
        self.bounds = tuple(buckets)
        self.hold_s = hold_s
        """How long a new series stays at 0 after a scrape first served it (0: shown at once)."""
        self.monotonic = monotonic
        self._series: dict[LabelKey, SeriesState] = {}
        self._unpriced: dict[tuple[str, str, str], int] = {}
        self._prices: dict[tuple[str, str], ResolvedPrice] = {}
        self._held: dict[tuple[str, ...], float] = {}
        """New series still shown at 0 → when a scrape first served them (-1: not yet)."""
        self.draining = False
        """Shutting down: a held series is released by the next scrape after the one that served its 0."""
        self.version = 0
        """Bumped by every change; ``served_version`` is the version the last scrape showed in full."""
        self.served_version = 0
        self.scrapes = 0
        self.last_scrape_at = 0.0
        self.scrape_gap = 0.0
        """Time between the last two scrapes (monotonic seconds): what "the scraper is late" means."""
        self.dropped: dict[str, int] = {}
        """Records folded into ``__overflow__`` series because a metric hit its cap, by metric."""

    def settled(self) -> bool:
        """Whether a scrape has shown everything counted (no series held at 0, nothing newer): safe to stop."""
        with self.lock:
            return not self._held and self.served_version == self.version

    def scraper_gone(self) -> bool:
        """No scrape for three of the usual intervals (at least 5 s): nobody is left to read what is unserved."""
        return self.monotonic() - self.last_scrape_at > max(3 * self.scrape_gap, 5.0)

    def _release_held(self) -> None:
        """At a scrape (caller holds ``lock``): start the hold of newly served series, end the ones that are due."""
        now = self.monotonic()
        hold = 0.0 if self.draining else self.hold_s
        for key, served_at in list(self._held.items()):
            if served_at < 0:
                self._held[key] = now
            elif now - served_at >= hold:
                del self._held[key]

    def series(self, key: LabelKey) -> SeriesState:
        """The series for ``key``; the ``__overflow__`` series once the cap is reached."""
        state = self._series.get(key)
        if state is None:
            if len(self._series) >= self.max_series and key != OVERFLOW_KEY:
                self.dropped["llm_cost_usd_total"] = self.dropped.get("llm_cost_usd_total", 0) + 1
                return self.series(OVERFLOW_KEY)
            state = self._series[key] = SeriesState(key, len(self.bounds) + 1)
            if self.hold_s > 0:
                self._held[key] = -1.0
        return state

    def add(
        self,
        key: LabelKey,
        tokens: Tokens,
        cost_fusd: int,
        ok: int = 0,
        errors: int = 0,
        duration_s: float | None = None,
    ) -> None:
        """Count one call's usage (caller holds ``lock``)."""
        self.version += 1
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
        self.version += 1
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
        self.version += 1
        if key not in self._unpriced and self.hold_s > 0:
            self._held[key] = -1.0
        self._unpriced[key] = self._unpriced.get(key, 0) + calls

    def note_price(self, provider: str, model: str, price: ResolvedPrice) -> None:
        key = (provider, model)
        if self._prices.get(key) is price:
            return
        if key not in self._prices and len(self._prices) >= self.max_series:
            self.dropped["llm_price_usd_per_token"] = self.dropped.get("llm_price_usd_per_token", 0) + 1
            return
        self._prices[key] = price

    def render(self, scrape: bool = False) -> str:
        """The ledger's metric families in the Prometheus text exposition format (0.0.4).

        ``scrape``: the reader is a Prometheus-style scraper (it sent ``X-Prometheus-Scrape-Timeout-Seconds``),
        so new series are held at 0 for it; anyone else (``curl``) sees the true values.
        """
        with self.lock:
            held: dict[tuple[str, ...], float] = self._held if scrape else {}
            if held:
                self._release_held()
            zero_buckets = (0,) * (len(self.bounds) + 1)
            series = [
                (s.labels, 0, NO_TOKENS, 0, 0, zero_buckets, 0.0)
                if key in held
                else (s.labels, s.cost_fusd, tuple(s.tokens), s.ok, s.errors, tuple(s.buckets), s.duration_sum)
                for key, s in self._series.items()
            ]
            unpriced = [(key, 0 if key in held else count) for key, count in self._unpriced.items()]
            prices = list(self._prices.items())
            dropped = dict(self.dropped)
            if scrape:
                now = self.monotonic()
                if self.scrapes:
                    self.scrape_gap = now - self.last_scrape_at
                self.last_scrape_at = now
                self.scrapes += 1
                if not held:
                    self.served_version = self.version

        out: list[str] = []
        add = out.append
        add("# HELP llm_cost_usd_total Cost of LLM calls in USD, priced from the price catalog.")
        add("# TYPE llm_cost_usd_total counter")
        for labels, cost_fusd, *_ in series:
            add(f"llm_cost_usd_total{{{labels}}} {format_value(cost_fusd / FUSD_PER_USD)}")
        add("# HELP llm_tokens_total Tokens of LLM calls by non-overlapping type (input = uncached input).")
        add("# TYPE llm_tokens_total counter")
        for labels, _, counts, *_ in series:
            for token_type, count in zip(TOKEN_TYPES, counts, strict=True):
                add(f'llm_tokens_total{{{labels},token_type="{token_type}"}} {count}')
        add("# HELP llm_requests_total LLM calls by outcome.")
        add("# TYPE llm_requests_total counter")
        for labels, _, _, ok, errors, *_ in series:
            add(f'llm_requests_total{{{labels},outcome="ok"}} {ok}')
            add(f'llm_requests_total{{{labels},outcome="error"}} {errors}')
        add("# HELP llm_request_duration_seconds Duration of LLM calls.")
        add("# TYPE llm_request_duration_seconds histogram")
        bounds = [format_value(b) for b in self.bounds]
        for labels, _, _, _, _, buckets, duration_sum in series:
            cumulative = 0
            for bound, count in zip(bounds, buckets, strict=False):
                cumulative += count
                add(f'llm_request_duration_seconds_bucket{{{labels},le="{bound}"}} {cumulative}')
            total = cumulative + buckets[-1]
            add(f'llm_request_duration_seconds_bucket{{{labels},le="+Inf"}} {total}')
            add(f"llm_request_duration_seconds_sum{{{labels}}} {format_value(duration_sum)}")
            add(f"llm_request_duration_seconds_count{{{labels}}} {total}")
        add("# HELP llm_unpriced_requests_total LLM calls that no price applies to (counted at $0 cost).")
        add("# TYPE llm_unpriced_requests_total counter")
        unpriced_names = ("provider", "model", "reason")
        for key, count in unpriced:
            add(f"llm_unpriced_requests_total{{{label_text(unpriced_names, key)}}} {count}")
        add(
            "# HELP llm_price_usd_per_token Base price in USD per token of every model seen, "
            "for re-pricing history in PromQL."
        )
        add("# TYPE llm_price_usd_per_token gauge")
        for (provider, model), price in prices:
            labels = label_text(("provider", "model"), (provider, model))
            for token_type, usd in price.usd_per_token().items():
                add(f'llm_price_usd_per_token{{{labels},token_type="{token_type}"}} {format_value(usd)}')
        add(
            "# HELP llm_cost_tracker_series_dropped_total Records folded into an __overflow__ series "
            "(or, for prices, not exported) because a metric reached its series cap."
        )
        add("# TYPE llm_cost_tracker_series_dropped_total counter")
        for metric in ("llm_cost_usd_total", "llm_unpriced_requests_total", "llm_price_usd_per_token"):
            add(f'llm_cost_tracker_series_dropped_total{{metric="{metric}"}} {dropped.get(metric, 0)}')
        add("")
        return "\n".join(out)
