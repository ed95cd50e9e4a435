"""OTLP bodies (protobuf or JSON) → plain spans and GenAI metric points.

Decoders pick out only the attributes the normaliser reads, as plain Python
values, so everything downstream is independent of the wire encoding.

OTLP/JSON is read with ``orjson`` rather than ``json_format``: the OTLP JSON
mapping writes trace and span ids as hex (``json_format`` expects base64),
and ``orjson`` is an order of magnitude faster.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Collection, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

import orjson
from google.protobuf.message import DecodeError as ProtobufDecodeError
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest

from llm_cost_tracker.exporter.otlp_schema import SlimTraceRequest

GENAI_TOKEN_USAGE: Final = "gen_ai.client.token.usage"  # noqa: S105 - not a password
GENAI_DURATION: Final = "gen_ai.client.operation.duration"
GENAI_COST: Final = "gen_ai.usage.cost"
GENAI_METRICS: Final = frozenset({GENAI_TOKEN_USAGE, GENAI_DURATION, GENAI_COST})

TEMPORALITY_DELTA: Final = 1
TEMPORALITY_CUMULATIVE: Final = 2
MAX_ARRAY_VALUES: Final = 64


class DecodeError(ValueError):
    """The body is not a valid OTLP message of the expected kind."""


@dataclass(slots=True)
class SpanData:
    resource: Mapping[str, object]
    scope_name: str
    attrs: dict[str, object]
    status_code: int
    start_ns: int
    end_ns: int
    span_key: object
    """Trace id + span id, identifying a span across retried exports."""


@dataclass(slots=True)
class GenAIPoint:
    """One data point of a GenAI histogram metric."""

    metric: str
    resource: Mapping[str, object]
    scope_name: str
    attrs: dict[str, object]
    temporality: int
    start_ns: int
    time_ns: int
    count: int
    total: float
    bucket_counts: list[int] = field(default_factory=list)
    bounds: list[float] = field(default_factory=list)
    stream: bytes = b""
    """Identity of the point's time series (resource, scope, metric, attributes)."""


# --- protobuf ---------------------------------------------------------------------------------


def _proto_value(value: Any) -> object:
    kind = value.WhichOneof("value")
    if kind is None or kind == "kvlist_value" or kind == "bytes_value":
        return None
    if kind == "array_value":
        return [_proto_value(v) for v in value.array_value.values[:MAX_ARRAY_VALUES]]
    return getattr(value, kind)


def _proto_pick(attributes: Any, keys: Collection[str]) -> dict[str, object]:
    picked: dict[str, object] = {}
    get = attributes.get
    for key in keys:
        value = get(key)
        if value is not None:
            picked[key] = _proto_value(value)
    return picked


def _proto_all(attributes: Any) -> dict[str, object]:
    return {key: _proto_value(value) for key, value in attributes.items()}


def iter_spans_proto(body: bytes, keys: Collection[str]) -> Iterator[SpanData]:
    """Spans of an ``ExportTraceServiceRequest``; raises ``DecodeError`` for undecodable bodies."""
    request = SlimTraceRequest()
    try:
        request.ParseFromString(body)
    except ProtobufDecodeError as exc:
        raise DecodeError(f"not a valid ExportTraceServiceRequest: {exc}") from None
    for resource_spans in request.resource_spans:
        resource = _proto_all(resource_spans.resource.attributes)
        for scope_spans in resource_spans.scope_spans:
            scope_name = scope_spans.scope.name
            for span in scope_spans.spans:
                yield SpanData(
                    resource,
                    scope_name,
                    _proto_pick(span.attributes, keys),
                    span.status.code,
                    span.start_time_unix_nano,
                    span.end_time_unix_nano,
                    span.trace_id + span.span_id,
                )


def count_spans_proto(body: bytes) -> int:
    request = SlimTraceRequest()
    request.ParseFromString(body)
    return sum(len(ss.spans) for rs in request.resource_spans for ss in rs.scope_spans)


def _stream_id(*parts: bytes) -> bytes:
    digest = hashlib.blake2b(digest_size=16)
    for part in parts:
        digest.update(len(part).to_bytes(4, "little"))
        digest.update(part)
    return digest.digest()


