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
import struct
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

import orjson
from google.protobuf.message import DecodeError as ProtobufDecodeError
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest

from llm_cost_tracker.exporter.aliases import (
    ALIAS_TABLE,
    INVOCATION_PARAMETERS,
    MODEL_KEYS,
    Aliases,
    canonical_attributes,
    set_field,
)
from llm_cost_tracker.exporter.otlp_schema import SlimTraceRequest
from llm_cost_tracker.httpbody import DecodeError, load_json_object

GENAI_TOKEN_USAGE: Final = "gen_ai.client.token.usage"
GENAI_DURATION: Final = "gen_ai.client.operation.duration"
GENAI_COST: Final = "gen_ai.usage.cost"
GENAI_METRICS: Final = frozenset({GENAI_TOKEN_USAGE, GENAI_DURATION, GENAI_COST})

TEMPORALITY_DELTA: Final = 1
TEMPORALITY_CUMULATIVE: Final = 2
MAX_ARRAY_VALUES: Final = 64


SpanData = tuple[Mapping[str, object], str, dict[str, object], int, int, int, bytes, bytes]
"""``(resource attributes, scope name, canonical fields, status code, start ns, end ns, span key, parent key)``.

A tuple rather than a class: one is made per span, on the hot path. The span
key (trace id + span id) identifies a span across retried exports; the parent
key (trace id + parent span id) places it in its trace.
"""

GENAI_KEYS: Final = MODEL_KEYS + ALIAS_TABLE[INVOCATION_PARAMETERS]
"""A span without any of these is not a GenAI call (OpenInference names a failed call's model only in its
invocation parameters)."""


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


_DOUBLE = struct.Struct("<d")


