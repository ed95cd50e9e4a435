"""Every cent reaches Prometheus: the generated rules equal what the exporter priced, through a real Prometheus.

Hundreds of calls over a hundred new label sets, scraped every second, rules generated with
``--interval 1s``: the month's and the day's spend, and the exact increases of tokens and calls,
equal the sum of what the exporters priced for every call they answered with 2xx. Also across a
SIGTERM restart in the middle of traffic, a restart under a new ``instance`` label, and two
replicas. A plain ``increase()`` over a window that covers the traffic misses no first call either.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from demo.stack import free_port, spawn, stop_all
from tests.conftest import need_binary
from tests.exactness import BUDGETS, PRICES, Call, Exporter, Prometheus, Traffic, calls, reasoning_calls

pytestmark = pytest.mark.binary


def start_prometheus(workdir: Path, targets: list[int], *features: str) -> Prometheus:
    return Prometheus(workdir, targets, need_binary("prometheus"), features)


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    (tmp_path / "prices.yaml").write_text(PRICES)
    (tmp_path / "budgets.yaml").write_text(BUDGETS)
    return tmp_path


@pytest.fixture
def cleanup() -> Iterator[list[Any]]:
    things: list[Any] = []
    yield things
    for thing in reversed(things):
        if (isinstance(thing, Exporter) and thing.process is not None) or isinstance(thing, Prometheus):
            stop_all([thing.process])


def assert_exact(prometheus: Prometheus, answered: list[Call], started: datetime, *running: Exporter) -> None:
    """The month's and day's rules, and the recorded increases of cost, tokens and calls, equal the truth."""
    cost = float(sum(c.cost for c in answered))
    tokens = sum(c.input_tokens + c.output_tokens for c in answered)
    assert answered, "no call was answered"
    # Once Prometheus holds what the running exporters counted (a few scrapes after the last call)...
    counted = sum(exporter.total_cost() for exporter in running)
    assert prometheus.wait_for("sum(llm_cost_usd_total)", counted) == pytest.approx(counted, rel=1e-9)
    # ...the rules, evaluated every second, have recorded all of it.
    month = prometheus.wait_for('budget:llm_cost_usd:period{budget="all-month"}', cost)
    ended = datetime.now(tz=UTC)
    if (started.year, started.month) == (ended.year, ended.month):  # not across a month's end (a real clock)
        assert month == pytest.approx(cost, rel=1e-6, abs=0)
    if started.date() == ended.date():
        assert prometheus.query('budget:llm_cost_usd:period{budget="all-day"}') == pytest.approx(cost, rel=1e-6)
    window = "[10m]"
    assert prometheus.query(f"sum(sum_over_time(series:llm_cost_usd:increase_exact{window}))") == pytest.approx(
        cost, rel=1e-6
    )
    # Token lines new to a series already shown (a first reasoning call) are held at 0 after their cost is shown.
    assert prometheus.wait_for(f"sum(sum_over_time(series:llm_tokens:increase_exact{window}))", tokens) == tokens
    reasoning = sum(c.reasoning_tokens for c in answered)
    if reasoning:
        recorded = f'sum(sum_over_time(series:llm_tokens:increase_exact{{token_type="reasoning"}}{window}))'
        assert prometheus.query(recorded) == reasoning
    assert prometheus.query(f'sum(sum_over_time(series:llm_requests:increase_exact{{outcome="ok"}}{window}))') == len(
        answered
    )
    # A plain increase() over a window covering the traffic misses no first call: the exporter's zero came first
    # (without it, each series' first calls would be missing: a third of this traffic). Prometheus only adds to
    # it, extrapolating each series from its last sample to the window's end (docs/exactness.md).
    plain = prometheus.query("sum(increase(llm_cost_usd_total[10m]))")
    assert plain >= cost * (1 - 1e-9), plain / cost


def assert_plain_increase_exact_at_the_last_scrape(prometheus: Prometheus, answered: list[Call]) -> None:
    """Ending the window at a scrape leaves nothing to extrapolate: increase() then equals the truth too."""
    cost = float(sum(c.cost for c in answered))
    last_scrape = prometheus.query("max(timestamp(llm_cost_usd_total))")
    plain = prometheus.query(f"sum(increase(llm_cost_usd_total[10m] @ {last_scrape:.3f}))")
    assert plain == pytest.approx(cost, rel=1e-6)


def test_many_new_series_reach_the_rules_exactly(workdir: Path, cleanup: list[Any]) -> None:
    exporter = Exporter(workdir, "exporter").start()
    cleanup.append(exporter)
    prometheus = start_prometheus(workdir, [exporter.web])
    cleanup.append(prometheus)
    prometheus.wait_scraping(exporter)
    started = datetime.now(tz=UTC)
    first = calls(120, seed=1)
    traffic = Traffic(first)
    traffic.route_to(exporter.otlp_url)
    traffic.send_all()
    # Once every series is shown with its values, a first reasoning call on half of them: new lines.
    time.sleep(exporter.hold + 2)
    later = Traffic(reasoning_calls(first, seed=1))
    later.route_to(exporter.otlp_url)
    later.send_all()
    assert traffic.refused == later.refused == 0
    answered = traffic.answered + later.answered
    assert_exact(prometheus, answered, started, exporter)
    assert_plain_increase_exact_at_the_last_scrape(prometheus, answered)


def test_a_sigterm_restart_in_the_middle_of_traffic_loses_nothing_answered(workdir: Path, cleanup: list[Any]) -> None:
    first = Exporter(workdir, "first").start()
    cleanup.append(first)
    prometheus = start_prometheus(workdir, [first.web])
    cleanup.append(prometheus)
    prometheus.wait_scraping(first)
    started = datetime.now(tz=UTC)
    traffic = Traffic(calls(120, seed=2), batch=3, pause=0.1)  # about 9 s of traffic
    traffic.route_to(first.otlp_url)
    sender = threading.Thread(target=traffic.send_all)
    sender.start()
    time.sleep(3)
    assert first.stop() == 0  # drains: OTLP closes, /metrics stays until Prometheus has scraped every count
    assert "stopping before a scrape read every count" not in first.log()
    # The same address again: Prometheus sees the same instance, its counters start over.
    again = Exporter(workdir, "again", otlp=first.otlp, web=first.web).start()
    cleanup.append(again)
    sender.join()
    assert traffic.refused > 0  # some calls came while it was down (an app's exporter retries those)
    assert_exact(prometheus, traffic.answered, started, again)


def test_a_restart_under_a_new_instance_label(workdir: Path, cleanup: list[Any]) -> None:
    old, new = Exporter(workdir, "old"), Exporter(workdir, "new")
    cleanup += [old.start()]
    prometheus = start_prometheus(workdir, [old.web, new.web])  # a Kubernetes pod replaced by one with a new address
    cleanup.append(prometheus)
    prometheus.wait_scraping(old)
    started = datetime.now(tz=UTC)
    traffic = Traffic(calls(120, seed=3))
    traffic.route_to(old.otlp_url)
    traffic.send_all(len(traffic.pending) // 2)
    assert old.stop() == 0
    cleanup.append(new.start())
    traffic.route_to(new.otlp_url)
    traffic.send_all()
    assert traffic.refused == 0
    assert_exact(prometheus, traffic.answered, started, new)


def test_two_replicas_share_the_traffic(workdir: Path, cleanup: list[Any]) -> None:
    replicas = [Exporter(workdir, "replica-1").start(), Exporter(workdir, "replica-2").start()]
    cleanup += replicas
    prometheus = start_prometheus(workdir, [r.web for r in replicas])
    cleanup.append(prometheus)
    prometheus.wait_scraping(*replicas)
    started = datetime.now(tz=UTC)
    traffic = Traffic(calls(120, seed=4))
    traffic.route_to(*(r.otlp_url for r in replicas))  # a load balancer: most label sets reach both replicas
    traffic.send_all()
    assert traffic.refused == 0
    assert_exact(prometheus, traffic.answered, started, *replicas)


def test_scraped_as_protobuf(workdir: Path, cleanup: list[Any]) -> None:
    """Prometheus asks for protobuf with native histograms (2.40) or created timestamps (2.50): the same numbers."""
    exporter = Exporter(workdir, "exporter").start()
    cleanup.append(exporter)
    prometheus = start_prometheus(workdir, [exporter.web], "native-histograms")
    cleanup.append(prometheus)
    prometheus.wait_scraping(exporter)
    started = datetime.now(tz=UTC)
    traffic = Traffic(calls(40, seed=5))
    traffic.route_to(exporter.otlp_url)
    traffic.send_all()
    assert_exact(prometheus, traffic.answered, started, exporter)
    assert prometheus.query("sum(llm_request_duration_seconds_count)") == len(traffic.answered)
    metrics = httpx.get(f"http://127.0.0.1:{exporter.web}/metrics", timeout=10).text
    assert 'llm_cost_tracker_scrapes_total{format="protobuf",reader="scraper"}' in metrics
    assert 'llm_cost_tracker_scrapes_total{format="text",reader="scraper"} 0.0' in metrics


class _SlowTarget:
    """A target whose scrapes take 0.9 s, as a loaded exporter's can: each sample is stored 0.9 s after the time
    it is stamped with, so a rule evaluation in that gap cannot see it (most evaluations, at a 1 s interval).

    Its counter serves 0 first, then grows by 0.25 $ a second for 10 s (in 1/64 $ steps), then stays."""

    def __init__(self) -> None:
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        self.port = free_port()
        self.started: float | None = None
        target = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                value = target.value()
                time.sleep(0.9)
                body = f'llm_cost_usd_total{{org="o",project="slow",provider="p",model="m"}} {value}\n'.encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/plain; version=0.0.4")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        class Server(ThreadingHTTPServer):
            daemon_threads = True

            def handle_error(self, request: object, client_address: object) -> None:
                pass  # a scrape Prometheus gave up on: the pipe is broken

        self.server = Server(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def start_counting(self) -> None:
        self.started = time.monotonic()

    def value(self) -> float:
        if self.started is None:
            return 0.0
        return round(min(time.monotonic() - self.started, 10.0) * 16) / 64  # 1/64 $ steps: exact in floats

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def test_samples_stored_after_the_evaluation_are_counted(workdir: Path, cleanup: list[Any]) -> None:
    """With the scrape slower than the gap between a scrape's start and the next evaluation, an increase read
    over the interval ending at the evaluation misses that scrape for good; the query offset reads them all."""
    target = _SlowTarget()
    try:
        prometheus = Prometheus(workdir, [], need_binary("prometheus"))  # rules only, targets below
        cleanup.append(prometheus)
        stop_all([prometheus.process])
        config = yaml.safe_load((workdir / "prometheus.yml").read_text())
        config["scrape_configs"][0]["static_configs"] = [{"targets": [f"127.0.0.1:{target.port}"]}]
        (workdir / "prometheus.yml").write_text(yaml.safe_dump(config))
        prometheus.process = spawn(
            "prometheus", prometheus.argv, workdir, f"http://127.0.0.1:{prometheus.port}/-/ready"
        )
        started = datetime.now(tz=UTC)
        deadline = time.monotonic() + 30
        while prometheus.query("count(llm_cost_usd_total)") < 1:
            assert time.monotonic() < deadline, "Prometheus did not scrape the slow target"
            time.sleep(0.2)
        target.start_counting()
        time.sleep(11)
        final = prometheus.wait_for("max(llm_cost_usd_total)", target.value())
        assert final == target.value() > 0
        month = prometheus.wait_for('budget:llm_cost_usd:period{budget="all-month"}', final)
        if started.month == datetime.now(tz=UTC).month:
            assert month == pytest.approx(final, rel=1e-9)
    finally:
        target.stop()
