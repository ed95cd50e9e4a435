"""One provider call counts once, from any pair of spans; two calls never count as one.

Spans are built with the OTLP protobuf classes and sent through the real ingest
path (decode → normalise → group → count), in one request or several, in every
order.
"""

from __future__ import annotations

import itertools
import os
from dataclasses import dataclass, field

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from prometheus_client import CollectorRegistry

from llm_cost_tracker.config import load_config
from llm_cost_tracker.exporter.ingest import Ingestor
from llm_cost_tracker.exporter.ledger import UsageLedger
from llm_cost_tracker.exporter.selfmetrics import SelfMetrics
from llm_cost_tracker.pricing.resolver import PriceResolver
from tests.conftest import usage_by_model
from tests.corpus_truth import SONNET, cost

TRACE = os.urandom(16)
SDK, LANGCHAIN, WRAPPER = "com.anthropic.sdk.python", "openinference.instrumentation.langchain", "openinference.x"
SONNET_MODEL = "claude-3-5-sonnet-20241022"
CALL_6 = cost(128, 4096, 2048, 256, prices=SONNET)


@dataclass
class Span:
    scope: str
    start: int
    end: int
    attributes: dict[str, str | int]
    parent: bytes = b""
    status: int = 0
    span_id: bytes = field(default_factory=lambda: os.urandom(8))
    trace_id: bytes = TRACE


def anthropic(scope: str, start: int, end: int, parent: bytes = b"", **usage: int) -> Span:
    attributes: dict[str, str | int] = {
        "gen_ai.provider.name": "anthropic",
        "gen_ai.operation.name": "chat",
        "gen_ai.request.model": SONNET_MODEL,
    }
    attributes.update({f"gen_ai.usage.{k}": v for k, v in usage.items()})
    return Span(scope, start, end, attributes, parent)


def body(*spans: Span) -> bytes:
    request = ExportTraceServiceRequest()
    resource_spans = request.resource_spans.add()
    resource_spans.resource.attributes.add(key="service.name", value=AnyValue(string_value="app"))
    for span in spans:
        scope_spans = resource_spans.scope_spans.add()
        scope_spans.scope.name = span.scope
        out = scope_spans.spans.add()
        out.trace_id, out.span_id, out.parent_span_id = span.trace_id, span.span_id, span.parent
        out.start_time_unix_nano = 1_796_000_000_000_000_000 + span.start * 1_000_000
        out.end_time_unix_nano = 1_796_000_000_000_000_000 + span.end * 1_000_000
        out.status.code = span.status
        for key, value in span.attributes.items():
            any_value = AnyValue(int_value=value) if isinstance(value, int) else AnyValue(string_value=value)
            out.attributes.append(KeyValue(key=key, value=any_value))
    return request.SerializeToString()


def ingest(*requests: tuple[Span, ...]) -> dict[str, object]:
    config = load_config(None)
    ledger = UsageLedger()
    ingestor = Ingestor(config, ledger, SelfMetrics(CollectorRegistry()), PriceResolver())
    for spans in requests:
        ingestor.traces(body(*spans), "protobuf")
    from prometheus_client.parser import text_string_to_metric_families

    samples = [
        (s.name, dict(s.labels), s.value) for f in text_string_to_metric_families(ledger.render()) for s in f.samples
    ]
    return dict(usage_by_model(samples))


def assert_call_6_once(usage: dict[str, object]) -> None:
    got = usage[SONNET_MODEL]
    assert got.tokens == {"input": 128, "cache_read": 4096, "cache_write": 2048, "output": 256}  # type: ignore[attr-defined]
    assert got.cost == pytest.approx(CALL_6, rel=1e-12)  # type: ignore[attr-defined]
    assert (got.ok, got.error) == (1, 0)  # type: ignore[attr-defined]


# LangChain's span reports an inclusive input of 6,272 with no cache write; the SDK's span of the same call
# reports the 2,048 cache-write tokens. Taking the larger of each *split* part would count 2,048 twice.
LANGCHAIN_6 = {
    "input_tokens": 6272,
    "cache_read.input_tokens": 4096,
    "cache_write.input_tokens": 0,
    "output_tokens": 256,
}
SDK_6 = {"input_tokens": 6272, "cache_read.input_tokens": 4096, "cache_write.input_tokens": 2048, "output_tokens": 256}


def pairs() -> list[tuple[str, Span, Span]]:
    """The two spans of call 6 in each relation the instrumentations produce, without a shared response id."""
    siblings = (anthropic(LANGCHAIN, 0, 40, **LANGCHAIN_6), anthropic(SDK, 10, 30, **SDK_6))
    parent = anthropic(WRAPPER, 0, 40, **LANGCHAIN_6)
    child = anthropic(SDK, 10, 30, parent.span_id, **SDK_6)
    return [("siblings", *siblings), ("parent and child", parent, child)]


@pytest.mark.parametrize(("relation", "first", "second"), pairs())
@pytest.mark.parametrize("order", ["one request", "one request, reversed", "two requests", "two requests, reversed"])
def test_two_spans_of_one_call_count_once_at_the_most_complete_report(
    relation: str, first: Span, second: Span, order: str
) -> None:
    a, b = (second, first) if "reversed" in order else (first, second)
    usage = ingest((a, b)) if order.startswith("one") else ingest((a,), (b,))
    assert_call_6_once(usage)