def _varint(data: bytes, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        byte = data[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if byte < 0x80:
            return result, pos
        shift += 7
        if shift > 63:
            raise ValueError("varint too long")


def any_value(data: bytes) -> object:
    """The value of a serialized ``AnyValue``: ``str``, ``int``, ``float`` or ``bool``.

    ``None`` for arrays, maps, bytes and anything malformed; never raises.
    Short strings and small ints, the common cases, take the first branches.
    """
    size = len(data)
    if size >= 2:
        tag = data[0]
        if tag == 0x0A and data[1] == size - 2:
            try:
                return data[2:].decode()
            except UnicodeDecodeError:
                return None
        if tag == 0x18 and data[-1] < 0x80:  # a small non-negative int_value
            if size == 2:
                return data[1]
            if size == 3:
                return (data[1] & 0x7F) | (data[2] << 7)
            if size == 4:
                return (data[1] & 0x7F) | ((data[2] & 0x7F) << 7) | (data[3] << 14)
    value: object = None
    pos = 0
    try:
        while pos < size:
            tag = data[pos]
            pos += 1
            if tag == 0x18:  # int_value (varint, two's complement)
                number, pos = _varint(data, pos)
                value = number - (1 << 64) if number >= 1 << 63 else number
            elif tag == 0x21:  # double_value (fixed64)
                value = _DOUBLE.unpack_from(data, pos)[0]
                pos += 8
            elif tag == 0x10:  # bool_value
                number, pos = _varint(data, pos)
                value = number != 0
            elif tag in (0x0A, 0x2A, 0x32, 0x3A):  # string, array, kvlist, bytes
                length, pos = _varint(data, pos)
                if pos + length > size:
                    return None
                value = data[pos : pos + length].decode() if tag == 0x0A else None
                pos += length
            else:
                return None
    except (IndexError, ValueError, struct.error):  # UnicodeDecodeError is a ValueError
        return None
    return value


NOT_GENAI: Final[SpanData] = ({}, "", {}, 0, 0, 0, b"", b"")
"""What decoders yield for a span without any model attribute."""


def _has_any(attributes: Any, keys: tuple[str, ...]) -> bool:
    return any(key in attributes for key in keys)


def _proto_all(attributes: Any) -> dict[str, object]:
    return {key: any_value(value) for key, value in attributes.items()}


def iter_spans_proto(body: bytes, aliases: Aliases, cache: dict[Any, object] | None = None) -> Iterator[SpanData]:
    """Spans of an ``ExportTraceServiceRequest``; raises ``DecodeError`` for undecodable bodies.

    ``cache`` (optional, owned by the caller) remembers decoded identity values across requests.
    """
    request = SlimTraceRequest()
    try:
        request.ParseFromString(body)
    except ProtobufDecodeError as exc:
        raise DecodeError(f"not a valid ExportTraceServiceRequest: {exc}") from None
    keys = frozenset(aliases)
    for resource_spans in request.resource_spans:
        resource = _proto_all(resource_spans.resource.attributes)
        for scope_spans in resource_spans.scope_spans:
            scope_name = scope_spans.scope.name
            for span in scope_spans.spans:
                attributes = span.attributes
                if (
                    "gen_ai.request.model" not in attributes
                    and "gen_ai.response.model" not in attributes
                    and not _has_any(attributes, GENAI_KEYS)
                ):
                    yield NOT_GENAI  # most spans of an app are not LLM calls: skip them cheaply
                    continue
                trace_id = span.trace_id
                yield (
                    resource,
                    scope_name,
                    canonical_attributes(keys.intersection(attributes), attributes, any_value, aliases, cache),
                    span.status.code,
                    span.start_time_unix_nano,
                    span.end_time_unix_nano,
                    trace_id + span.span_id,
                    trace_id + span.parent_span_id,
                )


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
    """The Python value of an OTLP/JSON ``AnyValue`` object (``None`` for maps, bytes and malformed values)."""
    if type(value) is not dict:
        return None
    v = value.get("stringValue")
    if v is not None:
        return v if type(v) is str else None
    v = value.get("intValue")
    if v is not None:
        if type(v) is int:
            return v
        if type(v) is str:
            try:
                return int(v)
            except ValueError:
                return v  # kept as text so that the normaliser reports it as invalid usage
        return None
    v = value.get("doubleValue")
    if v is not None:
        # Whole-number doubles may be written as JSON integers ("sum": 1250).
        if type(v) is float or type(v) is int:
            return float(v)
        if v in ("NaN", "Infinity", "-Infinity"):
            return float(v)
        return None
    v = value.get("boolValue")
    if v is not None:
        return v if type(v) is bool else None
    v = value.get("arrayValue")
    if type(v) is dict:
        values = v.get("values")
        return [_json_value(item) for item in values[:MAX_ARRAY_VALUES]] if type(values) is list else None
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


_STATUS_NAMES: Final = {"STATUS_CODE_UNSET": 0, "STATUS_CODE_OK": 1, "STATUS_CODE_ERROR": 2}


def _json_fields(attributes: Any, aliases: Aliases) -> dict[str, object]:
    """Canonical fields of a well-formed OTLP/JSON attribute list; raises on a malformed one."""
    fields: dict[str, object] = {}
    ranks: dict[str, int] | None = None
    for kv in attributes:
        alias = aliases.get(kv["key"])
        if alias is None:
            continue
        value = _json_value(kv.get("value"))
        if value is None or value == "":
            continue
        ranks = set_field(fields, ranks, alias[0], alias[1], value)
    return fields


def _json_span(span: Any, aliases: Aliases) -> tuple[dict[str, object], int, int, int, bytes, bytes]:
    """(fields, status code, start, end, span key, parent key) of one OTLP/JSON span."""
    try:
        # The common, well-formed case in one pass; anything odd takes the checked path.
        fields = _json_fields(span.get("attributes", ()), aliases)
    except (KeyError, TypeError, AttributeError):
        raw = {k: v for k, v in _json_attributes(_object(span, "spans[]"), "span").items() if k in aliases}
        fields = canonical_attributes(raw, raw, _json_value, aliases)
    status = span.get("status")
    code = status.get("code", 0) if type(status) is dict else 0
    trace_id = _id_bytes(span.get("traceId"))
    return (
        fields,
        code if type(code) is int else _STATUS_NAMES.get(code, 0) if type(code) is str else 0,
        _json_int(span.get("startTimeUnixNano")),
        _json_int(span.get("endTimeUnixNano")),
        trace_id + _id_bytes(span.get("spanId")),
        trace_id + _id_bytes(span.get("parentSpanId")),
    )


def iter_spans_json(body: bytes, aliases: Aliases, cache: dict[Any, object] | None = None) -> Iterator[SpanData]:
    """Spans of an OTLP/JSON ``ExportTraceServiceRequest`` (``cache`` is unused: JSON values are not hashable)."""
    document = load_json_object(body)
    for resource_spans in _list(document, "resourceSpans", "$"):
        resource_spans = _object(resource_spans, "resourceSpans[]")
        resource_obj = _object(resource_spans.get("resource"), "resource")
        resource = {k: _json_value(v) for k, v in _json_attributes(resource_obj, "resource").items()}
        for scope_spans in _list(resource_spans, "scopeSpans", "resourceSpans[]"):
            scope_spans = _object(scope_spans, "scopeSpans[]")
            scope_name = _object(scope_spans.get("scope"), "scope").get("name")
            scope_name = scope_name if isinstance(scope_name, str) else ""
            for span in _list(scope_spans, "spans", "scopeSpans[]"):
                if type(span) is not dict:
                    raise DecodeError("spans[] is not an object")
                fields, status_code, start_ns, end_ns, span_key, parent_key = _json_span(span, aliases)
                yield (resource, scope_name, fields, status_code, start_ns, end_ns, span_key, parent_key)


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
    document = load_json_object(body)
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
