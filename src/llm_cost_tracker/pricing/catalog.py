"""Prices from the ``genai-prices`` catalog (dated prices, cache, reasoning, tiers)."""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from decimal import Decimal
from importlib.metadata import version
from typing import Any, Final

from genai_prices import data_snapshot, types

from llm_cost_tracker.pricing.prices import ResolvedPrice, TokenPrices

CATALOG_VERSION: Final = version("genai-prices")

# Provider label (GenAI semantic-convention names) → genai-prices provider id.
PROVIDER_IDS: Final = {
    "openai": "openai",
    "anthropic": "anthropic",
    "azure.ai.openai": "azure",
    "azure.ai.inference": "azure",
    "azure": "azure",
    "gcp.gemini": "google",
    "gcp.vertex_ai": "google",
    "gcp.gen_ai": "google",
    "google": "google",
    "aws.bedrock": "aws",
    "mistral_ai": "mistral",
    "x_ai": "x-ai",
    "deepseek": "deepseek",
    "groq": "groq",
    "perplexity": "perplexity",
    "cohere": "cohere",
    "together": "together",
    "together_ai": "together",
    "fireworks": "fireworks",
    "fireworks_ai": "fireworks",
    "openrouter": "openrouter",
}
# genai-prices provider id → provider label, for providers inferred from a model name.
PROVIDER_LABELS: Final = {
    "google": "gcp.gen_ai",
    "aws": "aws.bedrock",
    "azure": "azure.ai.openai",
    "mistral": "mistral_ai",
    "x-ai": "x_ai",
}
_ZERO: Final = Decimal(0)


def _price_key(model_price: Any, key: str) -> Decimal | types.TieredPrices | None:
    value = getattr(model_price, key, None)
    return value if isinstance(value, Decimal | types.TieredPrices) else None


def _at(value: Decimal | types.TieredPrices | None, threshold: int | None) -> Decimal | None:
    """The price of one key for a call with more than ``threshold`` input tokens (``None``: the base)."""
    if value is None or isinstance(value, Decimal):
        return value
    price = value.base
    if threshold is not None:
        for tier in value.tiers:
            if threshold >= tier.start:
                price = tier.price
    return price


def _token_prices(model_price: Any, threshold: int | None) -> TokenPrices:
    def at(*keys: str, default: Decimal) -> Decimal:
        for key in keys:
            price = _at(_price_key(model_price, key), threshold)
            if price is not None:
                return price
        return default

    def optional(key: str) -> Decimal | None:
        return _at(_price_key(model_price, key), threshold)

    # A token type without its own price is billed as its parent: cache
    # tokens as input, reasoning as output (the way genai-prices computes it).
    input_price = at("input_mtok", default=_ZERO)
    output_price = at("output_mtok", default=_ZERO)
    cache_write = at("cache_write_mtok", "cache_write_5m_mtok", default=input_price)
    return TokenPrices(
        input=input_price,
        cache_read=at("cache_read_mtok", default=input_price),
        cache_write=cache_write,
        output=output_price,
        reasoning=at("output_reasoning_mtok", default=output_price),
        cache_write_1h=at("cache_write_1h_mtok", default=cache_write),
        per_request=at("requests_kcount", default=_ZERO) / 1000,
        input_audio=optional("input_audio_mtok"),
        output_audio=optional("output_audio_mtok"),
        per_web_search=at("web_searches_kcount", default=_ZERO) / 1000,
    )


def _tier_starts(model_price: Any) -> list[int]:
    starts: set[int] = set()
    for value in vars(model_price).values():
        if isinstance(value, types.TieredPrices):
            starts.update(tier.start for tier in value.tiers)
    return sorted(starts)


def catalog_provider_id(provider: str) -> str | None:
    return PROVIDER_IDS.get(provider, provider or None)


