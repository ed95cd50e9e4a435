"""``serve``: the exporter's two listeners in one process, with reload and graceful stop."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import signal
import socket
from collections.abc import Callable, Coroutine, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import prometheus_client
import uvicorn
from prometheus_client import CollectorRegistry

from llm_cost_tracker.alertmanager.receiver import SwapReceiver
from llm_cost_tracker.clock import Clock, now_ns, system_clock
from llm_cost_tracker.config import Config, load_config, split_listen_address
from llm_cost_tracker.exporter.ingest import Ingestor
from llm_cost_tracker.exporter.ledger import UsageLedger
from llm_cost_tracker.exporter.otlp_http import create_otlp_app
from llm_cost_tracker.exporter.selfmetrics import SelfMetrics
from llm_cost_tracker.exporter.web import create_web_app
from llm_cost_tracker.pricing import catalog
from llm_cost_tracker.pricing.overrides import load_overrides
from llm_cost_tracker.pricing.resolver import PriceResolver
from llm_cost_tracker.rules.spec import BudgetFile, load_budgets

log = logging.getLogger(__name__)


def load_budget_file(config: Config) -> BudgetFile | None:
    """The budget file whose swaps the webhook applies; raises ``InputFileError``."""
    return load_budgets(config.budgets_file) if config.budgets_file is not None else None


def build_resolver(config: Config) -> PriceResolver:
    path = config.pricing.overrides_file
    if path is None:
        return PriceResolver()
    return PriceResolver(load_overrides(path), overrides_name=Path(path).name)


@dataclass
class Service:
    """Everything ``serve`` runs, built from a config; ``reload`` swaps the config, keeps the counters."""

    config: Config
    load: Callable[[], Config]
    """Re-reads the configuration (file plus command-line overrides)."""
    registry: CollectorRegistry = field(default_factory=CollectorRegistry)
    clock: Clock = system_clock
    """The wall clock every component reads (tests set it)."""
    ready: bool = False
    servers: list[uvicorn.Server] = field(default_factory=list)
    bound: dict[str, str] = field(default_factory=dict)
    """Actual listen addresses once serving (a configured port 0 becomes a real port)."""

    def __post_init__(self) -> None:
        # `*_created` series double the self-metrics for a timestamp Prometheus does not use.
        prometheus_client.disable_created_metrics()  # type: ignore[no-untyped-call]
        self.metrics = SelfMetrics(self.registry)
        self.ledger = UsageLedger(
            self.config.limits.max_series_per_metric, hold_s=self.config.web.new_series_hold_seconds
        )
        resolver = build_resolver(self.config)
        clock = self.clock
        self.ingestor = Ingestor(self.config, self.ledger, self.metrics, resolver, clock_ns=lambda: now_ns(clock))
        self.receiver = SwapReceiver(self.config, load_budget_file(self.config), resolver, self.registry, clock)
        self.otlp_app = create_otlp_app(self.ingestor, self.metrics, lambda: self.config.otlp.max_body_bytes)
        self.web_app = create_web_app(
            self.ledger,
            self.registry,
            self.reload,
            lambda: self.ready,
            extra_routes=self.receiver.routes(),
            scrapes=self.metrics.scrapes,
        )

    def reload(self) -> None:
        """Load the config again; on failure keep running on the old one and raise ``InputFileError``."""
        try:
            config = self.load()
            resolver = build_resolver(config)
            budgets = load_budget_file(config)
            self.receiver.configure(config, budgets, resolver)
        except Exception:
            self.metrics.reload_success.set(0)
            raise
        for listener in ("otlp", "web"):
            old, new = getattr(self.config, listener).listen_address, getattr(config, listener).listen_address
            if old != new:
                log.warning("%s.listen_address changed to %s; it takes effect on restart", listener, new)
        self.config = config
        self.ingestor.apply_config(config, resolver)
        self.metrics.reload_success.set(1)
        self.metrics.reload_timestamp.set_to_current_time()
        log.info("configuration reloaded")

    def request_stop(self) -> None:
        """Ask both listeners to finish their requests and stop (safe from any thread)."""
        for server in self.servers:
            server.should_exit = True


class _Server(uvicorn.Server):
    """A uvicorn server that leaves signal handling to ``serve`` (two servers share one process)."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def bind(address: str) -> socket.socket:
    """A listening socket for ``HOST:PORT``; raises ``OSError`` (address in use, unknown host, ...)."""
    host, port = split_listen_address(address)
    family, kind, proto, _, sockaddr = socket.getaddrinfo(
        host or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
    )[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(sockaddr)
        sock.listen(2048)
        sock.setblocking(False)
    except OSError:
        sock.close()
        raise
    return sock


def _address(sock: socket.socket) -> str:
    host, port = sock.getsockname()[:2]
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _uvicorn_config(app: Any) -> uvicorn.Config:
    return uvicorn.Config(
        app,
        log_config=None,
        access_log=False,
        server_header=False,
        lifespan="off",
        loop="none",
        timeout_keep_alive=30,
    )


async def serve_forever(
    service: Service,
    *,
    on_started: Callable[[], None] | None = None,
    background: list[Coroutine[Any, Any, None]] | None = None,
) -> None:
    """Run both listeners until SIGINT or SIGTERM; SIGHUP reloads the configuration.

    SIGTERM (what process managers send) drains first: OTLP stops, then ``/metrics`` keeps serving until a scrape
    has read every count (``web.drain_seconds`` at most), so that no call answered with 2xx is lost to Prometheus.
    SIGINT (Ctrl-C), or a second signal, stops at once. ``background`` coroutines run alongside and are cancelled
    at shutdown.
    """
    config = service.config
    sockets = {"otlp": bind(config.otlp.listen_address)}
    try:
        sockets["web"] = bind(config.web.listen_address)
    except OSError:
        sockets["otlp"].close()
        raise
    service.bound = {name: _address(sock) for name, sock in sockets.items()}
    servers: list[uvicorn.Server] = [
        _Server(_uvicorn_config(service.otlp_app)),
        _Server(_uvicorn_config(service.web_app)),
    ]
    service.servers = servers
    loop = asyncio.get_running_loop()
    stop = service.request_stop

    def hangup() -> None:
        try:
            service.reload()
        except Exception as exc:
            log.error("reload failed, keeping the previous configuration: %s", exc)

    draining: list[asyncio.Task[None]] = []

    async def drain() -> None:
        servers[0].should_exit = True
        await asyncio.wait([tasks[0]])  # the OTLP requests under way are answered (and counted) first
        ledger = service.ledger
        if ledger.scrapes:  # something scrapes us: let it read what it has not seen yet
            ledger.draining = True
            deadline = loop.time() + service.config.web.drain_seconds
            while not ledger.settled():
                if loop.time() >= deadline or ledger.scraper_gone():
                    why = "web.drain_seconds elapsed" if loop.time() >= deadline else "the scrapes stopped"
                    log.warning("stopping before a scrape read every count (%s)", why)
                    break
                await asyncio.sleep(0.05)
        stop()

    def terminate() -> None:
        if draining or not tasks:
            stop()
            return
        log.info("SIGTERM: OTLP closed, serving /metrics until a scrape reads every count")
        draining.append(asyncio.create_task(drain()))

    for sig, callback in ((signal.SIGINT, stop), (signal.SIGTERM, terminate), (signal.SIGHUP, hangup)):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, callback)

    # A restarted receiver asks Alertmanager what is firing before it says it is ready.
    await asyncio.to_thread(service.receiver.reconcile)
    tasks: list[asyncio.Task[None]] = []
    tasks += [
        asyncio.create_task(server.serve(sockets=[sock]))
        for server, sock in zip(servers, sockets.values(), strict=True)
    ]
    while not all(server.started for server in servers):
        if any(task.done() for task in tasks):
            stop()
            break
        await asyncio.sleep(0.01)
    else:
        service.ready = True
        log.info("listening: OTLP/HTTP on %s, metrics and admin on %s", service.bound["otlp"], service.bound["web"])
        if on_started is not None:
            on_started()
    helpers = [asyncio.create_task(coroutine) for coroutine in background or []]
    results = await asyncio.gather(*tasks, return_exceptions=True)
    for helper in helpers:
        helper.cancel()
    service.ready = False
    for sock in sockets.values():
        sock.close()
    failed = [r for r in results if isinstance(r, BaseException)]
    if failed:
        raise failed[0]
    if any(not server.started for server in servers):
        raise SystemExit(1)


