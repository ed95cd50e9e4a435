"""The OTLP/HTTP receiver (port 4318): ``POST /v1/traces``, ``/v1/metrics``, ``/v1/logs``.

It follows the OTLP/HTTP specification: protobuf or JSON by ``Content-Type``
(parameters allowed), ``gzip``/``deflate`` bodies, the body limit checked
before *and* after decompression, 200 with an empty ``Export*ServiceResponse``
(``partial_success`` set when GenAI spans were rejected), 400 with a
``google.rpc.Status`` for undecodable data, 413, 415 and 405; with a tenants
file, 401 (no or unknown token), 403 (a read-only token) and 429 with
``Retry-After`` (over the tenant's rate).
Logs are accepted and discarded: they carry no token counts, and apps that
export every signal to one endpoint must not see errors for them.
"""

from __future__ import annotations

import gc
import logging
from collections.abc import Callable
from typing import Final, Literal, Protocol

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

from llm_cost_tracker.exporter.ingest import Ingestor
from llm_cost_tracker.exporter.outcome import Encoding, IngestResult
from llm_cost_tracker.exporter.selfmetrics import SelfMetrics
from llm_cost_tracker.httpbody import DecodeError, RequestRefused, decompress, read_body

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


_CODES: Final = {
    400: code_pb2.INVALID_ARGUMENT,
    401: code_pb2.UNAUTHENTICATED,
    403: code_pb2.PERMISSION_DENIED,
    405: code_pb2.UNIMPLEMENTED,
    413: code_pb2.RESOURCE_EXHAUSTED,
    429: code_pb2.RESOURCE_EXHAUSTED,
}


def _status_body(status: int, message: str, encoding: Encoding, retry_after_s: int | None = None) -> bytes:
    """A ``google.rpc.Status``: ``BadRequest`` details for a 400, ``RetryInfo`` for a 429."""
    code = _CODES.get(status, code_pb2.INTERNAL if status >= 500 else code_pb2.INVALID_ARGUMENT)
    if encoding == "json":
        body: dict[str, object] = {"code": code, "message": message}
        if status == 400:
            body["details"] = [
                {
                    "@type": "type.googleapis.com/google.rpc.BadRequest",
                    "fieldViolations": [{"field": "body", "description": message}],
                }
            ]
        elif retry_after_s is not None:
            body["details"] = [{"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": f"{retry_after_s}s"}]
        return orjson.dumps(body)
    status_message = status_pb2.Status(code=code, message=message)
    if status == 400:
        bad_request = error_details_pb2.BadRequest(
            field_violations=[error_details_pb2.BadRequest.FieldViolation(field="body", description=message)]
        )
        status_message.details.add().Pack(bad_request)
    elif retry_after_s is not None:
        retry = error_details_pb2.RetryInfo()
        retry.retry_delay.seconds = retry_after_s
        status_message.details.add().Pack(retry)
    return bytes(status_message.SerializeToString())


def _media_encoding(content_type: str | None) -> Encoding | None:
    if not content_type:
        return None
    return _MEDIA_TYPES.get(content_type.split(";", 1)[0].strip().lower())


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


class Admission(Protocol):
    """A request let in: the ingestor that counts it, and what its spans cost the sender's rate limit."""

    @property
    def ingestor(self) -> Ingestor: ...

    def charge(self, items: int) -> None: ...


def create_otlp_app(
    admit: Callable[[str | None], Admission], metrics: SelfMetrics, max_body_bytes: Callable[[], int]
) -> Starlette:
    """The OTLP/HTTP ASGI app. ``admit`` takes the ``Authorization`` header and says which ingestor counts the
    request (raising ``RequestRefused``: 401, 403, 429); ``max_body_bytes`` is read per request, so a reload can
    change it."""

    requests_done = [0]

    def handler(signal: Signal) -> Callable[[Request], object]:
        requests_counter = metrics.otlp_requests
        errors_counter = metrics.otlp_request_errors

        async def export(request: Request) -> Response:
            encoding = _media_encoding(request.headers.get("content-type"))
            answer_encoding: Encoding = encoding or "protobuf"
            counted = encoding or "unknown"  # the request's encoding, in the requests counter: none it could read
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
                admitted = admit(request.headers.get("authorization"))
                limit = max_body_bytes()
                body = await read_body(request, limit)
                content_encoding = request.headers.get("content-encoding", "identity").strip().lower()
                if content_encoding not in ("", "identity"):
                    body = decompress(body, content_encoding, limit)
                result = None
                if signal != "logs":
                    ingestor = admitted.ingestor
                    ingest = ingestor.traces if signal == "traces" else ingestor.metrics_push
                    if len(body) > INLINE_LIMIT:
                        result = await anyio.to_thread.run_sync(ingest, body, encoding)
                    else:
                        result = ingest(body, encoding)
                    admitted.charge(result.received)
            except RequestRefused as refused:
                errors_counter.labels(signal, refused.reason).inc()
                requests_counter.labels(signal, counted, str(refused.status)).inc()
                headers = {"Allow": "POST"} if refused.status == 405 else refused.headers
                retry_after = refused.headers.get("Retry-After") if refused.headers else None
                return Response(
                    _status_body(
                        refused.status, refused.message, answer_encoding, int(retry_after) if retry_after else None
                    ),
                    status_code=refused.status,
                    media_type=media_type,
                    headers=headers,
                )
            except DecodeError as exc:
                errors_counter.labels(signal, "decode_error").inc()
                requests_counter.labels(signal, counted, "400").inc()
                log.debug("undecodable %s export: %s", signal, exc)
                return Response(_status_body(400, str(exc), answer_encoding), status_code=400, media_type=media_type)
            except Exception:
                # A bug, not the client's fault; never echo the payload.
                log.exception("failed to process a %s export", signal)
                errors_counter.labels(signal, "internal_error").inc()
                requests_counter.labels(signal, counted, "500").inc()
                return Response(
                    _status_body(500, "internal error processing the export", answer_encoding),
                    status_code=500,
                    media_type=media_type,
                )
            requests_counter.labels(signal, counted, "200").inc()
            response = Response(_success_body(signal, result, answer_encoding), media_type=media_type)
            # A young-generation pass every few requests keeps each pass to a millisecond or
            # so; see app.own_garbage_collection.
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
