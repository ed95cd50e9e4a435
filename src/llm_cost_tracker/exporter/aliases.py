"""The alias table: which attribute of which instrumentation dialect carries which canonical field.

The GenAI semantic conventions are still moving and every instrumentation
library writes a slightly different dialect. Decoders turn a span's (or metric
point's) attributes into a dict of *canonical fields* with
``canonical_attributes``; everything downstream reads only those fields. The
full table, with the library each key comes from, is in docs/architecture.md.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any, Final

# Canonical fields.
PROVIDER: Final = "provider"
REQUEST_MODEL: Final = "request_model"
RESPONSE_MODEL: Final = "response_model"
OPERATION: Final = "operation"
INPUT: Final = "input_tokens"
OUTPUT: Final = "output_tokens"
CACHE_READ: Final = "cache_read_tokens"
CACHE_WRITE: Final = "cache_write_tokens"
CACHE_WRITE_1H: Final = "cache_write_1h_tokens"
REASONING: Final = "reasoning_tokens"
INPUT_AUDIO: Final = "input_audio_tokens"
OUTPUT_AUDIO: Final = "output_audio_tokens"
WEB_SEARCHES: Final = "web_searches"
REPORTED_COST: Final = "reported_cost"
COST_CURRENCY: Final = "cost_currency"
RESPONSE_ID: Final = "response_id"
SERVICE_TIER: Final = "service_tier"
ERROR_TYPE: Final = "error_type"
TOKEN_TYPE: Final = "token_type"
SDK_NAME: Final = "sdk_name"
PREFIXED_MODEL: Final = "prefixed_model"
INVOCATION_PARAMETERS: Final = "invocation_parameters"
"""OpenInference: the request's parameters as JSON, the requested model among them."""
SPAN_MODEL: Final = "span_model"
"""OpenInference ``llm.model_name``: the requested model, or the answered one when the parameters name the request."""
ROUTED_FROM: Final = "routed_from"
"""The model the app asked for before a budget swap (set by this project's router integrations)."""
ROUTED_BUDGET: Final = "routed_budget"
"""The budget whose swap it was."""
OUTPUT_VALUE: Final = "output_value"
"""OpenInference ``output.value``: the response as JSON, where a response id (and at times usage) may be."""

ALIAS_TABLE: Final[dict[str, tuple[str, ...]]] = {
    PROVIDER: ("gen_ai.provider.name", "gen_ai.system", "llm.provider", "llm.system", "ai.model.provider"),
    REQUEST_MODEL: ("gen_ai.request.model", "llm.request.model_name", "ai.model.id"),
    RESPONSE_MODEL: ("gen_ai.response.model", "llm.response.model_name", "ai.response.model"),
    SPAN_MODEL: ("llm.model_name", "embedding.model_name"),
    INVOCATION_PARAMETERS: ("llm.invocation_parameters", "embedding.invocation_parameters"),
    OUTPUT_VALUE: ("output.value",),
    ROUTED_FROM: ("llm_cost_tracker.routed_from",),
    ROUTED_BUDGET: ("llm_cost_tracker.budget",),
    OPERATION: ("gen_ai.operation.name", "llm.request.type", "ai.operationId", "openinference.span.kind"),
    INPUT: (
        "gen_ai.usage.input_tokens",
        "gen_ai.usage.prompt_tokens",
        "llm.token_count.prompt",
        "llm.usage.prompt_tokens",
        "ai.usage.inputTokens",
        "ai.usage.promptTokens",
        "ai.usage.tokens",  # Vercel AI SDK embeddings
    ),
    OUTPUT: (
        "gen_ai.usage.output_tokens",
        "gen_ai.usage.completion_tokens",
        "llm.token_count.completion",
        "llm.usage.completion_tokens",
        "ai.usage.outputTokens",
        "ai.usage.completionTokens",
    ),
    CACHE_READ: (
        "gen_ai.usage.cache_read.input_tokens",
        "gen_ai.usage.cache_read_input_tokens",
        "llm.token_count.prompt_details.cache_read",
        "ai.usage.inputTokenDetails.cacheReadTokens",
        "ai.usage.cachedInputTokens",
        "gen_ai.usage.details.cache_read_tokens",  # Pydantic AI
    ),
    CACHE_WRITE: (
        "gen_ai.usage.cache_write.input_tokens",  # the conventions' current name
        "gen_ai.usage.cache_creation.input_tokens",
        "gen_ai.usage.cache_creation_input_tokens",
        "gen_ai.usage.cache_write_input_tokens",  # Strands
        "llm.token_count.prompt_details.cache_write",
        "ai.usage.inputTokenDetails.cacheWriteTokens",
        "gen_ai.usage.details.cache_write_tokens",
    ),
    CACHE_WRITE_1H: ("anthropic.usage.cache_creation.ephemeral_1h_input_tokens",),
    REASONING: (
        "gen_ai.usage.reasoning.output_tokens",
        "gen_ai.usage.reasoning_tokens",
        "llm.token_count.completion_details.reasoning",
        "ai.usage.outputTokenDetails.reasoningTokens",
        "ai.usage.reasoningTokens",
        "gen_ai.usage.details.reasoning_tokens",
    ),
    INPUT_AUDIO: ("gen_ai.usage.audio.input_tokens", "llm.token_count.prompt_details.audio"),
    OUTPUT_AUDIO: ("gen_ai.usage.audio.output_tokens", "llm.token_count.completion_details.audio"),
    WEB_SEARCHES: (
        "gen_ai.usage.web_search_requests",
        "gen_ai.usage.server_tool_use.web_search_requests",  # Anthropic's usage, flattened
    ),
    REPORTED_COST: (
        "gen_ai.usage.cost.amount",  # the proposed convention (with .currency and .source)
        "gen_ai.usage.cost",
        "gen_ai.usage.cost.total",
        "gen_ai.usage.cost.usd",
        "gen_ai.cost.total_cost",
        "llm.cost.total",
        "operation.cost",  # Pydantic AI
    ),
    COST_CURRENCY: ("gen_ai.usage.cost.currency",),
    RESPONSE_ID: ("gen_ai.response.id", "ai.response.id"),
    SERVICE_TIER: (
        "openai.response.service_tier",
        "gen_ai.openai.response.service_tier",
        "anthropic.response.service_tier",
        "openai.request.service_tier",
        "gen_ai.openai.request.service_tier",
        "gen_ai.request.service_tier",
    ),
    ERROR_TYPE: ("error.type",),
    TOKEN_TYPE: ("gen_ai.token.type",),
    SDK_NAME: ("telemetry.sdk.name",),
    PREFIXED_MODEL: ("litellm.provider.model",),
}