def iter_points_proto(body: bytes) -> tuple[list[GenAIPoint], int]:
    """GenAI histogram points of an ``ExportMetricsServiceRequest``, and how many other points it held."""
    request = ExportMetricsServiceRequest()
    try:
        request.ParseFromString(body)
    except ProtobufDecodeError as exc:
        raise DecodeError(f"not a valid ExportMetricsServiceRequest: {exc}") from None
    points: list[GenAIPoint] = []
    others = 0
    for resource_metrics in request.resource_metrics:
        resource = {kv.key: _proto_value(kv.value) for kv in resource_metrics.resource.attributes}
        resource_id = resource_metrics.resource.SerializeToString(deterministic=True)
        for scope_metrics in resource_metrics.scope_metrics:
            scope_name = scope_metrics.scope.name
            for metric in scope_metrics.metrics:
                kind = metric.WhichOneof("data")
                if metric.name not in GENAI_METRICS or kind != "histogram":
                    others += _proto_point_count(metric, kind)
                    continue
                histogram = metric.histogram
                for p in histogram.data_points:
                    attrs = {kv.key: _proto_value(kv.value) for kv in p.attributes}
                    stream = _stream_id(
                        resource_id,
                        scope_name.encode(),
                        metric.name.encode(),
                        b"".join(kv.SerializeToString(deterministic=True) for kv in p.attributes),
                    )
                    points.append(
                        GenAIPoint(
                            metric.name,
                            resource,
                            scope_name,
                            attrs,
                            histogram.aggregation_temporality,
                            p.start_time_unix_nano,
                            p.time_unix_nano,
                            p.count,
                            p.sum,
                            list(p.bucket_counts),
                            list(p.explicit_bounds),
                            stream,
                        )
                    )
    return points, others


def _proto_point_count(metric: Any, kind: str | None) -> int:
    return len(getattr(metric, kind).data_points) if kind else 0


# --- JSON -------------------------------------------------------------------------------------


def _loads(body: bytes) -> dict[str, Any]:
    try:
        document = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise DecodeError(f"not valid JSON: {exc}") from None
    if not isinstance(document, dict):
        raise DecodeError("the JSON body is not an object")
    return document


def _list(obj: Mapping[str, Any], key: str, where: str) -> list[Any]:
    value = obj.get(key)
    if value is None:
        return []
    if not isinstance(value, list):
        raise DecodeError(f"{where}.{key} is not an array")
    return value


