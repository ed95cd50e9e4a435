"""Price overrides: the user's (negotiated discounts, batch/flex tiers, self-hosted models) and the bundled ones.

```yaml
version: llm-cost-tracker/v1
models:                         # full prices, replacing the catalog's for matching calls
  - provider: vllm
    model: "llama-3.1-70b*"     # glob on the priced model (response model, else requested)
    usd_per_million_tokens: {input: 0.20, output: 0.60}
  - provider: deepseek
    model: deepseek-v4-flash*
    valid_from: 2026-08-23T00:00:00Z
    hours_utc: ["01:00-04:00", "06:00-10:00"]
    weekdays: [mon, tue, wed, thu, fri]
    usd_per_million_tokens: {input: 0.44, cache_read: 0.014, output: 1.32}
    source: https://api-docs.deepseek.com/quick_start/pricing
adjustments:                    # multipliers on whatever price applies
  - provider: openai
    service_tier: flex
    multiplier: 0.5
```

The package ships a file in this format (``bundled_overrides.yaml``) with the
corrections of genai-prices rows that lag the providers; the user's file wins
over it, and it wins over the catalog.
"""

from __future__ import annotations

import fnmatch
import re
from dataclasses import replace
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from functools import cached_property
from importlib import resources
from pathlib import Path
from typing import Annotated, Final, Literal

import pydantic

from llm_cost_tracker.inputfile import load_model, parse_model
from llm_cost_tracker.pricing.prices import ResolvedPrice, TokenPrices

NonNegative = Annotated[Decimal, pydantic.Field(ge=0, allow_inf_nan=False)]
Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
WEEKDAYS: Final[tuple[Weekday, ...]] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_HOURS: Final = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)-([01]\d|2[0-3]|24):([0-5]\d)$")
DAY_SECONDS: Final = 86_400
BUNDLED_NAME: Final = "bundled overrides"


