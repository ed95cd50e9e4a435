"""``llm_cost_tracker_*``: how the exporter itself is doing."""

from __future__ import annotations

import platform
from importlib.metadata import version

from google.protobuf.internal import api_implementation
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, Info

from llm_cost_tracker import __version__
from llm_cost_tracker.exporter import decode

SPAN_RESULTS = {
    "accepted": ("genai",),
    "duplicate": ("same_call",),
    "ignored": ("not_genai", "aggregate", "source_uses_metrics"),
    "rejected": ("missing_usage", "invalid_usage", "invalid_model", "implausible_usage", "project_not_allowed"),
}
POINT_RESULTS = {
    "accepted": ("genai",),
    "ignored": (
        "not_genai",
        "source_uses_spans",
        "no_change",
        "first_cumulative_point",
        "reported_cost_unused",
    ),
    "rejected": ("missing_model", "invalid_value", "implausible_usage", "project_not_allowed"),
}
REQUEST_ERRORS = (
    "decode_error",
    "body_too_large",
    "unsupported_media_type",
    "unsupported_encoding",
    "bad_compression",
    "method_not_allowed",
    "unauthenticated",
    "forbidden",
    "throttled",
    "internal_error",
)


def is_compiled() -> bool:
    """Whether the hot path runs as mypyc-compiled C (see setup.py) or as Python."""
    return not (decode.__file__ or "").endswith(".py")


class SelfMetrics:
    """The exporter's own metrics, registered on the registry it is given."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.otlp_requests = Counter(
            "llm_cost_tracker_otlp_requests",
            "OTLP/HTTP export requests by signal, encoding and response code.",
            ("signal", "encoding", "code"),
            registry=registry,
        )
        self.otlp_request_errors = Counter(
            "llm_cost_tracker_otlp_request_errors",
            "OTLP/HTTP export requests refused, by reason.",
            ("signal", "reason"),
            registry=registry,
        )
        self.spans = Counter(
            "llm_cost_tracker_spans",
            "Spans received, by tenant (org; empty without a tenants file), result (accepted, duplicate, "
            "ignored, rejected) and reason.",
            ("org", "result", "reason"),
            registry=registry,
        )
        self.points = Counter(
            "llm_cost_tracker_data_points",
            "Metric data points received, by tenant (org; empty without a tenants file), result and reason.",
            ("org", "result", "reason"),
            registry=registry,
        )
        self.ingest_seconds = Histogram(
            "llm_cost_tracker_ingest_duration_seconds",
            "Time to decode, normalise, price and count one export request.",
            ("signal",),
            buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0),
            registry=registry,
        )
        self.throttled = Counter(
            "llm_cost_tracker_throttled_requests",
            "OTLP requests refused with 429 because the tenant was over its max_spans_per_second.",
            ("org",),
            registry=registry,
        )
        self.tenant_reads = Counter(
            "llm_cost_tracker_tenant_reads",
            "Requests for /tenants/{org}/metrics and /tenants/{org}/routing, by org, what and response code.",
            ("org", "what", "code"),
            registry=registry,
        )
        self.scrapes = Counter(
            "llm_cost_tracker_scrapes",
            "Requests for /metrics, by format (text, openmetrics or protobuf) and reader (scraper or other).",
            ("format", "reader"),
            registry=registry,
        )
        self.dedupe_entries = Gauge(
            "llm_cost_tracker_dedupe_entries",
            "Provider calls remembered to count duplicate spans once.",
            registry=registry,
        )
        self.metric_streams = Gauge(
            "llm_cost_tracker_cumulative_streams",
            "Cumulative metric streams whose last value is remembered.",
            registry=registry,
        )
        self.reload_success = Gauge(
            "llm_cost_tracker_config_last_reload_successful",
            "Whether the last configuration reload succeeded.",
            registry=registry,
        )
        self.reload_timestamp = Gauge(
            "llm_cost_tracker_config_last_reload_success_timestamp_seconds",
            "Time of the last successful configuration load.",
            registry=registry,
        )
        build = Info("llm_cost_tracker_build", "Build information.", registry=registry)
        build.info(
            {
                "version": __version__,
                "genai_prices_version": version("genai-prices"),
                "protobuf_backend": api_implementation.Type(),
                "hot_path": "compiled" if is_compiled() else "python",
                "python_version": platform.python_version(),
            }
        )
        # Series exist at 0 before the first event, so rate() and alerts see them.
        self.add_org("")
        for signal in ("traces", "metrics", "logs"):
            for reason in REQUEST_ERRORS:
                self.otlp_request_errors.labels(signal, reason)
        for fmt in ("text", "protobuf"):
            for reader in ("scraper", "other"):
                self.scrapes.labels(fmt, reader)
        self.reload_success.set(1)
        self.reload_timestamp.set_to_current_time()

    def add_org(self, org: str) -> None:
        """Create a tenant's span and point series at 0 (``""``: the open exporter's)."""
        for result, reasons in SPAN_RESULTS.items():
            for reason in reasons:
                self.spans.labels(org, result, reason)
        for result, reasons in POINT_RESULTS.items():
            for reason in reasons:
                self.points.labels(org, result, reason)
        if org:
            self.throttled.labels(org)
