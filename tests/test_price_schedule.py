"""Each call priced at its own timestamp: time-of-day rates, midnight UTC, price changes, and the segment cache."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from llm_cost_tracker.inputfile import InputFileError
from llm_cost_tracker.pricing.overrides import load_overrides
from llm_cost_tracker.pricing.resolver import NANOS_PER_SECOND, PriceResolver, time_ns_of


def at(text: str) -> int:
    return time_ns_of(datetime.fromisoformat(text).astimezone(UTC))


def input_price(resolver: PriceResolver, provider: str, model: str, when: str) -> Decimal:
    price = resolver.resolve(provider, model, at(when))
    assert price is not None
    return price.base.input


@pytest.fixture(scope="module")
def resolver() -> PriceResolver:
    return PriceResolver()


@pytest.mark.parametrize(
    ("when", "expected"),
    [
        ("2025-03-03T00:00:00Z", "0.135"),  # night discount: 16:30-00:30 UTC
        ("2025-03-03T00:29:59Z", "0.135"),
        ("2025-03-03T00:30:00Z", "0.27"),  # standard from 00:30
        ("2025-03-03T09:15:00Z", "0.27"),
        ("2025-03-03T16:29:59.999Z", "0.27"),
        ("2025-03-03T16:30:00Z", "0.135"),
        ("2025-03-03T23:59:59Z", "0.135"),
    ],
)
def test_the_catalogs_time_of_day_rates_at_several_hours(resolver: PriceResolver, when: str, expected: str) -> None:
    assert input_price(resolver, "deepseek", "deepseek-chat", when) == Decimal(expected)


def test_a_window_across_midnight_utc(resolver: PriceResolver) -> None:
    # The night discount runs from 16:30 on one day to 00:30 on the next, one window across midnight.
    before, after = at("2025-03-03T23:59:59Z"), at("2025-03-04T00:00:00Z")
    assert resolver.resolve("deepseek", "deepseek-chat", before) == resolver.resolve("deepseek", "deepseek-chat", after)
    assert input_price(resolver, "deepseek", "deepseek-chat", "2025-03-04T00:30:00Z") == Decimal("0.27")
    # DeepSeek V4 peak hours stop at the weekend: Friday peak, then Saturday off-peak at the same hour.
    assert input_price(resolver, "deepseek", "deepseek-v4-flash", "2026-12-04T02:00:00Z") == Decimal("0.3")
    assert input_price(resolver, "deepseek", "deepseek-v4-flash", "2026-12-04T23:59:59Z") == Decimal("0.15")
    assert input_price(resolver, "deepseek", "deepseek-v4-flash", "2026-12-05T02:00:00Z") == Decimal("0.15")
    assert input_price(resolver, "deepseek", "deepseek-v4-flash", "2026-12-07T02:00:00Z") == Decimal("0.3")


def test_across_a_price_change_at_its_exact_instant(resolver: PriceResolver) -> None:
    # DeepSeek's 2025-09-05 16:00 UTC change: new rates, and no more night discount that evening.
    assert input_price(resolver, "deepseek", "deepseek-chat", "2025-09-05T15:59:59Z") == Decimal("0.27")
    assert input_price(resolver, "deepseek", "deepseek-chat", "2025-09-05T16:00:00Z") == Decimal("0.56")
    assert input_price(resolver, "deepseek", "deepseek-chat", "2025-09-05T20:00:00Z") == Decimal("0.56")
    assert input_price(resolver, "deepseek", "deepseek-chat", "2025-09-06T00:10:00Z") == Decimal("0.56")
    # Peak billing began at 16:00 UTC on 2026-08-16: no peak rate before it, even in the peak hours.
    assert input_price(resolver, "deepseek", "deepseek-v4-flash", "2026-08-16T02:00:00Z") == Decimal("0.14")
    assert input_price(resolver, "deepseek", "deepseek-v4-flash", "2026-08-17T02:00:00Z") == Decimal("0.44")
    # A dated catalog change (at midnight UTC): Mistral Large 4's list rates from 2026-10-20.
    assert input_price(resolver, "mistral_ai", "mistral-large-4", "2026-10-19T23:59:59Z") == Decimal("0.68")
    assert input_price(resolver, "mistral_ai", "mistral-large-4", "2026-10-20T00:00:00Z") == Decimal("1.36")


def test_segments_are_the_intervals_over_which_the_price_cannot_change() -> None:
    resolver = PriceResolver()
    day = [resolver.segment("deepseek", "deepseek-v4-flash", at(f"2026-12-02T{hour:02d}:30:00Z")) for hour in range(24)]
    bounds = sorted({(s.start_ns, s.end_ns) for s in day})
    hours = [((start - at("2026-12-02T00:00:00Z")) // (3600 * NANOS_PER_SECOND)) for start, _ in bounds]
    assert hours == [0, 1, 4, 6, 10]  # off-peak, peak, off-peak, peak, off-peak until midnight
    assert bounds[-1][1] == at("2026-12-03T00:00:00Z")
    # Inside the segment the last call was priced in, the answer is that segment's price object.
    peak = resolver.segment("deepseek", "deepseek-v4-flash", at("2026-12-02T01:00:00Z"))
    assert resolver.resolve("deepseek", "deepseek-v4-flash", at("2026-12-02T03:59:59.999999999Z")) is peak.price
    assert peak.end_ns == at("2026-12-02T04:00:00Z")
    # A model priced one way all day is a single segment.
    whole = resolver.segment("openai", "gpt-4o", at("2026-12-02T13:00:00Z"))
    assert (whole.start_ns, whole.end_ns) == (at("2026-12-02T00:00:00Z"), at("2026-12-03T00:00:00Z"))


SCHEDULE = """\
version: llm-cost-tracker/v1
models:
  - provider: vllm
    model: house-70b
    usd_per_million_tokens: {input: 1, output: 2}
  - provider: vllm
    model: house-70b
    hours_utc: ["22:00-02:00"]
    usd_per_million_tokens: {input: 0.5, output: 1}
  - provider: vllm
    model: house-70b
    weekdays: [sat, sun]
    usd_per_million_tokens: {input: 0.25, output: 0.5}
  - provider: vllm
    model: house-70b
    valid_from: 2027-03-01T12:30:00+01:00
    usd_per_million_tokens: {input: 3, output: 6}
  - provider: deepseek
    model: deepseek-v4-flash
    valid_from: 2026-11-01
    usd_per_million_tokens: {input: 0.1, output: 0.2}
