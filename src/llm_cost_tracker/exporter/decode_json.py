"""OTLP/JSON bodies → the same plain spans as ``decode`` gives for protobuf.

Read with ``orjson`` rather than ``json_format``: the OTLP JSON mapping writes trace and span ids as
hex (``json_format`` expects base64), and ``orjson`` is an order of magnitude faster. A well-formed
attribute list is read in one pass; anything odd takes the checked path, which reports where.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from typing import Any, Final

from llm_cost_tracker.exporter.aliases import Aliases, canonical_attributes, set_field
from llm_cost_tracker.exporter.decode import MAX_ARRAY_VALUES, SpanData
from llm_cost_tracker.httpbody import DecodeError, load_json_object


def json_list(obj: Mapping[str, Any], key: str, where: str) -> list[Any]:
    value = obj.get(key)
    if value is None:
        return []
    if not isinstance(value, list):
        raise DecodeError(f"{where}.{key} is not an array")
    return value


def json_object(value: Any, where: str) -> Mapping[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise DecodeError(f"{where} is not an object")
    return value


def json_int(value: Any) -> int:
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


MALFORMED: Final = "\ufffd"
"""What a value of the wrong JSON shape reads as (``{"intValue": [100]}``, ``{"stringValue": 5}``): not a
token count and not a model name, so the span is rejected and reported (``invalid_usage``,
``invalid_model``) instead of counted without it."""


def json_value(value: Any) -> object:
    """The Python value of an OTLP/JSON ``AnyValue`` object: ``None`` for no value, maps and bytes;
    ``MALFORMED`` for a value of the wrong shape."""
    if type(value) is not dict:
        return None if value is None else MALFORMED
    v = value.get("stringValue")
    if v is not None:
        return v if type(v) is str else MALFORMED
    v = value.get("intValue")
    if v is not None:
        if type(v) is int:
            return v
        if type(v) is str:
            try:
                return int(v)
            except ValueError:
                return v  # kept as text so that the normaliser reports it as invalid usage
        return MALFORMED
    v = value.get("doubleValue")
    if v is not None:
        # Whole-number doubles may be written as JSON integers ("sum": 1250).
        if type(v) is float or type(v) is int:
            return float(v)
        if v in ("NaN", "Infinity", "-Infinity"):
            return float(v)
        return MALFORMED
    v = value.get("boolValue")
    if v is not None:
        return v if type(v) is bool else MALFORMED
    v = value.get("arrayValue")
    if type(v) is dict:
        values = v.get("values")
        return [json_value(item) for item in values[:MAX_ARRAY_VALUES]] if type(values) is list else MALFORMED
    return None


def json_attributes(obj: Mapping[str, Any], where: str) -> dict[str, Any]:
    raw: dict[str, Any] = {}
    for kv in json_list(obj, "attributes", where):
        if isinstance(kv, dict):
            key = kv.get("key")
            if isinstance(key, str):
                raw[key] = kv.get("value")
    return raw


def id_bytes(value: Any) -> bytes:
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
        value = json_value(kv.get("value"))
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
        raw = {k: v for k, v in json_attributes(json_object(span, "spans[]"), "span").items() if k in aliases}
        fields = canonical_attributes(raw, raw, json_value, aliases)
    status = span.get("status")
    code = status.get("code", 0) if type(status) is dict else 0
    trace_id = id_bytes(span.get("traceId"))
    return (
        fields,
        code if type(code) is int else _STATUS_NAMES.get(code, 0) if type(code) is str else 0,
        json_int(span.get("startTimeUnixNano")),
        json_int(span.get("endTimeUnixNano")),
        trace_id + id_bytes(span.get("spanId")),
        trace_id + id_bytes(span.get("parentSpanId")),
    )


def iter_spans_json(body: bytes, aliases: Aliases, cache: dict[Any, object] | None = None) -> Iterator[SpanData]:
    """Spans of an OTLP/JSON ``ExportTraceServiceRequest`` (``cache`` is unused: JSON values are not hashable)."""
    document = load_json_object(body)
    for resource_spans in json_list(document, "resourceSpans", "$"):
        resource_spans = json_object(resource_spans, "resourceSpans[]")
        resource_obj = json_object(resource_spans.get("resource"), "resource")
        resource = {k: json_value(v) for k, v in json_attributes(resource_obj, "resource").items()}
        for scope_spans in json_list(resource_spans, "scopeSpans", "resourceSpans[]"):
            scope_spans = json_object(scope_spans, "scopeSpans[]")
            scope_name = json_object(scope_spans.get("scope"), "scope").get("name")
            scope_name = scope_name if isinstance(scope_name, str) else ""
            for span in json_list(scope_spans, "spans", "scopeSpans[]"):
                if type(span) is not dict:
                    raise DecodeError("spans[] is not an object")
                fields, status_code, start_ns, end_ns, span_key, parent_key = _json_span(span, aliases)
                yield (resource, scope_name, fields, status_code, start_ns, end_ns, span_key, parent_key)
