"""OpenAI's organization Costs API (dollars per project and day) and its Usage API for completions (tokens).

- ``GET /v1/organization/costs``: ``start_time`` inclusive, ``end_time`` exclusive, Unix seconds; daily buckets
  (``bucket_width=1d``, the only width), ``group_by[]=project_id``. ``amount.value`` is dollars: a JSON number
  in the reference, a string in some live responses; both are read, as decimals. OpenAI: "use the Costs
  endpoint for financial purposes, which will reconcile back to your billing invoice".
- ``GET /v1/organization/usage/completions``: tokens per project and model (``--by model``).
  ``input_tokens`` includes cached (and cache-write) tokens; ``output_tokens`` includes reasoning.

A ``null`` project id under ``group_by=project_id`` is spend not attributed to a project (the default
project, Scale Tier bundles); it is reported as project ``default``. Costs have no model dimension
(``line_item`` is free text), so a model's billed dollars are not available from OpenAI.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Annotated, Any, Generic, Literal, TypeVar

import pydantic

from llm_cost_tracker.billing.api import AdminApi, BillingApiError, Shape, bucket_day, validated
from llm_cost_tracker.billing.model import DEFAULT_PROJECT, BilledCost, UsedTokens, midnight

BASE_URL = "https://api.openai.com"
COSTS = "/v1/organization/costs"
COMPLETIONS_USAGE = "/v1/organization/usage/completions"
DAYS_PER_PAGE = 31


Money = Annotated[Decimal, pydantic.Field(allow_inf_nan=False)]
Count = Annotated[int, pydantic.Field(ge=0, strict=False)]


class _Amount(Shape):
    value: Money
    currency: str


class _CostResult(Shape):
    object: Literal["organization.costs.result"]
    amount: _Amount
    project_id: str | None = None


class _UsageResult(Shape):
    object: Literal["organization.usage.completions.result"]
    input_tokens: Count
    output_tokens: Count
    num_model_requests: Count
    input_cached_tokens: Count = 0
    input_cache_write_tokens: Count = 0
    project_id: str | None = None
    model: str | None = None


ResultT = TypeVar("ResultT", bound=Shape)


class _Bucket(Shape, Generic[ResultT]):
    object: Literal["bucket"]
    start_time: int
    end_time: int
    results: list[ResultT]


class _Page(Shape, Generic[ResultT]):
    object: Literal["page"]
    data: list[_Bucket[ResultT]]
    has_more: bool
    next_page: str | None = None


def _parse(shape: type[_Page[ResultT]], page: dict[str, Any], path: str) -> list[tuple[date, ResultT]]:
    parsed = validated(shape, page, "openai", path)
    return [
        (
            bucket_day(
                "openai", datetime.fromtimestamp(b.start_time, UTC), datetime.fromtimestamp(b.end_time, UTC), path
            ),
            r,
        )
        for b in parsed.data
        for r in b.results
    ]


class OpenAIBilling:
    """The costs and usage of one OpenAI organisation, read with its admin key."""

    provider = "openai"

    def __init__(self, api: AdminApi) -> None:
        self.api = api

    @classmethod
    def connect(cls, admin_key: str, base_url: str | None = None, **options: Any) -> OpenAIBilling:
        headers = {"authorization": f"Bearer {admin_key}"}
        return cls(AdminApi("openai", base_url or BASE_URL, headers, **options))

    def _window(self, start: date, end: date) -> dict[str, str | int | list[str]]:
        return {
            "start_time": int(midnight(start).timestamp()),
            "end_time": int(midnight(end).timestamp()),
            "bucket_width": "1d",
            "limit": DAYS_PER_PAGE,
        }

    def costs(self, start: date, end: date, *, by_model: bool = False) -> list[BilledCost]:
        """Dollars per project and UTC day in ``[start, end)`` (``by_model``: the same; OpenAI has no model)."""
        params = {**self._window(start, end), "group_by": ["project_id"]}
        totals: dict[tuple[str, date], Decimal] = {}
        for page in self.api.pages(COSTS, params):
            for day, result in _parse(_Page[_CostResult], page, COSTS):
                if result.amount.currency.lower() != "usd":
                    raise BillingApiError(f"openai: GET {COSTS}: a cost in {result.amount.currency!r}, not USD")
                key = (result.project_id or DEFAULT_PROJECT, day)
                totals[key] = totals.get(key, Decimal(0)) + result.amount.value
        return [BilledCost("openai", project, day, usd) for (project, day), usd in sorted(totals.items())]

    def usage(self, start: date, end: date) -> list[UsedTokens]:
        """Completion tokens per project, model and UTC day in ``[start, end)``."""
        params = {**self._window(start, end), "group_by": ["project_id", "model"]}
        rows = []
        for page in self.api.pages(COMPLETIONS_USAGE, params):
            for day, r in _parse(_Page[_UsageResult], page, COMPLETIONS_USAGE):
                cached, written = r.input_cached_tokens, r.input_cache_write_tokens
                rows.append(
                    UsedTokens(
                        "openai",
                        r.project_id or DEFAULT_PROJECT,
                        day,
                        r.model or "",
                        input=max(0, r.input_tokens - cached - written),
                        cache_read=cached,
                        cache_write=written,
                        output=r.output_tokens,
                        requests=r.num_model_requests,
                    )
                )
        return rows

    def close(self) -> None:
        self.api.close()
