"""Bad input: every payload gets the right status and a self-metric, and nothing it does
crashes the exporter or changes what was already counted."""

from __future__ import annotations

import random
from collections.abc import Callable

import orjson
import pytest
from google.protobuf.message import DecodeError
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.metrics.v1.metrics_pb2 import HistogramDataPoint

from tests.conftest import CORPUS, LiveServer, sample_value, usage_by_model
from tests.test_otlp_http import JSON, PROTOBUF, genai_span_json

TRACELOOP = (CORPUS / "traceloop" / "traces-0001.pb").read_bytes()


def llm_lines(server: LiveServer) -> list[str]:
    """The exposition lines of the usage metrics (not the exporter's own, which count the requests)."""
    return [line for line in server.metrics_text().splitlines() if line.startswith("llm_") and "tracker" not in line]


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        (-5, "invalid_usage"),
        (12.5, "invalid_usage"),
        ("twelve", "invalid_usage"),
        (10**15, "invalid_usage"),
    ],
)
def test_bad_token_counts_reject_the_span_only(server: LiveServer, value: object, reason: str) -> None:
    server.post("/v1/traces", TRACELOOP, PROTOBUF)
    before = llm_lines(server)
    body = genai_span_json(
        **{"gen_ai.request.model": "gpt-4o", "gen_ai.provider.name": "openai", "gen_ai.usage.input_tokens": value}
    )
    response = server.post("/v1/traces", body, JSON)
    assert response.status_code == 200
    assert response.json()["partialSuccess"]["rejectedSpans"] == "1"
    assert llm_lines(server) == before
    assert sample_value(server.samples(), "llm_cost_tracker_spans_total", result="rejected", reason=reason) == 1


def test_huge_attribute_values_are_clipped_and_never_echoed(server: LiveServer) -> None:
    model = "m" * 1_000_000
    prompt = "p" * 5_000_000
    body = genai_span_json(
        **{
            "gen_ai.request.model": model,
            "gen_ai.provider.name": "openai",
            "gen_ai.usage.input_tokens": 10,
            "gen_ai.input.messages": prompt,
        }
    )
    assert server.post("/v1/traces", body, JSON).status_code == 200
    usage = usage_by_model(server.samples())
    assert list(usage) == ["m" * 128]
    assert usage["m" * 128].tokens == {"input": 10}
    assert "ppppp" not in server.metrics_text()


def test_nan_and_negative_metric_values_are_rejected(start_server: Callable[..., LiveServer]) -> None:
    server = start_server(ingest={"usage_from": "metrics", "cumulative_initial_value": "keep"})
    request = ExportMetricsServiceRequest()
    request.ParseFromString((CORPUS / "traceloop-delta-temporality" / "metrics-0002.pb").read_bytes())
    for scope in request.resource_metrics[0].scope_metrics:
        for metric in scope.metrics:
            if metric.name == "gen_ai.client.token.usage":
                metric.histogram.data_points[0].sum = float("nan")
                metric.histogram.data_points[1].sum = -3.0
    response = server.post("/v1/metrics", request.SerializeToString(), PROTOBUF)
    assert response.status_code == 200
    samples = server.samples()
    assert sample_value(samples, "llm_cost_tracker_data_points_total", reason="invalid_value") == 4
    # The valid points still count.
    assert usage_by_model(samples)["o3-mini-2025-01-31"].tokens == {"input": 1536, "output": 900}


def test_ten_thousand_model_names_stay_under_the_series_cap(start_server: Callable[..., LiveServer]) -> None:
    server = start_server(limits={"max_series_per_metric": 50})
    request = ExportTraceServiceRequest()
    scope = request.resource_spans.add().scope_spans.add()
    for i in range(10_000):
        span = scope.spans.add()
        span.span_id = i.to_bytes(8, "big")
        for key, value in (("gen_ai.request.model", f"model-{i}"), ("gen_ai.provider.name", "openai")):
            kv = span.attributes.add()
            kv.key, kv.value.string_value = key, value
        kv = span.attributes.add()
        kv.key, kv.value.int_value = "gen_ai.usage.input_tokens", 1
    assert server.post("/v1/traces", request.SerializeToString(), PROTOBUF).status_code == 200
    samples = server.samples()
    models = usage_by_model(samples)
    assert len(models) == 51  # 50 real series, then the project's 'other' model
    assert models["other"].tokens == {"input": 10_000 - 50}
    assert sum(sum(u.tokens.values()) for u in models.values()) == 10_000  # nothing lost
    assert sample_value(samples, "llm_cost_tracker_series_dropped_total", metric="llm_cost_usd_total") == 10_000 - 50
    unpriced = {labels["model"] for name, labels, _ in samples if name == "llm_unpriced_requests_total"}
    assert len(unpriced) == 51


