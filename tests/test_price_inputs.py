"""What a span says beyond tokens that changes its price: the cloud that served it, audio tokens, web searches."""

from __future__ import annotations

import orjson
import pytest

from llm_cost_tracker.exporter.dialects import cloud_provider
from tests.conftest import LiveServer, usage_by_model
from tests.test_otlp_http import JSON, genai_span_json


def send(server: LiveServer, **attributes: object) -> None:
    assert server.post("/v1/traces", genai_span_json(**attributes), JSON).status_code == 200


def labels_of(server: LiveServer, model: str) -> dict[str, str]:
    return next(
        labels for name, labels, _ in server.samples() if name == "llm_cost_usd_total" and labels["model"] == model
    )


@pytest.mark.parametrize(
    ("model", "named", "expected"),
    [
        ("us.anthropic.claude-sonnet-4-5-20250929-v1:0", "", "aws.bedrock"),
        ("global.anthropic.claude-sonnet-4-5-20250929-v1:0", "anthropic", "aws.bedrock"),
        ("anthropic.claude-3-5-sonnet-20241022-v2:0", "anthropic", "aws.bedrock"),
        ("amazon.nova-pro-v1:0", "", "aws.bedrock"),
        ("arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.anthropic.claude-sonnet-4-5", "", "aws.bedrock"),
        ("bedrock/eu.anthropic.claude-sonnet-4-20250514-v1:0", "", "aws.bedrock"),
        ("claude-sonnet-4-5@20250929", "", "gcp.vertex_ai"),
        ("claude-3-5-sonnet-v2@20241022", "anthropic", "gcp.vertex_ai"),
        ("publishers/google/models/gemini-2.5-pro", "", "gcp.vertex_ai"),
        ("gpt-35-turbo", "", "azure.ai.openai"),
        ("gpt-35-turbo-16k", "openai", "azure.ai.openai"),
        # What the shape does not prove stays as the span says.
        ("claude-sonnet-4-5-20250929", "anthropic", "anthropic"),
        ("claude-sonnet-4-5-20250929", "", ""),
        ("gpt-4o", "azure.ai.openai", "azure.ai.openai"),
        ("us.anthropic.claude-sonnet-4-5-20250929-v1:0", "gcp.vertex_ai", "gcp.vertex_ai"),
    ],
)
def test_cloud_id_shapes(model: str, named: str, expected: str) -> None:
    assert cloud_provider(model, named) == expected


def test_a_bedrock_id_without_a_provider_is_priced_as_bedrock(server: LiveServer) -> None:
    model = "us.anthropic.claude-sonnet-4-5-20250929-v1:0"
    send(
        server, **{"gen_ai.request.model": model, "gen_ai.usage.input_tokens": 1000, "gen_ai.usage.output_tokens": 100}
    )
    assert labels_of(server, model)["provider"] == "aws.bedrock"
    # Bedrock's in-region price (10 % above Anthropic's API): 1000 x 3.30 + 100 x 16.50.
    assert usage_by_model(server.samples())[model].cost == pytest.approx((1000 * 3.3 + 100 * 16.5) / 1e6)


def test_a_vertex_id_is_priced_as_vertex(server: LiveServer) -> None:
    model = "claude-sonnet-4@20250514"
    send(
        server,
        **{
            "gen_ai.system": "anthropic",
            "gen_ai.request.model": model,
            "gen_ai.usage.input_tokens": 250_000,
            "gen_ai.usage.output_tokens": 1000,
        },
    )
    assert labels_of(server, model)["provider"] == "gcp.vertex_ai"
    # Above 200k input tokens, the long-context rates: 250000 x 6 + 1000 x 22.50.
    assert usage_by_model(server.samples())[model].cost == pytest.approx((250_000 * 6 + 1000 * 22.5) / 1e6)


def test_audio_tokens_at_the_audio_rate(server: LiveServer) -> None:
    # OpenInference's attributes: 1000 prompt tokens, 800 of them audio; 500 completion tokens, 400 audio.
    send(
        server,
        **{
            "openinference.span.kind": "LLM",
            "llm.provider": "openai",
            "llm.model_name": "gpt-4o-audio-preview-2025-06-03",
            "llm.token_count.prompt": 1000,
            "llm.token_count.prompt_details.audio": 800,
            "llm.token_count.completion": 500,
            "llm.token_count.completion_details.audio": 400,
        },
    )
    cost = usage_by_model(server.samples())["gpt-4o-audio-preview-2025-06-03"].cost
    assert cost == pytest.approx((200 * 2.5 + 800 * 40 + 100 * 10 + 400 * 80) / 1e6)


def test_gemini_audio_input(server: LiveServer) -> None:
    send(
        server,
        **{
            "gen_ai.provider.name": "gcp.gemini",
            "gen_ai.request.model": "gemini-2.5-flash",
            "gen_ai.usage.input_tokens": 10_000,
            "gen_ai.usage.audio.input_tokens": 8000,
            "gen_ai.usage.output_tokens": 500,
        },
    )
    cost = usage_by_model(server.samples())["gemini-2.5-flash"].cost
    assert cost == pytest.approx((2000 * 0.3 + 8000 * 1.0 + 500 * 2.5) / 1e6)


def test_web_searches_from_anthropics_usage_in_the_response(server: LiveServer) -> None:
    response = {
        "id": "msg_01XFDUDYJgAACzvnptvVoYEL",
        "model": "claude-sonnet-4-5-20250929",
        "usage": {"input_tokens": 1000, "output_tokens": 100, "server_tool_use": {"web_search_requests": 3}},
    }
    send(
        server,
        **{
            "openinference.span.kind": "LLM",
            "llm.provider": "anthropic",
            "llm.model_name": "claude-sonnet-4-5-20250929",
            "llm.token_count.prompt": 1000,
            "llm.token_count.completion": 100,
            "output.value": orjson.dumps(response).decode(),
        },
    )
    cost = usage_by_model(server.samples())["claude-sonnet-4-5-20250929"].cost
    assert cost == pytest.approx((1000 * 3 + 100 * 15) / 1e6 + 3 * 0.01)


def test_web_searches_from_an_attribute(server: LiveServer) -> None:
    send(
        server,
        **{
            "gen_ai.provider.name": "openai",
            "gen_ai.request.model": "gpt-4o",
            "gen_ai.usage.input_tokens": 1000,
            "gen_ai.usage.output_tokens": 100,
            "gen_ai.usage.web_search_requests": 2,
        },
    )
    cost = usage_by_model(server.samples())["gpt-4o"].cost
    assert cost == pytest.approx((1000 * 2.5 + 100 * 10) / 1e6 + 2 * 0.01)
