"""What the budget-swap loop tests share, whatever evaluates the rules: the exporter, pushes, the routing file.

``tests/test_ha.py`` (a Prometheus pair, an Alertmanager cluster) and ``tests/test_victoriametrics.py``
(vmagent, vmalert) run the same loop: calls pushed to a real ``serve`` with the ``exact-*`` prices,
a budget exceeded and raised, and the routing file watched for every generation it goes through.
"""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import yaml

from demo.stack import alertmanager_config, exporter_config, spawn
from llm_cost_tracker.routing.document import parse
from tests.exactness import PRICES, Call, otlp_body


def start_exporter(
    workdir: Path, otlp: int, web: int, alertmanagers: list[int], hold: float = 2
) -> subprocess.Popen[bytes]:
    """``serve`` on ``workdir``'s budgets.yaml and routing.yaml, asking ``alertmanagers`` for active alerts;
    also writes the alertmanager.yml that sends budget alerts to its webhook. ``hold``:
    ``web.new_series_hold_seconds``, at least the rules' interval (docs/exactness.md)."""
    (workdir / "prices.yaml").write_text(PRICES)
    exporter = exporter_config(
        otlp=f"127.0.0.1:{otlp}",
        web=f"127.0.0.1:{web}",
        budgets=workdir / "budgets.yaml",
        routing=workdir / "routing.yaml",
        alertmanager_url=f"http://127.0.0.1:{alertmanagers[0]}",
    )
    exporter["webhook"]["alertmanager_urls"] = [f"http://127.0.0.1:{port}" for port in alertmanagers]
    exporter["web"]["new_series_hold_seconds"] = hold
    exporter["pricing"] = {"overrides_file": str(workdir / "prices.yaml")}
    (workdir / "exporter.yaml").write_text(yaml.safe_dump(exporter))
    (workdir / "alertmanager.yml").write_text(
        yaml.safe_dump(alertmanager_config(f"http://127.0.0.1:{web}/alertmanager/webhook", fast=True))
    )
    return spawn(
        "exporter",
        [sys.executable, "-m", "llm_cost_tracker", "serve", "--config", str(workdir / "exporter.yaml")],
        workdir,
        f"http://127.0.0.1:{web}/-/ready",
    )


def push(otlp: int, calls: list[Call]) -> None:
    response = httpx.post(
        f"http://127.0.0.1:{otlp}/v1/traces",
        content=otlp_body(calls),
        headers={"Content-Type": "application/x-protobuf"},
        timeout=10,
    )
    assert response.status_code == 200, response.text


def swapped(routing: Path) -> bool:
    return routing.exists() and bool(parse(routing.read_text()).overrides)


@contextmanager
def generations(routing: Path) -> Iterator[list[int]]:
    """Every generation the routing file goes through while the block runs, polled every 20 ms."""
    seen: list[int] = []
    stop = threading.Event()

    def watch() -> None:
        while not stop.is_set():
            if routing.exists():
                generation = parse(routing.read_text()).generation
                if not seen or seen[-1] != generation:
                    seen.append(generation)
            time.sleep(0.02)

    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        yield seen
    finally:
        stop.set()
        watcher.join()
