"""GenAI telemetry → ``UsageRecord``, through one alias table.

The GenAI semantic conventions are still moving and every instrumentation
library writes a slightly different dialect; everything dialect-specific lives
in this module. Decoders turn a span's (or metric point's) attributes into a
dict of *canonical fields* with ``canonical_attributes``; the rest of this
module reads only those fields.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Final

from llm_cost_tracker.exporter.usage import LabelKey, Tokens, UsageRecord

# Canonical fields, and the attribute keys that carry each, first match wins
# (DESIGN §4, extended where real instrumentations need it).
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
REPORTED_COST: Final = "reported_cost"
RESPONSE_ID: Final = "response_id"
SERVICE_TIER: Final = "service_tier"
ERROR_TYPE: Final = "error_type"
TOKEN_TYPE: Final = "token_type"
SDK_NAME: Final = "sdk_name"
PREFIXED_MODEL: Final = "prefixed_model"

ALIAS_TABLE: Final[dict[str, tuple[str, ...]]] = {
    PROVIDER: ("gen_ai.provider.name", "gen_ai.system", "llm.system"),
    REQUEST_MODEL: ("gen_ai.request.model", "llm.request.model_name", "llm.model_name"),
    RESPONSE_MODEL: ("gen_ai.response.model", "llm.response.model_name"),
    OPERATION: ("gen_ai.operation.name", "llm.request.type"),
    INPUT: (
        "gen_ai.usage.input_tokens",
        "gen_ai.usage.prompt_tokens",
        "llm.token_count.prompt",
        "llm.usage.prompt_tokens",
    ),
    OUTPUT: (
        "gen_ai.usage.output_tokens",
        "gen_ai.usage.completion_tokens",
        "llm.token_count.completion",
        "llm.usage.completion_tokens",
    ),
    CACHE_READ: (
        "gen_ai.usage.cache_read.input_tokens",
        "gen_ai.usage.cache_read_input_tokens",
        "llm.token_count.prompt_details.cache_read",
    ),
    CACHE_WRITE: (
        "gen_ai.usage.cache_write.input_tokens",
        "gen_ai.usage.cache_creation.input_tokens",
        "gen_ai.usage.cache_creation_input_tokens",
        "llm.token_count.prompt_details.cache_write",
    ),
    CACHE_WRITE_1H: ("anthropic.usage.cache_creation.ephemeral_1h_input_tokens",),
    REASONING: (
        "gen_ai.usage.reasoning.output_tokens",
        "gen_ai.usage.reasoning_tokens",
        "llm.token_count.completion_details.reasoning",
    ),
    REPORTED_COST: ("gen_ai.usage.cost", "gen_ai.cost.total_cost", "llm.cost.total"),
    RESPONSE_ID: ("gen_ai.response.id",),
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

MODEL_KEYS: Final = ALIAS_TABLE[REQUEST_MODEL] + ALIAS_TABLE[RESPONSE_MODEL]
"""A span without any of these is not a GenAI call."""

IDENTITY_FIELDS: Final = frozenset(
    {PROVIDER, REQUEST_MODEL, RESPONSE_MODEL, OPERATION, SERVICE_TIER, ERROR_TYPE, TOKEN_TYPE, SDK_NAME, PREFIXED_MODEL}
)
"""Fields with few distinct values (unlike token counts and ids), worth a decoded-value cache."""

Aliases = dict[str, tuple[str, int, bool]]
"""Attribute key → (canonical field, rank, identity field?); of two keys of one field, the lower rank wins."""

ALIASES: Final[Aliases] = {
    key: (field, rank, field in IDENTITY_FIELDS) for field, keys in ALIAS_TABLE.items() for rank, key in enumerate(keys)
}
MAX_CACHED_VALUES: Final = 4096

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

# Reasons a span or point is not counted. Ignored items are not GenAI calls;
# rejected ones are GenAI calls we cannot use, reported in partial_success.
IGNORED_NOT_GENAI: Final = "not_genai"
IGNORED_SOURCE_USES_METRICS: Final = "source_uses_metrics"
REJECTED_MISSING_USAGE: Final = "missing_usage"
REJECTED_INVALID_USAGE: Final = "invalid_usage"
REJECTED_MISSING_MODEL: Final = "missing_model"
REJECTED_INVALID_VALUE: Final = "invalid_value"

REJECT_HINTS: Final = {
    REJECTED_MISSING_USAGE: "GenAI client span without token usage (for streamed OpenAI calls set "
    "stream_options={'include_usage': True})",
    REJECTED_INVALID_USAGE: "token count that is negative, not an integer or implausibly large",
    REJECTED_MISSING_MODEL: "GenAI metric point without gen_ai.request.model or gen_ai.response.model",
    REJECTED_INVALID_VALUE: "negative, non-finite or unknown value",
}


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


def _count(value: object) -> int | None:
    if value is None:
        return None
    if type(value) is int and 0 <= value <= MAX_TOKENS_PER_CALL:
        return value
    return as_token_count(value)


def split_tokens(
    input_total: int, cache_read: int, cache_write: int, output_total: int, reasoning: int, *, cache_in_input: bool
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


def excludes_cache_from_input(scope_name: str, fields: Mapping[str, object], provider: str) -> bool:
    """Sources known to report Anthropic input tokens *without* the cache tokens.

    openlit copies Anthropic's raw ``input_tokens`` (uncached only) into
    ``gen_ai.usage.input_tokens``. Without this table the "part larger than the
    total" check still catches most such spans, but not one whose uncached
    input happens to exceed its cache tokens.
    """
    if provider != "anthropic":
        return False
    return scope_name.startswith("openlit.") or fields.get(SDK_NAME) == "openlit"


def _provider_from_prefixed_model(*candidates: object) -> str:
    """litellm names models ``provider/model``; take the provider from the prefix."""
    for candidate in candidates:
        if isinstance(candidate, str) and "/" in candidate:
            return normalise_provider(candidate.split("/", 1)[0])
    return ""


def _reported_cost(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return None
    try:
        cost = float(value)
    except ValueError:
        return None
    return cost if math.isfinite(cost) and cost >= 0 else None


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
    def resource_only(self) -> bool:
        return all(source.scope == "resource" for source in self.org + self.project)

    def aliases(self) -> Aliases:
        """``ALIASES`` plus the span attributes the labels read (under their own key, unless already aliased)."""
        extra = {
            s.key: (s.key, 0, False) for s in self.org + self.project if s.scope == "span" and s.key not in ALIASES
        }
        return {**ALIASES, **extra}

    def resolve(
        self,
        sources: tuple[LabelSource, ...],
        default: str,
        fields: Mapping[str, object],
        resource: Mapping[str, object],
    ) -> str:
        for source in sources:
            if source.scope == "span":
                value = fields.get(ALIASES[source.key][0] if source.key in ALIASES else source.key)
            else:
                value = resource.get(source.key)
            if value is not None and value != "":
                return self.clip(str(value))
        return default

    def org_project(self, fields: Mapping[str, object], resource: Mapping[str, object]) -> tuple[str, str]:
        return (
            self.resolve(self.org, self.org_default, fields, resource),
            self.resolve(self.project, self.project_default, fields, resource),
        )

    def clip(self, value: str) -> str:
        return value if len(value) <= self.max_value_length else value[: self.max_value_length]


Shape = tuple[LabelKey, str, bool]
"""What a call's identity resolves to: labels, the model to price, whether input includes cache."""


