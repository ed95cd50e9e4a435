"""A slim, wire-compatible view of the OTLP trace protobuf for the hot path.

The official ``ExportTraceServiceRequest`` stores span attributes as a repeated
``KeyValue`` list, so finding one attribute means walking every attribute in
Python. On the wire a ``KeyValue`` (key = 1, value = 2) is byte for byte a
protobuf *map entry*, so declaring ``attributes`` as ``map<string, bytes>``
lets the C (upb) parser build a hash map and lets us look up the dozen keys we
care about without touching the other attributes. The value stays the
serialized ``AnyValue`` until we need it (``decode.any_value``), which is
cheaper than materialising a message object per attribute. Fields we never
read (events, links, trace state, ...) are left out and skipped by the parser.

Metrics have a view of their own (``SlimMetricsRequest``) for a second reason:
an attribute value is never parsed as a message, so a client's deeply nested
``kvlist_value`` cannot exceed the parser's recursion limit and cost the whole
push (the official classes refuse the request at 64 levels or so). Of the
metrics, only histogram points are read in full; the points of other kinds are
only counted.
"""

from __future__ import annotations

from typing import Any

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

_PACKAGE = "llm_cost_tracker.otlp_slim.v4"
_F = descriptor_pb2.FieldDescriptorProto


def _build_file() -> descriptor_pb2.FileDescriptorProto:
    fdp = descriptor_pb2.FileDescriptorProto(
        name="llm_cost_tracker/otlp_slim/v4/otlp.proto",
        package=_PACKAGE,
        syntax="proto3",
    )

    def message(name: str, fields: list[tuple[str, int, int, str | None]]) -> descriptor_pb2.DescriptorProto:
        msg = fdp.message_type.add(name=name)
        for field_name, number, field_type, type_name in fields:
            field = msg.field.add(name=field_name, number=number, type=field_type, label=_F.LABEL_OPTIONAL)
            if type_name:
                field.type_name = type_name
        return msg

    def attribute_map(msg: descriptor_pb2.DescriptorProto, number: int) -> None:
        entry = msg.nested_type.add(name="AttributesEntry")
        entry.options.map_entry = True
        entry.field.add(name="key", number=1, type=_F.TYPE_STRING, label=_F.LABEL_OPTIONAL)
        entry.field.add(name="value", number=2, type=_F.TYPE_BYTES, label=_F.LABEL_OPTIONAL)
        msg.field.add(
            name="attributes",
            number=number,
            type=_F.TYPE_MESSAGE,
            label=_F.LABEL_REPEATED,
            type_name=f".{_PACKAGE}.{msg.name}.AttributesEntry",
        )

    def repeated(msg: descriptor_pb2.DescriptorProto, name: str, number: int, type_name: str) -> None:
        msg.field.add(name=name, number=number, type=_F.TYPE_MESSAGE, label=_F.LABEL_REPEATED, type_name=type_name)

    message("Status", [("message", 2, _F.TYPE_STRING, None), ("code", 3, _F.TYPE_INT32, None)])
    span = message(
        "Span",
        [
            ("trace_id", 1, _F.TYPE_BYTES, None),
            ("span_id", 2, _F.TYPE_BYTES, None),
            ("parent_span_id", 4, _F.TYPE_BYTES, None),
            ("name", 5, _F.TYPE_STRING, None),
            ("kind", 6, _F.TYPE_INT32, None),
            ("start_time_unix_nano", 7, _F.TYPE_FIXED64, None),
            ("end_time_unix_nano", 8, _F.TYPE_FIXED64, None),
            ("status", 15, _F.TYPE_MESSAGE, f".{_PACKAGE}.Status"),
        ],
    )
    attribute_map(span, 9)
    resource = message("Resource", [])
    attribute_map(resource, 1)
    message("Scope", [("name", 1, _F.TYPE_STRING, None), ("version", 2, _F.TYPE_STRING, None)])
    scope_spans = message("ScopeSpans", [("scope", 1, _F.TYPE_MESSAGE, f".{_PACKAGE}.Scope")])
    repeated(scope_spans, "spans", 2, f".{_PACKAGE}.Span")
    resource_spans = message("ResourceSpans", [("resource", 1, _F.TYPE_MESSAGE, f".{_PACKAGE}.Resource")])
    repeated(resource_spans, "scope_spans", 2, f".{_PACKAGE}.ScopeSpans")
    request = message("TraceRequest", [])
    repeated(request, "resource_spans", 1, f".{_PACKAGE}.ResourceSpans")

    point = message(
        "HistogramDataPoint",
        [
            ("start_time_unix_nano", 2, _F.TYPE_FIXED64, None),
            ("time_unix_nano", 3, _F.TYPE_FIXED64, None),
            ("count", 4, _F.TYPE_FIXED64, None),
            ("sum", 5, _F.TYPE_DOUBLE, None),
        ],
    )
    attribute_map(point, 9)
    point.field.add(name="bucket_counts", number=6, type=_F.TYPE_FIXED64, label=_F.LABEL_REPEATED)
    point.field.add(name="explicit_bounds", number=7, type=_F.TYPE_DOUBLE, label=_F.LABEL_REPEATED)
    message("OtherDataPoint", [])  # a point of another kind: only counted
    histogram = message("Histogram", [("aggregation_temporality", 2, _F.TYPE_INT32, None)])
    repeated(histogram, "data_points", 1, f".{_PACKAGE}.HistogramDataPoint")
    other = message("OtherPoints", [])
    repeated(other, "data_points", 1, f".{_PACKAGE}.OtherDataPoint")
    message(
        "Metric",
        [
            ("name", 1, _F.TYPE_STRING, None),
            ("gauge", 5, _F.TYPE_MESSAGE, f".{_PACKAGE}.OtherPoints"),
            ("sum", 7, _F.TYPE_MESSAGE, f".{_PACKAGE}.OtherPoints"),
            ("histogram", 9, _F.TYPE_MESSAGE, f".{_PACKAGE}.Histogram"),
            ("exponential_histogram", 10, _F.TYPE_MESSAGE, f".{_PACKAGE}.OtherPoints"),
            ("summary", 11, _F.TYPE_MESSAGE, f".{_PACKAGE}.OtherPoints"),
        ],
    )
    scope_metrics = message("ScopeMetrics", [("scope", 1, _F.TYPE_MESSAGE, f".{_PACKAGE}.Scope")])
    repeated(scope_metrics, "metrics", 2, f".{_PACKAGE}.Metric")
    resource_metrics = message("ResourceMetrics", [("resource", 1, _F.TYPE_MESSAGE, f".{_PACKAGE}.Resource")])
    repeated(resource_metrics, "scope_metrics", 2, f".{_PACKAGE}.ScopeMetrics")
    metrics_request = message("MetricsRequest", [])
    repeated(metrics_request, "resource_metrics", 1, f".{_PACKAGE}.ResourceMetrics")
    return fdp


def _message_class(name: str) -> Any:
    pool = descriptor_pool.Default()
    try:
        descriptor = pool.FindMessageTypeByName(f"{_PACKAGE}.{name}")
    except KeyError:
        pool.Add(_build_file())
        descriptor = pool.FindMessageTypeByName(f"{_PACKAGE}.{name}")
    return message_factory.GetMessageClass(descriptor)


SlimTraceRequest: Any = _message_class("TraceRequest")
"""Parses the bytes of an ``ExportTraceServiceRequest``; attributes are maps."""
SlimMetricsRequest: Any = _message_class("MetricsRequest")
"""Parses the bytes of an ``ExportMetricsServiceRequest``; attributes are maps, other kinds' points empty."""
