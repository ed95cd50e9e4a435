"""``GET /tenants/{org}/metrics`` and ``GET /tenants/{org}/routing``: each tenant reads only its own.

A read token of the org gets in; no token or an unknown one is 401, any other token (another org's,
or an ingest token) is 403, and without a tenants file these paths do not exist (404).
"""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable
from pathlib import Path

import orjson
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import BaseRoute, Route

from llm_cost_tracker.credentials import bearer_token
from llm_cost_tracker.routing.client import file_signature
from llm_cost_tracker.routing.document import VERSION, Override, RoutingDocument, RoutingFileError, label_matches, parse
from llm_cost_tracker.tenancy.gate import UNAUTHENTICATED
from llm_cost_tracker.tenancy.tenants import Tenants

RenderMetrics = Callable[[str, Request], Awaitable[Response]]


def applies_to(scope: dict[str, str], org: str) -> bool:
    """Whether a swap scoped by ``scope`` can apply to callers of ``org`` (a scope without org applies to all)."""
    matcher = scope.get("org")
    return matcher is None or label_matches(org, matcher)


def tenant_routing(document: RoutingDocument, org: str) -> dict[str, object]:
    """The part of the routing document that applies to ``org``: its overrides and the pins that reach it."""

    def rules(items: tuple[Override, ...], *, pin: bool) -> list[dict[str, object]]:
        return [rule.to_dict(pin=pin) for rule in items if applies_to(dict(rule.scope), org)]

    return {
        "version": VERSION,
        "generation": document.generation,
        "updated_at": document.updated_at,
        "overrides": rules(document.overrides, pin=False),
        "pins": rules(document.pins, pin=True),
    }


class RoutingFileCache:
    """The routing file, parsed again only when it changed (many app hosts poll it)."""

    def __init__(self, path: Callable[[], Path]) -> None:
        self.path = path
        self._key: tuple[Path, tuple[int, int, int]] | None = None
        self._document = RoutingDocument()

    def read(self) -> RoutingDocument:
        """The current document; raises ``RoutingFileError`` if the file is unreadable (never for a missing one)."""
        path = self.path()
        try:
            key = (path, file_signature(path))
        except FileNotFoundError:
            return RoutingDocument()
        except OSError as exc:
            raise RoutingFileError(f"cannot read {path}: {exc.strerror}") from None
        if key != self._key:
            try:
                text = path.read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError) as exc:
                raise RoutingFileError(f"cannot read {path}: {exc}") from None
            self._document, self._key = parse(text), key
        return self._document


def tenant_routes(
    tenants: Callable[[], Tenants | None],
    render_metrics: RenderMetrics,
    routing: RoutingFileCache,
    counted: Callable[[str, str, int], None] = lambda org, what, code: None,
) -> list[BaseRoute]:
    """The routes of the per-tenant reads, on the web port."""

    def refused(request: Request, org: str) -> Response | None:
        current = tenants()
        if current is None:
            return PlainTextResponse("no tenants file: this exporter is open; read /metrics\n", status_code=404)
        token = bearer_token(request.headers.get("authorization"))
        credential = current.identify(token) if token is not None else None
        if credential is None:
            why = "missing bearer token" if token is None else "unknown bearer token"
            return PlainTextResponse(f"{why}\n", status_code=401, headers=UNAUTHENTICATED)
        if credential.kind != "read" or credential.tenant.org != org:
            return PlainTextResponse("this token may not read this org\n", status_code=403)
        return None

    def count(org: str, what: str, code: int) -> None:
        current = tenants()
        counted(org if current is not None and org in current.by_org else "", what, code)  # no made-up labels

    async def metrics(request: Request) -> Response:
        org = request.path_params["org"]
        response = refused(request, org) or await render_metrics(org, request)
        count(org, "metrics", response.status_code)
        return response

    async def routing_view(request: Request) -> Response:
        org = request.path_params["org"]
        response = refused(request, org)
        if response is None:
            try:
                document = routing.read()
            except RoutingFileError as exc:
                response = PlainTextResponse(f"routing file unreadable: {exc}\n", status_code=503)
            else:
                body = orjson.dumps(tenant_routing(document, org))
                etag = '"' + hashlib.sha256(body).hexdigest()[:32] + '"'
                headers = {"ETag": etag, "Cache-Control": "no-cache"}
                if etag in (tag.strip() for tag in request.headers.get("if-none-match", "").split(",")):
                    response = Response(status_code=304, headers=headers)
                else:
                    response = Response(body, media_type="application/json", headers=headers)
        count(org, "routing", response.status_code)
        return response

    return [
        Route("/tenants/{org}/metrics", metrics, methods=["GET", "HEAD"]),
        Route("/tenants/{org}/routing", routing_view, methods=["GET", "HEAD"]),
    ]
