"""GenAI span attributes → one ``UsageRecord``, through one alias table.

The GenAI semantic conventions are still moving and every instrumentation
library writes a slightly different dialect; everything dialect-specific lives
in this module.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

from llm_cost_tracker.exporter.usage import Tokens, UsageRecord

# First match wins (DESIGN §4, extended where real instrumentations need it).
PROVIDER_KEYS: Final = ("gen_ai.provider.name", "gen_ai.system", "llm.system")
REQUEST_MODEL_KEYS: Final = ("gen_ai.request.model", "llm.request.model_name", "llm.model_name")
RESPONSE_MODEL_KEYS: Final = ("gen_ai.response.model", "llm.response.model_name")
OPERATION_KEYS: Final = ("gen_ai.operation.name", "llm.request.type")
INPUT_KEYS: Final = (
    "gen_ai.usage.input_tokens",
    "gen_ai.usage.prompt_tokens",
    "llm.token_count.prompt",
    "llm.usage.prompt_tokens",
)
OUTPUT_KEYS: Final = (
    "gen_ai.usage.output_tokens",
    "gen_ai.usage.completion_tokens",
    "llm.token_count.completion",
    "llm.usage.completion_tokens",
)
CACHE_READ_KEYS: Final = (
    "gen_ai.usage.cache_read.input_tokens",
    "gen_ai.usage.cache_read_input_tokens",
    "llm.token_count.prompt_details.cache_read",
)
CACHE_WRITE_KEYS: Final = (
    "gen_ai.usage.cache_write.input_tokens",
    "gen_ai.usage.cache_creation.input_tokens",
    "gen_ai.usage.cache_creation_input_tokens",
    "llm.token_count.prompt_details.cache_write",
)
CACHE_WRITE_1H_KEYS: Final = ("anthropic.usage.cache_creation.ephemeral_1h_input_tokens",)
REASONING_KEYS: Final = (
    "gen_ai.usage.reasoning.output_tokens",
    "gen_ai.usage.reasoning_tokens",
    "llm.token_count.completion_details.reasoning",
)
REPORTED_COST_KEYS: Final = ("gen_ai.usage.cost", "gen_ai.cost.total_cost", "llm.cost.total")
RESPONSE_ID_KEYS: Final = ("gen_ai.response.id",)
SERVICE_TIER_KEYS: Final = (
    "openai.response.service_tier",
    "gen_ai.openai.response.service_tier",
    "anthropic.response.service_tier",
    "openai.request.service_tier",
    "gen_ai.openai.request.service_tier",
    "gen_ai.request.service_tier",
)
ERROR_KEYS: Final = ("error.type",)
LITELLM_PROVIDER_MODEL_KEY: Final = "litellm.provider.model"

USAGE_KEYS: Final = INPUT_KEYS + OUTPUT_KEYS + CACHE_READ_KEYS + CACHE_WRITE_KEYS + REASONING_KEYS
SPAN_KEYS: Final = frozenset(
    PROVIDER_KEYS
    + REQUEST_MODEL_KEYS
    + RESPONSE_MODEL_KEYS
    + OPERATION_KEYS
    + USAGE_KEYS
    + CACHE_WRITE_1H_KEYS
    + REPORTED_COST_KEYS
    + RESPONSE_ID_KEYS
    + SERVICE_TIER_KEYS
    + ERROR_KEYS
    + (LITELLM_PROVIDER_MODEL_KEY, "telemetry.sdk.name")
)
"""Every span attribute the normaliser may read (label mappings add their own)."""

PROVIDER_ALIASES: Final = {
    "az.ai.openai": "azure.ai.openai",
    "az.ai.inference": "azure.ai.inference",
    "azure_openai": "azure.ai.openai",
    "vertex_ai": "gcp.vertex_ai",
    "vertexai": "gcp.vertex_ai",
    "gemini": "gcp.gemini",
    "bedrock": "aws.bedrock",
    "mistralai": "mistral_ai",
    "xai": "x_ai",
}

OPERATION_ALIASES: Final = {
    "embedding": "embeddings",
    "completion": "text_completion",
    "completions": "text_completion",
    "chat.completions": "chat",
}

MAX_TOKENS_PER_CALL: Final = 10_000_000_000
"""A token count above this is not a real call; the span is rejected."""

STATUS_CODE_ERROR: Final = 2

# Reasons a span is not counted. Ignored spans are not GenAI calls at all;
# rejected ones are GenAI calls we cannot use, reported in partial_success.
IGNORED_NOT_GENAI: Final = "not_genai"
IGNORED_SOURCE_USES_METRICS: Final = "source_uses_metrics"
REJECTED_MISSING_USAGE: Final = "missing_usage"
REJECTED_INVALID_USAGE: Final = "invalid_usage"

REJECT_HINTS: Final = {
    REJECTED_MISSING_USAGE: "GenAI client span without token usage (for streamed OpenAI calls set "
    "stream_options={'include_usage': True})",
    REJECTED_INVALID_USAGE: "token count that is negative, not an integer or implausibly large",
}


class InvalidUsage(ValueError):
    """A token attribute holds something that is not a token count."""


def as_token_count(value: object) -> int:
    """A token count from an attribute value: an int, a whole float or a digit string."""
    if isinstance(value, bool):
        raise InvalidUsage
    if isinstance(value, int):
        count = value
    elif isinstance(value, float):
        if not math.isfinite(value) or not value.is_integer():
            raise InvalidUsage
        count = int(value)
    elif isinstance(value, str) and value.isascii() and value.isdigit() and len(value) <= 12:
        count = int(value)
    else:
        raise InvalidUsage
    if count < 0 or count > MAX_TOKENS_PER_CALL:
        raise InvalidUsage
    return count


def split_tokens(
    input_total: int,
    cache_read: int,
    cache_write: int,
    output_total: int,
    reasoning: int,
    *,
    cache_in_input: bool,
) -> Tokens:
    """Split reported counts into non-overlapping token types.

    Per the conventions cache tokens are part of the input count and reasoning
    tokens part of the output count. Some sources count them apart; a part
    larger than its total gives that away, and then the total is taken as the
    uncached part. No token is counted twice and none is lost.

    >>> split_tokens(1250, 1024, 0, 180, 0, cache_in_input=True)
    (226, 1024, 0, 180, 0)
    >>> split_tokens(128, 4096, 2048, 256, 0, cache_in_input=True)  # cache reported apart
    (128, 4096, 2048, 256, 0)
    """
    cached = cache_read + cache_write
    uncached = input_total - cached if cache_in_input and cached <= input_total else input_total
    visible_output = output_total - reasoning if reasoning <= output_total else output_total
    return (uncached, cache_read, cache_write, visible_output, reasoning)


def _first(attrs: Mapping[str, object], keys: tuple[str, ...]) -> object:
    for key in keys:
        value = attrs.get(key)
        if value is not None and value != "":
            return value
    return None


def _count(attrs: Mapping[str, object], keys: tuple[str, ...]) -> int | None:
    value = _first(attrs, keys)
    return None if value is None else as_token_count(value)


def normalise_provider(value: object) -> str:
    """``"OpenAI"`` → ``"openai"``, old names → current ones (``az.ai.openai`` → ``azure.ai.openai``)."""
    if not isinstance(value, str):
        return ""
    provider = value.strip().lower()
    return PROVIDER_ALIASES.get(provider, provider)


def normalise_operation(value: object) -> str:
    if not isinstance(value, str) or not value:
        return "unknown"
    operation = value.strip().lower()
    return OPERATION_ALIASES.get(operation, operation)


def excludes_cache_from_input(scope_name: str, attrs: Mapping[str, object], provider: str) -> bool:
    """Sources known to report Anthropic input tokens *without* the cache tokens.

    openlit copies Anthropic's raw ``input_tokens`` (uncached only) into
    ``gen_ai.usage.input_tokens``. Without this table the "part larger than the
    total" check still catches most such spans, but not one whose uncached
    input happens to exceed its cache tokens.
    """
    if provider != "anthropic":
        return False
    return scope_name.startswith("openlit.") or attrs.get("telemetry.sdk.name") == "openlit"


@dataclass(frozen=True, slots=True)
class LabelSource:
    """Where a label's value comes from: a span (or metric point) attribute or a resource attribute."""

    scope: str  # "span" | "resource"
    key: str