"""


def test_schedules_in_your_overrides_and_they_win_over_the_bundled_ones(tmp_path: Path) -> None:
    path = tmp_path / "prices.yaml"
    path.write_text(SCHEDULE)
    resolver = PriceResolver(load_overrides(path), "prices.yaml")
    assert input_price(resolver, "vllm", "house-70b", "2027-01-06T12:00:00Z") == 1  # a Wednesday
    assert input_price(resolver, "vllm", "house-70b", "2027-01-06T23:00:00Z") == Decimal("0.5")  # the window...
    assert input_price(resolver, "vllm", "house-70b", "2027-01-07T01:59:59Z") == Decimal("0.5")  # ...over midnight
    assert input_price(resolver, "vllm", "house-70b", "2027-01-07T02:00:00Z") == 1
    assert input_price(resolver, "vllm", "house-70b", "2027-01-09T12:00:00Z") == Decimal("0.25")  # Saturday
    # valid_from with an offset is an instant: 11:30 UTC.
    assert input_price(resolver, "vllm", "house-70b", "2027-03-01T11:29:59Z") == 1
    assert input_price(resolver, "vllm", "house-70b", "2027-03-01T11:30:00Z") == 3
    # The user's price for DeepSeek replaces the bundled peak hours.
    assert input_price(resolver, "deepseek", "deepseek-v4-flash", "2026-12-02T02:00:00Z") == Decimal("0.1")
    price = resolver.resolve("deepseek", "deepseek-v4-flash", at("2026-12-02T02:00:00Z"))
    assert price is not None
    assert price.source == "prices.yaml models[4]"


def test_bad_schedules_name_the_key_and_the_value(tmp_path: Path) -> None:
    path = tmp_path / "prices.yaml"
    path.write_text(
        """\
version: llm-cost-tracker/v1
models:
  - model: a
    hours_utc: ["25:00-01:00", "03:00-03:00"]
    usd_per_million_tokens: {input: 1}
  - model: b
    weekdays: [funday]
    usd_per_million_tokens: {input: 1}
  - model: c
    valid_from: not-a-date
    usd_per_million_tokens: {input: 1}
  - model: d
    usd_per_million_tokens: {input: 1}
    long_context:
      - {above_input_tokens: 200000, usd_per_million_tokens: {input: 2}}
      - {above_input_tokens: 100000, usd_per_million_tokens: {input: 3}}
"""
    )
    with pytest.raises(InputFileError) as caught:
        load_overrides(path)
    problems = "\n".join(caught.value.problems)
    assert "models[0].hours_utc" in problems
    assert "'25:00-01:00'" in problems
    assert "models[1].weekdays[0]" in problems
    assert "funday" in problems
    assert "models[2].valid_from" in problems
    assert "not-a-date" in problems
    assert "models[3].long_context" in problems
    assert "increasing" in problems
    assert all(p.startswith(f"{path}:") for p in caught.value.problems)