def _object(value: Any, where: str) -> Mapping[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise DecodeError(f"{where} is not an object")
    return value


def _json_int(value: Any) -> int:
    """An int64/uint64/fixed64 field: a decimal string or a number."""
    if isinstance(value, bool):
        return 0
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return int(value) if math.isfinite(value) else 0
    if isinstance(value, str):
        try:
            return int(value)
        except ValueError:
            return 0
    return 0


def _json_value(value: Any) -> object:
    if not isinstance(value, dict):
        return None
    if "stringValue" in value:
        v = value["stringValue"]
        return v if isinstance(v, str) else None
    if "intValue" in value:
        v = value["intValue"]
        if isinstance(v, bool):
            return None
        if isinstance(v, int):
            return v
        if isinstance(v, str):
            try:
                return int(v)
            except ValueError:
                return v  # kept as text so that the normaliser reports it as invalid usage
        return None
    if "doubleValue" in value:
        v = value["doubleValue"]
        # Whole-number doubles may be written as JSON integers ("sum": 1250).
        if isinstance(v, int | float) and not isinstance(v, bool):
            return float(v)
        if v in ("NaN", "Infinity", "-Infinity"):
            return float(v)
        return None
    if "boolValue" in value:
        v = value["boolValue"]
        return v if isinstance(v, bool) else None
    if "arrayValue" in value:
        values = value["arrayValue"].get("values") if isinstance(value["arrayValue"], dict) else None
        return [_json_value(v) for v in values[:MAX_ARRAY_VALUES]] if isinstance(values, list) else None
    return None


def _json_attributes(obj: Mapping[str, Any], where: str) -> dict[str, Any]:
    raw: dict[str, Any] = {}
    for kv in _list(obj, "attributes", where):
        if isinstance(kv, dict):
            key = kv.get("key")
            if isinstance(key, str):
                raw[key] = kv.get("value")
    return raw


def _id_bytes(value: Any) -> bytes:
    """A hex trace or span id as the bytes protobuf carries, so both encodings identify a span alike."""
    if not isinstance(value, str):
        return b""
    try:
        return bytes.fromhex(value)
    except ValueError:
        return value.encode()


def iter_spans_json(body: bytes, keys: Collection[str]) -> Iterator[SpanData]:
    """Spans of an OTLP/JSON ``ExportTraceServiceRequest``."""
    document = _loads(body)
    for resource_spans in _list(document, "resourceSpans", "$"):
        resource_spans = _object(resource_spans, "resourceSpans[]")
        resource_obj = _object(resource_spans.get("resource"), "resource")
        resource = {k: _json_value(v) for k, v in _json_attributes(resource_obj, "resource").items()}
        for scope_spans in _list(resource_spans, "scopeSpans", "resourceSpans[]"):
            scope_spans = _object(scope_spans, "scopeSpans[]")
            scope_name = _object(scope_spans.get("scope"), "scope").get("name")
            scope_name = scope_name if isinstance(scope_name, str) else ""
            for span in _list(scope_spans, "spans", "scopeSpans[]"):
                span = _object(span, "spans[]")
                raw = _json_attributes(span, "span")
                status = _object(span.get("status"), "span.status")
                yield SpanData(
                    resource,
                    scope_name,
                    {key: _json_value(raw[key]) for key in keys if key in raw},
                    _json_int(status.get("code")),
                    _json_int(span.get("startTimeUnixNano")),
                    _json_int(span.get("endTimeUnixNano")),
                    _id_bytes(span.get("traceId")) + _id_bytes(span.get("spanId")),
                )


def _json_float(value: Any) -> float:
    if isinstance(value, bool):
        return math.nan
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return math.nan
    return 0.0 if value is None else math.nan


def iter_points_json(body: bytes) -> tuple[list[GenAIPoint], int]:
    """GenAI histogram points of an OTLP/JSON ``ExportMetricsServiceRequest``."""
    document = _loads(body)
    points: list[GenAIPoint] = []
    others = 0
    for resource_metrics in _list(document, "resourceMetrics", "$"):
        resource_metrics = _object(resource_metrics, "resourceMetrics[]")
        resource_obj = _object(resource_metrics.get("resource"), "resource")
        raw_resource = _json_attributes(resource_obj, "resource")
        resource = {k: _json_value(v) for k, v in raw_resource.items()}
        resource_id = orjson.dumps(raw_resource, option=orjson.OPT_SORT_KEYS)
        for scope_metrics in _list(resource_metrics, "scopeMetrics", "resourceMetrics[]"):
            scope_metrics = _object(scope_metrics, "scopeMetrics[]")
            scope_name = _object(scope_metrics.get("scope"), "scope").get("name")
            scope_name = scope_name if isinstance(scope_name, str) else ""
            for metric in _list(scope_metrics, "metrics", "scopeMetrics[]"):
                metric = _object(metric, "metrics[]")
                name = metric.get("name")
                histogram = metric.get("histogram")
                if name not in GENAI_METRICS or not isinstance(histogram, dict):
                    for kind in ("sum", "gauge", "histogram", "exponentialHistogram", "summary"):
                        data = metric.get(kind)
                        if isinstance(data, dict) and isinstance(data.get("dataPoints"), list):
                            others += len(data["dataPoints"])
                    continue
                temporality = _json_int(histogram.get("aggregationTemporality"))
                for p in _list(histogram, "dataPoints", "histogram"):
                    p = _object(p, "dataPoints[]")
                    raw = _json_attributes(p, "dataPoint")
                    bounds = [_json_float(b) for b in _list(p, "explicitBounds", "dataPoint")]
                    points.append(
                        GenAIPoint(
                            str(name),
                            resource,
                            scope_name,
                            {k: _json_value(v) for k, v in raw.items()},
                            temporality,
                            _json_int(p.get("startTimeUnixNano")),
                            _json_int(p.get("timeUnixNano")),
                            _json_int(p.get("count")),
                            _json_float(p.get("sum")),
                            [_json_int(c) for c in _list(p, "bucketCounts", "dataPoint")],
                            bounds,
                            _stream_id(
                                resource_id,
                                scope_name.encode(),
                                str(name).encode(),
                                orjson.dumps(raw, option=orjson.OPT_SORT_KEYS),
                            ),
                        )
                    )
    return points, others
