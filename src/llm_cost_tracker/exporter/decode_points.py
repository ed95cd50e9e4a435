"""OTLP metric pushes (protobuf or JSON) → the points of the GenAI histograms.

Metrics pushes are a small share of the volume, so protobuf goes through the official
opentelemetry-proto classes. Each point carries the identity of its time series (``stream``), so
that cumulative streams can be turned into deltas.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final

import orjson
from google.protobuf.message import DecodeError as ProtobufDecodeError

from llm_cost_tracker.exporter.decode import any_value
from llm_cost_tracker.exporter.decode_json import json_attributes, json_int, json_list, json_object, json_value
from llm_cost_tracker.exporter.otlp_schema import SlimMetricsRequest
from llm_cost_tracker.httpbody import DecodeError, load_json_object

GENAI_TOKEN_USAGE: Final = "gen_ai.client.token.usage"
GENAI_DURATION: Final = "gen_ai.client.operation.duration"
GENAI_COST: Final = "gen_ai.usage.cost"
GENAI_METRICS: Final = frozenset({GENAI_TOKEN_USAGE, GENAI_DURATION, GENAI_COST})

TEMPORALITY_DELTA: Final = 1
TEMPORALITY_CUMULATIVE: Final = 2


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


def _stream_id(*parts: bytes) -> bytes:
    digest = hashlib.blake2b(digest_size=16)
    for part in parts:
        digest.update(len(part).to_bytes(4, "little"))
        digest.update(part)
    return digest.digest()


def iter_points_proto(body: bytes) -> tuple[list[GenAIPoint], int]:
    """GenAI histogram points of an ``ExportMetricsServiceRequest``, and how many other points it held."""
    request = SlimMetricsRequest()
    try:
        request.ParseFromString(body)
    except ProtobufDecodeError as exc:
        raise DecodeError(f"not a valid ExportMetricsServiceRequest: {exc}") from None
    points: list[GenAIPoint] = []
    others = 0
    for resource_metrics in request.resource_metrics:
        resource_attributes = resource_metrics.resource.attributes
        resource = {key: any_value(value) for key, value in resource_attributes.items()}
        resource_id = _attributes_id(resource_attributes)
        for scope_metrics in resource_metrics.scope_metrics:
            scope_name = scope_metrics.scope.name
            for metric in scope_metrics.metrics:
                if metric.name not in GENAI_METRICS or not metric.HasField("histogram"):
                    others += _proto_point_count(metric)
                    continue
                histogram = metric.histogram
                for p in histogram.data_points:
                    attributes = p.attributes
                    attrs = {key: any_value(value) for key, value in attributes.items()}
                    stream = _stream_id(
                        resource_id, scope_name.encode(), metric.name.encode(), _attributes_id(attributes)
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


def _proto_point_count(metric: Any) -> int:
    for kind in ("gauge", "sum", "histogram", "exponential_histogram", "summary"):
        if metric.HasField(kind):
            return len(getattr(metric, kind).data_points)
    return 0


def _attributes_id(attributes: Mapping[str, bytes]) -> bytes:
    """The attributes' identity, whatever their order: each key and serialized value, sorted by key."""
    return _stream_id(*(part for key in sorted(attributes) for part in (key.encode(), attributes[key])))


def json_float(value: Any) -> float:
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


def _key_bytes(value: object) -> bytes:
    """Canonical bytes of attributes, for a stream's identity; raises ``DecodeError`` for JSON nested too deeply
    to serialise (a kvlist inside a kvlist, 64 levels down)."""
    try:
        return orjson.dumps(value, option=orjson.OPT_SORT_KEYS)
    except orjson.JSONEncodeError as exc:
        raise DecodeError(f"a metric point's attributes cannot be read: {exc} (nested too deeply)") from None


def iter_points_json(body: bytes) -> tuple[list[GenAIPoint], int]:
    """GenAI histogram points of an OTLP/JSON ``ExportMetricsServiceRequest``."""
    document = load_json_object(body)
    points: list[GenAIPoint] = []
    others = 0
    for resource_metrics in json_list(document, "resourceMetrics", "$"):
        resource_metrics = json_object(resource_metrics, "resourceMetrics[]")
        resource_obj = json_object(resource_metrics.get("resource"), "resource")
        raw_resource = json_attributes(resource_obj, "resource")
        resource = {k: json_value(v) for k, v in raw_resource.items()}
        resource_id = _key_bytes(raw_resource)
        for scope_metrics in json_list(resource_metrics, "scopeMetrics", "resourceMetrics[]"):
            scope_metrics = json_object(scope_metrics, "scopeMetrics[]")
            scope_name = json_object(scope_metrics.get("scope"), "scope").get("name")
            scope_name = scope_name if isinstance(scope_name, str) else ""
            for metric in json_list(scope_metrics, "metrics", "scopeMetrics[]"):
                metric = json_object(metric, "metrics[]")
                name = metric.get("name")
                histogram = metric.get("histogram")
                if name not in GENAI_METRICS or not isinstance(histogram, dict):
                    for kind in ("sum", "gauge", "histogram", "exponentialHistogram", "summary"):
                        data = metric.get(kind)
                        if isinstance(data, dict) and isinstance(data.get("dataPoints"), list):
                            others += len(data["dataPoints"])
                    continue
                temporality = json_int(histogram.get("aggregationTemporality"))
                for p in json_list(histogram, "dataPoints", "histogram"):
                    p = json_object(p, "dataPoints[]")
                    raw = json_attributes(p, "dataPoint")
                    bounds = [json_float(b) for b in json_list(p, "explicitBounds", "dataPoint")]
                    points.append(
                        GenAIPoint(
                            str(name),
                            resource,
                            scope_name,
                            {k: json_value(v) for k, v in raw.items()},
                            temporality,
                            json_int(p.get("startTimeUnixNano")),
                            json_int(p.get("timeUnixNano")),
                            json_int(p.get("count")),
                            json_float(p.get("sum")),
                            [json_int(c) for c in json_list(p, "bucketCounts", "dataPoint")],
                            bounds,
                            _stream_id(
                                resource_id,
                                scope_name.encode(),
                                str(name).encode(),
                                _key_bytes(raw),
                            ),
                        )
                    )
    return points, others