GC_FULL_EVERY_S = 60.0


async def collect_garbage_periodically(interval_s: float = GC_FULL_EVERY_S) -> None:
    """The garbage collector's passes, at times we choose (see ``own_garbage_collection``)."""
    while True:
        await asyncio.sleep(interval_s)
        gc.collect()


def own_garbage_collection() -> None:
    """Take the garbage collector off the request path.

    CPython's automatic collector runs when allocations outnumber deallocations
    by a threshold, which OTLP/JSON parsing (thousands of dicts per request)
    trips several times per request, each pass walking every live young object;
    and tuples reused from a free list are tracked without advancing the
    counter, so survivors pile up until one 10-100 ms pass. Instead: everything
    loaded at start (the price catalog, modules) is frozen out of the
    collector's view, automatic collection is off, every 16th OTLP request ends
    with a young-generation pass (a millisecond or so: the requests' objects
    are freed by reference counting; only a few protobuf cycles are left), and
    a full pass runs once a minute.
    """
    gc.collect()
    gc.freeze()
    gc.disable()


def run(config_path: str | None, apply_flags: Callable[[Config], Config]) -> None:
    """Load config (raising ``InputFileError``), then serve until stopped."""

    def load() -> Config:
        return apply_flags(load_config(config_path))

    service = Service(load(), load)
    catalog.warm_up()
    own_garbage_collection()
    try:
        import uvloop

        runner: Callable[..., None] = uvloop.run
    except ImportError:
        runner = asyncio.run
    runner(serve_forever(service, background=[collect_garbage_periodically()]))
