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
import logging
import threading
import time
from collections.abc import Callable, Sequence
from typing import Final

from llm_cost_tracker.clock import Clock, system_clock
from llm_cost_tracker.exporter import exposition
from llm_cost_tracker.exporter.caps import OVERFLOW, DimensionLimits, FamilyCaps, Reservations
from llm_cost_tracker.exporter.exposition import (
    ALL_LINES,
    AVOIDED,
    CALL_COUNTERS,
    DURATION_LABELS,
    FALLBACK,
    UNPRICED,
    CallCounterRow,
    SeriesRow,
    Snapshot,
)
from llm_cost_tracker.exporter.series import GENAI_DURATION_BUCKETS as GENAI_DURATION_BUCKETS
from llm_cost_tracker.exporter.series import SeriesState, lines_of, org_of
from llm_cost_tracker.pricing.prices import ResolvedPrice
from llm_cost_tracker.usage import NO_TOKENS, LabelKey, Tokens

OVERFLOW_KEY: Final[LabelKey] = (OVERFLOW, OVERFLOW, OVERFLOW, OVERFLOW, OVERFLOW)


log = logging.getLogger(__name__)
SERIES_FAMILY: Final = "llm_cost_usd_total"
"""The family of ``_series``: cost, tokens, requests and durations share its label sets and its caps."""
OVERFLOW_LOG_EVERY_S: Final = 60.0
EXEMPLAR_WINDOW_S: Final = 300.0
"""A series' exemplar is the most expensive call of about the last five minutes."""


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
        clock: Clock = system_clock,
    ) -> None:
        self.lock = threading.Lock()
        self.max_series = max_series
        self.bounds = tuple(buckets)
        self.hold_s = hold_s
        """How long a new series stays at 0 after a scrape first served it (0: shown at once)."""
        self.monotonic = monotonic
        self.clock = clock
        self._series: dict[LabelKey, SeriesState] = {}
        self._calls: dict[str, dict[tuple[str, ...], int]] = {metric: {} for metric in CALL_COUNTERS}
        """Calls counted apart (unpriced, priced as the requested model): metric → label values → calls."""
        self._created: dict[tuple[str, tuple[str, ...]], float] = {}
        self._unpriced_models: set[tuple[str, str]] = set()
        self._prices: dict[tuple[str, str], ResolvedPrice] = {}
        self._held: dict[object, float] = {}
        """New series still shown at 0 → when a scrape first served them (-1: not yet)."""
        self._held_lines: dict[LabelKey, tuple[int, float]] = {}
        """Lines new to a series that is already shown (a first cache read, a first error) → (their bits, when a
        scrape first served them at 0, -1: not yet): a line that appeared with its count would lose it too."""
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
        self.org_caps: dict[str, int] | None = None
        """With tenants: each org's own series cap per metric (its overflow is ``(org, __overflow__, ...)``);
        an org not listed gets none. ``None``: one cap (``max_series``) for all."""
        self._org_series: dict[tuple[str, str], int] = {}
        """With tenants: label sets per (metric, org)."""
        self.dropped_by_org: dict[tuple[str, str], int] = {}
        """With tenants: records folded into an org's ``__overflow__`` series, by (org, metric)."""
        self._overflow_logged: dict[str, tuple[float, int]] = {}
        """Per metric: when its overflow was last logged, and the dropped count then."""
        self.exemplars = False
        """``web.exemplars``: remember an exemplar call per series, for the OpenMetrics format."""
        self._exemplars: dict[str, tuple[bytes, int, float]] = {}
        self._rows: dict[LabelKey, SeriesRow] = {}
        """Each series' row in the last snapshot that showed its values: reused while ``changed`` is the same."""
        self.render_cache = exposition.RenderCache()
        """Each series' text from the last scrape, reused while the series does not change."""
        self.duration_labels: tuple[str, ...] = DURATION_LABELS
        """The labels of ``llm_request_duration_seconds`` (``web.duration_histogram_labels``)."""
        self.limits = DimensionLimits()
        self.reserved = Reservations()
        """Label values that always get their own series (``caps.py``): set from the budgets and the config."""
        self._caps: dict[str, FamilyCaps] = {
            SERIES_FAMILY: FamilyCaps(),
            **{metric: FamilyCaps(keep_last=metric == UNPRICED) for metric in CALL_COUNTERS},
        }

    def settled(self) -> bool:
        """Whether a scrape has shown everything counted (no series held at 0, nothing newer): safe to stop."""
        with self.lock:
            return not self._held and not self._held_lines and self.served_version == self.version

    def scraper_gone(self) -> bool:
        """No scrape for three of the usual intervals (at least 5 s): nobody is left to read what is unserved."""
        return self.monotonic() - self.last_scrape_at > max(3 * self.scrape_gap, 5.0)

    def _release_held(self, org: str | None = None) -> None:
        """At a scrape (caller holds ``lock``): start the hold of newly served series, end the ones that are due.

        ``org``: the scrape served that org's series only, so only theirs move on.
        """
        now = self.monotonic()
        hold = 0.0 if self.draining else self.hold_s
        for key, served_at in list(self._held.items()):
            if org is not None and org_of(key) != org:
                continue
            if served_at < 0:
                self._held[key] = now
            elif now - served_at >= hold:
                del self._held[key]
        for series_key, (bits, served_at) in list(self._held_lines.items()):
            if org is not None and series_key[0] != org:
                continue
            if served_at < 0:
                self._held_lines[series_key] = (bits, now)
            elif now - served_at >= hold:
                del self._held_lines[series_key]

    def reserve(self, reserved: Reservations, limits: DimensionLimits) -> None:
        """New reservations and per-dimension caps (a reload); label sets that exist keep their series."""
        with self.lock:
            self.reserved, self.limits = reserved, limits

    def _place(self, metric: str, key: tuple[str, ...], count: int) -> tuple[str, ...]:
        """The key a new label set of ``metric`` is counted under (``caps.py``); ``count``: the metric's label
        sets so far. A fold is counted as dropped and logged. Caller holds ``lock``."""
        org = key[0]
        caps = self.org_caps
        reserved = self.reserved
        if caps is None:
            room = count < self.max_series
        else:
            room = self._org_series.get((metric, org), 0) < caps.get(org, 0)
            if org in caps and not reserved.org(org):
                reserved = Reservations(reserved.orgs | {org}, reserved.projects, reserved.models)
        placed, why = self._caps[metric].place(key, room, self.limits, reserved)
        if why is None:
            if caps is not None:
                self._org_series[(metric, org)] = self._org_series.get((metric, org), 0) + 1
            return placed
        if caps is not None:
            self.dropped_by_org[(org, metric)] = self.dropped_by_org.get((org, metric), 0) + 1
        dropped = self.dropped[metric] = self.dropped.get(metric, 0) + 1
        self._log_overflow(metric, key, why, dropped)
        return placed

    def _log_overflow(self, metric: str, key: tuple[str, ...], why: str, dropped: int) -> None:
        """The first overflow of a metric, then at most one line a minute while it goes on."""
        now = self.monotonic()
        last = self._overflow_logged.get(metric)
        if last is not None and now - last[0] < OVERFLOW_LOG_EVERY_S:
            return
        since = dropped - (last[1] if last is not None else 0)
        self._overflow_logged[metric] = (now, dropped)
        org = key[0]
        if why == "models":
            cap = f"project {org}/{key[1]} has {self.limits.max_models_per_project} label sets "
            cap += "(limits.max_models_per_project): new ones are counted as its model 'other'"
        elif why == "projects":
            cap = f"org {org} has {self.limits.max_projects_per_org} projects "
            cap += "(limits.max_projects_per_org): new ones are counted in its __overflow__ project"
        elif self.org_caps is None:
            cap = f"{self.max_series} label sets (limits.max_series_per_metric): new ones are folded"
        else:
            cap = f"{self.org_caps.get(org, 0)} label sets for org {org} (its max_series): new ones are folded"
        log.warning(
            "%s reached a series cap: %s; %d since the last report; see llm_cost_tracker_series_dropped_total "
            "and the LLMCostTrackerSeriesOverflow runbook",
            metric,
            cap,
            since,
        )

    def series(self, key: LabelKey) -> SeriesState:
        """The series for ``key``, or the one it folds into at a cap (``caps.py``)."""
        state = self._series.get(key)
        if state is None:
            placed = self._place(SERIES_FAMILY, key, len(self._series))
            if placed != key:
                key = (placed[0], placed[1], placed[2], placed[3], placed[4])
                state = self._series.get(key)
                if state is not None:
                    return state
            state = self._series[key] = SeriesState(key, len(self.bounds) + 1, self.clock())
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
        state.changed = self.version
        state.cost_fusd += cost_fusd
        counts = state.tokens
        counts[0] += tokens[0]
        counts[1] += tokens[1]
        counts[2] += tokens[2]
        counts[3] += tokens[3]
        counts[4] += tokens[4]
        state.ok += ok
        state.errors += errors
        if state.lines != ALL_LINES:
            self._show_lines(state, lines_of(tokens, ok, errors))
        if duration_s is not None:
            state.buckets[bisect.bisect_left(self.bounds, duration_s)] += 1
            state.duration_sum += duration_s
            state.duration_count += 1

    def _show_lines(self, state: SeriesState, lines: int) -> None:
        """Expose the lines a call counted on; those new to a series already shown start at 0 (``hold_s``)."""
        new = lines & ~state.lines
        if not new:
            return
        state.lines |= new
        key = state.key
        # A series not yet served shows the new lines with its own zeros; one already served (held or not) has
        # stored its zeros without them.
        if self.hold_s > 0 and self._held.get(key, 0.0) >= 0:
            pending = self._held_lines.get(key)
            # A line added after the others' zero was served needs its own: they all wait for the next one.
            self._held_lines[key] = (new if pending is None else pending[0] | new, -1.0)

    def note_exemplar(self, key: LabelKey, span_key: bytes, cost_fusd: int) -> None:
        """Keep the call as its series' exemplar if it is the most expensive of the last ``EXEMPLAR_WINDOW_S``
        (caller holds ``lock``; ``key`` as given to ``add``)."""
        if len(span_key) != 24 or cost_fusd <= 0 or not any(span_key[:16]):
            return
        labels = self.series(key).labels
        now = self.clock()
        current = self._exemplars.get(labels)
        if current is None or cost_fusd >= current[1] or now - current[2] > EXEMPLAR_WINDOW_S:
            self._exemplars[labels] = (span_key, cost_fusd, now)

    def add_durations(self, key: LabelKey, bucket_counts: Sequence[int], bounds: Sequence[float], total: float) -> None:
        """Merge a histogram from a metrics push (caller holds ``lock``).

        A bucket whose boundaries are not ours lands in our bucket holding its
        upper bound, so ``+Inf`` always equals the count.
        """
        self.version += 1
        state = self.series(key)
        state.changed = self.version
        if tuple(bounds) == self.bounds:
            for index, count in enumerate(bucket_counts[: len(state.buckets)]):
                state.buckets[index] += count
        else:
            for index, count in enumerate(bucket_counts):
                upper = bounds[index] if index < len(bounds) else float("inf")
                state.buckets[bisect.bisect_left(self.bounds, upper)] += count
        state.duration_count += sum(bucket_counts)
        state.duration_sum += total

    def count_calls(self, metric: str, key: tuple[str, ...], calls: int = 1) -> None:
        """Count calls in one of ``CALL_COUNTERS`` (caller holds ``lock``); a new series starts held at 0."""
        counts = self._calls[metric]
        if key not in counts:
            key = self._place(metric, key, len(counts))
            if key not in counts:
                self._created[(metric, key)] = self.clock()
                if self.hold_s > 0:
                    self._held[(metric, key)] = -1.0
        self.version += 1
        counts[key] = counts.get(key, 0) + calls

    def count_unpriced(self, key: tuple[str, str, str, str, str], calls: int = 1) -> bool:
        """Count calls no price applies to, by ``(org, project, provider, model, reason)``.

        Returns whether the model is new to the process (so that it is logged once).
        """
        self.count_calls(UNPRICED, key, calls)
        model = (key[2], key[3])
        if model in self._unpriced_models or len(self._unpriced_models) >= self.max_series:
            return False
        self._unpriced_models.add(model)
        return True

    def count_fallback(self, key: tuple[str, str, str, str, str], calls: int = 1) -> None:
        """Count calls priced as the requested model, by ``(org, project, provider, model, priced_as)``."""
        self.count_calls(FALLBACK, key, calls)

    def count_avoided(self, key: tuple[str, str, str, str, str, str], fusd: int) -> None:
        """Count what a swapped call would have cost more on the model asked for, by ``(org, project, provider,
        model asked for, model it went to, budget)``, in femto-dollars."""
        self.count_calls(AVOIDED, key, fusd)

    def note_price(self, provider: str, model: str, price: ResolvedPrice) -> None:
        key = (provider, model)
        if self._prices.get(key) is price:
            return
        if key not in self._prices and len(self._prices) >= self.max_series:
            self.dropped["llm_price_usd_per_token"] = self.dropped.get("llm_price_usd_per_token", 0) + 1
            return
        self._prices[key] = price

    def render(self, scrape: bool = False) -> str:
        """The ledger's metric families in the Prometheus text exposition format (0.0.4)."""
        return exposition.text(self.snapshot(scrape), self.render_cache)

    def snapshot(self, scrape: bool = False, org: str | None = None) -> Snapshot:
        """A copy of every counter, to render without the lock (``org``: that org's series only).

        ``scrape``: the reader is a Prometheus-style scraper (it sent ``X-Prometheus-Scrape-Timeout-Seconds``),
        so new series are held at 0 for it; anyone else (``curl``) sees the true values.
        """
        with self.lock:
            held: dict[object, float] = self._held if scrape else {}
            held_lines = self._held_lines if scrape else {}
            if held or held_lines:
                self._release_held(org)
            zero_buckets = (0,) * (len(self.bounds) + 1)
            rows = self._rows
            series: list[SeriesRow] = []
            add = series.append
            for key, s in self._series.items():
                if org is not None and key[0] != org:
                    continue
                if held and key in held:
                    add((s.labels, key, 0, NO_TOKENS, 0, 0, zero_buckets, 0.0, s.created, -1, s.lines))
                    continue
                # Most series have not changed since the last snapshot: their row is reused, not copied again.
                row = rows.get(key)
                if row is None or row[9] != s.changed or row[10] != s.lines:
                    row = rows[key] = (
                        s.labels,
                        key,
                        s.cost_fusd,
                        (s.tokens[0], s.tokens[1], s.tokens[2], s.tokens[3], s.tokens[4]),
                        s.ok,
                        s.errors,
                        tuple(s.buckets),
                        s.duration_sum,
                        s.created,
                        s.changed,
                        s.lines,
                    )
                pending = held_lines.get(key) if held_lines else None
                add(row if pending is None else exposition.zero_lines(row, pending[0]))
            calls: list[CallCounterRow] = [
                (metric, key, 0 if (metric, key) in held else count, self._created.get((metric, key), 0.0))
                for metric, counts in self._calls.items()
                for key, count in counts.items()
                if org is None or key[0] == org
            ]
            prices = list(self._prices.items())
            if org is None:
                dropped = dict(self.dropped)
            else:
                dropped = {metric: n for (of, metric), n in self.dropped_by_org.items() if of == org}
            if scrape:
                now = self.monotonic()
                if self.scrapes:
                    self.scrape_gap = now - self.last_scrape_at
                self.last_scrape_at = now
                self.scrapes += 1
                if not held and not held_lines and org is None:
                    self.served_version = self.version
            exemplars = None
            if self.exemplars:
                shown = {row[0] for row in series if row[9] != -1}
                exemplars = {labels: e for labels, e in self._exemplars.items() if labels in shown}
        return Snapshot(series, calls, prices, dropped, self.bounds, self.duration_labels, exemplars)