@dataclass(frozen=True, slots=True)
class LabelMapping:
    org: tuple[LabelSource, ...]
    org_default: str
    project: tuple[LabelSource, ...]
    project_default: str
    max_value_length: int = 128

    @property
    def span_keys(self) -> frozenset[str]:
        return frozenset(s.key for s in self.org + self.project if s.scope == "span")

    def resolve(
        self,
        sources: tuple[LabelSource, ...],
        default: str,
        attrs: Mapping[str, object],
        resource: Mapping[str, object],
    ) -> str:
        for source in sources:
            value = (attrs if source.scope == "span" else resource).get(source.key)
            if value is not None and value != "":
                return self.clip(str(value))
        return default

    def clip(self, value: str) -> str:
        return value if len(value) <= self.max_value_length else value[: self.max_value_length]


def normalise_span(
    attrs: Mapping[str, object],
    resource: Mapping[str, object],
    *,
    scope_name: str,
    status_code: int,
    start_ns: int,
    end_ns: int,
    span_key: object,
    labels: LabelMapping,
) -> UsageRecord | str:
    """One span → a ``UsageRecord``, or the reason it is not counted.

    A span counts when it carries a GenAI model and token usage (whatever its
    kind or scope, so apps that write GenAI attributes onto their own spans are
    counted), or when it is a failed GenAI call (``outcome="error"``).
    """
    request_model = _first(attrs, REQUEST_MODEL_KEYS)
    response_model = _first(attrs, RESPONSE_MODEL_KEYS)
    if request_model is None and response_model is None:
        return IGNORED_NOT_GENAI
    model = labels.clip(str(request_model if request_model is not None else response_model))
    price_model = str(response_model) if response_model is not None else model

    failed = status_code == STATUS_CODE_ERROR or bool(_first(attrs, ERROR_KEYS))
    provider = normalise_provider(_first(attrs, PROVIDER_KEYS))
    if not provider:
        provider = _provider_from_prefixed_model(attrs.get(LITELLM_PROVIDER_MODEL_KEY), model)
    operation_value = _first(attrs, OPERATION_KEYS)

    try:
        input_total = _count(attrs, INPUT_KEYS)
        output_total = _count(attrs, OUTPUT_KEYS)
        cache_read = _count(attrs, CACHE_READ_KEYS)
        cache_write = _count(attrs, CACHE_WRITE_KEYS)
        reasoning = _count(attrs, REASONING_KEYS)
        cache_write_1h = _count(attrs, CACHE_WRITE_1H_KEYS) or 0
    except InvalidUsage:
        return REJECTED_INVALID_USAGE

    has_usage = not (
        input_total is None
        and output_total is None
        and cache_read is None
        and cache_write is None
        and reasoning is None
    )
    if not has_usage and not failed:
        # A model attribute alone is an app's annotation, not a provider call;
        # a GenAI client span (it names an operation or provider) without usage is unusable.
        if operation_value is None and not provider:
            return IGNORED_NOT_GENAI
        return REJECTED_MISSING_USAGE

    if has_usage:
        tokens = split_tokens(
            input_total or 0,
            cache_read or 0,
            cache_write or 0,
            output_total or 0,
            reasoning or 0,
            cache_in_input=not excludes_cache_from_input(scope_name, attrs, provider),
        )
    else:
        tokens = (0, 0, 0, 0, 0)

    reported_cost = _first(attrs, REPORTED_COST_KEYS)
    response_id = _first(attrs, RESPONSE_ID_KEYS)
    tier = _first(attrs, SERVICE_TIER_KEYS)
    duration = (end_ns - start_ns) / 1e9 if 0 < start_ns <= end_ns else None
    return UsageRecord(
        labels=(
            labels.resolve(labels.org, labels.org_default, attrs, resource),
            labels.resolve(labels.project, labels.project_default, attrs, resource),
            labels.clip(provider),
            model,
            labels.clip(normalise_operation(operation_value)),
        ),
        price_model=price_model,
        tokens=tokens,
        cache_write_1h=min(cache_write_1h, tokens[2]),
        ok=not failed,
        duration_s=duration,
        reported_cost_usd=_reported_cost(reported_cost),
        time_unix_nano=start_ns,
        service_tier=str(tier)[:32] if tier is not None else "",
        dedupe_key=(provider, str(response_id)) if response_id is not None else span_key,
        has_usage=has_usage,
    )