class SpanNormaliser:
    """Canonical span fields → ``UsageRecord``, or the reason the span is not counted.

    A span counts when it carries a GenAI model and token usage (whatever its
    kind or scope, so apps that write GenAI attributes onto their own spans are
    counted), or when it is a failed GenAI call (``outcome="error"``).

    What depends only on who made the call (labels, the model to price, the
    cache convention) is resolved once per distinct combination and remembered:
    real traffic has thousands of spans and a handful of such shapes.
    """

    def __init__(self, labels: LabelMapping, *, read_reported_cost: bool = True, max_shapes: int = 10_000) -> None:
        self.labels = labels
        self.aliases = labels.aliases()
        self.read_reported_cost = read_reported_cost
        self.max_shapes = max_shapes
        self._shapes: dict[tuple[object, ...], Shape] = {}

    def resource_labels(self, resource: Mapping[str, object]) -> tuple[str, str] | None:
        """``(org, project)`` of every span of a resource, when no label is read from spans."""
        return self.labels.org_project({}, resource) if self.labels.resource_only else None

    def __call__(
        self,
        fields: Mapping[str, object],
        resource: Mapping[str, object],
        org_project: tuple[str, str] | None,
        scope_name: str,
        status_code: int,
        start_ns: int,
        end_ns: int,
        span_key: object,
    ) -> UsageRecord | str:
        get = fields.get
        request_model = get(REQUEST_MODEL)
        response_model = get(RESPONSE_MODEL)
        if request_model is None and response_model is None:
            return IGNORED_NOT_GENAI
        failed = status_code == STATUS_CODE_ERROR or ERROR_TYPE in fields
        try:
            input_total = _count(get(INPUT))
            output_total = _count(get(OUTPUT))
            cache_read = _count(get(CACHE_READ))
            cache_write = _count(get(CACHE_WRITE))
            reasoning = _count(get(REASONING))
            cache_write_1h = _count(get(CACHE_WRITE_1H)) or 0
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
            if OPERATION not in fields and PROVIDER not in fields:
                return IGNORED_NOT_GENAI
            return REJECTED_MISSING_USAGE

        label_key, price_model, cache_in_input = self._shape(
            fields, resource, org_project, scope_name, request_model, response_model
        )
        if has_usage:
            tokens = split_tokens(
                input_total or 0,
                cache_read or 0,
                cache_write or 0,
                output_total or 0,
                reasoning or 0,
                cache_in_input=cache_in_input,
            )
        else:
            tokens = (0, 0, 0, 0, 0)
        response_id = get(RESPONSE_ID)
        tier = get(SERVICE_TIER)
        return UsageRecord(
            label_key,
            price_model,
            tokens,
            min(cache_write_1h, tokens[2]),
            1,
            True,
            not failed,
            (end_ns - start_ns) / 1e9 if 0 < start_ns <= end_ns else None,
            _reported_cost(get(REPORTED_COST)) if self.read_reported_cost else None,
            start_ns,
            tier[:32] if isinstance(tier, str) else "",
            f"{label_key[2]}\x1f{response_id}" if isinstance(response_id, str) else span_key,
            has_usage,
        )

    def _shape(
        self,
        fields: Mapping[str, object],
        resource: Mapping[str, object],
        org_project: tuple[str, str] | None,
        scope_name: str,
        request_model: object,
        response_model: object,
    ) -> Shape:
        if org_project is None:
            org_project = self.labels.org_project(fields, resource)
        get = fields.get
        key = (
            org_project,
            scope_name,
            get(PROVIDER),
            request_model,
            response_model,
            get(OPERATION),
            get(SDK_NAME),
            get(PREFIXED_MODEL),
        )
        try:
            shape = self._shapes.get(key)
        except TypeError:  # an attribute held an array: resolve without remembering
            return self._resolve_shape(fields, org_project, scope_name, request_model, response_model)
        if shape is None:
            shape = self._resolve_shape(fields, org_project, scope_name, request_model, response_model)
            if len(self._shapes) >= self.max_shapes:
                self._shapes.clear()
            self._shapes[key] = shape
        return shape

    def _resolve_shape(
        self,
        fields: Mapping[str, object],
        org_project: tuple[str, str],
        scope_name: str,
        request_model: object,
        response_model: object,
    ) -> Shape:
        clip = self.labels.clip
        model = clip(str(request_model if request_model is not None else response_model))
        provider = normalise_provider(fields.get(PROVIDER))
        if not provider:
            provider = _provider_from_prefixed_model(fields.get(PREFIXED_MODEL), model)
        label_key = (
            org_project[0],
            org_project[1],
            clip(provider),
            model,
            clip(normalise_operation(fields.get(OPERATION))),
        )
        price_model = str(response_model) if response_model is not None else model
        return label_key, price_model, not excludes_cache_from_input(scope_name, fields, provider)


POINT_TOKEN_TYPES: Final = {"input": 0, "prompt": 0, "output": 3, "completion": 3}


def normalise_point(
    metric: str,
    fields: Mapping[str, object],
    resource: Mapping[str, object],
    *,
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
    request_model = fields.get(REQUEST_MODEL)
    response_model = fields.get(RESPONSE_MODEL)
    if request_model is None and response_model is None:
        return REJECTED_MISSING_MODEL
    if count < 0 or not math.isfinite(total) or total < 0:
        return REJECTED_INVALID_VALUE
    model = labels.clip(str(request_model if request_model is not None else response_model))
    provider = normalise_provider(fields.get(PROVIDER))
    org, project = labels.org_project(fields, resource)
    label_key = (org, project, labels.clip(provider), model, labels.clip(normalise_operation(fields.get(OPERATION))))
    price_model = str(response_model) if response_model is not None else model
    tier = fields.get(SERVICE_TIER)
    service_tier = tier[:32] if isinstance(tier, str) else ""

    if metric == "gen_ai.client.token.usage":
        index = POINT_TOKEN_TYPES.get(str(fields.get(TOKEN_TYPE, "")).lower())
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
            ok=ERROR_TYPE not in fields,
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
