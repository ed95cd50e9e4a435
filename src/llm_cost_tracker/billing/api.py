"""HTTP to the providers' admin APIs: one GET, retried as the providers ask, and every page of a listing.

Both providers page the same way (``has_more``, ``next_page``, passed back as ``page``) and answer a
rate limit with 429 and ``Retry-After``. A response that is not the documented shape is an error, never
an empty result: a reconciliation that silently read $0 would "prove" a 100 % miss, or hide one.
"""

from __future__ import annotations

import email.utils
import json
import random
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any, Final, TypeVar

import httpx
import pydantic

from llm_cost_tracker.clock import midnight

RETRY_STATUSES: Final = frozenset({408, 409, 429, 500, 502, 503, 504, 529})
"""Retried: timeouts, rate limits, server errors and Anthropic's 529 "overloaded"."""
MAX_RETRY_AFTER_SECONDS: Final = 120.0
"""A ``Retry-After`` longer than this ends the attempt (as the official SDKs do) rather than hang."""
MAX_PAGES: Final = 1000


class BillingApiError(Exception):
    """A provider's API could not give the figures; the message names the provider, the endpoint and why."""


class Shape(pydantic.BaseModel):
    """A documented response shape: the fields read must be there and well typed, others are ignored."""

    model_config = pydantic.ConfigDict(extra="ignore", frozen=True)


ShapeT = TypeVar("ShapeT", bound=Shape)


def validated(shape: type[ShapeT], body: dict[str, Any], provider: str, path: str) -> ShapeT:
    """``body`` read as ``shape``; raises ``BillingApiError`` naming the first field that is not as documented."""
    try:
        return shape.model_validate(body)
    except pydantic.ValidationError as exc:
        error = exc.errors()[0]
        where = ".".join(str(part) for part in error["loc"])
        raise BillingApiError(
            f"{provider}: GET {path}: the response is not the documented shape: {where}: {error['msg']}"
        ) from None


def bucket_day(provider: str, start: datetime, end: datetime, path: str) -> date:
    """The UTC day a daily bucket covers; raises ``BillingApiError`` when it is not one whole UTC day."""
    if start != midnight(start.date()) or end - start != timedelta(days=1):
        raise BillingApiError(
            f"{provider}: a daily bucket from {start.isoformat()} to {end.isoformat()} is not one UTC day (GET {path})"
        )
    return start.date()


QueryValue = str | int | Sequence[str]


@dataclass
class AdminApi:
    """One provider's admin API: base URL, auth headers, retries. ``sleep`` and ``jitter`` are injectable."""

    provider: str
    base_url: str
    headers: Mapping[str, str]
    timeout_seconds: float = 30.0
    max_retries: int = 5
    transport: httpx.BaseTransport | None = None
    sleep: Callable[[float], None] = time.sleep
    jitter: Callable[[], float] = random.random
    _client: httpx.Client | None = field(default=None, init=False, repr=False)

    def client(self) -> httpx.Client:
        if self._client is None:
            self._client = httpx.Client(
                base_url=self.base_url.rstrip("/"),
                headers={"user-agent": "llm-cost-tracker", **self.headers},
                timeout=self.timeout_seconds,
                transport=self.transport,
            )
        return self._client

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    def get(self, path: str, params: Mapping[str, QueryValue]) -> dict[str, Any]:
        """The JSON object at ``path``; numbers are read as ``Decimal`` (money must not pass through floats)."""
        query = _query(params)
        for attempt in range(self.max_retries + 1):
            try:
                response = self.client().get(path, params=query)
            except httpx.TransportError as exc:
                if attempt == self.max_retries:
                    raise BillingApiError(
                        f"{self.provider}: GET {self.base_url.rstrip('/')}{path} failed after "
                        f"{attempt + 1} attempts: {exc.__class__.__name__}: {exc}"
                    ) from None
                self.sleep(self._backoff(attempt))
                continue
            if response.status_code in RETRY_STATUSES and attempt < self.max_retries:
                wait = _retry_after(response.headers)
                if wait is not None and wait > MAX_RETRY_AFTER_SECONDS:
                    raise BillingApiError(
                        f"{self.provider}: GET {path} answered {response.status_code} and asks to retry after "
                        f"{wait:.0f} s; try again later ({_error_message(response)})"
                    )
                self.sleep(wait if wait is not None else self._backoff(attempt))
                continue
            if response.status_code != 200:
                raise BillingApiError(self._status_error(path, response, attempt + 1))
            try:
                body = json.loads(response.content, parse_float=Decimal)
            except ValueError:
                raise BillingApiError(
                    f"{self.provider}: GET {path} answered 200 with a body that is not JSON "
                    f"({response.headers.get('content-type', 'no content type')})"
                ) from None
            if not isinstance(body, dict):
                raise BillingApiError(f"{self.provider}: GET {path} answered 200 with JSON that is not an object")
            return body
        raise AssertionError("unreachable")  # pragma: no cover

    def pages(self, path: str, params: Mapping[str, QueryValue]) -> Iterator[dict[str, Any]]:
        """Every page of a listing: the same query again with ``page=<next_page>`` while ``has_more``."""
        seen: set[str] = set()
        query = dict(params)
        for _ in range(MAX_PAGES):
            page = self.get(path, query)
            has_more, token = page.get("has_more"), page.get("next_page")
            if not isinstance(has_more, bool):
                raise BillingApiError(f"{self.provider}: GET {path}: the response has no boolean has_more")
            yield page
            if not has_more:
                return
            if not isinstance(token, str) or not token:
                raise BillingApiError(f"{self.provider}: GET {path}: has_more is true but next_page is {token!r}")
            if token in seen:
                raise BillingApiError(f"{self.provider}: GET {path}: next_page {token!r} came back twice")
            seen.add(token)
            query["page"] = token
        raise BillingApiError(f"{self.provider}: GET {path}: more than {MAX_PAGES} pages")

    def _backoff(self, attempt: int) -> float:
        """1 s, 2 s, 4 s … at most 30 s, each with up to 25 % jitter."""
        base = min(30.0, 2.0**attempt)
        return base * (1 + 0.25 * self.jitter())

    def _status_error(self, path: str, response: httpx.Response, attempts: int) -> str:
        status = response.status_code
        hint = ""
        if status in (401, 403):
            hint = "; check that the key in admin_key_file is an admin key of this organisation"
        elif status == 404:
            hint = "; check base_url"
        tries = f" after {attempts} attempts" if attempts > 1 else ""
        return f"{self.provider}: GET {path} answered {status}{tries}: {_error_message(response)}{hint}"


def _query(params: Mapping[str, QueryValue]) -> list[tuple[str, str | int | float | bool | None]]:
    """Lists as repeated ``key[]=value`` pairs, as both providers' SDKs send them."""
    pairs: list[tuple[str, str | int | float | bool | None]] = []
    for key, value in params.items():
        if isinstance(value, (list, tuple)):
            pairs += [(f"{key}[]", str(item)) for item in value]
        else:
            pairs.append((key, str(value)))
    return pairs


def _retry_after(headers: httpx.Headers) -> float | None:
    """``Retry-After`` in seconds, or as an HTTP date; ``None`` when absent or unreadable."""
    value = headers.get("retry-after")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def _error_message(response: httpx.Response) -> str:
    """The provider's own error message (both put it at ``error.message``), else the status's reason."""
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        error = body["error"]
        kind = error.get("type")
        message = str(error.get("message", ""))[:300]
        return f"{kind}: {message}" if kind else message
    return response.reason_phrase or "no error message"
