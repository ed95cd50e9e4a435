"""GenAI metric points (``gen_ai.client.token.usage``, ``gen_ai.client.operation.duration``,
``gen_ai.usage.cost``) → ``UsageRecord``, or why they are not counted."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Final

from llm_cost_tracker.exporter.aliases import (
    ERROR_TYPE,
    OPERATION,
    PROVIDER,
    REQUEST_MODEL,
    RESPONSE_MODEL,
    SERVICE_TIER,
    TOKEN_TYPE,
)
from llm_cost_tracker.exporter.dialects import cloud_provider, normalise_operation, normalise_provider
from llm_cost_tracker.exporter.normalise import REJECTED_INVALID_VALUE, REJECTED_MISSING_MODEL, org_project
from llm_cost_tracker.exporter.tokens import MAX_TOKENS_PER_CALL
from llm_cost_tracker.labels import LabelMapping
from llm_cost_tracker.usage import NO_TOKENS, UsageRecord

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
    for named in (response_model, request_model):
        if isinstance(named, str):
            provider = cloud_provider(named, provider)
    org, project = org_project(labels, fields, resource)
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
        tokens = (counts[0], counts[1], counts[2], counts[3], counts[4])
        return UsageRecord(
            labels=label_key,
            price_model=price_model,
            tokens=tokens,
            reported=tokens,
            requests=count,
            count_requests=False,
            time_unix_nano=time_ns,
            service_tier=service_tier,
        )
    if metric == "gen_ai.client.operation.duration":
        return UsageRecord(
            labels=label_key,
            price_model=price_model,
            tokens=NO_TOKENS,
            requests=count,
            ok=ERROR_TYPE not in fields,
            time_unix_nano=time_ns,
            has_usage=False,
        )
    return UsageRecord(
        labels=label_key,
        price_model=price_model,
        tokens=NO_TOKENS,
        requests=count,
        count_requests=False,
        reported_cost_usd=total,
        time_unix_nano=time_ns,
        has_usage=False,
    )