def test_fuzzed_protobuf_never_crashes_or_corrupts(server: LiveServer) -> None:
    rng = random.Random(20261128)
    server.post("/v1/traces", TRACELOOP, PROTOBUF)
    baseline = llm_lines(server)
    statuses: set[int] = set()
    for _ in range(300):
        body = bytearray(TRACELOOP)
        for _ in range(rng.randint(1, 20)):
            body[rng.randrange(len(body))] = rng.randrange(256)
        if rng.random() < 0.3:
            body = body[: rng.randrange(len(body))]
        statuses.add(server.post("/v1/traces", bytes(body), PROTOBUF).status_code)
    assert statuses <= {200, 400}
    assert 500 not in statuses
    # Mutated spans that still parse may have counted; a fresh valid request must still work.
    assert server.post("/v1/traces", TRACELOOP, PROTOBUF).status_code == 200
    assert llm_lines(server)  # still serving metrics
    assert len(llm_lines(server)) >= len(baseline)


def test_fuzzed_json_never_crashes(server: LiveServer) -> None:
    rng = random.Random(7)
    document = orjson.loads((CORPUS / "openai-v2-json-exporter" / "traces-0001.json").read_bytes())
    junk: list[object] = [
        None,
        1,
        -1,
        1.5,
        "x",
        [],
        {},
        [1, "a"],
        {"k": "v"},
        True,
        "NaN",
        "123456789012345678901234567890",
    ]

    def mutate(node: object) -> object:
        if isinstance(node, dict):
            return {k: (rng.choice(junk) if rng.random() < 0.05 else mutate(v)) for k, v in node.items()}
        if isinstance(node, list):
            return [rng.choice(junk) if rng.random() < 0.05 else mutate(v) for v in node]
        return node

    statuses = {server.post("/v1/traces", orjson.dumps(mutate(document)), JSON).status_code for _ in range(300)}
    assert statuses <= {200, 400}


def test_random_bytes_never_crash(server: LiveServer) -> None:
    rng = random.Random(1)
    for path in ("/v1/traces", "/v1/metrics"):
        for content_type in (PROTOBUF, JSON):
            for _ in range(50):
                body = rng.randbytes(rng.randrange(1, 2000))
                assert server.post(path, body, content_type).status_code in (200, 400)
    assert server.post("/v1/traces", TRACELOOP, PROTOBUF).status_code == 200


def test_deeply_nested_metric_attributes_are_a_400_not_a_500(server: LiveServer) -> None:
    """A kvlist 70 levels deep (280 JSON levels: too deep to serialise for the stream's identity)."""
    import json

    value: dict[str, object] = {"stringValue": "x"}
    for _ in range(70):
        value = {"kvlistValue": {"values": [{"key": "k", "value": value}]}}
    point = {
        "attributes": [
            {"key": "gen_ai.request.model", "value": {"stringValue": "gpt-4o"}},
            {"key": "gen_ai.token.type", "value": {"stringValue": "input"}},
            {"key": "deep", "value": value},
        ],
        "startTimeUnixNano": "1",
        "timeUnixNano": "2",
        "count": "1",
        "sum": 10,
        "bucketCounts": ["1"],
    }
    metric = {"name": "gen_ai.client.token.usage", "histogram": {"aggregationTemporality": 1, "dataPoints": [point]}}
    body = {"resourceMetrics": [{"scopeMetrics": [{"metrics": [metric]}]}]}
    for _ in range(3):
        response = server.post("/v1/metrics", json.dumps(body).encode(), JSON)
        assert response.status_code == 400
        assert "nested too deeply" in response.json()["message"]
    samples = server.samples()
    assert sample_value(samples, "llm_cost_tracker_otlp_request_errors_total", reason="internal_error") == 0
    assert sample_value(samples, "llm_tokens_total") == 0


