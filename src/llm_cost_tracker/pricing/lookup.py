"""``llm-cost-tracker prices lookup``: what a model costs, from when to when, and where the price comes from."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime

from llm_cost_tracker.pricing.overrides import day_start
from llm_cost_tracker.pricing.prices import ResolvedPrice, TokenPrices
from llm_cost_tracker.pricing.resolver import NANOS_PER_DAY, NANOS_PER_SECOND, PriceResolver, Segment, time_ns_of


def _clock(ns: int, day_ns: int) -> str:
    seconds = (ns - day_ns) // NANOS_PER_SECOND
    return f"{seconds // 3600:02d}:{seconds % 3600 // 60:02d}"


def _table(prices: TokenPrices) -> Iterator[str]:
    yield f"{'token type':<16}{'USD per 1M tokens':>20}{'USD per token':>20}"
    rows = [*prices.by_token_type().items(), ("cache_write_1h", prices.cache_write_1h)]
    if prices.input_audio is not None:
        rows.append(("input_audio", prices.input_audio))
    if prices.output_audio is not None:
        rows.append(("output_audio", prices.output_audio))
    for name, value in rows:
        yield f"{name:<16}{value.normalize():>20f}{float(value) / 1e6:>20.12g}"
    fees = [
        f"{label} ${fee.normalize():f} each"
        for label, fee in (("web search", prices.per_web_search), ("request", prices.per_request))
        if fee
    ]
    if fees:
        yield "fees:           " + "; ".join(fees)


def describe_price(price: ResolvedPrice) -> Iterator[str]:
    """Every price of ``price``: the base table, then each long-context tier."""
    yield f"source:    {price.source}"
    yield ""
    yield from _table(price.base)
    for start, tier in price.tiers:
        yield ""
        yield f"above {start} input tokens, cache included (the whole call):"
        yield from _table(tier)


def _segment_line(segment: Segment, day: date) -> str:
    day_ns = time_ns_of(day_start(day))
    end = "24:00" if segment.end_ns >= day_ns + NANOS_PER_DAY else _clock(segment.end_ns, day_ns)
    return f"{_clock(segment.start_ns, day_ns)}-{end} UTC on {day}"


def lookup_lines(
    resolver: PriceResolver, provider: str, model: str, service_tier: str, at: datetime | None, day: date | None
) -> tuple[list[str], bool]:
    """The report, and whether anything prices the model. ``day``: every price segment of that UTC day;
    else the price at ``at``, and the interval of its day over which it holds."""
    if day is None:
        assert at is not None
        start_ns = time_ns_of(at)
        day = at.astimezone(UTC).date()
    else:
        start_ns = time_ns_of(day_start(day))
    first = resolver.segment(provider, model, start_ns, service_tier)
    catalog_ref = next((s.price.catalog_ref for s in [first] if s.price is not None and s.price.catalog_ref), "")
    lines = [
        f"provider:  {provider}",
        f"model:     {model}" + (f"  (catalog entry {catalog_ref})" if catalog_ref else ""),
    ]
    if service_tier:
        lines.append(f"tier:      {service_tier}")
    if at is not None:
        lines.append(f"at:        {at.astimezone(UTC):%Y-%m-%dT%H:%M:%SZ}")
    priced = False
    segment = first
    while True:
        lines.append(f"valid:     {_segment_line(segment, day)}")
        if segment.price is None:
            lines.append("price:     none (not in the catalog, the bundled overrides or yours)")
        else:
            priced = True
            lines.extend(describe_price(segment.price))
        if at is not None or segment.end_ns >= start_ns + NANOS_PER_DAY:
            break
        segment = resolver.segment(provider, model, segment.end_ns, service_tier)
        lines.append("")
    return lines, priced
