"""A small HTTP/1.1 keep-alive load generator (raw asyncio streams, so the client stays cheap)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass
class LoadResult:
    requests: int
    seconds: float
    latencies: list[float]
    statuses: dict[int, int]

    def percentile(self, q: float) -> float:
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def _worker(
    host: str,
    port: int,
    path: str,
    content_type: str,
    next_body: Callable[[], bytes | None],
    latencies: list[float],
    statuses: dict[int, int],
    headers: str = "",
) -> None:
    reader, writer = await asyncio.open_connection(host, port)
    head = f"POST {path} HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Type: {content_type}\r\n{headers}".encode()
    try:
        while (body := next_body()) is not None:
            started = time.perf_counter()
            writer.write(head + b"Content-Length: %d\r\n\r\n" % len(body) + body)
            header = await reader.readuntil(b"\r\n\r\n")
            status = int(header[9:12])
            length = 0
            for line in header.split(b"\r\n"):
                if line[:15].lower() == b"content-length:":
                    length = int(line[15:])
            if length:
                await reader.readexactly(length)
            latencies.append(time.perf_counter() - started)
            statuses[status] = statuses.get(status, 0) + 1
    finally:
        writer.close()


async def run_load(
    host: str,
    port: int,
    path: str,
    content_type: str,
    render: Callable[[int], bytes],
    requests: int,
    connections: int = 8,
    headers: Callable[[int], dict[str, str]] | None = None,
) -> LoadResult:
    """Send ``requests`` bodies (``render(i)``) over ``connections`` keep-alive connections; ``headers(c)``: extra
    headers of connection ``c`` (a tenant's token, say)."""
    counter = iter(range(requests))

    def next_body() -> bytes | None:
        number = next(counter, None)
        return None if number is None else render(number)

    latencies: list[float] = []
    statuses: dict[int, int] = {}
    started = time.perf_counter()
    await asyncio.gather(
        *(
            _worker(
                host,
                port,
                path,
                content_type,
                next_body,
                latencies,
                statuses,
                "".join(f"{k}: {v}\r\n" for k, v in (headers(c) if headers else {}).items()),
            )
            for c in range(connections)
        )
    )
    return LoadResult(len(latencies), time.perf_counter() - started, latencies, statuses)