class _Strict(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(extra="forbid", frozen=True)


class PerMillionTokens(_Strict):
    input: NonNegative
    output: NonNegative = Decimal(0)
    cache_read: NonNegative | None = None
    """Default: the input price."""
    cache_write: NonNegative | None = None
    """Default: the input price."""
    cache_write_1h: NonNegative | None = None
    """Default: the cache write price."""
    reasoning: NonNegative | None = None
    """Default: the output price."""
    input_audio: NonNegative | None = None
    """Default: the input price."""
    output_audio: NonNegative | None = None
    """Default: the output price."""

    def token_prices(self, per_request: Decimal, per_web_search: Decimal) -> TokenPrices:
        cache_write = self.input if self.cache_write is None else self.cache_write
        return TokenPrices(
            input=self.input,
            cache_read=self.input if self.cache_read is None else self.cache_read,
            cache_write=cache_write,
            output=self.output,
            reasoning=self.output if self.reasoning is None else self.reasoning,
            cache_write_1h=cache_write if self.cache_write_1h is None else self.cache_write_1h,
            per_request=per_request,
            input_audio=self.input_audio,
            output_audio=self.output_audio,
            per_web_search=per_web_search,
        )


class LongContextTier(_Strict):
    above_input_tokens: Annotated[int, pydantic.Field(gt=0)]
    """A call whose input (cached tokens included) exceeds this pays these prices for all its tokens."""
    usd_per_million_tokens: PerMillionTokens


def _utc(value: date | datetime) -> datetime:
    if isinstance(value, datetime):
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    return datetime.combine(value, time(), tzinfo=UTC)


def _window_seconds(window: str) -> tuple[int, int]:
    match = _HOURS.match(window)
    assert match is not None  # validated
    start_h, start_m, end_h, end_m = (int(g) for g in match.groups())
    return start_h * 3600 + start_m * 60, end_h * 3600 + end_m * 60


class _Selector(_Strict):
    provider: str = "*"
    """Provider label (``openai``, ``anthropic``, ``aws.bedrock``, ...); glob allowed."""
    model: str = "*"
    """Model name; glob allowed (``claude-3-5-sonnet*``)."""
    service_tier: str | None = None
    """Only calls billed at this tier (``flex``, ``batch``, ``priority``); default: any tier."""
    valid_from: date | datetime | None = None
    """From this UTC day, or instant (RFC 3339; UTC when it has no offset); default: always."""
    hours_utc: tuple[str, ...] | None = None
    """Only calls starting in these daily UTC windows (``"01:00-04:00"``: end excluded, may wrap midnight)."""
    weekdays: tuple[Weekday, ...] | None = None
    """Only calls starting on these UTC weekdays."""
    source: str | None = None
    """Where the price is published (a URL), for whoever reviews the file."""

    @pydantic.field_validator("hours_utc")
    @classmethod
    def _check_hours(cls, windows: tuple[str, ...] | None) -> tuple[str, ...] | None:
        for window in windows or ():
            match = _HOURS.match(window)
            if match is None or (match.group(3) == "24" and match.group(4) != "00"):
                raise ValueError(f"{window!r} is not a daily UTC window HH:MM-HH:MM (like 01:00-04:00)")
            start, end = _window_seconds(window)
            if start == end or (start == 0 and end == DAY_SECONDS):
                raise ValueError(f"{window!r} is empty or the whole day: leave hours_utc out instead")
        if windows is not None and not windows:
            raise ValueError("hours_utc is empty: leave it out to apply at every hour")
        return windows

    @pydantic.field_validator("weekdays")
    @classmethod
    def _check_weekdays(cls, days: tuple[Weekday, ...] | None) -> tuple[Weekday, ...] | None:
        if days is not None and not days:
            raise ValueError("weekdays is empty: leave it out to apply on every day")
        return days

    @cached_property
    def starts_at(self) -> datetime | None:
        return None if self.valid_from is None else _utc(self.valid_from)

    @cached_property
    def _windows(self) -> tuple[tuple[int, int], ...]:
        return tuple(_window_seconds(w) for w in self.hours_utc or ())

    @property
    def scheduled(self) -> bool:
        return self.hours_utc is not None or self.weekdays is not None

    def selects(self, provider: str, model: str, service_tier: str) -> bool:
        """Whether the entry is about this model at this tier, at some time."""
        return (
            fnmatch.fnmatchcase(provider, self.provider)
            and fnmatch.fnmatchcase(model.lower(), self.model.lower())
            and (self.service_tier is None or self.service_tier == service_tier)
        )

    def active(self, when: datetime) -> bool:
        """Whether the entry applies at the UTC instant ``when``."""
        starts_at = self.starts_at
        if starts_at is not None and when < starts_at:
            return False
        if self.weekdays is not None and WEEKDAYS[when.weekday()] not in self.weekdays:
            return False
        if self.hours_utc is not None:
            second = when.hour * 3600 + when.minute * 60 + when.second
            return any(
                start <= second < end if start < end else (second >= start or second < end)
                for start, end in self._windows
            )
        return True

    def matches(self, provider: str, model: str, when: datetime, service_tier: str) -> bool:
        return self.selects(provider, model, service_tier) and self.active(when)

    def change_seconds(self, day: date) -> set[int]:
        """The seconds of UTC day ``day`` at which the entry starts or stops applying (0 excluded)."""
        seconds = {s % DAY_SECONDS for window in self._windows for s in window}
        starts_at = self.starts_at
        if starts_at is not None and starts_at.date() == day:
            seconds.add(starts_at.hour * 3600 + starts_at.minute * 60 + starts_at.second)
        seconds.discard(0)
        return seconds

    def specificity(self, index: int) -> tuple[bool, datetime, bool, int, int]:
        """Of several matching entries the largest wins: a tier-specific one, then the latest ``valid_from``,
        then one with a schedule, then the longer literal model name, then the first in the file."""
        literal = len(self.model.replace("*", "").replace("?", ""))
        starts = self.starts_at or datetime.min.replace(tzinfo=UTC)
        return (self.service_tier is not None, starts, self.scheduled, literal, -index)


class ModelPriceEntry(_Selector):
    usd_per_million_tokens: PerMillionTokens
    usd_per_request: NonNegative = Decimal(0)
    usd_per_web_search: NonNegative = Decimal(0)
    """Provider-side web searches (Anthropic's web search tool: 0.01)."""
    long_context: tuple[LongContextTier, ...] = ()
    """Prices for calls whose input exceeds a threshold (Claude above 200k input tokens)."""

    @pydantic.field_validator("long_context")
    @classmethod
    def _check_tiers(cls, tiers: tuple[LongContextTier, ...]) -> tuple[LongContextTier, ...]:
        starts = [t.above_input_tokens for t in tiers]
        if starts != sorted(set(starts)):
            raise ValueError("long_context tiers must have increasing above_input_tokens")
        return tiers

    def price(self, source: str) -> ResolvedPrice:
        fees = (self.usd_per_request, self.usd_per_web_search)
        tiers = tuple((t.above_input_tokens, t.usd_per_million_tokens.token_prices(*fees)) for t in self.long_context)
        return ResolvedPrice(
            base=self.usd_per_million_tokens.token_prices(*fees),
            tiers=tiers,
            source=source,
        )


class Adjustment(_Selector):
    multiplier: Annotated[Decimal, pydantic.Field(ge=0, le=10, allow_inf_nan=False)]


class PriceOverrides(_Strict):
    version: Literal["llm-cost-tracker/v1"]
    models: list[ModelPriceEntry] = []
    adjustments: list[Adjustment] = []

    def model_price(
        self, provider: str, model: str, when: datetime, service_tier: str
    ) -> tuple[int, ModelPriceEntry] | None:
        """The most specific entry that applies (``_Selector.specificity``)."""
        candidates = [
            (index, entry)
            for index, entry in enumerate(self.models)
            if entry.matches(provider, model, when, service_tier)
        ]
        if not candidates:
            return None
        return max(candidates, key=lambda c: c[1].specificity(c[0]))

    def apply(
        self, price: ResolvedPrice | None, provider: str, model: str, when: datetime, service_tier: str, name: str
    ) -> ResolvedPrice | None:
        """``price`` with this file's model prices and adjustments applied, for a call at ``when``."""
        found = self.model_price(provider, model, when, service_tier)
        if found is not None:
            index, entry = found
            price = entry.price(f"{name} models[{index}]" + (f" ({entry.source})" if entry.source else ""))
        if price is None:
            return None
        for index, adjustment in enumerate(self.adjustments):
            if adjustment.matches(provider, model, when, service_tier):
                factor = adjustment.multiplier
                price = replace(
                    price,
                    base=price.base.scaled(factor),
                    tiers=tuple((start, tier.scaled(factor)) for start, tier in price.tiers),
                    source=f"{price.source} x {factor} ({name} adjustments[{index}])",
                )
        return price

    def change_seconds(self, provider: str, model: str, service_tier: str, day: date) -> set[int]:
        """The seconds of UTC day ``day`` at which this file's answer for the model may change."""
        seconds: set[int] = set()
        for entry in (*self.models, *self.adjustments):
            if entry.selects(provider, model, service_tier):
                seconds |= entry.change_seconds(day)
        return seconds

    def mentions(self, provider: str, model: str, service_tier: str = "") -> bool:
        """Whether any model entry is about this model (at some time)."""
        return any(entry.selects(provider, model, service_tier) for entry in self.models)


def day_start(day: date) -> datetime:
    return datetime.combine(day, time(), tzinfo=UTC)


def at_second(day: date, second: int) -> datetime:
    return day_start(day) + timedelta(seconds=second)


def load_overrides(path: str | Path) -> PriceOverrides:
    return load_model(path, PriceOverrides)


_BUNDLED: list[PriceOverrides] = []


def bundled_overrides() -> PriceOverrides:
    """The corrections shipped with the package (``bundled_overrides.yaml``), parsed once."""
    if not _BUNDLED:
        text = resources.files("llm_cost_tracker.pricing").joinpath("bundled_overrides.yaml").read_text("utf-8")
        _BUNDLED.append(parse_model(text, "bundled_overrides.yaml", PriceOverrides))
    return _BUNDLED[0]
