"""Running ``serve``: the two listeners in one event loop, signals, drain on SIGTERM, garbage collection."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import gc
import logging
import signal
import socket
import ssl
from collections.abc import Callable, Coroutine, Iterator
from typing import TYPE_CHECKING, Any

import uvicorn

from llm_cost_tracker.config import split_listen_address

if TYPE_CHECKING:
    from llm_cost_tracker.app import Service

log = logging.getLogger(__name__)


class _Server(uvicorn.Server):
    """A uvicorn server that leaves signal handling to ``serve`` (two servers share one process)."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


class ListenError(OSError):
    """A listener could not be opened; the message names the address and the flag that sets it."""


def _listen(otlp: str, web: str) -> dict[str, socket.socket]:
    """Both listening sockets, or ``ListenError`` (and neither)."""
    if otlp == web and split_listen_address(otlp)[1] != 0:  # port 0: two ports the kernel picks
        raise ListenError(
            f"otlp.listen_address and web.listen_address are both {otlp}: give one of them another port "
            "(--otlp.listen-address, --web.listen-address)"
        )
    sockets: dict[str, socket.socket] = {}
    try:
        for name, address, flag in (("otlp", otlp, "--otlp.listen-address"), ("web", web, "--web.listen-address")):
            try:
                sockets[name] = bind(address)
            except OSError as exc:
                raise ListenError(
                    f"cannot listen on {address} ({name}.listen_address, {flag}): {exc.strerror or exc}"
                    + (
                        ": another process uses it; stop it or choose another port"
                        if exc.errno == errno.EADDRINUSE
                        else ""
                    )
                ) from None
    except ListenError:
        for sock in sockets.values():
            sock.close()
        raise
    return sockets


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


class _OneLifecycle(logging.Filter):
    """uvicorn logs its start and stop once per server, and the exporter runs two: keep one of each line."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: set[str] = set()

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if message.startswith(("Started server process", "Shutting down", "Finished server process")):
            if message in self.seen:
                return False
            self.seen.add(message)
        return True


_lifecycle = _OneLifecycle()
logging.getLogger("uvicorn.error").addFilter(_lifecycle)


def _uvicorn_config(app: Any, tls: ssl.SSLContext | None = None) -> uvicorn.Config:
    config = uvicorn.Config(
        app,
        log_config=None,
        access_log=False,
        server_header=False,
        lifespan="off",
        loop="none",
        timeout_keep_alive=30,
    )
    config.load()
    config.ssl = tls  # our own context (min version, client certificates), on any uvicorn version
    return config


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
    _lifecycle.seen.clear()  # this run's start and stop lines: once each
    config = service.config
    try:
        sockets = _listen(config.otlp.listen_address, config.web.listen_address)
    except OSError:
        for coroutine in background or []:
            coroutine.close()  # never started: not "never awaited"
        raise
    service.bound = {name: _address(sock) for name, sock in sockets.items()}
    servers: list[uvicorn.Server] = [
        _Server(_uvicorn_config(service.otlp_app, service.otlp_tls)),
        _Server(_uvicorn_config(service.web_app, service.web_tls)),
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
        log.info(
            "listening: OTLP/HTTP%s on %s, metrics and admin%s on %s",
            "S" if service.otlp_tls else "",
            service.bound["otlp"],
            " (HTTPS)" if service.web_tls else "",
            service.bound["web"],
        )
        service.warn_if_open()
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
