"""The alias table and the token arithmetic, on plain data."""

from __future__ import annotations

import pytest

from llm_cost_tracker.exporter.aliases import ALIASES, canonical_attributes
from llm_cost_tracker.exporter.dialects import normalise_operation, normalise_provider
from llm_cost_tracker.exporter.normalise import (
    REJECTED_INVALID_USAGE,
    InvalidUsage,
    SpanNormaliser,
    as_token_count,
    split_tokens,
)
from llm_cost_tracker.labels import LabelMapping, LabelSource
from llm_cost_tracker.usage import UsageRecord

LABELS = LabelMapping((), "default", (LabelSource("resource", "service.name"),), "unknown")


def normalise(attrs: dict[str, object], *, status: int = 0, scope: str = "s") -> UsageRecord | str:
    normaliser = SpanNormaliser(LABELS)
    fields = canonical_attributes([k for k in attrs if k in ALIASES], attrs, lambda v: v, ALIASES)
    return normaliser(fields, {"service.name": "app"}, None, scope, status, 1, 2, b"span")


def test_split_tokens_follows_the_conventions() -> None:
    assert split_tokens(1536, 1280, 0, 900, 640, cache_in_input=True) == (256, 1280, 0, 260, 640)


def test_split_tokens_detects_parts_reported_apart() -> None:
    # openlit's Anthropic input excludes the cache: a part larger than the total gives it away.
    assert split_tokens(128, 4096, 2048, 256, 0, cache_in_input=True) == (128, 4096, 2048, 256, 0)
    # Reasoning reported beside, not inside, the output.
    assert split_tokens(10, 0, 0, 5, 40, cache_in_input=True) == (10, 0, 0, 5, 40)
    # A source known to exclude cache, even when the uncached part is the larger.
    assert split_tokens(5000, 100, 0, 1, 0, cache_in_input=False) == (5000, 100, 0, 1, 0)


@pytest.mark.parametrize(("value", "count"), [(12, 12), (12.0, 12), ("12", 12), (0, 0)])
def test_token_counts_accept_ints_whole_floats_and_digit_strings(value: object, count: int) -> None:
    assert as_token_count(value) == count


@pytest.mark.parametrize("value", [-1, 1.5, float("nan"), float("inf"), "1e3", True, None, [1], 10**12])
def test_token_counts_refuse_everything_else(value: object) -> None:
    with pytest.raises(InvalidUsage):
        as_token_count(value)


def test_provider_and_operation_names() -> None:
    assert normalise_provider("OpenAI") == "openai"
    assert normalise_provider("az.ai.openai") == "azure.ai.openai"
    assert normalise_provider("vertex_ai") == "gcp.vertex_ai"
    assert normalise_provider("gemini") == "gcp.gemini"
    assert normalise_provider(None) == ""
    assert normalise_operation("embedding") == "embeddings"
    assert normalise_operation("completion") == "text_completion"
    assert normalise_operation(None) == "unknown"


def test_first_alias_wins_whatever_the_attribute_order() -> None:
    attrs = {"llm.token_count.prompt": 5, "gen_ai.usage.input_tokens": 7, "gen_ai.usage.prompt_tokens": 6}
    fields = canonical_attributes(list(attrs), attrs, lambda v: v, ALIASES)
    assert fields["input_tokens"] == 7
    fields = canonical_attributes(list(reversed(attrs)), attrs, lambda v: v, ALIASES)
    assert fields["input_tokens"] == 7


def test_empty_strings_fall_through_to_the_next_alias() -> None:
    # litellm writes gen_ai.system="" on embeddings; llm.system may still say who it was.
    attrs = {"gen_ai.system": "", "llm.system": "OpenAI"}
    assert canonical_attributes(list(attrs), attrs, lambda v: v, ALIASES)["provider"] == "OpenAI"


def test_legacy_openllmetry_attributes() -> None:
    record = normalise(
        {
            "gen_ai.system": "OpenAI",
            "llm.request.type": "chat",
            "gen_ai.request.model": "gpt-4o",
            "gen_ai.usage.prompt_tokens": 100,
            "gen_ai.usage.completion_tokens": 20,
            "gen_ai.usage.cache_read_input_tokens": 60,
        }
    )
    assert isinstance(record, UsageRecord)
    assert record.labels == ("default", "app", "openai", "gpt-4o", "chat")
    assert record.tokens == (40, 60, 0, 20, 0)


