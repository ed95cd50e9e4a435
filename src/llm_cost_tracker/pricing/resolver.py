"""One price per (provider, model, UTC day, service tier), resolved once and cached."""

from __future__ import annotations

from datetime import date

from llm_cost_tracker.pricing import catalog
from llm_cost_tracker.pricing.overrides import PriceOverrides
from llm_cost_tracker.pricing.prices import ResolvedPrice

NANOS_PER_DAY = 86_400 * 10**9
_EPOCH_ORDINAL = date(1970, 1, 1).toordinal()
MAX_CACHE_ENTRIES = 50_000


class PriceResolver:
    """Catalog prices with the user's overrides applied; the hot path hits a dict.

    ``resolve`` returns ``None`` for a model nobody prices, so that the caller
    can count it as unpriced instead of silently charging $0.
    """

    def __init__(self, overrides: PriceOverrides | None = None, overrides_name: str = "overrides") -> None:
        self._overrides = overrides
        self._overrides_name = overrides_name
        self._prices: dict[tuple[str, str, int, str], ResolvedPrice | None] = {}
        self._providers: dict[str, str | None] = {}

    def resolve(self, provider: str, model: str, day_number: int, service_tier: str = "") -> ResolvedPrice | None:
        """The price on UTC day ``day_number`` (days since 1970-01-01)."""
        key = (provider, model, day_number, service_tier)
        try:
            return self._prices[key]
        except KeyError:
            pass
        if len(self._prices) >= MAX_CACHE_ENTRIES:
            self._prices.clear()
        day = date.fromordinal(_EPOCH_ORDINAL + day_number)
        price = catalog.lookup(provider, model, day, service_tier)
        if self._overrides is not None:
            price = self._overrides.apply(price, provider, model, day, service_tier, self._overrides_name)
        self._prices[key] = price
        return price

    def infer_provider(self, model: str) -> str | None:
        try:
            return self._providers[model]
        except KeyError:
            if len(self._providers) >= MAX_CACHE_ENTRIES:
                self._providers.clear()
            provider = self._providers[model] = catalog.infer_provider(model)
            return provider


def day_number(time_unix_nano: int, now_unix_nano: int) -> int:
    """The UTC day of a call; the current day when the timestamp is missing or absurd."""
    if time_unix_nano <= 0 or time_unix_nano > now_unix_nano + NANOS_PER_DAY:
        time_unix_nano = now_unix_nano
    return time_unix_nano // NANOS_PER_DAY


def day_number_of(day: date) -> int:
    """Days since 1970-01-01 of a UTC date."""
    return day.toordinal() - _EPOCH_ORDINAL