def strip_provider_prefix(model: str) -> str:
    """``anthropic/claude-3-5-sonnet`` → ``claude-3-5-sonnet`` (litellm-style names)."""
    prefix, sep, rest = model.partition("/")
    if sep and (prefix.lower() in PROVIDER_IDS or prefix.lower() in PROVIDER_IDS.values()):
        return rest
    return model


def warm_up() -> None:
    """Load the catalog now rather than on the first priced call (it takes ~0.1 s)."""
    data_snapshot.get_snapshot().find_provider(None, "openai", None)


CatalogModel = tuple[types.Provider, types.ModelInfo]


def find(provider: str, model: str) -> CatalogModel | None:
    """The catalog's entry for ``model`` of ``provider``, or ``None`` when the catalog does not know it."""
    try:
        return data_snapshot.get_snapshot().find_provider_model(
            strip_provider_prefix(model), None, catalog_provider_id(provider), None
        )
    except LookupError:
        return None


def price_at(found: CatalogModel, when: datetime, service_tier: str = "") -> ResolvedPrice:
    """The catalog's price of a model at the instant ``when`` (time-of-day schedules and dates applied)."""
    found_provider, found_model = found
    context = {"service_tier": service_tier} if service_tier else None
    model_price = found_model.get_prices(when, context)
    return ResolvedPrice(
        base=_token_prices(model_price, None),
        tiers=tuple((start, _token_prices(model_price, start)) for start in _tier_starts(model_price)),
        source=f"genai-prices {CATALOG_VERSION}",
        catalog_ref=f"{found_provider.id}/{found_model.id}",
    )


def _seconds_of_day(value: time) -> int:
    utc = value if value.tzinfo is None else datetime.combine(date(1970, 1, 1), value).astimezone(UTC).time()
    return utc.hour * 3600 + utc.minute * 60 + utc.second


def change_seconds(found: CatalogModel) -> tuple[int, ...]:
    """The seconds of a UTC day at which the catalog's price of the model may change (time-of-day schedules).

    Dated prices (``StartDateConstraint``) change at midnight UTC, where a day begins anyway.
    """
    _, found_model = found
    constraints = [c.constraint for c in found_model.prices] if isinstance(found_model.prices, list) else []
    constraints += [v.constraint for v in found_model.price_variants or ()]
    seconds: set[int] = set()
    for constraint in constraints:
        if isinstance(constraint, types.TimeOfDateConstraint):
            seconds.update((_seconds_of_day(constraint.start_time), _seconds_of_day(constraint.end_time)))
    seconds.discard(0)
    return tuple(sorted(seconds))


def lookup(provider: str, model: str, when: datetime, service_tier: str = "") -> ResolvedPrice | None:
    """The catalog's price of ``model`` at ``when``, or ``None`` when the catalog does not know it."""
    found = find(provider, model)
    return None if found is None else price_at(found, when, service_tier)


def deprecated(provider: str, model: str) -> bool:
    """Whether the catalog marks the model as deprecated by its provider."""
    found = find(provider, model)
    return found is not None and bool(found[1].deprecated)


def infer_provider(model: str) -> str | None:
    """The provider label for a model name alone (for spans that do not say).

    Tries the catalog's provider patterns first, then looks for the model in
    each provider's list, first-party providers before resellers.
    """
    snapshot = data_snapshot.get_snapshot()
    model_ref = strip_provider_prefix(model).lower()
    try:
        provider = snapshot.find_provider(model_ref, None, None)
    except LookupError:
        first_party = [p for p in snapshot.providers if p.id in _FIRST_PARTY]
        others = [p for p in snapshot.providers if p.id not in _FIRST_PARTY]
        found = next((p for p in first_party + others if p.find_model(model_ref) is not None), None)
        if found is None:
            return None
        provider = found
    return PROVIDER_LABELS.get(provider.id, provider.id)


_FIRST_PARTY: Final = frozenset({"openai", "anthropic", "google", "mistral", "x-ai", "deepseek", "cohere"})
