"""The real OpenTelemetry SDK, as an app would run it, exporting to a live exporter."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from opentelemetry.exporter.otlp.json.http.trace_exporter import OTLPSpanExporter as JsonSpanExporter
from opentelemetry.exporter.otlp.proto.http import Compression
from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExporter
from opentelemetry.trace import SpanKind, Status, StatusCode

from llm_cost_tracker.exporter.ledger import GENAI_DURATION_BUCKETS
from tests.conftest import LiveServer, sample_value, usage_by_model

RESOURCE = Resource.create({"service.name": "checkout-assistant", "tenant.org": "acme"})


def make_calls(exporter: SpanExporter) -> None:
    """Three calls as openai-v2 would record them, plus an app span, exported as the SDK does."""
    provider = TracerProvider(resource=RESOURCE)
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("opentelemetry.instrumentation.openai_v2")
    with tracer.start_as_current_span("checkout.session"):
        with tracer.start_as_current_span("chat gpt-4o", kind=SpanKind.CLIENT) as span:
            span.set_attributes(
                {
                    "gen_ai.operation.name": "chat",
                    "gen_ai.provider.name": "openai",
                    "gen_ai.request.model": "gpt-4o",
                    "gen_ai.response.model": "gpt-4o-2024-08-06",
                    "gen_ai.response.id": "chatcmpl-sdk-1",
                    "gen_ai.usage.input_tokens": 1250,
                    "gen_ai.usage.cache_read.input_tokens": 1024,
                    "gen_ai.usage.output_tokens": 180,
                    "gen_ai.input.messages": '[{"role": "user", "content": "a secret prompt"}]',
                }
            )
        with tracer.start_as_current_span("chat gpt-4o", kind=SpanKind.CLIENT) as span:
            span.set_attributes({"gen_ai.operation.name": "chat", "gen_ai.request.model": "gpt-4o"})
            span.set_attribute("error.type", "RateLimitError")
            span.set_status(Status(StatusCode.ERROR, "429"))
        with tracer.start_as_current_span("embeddings", kind=SpanKind.CLIENT) as span:
            span.set_attributes(
                {
                    "gen_ai.operation.name": "embeddings",
                    "gen_ai.provider.name": "openai",
                    "gen_ai.request.model": "text-embedding-3-small",
                    "gen_ai.usage.input_tokens": 17,
                }
            )
    provider.shutdown()


@pytest.mark.parametrize("exporter_kind", ["protobuf", "protobuf+gzip", "json"])
def test_sdk_span_exporters(start_server: Callable[..., LiveServer], exporter_kind: str) -> None:
    server = start_server(labels={"org": {"from": ["resource:tenant.org"], "default": "default"}})
    endpoint = f"{server.otlp_url}/v1/traces"
    exporter: SpanExporter
    if exporter_kind == "json":
        exporter = JsonSpanExporter(endpoint=endpoint)
    else:
        compression = Compression.Gzip if exporter_kind.endswith("gzip") else Compression.NoCompression
        exporter = OTLPSpanExporter(endpoint=endpoint, compression=compression)
    make_calls(exporter)

    samples = server.samples()
    usage = usage_by_model(samples)
    assert usage["gpt-4o"].tokens == {"input": 226, "cache_read": 1024, "output": 180}
    assert usage["gpt-4o"].cost == pytest.approx(0.003645)
    assert (usage["gpt-4o"].ok, usage["gpt-4o"].error) == (1, 1)
    assert usage["text-embedding-3-small"].tokens == {"input": 17}
    # Labels come from the resource: org mapped from tenant.org, project from service.name.
    assert sample_value(samples, "llm_requests_total", org="acme", project="checkout-assistant", model="gpt-4o") == 2
    # Prompts and ids never become labels.
    text = server.metrics_text()
    assert "secret prompt" not in text
    assert "chatcmpl-sdk-1" not in text
    assert sample_value(samples, "llm_cost_tracker_spans_total", result="ignored", reason="not_genai") == 1


def test_sdk_metric_exporter_cumulative_pushes_count_growth_once(start_server: Callable[..., LiveServer]) -> None:
    # Default: the first point counts if its stream started after the exporter did, as the SDK's clock says.
    server = start_server(ingest={"usage_from": "metrics"}, real_clock=True)
    reader = PeriodicExportingMetricReader(
        OTLPMetricExporter(endpoint=f"{server.otlp_url}/v1/metrics"), export_interval_millis=3_600_000
    )
    provider = MeterProvider(resource=RESOURCE, metric_readers=[reader])
    meter = provider.get_meter("opentelemetry.instrumentation.openai_v2")
    tokens = meter.create_histogram("gen_ai.client.token.usage", unit="{token}")
    # As the instrumentations do: the GenAI conventions' advisory boundaries, which are ours too.
    duration = meter.create_histogram(
        "gen_ai.client.operation.duration", unit="s", explicit_bucket_boundaries_advisory=GENAI_DURATION_BUCKETS
    )
    attributes = {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "openai",
        "gen_ai.request.model": "gpt-4o-mini",
        "gen_ai.response.model": "gpt-4o-mini-2024-07-18",
    }

    def call(input_tokens: int, output_tokens: int) -> None:
        tokens.record(input_tokens, {**attributes, "gen_ai.token.type": "input"})
        tokens.record(output_tokens, {**attributes, "gen_ai.token.type": "output"})
        duration.record(0.3, attributes)

    call(42, 12)
    reader.force_flush()
    call(100, 20)
    reader.force_flush()
    reader.force_flush()  # a cumulative push with nothing new
    provider.shutdown()

    samples = server.samples()
    usage = usage_by_model(samples)["gpt-4o-mini"]
    assert usage.tokens == {"input": 142, "output": 32}
    assert usage.ok == 2
    assert usage.cost == pytest.approx((142 * 0.15 + 32 * 0.60) / 1e6)
    # The histogram is per (org, project, provider, operation) by default: no model label.
    assert sample_value(samples, "llm_request_duration_seconds_count", provider="openai", operation="chat") == 2
    assert sample_value(samples, "llm_request_duration_seconds_bucket", provider="openai", le="0.32") == 2


def test_sdk_spans_are_ignored_for_an_app_switched_to_metrics(start_server: Callable[..., LiveServer]) -> None:
    server = start_server(
        ingest={"sources": [{"match": {"service.name": "checkout-assistant"}, "usage_from": "metrics"}]}
    )
    make_calls(OTLPSpanExporter(endpoint=f"{server.otlp_url}/v1/traces"))
    samples = server.samples()
    assert usage_by_model(samples) == {}
    assert sample_value(samples, "llm_cost_tracker_spans_total", reason="source_uses_metrics") == 3
    assert sample_value(samples, "llm_cost_tracker_spans_total", reason="not_genai") == 1
