"""Alertmanager's webhook payload (version 4) and API v2 alerts, validated."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from typing import Any, Literal

import orjson
import pydantic

from llm_cost_tracker.httpbody import DecodeError, load_json_object


class PayloadError(ValueError):
    """The request is not an Alertmanager webhook payload we can read (answered with 400)."""


class _Loose(pydantic.BaseModel):
    # Alertmanager adds fields over time; unknown ones are ignored, known ones are checked.
    model_config = pydantic.ConfigDict(extra="ignore", frozen=True)


class Alert(_Loose):
    status: Literal["firing", "resolved"]
    labels: dict[str, str]
    annotations: dict[str, str] = {}
    startsAt: str = ""
    endsAt: str = ""
    fingerprint: str = ""

    @property
    def key(self) -> str:
        """Alertmanager's fingerprint, or the same kind of stable hash of the labels."""
        if self.fingerprint:
            return self.fingerprint
        text = "\xff".join(f"{k}\xfe{v}" for k, v in sorted(self.labels.items()))
        return hashlib.sha256(text.encode()).hexdigest()[:16]


class WebhookMessage(_Loose):
    version: Literal["4"]
    status: Literal["firing", "resolved"]
    receiver: str = ""
    alerts: list[Alert]


def parse_webhook(body: bytes) -> WebhookMessage:
    try:
        document = load_json_object(body)
    except DecodeError as exc:
        raise PayloadError(str(exc)) from None
    if document.get("version") != "4":
        raise PayloadError(f"unsupported webhook payload version {document.get('version')!r} (expected '4')")
    try:
        return WebhookMessage.model_validate(document)
    except pydantic.ValidationError as exc:
        first = exc.errors(include_url=False)[0]
        where = ".".join(str(p) for p in first["loc"])
        raise PayloadError(f"invalid webhook payload: {where}: {first['msg']} ({exc.error_count()} problems)") from None


class _ApiStatus(_Loose):
    state: str = "active"


class ApiAlert(_Loose):
    """An alert of Alertmanager's ``GET /api/v2/alerts``."""

    labels: dict[str, str]
    startsAt: str = ""
    endsAt: str = ""
    fingerprint: str = ""
    status: _ApiStatus = _ApiStatus()

    def as_firing(self) -> Alert:
        return Alert(
            status="firing",
            labels=self.labels,
            startsAt=self.startsAt,
            endsAt=self.endsAt,
            fingerprint=self.fingerprint,
        )


def parse_api_alerts(body: bytes) -> list[Alert]:
    """The active alerts of an API v2 response."""
    try:
        document: Any = orjson.loads(body)
        alerts = pydantic.TypeAdapter(list[ApiAlert]).validate_python(document)
    except (orjson.JSONDecodeError, pydantic.ValidationError) as exc:
        raise PayloadError(f"not an Alertmanager API v2 alert list: {exc}") from None
    return [a.as_firing() for a in alerts if a.status.state == "active"]


def timestamp(text: str) -> float:
    """Seconds since the epoch of an RFC 3339 time as Alertmanager writes it (nanoseconds allowed); 0 if unreadable."""
    if not text:
        return 0.0
    value = text.strip().replace("Z", "+00:00")
    if "." in value:  # Python reads at most microseconds
        head, _, rest = value.partition(".")
        digits = "".join(c for c in rest if c.isdigit())
        zone = rest[len(digits) :]
        value = f"{head}.{digits[:6].ljust(6, '0')}{zone}"
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return 0.0
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()
