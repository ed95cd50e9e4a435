"""Scrapers close together share one render of /metrics (``exporter/web.py``: ``SharedRenders``)."""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading

import httpx
import pytest

from llm_cost_tracker.exporter.web import Rendered, SharedRenders, View
from tests.conftest import LiveServer
from tests.test_ledger import Ticks

VIEW: View = (None, "text", True)
SCRAPER = {"X-Prometheus-Scrape-Timeout-Seconds": "10", "Accept-Encoding": "gzip"}


class SlowRender:
    """A render that takes ``seconds`` of the test's clock and says which render it was."""

    def __init__(self, ticks: Ticks, seconds: float) -> None:
        self.ticks, self.seconds, self.count = ticks, seconds, 0
        self.gate = threading.Event()
        self.gate.set()

    def __call__(self) -> Rendered:
        self.gate.wait(10)
        self.count += 1
        self.ticks.now += self.seconds
        return f"render {self.count}".encode(), {}, "text/plain"


def test_a_scraper_soon_after_a_render_gets_its_body_and_a_later_one_a_new_render() -> None:
    ticks = Ticks()
    shared = SharedRenders(lambda: 0.2, monotonic=ticks)
    render = SlowRender(ticks, 0.1)

    async def run() -> list[bytes]:
        bodies = [(await shared.get(VIEW, render))[0]]
        ticks.now += 0.39  # under 4 render times since it finished: rendering would take over a fifth of the time
        bodies.append((await shared.get(VIEW, render))[0])
        ticks.now += 0.02
        bodies.append((await shared.get(VIEW, render))[0])
        bodies.append((await shared.get((None, "text", False), render))[0])  # another view: its own render
        return bodies

    assert asyncio.run(run()) == [b"render 1", b"render 1", b"render 2", b"render 3"]


def test_a_slow_render_is_shared_for_a_second_at_most() -> None:
    ticks = Ticks()
    shared = SharedRenders(lambda: 0.2, monotonic=ticks)
    render = SlowRender(ticks, 2.0)  # 4 render times would be 8 s: longer than a hold of scrape interval + 1 s

    async def run() -> list[bytes]:
        bodies = [(await shared.get(VIEW, render))[0]]
        ticks.now += 0.99
        bodies.append((await shared.get(VIEW, render))[0])
        ticks.now += 0.02
        bodies.append((await shared.get(VIEW, render))[0])
        return bodies

    assert asyncio.run(run()) == [b"render 1", b"render 1", b"render 2"]


def test_a_share_of_one_only_joins_a_render_under_way() -> None:
    ticks = Ticks()
    shared = SharedRenders(lambda: 1.0, monotonic=ticks)
    render = SlowRender(ticks, 0.1)

    async def run() -> list[bytes]:
        render.gate.clear()
        first = asyncio.create_task(shared.get(VIEW, render))
        await asyncio.sleep(0.05)  # the first render is under way, on its worker thread
        second = asyncio.create_task(shared.get(VIEW, render))
        await asyncio.sleep(0.05)
        render.gate.set()
        together = [(await first)[0], (await second)[0]]
        return [*together, (await shared.get(VIEW, render))[0]]  # right after it: a render of its own

    assert asyncio.run(run()) == [b"render 1", b"render 1", b"render 2"]


def test_a_failed_render_fails_everyone_waiting_and_the_next_scrape_renders_again() -> None:
    ticks = Ticks()
    shared = SharedRenders(lambda: 0.2, monotonic=ticks)
    gate = threading.Event()

    def broken() -> Rendered:
        gate.wait(10)
        raise RuntimeError("render failed")

    async def run() -> bytes:
        first = asyncio.create_task(shared.get(VIEW, broken))
        await asyncio.sleep(0.05)
        second = asyncio.create_task(shared.get(VIEW, broken))
        await asyncio.sleep(0.05)
        gate.set()
        for task in (first, second):
            with pytest.raises(RuntimeError, match="render failed"):
                await task
        return (await shared.get(VIEW, SlowRender(ticks, 0.1)))[0]

    assert asyncio.run(run()) == b"render 1"


def test_concurrent_scrapers_of_a_big_metrics_share_renders_and_curl_never_does(server: LiveServer) -> None:
    ledger = server.service.ledger
    with ledger.lock:
        for i in range(5000):  # a /metrics that takes a while to render
            ledger.add(("o", f"project-{i % 50}", "openai", f"model-{i}", "chat"), (10, 0, 0, 5, 0), 10**12, 1)
    scrapes_before = ledger.scrapes
    url = f"{server.web_url}/metrics"
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        responses = list(pool.map(lambda _: httpx.get(url, headers=SCRAPER, timeout=30), range(8)))
    assert {r.status_code for r in responses} == {200}
    assert ledger.scrapes - scrapes_before < 8  # fewer renders than scrapes
    assert all("project-49" in r.text for r in responses)
    # Every request is counted, shared or not.
    counted = httpx.get(url, timeout=10).text
    assert 'llm_cost_tracker_scrapes_total{format="text",reader="scraper"} 8' in counted
    # Without the scrape header, each request renders: what curl sees is never older than the request.
    with ledger.lock:
        ledger.add(("o", "fresh", "openai", "model-x", "chat"), (10, 0, 0, 5, 0), 10**12, 1)
    assert 'project="fresh"' in httpx.get(url, timeout=10).text
