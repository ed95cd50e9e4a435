"""The OTLP/HTTP receiver against the specification, driven over real HTTP."""

from __future__ import annotations

import gzip
import zlib

import httpx
import orjson
import pytest
from google.rpc import error_details_pb2, status_pb2
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceResponse
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)

from tests.conftest import CORPUS, LiveServer, sample_value

PROTOBUF = "application/x-protobuf"
JSON = "application/json"
TRACES = (CORPUS / "openai-v2" / "traces-0001.pb").read_bytes()
TRACES_JSON = (CORPUS / "openai-v2-json-exporter" / "traces-0001.json").read_bytes()


def genai_span_json(**attributes: object) -> bytes:
    """A one-span OTLP/JSON request with the given attributes (ints as intValue, str as stringValue)."""

    def value(v: object) -> dict[str, object]:
        if isinstance(v, bool):
            return {"boolValue": v}
        if isinstance(v, int):
            return {"intValue": str(v)}
        if isinstance(v, float):
            return {"doubleValue": v}
        return {"stringValue": v}

    span = {
        "traceId": "5b8efff798038103d269b633813fc60c",
        "spanId": "eee19b7ec3c1b174",
        "name": "chat",
        "kind": 3,
        "startTimeUnixNano": "1795829494496760121",
        "endTimeUnixNano": "1795829494508002763",
        "attributes": [{"key": k, "value": value(v)} for k, v in attributes.items()],
    }
    return orjson.dumps(
        {
            "resourceSpans": [
                {
                    "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "svc"}}]},
                    "scopeSpans": [{"scope": {"name": "test"}, "spans": [span]}],
                }
            ]
        }
    )


def test_protobuf_success_is_an_empty_export_response(server: LiveServer) -> None:
    response = server.post("/v1/traces", TRACES, PROTOBUF)
    assert response.status_code == 200
    assert response.headers["content-type"] == PROTOBUF
    parsed = ExportTraceServiceResponse()
    parsed.ParseFromString(response.content)
    assert not parsed.HasField("partial_success")


def test_json_success_answers_json(server: LiveServer) -> None:
    response = server.post("/v1/traces", TRACES_JSON, "application/json; charset=utf-8")
    assert response.status_code == 200
    assert response.headers["content-type"] == JSON
    assert response.json() == {}


@pytest.mark.parametrize("content_type", ["application/x-protobuf; proto=x", "Application/X-Protobuf"])
def test_media_type_parameters_and_case_are_accepted(server: LiveServer, content_type: str) -> None:
    assert server.post("/v1/traces", TRACES, content_type).status_code == 200


def test_unknown_media_type_is_415_with_a_status(server: LiveServer) -> None:
    response = server.post("/v1/traces", b"x", "text/plain")
    assert response.status_code == 415
    status = status_pb2.Status()
    status.ParseFromString(response.content)
    assert "Content-Type" in status.message


def test_non_post_is_405_with_allow(server: LiveServer) -> None:
    response = httpx.get(f"{server.otlp_url}/v1/traces")
    assert response.status_code == 405
    assert response.headers["allow"] == "POST"
    # A bodiless GET has no encoding: it is not counted as a protobuf request.
    samples = server.samples()
    assert sample_value(samples, "llm_cost_tracker_otlp_requests_total", encoding="unknown", code="405") == 1
    assert sample_value(samples, "llm_cost_tracker_otlp_requests_total", encoding="protobuf") == 0


