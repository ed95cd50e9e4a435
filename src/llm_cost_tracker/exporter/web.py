"""The web port (9464): ``/metrics`` for Prometheus, and the admin endpoints.

``/-/healthy``, ``/-/ready`` and ``/-/reload`` behave as Prometheus's own do.
The scrape renders on a worker thread, so a large ``/metrics`` does not stall
ingestion on the event loop.
"""

from __future__ import annotations

import asyncio
import gzip
import itertools
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Final

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


Rendered = tuple[bytes, dict[str, str], str]
"""``(body, headers, media type)`` of a ``/metrics`` response."""
View = tuple[str | None, str, bool]
"""What a render depends on besides the ledger: ``(org, format, gzip)``."""


def view_of(ledger: UsageLedger, accept: str | None, accept_encoding: str | None, org: str | None) -> View:
    protobuf = exposition_proto.wants_protobuf(accept)
    openmetrics = not protobuf and ledger.exemplars and exposition_om.wants_openmetrics(accept)
    kind = "protobuf" if protobuf else "openmetrics" if openmetrics else "text"
    return org, kind, bool(accept_encoding and "gzip" in accept_encoding)


def render_view(ledger: UsageLedger, registry: CollectorRegistry | None, view: View, scrape: bool) -> Rendered:
    """The ledger's families and the self-metrics in ``view``'s format: the text format (0.0.4), which every
    Prometheus reads, protobuf with created timestamps when the scraper prefers it, or OpenMetrics with
    exemplars. ``scrape``: for a scraper, which moves held series on; ``registry`` ``None``: no self-metrics."""
    org, kind, zipped = view
    snapshot = ledger.snapshot(scrape, org)
    openmetrics, protobuf = kind == "openmetrics", kind == "protobuf"
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
    if zipped:
        body = gzip.compress(body, compresslevel=1)
        headers["Content-Encoding"] = "gzip"
    return body, headers, media_type


MAX_SHARED_VIEWS: Final = 1024
MAX_SHARED_FOR_S: Final = 1.0
"""A render is shared for at most this long, however slow it was: a scraper gets a body at most a second older
than its request, so a hold of the scrape interval plus a second still shows it every new series at 0 first."""


class SharedRenders:
    """Scrapers that come close together share one render of ``/metrics``.

    At the series cap a render takes a hundred milliseconds or more, much of it holding the GIL that
    ingestion needs. Scrapers back to back (a scrape job every second, an HA pair in step, a loop with the
    scrape header) would keep a render running all the time and ingestion waiting. So a scraper that asks
    while a render of its view is running waits for that render, and one that asks soon after a render
    finished gets its body: within ``(1 / share - 1)`` times the render's duration (at most
    ``MAX_SHARED_FOR_S``), so that rendering for scrapers takes at most ``share`` of the process's time
    (unless a render takes over a quarter of a second at 0.2). A small ``/metrics`` that renders in 2 ms is
    shared for 8 ms (at 0.2): Prometheus scraping every few seconds never notices. Readers without the
    scrape header (``curl``) always get a render of their own.
    """

    def __init__(self, share: Callable[[], float], monotonic: Callable[[], float] = time.monotonic) -> None:
        self.share = share
        self.monotonic = monotonic
        self._done: dict[View, tuple[float, float, Rendered]] = {}
        """View → (when its last render finished, how long it took, what it rendered)."""
        self._running: dict[View, asyncio.Future[Rendered]] = {}

    async def get(self, view: View, render: Callable[[], Rendered]) -> Rendered:
        done = self._done.get(view)
        if done is not None:
            finished, took, rendered = done
            share = self.share()
            if self.monotonic() - finished < min(took * (1 / share - 1), MAX_SHARED_FOR_S):
                return rendered
        running = self._running.get(view)
        if running is not None:
            return await asyncio.shield(running)
        future: asyncio.Future[Rendered] = asyncio.get_running_loop().create_future()
        self._running[view] = future
        started = self.monotonic()
        try:
            rendered = await anyio.to_thread.run_sync(render)
        except BaseException as exc:
            del self._running[view]
            future.set_exception(exc if isinstance(exc, Exception) else RuntimeError("the render was cancelled"))
            future.exception()  # retrieved: a failed render with nobody else waiting is not an unhandled error
            raise
        finished = self.monotonic()
        if len(self._done) >= MAX_SHARED_VIEWS:
            self._done.clear()
        self._done[view] = (finished, finished - started, rendered)
        del self._running[view]
        future.set_result(rendered)
        return rendered


async def _render(
    request: Request,
    ledger: UsageLedger,
    registry: CollectorRegistry | None,
    scrapes: PromCounter | None,
    org: str | None = None,
    shared: SharedRenders | None = None,
) -> Response:
    """``/metrics`` for a request, rendered on a worker thread (or shared with other scrapers: ``shared``)."""
    headers = request.headers
    scrape = SCRAPE_HEADER in headers
    view = view_of(ledger, headers.get("accept"), headers.get("accept-encoding"), org)
    if scrapes is not None:
        scrapes.labels(view[1], "scraper" if scrape else "other").inc()

    def render() -> Rendered:
        return render_view(ledger, registry, view, scrape)

    if scrape and shared is not None:
        body, response_headers, media_type = await shared.get(view, render)
    else:
        body, response_headers, media_type = await anyio.to_thread.run_sync(render)
    return Response(body, headers=response_headers, media_type=media_type)


def tenant_metrics_renderer(
    ledger: UsageLedger, scrapes: PromCounter | None = None, shared: SharedRenders | None = None
) -> Callable[[str, Request], Awaitable[Response]]:
    """``/tenants/{org}/metrics``: that org's series and the price gauges, rendered as ``/metrics`` is."""

    async def render(org: str, request: Request) -> Response:
        return await _render(request, ledger, None, scrapes, org, shared)

    return render


def create_web_app(
    ledger: UsageLedger,
    registry: CollectorRegistry,
    reload: Callable[[], None],
    is_ready: Callable[[], bool],
    extra_routes: list[BaseRoute] | None = None,
    scrapes: PromCounter | None = None,
    shared: SharedRenders | None = None,
) -> Starlette:
    """The ASGI app of the web port. ``reload`` raises ``InputFileError`` on a bad config; ``shared``: scrapers
    close together share renders."""

    async def metrics(request: Request) -> Response:
        return await _render(request, ledger, registry, scrapes, shared=shared)

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
