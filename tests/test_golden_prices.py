"""Reference calls priced against the providers' *published* prices, to the femto-dollar.

Each expected cost below is worked out by hand from the provider's price page
(cited beside it), not from the catalog: a genai-prices upgrade or an edit of
the bundled overrides that changes any of these prices fails here instead of
reaching users. When a provider changes a price, update the case and its
source together (and the bundled overrides, docs/pricing.md).

Token counts are given as the GenAI conventions count them (cache inside the
input total, reasoning inside the output total); amounts in micro-dollars
(1e-6 USD), which is tokens times USD per million tokens.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from llm_cost_tracker.exporter.normalise import split_tokens
from llm_cost_tracker.pricing.prices import FUSD_PER_USD
from llm_cost_tracker.pricing.resolver import PriceResolver, time_ns_of
from llm_cost_tracker.usage import NO_EXTRAS, Extras

OPENAI = "https://openai.com/api/pricing/ and https://platform.openai.com/docs/pricing"
ANTHROPIC = "https://platform.claude.com/docs/en/about-claude/pricing"
ANTHROPIC_LONG = "https://platform.claude.com/docs/en/about-claude/pricing#long-context-pricing"
BEDROCK = "https://aws.amazon.com/bedrock/pricing/"
GEMINI = "https://ai.google.dev/gemini-api/docs/pricing"
DEEPSEEK = "https://api-docs.deepseek.com/quick_start/pricing"
MISTRAL = "https://mistral.ai/pricing#api-pricing"


@dataclass(frozen=True)
class Call:
    name: str
    provider: str
    model: str
    at: str
    usage: tuple[int, int, int, int, int]
    """input total (cache included), cache read, cache write, output total (reasoning included), reasoning."""
    micro_usd: str
    """The published prices times the tokens, worked out by hand (the comment shows the sum)."""
    source: str
    extras: Extras = NO_EXTRAS


CALLS = [
    Call(
        "gpt-4o with a cache hit",
        "openai",
        "gpt-4o-2024-08-06",
        "2026-11-28T12:00:00Z",
        (1250, 1024, 0, 180, 0),
        "3645",  # 226 x 2.50 + 1024 x 1.25 (cached input) + 180 x 10.00
        OPENAI,
    ),
    Call(
        "o4-mini reasoning",
        "openai",
        "o4-mini",
        "2026-11-28T12:00:00Z",
        (2000, 0, 0, 1500, 1200),
        "8800",  # 2000 x 1.10 + 1500 x 4.40 (reasoning tokens are output tokens)
        OPENAI,
    ),
    Call(
        "gpt-4o-audio-preview audio in and out",
        "openai",
        "gpt-4o-audio-preview-2025-06-03",
        "2026-11-28T12:00:00Z",
        (1000, 0, 0, 500, 0),
        "65500",  # 200 text x 2.50 + 800 audio x 40 + 100 text x 10 + 400 audio x 80
        OPENAI + " (gpt-4o-audio-preview: audio $40 in, $80 out)",
        extras=(0, 800, 400, 0),
    ),
    Call(
        "Claude Sonnet 4.5: cache read, 5-minute and 1-hour cache writes",
        "anthropic",
        "claude-sonnet-4-5-20250929",
        "2026-11-28T12:00:00Z",
        (10_000, 6000, 2000, 500, 0),
        "25050",  # 2000 x 3 + 6000 x 0.30 + 1000 x 3.75 (5 min) + 1000 x 6 (1 h) + 500 x 15
        ANTHROPIC,
        extras=(1000, 0, 0, 0),
    ),
    Call(
        "Claude Sonnet 4.5 with three web searches",
        "anthropic",
        "claude-sonnet-4-5",
        "2026-11-28T12:00:00Z",
        (1000, 0, 0, 100, 0),
        "34500",  # 1000 x 3 + 100 x 15 + 3 searches x $0.01 ($10 per 1,000)
        ANTHROPIC + " (web search: $10 per 1,000 searches)",
        extras=(0, 0, 0, 3),
    ),
    Call(
        "Claude Sonnet 4 above 200k input tokens",
        "anthropic",
        "claude-sonnet-4-20250514",
        "2025-10-01T12:00:00Z",
        (250_000, 50_000, 0, 2000, 0),
        "1275000",  # 200000 x 6 + 50000 x 0.60 + 2000 x 22.50: the whole call at the long-context rates
        ANTHROPIC_LONG,
    ),
    Call(
        "Claude Sonnet 4 below 200k input tokens",
        "anthropic",
        "claude-sonnet-4-20250514",
        "2025-10-01T12:00:00Z",
        (150_000, 50_000, 0, 2000, 0),
        "345000",  # 100000 x 3 + 50000 x 0.30 + 2000 x 15
        ANTHROPIC,
    ),
    Call(
        "Claude Sonnet 4.5 on Bedrock in-region (us.) above 200k",
        "aws.bedrock",
        "us.anthropic.claude-sonnet-4-5-20250929-v1:0",
        "2025-11-03T12:00:00Z",
        (300_000, 0, 0, 1000, 0),
        "2004750",  # 300000 x 6.60 + 1000 x 24.75 (long context, +10% in-region)
        BEDROCK,
    ),
    Call(
        "Claude Sonnet 4.5 on Bedrock global above 200k",
        "aws.bedrock",
        "global.anthropic.claude-sonnet-4-5-20250929-v1:0",
        "2025-11-03T12:00:00Z",
        (300_000, 0, 0, 1000, 0),
        "1822500",  # 300000 x 6 + 1000 x 22.50
        BEDROCK,
    ),
    Call(
        "Claude Sonnet 4 on Bedrock (bare id) above 200k",
        "aws.bedrock",
        "anthropic.claude-sonnet-4-20250514-v1:0",
        "2025-11-03T12:00:00Z",
        (210_000, 10_000, 0, 1000, 0),
        "1228500",  # 200000 x 6 + 10000 x 0.60 + 1000 x 22.50
        BEDROCK,
    ),
    Call(
        "Gemini 2.5 Pro above 200k, with cache and thinking",
        "gcp.gemini",
        "gemini-2.5-pro",
        "2026-11-28T12:00:00Z",
        (250_000, 50_000, 0, 3000, 2000),
        "557500",  # 200000 x 2.50 + 50000 x 0.25 (cached) + 3000 x 15 (thinking is output)
        GEMINI,
    ),
    Call(
        "Gemini 2.5 Flash audio input",
        "gcp.gemini",
        "gemini-2.5-flash",
        "2026-11-28T12:00:00Z",
        (10_000, 0, 0, 500, 0),
        "9850",  # 2000 text x 0.30 + 8000 audio x 1.00 + 500 x 2.50
        GEMINI,
        extras=(0, 8000, 0, 0),
    ),
    Call(
        "deepseek-chat, standard hours (early 2025)",
        "deepseek",
        "deepseek-chat",
        "2025-03-03T10:00:00Z",
        (1000, 600, 0, 200, 0),
        "370",  # 400 x 0.27 + 600 x 0.07 (cache hit) + 200 x 1.10
        DEEPSEEK + " (until 2025-09-05 16:00 UTC: standard 00:30-16:30 UTC)",
    ),
    Call(
        "deepseek-chat, night discount (early 2025)",
        "deepseek",
        "deepseek-chat",
        "2025-03-03T20:00:00Z",
        (1000, 600, 0, 200, 0),
        "185",  # 400 x 0.135 + 600 x 0.035 + 200 x 0.55
        DEEPSEEK + " (discount 16:30-00:30 UTC)",
    ),
    Call(
        "deepseek-reasoner, standard hours (early 2025)",
        "deepseek",
        "deepseek-reasoner",
        "2025-03-03T10:00:00Z",
        (1000, 600, 0, 200, 150),
        "742",  # 400 x 0.55 + 600 x 0.14 + 200 x 2.19
        DEEPSEEK,
    ),
    Call(
        "deepseek-chat after the night discount ended",
        "deepseek",
        "deepseek-chat",
        "2025-09-10T20:00:00Z",
        (1000, 600, 0, 200, 0),
        "602",  # 400 x 0.56 + 600 x 0.07 + 200 x 1.68
        DEEPSEEK + " (from 16:00 UTC on 2025-09-05)",
    ),
    Call(
        "deepseek-chat on DeepSeek-V3.2",
        "deepseek",
        "deepseek-chat",
        "2025-10-15T02:00:00Z",
        (1000, 600, 0, 200, 0),
        "212.8",  # 400 x 0.28 + 600 x 0.028 + 200 x 0.42
        "https://api-docs.deepseek.com/news/news250929",
    ),
    Call(
        "deepseek-v4-flash, weekday peak hour",
        "deepseek",
        "deepseek-v4-flash",
        "2026-12-02T02:00:00Z",  # a Wednesday
        (1000, 600, 0, 200, 0),
        "363.6",  # 400 x 0.30 + 600 x 0.006 + 200 x 1.20
        DEEPSEEK + " (peak 01:00-04:00 and 06:00-10:00 UTC, Monday to Friday)",
    ),
    Call(
        "deepseek-v4-flash, the same hour on a Saturday",
        "deepseek",
        "deepseek-v4-flash",
        "2026-12-05T02:00:00Z",
        (1000, 600, 0, 200, 0),
        "181.8",  # 400 x 0.15 + 600 x 0.003 + 200 x 0.60: weekends are off-peak all day
        DEEPSEEK,
    ),
    Call(
        "deepseek-v4-pro, weekday peak hour",
        "deepseek",
        "deepseek-v4-pro",
        "2026-12-02T07:00:00Z",
        (1000, 600, 0, 200, 0),
        "1346.4",  # 400 x 1.32 + 600 x 0.044 + 200 x 3.96
        DEEPSEEK,
    ),
    Call(
        "mistral-large-latest is Mistral Large 3",
        "mistral_ai",
        "mistral-large-latest",
        "2026-06-01T12:00:00Z",
        (1000, 0, 0, 200, 0),
        "800",  # 1000 x 0.50 + 200 x 1.50
        MISTRAL,
    ),
    Call(
        "mistral-large-latest before Mistral Large 3",
        "mistral_ai",
        "mistral-large-latest",
        "2025-06-01T12:00:00Z",
        (1000, 0, 0, 200, 0),
        "3200",  # 1000 x 2 + 200 x 6 (Mistral Large 2.1)
        MISTRAL,
    ),
]


@pytest.fixture(scope="module")
def resolver() -> PriceResolver:
    return PriceResolver()


@pytest.mark.parametrize("call", CALLS, ids=[c.name for c in CALLS])
def test_reference_call_costs_what_the_provider_publishes(resolver: PriceResolver, call: Call) -> None:
    at = datetime.fromisoformat(call.at).astimezone(UTC)
    price = resolver.resolve(call.provider, call.model, time_ns_of(at))
    assert price is not None, f"{call.provider}/{call.model} has no price ({call.source})"
    tokens = split_tokens(*call.usage, cache_in_input=True)
    expected = Decimal(call.micro_usd) / 10**6
    assert Decimal(price.cost_fusd(tokens, call.extras)) / FUSD_PER_USD == expected, (
        f"{call.name}: {price.source} no longer matches {call.source}"
    )
