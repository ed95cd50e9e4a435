"""Canonical span fields (``aliases.py``) and metric points → ``UsageRecord``, or why they are not counted.

Tokens are read as each source reports them, brought to the conventions'
counting (cache inside the input total, reasoning inside the output total: the
*reported* tuple), and split once into non-overlapping types. Duplicate spans
of one call merge on the reported tuple, never on split parts.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Final

from llm_cost_tracker.exporter.aliases import (
    CACHE_READ,
    CACHE_WRITE,
    CACHE_WRITE_1H,
    COST_CURRENCY,
    ERROR_TYPE,
    INPUT,
    INPUT_AUDIO,
    INVOCATION_PARAMETERS,
    OPERATION,
    OUTPUT,
    OUTPUT_AUDIO,
    OUTPUT_VALUE,
    PREFIXED_MODEL,
    PROVIDER,
    REASONING,
    REPORTED_COST,
    REQUEST_MODEL,
    RESPONSE_ID,
    RESPONSE_MODEL,
    ROUTED_BUDGET,
    ROUTED_FROM,
    SDK_NAME,
    SERVICE_TIER,
    SPAN_MODEL,
    WEB_SEARCHES,
)
from llm_cost_tracker.exporter.dialects import (
    cloud_provider,
    invocation_model,
    is_aggregate,
    model_family,
    normalise_operation,
    normalise_provider,
    output_response_id,
    output_usage,
)
from llm_cost_tracker.exporter.labelling import label_aliases as label_aliases
from llm_cost_tracker.exporter.labelling import org_project as org_project
from llm_cost_tracker.exporter.outcome import IGNORED_AGGREGATE as IGNORED_AGGREGATE
from llm_cost_tracker.exporter.outcome import IGNORED_NOT_GENAI as IGNORED_NOT_GENAI
from llm_cost_tracker.exporter.outcome import IGNORED_SOURCE_USES_METRICS as IGNORED_SOURCE_USES_METRICS
from llm_cost_tracker.exporter.outcome import REJECT_HINTS as REJECT_HINTS
from llm_cost_tracker.exporter.outcome import REJECTED_INVALID_MODEL as REJECTED_INVALID_MODEL
from llm_cost_tracker.exporter.outcome import REJECTED_INVALID_USAGE as REJECTED_INVALID_USAGE
from llm_cost_tracker.exporter.outcome import REJECTED_INVALID_VALUE as REJECTED_INVALID_VALUE
from llm_cost_tracker.exporter.outcome import REJECTED_MISSING_MODEL as REJECTED_MISSING_MODEL
from llm_cost_tracker.exporter.outcome import REJECTED_MISSING_USAGE as REJECTED_MISSING_USAGE
from llm_cost_tracker.exporter.outcome import REJECTED_PROJECT_NOT_ALLOWED as REJECTED_PROJECT_NOT_ALLOWED
from llm_cost_tracker.exporter.tokens import MAX_TOKENS_PER_CALL as MAX_TOKENS_PER_CALL
from llm_cost_tracker.exporter.tokens import InvalidUsage as InvalidUsage
from llm_cost_tracker.exporter.tokens import as_token_count as as_token_count
from llm_cost_tracker.exporter.tokens import count_or_none
from llm_cost_tracker.exporter.tokens import merge_reported as merge_reported
from llm_cost_tracker.exporter.tokens import reported_usage as reported_usage
from llm_cost_tracker.exporter.tokens import split_reported as split_reported
from llm_cost_tracker.exporter.tokens import split_tokens as split_tokens
from llm_cost_tracker.labels import LabelMapping
from llm_cost_tracker.usage import NO_EXTRAS, NO_TOKENS, Extras, LabelKey, SpanPlace, UsageRecord

STATUS_CODE_ERROR: Final = 2

USD: Final = frozenset({"USD", "usd"})
MAX_CACHED_PARAMETERS: Final = 1024


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


def _reported_cost(value: object, currency: object) -> float | None:
    if currency is not None and currency not in USD:
        return None  # a cost in another currency is not a cost in USD
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return None
    try:
        cost = float(value)
    except ValueError:
        return None
    return cost if math.isfinite(cost) and cost >= 0 else None


def _extras(fields: Mapping[str, object], from_output: Mapping[str, int] | None) -> Extras:
    """1-hour cache writes, audio input and output tokens and web searches, where a span reports them."""
    if (
        CACHE_WRITE_1H not in fields
        and INPUT_AUDIO not in fields
        and OUTPUT_AUDIO not in fields
        and WEB_SEARCHES not in fields
        and not from_output
    ):
        return NO_EXTRAS
    output = from_output or {}
    extras = (
        count_or_none(fields.get(CACHE_WRITE_1H)) or 0,
        count_or_none(fields.get(INPUT_AUDIO, output.get(INPUT_AUDIO))) or 0,
        count_or_none(fields.get(OUTPUT_AUDIO, output.get(OUTPUT_AUDIO))) or 0,
        count_or_none(fields.get(WEB_SEARCHES, output.get(WEB_SEARCHES))) or 0,
    )
    return NO_EXTRAS if extras == NO_EXTRAS else extras


Shape = tuple[LabelKey, str, bool, tuple[str, ...]]
"""What a call's identity resolves to: labels, the model to price, whether input includes cache, model families."""


