"""The providers' cost and usage API clients, against respx: documented shapes, pages, retries, errors.

The fixtures are the providers' documented example responses (OpenAI's OpenAPI spec, Anthropic's Admin API
reference), copied as published; the rest vary one thing each.
"""

from __future__ import annotations

import copy
import json
from datetime import date
from decimal import Decimal
from typing import Any

import httpx
import pytest
import respx

from llm_cost_tracker.billing.anthropic import AnthropicBilling
from llm_cost_tracker.billing.api import BillingApiError
from llm_cost_tracker.billing.model import BilledCost, UsedTokens
from llm_cost_tracker.billing.openai import OpenAIBilling

OPENAI = "https://api.openai.com"
ANTHROPIC = "https://api.anthropic.com"
KEY = "sk-admin-test-0123456789"

# OpenAI's documented example of GET /v1/organization/costs (openai-openapi, openapi.yaml).
OPENAI_COSTS_EXAMPLE: dict[str, Any] = {
    "object": "page",
    "data": [
        {
            "object": "bucket",
            "start_time": 1730419200,
            "end_time": 1730505600,
            "results": [
                {
                    "object": "organization.costs.result",
                    "amount": {"value": 0.06, "currency": "usd"},
                    "line_item": None,
                    "project_id": None,
                    "api_key_id": None,
                    "quantity": None,
                    "quantity_unit": None,
                }
            ],
        }
    ],
    "has_more": False,
    "next_page": None,
}
# OpenAI's documented example of GET /v1/organization/usage/completions.
OPENAI_USAGE_EXAMPLE: dict[str, Any] = {
    "object": "page",
    "data": [
        {
            "object": "bucket",
            "start_time": 1730419200,
            "end_time": 1730505600,
            "results": [
                {
                    "object": "organization.usage.completions.result",
                    "input_tokens": 1000,
                    "input_cached_tokens": 400,
                    "input_cache_write_tokens": 100,
                    "input_uncached_tokens": 500,
                    "output_tokens": 500,
                    "input_text_tokens": 400,
                    "output_text_tokens": 400,
                    "input_cached_text_tokens": 300,
                    "input_audio_tokens": 50,
                    "input_cached_audio_tokens": 50,
                    "output_audio_tokens": 50,
                    "input_image_tokens": 50,
                    "input_cached_image_tokens": 50,
                    "output_image_tokens": 50,
                    "num_model_requests": 5,
                    "project_id": None,
                    "user_id": None,
                    "api_key_id": None,
                    "model": None,
                    "batch": None,
                    "service_tier": None,
                }
            ],
        }
    ],
    "has_more": True,
    "next_page": "page_AAAAAGdGxdEiJdKOAAAAAGcqsYA=",
}
# Anthropic's documented example of GET /v1/organizations/cost_report (Admin API reference).
ANTHROPIC_COST_EXAMPLE: dict[str, Any] = {
    "data": [
        {
            "starting_at": "2025-08-01T00:00:00Z",
            "ending_at": "2025-08-02T00:00:00Z",
            "results": [
                {
                    "currency": "USD",
                    "amount": "123.78912",
                    "workspace_id": "wrkspc_01JwQvzr7rXLA5AGx3HKfFUJ",
                    "description": "Claude Sonnet 4 Usage - Input Tokens",
                    "cost_type": "tokens",
                    "context_window": "0-200k",
                    "model": "claude-sonnet-4-20250514",
                    "service_tier": "standard",
                    "token_type": "uncached_input_tokens",
                }
            ],
        }
    ],
    "has_more": True,
    "next_page": "page_MjAyNS0wNS0xNFQwMDowMDowMFo=",
}
# Anthropic's documented example of GET /v1/organizations/usage_report/messages.
ANTHROPIC_USAGE_EXAMPLE: dict[str, Any] = {
    "data": [
        {
            "starting_at": "2025-08-01T00:00:00Z",
            "ending_at": "2025-08-02T00:00:00Z",
            "results": [
                {
                    "uncached_input_tokens": 1500,
                    "cache_creation": {"ephemeral_1h_input_tokens": 1000, "ephemeral_5m_input_tokens": 500},
                    "cache_read_input_tokens": 200,
                    "output_tokens": 500,
                    "server_tool_use": {"web_search_requests": 10},
                    "api_key_id": "apikey_01Rj2N8SVvo6BePZj99NhmiT",
                    "workspace_id": "wrkspc_01JwQvzr7rXLA5AGx3HKfFUJ",
                    "model": "claude-sonnet-4-20250514",
                    "service_tier": "standard",
                    "context_window": "0-200k",
                }
            ],
        }
    ],
    "has_more": True,
    "next_page": "page_MjAyNS0wNS0xNFQwMDowMDowMFo=",
}
NOV_1, AUG_1 = date(2024, 11, 1), date(2025, 8, 1)


