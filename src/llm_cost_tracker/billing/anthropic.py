"""Anthropic's Admin API: the cost report (dollars per workspace and day) and the messages usage report (tokens).

- ``GET /v1/organizations/cost_report``: ``starting_at`` inclusive, ``ending_at`` exclusive (RFC 3339, UTC),
  daily buckets only, ``group_by[]=workspace_id`` (and ``description`` for a per-model split). ``amount`` is
  a decimal **string in cents** ("123.45" is $1.2345). Priority Tier costs are not in it (Anthropic bills
  them apart), nor anything but usage: the report is not the invoice where those apply.
- ``GET /v1/organizations/usage_report/messages``: tokens per workspace and model (``--by model``).

A ``null`` workspace id is the default workspace, reported as project ``default``. Admin keys
(``sk-ant-admin…``) go in ``x-api-key``, with ``anthropic-version: 2023-06-01``.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Any, Generic, TypeVar

import pydantic

from llm_cost_tracker.billing.api import AdminApi, BillingApiError, Shape, bucket_day, validated
from llm_cost_tracker.billing.model import DEFAULT_PROJECT, BilledCost, UsedTokens, midnight

BASE_URL = "https://api.anthropic.com"
COST_REPORT = "/v1/organizations/cost_report"
MESSAGES_USAGE = "/v1/organizations/usage_report/messages"
API_VERSION = "2023-06-01"
DAYS_PER_PAGE = 31
CENTS = Decimal(100)


Count = Annotated[int, pydantic.Field(ge=0)]


class _Cost(Shape):
    amount: Annotated[Decimal, pydantic.Field(allow_inf_nan=False)]
    currency: str
    workspace_id: str | None = None
    model: str | None = None


class _CacheCreation(Shape):
    ephemeral_1h_input_tokens: Count = 0
    ephemeral_5m_input_tokens: Count = 0


class _Usage(Shape):
    uncached_input_tokens: Count
    cache_read_input_tokens: Count
    output_tokens: Count
    cache_creation: _CacheCreation = _CacheCreation()
    workspace_id: str | None = None
    model: str | None = None


ResultT = TypeVar("ResultT", bound=Shape)


class _Bucket(Shape, Generic[ResultT]):
    starting_at: datetime
    ending_at: datetime
    results: list[ResultT]


class _Page(Shape, Generic[ResultT]):
    data: list[_Bucket[ResultT]]
    has_more: bool
    next_page: str | None = None


def _parse(shape: type[_Page[ResultT]], page: dict[str, Any], path: str) -> list[tuple[date, ResultT]]:
    parsed = validated(shape, page, "anthropic", path)
    return [(bucket_day("anthropic", b.starting_at, b.ending_at, path), r) for b in parsed.data for r in b.results]


def _rfc3339(day: date) -> str:
    return midnight(day).strftime("%Y-%m-%dT%H:%M:%SZ")


class AnthropicBilling:
    """The costs and usage of one Anthropic organisation, read with its admin key."""

    provider = "anthropic"

    def __init__(self, api: AdminApi) -> None:
        self.api = api

    @classmethod
    def connect(cls, admin_key: str, base_url: str | None = None, **options: Any) -> AnthropicBilling:
        headers = {"x-api-key": admin_key, "anthropic-version": API_VERSION}
        return cls(AdminApi("anthropic", base_url or BASE_URL, headers, **options))

    def _window(self, start: date, end: date) -> dict[str, str | int | list[str]]:
        return {"starting_at": _rfc3339(start), "ending_at": _rfc3339(end), "limit": DAYS_PER_PAGE}

    def costs(self, start: date, end: date, *, by_model: bool = False) -> list[BilledCost]:
        """Dollars per workspace (and, ``by_model``, model: ``None`` for costs of no model) and UTC day."""
        group = ["workspace_id", "description"] if by_model else ["workspace_id"]
        params = {**self._window(start, end), "bucket_width": "1d", "group_by": group}
        totals: dict[tuple[str, date, str | None], Decimal] = {}
        for page in self.api.pages(COST_REPORT, params):
            for day, result in _parse(_Page[_Cost], page, COST_REPORT):
                if result.currency.upper() != "USD":
                    raise BillingApiError(f"anthropic: GET {COST_REPORT}: a cost in {result.currency!r}, not USD")
                key = (result.workspace_id or DEFAULT_PROJECT, day, result.model if by_model else None)
                totals[key] = totals.get(key, Decimal(0)) + result.amount / CENTS
        return [
            BilledCost("anthropic", project, day, usd, model)
            for (project, day, model), usd in sorted(totals.items(), key=lambda item: (*item[0][:2], item[0][2] or ""))
        ]

    def usage(self, start: date, end: date) -> list[UsedTokens]:
        """Message tokens per workspace, model and UTC day in ``[start, end)``."""
        params = {**self._window(start, end), "bucket_width": "1d", "group_by": ["workspace_id", "model"]}
        rows = []
        for page in self.api.pages(MESSAGES_USAGE, params):
            for day, r in _parse(_Page[_Usage], page, MESSAGES_USAGE):
                written = r.cache_creation.ephemeral_1h_input_tokens + r.cache_creation.ephemeral_5m_input_tokens
                rows.append(
                    UsedTokens(
                        "anthropic",
                        r.workspace_id or DEFAULT_PROJECT,
                        day,
                        r.model or "",
                        input=r.uncached_input_tokens,
                        cache_read=r.cache_read_input_tokens,
                        cache_write=written,
                        output=r.output_tokens,
                        requests=None,
                    )
                )
        return rows

    def close(self) -> None:
        self.api.close()