def test_app_written_genai_attributes_on_an_internal_span_count() -> None:
    record = normalise({"gen_ai.request.model": "llama-3", "gen_ai.usage.input_tokens": 9}, scope="my.app")
    assert isinstance(record, UsageRecord)
    assert record.tokens == (9, 0, 0, 0, 0)
    assert record.labels[4] == "unknown"


def test_a_model_attribute_alone_is_not_a_call() -> None:
    assert normalise({"gen_ai.request.model": "gpt-4o"}) == "not_genai"


def test_a_genai_client_span_without_usage_is_a_call_without_usage() -> None:
    # The ingestor rejects it (missing_usage), unless another span of the same call has the usage.
    record = normalise({"gen_ai.request.model": "gpt-4o", "gen_ai.operation.name": "chat"})
    assert isinstance(record, UsageRecord)
    assert (record.ok, record.has_usage) == (True, False)


def test_a_failed_call_counts_as_an_error_without_tokens() -> None:
    record = normalise({"gen_ai.request.model": "gpt-4o", "error.type": "RateLimitError"})
    assert isinstance(record, UsageRecord)
    assert (record.ok, record.tokens, record.has_usage) == (False, (0, 0, 0, 0, 0), False)
    record = normalise({"gen_ai.request.model": "gpt-4o", "gen_ai.operation.name": "chat"}, status=2)
    assert isinstance(record, UsageRecord)
    assert not record.ok


def test_invalid_usage_is_rejected() -> None:
    assert normalise({"gen_ai.request.model": "m", "gen_ai.usage.output_tokens": -1}) == REJECTED_INVALID_USAGE


def test_openlit_anthropic_input_excludes_cache() -> None:
    attrs = {
        "gen_ai.provider.name": "anthropic",
        "gen_ai.request.model": "claude-3-5-sonnet-20241022",
        "gen_ai.usage.input_tokens": 5000,
        "gen_ai.usage.cache_read.input_tokens": 100,
        "telemetry.sdk.name": "openlit",
    }
    record = normalise(attrs)
    assert isinstance(record, UsageRecord)
    assert record.tokens[:2] == (5000, 100)


def test_litellm_prefixed_model_names_give_the_provider() -> None:
    record = normalise(
        {
            "gen_ai.request.model": "claude-3-5-sonnet",
            "litellm.provider.model": "anthropic/claude-3-5-sonnet",
            "gen_ai.usage.input_tokens": 1,
        }
    )
    assert isinstance(record, UsageRecord)
    assert record.labels[2] == "anthropic"


def test_response_id_identifies_the_call_across_spans() -> None:
    a = normalise(
        {
            "gen_ai.request.model": "m",
            "gen_ai.provider.name": "x",
            "gen_ai.response.id": "r1",
            "gen_ai.usage.input_tokens": 1,
        }
    )
    b = normalise({"gen_ai.request.model": "m", "gen_ai.provider.name": "x", "gen_ai.usage.input_tokens": 1})
    assert isinstance(a, UsageRecord)
    assert isinstance(b, UsageRecord)
    assert a.dedupe_key == "x\x1fr1"
    assert b.dedupe_key == b"span"


def test_span_attribute_labels() -> None:
    labels = LabelMapping((LabelSource("span", "app.org"),), "none", (LabelSource("span", "gen_ai.system"),), "?")
    normaliser = SpanNormaliser(labels)
    attrs = {"app.org": "acme", "gen_ai.system": "openai", "gen_ai.request.model": "m", "gen_ai.usage.input_tokens": 1}
    fields = canonical_attributes(list(attrs), attrs, lambda v: v, normaliser.aliases)
    record = normaliser(fields, {}, None, "s", 0, 0, 0, b"k")
    assert isinstance(record, UsageRecord)
    assert record.labels[:2] == ("acme", "openai")


