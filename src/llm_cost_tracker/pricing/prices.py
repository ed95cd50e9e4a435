"""Resolved prices and the cost arithmetic of the hot path.

Prices are authored in USD per million tokens (``Decimal``). The hot path works
in integer femto-dollars (1e-15 USD) per token, so that every price with up to
nine decimals is exact and summing costs never rounds; Prometheus gets a float
only when it scrapes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Final

from llm_cost_tracker.usage import NO_EXTRAS, TOKEN_TYPES, Extras, Tokens

FUSD_PER_USD: Final = 10**15
_FUSD_PER_TOKEN_PER_USD_PER_MTOK: Final = Decimal(10**9)
_ZERO: Final = Decimal(0)
_MILLION: Final = Decimal(1_000_000)

Fusd = tuple[int, int, int, int, int, int, int, int]
"""Femto-dollars per token: the five token types, the 1-hour cache write, audio input, audio output."""


def usd_per_mtok_to_fusd_per_token(price: Decimal) -> int:
    return int((price * _FUSD_PER_TOKEN_PER_USD_PER_MTOK).to_integral_value(ROUND_HALF_EVEN))


def usd_to_fusd(usd: Decimal) -> int:
    return int((usd * FUSD_PER_USD).to_integral_value(ROUND_HALF_EVEN))


@dataclass(frozen=True, slots=True)
class TokenPrices:
    """USD per million tokens for each token type, plus per-request and per-web-search fees.

    Audio tokens are part of the input and output counts; a call's audio tokens
    pay the audio price instead (``None``: the text price).
    """

    input: Decimal
    cache_read: Decimal
    cache_write: Decimal
    output: Decimal
    reasoning: Decimal
    cache_write_1h: Decimal
    per_request: Decimal = _ZERO
    input_audio: Decimal | None = None
    output_audio: Decimal | None = None
    per_web_search: Decimal = _ZERO
    """USD per provider-side web search (Anthropic's and OpenAI's search tools, Gemini's grounding)."""

    def by_token_type(self) -> dict[str, Decimal]:
        return {name: getattr(self, name) for name in TOKEN_TYPES}

    def every_price(self) -> list[tuple[str, Decimal, str]]:
        """``(name, price, unit)`` of every price this holds, for people to read (``prices lookup``)."""
        rows = [(name, price, "per 1M tokens") for name, price in self.by_token_type().items()]
        rows.append(("cache_write_1h", self.cache_write_1h, "per 1M tokens"))
        rows.append(("input_audio", self.input if self.input_audio is None else self.input_audio, "per 1M tokens"))
        rows.append(("output_audio", self.output if self.output_audio is None else self.output_audio, "per 1M tokens"))
        if self.per_web_search:
            rows.append(("web_search", self.per_web_search, "per search"))
        if self.per_request:
            rows.append(("request", self.per_request, "per request"))
        return rows

    def scaled(self, factor: Decimal) -> TokenPrices:
        return TokenPrices(
            self.input * factor,
            self.cache_read * factor,
            self.cache_write * factor,
            self.output * factor,
            self.reasoning * factor,
            self.cache_write_1h * factor,
            self.per_request * factor,
            None if self.input_audio is None else self.input_audio * factor,
            None if self.output_audio is None else self.output_audio * factor,
            self.per_web_search * factor,
        )

    def fusd(self) -> Fusd:
        to_fusd = usd_per_mtok_to_fusd_per_token
        return (
            to_fusd(self.input),
            to_fusd(self.cache_read),
            to_fusd(self.cache_write),
            to_fusd(self.output),
            to_fusd(self.reasoning),
            to_fusd(self.cache_write_1h),
            to_fusd(self.input if self.input_audio is None else self.input_audio),
            to_fusd(self.output if self.output_audio is None else self.output_audio),
        )


@dataclass(frozen=True, slots=True)
class ResolvedPrice:
    """The price of one model at one moment: base prices, long-context tiers, and where they came from."""

    base: TokenPrices
    tiers: tuple[tuple[int, TokenPrices], ...] = ()
    """``(threshold, prices)``, ascending: a call with more than ``threshold`` input
    tokens (cached ones included) pays ``prices`` for all its tokens."""
    source: str = ""
    """Where the price comes from: ``genai-prices 0.2.3``, ``bundled overrides models[3] (<url>)``, ..."""
    catalog_ref: str = ""
    _fusd: Fusd = field(init=False, repr=False, compare=False)
    _request_fusd: int = field(init=False, repr=False, compare=False)
    _search_fusd: int = field(init=False, repr=False, compare=False)
    _tier_fusd: tuple[tuple[int, Fusd], ...] = field(init=False, repr=False, compare=False)
    _usd_per_token: dict[str, float] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_fusd", self.base.fusd())
        object.__setattr__(self, "_request_fusd", usd_to_fusd(self.base.per_request))
        object.__setattr__(self, "_search_fusd", usd_to_fusd(self.base.per_web_search))
        object.__setattr__(self, "_tier_fusd", tuple((start, p.fusd()) for start, p in reversed(self.tiers)))
        object.__setattr__(
            self,
            "_usd_per_token",
            # From the decimal per token, so that $0.80 per million shows as 8e-07, not 8.000000000000001e-07.
            {name: float(price / _MILLION) for name, price in self.base.by_token_type().items()},
        )

    def cost_fusd(self, tokens: Tokens, extras: Extras = NO_EXTRAS, requests: int = 0) -> int:
        """Exact cost in femto-dollars.

        ``extras``: of the tokens, how many cache writes had a 1-hour TTL and how
        many input and output tokens were audio; then the web searches.

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
        if extras is not NO_EXTRAS:
            cache_write_1h, input_audio, output_audio, web_searches = extras
            if cache_write_1h:
                cost += min(cache_write_1h, tokens[2]) * (prices[5] - prices[2])
            if input_audio:
                cost += min(input_audio, tokens[0]) * (prices[6] - prices[0])
            if output_audio:
                cost += min(output_audio, tokens[3]) * (prices[7] - prices[3])
            if web_searches:
                cost += web_searches * self._search_fusd
        if requests and self._request_fusd:
            cost += requests * self._request_fusd
        return cost

    def usd_per_token(self) -> dict[str, float]:
        """Base per-token prices in USD, as exported by ``llm_price_usd_per_token``."""
        return self._usd_per_token
