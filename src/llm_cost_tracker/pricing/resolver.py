"""The price of each call at its own timestamp, cached per price *segment*.

A segment is an interval over which no price source can change its answer for
one (provider, model, service tier): it ends at the next midnight UTC (when
dated prices change), at the next time-of-day boundary of the catalog's
schedules (DeepSeek's peak and off-peak hours), and at the next ``valid_from``
instant or ``hours_utc`` boundary of the overrides. A call inside the segment
it was last priced in costs a dict lookup and two comparisons.

Three sources, the first that prices a call wins: the user's overrides file,
the overrides bundled with the package (corrections of catalog rows that lag
the providers, ``bundled_overrides.yaml``), the genai-prices catalog; the user's
adjustments (discounts) then apply to whichever price it is.
"""

from __future__ import annotations

import bisect
import itertools
from datetime import UTC, date, datetime
from typing import Final

from llm_cost_tracker.pricing import catalog
from llm_cost_tracker.pricing.overrides import (
    BUNDLED_NAME,
    DAY_SECONDS,
    PriceOverrides,
    at_second,
    bundled_overrides,
)
from llm_cost_tracker.pricing.prices import ResolvedPrice

NANOS_PER_SECOND: Final = 10**9
NANOS_PER_DAY: Final = DAY_SECONDS * NANOS_PER_SECOND
MAX_CACHE_ENTRIES: Final = 50_000
_EPOCH_ORDINAL: Final = date(1970, 1, 1).toordinal()

SegmentKey = tuple[str, str, str]
"""``(provider, model, service tier)``."""


class Segment:
    """``[start_ns, end_ns)``: the interval over which ``price`` is the answer (``None``: nobody prices it)."""

    __slots__ = ("end_ns", "price", "start_ns")

    def __init__(self, start_ns: int, end_ns: int, price: ResolvedPrice | None) -> None:
        self.start_ns = start_ns
        self.end_ns = end_ns
        self.price = price


class PriceResolver:
    """Catalog prices with the bundled and the user's overrides applied; the hot path hits a dict.

    ``resolve`` returns ``None`` for a model nobody prices, so that the caller
    can count it as unpriced instead of silently charging $0.
    """

    def __init__(
        self,
        overrides: PriceOverrides | None = None,
        overrides_name: str = "overrides",
        *,
        bundled: PriceOverrides | None = None,
    ) -> None:
        self._overrides = overrides
        self._overrides_name = overrides_name
        self._bundled = bundled_overrides() if bundled is None else bundled
        self._current: dict[SegmentKey, Segment] = {}
        """The segment each (provider, model, tier) was last priced in."""
        self._days: dict[tuple[str, str, str, int], tuple[list[int], list[Segment]]] = {}
        """Every segment of one UTC day: their start times (for bisection) and the segments."""
        self._catalog: dict[tuple[str, str], catalog.CatalogModel | None] = {}
        self._providers: dict[str, str | None] = {}

    def resolve(self, provider: str, model: str, time_ns: int, service_tier: str = "") -> ResolvedPrice | None:
        """The price of a call at ``time_ns`` (Unix nanoseconds, UTC)."""
        key = (provider, model, service_tier)
        segment = self._current.get(key)
        if segment is not None and segment.start_ns <= time_ns < segment.end_ns:
            return segment.price
        return self.segment(provider, model, time_ns, service_tier).price

    def segment(self, provider: str, model: str, time_ns: int, service_tier: str = "") -> Segment:
        """The segment holding ``time_ns``, which becomes the model's current one."""
        day_number = time_ns // NANOS_PER_DAY
        day_key = (provider, model, service_tier, day_number)
        day = self._days.get(day_key)
        if day is None:
            if len(self._days) >= MAX_CACHE_ENTRIES:
                self._days.clear()
            day = self._days[day_key] = self._segments(provider, model, service_tier, day_number)
        starts, segments = day
        segment = segments[bisect.bisect_right(starts, time_ns) - 1]
        if len(self._current) >= MAX_CACHE_ENTRIES:
            self._current.clear()
        self._current[(provider, model, service_tier)] = segment
        return segment

    def _segments(self, provider: str, model: str, tier: str, day_number: int) -> tuple[list[int], list[Segment]]:
        day = date.fromordinal(_EPOCH_ORDINAL + day_number)
        found = self._find(provider, model)
        seconds = set(catalog.change_seconds(found)) if found is not None else set()
        for overrides in (self._bundled, self._overrides):
            if overrides is not None:
                seconds |= overrides.change_seconds(provider, model, tier, day)
        bounds = [0, *sorted(s for s in seconds if 0 < s < DAY_SECONDS), DAY_SECONDS]
        day_ns = day_number * NANOS_PER_DAY
        segments: list[Segment] = []
        for start, end in itertools.pairwise(bounds):
            price = self.price_at(provider, model, at_second(day, start), tier, found)
            if segments and segments[-1].price == price:
                segments[-1].end_ns = day_ns + end * NANOS_PER_SECOND
                continue
            segments.append(Segment(day_ns + start * NANOS_PER_SECOND, day_ns + end * NANOS_PER_SECOND, price))
        return [s.start_ns for s in segments], segments

    def _find(self, provider: str, model: str) -> catalog.CatalogModel | None:
        key = (provider, model)
        try:
            return self._catalog[key]
        except KeyError:
            if len(self._catalog) >= MAX_CACHE_ENTRIES:
                self._catalog.clear()
            found = self._catalog[key] = catalog.find(provider, model)
            return found

    def price_at(
        self,
        provider: str,
        model: str,
        when: datetime,
        service_tier: str = "",
        found: catalog.CatalogModel | None = None,
    ) -> ResolvedPrice | None:
        """The price at the instant ``when``, uncached: the user's overrides, else the bundled ones, else the
        catalog, then the user's adjustments."""
        if found is None:
            found = self._find(provider, model)
        price = catalog.price_at(found, when, service_tier) if found is not None else None
        price = self._bundled.apply(price, provider, model, when, service_tier, BUNDLED_NAME)
        if self._overrides is not None:
            price = self._overrides.apply(price, provider, model, when, service_tier, self._overrides_name)
        return price

    def context_window(self, provider: str, model: str) -> int | None:
        """The catalog's context window of the model (its most input tokens), if it says."""
        found = self._find(provider, model)
        window = found[1].context_window if found is not None else None
        return window if isinstance(window, int) and window > 0 else None

    def knows(self, provider: str, model: str) -> bool:
        """Whether any source could price the model (at some time): the catalog or an override entry."""
        if self._find(provider, model) is not None or self._bundled.mentions(provider, model):
            return True
        return self._overrides is not None and self._overrides.mentions(provider, model)

    def infer_provider(self, model: str) -> str | None:
        try:
            return self._providers[model]
        except KeyError:
            if len(self._providers) >= MAX_CACHE_ENTRIES:
                self._providers.clear()
            provider = self._providers[model] = catalog.infer_provider(model)
            return provider


def call_time_ns(time_unix_nano: int, now_unix_nano: int) -> int:
    """When a call is priced: its start; now when the timestamp is missing or more than a day ahead."""
    if time_unix_nano <= 0 or time_unix_nano > now_unix_nano + NANOS_PER_DAY:
        return now_unix_nano
    return time_unix_nano


def time_ns_of(when: datetime) -> int:
    """Unix nanoseconds of an aware (or UTC naive) datetime."""
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    delta = when - datetime(1970, 1, 1, tzinfo=UTC)
    return (delta.days * DAY_SECONDS + delta.seconds) * NANOS_PER_SECOND + delta.microseconds * 1000