class Sleeps(list[float]):
    def __call__(self, seconds: float) -> None:
        self.append(seconds)


def openai(sleeps: Sleeps | None = None) -> OpenAIBilling:
    return OpenAIBilling.connect(KEY, sleep=sleeps if sleeps is not None else Sleeps(), jitter=lambda: 0.0)


def anthropic(sleeps: Sleeps | None = None) -> AnthropicBilling:
    return AnthropicBilling.connect(KEY, sleep=sleeps if sleeps is not None else Sleeps(), jitter=lambda: 0.0)


def last_page(page: dict[str, Any]) -> dict[str, Any]:
    return {**copy.deepcopy(page), "has_more": False, "next_page": None}


@respx.mock
def test_openai_costs_documented_example() -> None:
    route = respx.get(f"{OPENAI}/v1/organization/costs").respond(json=OPENAI_COSTS_EXAMPLE)
    assert openai().costs(NOV_1, date(2024, 11, 2)) == [
        BilledCost("openai", "default", NOV_1, Decimal("0.06"))  # a null project: the default project
    ]
    request = route.calls.last.request
    assert request.headers["authorization"] == f"Bearer {KEY}"
    assert dict(request.url.params.multi_items()) == {
        "start_time": "1730419200",  # 2024-11-01T00:00Z, inclusive
        "end_time": "1730505600",  # 2024-11-02T00:00Z, exclusive
        "bucket_width": "1d",
        "limit": "31",
        "group_by[]": "project_id",
    }


@respx.mock
def test_openai_costs_reads_every_page_and_string_amounts() -> None:
    first = copy.deepcopy(OPENAI_COSTS_EXAMPLE)
    first["data"][0]["results"] = [
        {"object": "organization.costs.result", "amount": {"value": "12.50", "currency": "usd"}, "project_id": "p1"},
        {"object": "organization.costs.result", "amount": {"value": 0.0042, "currency": "USD"}, "project_id": "p1"},
    ]
    first.update(has_more=True, next_page="page_2")
    second = last_page(OPENAI_COSTS_EXAMPLE)
    second["data"][0].update(start_time=1730505600, end_time=1730592000)
    second["data"][0]["results"][0]["project_id"] = "p1"
    route = respx.get(f"{OPENAI}/v1/organization/costs").mock(
        side_effect=[httpx.Response(200, json=first), httpx.Response(200, json=second)]
    )
    assert openai().costs(NOV_1, date(2024, 11, 3)) == [
        BilledCost("openai", "p1", NOV_1, Decimal("12.5042")),
        BilledCost("openai", "p1", date(2024, 11, 2), Decimal("0.06")),
    ]
    assert "page" not in route.calls[0].request.url.params
    assert route.calls[1].request.url.params["page"] == "page_2"
    assert route.calls[1].request.url.params["start_time"] == "1730419200"  # the same query, next page


@respx.mock
def test_openai_usage_documented_example() -> None:
    respx.get(f"{OPENAI}/v1/organization/usage/completions").mock(
        side_effect=[
            httpx.Response(200, json=OPENAI_USAGE_EXAMPLE),
            httpx.Response(200, json=last_page(OPENAI_USAGE_EXAMPLE)),
        ]
    )
    rows = openai().usage(NOV_1, date(2024, 11, 2))
    # input_tokens includes the cached and the cache-write tokens: uncached = 1000 - 400 - 100.
    assert rows[0] == UsedTokens("openai", "default", NOV_1, "", 500, 400, 100, 500, 5)
    assert len(rows) == 2


