"""Shared fixtures: a live exporter on free ports, and helpers to read its /metrics."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from demo.stack import stop_all
from llm_cost_tracker.app import Service
from llm_cost_tracker.config import Config
from llm_cost_tracker.runtime import serve_forever
from tests.clock import TestClock, parse_now

CORPUS = Path(__file__).parent / "corpus"
REQUIRE_BINARIES = os.environ.get("LLM_COST_TRACKER_REQUIRE_BINARIES") == "1"


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--now",
        metavar="ISO",
        default=os.environ.get("LLM_COST_TRACKER_TEST_NOW"),
        help="run the tests that take the clock as if it were this UTC time, e.g. 2028-02-29T12:00:00Z "
        "(default: the real time; also LLM_COST_TRACKER_TEST_NOW)",
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark the tests that read the clock, so ``-m clock --now ...`` runs just those."""
    for item in items:
        if "clock" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.clock)


@pytest.fixture
def clock(request: pytest.FixtureRequest) -> TestClock:
    """The wall clock of the code under test: real time, or ``--now``."""
    now = request.config.getoption("--now")
    return TestClock(parse_now(now) if now else None)


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    """``python -m llm_cost_tracker ARGS`` as a user runs it, output captured."""
    return subprocess.run(
        [sys.executable, "-m", "llm_cost_tracker", *args], capture_output=True, text=True, timeout=60, check=False
    )


def need_binary(
    *names: str, hint: str = "Debian: apt-get install prometheus prometheus-alertmanager; amtool comes with the latter"
) -> str:
    """The path of the first binary found; skip (or fail in CI) when none is installed."""
    for name in names:
        path = shutil.which(name)
        if path:
            return path
    message = f"{' or '.join(names)} is not installed ({hint})"
    if REQUIRE_BINARIES:
        pytest.fail(message)
    pytest.skip(message)


def make_config(**sections: Any) -> Config:
    """A config on ephemeral loopback ports; ``sections`` override top-level keys."""
    data: dict[str, Any] = {
        "version": "llm-cost-tracker/v1",
        "otlp": {"listen_address": "127.0.0.1:0"},
        "web": {"listen_address": "127.0.0.1:0"},
    }
    for key, value in sections.items():
        if isinstance(value, dict) and isinstance(data.get(key), dict):
            data[key] = {**data[key], **value}
        else:
            data[key] = value
    return Config.model_validate(data)


Sample = tuple[str, dict[str, str], float]


@dataclass
class LiveServer:
    service: Service
    otlp_url: str
    web_url: str

    def post(self, path: str, body: bytes, content_type: str, **headers: str) -> httpx.Response:
        return httpx.post(
            f"{self.otlp_url}{path}",
            content=body,
            headers={"Content-Type": content_type, **headers},
            timeout=10,
        )

    def metrics_text(self) -> str:
        response = httpx.get(f"{self.web_url}/metrics", timeout=10)
        response.raise_for_status()
        return response.text

    def samples(self) -> list[Sample]:
        return [
            (s.name, dict(s.labels), s.value)
            for family in text_string_to_metric_families(self.metrics_text())
            for s in family.samples
        ]


def sample_value(samples: list[Sample], name: str, **labels: str) -> float:
    """Sum of the samples of ``name`` whose labels include ``labels``."""
    return sum(v for n, lbls, v in samples if n == name and all(lbls.get(k) == w for k, w in labels.items()))


@dataclass
class ModelUsage:
    tokens: dict[str, int]
    cost: float
    ok: int
    error: int


def usage_by_model(samples: list[Sample]) -> dict[str, ModelUsage]:
    """Per ``model`` label: tokens by type (non-zero), cost and requests, summed over other labels."""
    models: dict[str, ModelUsage] = {}
    for name, labels, value in samples:
        model = labels.get("model")
        if model is None or name not in ("llm_tokens_total", "llm_cost_usd_total", "llm_requests_total"):
            continue
        usage = models.setdefault(model, ModelUsage({}, 0.0, 0, 0))
        if name == "llm_tokens_total" and value:
            usage.tokens[labels["token_type"]] = usage.tokens.get(labels["token_type"], 0) + int(value)
        elif name == "llm_cost_usd_total":
            usage.cost += value
        elif name == "llm_requests_total":
            if labels["outcome"] == "ok":
                usage.ok += int(value)
            else:
                usage.error += int(value)
    return models


def run_service(service: Service) -> Callable[[], None]:
    """Serve ``service`` on a background thread; returns a function that stops it."""
    started = threading.Event()
    failure: list[BaseException] = []

    def main() -> None:
        try:
            asyncio.run(serve_forever(service, on_started=started.set))
        except BaseException as exc:  # surfaced to the test below
            failure.append(exc)
            started.set()

    thread = threading.Thread(target=main, daemon=True)
    thread.start()
    if not started.wait(10) or failure:
        raise RuntimeError(f"exporter did not start: {failure}")

    def stop() -> None:
        service.request_stop()
        thread.join(10)

    return stop


@pytest.fixture
def start_server(clock: TestClock) -> Iterator[Callable[..., LiveServer]]:
    """Start exporters on free ports, on the test clock: ``start_server(ingest={...}, pricing={...})``."""
    stops: list[Callable[[], None]] = []

    def start(config: Config | None = None, *, real_clock: bool = False, **sections: Any) -> LiveServer:
        """``real_clock``: for a server whose clients (the OTel SDK) read the real clock and compare times."""
        config = config or make_config(**sections)
        service = Service(config, lambda: config, clock=TestClock() if real_clock else clock)
        stops.append(run_service(service))
        return LiveServer(service, f"http://{service.bound['otlp']}", f"http://{service.bound['web']}")

    yield start
    for stop in stops:
        stop()


@pytest.fixture
def server(start_server: Callable[..., LiveServer]) -> LiveServer:
    return start_server()


@pytest.fixture
def processes() -> Iterator[list[Any]]:
    """Processes a test started (``spawn``): stopped, last first, when it ends, however it ends."""
    running: list[Any] = []
    yield running
    stop_all(reversed(running))


def wait_until(predicate: Callable[[], bool], timeout: float = 10.0, interval: float = 0.05) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(interval)
    raise AssertionError("condition not met in time")


@pytest.fixture(scope="session")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """A real Prometheus holding four days of backfilled LLM spend and a stand-in provider billing them
    (``tests/history_world.py``), shared by the reconcile and report tests."""
    from tests.history_world import build_world

    promtool, binary = need_binary("promtool"), need_binary("prometheus")
    with build_world(tmp_path_factory.mktemp("history"), promtool, binary) as built:
        yield built


@pytest.fixture
def provider() -> Iterator[Any]:
    """The stand-in OpenAI API on loopback (tests/fake_provider.py), for the apps under test to call."""
    from tests.fake_provider import fake_openai

    with fake_openai() as fake:
        yield fake
