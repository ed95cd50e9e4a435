"""The stock OpenTelemetry SDK set up as every capture script needs it: the corpus resource, OTLP/HTTP protobuf.

Imported by the capture scripts (run in their own venvs), never by the project. ``OTEL_EXPORTER_OTLP_ENDPOINT``
(default ``http://127.0.0.1:4320``) points at ``tests.corpus._capture.receiver``. Nothing is exported before
``shutdown()``, so each signal arrives as one payload (the metrics as one cumulative export).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

from opentelemetry import _logs, metrics, trace
from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import BatchLogRecordProcessor
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor

RESOURCE = {
    "service.name": "checkout-assistant",
    "service.version": "1.4.2",
    "service.namespace": "shop",
    "deployment.environment.name": "staging",
    "tenant.project": "checkout",
}
HOUR_MS = 3_600_000


def endpoint(signal: str) -> str:
    return os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:4320").rstrip("/") + f"/v1/{signal}"


def setup(*, set_global: bool = True) -> tuple[TracerProvider, MeterProvider, LoggerProvider]:
    resource = Resource.create(RESOURCE)
    tracer_provider = TracerProvider(resource=resource)
    tracer_provider.add_span_processor(
        BatchSpanProcessor(OTLPSpanExporter(endpoint=endpoint("traces")), schedule_delay_millis=HOUR_MS)
    )
    reader = PeriodicExportingMetricReader(
        OTLPMetricExporter(endpoint=endpoint("metrics")), export_interval_millis=HOUR_MS
    )
    meter_provider = MeterProvider(resource=resource, metric_readers=[reader])
    logger_provider = LoggerProvider(resource=resource)
    logger_provider.add_log_record_processor(
        BatchLogRecordProcessor(OTLPLogExporter(endpoint=endpoint("logs")), schedule_delay_millis=HOUR_MS)
    )
    if set_global:
        trace.set_tracer_provider(tracer_provider)
        metrics.set_meter_provider(meter_provider)
        _logs.set_logger_provider(logger_provider)
    return tracer_provider, meter_provider, logger_provider


@contextmanager
def session(tracer_provider: TracerProvider) -> Iterator[None]:
    """The non-GenAI app span ``checkout.session`` that holds every call of a run."""
    tracer = tracer_provider.get_tracer("checkout-assistant.app")
    with tracer.start_as_current_span("checkout.session", attributes={"app.user_tier": "gold"}):
        yield


def shutdown(tracer_provider: TracerProvider, meter_provider: MeterProvider, logger_provider: LoggerProvider) -> None:
    """Traces first, then logs, then metrics: the order the existing corpus folders arrived in."""
    tracer_provider.shutdown()
    logger_provider.shutdown()
    meter_provider.shutdown()