def test_the_mirror_image_cache_write_reported_only_by_the_framework() -> None:
    framework = anthropic(LANGCHAIN, 0, 40, **SDK_6)
    sdk = anthropic(SDK, 10, 30, **LANGCHAIN_6)
    for spans in itertools.permutations((framework, sdk)):
        assert_call_6_once(ingest(spans))


def test_a_source_that_leaves_the_cache_out_of_the_input_merges_with_one_that_does_not() -> None:
    # Traceloop for Node reports Anthropic's input without the cache (128); the SDK's child span with it (6,272).
    parent = anthropic(
        "@traceloop/instrumentation-anthropic", 0, 40, input_tokens=128, output_tokens=256,
        **{"cache_read.input_tokens": 4096, "cache_creation.input_tokens": 2048},
    )  # fmt: skip
    child = anthropic(SDK, 10, 30, parent.span_id, **SDK_6)
    for spans in itertools.permutations((parent, child)):
        assert_call_6_once(ingest(spans))


def test_a_wrapper_without_usage_joins_a_framework_span_and_the_sdk_span_in_any_order() -> None:
    # LangChain's span, beside OpenInference's Anthropic span (no usage: it ended before the stream was read),
    # whose child is the SDK's span: three spans, one call, linked only through the middle one.
    langchain = anthropic(LANGCHAIN, 0, 40, input_tokens=0, output_tokens=256)
    wrapper = anthropic(WRAPPER, 1, 3)
    sdk = anthropic(SDK, 2, 39, wrapper.span_id, **SDK_6)
    for spans in itertools.permutations((langchain, wrapper, sdk)):
        assert_call_6_once(ingest(spans))


def test_two_sequential_calls_of_one_model_in_one_trace_are_two_calls() -> None:
    first = anthropic(SDK, 0, 10, **SDK_6)
    second = anthropic(SDK, 20, 30, **SDK_6)
    usage = ingest((first, second))
    assert usage[SONNET_MODEL].ok == 2  # type: ignore[attr-defined]
    assert usage[SONNET_MODEL].cost == pytest.approx(2 * CALL_6)  # type: ignore[attr-defined]


def test_parallel_calls_of_one_instrumentation_are_never_merged_even_when_they_nest() -> None:
    outer = anthropic(SDK, 0, 40, **SDK_6)
    inner = anthropic(SDK, 10, 30, **SDK_6)  # same scope, inside the other's interval: asyncio.gather
    assert ingest((outer, inner))[SONNET_MODEL].ok == 2  # type: ignore[attr-defined]


def test_a_billed_retry_inside_a_framework_span_counts_both_attempts() -> None:
    framework = anthropic(LANGCHAIN, 0, 100, **SDK_6)
    attempts = (anthropic(SDK, 5, 40, **SDK_6), anthropic(SDK, 50, 95, **SDK_6))
    for spans in itertools.permutations((framework, *attempts)):
        usage = ingest(spans)
        assert usage[SONNET_MODEL].ok == 2, spans  # type: ignore[attr-defined]
        assert usage[SONNET_MODEL].cost == pytest.approx(2 * CALL_6)  # type: ignore[attr-defined]


def test_a_failed_attempt_is_not_the_call_it_was_retried_into() -> None:
    framework = anthropic(LANGCHAIN, 0, 100, **SDK_6)
    failed = anthropic(SDK, 5, 20)
    failed.status = 2
    succeeded = anthropic(SDK, 30, 95, **SDK_6)
    usage = ingest((framework, failed, succeeded))
    assert (usage[SONNET_MODEL].ok, usage[SONNET_MODEL].error) == (1, 1)  # type: ignore[attr-defined]


def test_two_failed_spans_of_one_failed_call_are_one_error() -> None:
    framework, sdk = anthropic(LANGCHAIN, 0, 40), anthropic(SDK, 10, 30)
    framework.status = sdk.status = 2
    assert (ingest((framework, sdk))[SONNET_MODEL].error) == 1  # type: ignore[attr-defined]


def test_different_models_or_providers_are_different_calls() -> None:
    framework = anthropic(LANGCHAIN, 0, 40, **SDK_6)
    other = anthropic(SDK, 10, 30, **SDK_6)
    other.attributes["gen_ai.request.model"] = "claude-3-5-haiku-20241022"
    usage = ingest((framework, other))
    assert usage[SONNET_MODEL].ok == 1  # type: ignore[attr-defined]
    assert usage["claude-3-5-haiku-20241022"].ok == 1  # type: ignore[attr-defined]


def test_a_dated_response_model_is_the_same_model() -> None:
    framework = Span(
        LANGCHAIN,
        0,
        40,
        {
            "llm.provider": "openai",
            "llm.model_name": "gpt-4o-mini",
            "llm.token_count.prompt": 42,
            "llm.token_count.completion": 12,
        },
    )
    sdk = Span(
        "opentelemetry.instrumentation.openai",
        5,
        35,
        {
            "gen_ai.provider.name": "openai",
            "gen_ai.request.model": "gpt-4o-mini",
            "gen_ai.response.model": "gpt-4o-mini-2024-07-18",
            "gen_ai.usage.input_tokens": 42,
            "gen_ai.usage.output_tokens": 12,
        },
    )
    usage = ingest((framework, sdk))
    assert usage["gpt-4o-mini"].ok == 1  # type: ignore[attr-defined]
    assert usage["gpt-4o-mini"].tokens == {"input": 42, "output": 12}  # type: ignore[attr-defined]