@respx.mock
def test_anthropic_cost_report_is_in_cents() -> None:
    route = respx.get(f"{ANTHROPIC}/v1/organizations/cost_report").mock(
        side_effect=[
            httpx.Response(200, json=ANTHROPIC_COST_EXAMPLE),
            httpx.Response(200, json=last_page({**ANTHROPIC_COST_EXAMPLE, "data": []})),
        ]
    )
    assert anthropic().costs(AUG_1, date(2025, 8, 2)) == [
        BilledCost("anthropic", "wrkspc_01JwQvzr7rXLA5AGx3HKfFUJ", AUG_1, Decimal("1.2378912"))  # "123.78912" cents
    ]
    request = route.calls[0].request
    assert request.headers["x-api-key"] == KEY
    assert request.headers["anthropic-version"] == "2023-06-01"
    assert request.url.params.get_list("group_by[]") == ["workspace_id"]
    assert request.url.params["starting_at"] == "2025-08-01T00:00:00Z"
    assert request.url.params["ending_at"] == "2025-08-02T00:00:00Z"
    assert route.calls[1].request.url.params["page"] == "page_MjAyNS0wNS0xNFQwMDowMDowMFo="


@respx.mock
def test_anthropic_costs_by_model_and_the_default_workspace() -> None:
    page = last_page(ANTHROPIC_COST_EXAMPLE)
    results = page["data"][0]["results"]
    results.append({**results[0], "amount": "50", "token_type": "output_tokens"})
    results.append(
        {"currency": "USD", "amount": "1000", "workspace_id": None, "cost_type": "web_search", "model": None}
    )
    route = respx.get(f"{ANTHROPIC}/v1/organizations/cost_report").respond(json=page)
    assert anthropic().costs(AUG_1, date(2025, 8, 2), by_model=True) == [
        BilledCost("anthropic", "default", AUG_1, Decimal("10"), None),
        BilledCost(
            "anthropic", "wrkspc_01JwQvzr7rXLA5AGx3HKfFUJ", AUG_1, Decimal("1.7378912"), "claude-sonnet-4-20250514"
        ),
    ]
    assert route.calls.last.request.url.params.get_list("group_by[]") == ["workspace_id", "description"]


@respx.mock
def test_anthropic_usage_documented_example() -> None:
    respx.get(f"{ANTHROPIC}/v1/organizations/usage_report/messages").respond(json=last_page(ANTHROPIC_USAGE_EXAMPLE))
    assert anthropic().usage(AUG_1, date(2025, 8, 2)) == [
        UsedTokens(
            "anthropic",
            "wrkspc_01JwQvzr7rXLA5AGx3HKfFUJ",
            AUG_1,
            "claude-sonnet-4-20250514",
            1500,
            200,
            1500,
            500,
            None,
        )
    ]


@respx.mock
def test_429_waits_as_long_as_retry_after_says() -> None:
    sleeps = Sleeps()
    respx.get(f"{OPENAI}/v1/organization/costs").mock(
        side_effect=[
            httpx.Response(429, headers={"retry-after": "7"}, json={"error": {"message": "slow down", "type": "x"}}),
            httpx.Response(503),
            httpx.ConnectError("refused"),
            httpx.Response(200, json=OPENAI_COSTS_EXAMPLE),
        ]
    )
    assert openai(sleeps).costs(NOV_1, date(2024, 11, 2))[0].usd == Decimal("0.06")
    assert sleeps == [7.0, 2.0, 4.0]  # Retry-After, then exponential backoff (1 s, 2 s, 4 s …)


@respx.mock
def test_anthropic_529_overloaded_is_retried() -> None:
    sleeps = Sleeps()
    respx.get(f"{ANTHROPIC}/v1/organizations/cost_report").mock(
        side_effect=[
            httpx.Response(529, json={"type": "error", "error": {"type": "overloaded_error", "message": "busy"}}),
            httpx.Response(200, json=last_page(ANTHROPIC_COST_EXAMPLE)),
        ]
    )
    assert len(anthropic(sleeps).costs(AUG_1, date(2025, 8, 2))) == 1
    assert sleeps == [1.0]