def test_the_proposed_cost_attributes_in_usd_are_a_reported_cost() -> None:
    base = {"gen_ai.request.model": "m", "gen_ai.provider.name": "x", "gen_ai.usage.input_tokens": 10}
    usd = normalise({**base, "gen_ai.usage.cost.amount": 0.25, "gen_ai.usage.cost.currency": "USD"})
    assert isinstance(usd, UsageRecord)
    assert usd.reported_cost_usd == 0.25
    eur = normalise({**base, "gen_ai.usage.cost.amount": 0.25, "gen_ai.usage.cost.currency": "EUR"})
    assert isinstance(eur, UsageRecord)
    assert eur.reported_cost_usd is None  # not a cost in US dollars
    pydantic_ai = normalise({**base, "operation.cost": 0.003645})
    assert isinstance(pydantic_ai, UsageRecord)
    assert pydantic_ai.reported_cost_usd == 0.003645


def test_the_conventions_current_cache_write_key() -> None:
    record = normalise(
        {
            "gen_ai.request.model": "claude-sonnet-4-5",
            "gen_ai.provider.name": "anthropic",
            "gen_ai.usage.input_tokens": 6272,
            "gen_ai.usage.cache_read.input_tokens": 4096,
            "gen_ai.usage.cache_write.input_tokens": 2048,
            "gen_ai.usage.output_tokens": 256,
        }
    )
    assert isinstance(record, UsageRecord)
    assert record.tokens == (128, 4096, 2048, 256, 0)


def test_agent_spans_are_not_calls() -> None:
    for operation in ("invoke_agent", "execute_event_loop_cycle", "agent_step", "ai.generateText", "CHAIN"):
        attrs = {"gen_ai.request.model": "gpt-4o", "gen_ai.operation.name": operation, "gen_ai.usage.input_tokens": 9}
        assert normalise(attrs) == "aggregate", operation


def test_openinference_models_come_from_the_invocation_parameters() -> None:
    record = normalise(
        {
            "llm.provider": "openai",
            "llm.model_name": "o3-mini-2025-01-31",
            "llm.invocation_parameters": '{"model": "o3-mini", "reasoning_effort": "medium"}',
            "llm.token_count.prompt": 1536,
            "llm.token_count.completion": 900,
            "llm.token_count.completion_details.reasoning": 640,
            "openinference.span.kind": "LLM",
            "output.value": '{"id":"chatcmpl-Op56Qr78St90Uv12Wx34Yz56Ab78","choices":[]}',
        }
    )
    assert isinstance(record, UsageRecord)
    assert (record.labels[2:], record.price_model) == (("openai", "o3-mini", "chat"), "o3-mini-2025-01-31")
    assert record.dedupe_key == "openai\x1fchatcmpl-Op56Qr78St90Uv12Wx34Yz56Ab78"
    failed = normalise({"llm.provider": "openai", "llm.invocation_parameters": '{"model": "gpt-4o-mini"}'}, status=2)
    assert isinstance(failed, UsageRecord)
    assert (failed.labels[3], failed.ok) == ("gpt-4o-mini", False)


def test_usage_only_in_the_output_value_is_read() -> None:
    record = normalise(
        {
            "llm.provider": "anthropic",
            "llm.model_name": "claude-3-5-sonnet-20241022",
            "openinference.span.kind": "LLM",
            "output.value": '{"id": "msg_01X", "usage": {"input_tokens": 128, "cache_read_input_tokens": 4096,'
            ' "cache_creation_input_tokens": 2048, "output_tokens": 256}}',
        }
    )
    assert isinstance(record, UsageRecord)
    assert record.tokens == (128, 4096, 2048, 256, 0)


def test_provider_names_of_sdks_and_frameworks() -> None:
    assert normalise_provider("openai.responses") == "openai"
    assert normalise_provider("anthropic.messages") == "anthropic"
    assert normalise_provider("strands-agents") == ""
    assert normalise_provider("gcp.vertex_ai") == "gcp.vertex_ai"
    assert normalise_provider("azure.ai.openai") == "azure.ai.openai"


def test_provider_and_operation_are_short_names_not_free_text() -> None:
    from llm_cost_tracker.exporter.dialects import normalise_operation, normalise_provider

    assert normalise_provider("x" * 500) == "x" * 32
    assert normalise_operation("Chat" * 100) == "chat" * 8
    assert normalise_provider("gcp.vertex_ai") == "gcp.vertex_ai"
