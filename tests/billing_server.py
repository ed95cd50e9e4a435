"""A loopback stand-in for OpenAI's and Anthropic's admin APIs, serving a bill the test decides.

It speaks the documented shapes (see tests/test_billing.py for the providers' own examples): daily
buckets over ``[start, end)``, one bucket per page (so every reconcile reads several pages), amounts in
dollars (OpenAI, JSON numbers) or in cents as decimal strings (Anthropic), and one 429 with
``Retry-After: 0`` before the first answer of each endpoint.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlparse

OPENAI_KEY = "sk-admin-e2e-openai"
ANTHROPIC_KEY = "sk-ant-admin01-e2e"


@dataclass
class Bill:
    """What the provider says, per (project id or ``None``, day, model): dollars and tokens."""

    costs: dict[tuple[str, str | None, date, str], Decimal] = field(default_factory=dict)
    """(provider, project id, day, model) → USD."""
    tokens: dict[tuple[str, str | None, date, str], dict[str, int]] = field(default_factory=dict)
    every_day: dict[tuple[str, str | None, str], Decimal] = field(default_factory=dict)
    """(provider, project id, model) → USD billed on any day not in ``costs`` (for a server on the real clock)."""
    requests: list[str] = field(default_factory=list)
    throttled: set[str] = field(default_factory=set)

    def costs_of(self, day: date) -> dict[tuple[str, str | None, date, str], Decimal]:
        listed = {key: usd for key, usd in self.costs.items() if key[2] == day}
        return listed or {(p, project, day, model): usd for (p, project, model), usd in self.every_day.items()}


def _days(start: date, end: date) -> list[date]:
    return [start + timedelta(days=n) for n in range((end - start).days)]


def _number(value: Decimal) -> float:
    """A JSON number with the same digits: a float's repr is the shortest text that reads back as it."""
    return float(value)


class _Handler(BaseHTTPRequestHandler):
    bill: Bill

    def log_message(self, *args: object) -> None:
        return

    def _send(self, status: int, body: object, headers: dict[str, str] | None = None) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        url = urlparse(self.path)
        query = parse_qs(url.query)
        self.bill.requests.append(self.path)
        if url.path.startswith("/v1/organization/"):
            if self.headers.get("authorization") != f"Bearer {OPENAI_KEY}":
                self._send(401, {"error": {"message": "Incorrect API key", "type": "invalid_request_error"}})
                return
            start = datetime.fromtimestamp(int(query["start_time"][0]), UTC).date()
            end = datetime.fromtimestamp(int(query["end_time"][0]), UTC).date()
        elif url.path.startswith("/v1/organizations/"):
            if self.headers.get("x-api-key") != ANTHROPIC_KEY or self.headers.get("anthropic-version") != "2023-06-01":
                self._send(401, {"type": "error", "error": {"type": "authentication_error", "message": "invalid"}})
                return
            start = datetime.fromisoformat(query["starting_at"][0]).date()
            end = datetime.fromisoformat(query["ending_at"][0]).date()
        else:
            self._send(404, {"error": {"message": "no such endpoint", "type": "invalid_request_error"}})
            return
        if url.path not in self.bill.throttled:
            self.bill.throttled.add(url.path)
            self._send(429, {"error": {"message": "rate limited", "type": "rate_limit_error"}}, {"retry-after": "0"})
            return
        days = _days(start, end)
        index = int(query.get("page", ["0"])[0])
        day = days[index]
        group = query.get("group_by[]", [])
        page: dict[str, Any] = {"has_more": index + 1 < len(days), "next_page": str(index + 1)}
        if index + 1 >= len(days):
            page["next_page"] = None
        if url.path == "/v1/organization/costs":
            totals: dict[str | None, Decimal] = {}
            for (provider, project, d, _), usd in self.bill.costs_of(day).items():
                if provider == "openai" and d == day:
                    totals[project] = totals.get(project, Decimal(0)) + usd
            results = [
                {
                    "object": "organization.costs.result",
                    "amount": {"value": _number(usd), "currency": "usd"},
                    "line_item": None,
                    "project_id": project,
                }
                for project, usd in totals.items()
            ]
            bucket = {"object": "bucket", "start_time": int(_midnight(day)), "end_time": int(_midnight(day)) + 86400}
            self._send(200, {"object": "page", "data": [{**bucket, "results": results}], **page})
        elif url.path == "/v1/organization/usage/completions":
            results = [
                {
                    "object": "organization.usage.completions.result",
                    "project_id": project,
                    "model": model,
                    "input_tokens": t["input"] + t["cache_read"],
                    "input_cached_tokens": t["cache_read"],
                    "output_tokens": t["output"],
                    "num_model_requests": t["requests"],
                }
                for (provider, project, d, model), t in self.bill.tokens.items()
                if provider == "openai" and d == day
            ]
            bucket = {"object": "bucket", "start_time": int(_midnight(day)), "end_time": int(_midnight(day)) + 86400}
            self._send(200, {"object": "page", "data": [{**bucket, "results": results}], **page})
        elif url.path == "/v1/organizations/cost_report":
            by_model = "description" in group
            results = []
            for (provider, project, d, model), usd in self.bill.costs_of(day).items():
                if provider == "anthropic" and d == day:
                    cents = usd * 100
                    half = (cents / 2).quantize(Decimal("0.00001"))
                    parts = [half, cents - half] if by_model else [cents]  # input and output line items
                    results += [
                        {
                            "currency": "USD",
                            "amount": str(part),
                            "workspace_id": project,
                            "model": model if by_model else None,
                            "cost_type": "tokens" if by_model else None,
                        }
                        for part in parts
                    ]
            bucket = {"starting_at": _rfc3339(day), "ending_at": _rfc3339(day + timedelta(days=1))}
            self._send(200, {"data": [{**bucket, "results": results}], **page})
        elif url.path == "/v1/organizations/usage_report/messages":
            results = [
                {
                    "workspace_id": project,
                    "model": model,
                    "uncached_input_tokens": t["input"],
                    "cache_read_input_tokens": t["cache_read"],
                    "output_tokens": t["output"],
                    "cache_creation": {"ephemeral_1h_input_tokens": 0, "ephemeral_5m_input_tokens": 0},
                }
                for (provider, project, d, model), t in self.bill.tokens.items()
                if provider == "anthropic" and d == day
            ]
            bucket = {"starting_at": _rfc3339(day), "ending_at": _rfc3339(day + timedelta(days=1))}
            self._send(200, {"data": [{**bucket, "results": results}], **page})
        else:
            self._send(404, {"error": {"message": "no such endpoint", "type": "invalid_request_error"}})


def _midnight(day: date) -> float:
    return datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp()


def _rfc3339(day: date) -> str:
    return f"{day.isoformat()}T00:00:00Z"


@contextmanager
def billing_server(bill: Bill) -> Iterator[str]:
    """Serve ``bill`` on a loopback port; yields the base URL."""
    handler = type("Handler", (_Handler,), {"bill": bill})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
