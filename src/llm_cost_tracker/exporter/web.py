"""The web port (9464): ``/metrics`` for Prometheus, and the admin endpoints.

``/-/healthy``, ``/-/ready`` and ``/-/reload`` behave as Prometheus's own do.
The scrape renders on a worker thread, so a large ``/metrics`` does not stall
ingestion on the event loop.
"""

from __future__ import annotations

import gzip
import itertools
import logging
from collections.abc import Awaitable, Callable

import anyio.to_thread
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client import Counter as PromCounter
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import BaseRoute, Route

from llm_cost_tracker.exporter import exposition, exposition_om, exposition_proto
from llm_cost_tracker.exporter.ledger import UsageLedger
from llm_cost_tracker.inputfile import InputFileError

log = logging.getLogger(__name__)


SCRAPE_HEADER = "x-prometheus-scrape-timeout-seconds"
"""Sent by Prometheus and every scraper built on its code (vmagent, Alloy, the OTel Collector's receiver)."""


def render_metrics(
    ledger: UsageLedger,
    registry: CollectorRegistry | None,
    accept_encoding: str | None,
    scrape: bool = True,
    accept: str | None = None,
    scrapes: PromCounter | None = None,
    org: str | None = None,
) -> Response:
    """The ledger's families and the self-metrics: the text format (0.0.4), which every Prometheus reads, or
    protobuf with created timestamps when the scraper prefers it. ``org``: that org's series only (and the
    price gauges); ``registry`` ``None``: no self-metrics."""
    snapshot = ledger.snapshot(scrape, org)
    protobuf = exposition_proto.wants_protobuf(accept)
    openmetrics = not protobuf and ledger.exemplars and exposition_om.wants_openmetrics(accept)
    if scrapes is not None:
        kind = "protobuf" if protobuf else "openmetrics" if openmetrics else "text"
        scrapes.labels(kind, "scraper" if scrape else "other").inc()
    if openmetrics:
        body = exposition_om.text(snapshot, ledger.render_cache, registry)
        media_type = exposition_om.CONTENT_TYPE
    elif protobuf:
        families = exposition_proto.ledger_families(snapshot)
        if registry is not None:
            families = itertools.chain(families, exposition_proto.registry_families(registry))
        body = exposition_proto.delimited(families)
        media_type = exposition_proto.CONTENT_TYPE
    else:
        body = exposition.text(snapshot, ledger.render_cache).encode() + (
            generate_latest(registry) if registry is not None else b""
        )
        media_type = CONTENT_TYPE_LATEST
    headers = {}
    if accept_encoding and "gzip" in accept_encoding:
        body = gzip.compress(body, compresslevel=1)
        headers["Content-Encoding"] = "gzip"
    return Response(body, headers=headers, media_type=media_type)


async def _render(
    request: Request,
    ledger: UsageLedger,
    registry: CollectorRegistry | None,
    scrapes: PromCounter | None,
    org: str | None = None,
) -> Response:
    """``render_metrics`` for a request, on a worker thread."""
    headers = request.headers
    return await anyio.to_thread.run_sync(
        render_metrics,
        ledger,
        registry,
        headers.get("accept-encoding"),
        SCRAPE_HEADER in headers,
        headers.get("accept"),
        scrapes,
        org,
    )


def tenant_metrics_renderer(
    ledger: UsageLedger, scrapes: PromCounter | None = None
) -> Callable[[str, Request], Awaitable[Response]]:
    """``/tenants/{org}/metrics``: that org's series and the price gauges, rendered as ``/metrics`` is."""

    async def render(org: str, request: Request) -> Response:
        return await _render(request, ledger, None, scrapes, org)

    return render


def create_web_app(
    ledger: UsageLedger,
    registry: CollectorRegistry,
    reload: Callable[[], None],
    is_ready: Callable[[], bool],
    extra_routes: list[BaseRoute] | None = None,
    scrapes: PromCounter | None = None,
) -> Starlette:
    """The ASGI app of the web port. ``reload`` raises ``InputFileError`` on a bad config."""

    async def metrics(request: Request) -> Response:
        return await _render(request, ledger, registry, scrapes)

    async def healthy(request: Request) -> Response:
        return PlainTextResponse("LLM Cost Tracker is Healthy.\n")

    async def ready(request: Request) -> Response:
        if is_ready():
            return PlainTextResponse("LLM Cost Tracker is Ready.\n")
        return PlainTextResponse("Service Unavailable\n", status_code=503)

    async def do_reload(request: Request) -> Response:
        try:
            reload()
        except InputFileError as exc:
            log.error("reload failed, keeping the previous configuration: %s", exc)
            return PlainTextResponse(f"failed to reload config: {exc}\n", status_code=500)
        return PlainTextResponse("configuration reloaded\n")

    async def index(request: Request) -> Response:
        return PlainTextResponse(
            "LLM Cost Tracker\n\n"
            "/metrics                   Prometheus metrics\n"
            "/alertmanager/webhook      POST: Alertmanager's budget alerts, which swap models (docs/routing.md)\n"
            "/tenants/{org}/metrics     a tenant's own series, with its read token (docs/tenancy.md)\n"
            "/tenants/{org}/routing     a tenant's model swaps, with its read token\n"
            "/-/healthy                 liveness\n"
            "/-/ready                   readiness\n"
            "/-/reload                  POST: reload the configuration and the files it names\n"
        )

    routes: list[BaseRoute] = [
        Route("/", index),
        Route("/metrics", metrics),
        Route("/-/healthy", healthy, methods=["GET", "HEAD"]),
        Route("/-/ready", ready, methods=["GET", "HEAD"]),
        Route("/-/reload", do_reload, methods=["POST", "PUT"]),
        *(extra_routes or []),
    ]
    return Starlette(routes=routes)