def test_a_model_name_that_is_not_utf8_is_rejected_and_reported(server: LiveServer) -> None:
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse

    request = ExportTraceServiceRequest()
    span = request.resource_spans.add().scope_spans.add().spans.add()
    span.trace_id, span.span_id = b"\x01" * 16, b"\x02" * 8
    for key, text in (("gen_ai.request.model", "gpt-4o"), ("gen_ai.provider.name", "openai")):
        attribute = span.attributes.add()
        attribute.key, attribute.value.string_value = key, text
    tokens = span.attributes.add()
    tokens.key, tokens.value.int_value = "gen_ai.usage.input_tokens", 100
    body = request.SerializeToString().replace(b"gpt-4o", b"gpt\xff4o")  # what a broken client sends
    response = server.post("/v1/traces", body, PROTOBUF)
    assert response.status_code == 200
    partial = ExportTraceServiceResponse.FromString(response.content).partial_success
    assert partial.rejected_spans == 1
    assert "invalid_model" in partial.error_message
    samples = server.samples()
    assert sample_value(samples, "llm_cost_tracker_spans_total", result="rejected", reason="invalid_model") == 1
    assert sample_value(samples, "llm_tokens_total") == 0


def _one_call(server: LiveServer, model: str, provider: str, span_id: str, **tokens: int) -> dict[str, object]:
    attributes: dict[str, object] = {"gen_ai.request.model": model, "gen_ai.provider.name": provider}
    attributes.update({f"gen_ai.usage.{k}": v for k, v in tokens.items()})
    body = orjson.loads(genai_span_json(**attributes))
    body["resourceSpans"][0]["scopeSpans"][0]["spans"][0]["spanId"] = span_id
    response = server.post("/v1/traces", orjson.dumps(body), JSON)
    assert response.status_code == 200
    return dict(response.json())


def test_implausible_usage_is_rejected_by_the_models_context_window(server: LiveServer) -> None:
    # One 300-byte span claiming 1e10 output tokens would be ~$100k of gpt-4o.
    claimed = _one_call(server, "gpt-4o", "openai", "0000000000000001", input_tokens=10, output_tokens=10**10)
    assert "implausible_usage" in claimed["partialSuccess"]["errorMessage"]  # type: ignore[index]
    # gpt-4o's window is 128k: 5 M input tokens cannot be one call...
    too_many = _one_call(server, "gpt-4o", "openai", "0000000000000002", input_tokens=5_000_000, output_tokens=10)
    assert too_many["partialSuccess"]["rejectedSpans"] == "1"  # type: ignore[index]
    # ...but 600k can be (windows grow faster than catalogs: Claude's 1M beta on a 200k entry).
    long = _one_call(server, "claude-sonnet-4-20250514", "anthropic", "0000000000000003", input_tokens=600_000)
    assert long == {}
    samples = server.samples()
    assert sample_value(samples, "llm_cost_tracker_spans_total", reason="implausible_usage") == 2
    assert sample_value(samples, "llm_tokens_total", model="gpt-4o") == 0
    assert sample_value(samples, "llm_tokens_total", model="claude-sonnet-4-20250514") == 600_000


def test_the_ceiling_on_tokens_per_call_is_configurable(start_server: Callable[..., LiveServer]) -> None:
    server = start_server(limits={"max_tokens_per_call": 200_000})
    refused = _one_call(server, "my-finetune", "vllm", "0000000000000004", input_tokens=250_000)
    assert "implausible_usage" in refused["partialSuccess"]["errorMessage"]  # type: ignore[index]
    assert _one_call(server, "my-finetune", "vllm", "0000000000000005", input_tokens=150_000) == {}


def test_a_metric_point_is_held_to_the_window_times_its_calls(start_server: Callable[..., LiveServer]) -> None:
    server = start_server(ingest={"usage_from": "metrics"})

    def push(total: int, count: int) -> dict[str, object]:
        point = {
            "attributes": [
                {"key": "gen_ai.request.model", "value": {"stringValue": "gpt-4o"}},
                {"key": "gen_ai.provider.name", "value": {"stringValue": "openai"}},
                {"key": "gen_ai.token.type", "value": {"stringValue": "input"}},
            ],
            "startTimeUnixNano": "1",
            "timeUnixNano": "2",
            "count": str(count),
            "sum": total,
            "bucketCounts": [str(count)],
        }
        metric = {
            "name": "gen_ai.client.token.usage",
            "histogram": {"aggregationTemporality": 1, "dataPoints": [point]},
        }
        body = {"resourceMetrics": [{"scopeMetrics": [{"metrics": [metric]}]}]}
        response = server.post("/v1/metrics", orjson.dumps(body), JSON)
        assert response.status_code == 200
        return dict(response.json())

    assert push(5_000_000, 100) == {}  # 100 calls of 50k tokens
    assert "implausible_usage" in push(5_000_000, 1)["partialSuccess"]["errorMessage"]  # type: ignore[index]
    assert sample_value(server.samples(), "llm_tokens_total", token_type="input") == 5_000_000