def _routed(routed_from: object, budget: object, model: str, labels: LabelMapping) -> tuple[str, str]:
    """``(routed_from, budget)`` of a call a budget swap sent to ``model``; ``("", "")`` when not swapped (or the
    marks are not strings, or name the model itself)."""
    if not isinstance(routed_from, str) or not routed_from or _garbled(routed_from):
        return "", ""
    routed_from = labels.clip(routed_from)
    if routed_from == model:
        return "", ""
    budget = labels.clip(budget) if isinstance(budget, str) and budget and not _garbled(budget) else "unknown"
    return routed_from, budget[:64]


def _garbled(value: object) -> bool:
    """A name that arrived as invalid UTF-8 (the decoder replaced the bad bytes with U+FFFD)."""
    return isinstance(value, str) and "\ufffd" in value


class SpanNormaliser:
    """Canonical span fields → ``UsageRecord``, or the reason the span is not counted.

    A span counts when it carries a GenAI model and token usage (whatever its
    kind or scope, so apps that write GenAI attributes onto their own spans are
    counted), or when it is a failed GenAI call (``outcome="error"``). Spans
    that wrap model calls (agent runs, steps) are ignored: their calls count.

    What depends only on who made the call (labels, the model to price, the
    cache convention) is resolved once per distinct combination and remembered:
    real traffic has thousands of spans and a handful of such shapes.
    """

    def __init__(self, labels: LabelMapping, *, read_reported_cost: bool = True, max_shapes: int = 10_000) -> None:
        self.labels = labels
        self.aliases = label_aliases(labels)
        self.read_reported_cost = read_reported_cost
        self.max_shapes = max_shapes
        self._shapes: dict[tuple[object, ...], Shape] = {}
        self._parameters: dict[str, str | None] = {}

    def resource_labels(self, resource: Mapping[str, object]) -> tuple[str, str] | None:
        """``(org, project)`` of every span of a resource, when no label is read from spans."""
        return org_project(self.labels, {}, resource) if self.labels.resource_only else None

    def _invocation_model(self, parameters: object) -> str | None:
        if not isinstance(parameters, str):
            return None
        try:
            return self._parameters[parameters]
        except KeyError:
            pass
        if len(self._parameters) >= MAX_CACHED_PARAMETERS:
            self._parameters.clear()
        model = self._parameters[parameters] = invocation_model(parameters)
        return model

    def __call__(
        self,
        fields: Mapping[str, object],
        resource: Mapping[str, object],
        org_project: tuple[str, str] | None,
        scope_name: str,
        status_code: int,
        start_ns: int,
        end_ns: int,
        span_key: bytes,
        parent_key: bytes = b"",
    ) -> UsageRecord | str:
        get = fields.get
        request_model = get(REQUEST_MODEL)
        response_model = get(RESPONSE_MODEL)
        span_model = get(SPAN_MODEL)
        if span_model is not None or (request_model is None and INVOCATION_PARAMETERS in fields):
            # OpenInference: the request in llm.invocation_parameters; llm.model_name the answer (OpenAI)
            # or the request (Anthropic, LangChain), whichever the parameters do not say.
            requested = request_model or self._invocation_model(get(INVOCATION_PARAMETERS))
            if requested is None:
                request_model = span_model
            else:
                request_model = requested
                if response_model is None and span_model is not None and span_model != requested:
                    response_model = span_model
        if request_model is None and response_model is None:
            return IGNORED_NOT_GENAI
        if _garbled(request_model) or _garbled(response_model):
            return REJECTED_INVALID_MODEL
        operation = get(OPERATION)
        if is_aggregate(operation):
            return IGNORED_AGGREGATE
        failed = status_code == STATUS_CODE_ERROR or ERROR_TYPE in fields
        usage: Callable[[str], object] = get
        from_output: dict[str, int] | None = None
        if OUTPUT_VALUE in fields:
            # The response JSON: for usage a span has no attributes for, or for the web searches in it.
            value = get(OUTPUT_VALUE)
            no_usage = INPUT not in fields and OUTPUT not in fields
            if no_usage or (WEB_SEARCHES not in fields and isinstance(value, str) and "web_search" in value):
                from_output = output_usage(value)
                if from_output is not None and no_usage:
                    usage = from_output.get
        try:
            input_total = count_or_none(usage(INPUT))
            output_total = count_or_none(usage(OUTPUT))
            cache_read = count_or_none(usage(CACHE_READ))
            cache_write = count_or_none(usage(CACHE_WRITE))
            reasoning = count_or_none(usage(REASONING))
            extras = _extras(fields, from_output)
        except InvalidUsage:
            return REJECTED_INVALID_USAGE
        has_usage = not (
            input_total is None
            and output_total is None
            and cache_read is None
            and cache_write is None
            and reasoning is None
        )
        if not has_usage and not failed and OPERATION not in fields and PROVIDER not in fields:
            # A model attribute alone is an app's annotation, not a provider call.
            return IGNORED_NOT_GENAI

        label_key, price_model, cache_in_input, models = self._shape(
            fields, resource, org_project, scope_name, request_model, response_model
        )
        if has_usage:
            reported = reported_usage(
                input_total or 0,
                cache_read or 0,
                cache_write or 0,
                output_total or 0,
                reasoning or 0,
                cache_in_input=cache_in_input,
            )
            tokens = split_reported(reported)
        else:
            reported = tokens = NO_TOKENS
        response_id = get(RESPONSE_ID)
        if response_id is None and OUTPUT_VALUE in fields:
            response_id = output_response_id(get(OUTPUT_VALUE))
        tier = get(SERVICE_TIER)
        routed_from, routed_budget = (
            ("", "")
            if ROUTED_FROM not in fields
            else _routed(get(ROUTED_FROM), get(ROUTED_BUDGET), label_key[3], self.labels)
        )
        return UsageRecord(
            label_key,
            price_model,
            tokens,
            reported,
            extras,
            1,
            True,
            not failed,
            (end_ns - start_ns) / 1e9 if 0 < start_ns <= end_ns else None,
            _reported_cost(get(REPORTED_COST), get(COST_CURRENCY)) if self.read_reported_cost else None,
            start_ns,
            tier[:32] if isinstance(tier, str) else "",
            f"{label_key[2]}\x1f{response_id}" if isinstance(response_id, str) else span_key,
            has_usage,
            SpanPlace(span_key, parent_key, scope_name, start_ns, end_ns, models),
            routed_from,
            routed_budget,
        )

    def _shape(
        self,
        fields: Mapping[str, object],
        resource: Mapping[str, object],
        org_project_labels: tuple[str, str] | None,
        scope_name: str,
        request_model: object,
        response_model: object,
    ) -> Shape:
        if org_project_labels is None:
            org_project_labels = org_project(self.labels, fields, resource)
        get = fields.get
        key = (
            org_project_labels,
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
            return self._resolve_shape(fields, org_project_labels, scope_name, request_model, response_model)
        if shape is None:
            shape = self._resolve_shape(fields, org_project_labels, scope_name, request_model, response_model)
            if len(self._shapes) >= self.max_shapes:
                self._shapes.clear()
            self._shapes[key] = shape
        return shape

    def _resolve_shape(
        self,
        fields: Mapping[str, object],
        org_project_labels: tuple[str, str],
        scope_name: str,
        request_model: object,
        response_model: object,
    ) -> Shape:
        clip = self.labels.clip
        model = clip(str(request_model if request_model is not None else response_model))
        provider = normalise_provider(fields.get(PROVIDER))
        if not provider:
            provider = _provider_from_prefixed_model(fields.get(PREFIXED_MODEL), model)
        for named in (response_model, request_model):
            if isinstance(named, str):
                provider = cloud_provider(named, provider)
        label_key = (
            org_project_labels[0],
            org_project_labels[1],
            clip(provider),
            model,
            clip(normalise_operation(fields.get(OPERATION))),
        )
        price_model = str(response_model) if response_model is not None else model
        families = tuple(dict.fromkeys(model_family(str(m)) for m in (request_model, response_model) if m is not None))
        return label_key, price_model, not excludes_cache_from_input(scope_name, fields, provider), families