def test_truncated_protobuf_is_400_with_bad_request_details(server: LiveServer) -> None:
    response = server.post("/v1/traces", TRACES[: len(TRACES) // 2], PROTOBUF)
    assert response.status_code == 400
    status = status_pb2.Status()
    status.ParseFromString(response.content)
    assert "ExportTraceServiceRequest" in status.message
    bad_request = error_details_pb2.BadRequest()
    assert status.details[0].Unpack(bad_request)
    assert bad_request.field_violations[0].description == status.message


def test_invalid_json_is_400_with_a_json_status(server: LiveServer) -> None:
    response = server.post("/v1/traces", b'{"resourceSpans": [', JSON)
    assert response.status_code == 400
    body = response.json()
    assert body["message"].startswith("not valid JSON")
    assert body["details"][0]["@type"] == "type.googleapis.com/google.rpc.BadRequest"


def test_wrong_json_structure_is_400(server: LiveServer) -> None:
    assert server.post("/v1/traces", b'{"resourceSpans": {"x": 1}}', JSON).status_code == 400
    assert server.post("/v1/traces", b"[1, 2]", JSON).status_code == 400


def test_empty_request_is_success(server: LiveServer) -> None:
    assert server.post("/v1/traces", b"", PROTOBUF).status_code == 200
    assert server.post("/v1/traces", b"{}", JSON).status_code == 200


def test_gzip_and_deflate_bodies(server: LiveServer) -> None:
    for encoding, body in (("gzip", gzip.compress(TRACES)), ("deflate", zlib.compress(TRACES))):
        assert server.post("/v1/traces", body, PROTOBUF, **{"Content-Encoding": encoding}).status_code == 200
    # Each encoding carried the same spans: still one call each.
    assert sample_value(server.samples(), "llm_requests_total", model="o3-mini", outcome="ok") == 1


def test_unknown_content_encoding_is_415(server: LiveServer) -> None:
    response = server.post("/v1/traces", TRACES, PROTOBUF, **{"Content-Encoding": "br"})
    assert response.status_code == 415


def test_corrupt_gzip_is_400(server: LiveServer) -> None:
    body = gzip.compress(TRACES)
    response = server.post("/v1/traces", body[:-20], PROTOBUF, **{"Content-Encoding": "gzip"})
    assert response.status_code == 400
    response = server.post("/v1/traces", b"not gzip at all", PROTOBUF, **{"Content-Encoding": "gzip"})
    assert response.status_code == 400


def test_body_limit_is_413_before_and_after_decompression(start_server: object) -> None:
    server = start_server(otlp={"max_body_bytes": "64KiB"})  # type: ignore[operator]
    assert server.post("/v1/traces", TRACES, PROTOBUF).status_code == 200  # 2720 bytes
    assert server.post("/v1/traces", b"\0" * 70_000, PROTOBUF).status_code == 413
    # A gzip bomb: 10 KB on the wire, 10 MB inflated; refused without inflating it all.
    bomb = gzip.compress(b"\0" * 10_000_000)
    assert len(bomb) < 65536
    response = server.post("/v1/traces", bomb, PROTOBUF, **{"Content-Encoding": "gzip"})
    assert response.status_code == 413
    status = status_pb2.Status()
    status.ParseFromString(response.content)
    assert "decompressed" in status.message
    errors = server.samples()
    assert sample_value(errors, "llm_cost_tracker_otlp_request_errors_total", reason="body_too_large") == 2


def test_body_limit_applies_to_chunked_bodies_without_length(start_server: object) -> None:
    server = start_server(otlp={"max_body_bytes": 4096})  # type: ignore[operator]

    def chunks() -> object:
        for _ in range(10):
            yield b"\0" * 1000

    response = httpx.post(
        f"{server.otlp_url}/v1/traces",
        content=chunks(),
        headers={"Content-Type": PROTOBUF},  # type: ignore[arg-type]
    )
    assert response.status_code == 413


def test_partial_success_reports_rejected_genai_spans(server: LiveServer) -> None:
    body = genai_span_json(**{"gen_ai.request.model": "gpt-4o", "gen_ai.operation.name": "chat"})
    response = server.post("/v1/traces", body, JSON)
    assert response.status_code == 200
    partial = response.json()["partialSuccess"]
    assert partial["rejectedSpans"] == "1"
    assert "missing_usage" in partial["errorMessage"]
    assert "include_usage" in partial["errorMessage"]


def test_partial_success_in_protobuf(server: LiveServer) -> None:
    request = ExportTraceServiceRequest()
    request.ParseFromString(TRACES)
    span = request.resource_spans[0].scope_spans[0].spans[0]
    for kv in span.attributes:
        if kv.key == "gen_ai.usage.input_tokens":
            kv.value.int_value = -5
    response = server.post("/v1/traces", request.SerializeToString(), PROTOBUF)
    parsed = ExportTraceServiceResponse()
    parsed.ParseFromString(response.content)
    assert parsed.partial_success.rejected_spans == 1
    assert "invalid_usage" in parsed.partial_success.error_message
    # The other spans of the request still count.
    assert sample_value(server.samples(), "llm_requests_total", model="o3-mini") == 1


def test_metrics_partial_success_uses_rejected_data_points(start_server: object) -> None:
    server = start_server(ingest={"usage_from": "metrics", "cumulative_initial_value": "keep"})  # type: ignore[operator]
    body = (CORPUS / "traceloop-delta-temporality" / "metrics-0002.pb").read_bytes()
    response = server.post("/v1/metrics", body, PROTOBUF)
    parsed = ExportMetricsServiceResponse()
    parsed.ParseFromString(response.content)
    # The duration point of the 429 names no model (Traceloop drops it on errors).
    assert parsed.partial_success.rejected_data_points == 1
    assert "missing_model" in parsed.partial_success.error_message


def test_logs_are_accepted_and_ignored(server: LiveServer) -> None:
    body = (CORPUS / "openai-v2" / "logs-0002.pb").read_bytes()
    assert server.post("/v1/logs", body, PROTOBUF).status_code == 200
    assert sample_value(server.samples(), "llm_cost_tracker_otlp_requests_total", signal="logs", code="200") == 1


def test_json_int64_as_numbers_and_whole_doubles(server: LiveServer) -> None:
    document = orjson.loads(
        genai_span_json(
            **{
                "gen_ai.request.model": "gpt-4o-2024-08-06",
                "gen_ai.provider.name": "openai",
                "gen_ai.usage.input_tokens": 1250,
                "gen_ai.usage.output_tokens": 180,
            }
        )
    )
    span = document["resourceSpans"][0]["scopeSpans"][0]["spans"][0]
    span["startTimeUnixNano"] = 1795829494496760121  # a number, not a string
    span["attributes"][2]["value"] = {"intValue": 1250}  # a number
    span["attributes"][3]["value"] = {"doubleValue": 180}  # a whole double written as an integer
    span["unknownField"] = {"nested": [1, 2]}  # unknown fields are ignored
    document["somethingNew"] = True
    assert server.post("/v1/traces", orjson.dumps(document), JSON).status_code == 200
    samples = server.samples()
    assert sample_value(samples, "llm_tokens_total", model="gpt-4o-2024-08-06", token_type="input") == 1250
    assert sample_value(samples, "llm_tokens_total", model="gpt-4o-2024-08-06", token_type="output") == 180


def test_request_counters_by_code(server: LiveServer) -> None:
    server.post("/v1/traces", TRACES, PROTOBUF)
    server.post("/v1/traces", b"\xff\xff", PROTOBUF)
    samples = server.samples()
    assert sample_value(samples, "llm_cost_tracker_otlp_requests_total", signal="traces", code="200") == 1
    assert sample_value(samples, "llm_cost_tracker_otlp_requests_total", signal="traces", code="400") == 1
    assert sample_value(samples, "llm_cost_tracker_otlp_request_errors_total", reason="decode_error") == 1
