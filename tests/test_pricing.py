"""Prices: the catalog (checked against genai-prices' own arithmetic), tiers, and the overrides file."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import genai_prices
import pytest

from llm_cost_tracker.inputfile import InputFileError
from llm_cost_tracker.pricing import catalog
from llm_cost_tracker.pricing.overrides import load_overrides
from llm_cost_tracker.pricing.prices import FUSD_PER_USD
from llm_cost_tracker.pricing.resolver import PriceResolver, time_ns_of

DAY = datetime(2026, 11, 28, 12, tzinfo=UTC)
"""A fixed instant: prices here do not depend on the day the tests run."""
AT = time_ns_of(DAY)
USAGES = [
    # (input incl. cache, cache read, cache write, output incl. reasoning, reasoning)
    (1250, 1024, 0, 180, 0),
    (1536, 1280, 0, 900, 640),
    (6272, 4096, 2048, 256, 0),
    (17, 0, 0, 0, 0),
    (250_000, 10_000, 5_000, 4_000, 1_000),  # above long-context thresholds
]
MODELS = [
    ("openai", "gpt-4o-2024-08-06"),
    ("openai", "o3-mini-2025-01-31"),
    ("openai", "gpt-4o-mini-2024-07-18"),
    ("openai", "text-embedding-3-small"),
    ("anthropic", "claude-3-5-sonnet-20241022"),
    ("anthropic", "claude-sonnet-4-5"),
    ("gcp.gemini", "gemini-1.5-pro"),
    ("gcp.vertex_ai", "gemini-2.5-pro"),
]


@pytest.mark.parametrize(("provider", "model"), MODELS)
@pytest.mark.parametrize("usage", USAGES)
def test_cost_matches_genai_prices_own_calculation(
    provider: str, model: str, usage: tuple[int, int, int, int, int]
) -> None:
    price = catalog.lookup(provider, model, DAY)
    assert price is not None
    input_total, cache_read, cache_write, output_total, reasoning = usage
    tokens = (input_total - cache_read - cache_write, cache_read, cache_write, output_total - reasoning, reasoning)
    ours = Decimal(price.cost_fusd(tokens)) / FUSD_PER_USD
    theirs = genai_prices.calc_price(
        genai_prices.Usage(
            input_tokens=input_total,
            cache_read_tokens=cache_read,
            cache_write_tokens=cache_write,
            output_tokens=output_total,
        ),
        model,
        provider_id=catalog.catalog_provider_id(provider),
        genai_request_timestamp=DAY,
    ).total_price
    assert ours == theirs


def test_corpus_costs_to_the_last_digit() -> None:
    gpt_4o = catalog.lookup("openai", "gpt-4o-2024-08-06", DAY)
    sonnet = catalog.lookup("anthropic", "claude-3-5-sonnet-20241022", DAY)
    assert gpt_4o is not None
    assert sonnet is not None
    assert gpt_4o.cost_fusd((226, 1024, 0, 180, 0)) == 3_645_000_000_000  # $0.003645
    assert sonnet.cost_fusd((128, 4096, 2048, 256, 0)) == 13_132_800_000_000  # $0.0131328
    # Anthropic's 1-hour cache writes cost more than the 5-minute ones.
    assert sonnet.cost_fusd((0, 0, 1000, 0, 0), (1000, 0, 0, 0)) == 6_000_000_000_000


def test_priority_tier_from_the_catalog() -> None:
    standard = catalog.lookup("openai", "gpt-4o", DAY)
    priority = catalog.lookup("openai", "gpt-4o", DAY, "priority")
    assert standard is not None
    assert priority is not None
    assert priority.base.input > standard.base.input


def test_unknown_models_have_no_price() -> None:
    assert catalog.lookup("openai", "gpt-nonexistent-9", DAY) is None
    assert catalog.lookup("vllm", "my-finetune", DAY) is None


def test_provider_inference_for_spans_that_do_not_say() -> None:
    assert catalog.infer_provider("text-embedding-3-small") == "openai"
    assert catalog.infer_provider("claude-3-5-sonnet-20241022") == "anthropic"
    assert catalog.infer_provider("anthropic/claude-3-5-sonnet-20241022") == "anthropic"
    assert catalog.infer_provider("no-such-model-xyz") is None


OVERRIDES = """\
version: llm-cost-tracker/v1
models:
  - provider: vllm
    model: "llama-3.1-70b*"
    usd_per_million_tokens: {input: 0.20, output: 0.60}
  - provider: openai
    model: gpt-4o
    service_tier: flex
    usd_per_million_tokens: {input: 1.25, cache_read: 0.625, output: 5}
  - provider: openai
    model: gpt-4o
    valid_from: 2027-01-01
    usd_per_million_tokens: {input: 2, output: 8}
adjustments:
  - provider: anthropic
    multiplier: 0.85
"""


def resolver(tmp_path: Path, text: str = OVERRIDES) -> PriceResolver:
    path = tmp_path / "prices.yaml"
    path.write_text(text)
    return PriceResolver(load_overrides(path), overrides_name="prices.yaml")


def test_self_hosted_model_price(tmp_path: Path) -> None:
    price = resolver(tmp_path).resolve("vllm", "llama-3.1-70b-instruct", AT)
    assert price is not None
    assert price.cost_fusd((1_000_000, 0, 0, 1_000_000, 0)) == 800_000_000_000_000  # $0.80
    assert price.source == "prices.yaml models[0]"
    # Unset cache and reasoning prices default to input and output.
    assert price.base.cache_read == Decimal("0.20")
    assert price.base.reasoning == Decimal("0.60")


def test_tier_specific_and_dated_overrides(tmp_path: Path) -> None:
    prices = resolver(tmp_path)
    flex = prices.resolve("openai", "gpt-4o", AT, "flex")
    default = prices.resolve("openai", "gpt-4o", AT, "default")
    later = prices.resolve("openai", "gpt-4o", time_ns_of(datetime(2027, 2, 1, tzinfo=UTC)), "default")
    assert flex is not None
    assert default is not None
    assert later is not None
    assert flex.base.input == Decimal("1.25")
    assert default.source.startswith("genai-prices")
    assert later.base.input == Decimal(2)


def test_negotiated_discount_on_catalog_prices(tmp_path: Path) -> None:
    price = resolver(tmp_path).resolve("anthropic", "claude-3-5-sonnet-20241022", AT)
    assert price is not None
    assert price.base.input == Decimal("2.55")
    assert price.cost_fusd((128, 4096, 2048, 256, 0)) == 11_162_880_000_000  # 0.85 x $0.0131328
    assert "x 0.85 (prices.yaml adjustments[0])" in price.source


def test_bad_overrides_file_lists_every_problem(tmp_path: Path) -> None:
    text = """\
version: llm-cost-tracker/v1
models:
  - provider: vllm
    usd_per_million_tokens: {input: -1, output: lots}
    extra: 1
adjustments:
  - multiplier: 50
"""
    with pytest.raises(InputFileError) as caught:
        resolver(tmp_path, text)
    problems = caught.value.problems
    assert len(problems) == 4
    assert any("models[0].usd_per_million_tokens.input" in p and "-1" in p for p in problems)
    assert any("models[0].usd_per_million_tokens.output" in p and "'lots'" in p for p in problems)
    assert any("models[0].extra: unknown key" in p for p in problems)
    assert any("adjustments[0].multiplier" in p for p in problems)
    assert all(p.startswith(str(tmp_path / "prices.yaml") + ":") for p in problems)
