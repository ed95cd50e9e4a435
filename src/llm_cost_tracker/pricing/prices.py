"""Resolved prices and the cost arithmetic of the hot path.

Prices are authored in USD per million tokens (``Decimal``). The hot path works
in integer femto-dollars (1e-15 USD) per token, so that every price with up to
nine decimals is exact and summing costs never rounds; Prometheus gets a float
only when it scrapes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Final

from llm_cost_tracker.exporter.usage import TOKEN_TYPES, Tokens

FUSD_PER_USD: Final = 10**15
_FUSD_PER_TOKEN_PER_USD_PER_MTOK: Final = Decimal(10**9)


def usd_per_mtok_to_fusd_per_token(price: Decimal) -> int:
    return int((price * _FUSD_PER_TOKEN_PER_USD_PER_MTOK).to_integral_value(ROUND_HALF_EVEN))


@dataclass(frozen=True, slots=True)
class TokenPrices:
    """USD per million tokens for each token type, plus a per-request fee."""

    input: Decimal
    cache_read: Decimal
    cache_write: Decimal
    output: Decimal
    reasoning: Decimal
    cache_write_1h: Decimal
    per_request: Decimal = Decimal(0)

    def by_token_type(self) -> dict[str, Decimal]:
        return {name: getattr(self, name) for name in TOKEN_TYPES}

    def scaled(self, factor: Decimal) -> TokenPrices:
        return TokenPrices(*(getattr(self, name) * factor for name in (*TOKEN_TYPES, "cache_write_1h", "per_request")))

    def fusd(self) -> tuple[int, int, int, int, int, int]:
        """Femto-dollars per token: the five token types, then the 1-hour cache write."""
        return (
            usd_per_mtok_to_fusd_per_token(self.input),
            usd_per_mtok_to_fusd_per_token(self.cache_read),
            usd_per_mtok_to_fusd_per_token(self.cache_write),
            usd_per_mtok_to_fusd_per_token(self.output),
            usd_per_mtok_to_fusd_per_token(self.reasoning),
            usd_per_mtok_to_fusd_per_token(self.cache_write_1h),
        )


@dataclass(frozen=True, slots=True)
class ResolvedPrice:
    """The price of one model on one day: base prices, long-context tiers, and where they came from."""

    base: TokenPrices
    tiers: tuple[tuple[int, TokenPrices], ...] = ()
    """``(threshold, prices)``, ascending: a call with more than ``threshold`` input
    tokens (cached ones included) pays ``prices`` for all its tokens."""
    source: str = ""
    catalog_ref: str = ""
    valid_on: date | None = None
    _fusd: tuple[int, int, int, int, int, int] = field(init=False, repr=False, compare=False)
    _request_fusd: int = field(init=False, repr=False, compare=False)
    _tier_fusd: tuple[tuple[int, tuple[int, int, int, int, int, int]], ...] = field(
        init=False, repr=False, compare=False
    )
    _usd_per_token: dict[str, float] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_fusd", self.base.fusd())
        object.__setattr__(self, "_request_fusd", int(self.base.per_request * FUSD_PER_USD))
        object.__setattr__(self, "_tier_fusd", tuple((start, p.fusd()) for start, p in reversed(self.tiers)))
        object.__setattr__(
            self, "_usd_per_token", {name: float(price) / 1e6 for name, price in self.base.by_token_type().items()}
        )

    def cost_fusd(self, tokens: Tokens, cache_write_1h: int = 0, requests: int = 0) -> int:
        """Exact cost in femto-dollars.

        >>> p = ResolvedPrice(TokenPrices(*map(Decimal, ("2.5", "1.25", "2.5", "10", "10", "2.5"))))
        >>> p.cost_fusd((226, 1024, 0, 180, 0)) / 10**15
        0.003645
        """
        prices = self._fusd
        if self._tier_fusd:
            total_input = tokens[0] + tokens[1] + tokens[2]
            for start, tier_prices in self._tier_fusd:
                if total_input > start:
                    prices = tier_prices
                    break
        cost = (
            tokens[0] * prices[0]
            + tokens[1] * prices[1]
            + tokens[2] * prices[2]
            + tokens[3] * prices[3]
            + tokens[4] * prices[4]
        )
        if cache_write_1h:
            cost += cache_write_1h * (prices[5] - prices[2])
        if requests and self._request_fusd:
            cost += requests * self._request_fusd
        return cost

    def usd_per_token(self) -> dict[str, float]:
        """Base per-token prices in USD, as exported by ``llm_price_usd_per_token``."""
        return self._usd_per_token
