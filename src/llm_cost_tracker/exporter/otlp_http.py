"""The OTLP/HTTP receiver (port 4318): ``POST /v1/traces``, ``/v1/metrics``, ``/v1/logs``.

It follows the OTLP/HTTP specification: protobuf or JSON by ``Content-Type``
(parameters allowed), ``gzip``/``deflate`` bodies, the body limit checked
before *and* after decompression, 200 with an empty ``Export*ServiceResponse``
(``partial_success`` set when GenAI spans were rejected), 400 with a
``google.rpc.Status`` for undecodable data, 413, 415 and 405.
Logs are accepted and discarded: they carry no token counts, and apps that
export every signal to one endpoint must not see errors for them.
"""

from __future__ import annotations

import gc
import logging
import zlib
from collections.abc import Callable
from typing import Final, Literal

import anyio.to_thread
import orjson
from google.protobuf.message import Message
from google.rpc import code_pb2, error_details_pb2, status_pb2
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceResponse
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceResponse
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from llm_cost_tracker.exporter.decode import DecodeError
from llm_cost_tracker.exporter.ingest import Encoding, Ingestor, IngestResult
from llm_cost_tracker.exporter.selfmetrics import SelfMetrics

log = logging.getLogger(__name__)

Signal = Literal["traces", "metrics", "logs"]
PROTOBUF: Final = "application/x-protobuf"
JSON: Final = "application/json"
_MEDIA_TYPES: Final[dict[str, Encoding]] = {
    "application/x-protobuf": "protobuf",
    "application/protobuf": "protobuf",
    "application/json": "json",
}
YOUNG_GC_EVERY: Final = 16
INLINE_LIMIT: Final = 1024 * 1024
"""Bodies larger than this are decoded on a worker thread so the event loop stays responsive."""


