"""OTLP trace bodies (protobuf) → plain spans; ``decode_json`` reads the JSON encoding and
``decode_points`` the metric pushes.

Decoders pick out only the attributes the normaliser reads, as plain Python
values, so everything downstream is independent of the wire encoding.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator, Mapping
from typing import Any, Final

from google.protobuf.message import DecodeError as ProtobufDecodeError

from llm_cost_tracker.exporter.aliases import (
    ALIAS_TABLE,
    INVOCATION_PARAMETERS,
    MODEL_KEYS,
    Aliases,
    canonical_attributes,
)
from llm_cost_tracker.exporter.otlp_schema import SlimTraceRequest
from llm_cost_tracker.httpbody import DecodeError

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


# --- protobuf ---------------------------------------------------------------------------------


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
            # Invalid UTF-8 becomes U+FFFD rather than no value, so that a garbled model name is rejected and
            # reported instead of the span passing for "not GenAI".
            return data[2:].decode("utf-8", "replace")
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
                value = data[pos : pos + length].decode("utf-8", "replace") if tag == 0x0A else None
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


# --- JSON -------------------------------------------------------------------------------------
