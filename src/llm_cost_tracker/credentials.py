"""The credentials of an ``Authorization`` header, as every listener reads them (no comparison here: callers
compare in constant time)."""

from __future__ import annotations

import base64
import binascii


def bearer_token(authorization: str | None) -> str | None:
    """The token of ``Authorization: Bearer <token>`` (scheme case-insensitive), else ``None``."""
    if not authorization:
        return None
    scheme, _, token = authorization.strip().partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        return None
    return token


def basic_credentials(authorization: str | None) -> tuple[bytes, bytes] | None:
    """``(user, password)`` of ``Authorization: Basic <base64>``, else ``None``."""
    if not authorization:
        return None
    scheme, _, encoded = authorization.strip().partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True)
    except (binascii.Error, ValueError):
        return None
    user, sep, password = decoded.partition(b":")
    return (user, password) if sep else None