def _reported_cost(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return None
    try:
        cost = float(value)
    except ValueError:
        return None
    return cost if math.isfinite(cost) and cost >= 0 else None


def _provider_from_prefixed_model(*candidates: object) -> str:
    """litellm names models ``provider/model``; take the provider from the prefix."""
    for candidate in candidates:
        if isinstance(candidate, str) and "/" in candidate:
            return normalise_provider(candidate.split("/", 1)[0])
    return ""


TOKEN_TYPE_KEY: Final = "gen_ai.token.type"  # noqa: S105 - not a password
POINT_TOKEN_TYPES: Final = {"input": 0, "prompt": 0, "output": 3, "completion": 3}
REJECTED_MISSING_MODEL: Final = "missing_model"
REJECTED_INVALID_VALUE: Final = "invalid_value"


def normalise_point(
    metric: str,
    attrs: Mapping[str, object],
    resource: Mapping[str, object],
    *,
    scope_name: str,
    count: int,
    total: float,
    time_ns: int,
    labels: LabelMapping,
) -> UsageRecord | str:
    """One GenAI metric point's delta → a ``UsageRecord``, or why it is not counted.

    ``gen_ai.client.token.usage`` gives input and output tokens (cache and
    reasoning detail exist only on spans), ``gen_ai.client.operation.duration``
    the calls and their outcome, ``gen_ai.usage.cost`` a reported cost.
    """
    request_model = _first(attrs, REQUEST_MODEL_KEYS)
    response_model = _first(attrs, RESPONSE_MODEL_KEYS)
    if request_model is None and response_model is None:
        return REJECTED_MISSING_MODEL
    if count < 0 or not math.isfinite(total) or total < 0:
        return REJECTED_INVALID_VALUE
    model = labels.clip(str(request_model if request_model is not None else response_model))
    provider = normalise_provider(_first(attrs, PROVIDER_KEYS))
    label_key = (
        labels.resolve(labels.org, labels.org_default, attrs, resource),
        labels.resolve(labels.project, labels.project_default, attrs, resource),
        labels.clip(provider),
        model,
        labels.clip(normalise_operation(_first(attrs, OPERATION_KEYS))),
    )
    price_model = str(response_model) if response_model is not None else model
    tier = _first(attrs, SERVICE_TIER_KEYS)
    service_tier = str(tier)[:32] if tier is not None else ""

    if metric == "gen_ai.client.token.usage":
        index = POINT_TOKEN_TYPES.get(str(attrs.get(TOKEN_TYPE_KEY, "")).lower())
        if index is None or total > MAX_TOKENS_PER_CALL * max(count, 1):
            return REJECTED_INVALID_VALUE
        counts = [0, 0, 0, 0, 0]
        counts[index] = round(total)
        return UsageRecord(
            labels=label_key,
            price_model=price_model,
            tokens=(counts[0], counts[1], counts[2], counts[3], counts[4]),
            requests=count,
            count_requests=False,
            time_unix_nano=time_ns,
            service_tier=service_tier,
        )
    if metric == "gen_ai.client.operation.duration":
        return UsageRecord(
            labels=label_key,
            price_model=price_model,
            tokens=(0, 0, 0, 0, 0),
            requests=count,
            ok=not _first(attrs, ERROR_KEYS),
            time_unix_nano=time_ns,
            has_usage=False,
        )
    return UsageRecord(
        labels=label_key,
        price_model=price_model,
        tokens=(0, 0, 0, 0, 0),
        requests=count,
        count_requests=False,
        reported_cost_usd=total,
        time_unix_nano=time_ns,
        has_usage=False,
    )
