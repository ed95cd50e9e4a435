"""Provider-reported cost (openlit's gen_ai.usage.cost, litellm's gen_ai.cost.total_cost): only when configured."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from tests.conftest import CORPUS, LiveServer, sample_value, usage_by_model
from tests.corpus_truth import LITELLM, SONNET_CALL_6
from tests.test_otlp_http import JSON, PROTOBUF, genai_span_json


def post(server: LiveServer, folder: str, signal: str = "traces") -> None:
    body = next((CORPUS / folder).glob(f"{signal}-*.pb")).read_bytes()
    assert server.post(f"/v1/{signal}", body, PROTOBUF).status_code == 200


def test_litellm_reported_cost_preferred_for_one_app(start_server: Callable[..., LiveServer]) -> None:
    server = start_server(
        ingest={"sources": [{"match": {"service.name": "checkout-assistant"}, "reported_cost": "prefer"}]}
    )
    post(server, "litellm")
    usage = usage_by_model(server.samples())
    # litellm knew the cached tokens its spans do not carry: its cost is the true one...
    assert usage["gpt-4o-2024-08-06"].cost == pytest.approx(0.003645)
    assert usage["o3-mini"].cost == pytest.approx(0.0049456)
    # ...but it had no price for the Anthropic model: the catalog prices those calls.
    assert usage["claude-3-5-sonnet-20241022"].cost == pytest.approx(LITELLM["claude-3-5-sonnet-20241022"].cost)
    # Tokens are what the spans say either way.
    assert usage["gpt-4o-2024-08-06"].tokens == {"input": 1250, "output": 180}


def test_openlit_cost_ignored_by_default(start_server: Callable[..., LiveServer]) -> None:
    server = start_server()
    post(server, "openlit-local-pricing")
    # The catalog price of what the spans report (openlit's own list gives the same numbers here).
    assert usage_by_model(server.samples())["claude-3-5-sonnet-20241022"].cost == pytest.approx(
        SONNET_CALL_6 + (64 * 3 + 77 * 15) / 1e6
    )


def test_litellm_metrics_reported_cost_replaces_the_catalog_per_series(
    start_server: Callable[..., LiveServer],
) -> None:
    server = start_server(
        ingest={"usage_from": "metrics", "cumulative_initial_value": "keep"}, pricing={"reported_cost": "prefer"}
    )
    post(server, "litellm", "metrics")
    usage = usage_by_model(server.samples())
    assert usage["gpt-4o-2024-08-06"].cost == pytest.approx(0.003645)  # litellm's gen_ai.usage.cost histogram
    assert usage["claude-3-5-sonnet-20241022"].cost == pytest.approx(LITELLM["claude-3-5-sonnet-20241022"].cost)


@pytest.mark.parametrize(("policy", "cost", "unpriced"), [("ignore", 0.0, 1), ("fallback", 0.25, 0)])
def test_unknown_models_use_the_reported_cost_only_as_a_fallback(
    start_server: Callable[..., LiveServer], policy: str, cost: float, unpriced: int
) -> None:
    server = start_server(pricing={"reported_cost": policy})
    body = genai_span_json(
        **{
            "gen_ai.provider.name": "vllm",
            "gen_ai.request.model": "in-house-70b",
            "gen_ai.usage.input_tokens": 1000,
            "gen_ai.usage.cost": 0.25,
        }
    )
    assert server.post("/v1/traces", body, JSON).status_code == 200
    samples = server.samples()
    assert usage_by_model(samples)["in-house-70b"].cost == pytest.approx(cost)
    assert sample_value(samples, "llm_unpriced_requests_total", model="in-house-70b") == unpriced