@respx.mock
def test_retries_run_out_with_an_error_naming_the_status() -> None:
    respx.get(f"{OPENAI}/v1/organization/costs").respond(
        500, json={"error": {"message": "boom", "type": "server_error"}}
    )
    with pytest.raises(
        BillingApiError,
        match=r"openai: GET /v1/organization/costs answered 500 after 6 attempts: "
        r"server_error: boom",
    ):
        openai().costs(NOV_1, date(2024, 11, 2))


@respx.mock
def test_a_retry_after_too_long_stops_instead_of_hanging() -> None:
    respx.get(f"{OPENAI}/v1/organization/costs").respond(429, headers={"retry-after": "3600"})
    with pytest.raises(BillingApiError, match="asks to retry after 3600 s"):
        openai().costs(NOV_1, date(2024, 11, 2))


@respx.mock
def test_a_refused_key_is_named_not_shown() -> None:
    body = {"type": "error", "error": {"type": "authentication_error", "message": "invalid x-api-key"}}
    respx.get(f"{ANTHROPIC}/v1/organizations/cost_report").respond(401, json=body)
    with pytest.raises(BillingApiError) as caught:
        anthropic().costs(AUG_1, date(2025, 8, 2))
    message = str(caught.value)
    assert "answered 401: authentication_error: invalid x-api-key" in message
    assert "admin key" in message
    assert KEY not in message


def _openai_costs(mutate: Any) -> dict[str, Any]:
    page = copy.deepcopy(OPENAI_COSTS_EXAMPLE)
    mutate(page)
    return page


@pytest.mark.parametrize(
    ("page", "message"),
    [
        (_openai_costs(lambda p: p.pop("has_more")), "no boolean has_more"),
        (_openai_costs(lambda p: p.update(has_more=True, next_page=None)), "has_more is true but next_page is None"),
        (_openai_costs(lambda p: p["data"][0].update(results={"a": 1})), "data.0.results"),
        (_openai_costs(lambda p: p["data"][0]["results"][0]["amount"].update(value="lots")), "amount.value"),
        (_openai_costs(lambda p: p["data"][0]["results"][0]["amount"].pop("value")), "amount.value"),
        (_openai_costs(lambda p: p["data"][0]["results"][0]["amount"].update(currency="eur")), "not USD"),
        (_openai_costs(lambda p: p["data"][0].update(end_time=1730419200 + 3600)), "is not one UTC day"),
        (_openai_costs(lambda p: p["data"][0]["results"][0].update(object="organization.usage.x")), "object"),
        (_openai_costs(lambda p: p.pop("data")), "data: Field required"),
    ],
)
def test_a_response_not_of_the_documented_shape_is_an_error_not_zero(page: dict[str, Any], message: str) -> None:
    with respx.mock:
        respx.get(f"{OPENAI}/v1/organization/costs").respond(json=page)
        with pytest.raises(BillingApiError, match=message):
            openai().costs(NOV_1, date(2024, 11, 2))


@respx.mock
def test_a_body_that_is_not_json_is_an_error() -> None:
    respx.get(f"{ANTHROPIC}/v1/organizations/cost_report").respond(200, text="<html>maintenance</html>")
    with pytest.raises(BillingApiError, match="not JSON"):
        anthropic().costs(AUG_1, date(2025, 8, 2))


@respx.mock
def test_a_cursor_that_repeats_is_an_error_not_a_loop() -> None:
    page = {**copy.deepcopy(ANTHROPIC_COST_EXAMPLE), "next_page": "same"}
    respx.get(f"{ANTHROPIC}/v1/organizations/cost_report").respond(json=page)
    with pytest.raises(BillingApiError, match="next_page 'same' came back twice"):
        anthropic().costs(AUG_1, date(2025, 8, 2))


@respx.mock
def test_anthropic_amount_must_be_a_decimal() -> None:
    page = last_page(ANTHROPIC_COST_EXAMPLE)
    page["data"][0]["results"][0]["amount"] = "NaN"
    respx.get(f"{ANTHROPIC}/v1/organizations/cost_report").respond(content=json.dumps(page).encode())
    with pytest.raises(BillingApiError, match="amount"):
        anthropic().costs(AUG_1, date(2025, 8, 2))
