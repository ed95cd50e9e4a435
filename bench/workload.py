"""Bench workload: 100-span OTLP requests built from real captured spans.

Every request must carry fresh span and response ids (the exporter counts a
repeated span once), so requests are made from one serialized template by
overwriting the ids at known offsets: cheap enough to do per request in the
load generator, and nothing but the ids differs from the captured bytes. Each
copy of the capture in a request is a trace of its own, as each request of an
app is.
"""

from __future__ import annotations

import base64
import random
from dataclasses import dataclass
from pathlib import Path

import orjson
from google.protobuf import json_format
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

CORPUS = Path(__file__).resolve().parent.parent / "tests" / "corpus"
TEMPLATE_PAYLOAD = CORPUS / "traceloop" / "traces-0001.pb"
SPANS_PER_REQUEST = 100


@dataclass
class Template:
    body: bytes
    span_id_offsets: list[int]
    """Where each span's 8-byte id sits (protobuf: raw bytes; JSON: 16 hex characters)."""
    trace_id_offsets: list[tuple[int, int]]
    """(offset, copy number) of each span's 16-byte trace id (JSON: 32 hex characters)."""
    response_id_offsets: list[tuple[int, int, int]]
    """(offset, length, call number) of each response id; spans of one call share the number."""
    hex_ids: bool

    def render(self, request_number: int) -> bytes:
        body = bytearray(self.body)
        prefix = request_number.to_bytes(5, "big")
        for index, offset in enumerate(self.span_id_offsets):
            span_id = prefix + index.to_bytes(3, "big")
            if self.hex_ids:
                body[offset : offset + 16] = span_id.hex().encode()
            else:
                body[offset : offset + 8] = span_id
        for offset, copy in self.trace_id_offsets:
            trace_id = request_number.to_bytes(8, "big") + copy.to_bytes(8, "big")
            if self.hex_ids:
                body[offset : offset + 32] = trace_id.hex().encode()
            else:
                body[offset : offset + 16] = trace_id
        for offset, length, call in self.response_id_offsets:
            body[offset : offset + length] = f"{request_number:012d}{call:06d}".encode().ljust(length, b"x")[:length]
        return bytes(body)


Markers = tuple[list[bytes], list[tuple[bytes, int]], list[str]]
"""Random placeholders written into the template: span ids, (trace id, copy), response ids."""


def _request(spans_per_request: int = SPANS_PER_REQUEST) -> tuple[ExportTraceServiceRequest, Markers]:
    source = ExportTraceServiceRequest()
    source.ParseFromString(TEMPLATE_PAYLOAD.read_bytes())
    spans = [span for scope in source.resource_spans[0].scope_spans for span in scope.spans]
    rng = random.Random(7)
    request = ExportTraceServiceRequest()
    resource_spans = request.resource_spans.add()
    resource_spans.resource.CopyFrom(source.resource_spans[0].resource)
    scopes: dict[str, object] = {}
    span_markers: list[bytes] = []
    trace_markers: list[tuple[bytes, int]] = []
    response_markers: list[str] = []
    copy = 0
    while len(span_markers) < spans_per_request:
        response_ids: dict[str, str] = {}  # spans of one call share a response id within a copy
        trace_marker = rng.randbytes(16)
        trace_markers.append((trace_marker, copy))
        for template in spans:
            if len(span_markers) == spans_per_request:
                break
            scope_name = next(s.scope.name for s in source.resource_spans[0].scope_spans if template in s.spans)
            scope = scopes.get(scope_name)
            if scope is None:
                scope = resource_spans.scope_spans.add()
                scope.scope.name = scope_name  # type: ignore[attr-defined]
                scopes[scope_name] = scope
            span = scope.spans.add()  # type: ignore[attr-defined]
            span.CopyFrom(template)
            span.span_id = marker = rng.randbytes(8)
            span.trace_id = trace_marker
            span_markers.append(marker)
            for kv in span.attributes:
                if kv.key == "gen_ai.response.id":
                    original = kv.value.string_value
                    if original not in response_ids:
                        response_ids[original] = "resp_" + "".join(rng.choices("ABCDEFGHJKLMNPQRSTUVWXYZ", k=19))
                        response_markers.append(response_ids[original])
                    kv.value.string_value = response_ids[original]
        copy += 1
    return request, (span_markers, trace_markers, response_markers)


def protobuf_template() -> Template:
    request, (span_markers, trace_markers, response_markers) = _request()
    body = request.SerializeToString()
    return Template(
        body,
        [body.index(m) for m in span_markers],
        [(i, copy) for m, copy in trace_markers for i in _all(body, m)],
        [(i, len(m), call) for call, m in enumerate(response_markers) for i in _all(body, m.encode())],
        hex_ids=False,
    )


def json_template() -> Template:
    """The same request as OTLP/JSON (hex ids, int64 as strings), as OTLP/JSON exporters send it."""
    request, (span_markers, trace_markers, response_markers) = _request()
    document = json_format.MessageToDict(request)
    for resource_spans in document["resourceSpans"]:
        for scope in resource_spans["scopeSpans"]:
            for span in scope["spans"]:
                for key in ("traceId", "spanId", "parentSpanId"):
                    if key in span:
                        span[key] = base64.b64decode(span[key]).hex()
    body = orjson.dumps(document)
    return Template(
        body,
        [body.index(m.hex().encode()) for m in span_markers],
        [(i, copy) for m, copy in trace_markers for i in _all(body, m.hex().encode())],
        [(i, len(m), call) for call, m in enumerate(response_markers) for i in _all(body, m.encode())],
        hex_ids=True,
    )


def _all(haystack: bytes, needle: bytes) -> list[int]:
    found, start = [], 0
    while (index := haystack.find(needle, start)) >= 0:
        found.append(index)
        start = index + 1
    return found