class RequestRefused(Exception):
    def __init__(self, status: int, reason: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.reason = reason
        self.message = message


def _status_body(status: int, message: str, encoding: Encoding) -> bytes:
    code = {
        400: code_pb2.INVALID_ARGUMENT,
        413: code_pb2.RESOURCE_EXHAUSTED,
        405: code_pb2.UNIMPLEMENTED,
    }.get(status, code_pb2.INVALID_ARGUMENT)
    if encoding == "json":
        body: dict[str, object] = {"code": code, "message": message}
        if status == 400:
            body["details"] = [
                {
                    "@type": "type.googleapis.com/google.rpc.BadRequest",
                    "fieldViolations": [{"field": "body", "description": message}],
                }
            ]
        return orjson.dumps(body)
    status_message = status_pb2.Status(code=code, message=message)
    if status == 400:
        bad_request = error_details_pb2.BadRequest(
            field_violations=[error_details_pb2.BadRequest.FieldViolation(field="body", description=message)]
        )
        status_message.details.add().Pack(bad_request)
    return bytes(status_message.SerializeToString())


def _media_encoding(content_type: str | None) -> Encoding | None:
    if not content_type:
        return None
    return _MEDIA_TYPES.get(content_type.split(";", 1)[0].strip().lower())


def decompress(body: bytes, content_encoding: str, limit: int) -> bytes:
    """Inflate a gzip or deflate body, refusing to produce more than ``limit`` bytes (gzip bombs)."""
    if content_encoding == "gzip":
        wbits = 16 + zlib.MAX_WBITS
    elif content_encoding == "deflate":
        wbits = zlib.MAX_WBITS if body[:1] and (body[0] & 0x0F) == 8 else -zlib.MAX_WBITS
    else:
        raise RequestRefused(415, "unsupported_encoding", f"unsupported Content-Encoding {content_encoding!r}")
    out = bytearray()
    data = body
    try:
        while data:
            inflater = zlib.decompressobj(wbits)
            while data:
                out += inflater.decompress(data, limit + 1 - len(out))
                if len(out) > limit:
                    raise RequestRefused(413, "body_too_large", f"decompressed body exceeds {limit} bytes")
                data = inflater.unconsumed_tail
            out += inflater.flush()
            if not inflater.eof:
                raise RequestRefused(400, "bad_compression", f"truncated {content_encoding} body")
            data = inflater.unused_data  # a further gzip member
    except zlib.error as exc:
        raise RequestRefused(400, "bad_compression", f"invalid {content_encoding} body: {exc}") from None
    if len(out) > limit:
        raise RequestRefused(413, "body_too_large", f"decompressed body exceeds {limit} bytes")
    return bytes(out)


async def read_body(request: Request, limit: int) -> bytes:
    """The request body, refusing (413) as soon as it exceeds ``limit`` bytes."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise RequestRefused(413, "body_too_large", f"body exceeds {limit} bytes")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise RequestRefused(413, "body_too_large", f"body exceeds {limit} bytes")
    return bytes(body)


def _success_body(signal: Signal, result: IngestResult | None, encoding: Encoding) -> bytes:
    rejected = result.rejected_count if result is not None else 0
    noun = "spans" if signal == "traces" else "data points"
    message = result.message(noun) if result is not None else ""
    if encoding == "json":
        if not rejected:
            return b"{}"
        field = "rejectedSpans" if signal == "traces" else "rejectedDataPoints"
        return orjson.dumps({"partialSuccess": {field: str(rejected), "errorMessage": message}})
    response: Message
    if signal == "traces":
        response = ExportTraceServiceResponse()
        if rejected:
            response.partial_success.rejected_spans = rejected
            response.partial_success.error_message = message
    elif signal == "metrics":
        response = ExportMetricsServiceResponse()
        if rejected:
            response.partial_success.rejected_data_points = rejected
            response.partial_success.error_message = message
    else:
        response = ExportLogsServiceResponse()
    return bytes(response.SerializeToString())


def create_otlp_app(ingestor: Ingestor, metrics: SelfMetrics, max_body_bytes: Callable[[], int]) -> Starlette:
    """The OTLP/HTTP ASGI app. ``max_body_bytes`` is read per request, so a reload can change it."""

    requests_done = [0]

    def handler(signal: Signal) -> Callable[[Request], object]:
        requests_counter = metrics.otlp_requests
        errors_counter = metrics.otlp_request_errors

        async def export(request: Request) -> Response:
            encoding = _media_encoding(request.headers.get("content-type"))
            answer_encoding: Encoding = encoding or "protobuf"
            media_type = JSON if answer_encoding == "json" else PROTOBUF
            try:
                if request.method != "POST":
                    raise RequestRefused(405, "method_not_allowed", f"{request.method} is not allowed; use POST")
                if encoding is None:
                    raise RequestRefused(
                        415,
                        "unsupported_media_type",
                        f"unsupported Content-Type {request.headers.get('content-type')!r}; use {PROTOBUF} or {JSON}",
                    )
                limit = max_body_bytes()
                body = await read_body(request, limit)
                content_encoding = request.headers.get("content-encoding", "identity").strip().lower()
                if content_encoding not in ("", "identity"):
                    body = decompress(body, content_encoding, limit)
                result = None
                if signal != "logs":
                    ingest = ingestor.traces if signal == "traces" else ingestor.metrics_push
                    if len(body) > INLINE_LIMIT:
                        result = await anyio.to_thread.run_sync(ingest, body, encoding)
                    else:
                        result = ingest(body, encoding)
            except RequestRefused as refused:
                errors_counter.labels(signal, refused.reason).inc()
                requests_counter.labels(signal, answer_encoding, str(refused.status)).inc()
                headers = {"Allow": "POST"} if refused.status == 405 else None
                return Response(
                    _status_body(refused.status, refused.message, answer_encoding),
                    status_code=refused.status,
                    media_type=media_type,
                    headers=headers,
                )
            except DecodeError as exc:
                errors_counter.labels(signal, "decode_error").inc()
                requests_counter.labels(signal, answer_encoding, "400").inc()
                log.debug("undecodable %s export: %s", signal, exc)
                return Response(_status_body(400, str(exc), answer_encoding), status_code=400, media_type=media_type)
            except Exception:
                # A bug, not the client's fault; never echo the payload.
                log.exception("failed to process a %s export", signal)
                errors_counter.labels(signal, "internal_error").inc()
                requests_counter.labels(signal, answer_encoding, "500").inc()
                return Response(
                    _status_body(500, "internal error processing the export", answer_encoding),
                    status_code=500,
                    media_type=media_type,
                )
            requests_counter.labels(signal, answer_encoding, "200").inc()
            response = Response(_success_body(signal, result, answer_encoding), media_type=media_type)
            # A young-generation pass every few requests keeps each pass to a millisecond or
            # so; see exporter.server.own_garbage_collection.
            requests_done[0] += 1
            if requests_done[0] % YOUNG_GC_EVERY == 0:
                gc.collect(0)
            return response

        return export

    methods = ["POST", "GET", "PUT", "DELETE", "PATCH", "HEAD"]
    return Starlette(
        routes=[
            Route("/v1/traces", handler("traces"), methods=methods),
            Route("/v1/metrics", handler("metrics"), methods=methods),
            Route("/v1/logs", handler("logs"), methods=methods),
        ]
    )