@pytest.mark.parametrize(
    ("key", "value", "reason"),
    [
        ("gen_ai.usage.output_tokens", {"intValue": [100]}, "invalid_usage"),
        ("gen_ai.usage.output_tokens", {"intValue": {"n": 100}}, "invalid_usage"),
        ("gen_ai.usage.output_tokens", {"doubleValue": "12"}, "invalid_usage"),
        ("gen_ai.usage.output_tokens", 100, "invalid_usage"),  # no AnyValue around it
        ("gen_ai.response.model", {"stringValue": 4}, "invalid_model"),
    ],
)
def test_a_value_of_the_wrong_json_shape_is_reported_not_dropped(
    server: LiveServer, key: str, value: object, reason: str
) -> None:
    body = orjson.loads(
        genai_span_json(
            **{"gen_ai.request.model": "gpt-4o", "gen_ai.provider.name": "openai", "gen_ai.usage.input_tokens": 100}
        )
    )
    body["resourceSpans"][0]["scopeSpans"][0]["spans"][0]["attributes"].append({"key": key, "value": value})
    response = server.post("/v1/traces", orjson.dumps(body), JSON)
    assert response.status_code == 200
    assert reason in response.json()["partialSuccess"]["errorMessage"]
    assert sample_value(server.samples(), "llm_tokens_total") == 0


def test_deeply_nested_metric_attributes_in_protobuf_cost_nothing_else(
    start_server: Callable[..., LiveServer],
) -> None:
    """The same nesting in protobuf: the official classes refuse the whole push; here the points count, as spans
    with such attributes do."""
    server = start_server(ingest={"usage_from": "metrics"})
    deep = _field(1, b"x")  # AnyValue{string_value: "x"}
    for _ in range(70):  # AnyValue{kvlist_value: KeyValueList{values: [KeyValue{key: "k", value: deep}]}}
        deep = _field(6, _field(1, _field(1, b"k") + _field(2, deep)))
    points = []
    for token_type, total in (("input", 10), ("output", 4)):
        point = HistogramDataPoint(start_time_unix_nano=1, time_unix_nano=2, count=1, sum=total, bucket_counts=[1])
        for key, value in (
            ("gen_ai.request.model", "gpt-4o"),
            ("gen_ai.provider.name", "openai"),
            ("gen_ai.token.type", token_type),
        ):
            point.attributes.add(key=key).value.string_value = value
        points.append(point.SerializeToString() + _field(9, _field(1, b"deep") + _field(2, deep)))
    histogram = b"".join(_field(1, p) for p in points) + b"\x10\x01"  # data_points, delta temporality
    metric = _field(1, b"gen_ai.client.token.usage") + _field(9, histogram)
    body = _field(1, _field(2, _field(2, metric)))  # resource_metrics > scope_metrics > metrics
    with pytest.raises(DecodeError):
        ExportMetricsServiceRequest.FromString(body)  # what the official classes make of it
    response = server.post("/v1/metrics", body, PROTOBUF)
    assert response.status_code == 200, response.text
    usage = usage_by_model(server.samples())["gpt-4o"]
    assert usage.tokens == {"input": 10, "output": 4}


def _field(number: int, payload: bytes) -> bytes:
    """A length-delimited protobuf field."""
    out, size = bytearray([number << 3 | 2]), len(payload)
    while True:
        byte, size = size & 0x7F, size >> 7
        out.append(byte | (0x80 if size else 0))
        if not size:
            return bytes(out) + payload


def test_slow_and_idle_connections_do_not_slow_a_well_behaved_client(server: LiveServer) -> None:
    """500 connections: half idle, half sending a request's headers a byte at a time (slowloris). A real
    client's export is still answered promptly, and the server is up after they go."""
    import socket
    import time

    host, port = server.otlp_url.removeprefix("http://").rsplit(":", 1)
    sockets = [socket.create_connection((host, int(port))) for _ in range(500)]
    try:
        for sock in sockets[::2]:
            sock.sendall(b"POST /v1/traces HTTP/1.1\r\nHost: x\r\n")  # never finished
        timings = []
        for _ in range(3):
            for sock in sockets[::2]:
                sock.sendall(b"X")  # a byte more, slowly
            started = time.perf_counter()
            assert server.post("/v1/traces", TRACELOOP, PROTOBUF).status_code == 200
            timings.append(time.perf_counter() - started)
        assert max(timings) < 1.0, timings  # no queue behind the slow ones (the request alone takes ~10 ms)
    finally:
        for sock in sockets:
            sock.close()
    assert server.post("/v1/traces", TRACELOOP, PROTOBUF).status_code == 200
