"""The user's price overrides: negotiated discounts, batch/flex tiers, self-hosted models.

```yaml
version: llm-cost-tracker/v1
models:                         # full prices, replacing the catalog's for matching calls
  - provider: vllm
    model: "llama-3.1-70b*"     # glob on the priced model (response model, else requested)
    usd_per_million_tokens: {input: 0.20, output: 0.60}
adjustments:                    # multipliers on whatever price applies
  - provider: openai
    service_tier: flex
    multiplier: 0.5
  - provider: anthropic
    multiplier: 0.85            # negotiated 15% discount
    valid_from: 2026-01-01
```
"""

from __future__ import annotations

import fnmatch
from dataclasses import replace
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Literal

import pydantic

from llm_cost_tracker.inputfile import load_model
from llm_cost_tracker.pricing.prices import ResolvedPrice, TokenPrices

NonNegative = Annotated[Decimal, pydantic.Field(ge=0, allow_inf_nan=False)]


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

    def token_prices(self, per_request: Decimal) -> TokenPrices:
        cache_write = self.input if self.cache_write is None else self.cache_write
        return TokenPrices(
            input=self.input,
            cache_read=self.input if self.cache_read is None else self.cache_read,
            cache_write=cache_write,
            output=self.output,
            reasoning=self.output if self.reasoning is None else self.reasoning,
            cache_write_1h=cache_write if self.cache_write_1h is None else self.cache_write_1h,
            per_request=per_request,
        )


class _Selector(_Strict):
    provider: str = "*"
    """Provider label (``openai``, ``anthropic``, ``gcp.vertex_ai``, ...); glob allowed."""
    model: str = "*"
    """Model name; glob allowed (``claude-3-5-sonnet*``)."""
    service_tier: str | None = None
    """Only calls billed at this tier (``flex``, ``batch``, ``priority``); default: any tier."""
    valid_from: date | None = None
    """First UTC day the entry applies to; default: always."""

    def matches(self, provider: str, model: str, day: date, service_tier: str) -> bool:
        return (
            fnmatch.fnmatchcase(provider, self.provider)
            and fnmatch.fnmatchcase(model.lower(), self.model.lower())
            and (self.service_tier is None or self.service_tier == service_tier)
            and (self.valid_from is None or self.valid_from <= day)
        )


class ModelPriceEntry(_Selector):
    usd_per_million_tokens: PerMillionTokens
    usd_per_request: NonNegative = Decimal(0)


class Adjustment(_Selector):
    multiplier: Annotated[Decimal, pydantic.Field(ge=0, le=10, allow_inf_nan=False)]


class PriceOverrides(_Strict):
    version: Literal["llm-cost-tracker/v1"]
    models: list[ModelPriceEntry] = []
    adjustments: list[Adjustment] = []

    def model_price(
        self, provider: str, model: str, day: date, service_tier: str
    ) -> tuple[int, ModelPriceEntry] | None:
        """The most specific matching entry: a tier-specific one first, then the latest ``valid_from``."""
        candidates = [
            (index, entry)
            for index, entry in enumerate(self.models)
            if entry.matches(provider, model, day, service_tier)
        ]
        if not candidates:
            return None
        return max(
            candidates,
            key=lambda c: (c[1].service_tier is not None, c[1].valid_from or date.min, -c[0]),
        )

    def apply(
        self, price: ResolvedPrice | None, provider: str, model: str, day: date, service_tier: str, name: str
    ) -> ResolvedPrice | None:
        """``price`` with this file's model prices and adjustments applied."""
        found = self.model_price(provider, model, day, service_tier)
        if found is not None:
            index, entry = found
            price = ResolvedPrice(
                base=entry.usd_per_million_tokens.token_prices(entry.usd_per_request),
                source=f"{name} models[{index}]",
                catalog_ref="",
                valid_on=day,
            )
        if price is None:
            return None
        for index, adjustment in enumerate(self.adjustments):
            if adjustment.matches(provider, model, day, service_tier):
                factor = adjustment.multiplier
                price = replace(
                    price,
                    base=price.base.scaled(factor),
                    tiers=tuple((start, tier.scaled(factor)) for start, tier in price.tiers),
                    source=f"{price.source} x {factor} ({name} adjustments[{index}])",
                )
        return price


def load_overrides(path: str | Path) -> PriceOverrides:
    return load_model(path, PriceOverrides)
