"""The protobuf exposition: what Prometheus reads with created-timestamp-zero-ingestion or native histograms."""

from __future__ import annotations

from google.protobuf.internal.decoder import _DecodeVarint32  # type: ignore[attr-defined]
from prometheus_client import CollectorRegistry
from prometheus_client.parser import text_string_to_metric_families

from llm_cost_tracker.exporter import exposition, exposition_proto
from llm_cost_tracker.exporter.ledger import UsageLedger
from llm_cost_tracker.exporter.selfmetrics import SelfMetrics
from tests.clock import parse_now
from tests.conftest import LiveServer, sample_value

PROTOBUF_ACCEPT = (
    "application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited,"
    "application/openmetrics-text;version=1.0.0;q=0.8,text/plain;version=0.0.4;q=0.2,*/*;q=0.1"
)
PROMETHEUS_2_ACCEPT = (
    "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,"
    "text/plain;version=0.0.4;q=0.5,*/*;q=0.1"
)


def families(body: bytes) -> dict[str, object]:
    out: dict[str, object] = {}
    position = 0
    while position < len(body):
        size, position = _DecodeVarint32(body, position)
        family = exposition_proto.MetricFamily()
        family.ParseFromString(body[position : position + size])
        position += size
        out[family.name] = family
    return out


def test_the_same_numbers_as_the_text_with_created_timestamps() -> None:
    created = parse_now("2028-02-29T12:00:00.250Z")
    ledger = UsageLedger(clock=lambda: created)
    key = ("acme", "checkout", "anthropic", "claude-sonnet-4-5", "chat")
    ledger.add(key, (128, 4096, 2048, 256, 0), 13_132_800_000_000, 1, 0, 1.5)  # $0.0131328
    ledger.count_unpriced(("acme", "checkout", "vllm", "m", "not_in_catalog"))
    registry = CollectorRegistry()
    SelfMetrics(registry).ingest_seconds.labels("traces").observe(0.003)
    snapshot = ledger.snapshot()
    decoded = families(
        exposition_proto.delimited(
            [*exposition_proto.ledger_families(snapshot), *exposition_proto.registry_families(registry)]
        )
    )
    cost = decoded["llm_cost_usd_total"]
    assert cost.type == exposition_proto.COUNTER  # type: ignore[attr-defined]
    (metric,) = cost.metric  # type: ignore[attr-defined]
    assert {p.name: p.value for p in metric.label} == dict(zip(exposition.SERIES_LABELS, key, strict=True))
    assert metric.counter.value == 0.0131328
    assert metric.counter.created_timestamp.seconds == int(created)
    assert abs(metric.counter.created_timestamp.nanos - 250_000_000) < 1000  # a float's precision, in ns
    tokens = {
        next(p.value for p in m.label if p.name == "token_type"): m.counter.value
        for m in decoded["llm_tokens_total"].metric  # type: ignore[attr-defined]
    }
    assert tokens == {"input": 128, "cache_read": 4096, "cache_write": 2048, "output": 256}  # no reasoning: no line
    (histogram,) = decoded["llm_request_duration_seconds"].metric  # type: ignore[attr-defined]
    assert histogram.histogram.sample_count == 1
    assert histogram.histogram.sample_sum == 1.5
    assert [b.cumulative_count for b in histogram.histogram.bucket][-1] == 1
    assert histogram.histogram.created_timestamp.seconds == int(created)
    (unpriced,) = decoded["llm_unpriced_requests_total"].metric  # type: ignore[attr-defined]
    assert unpriced.counter.value == 1
    # The exporter's own metrics come along: counters, gauges, histograms, info.
    assert "llm_cost_tracker_spans_total" in decoded
    assert "llm_cost_tracker_build_info" in decoded
    assert decoded["llm_cost_tracker_ingest_duration_seconds"].type == exposition_proto.HISTOGRAM  # type: ignore[attr-defined]
    # And the text says the same.
    text = {s.name: s.value for f in text_string_to_metric_families(exposition.text(snapshot)) for s in f.samples}
    assert text["llm_cost_usd_total"] == metric.counter.value


def test_negotiation_follows_the_accept_header() -> None:
    assert exposition_proto.wants_protobuf(PROTOBUF_ACCEPT)
    assert not exposition_proto.wants_protobuf(PROMETHEUS_2_ACCEPT)
    assert not exposition_proto.wants_protobuf(None)
    assert not exposition_proto.wants_protobuf("*/*")
    assert not exposition_proto.wants_protobuf(
        "application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited;q=0.1,text/plain"
    )


def test_the_web_port_serves_protobuf_to_who_asks(server: LiveServer) -> None:
    import httpx

    from tests.conftest import CORPUS
    from tests.test_otlp_http import PROTOBUF

    server.post("/v1/traces", (CORPUS / "traceloop" / "traces-0001.pb").read_bytes(), PROTOBUF)
    response = httpx.get(f"{server.web_url}/metrics", headers={"Accept": PROTOBUF_ACCEPT}, timeout=10)
    assert response.headers["content-type"] == exposition_proto.CONTENT_TYPE
    decoded = families(response.content)
    total = sum(m.counter.value for m in decoded["llm_cost_usd_total"].metric)  # type: ignore[attr-defined]
    assert total == sample_value(server.samples(), "llm_cost_usd_total")
    assert sample_value(server.samples(), "llm_cost_tracker_scrapes_total", format="protobuf") == 1
