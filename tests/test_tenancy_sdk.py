"""The real OpenTelemetry SDK exporter against a tenant-mode exporter: backs off on 429, gives up on 401."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import pytest
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExportResult
from opentelemetry.trace import SpanKind

from tests.conftest import LiveServer, sample_value
from tests.test_tenancy import TOKENS, tenants_yaml

Start = Callable[..., LiveServer]


def send_calls(exporter: OTLPSpanExporter, count: int) -> None:
    provider = TracerProvider(resource=Resource.create({"service.name": "checkout"}))
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("opentelemetry.instrumentation.openai_v2")
    for _ in range(count):
        with tracer.start_as_current_span("chat gpt-4o", kind=SpanKind.CLIENT) as span:
            span.set_attributes(
                {
                    "gen_ai.operation.name": "chat",
                    "gen_ai.provider.name": "openai",
                    "gen_ai.request.model": "gpt-4o",
                    "gen_ai.usage.input_tokens": 1000,
                    "gen_ai.usage.output_tokens": 100,
                }
            )
    provider.shutdown()


def test_a_throttled_sdk_backs_off_and_every_span_counts_once_let_in(
    start_server: Start, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    tenants = tmp_path / "tenants.yaml"
    tenants.write_text(tenants_yaml(acme_limits="{max_spans_per_second: 4}"))
    server = start_server(tenants_file=str(tenants), real_clock=True)
    # As an app is configured: the token in OTEL_EXPORTER_OTLP_HEADERS (URL-encoded, as the spec says).
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_HEADERS", f"Authorization=Bearer%20{TOKENS['acme-ingest']}")
    exporter = OTLPSpanExporter(endpoint=f"{server.otlp_url}/v1/traces", timeout=30)
    started = time.monotonic()
    send_calls(exporter, 10)
    elapsed = time.monotonic() - started

    samples = server.samples()
    assert sample_value(samples, "llm_requests_total", org="acme", project="checkout") == 10
    throttled = sample_value(samples, "llm_cost_tracker_throttled_requests_total", org="acme")
    assert throttled >= 1
    assert sample_value(samples, "llm_cost_tracker_otlp_requests_total", code="429") == throttled
    assert elapsed >= 1.0  # it waited for Retry-After rather than hammering


def test_an_sdk_with_a_bad_token_is_refused_once_not_retried_forever(
    start_server: Start, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    tenants = tmp_path / "tenants.yaml"
    tenants.write_text(tenants_yaml())
    server = start_server(tenants_file=str(tenants), real_clock=True)
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_HEADERS", "Authorization=Bearer%20lct_revoked")
    exporter = OTLPSpanExporter(endpoint=f"{server.otlp_url}/v1/traces", timeout=30)
    provider = TracerProvider(resource=Resource.create({"service.name": "checkout"}))
    tracer = provider.get_tracer("app")
    with tracer.start_as_current_span("chat", kind=SpanKind.CLIENT) as span:
        span.set_attributes({"gen_ai.request.model": "gpt-4o", "gen_ai.usage.input_tokens": 1})
    started = time.monotonic()
    assert exporter.export([span]) == SpanExportResult.FAILURE  # type: ignore[list-item]
    assert time.monotonic() - started < 2
    samples = server.samples()
    assert sample_value(samples, "llm_cost_tracker_otlp_requests_total", code="401") == 1
    assert sample_value(samples, "llm_requests_total") == 0