MODEL_KEYS: Final = ALIAS_TABLE[REQUEST_MODEL] + ALIAS_TABLE[RESPONSE_MODEL] + ALIAS_TABLE[SPAN_MODEL]
"""A span without any of these is not a GenAI call."""

IDENTITY_FIELDS: Final = frozenset(
    {
        PROVIDER,
        REQUEST_MODEL,
        RESPONSE_MODEL,
        SPAN_MODEL,
        OPERATION,
        SERVICE_TIER,
        ERROR_TYPE,
        TOKEN_TYPE,
        SDK_NAME,
        PREFIXED_MODEL,
        COST_CURRENCY,
    }
)
"""Fields with few distinct values (unlike token counts and ids), worth a decoded-value cache."""

Aliases = dict[str, tuple[str, int, bool]]
"""Attribute key → (canonical field, rank, identity field?); of two keys of one field, the lower rank wins."""

ALIASES: Final[Aliases] = {
    key: (field, rank, field in IDENTITY_FIELDS) for field, keys in ALIAS_TABLE.items() for rank, key in enumerate(keys)
}
MAX_CACHED_VALUES: Final = 4096


def with_label_keys(span_keys: Iterable[str]) -> Aliases:
    """``ALIASES`` plus the span attributes labels read (under their own key, unless already aliased)."""
    return {**ALIASES, **{key: (key, 0, False) for key in span_keys if key not in ALIASES}}


def field_of(key: str) -> str:
    """The canonical field a span attribute lands in (itself, when it is not in the table)."""
    alias = ALIASES.get(key)
    return alias[0] if alias is not None else key


def set_field(
    fields: dict[str, object], ranks: dict[str, int] | None, field: str, rank: int, value: object
) -> dict[str, int] | None:
    """Set ``field`` unless a lower-ranked alias already did; returns the (lazily made) rank table.

    ``ranks`` holds the rank of fields first set by a fallback alias; a field
    absent from it was set by its primary key (rank 0), which nothing overrides.
    """
    if rank == 0:
        fields[field] = value
        if ranks is not None and field in ranks:
            ranks[field] = 0
    elif field not in fields:
        fields[field] = value
        if ranks is None:
            ranks = {}
        ranks[field] = rank
    elif ranks is not None and rank < ranks.get(field, 0):
        fields[field] = value
        ranks[field] = rank
    return ranks


def canonical_attributes(
    present: Iterable[str],
    raw: Mapping[str, Any],
    convert: Callable[[Any], object],
    aliases: Aliases,
    cache: dict[Any, object] | None = None,
) -> dict[str, object]:
    """``{canonical field: value}`` from the ``present`` attribute keys of ``raw``.

    ``convert`` turns a raw attribute value (serialized ``AnyValue`` bytes,
    an OTLP/JSON value object, or already a Python value) into a Python value;
    ``cache`` remembers conversions of identity fields (model names and the
    like repeat in every span). Empty strings count as absent, so that the next
    alias can supply the field.
    """
    fields: dict[str, object] = {}
    ranks: dict[str, int] | None = None
    for key in present:
        field, rank, identity = aliases[key]
        raw_value = raw[key]
        if identity and cache is not None:
            value = cache.get(raw_value)
            if value is None:
                value = convert(raw_value)
                if len(cache) >= MAX_CACHED_VALUES:
                    cache.clear()
                cache[raw_value] = value
        else:
            value = convert(raw_value)
        if value is None or value == "":
            continue
        ranks = set_field(fields, ranks, field, rank, value)
    return fields
