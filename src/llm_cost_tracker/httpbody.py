"""Request bodies as both HTTP listeners read them: bounded, decompressed with a limit, JSON checked.

Shared by the OTLP receiver and the Alertmanager webhook, so that neither component reaches into the other.
"""

from __future__ import annotations

import zlib
from typing import Any

import orjson
from starlette.requests import Request


class DecodeError(ValueError):
    """The body is not a valid message of the expected kind."""


class RequestRefused(Exception):
    """A request answered with an error status; ``headers`` go with the answer (``Retry-After``, ...)."""

    def __init__(self, status: int, reason: str, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.reason = reason
        self.message = message
        self.headers = headers


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


def load_json_object(body: bytes) -> dict[str, Any]:
    """A JSON body that must be an object; raises ``DecodeError`` saying why it is not."""
    try:
        document = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise DecodeError(f"not valid JSON: {exc}") from None
    if not isinstance(document, dict):
        raise DecodeError("the JSON body is not an object")
    return document
