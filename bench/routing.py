"""Routing benchmark: how fast a swap reaches an app, and what ``resolve()`` costs.

    python -m bench.routing        (also part of `make bench`)

1. ``ModelRouter.resolve()`` on an unchanged routing file, against the naive
   router that reads and parses the file on every call.
2. From the webhook's 2xx to the moment a ``resolve()`` loop in another
   process returns the new model, over alternating firing and resolved
   notifications, with ``serve`` in its own process.
3. The same through ``ModelRouter.from_url`` polling ``GET /tenants/acme/routing``
   (a tenant's app host without the shared volume), against the file router.
"""

from __future__ import annotations

import hashlib
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from bench.ingest import wait_ready
from demo.stack import free_port
from llm_cost_tracker.routing import ModelRouter
from llm_cost_tracker.routing.document import Override, parse
from llm_cost_tracker.routing.store import RoutingStore
from tests.clock import TestClock
from tests.webhook_payloads import BUDGETS, Alerts, notification

WATCHER = """
import sys, time
from llm_cost_tracker.routing import ModelRouter
if sys.argv[1].startswith("http"):
    router = ModelRouter.from_url(sys.argv[1], token_file=sys.argv[2], scope={"project": "checkout"})
else:
    router = ModelRouter(sys.argv[1], scope={"org": "acme", "project": "checkout"})
last = router.resolve("gpt-4o")
print("ready", flush=True)
while True:
    answer = router.resolve("gpt-4o")
    if answer != last:
        print(f"{time.time():.6f} {answer}", flush=True)
        last = answer
"""


def per_call(function: object, calls: int) -> float:
    started = time.perf_counter()
    for _ in range(calls):
        function()  # type: ignore[operator]
    return (time.perf_counter() - started) / calls


def resolve_cost(directory: Path) -> None:
    store = RoutingStore(directory / "routing.yaml")
    swap = Override(from_="gpt-4o", to="gpt-4o-mini", scope={"project": "checkout"}, budget="b", fingerprint="f")
    store.update(lambda d: d.with_overrides((swap,), d.resolved))
    router = ModelRouter(store.path, scope={"project": "checkout"})
    router.resolve("gpt-4o")
    ours = min(per_call(lambda: router.resolve("gpt-4o"), 200_000) for _ in range(3))
    naive = min(
        per_call(lambda: parse(store.path.read_text()).resolve("gpt-4o", {"project": "checkout"}), 2_000)
        for _ in range(3)
    )
    print(
        f"resolve() on an unchanged file: {ours * 1e6:.2f} us per call "
        f"(naive, read and parse per call: {naive * 1e6:.0f} us; {naive / ours:,.0f}x) (target < 5 us)"
    )


READ_TOKEN = "lct_bench_acme_read"


def swap_latency(directory: Path, swaps: int = 40, *, remote: bool = False) -> list[float]:
    """Seconds from each webhook 2xx to the watcher's first new answer; ``remote``: the watcher reads the
    routing over HTTP (a tenants file, acme's read token)."""
    budgets, routing = directory / "budgets.yaml", directory / "routing.yaml"
    budgets.write_text(BUDGETS.replace("match: {project: research}", "match: {org: acme, project: research}"))
    web, otlp = free_port(), free_port()
    config = directory / "config.yaml"
    tenants = directory / "tenants.yaml"
    tenants.write_text(
        "version: llm-cost-tracker/v1\ntenants:\n"
        f"  - {{org: acme, read_tokens_sha256: [{hashlib.sha256(READ_TOKEN.encode()).hexdigest()}]}}\n"
    )
    (directory / "token").write_text(READ_TOKEN)
    config.write_text(
        "version: llm-cost-tracker/v1\n"
        f"otlp: {{listen_address: 127.0.0.1:{otlp}}}\nweb: {{listen_address: 127.0.0.1:{web}}}\n"
        f"budgets_file: {budgets}\nrouting_file: {routing}\n" + (f"tenants_file: {tenants}\n" if remote else "")
    )
    serve = subprocess.Popen(
        [sys.executable, "-m", "llm_cost_tracker", "serve", "--config", str(config), "--log.level", "warning"]
    )
    source = [f"http://127.0.0.1:{web}/tenants/acme/routing", str(directory / "token")] if remote else [str(routing)]
    watcher = subprocess.Popen([sys.executable, "-c", WATCHER, *source], stdout=subprocess.PIPE, text=True, bufsize=1)
    try:
        wait_ready(f"http://127.0.0.1:{web}/-/ready")
        assert watcher.stdout is not None
        assert watcher.stdout.readline().strip() == "ready"
        after_response, after_request = [], []
        jitter = random.Random(7)
        alert = Alerts(TestClock())  # the receiver is a process of its own, on the real clock
        with httpx.Client() as client:
            for i in range(swaps):
                firing = i % 2 == 0
                episode = alert.clock.iso(60 * (i // 2))  # each firing a new episode, a minute after the last
                body = notification(alert("firing" if firing else "resolved", starts=episode, ends=episode))
                sent = time.time()
                response = client.post(f"http://127.0.0.1:{web}/alertmanager/webhook", content=body)
                answered = time.time()
                assert response.status_code == 200, response.text
                line = watcher.stdout.readline().split()
                seen = float(line[0])
                assert line[1] == ("gpt-4o-mini" if firing else "gpt-4o")
                after_response.append(seen - answered)
                after_request.append(seen - sent)
                # Not in step with the router's polls: a swap may land anywhere between two of them.
                time.sleep(0.05 + (jitter.uniform(0, 0.25) if remote else 0))
    finally:
        watcher.kill()
        serve.terminate()
        serve.wait(10)
    p99 = percentile(after_response, 0.99)
    how = "over HTTP (ModelRouter.from_url, 250 ms polls)" if remote else "through the shared file"
    target = "target p99 < 1 s" if remote else "target p99 < 200 ms, ideally < 50 ms"
    print(
        f"swap seen by another process {how}: p50 {statistics.median(after_response) * 1e3:.1f} ms, "
        f"p99 {p99 * 1e3:.1f} ms after the webhook's 2xx (negative: seen before the 2xx arrived); "
        f"p50 {statistics.median(after_request) * 1e3:.1f} ms after the request was sent "
        f"({swaps} swaps; {target})"
    )
    return after_response


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main() -> None:
    with tempfile.TemporaryDirectory() as cost, tempfile.TemporaryDirectory() as latency:
        resolve_cost(Path(cost))
        by_file = swap_latency(Path(latency))
    with tempfile.TemporaryDirectory() as latency:
        by_url = swap_latency(Path(latency), 60, remote=True)
    print(
        f"routing over HTTP: p99 {percentile(by_url, 0.99) * 1e3:.0f} ms "
        f"(the shared file: p99 {percentile(by_file, 0.99) * 1e3:.1f} ms; target < 1000 ms)"
    )


if __name__ == "__main__":
    main()
