"""Exporters, a Prometheus and LLM traffic as real processes, for the exactness tests and benchmark.

The exporter is ``llm-cost-tracker serve`` with prices of its own (``exact-*`` models at fixed
prices), so that the truth of every call is known; Prometheus scrapes every second and evaluates the
generated rules every second.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

import httpx
import yaml
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue

from demo.stack import free_port, spawn
from llm_cost_tracker.rules.generator import Resolution, generate
from llm_cost_tracker.rules.render import prometheus_rules
from llm_cost_tracker.rules.spec import load_budgets

PRICE_IN, PRICE_OUT = Decimal("1.25"), Decimal("10")  # USD per million tokens of the test's models
BUDGETS = """\
version: llm-cost-tracker/v1
budgets:
  - {name: all-month, amount_usd: 1000, period: month}
  - {name: all-day, amount_usd: 1000, period: day}
"""
PRICES = f"""\
version: llm-cost-tracker/v1
models:
  - {{provider: testprov, model: "exact-*", usd_per_million_tokens: {{input: {PRICE_IN}, output: {PRICE_OUT}}}}}
"""


@dataclass(frozen=True)
class Call:
    project: str
    model: str
    input_tokens: int
    output_tokens: int
    reasoning_tokens: int = 0
    """Of the output tokens (priced as output): a line new to a series that is already shown."""

    @property
    def cost(self) -> Decimal:
        return (self.input_tokens * PRICE_IN + self.output_tokens * PRICE_OUT) / 1_000_000


def calls(label_sets: int, seed: int) -> list[Call]:
    """1-3 calls for each of ``label_sets`` new (project, model) pairs, in a shuffled order."""
    rng = random.Random(seed)
    out = [
        Call(f"p{i // 2:03d}", f"exact-{'ab'[i % 2]}", rng.randint(100, 5000), rng.randint(10, 2000))
        for i in range(label_sets)
        for _ in range(rng.randint(1, 3))
    ]
    rng.shuffle(out)
    return out


def reasoning_calls(earlier: list[Call], seed: int) -> list[Call]:
    """A call that reasons for half the label sets of ``earlier``: once those series are shown, their reasoning
    line is new to Prometheus, and must start at 0 too."""
    rng = random.Random(seed)
    label_sets = sorted({(c.project, c.model) for c in earlier})
    return [
        Call(project, model, rng.randint(100, 5000), output, reasoning_tokens=output // 2)
        for project, model in rng.sample(label_sets, len(label_sets) // 2)
        for output in [rng.randint(10, 2000)]
    ]


def otlp_body(batch: list[Call]) -> bytes:
    request = ExportTraceServiceRequest()
    now = time.time_ns()
    for call in batch:
        resource_spans = request.resource_spans.add()
        resource_spans.resource.attributes.add(key="service.name", value=AnyValue(string_value=call.project))
        span = resource_spans.scope_spans.add().spans.add()
        span.trace_id, span.span_id = os.urandom(16), os.urandom(8)
        span.name, span.kind = f"chat {call.model}", 3
        span.start_time_unix_nano, span.end_time_unix_nano = now - 500_000_000, now
        for key, value in (
            ("gen_ai.provider.name", AnyValue(string_value="testprov")),
            ("gen_ai.operation.name", AnyValue(string_value="chat")),
            ("gen_ai.request.model", AnyValue(string_value=call.model)),
            ("gen_ai.usage.input_tokens", AnyValue(int_value=call.input_tokens)),
            ("gen_ai.usage.output_tokens", AnyValue(int_value=call.output_tokens)),
        ):
            span.attributes.append(KeyValue(key=key, value=value))
        if call.reasoning_tokens:
            span.attributes.append(
                KeyValue(key="gen_ai.usage.reasoning.output_tokens", value=AnyValue(int_value=call.reasoning_tokens))
            )
    return request.SerializeToString()


@dataclass
class Exporter:
    """``llm-cost-tracker serve`` as a process, as a user runs it."""

    workdir: Path
    name: str
    otlp: int = field(default_factory=free_port)
    web: int = field(default_factory=free_port)
    hold: float = 2.0
    """``web.new_series_hold_seconds``: longer than the 1 s scrape and rule interval (0: the series shows at once)."""
    process: subprocess.Popen[bytes] | None = None

    @property
    def otlp_url(self) -> str:
        return f"http://127.0.0.1:{self.otlp}"

    def start(self) -> Exporter:
        config = self.workdir / f"{self.name}.yaml"
        config.write_text(
            yaml.safe_dump(
                {
                    "version": "llm-cost-tracker/v1",
                    "otlp": {"listen_address": f"127.0.0.1:{self.otlp}"},
                    "web": {"listen_address": f"127.0.0.1:{self.web}", "new_series_hold_seconds": self.hold},
                    "pricing": {"overrides_file": str(self.workdir / "prices.yaml")},
                    "routing_file": str(self.workdir / "routing.yaml"),
                }
            )
        )
        argv = [sys.executable, "-m", "llm_cost_tracker", "serve", "--config", str(config)]
        self.process = spawn(self.name, argv, self.workdir, f"http://127.0.0.1:{self.web}/-/ready")
        return self

    def stop(self) -> int:
        """SIGTERM, as a process manager stops it; the exit status."""
        assert self.process is not None
        self.process.send_signal(signal.SIGTERM)
        status = self.process.wait(30)
        self.process = None
        return status

    def log(self) -> str:
        return (self.workdir / f"{self.name}.log").read_text(errors="replace")

    def total_cost(self) -> float:
        """What it has priced since it started (``curl`` sees the true values; only scrapers see the held zeros)."""
        text = httpx.get(f"http://127.0.0.1:{self.web}/metrics", timeout=10).text
        return sum(
            float(line.rsplit(" ", 1)[1]) for line in text.splitlines() if line.startswith("llm_cost_usd_total{")
        )


class Traffic:
    """Sends calls in small batches to whichever exporter is current, remembering what was answered 2xx."""

    def __init__(self, pending: list[Call], batch: int = 6, pause: float = 0.05) -> None:
        self.pending = list(pending)
        self.batch, self.pause = batch, pause
        self.answered: list[Call] = []
        self.refused = 0
        self.targets: list[str] = []
        self.lock = threading.Lock()

    def send_all(self, count: int | None = None) -> None:
        """Send the next ``count`` calls (all by default), round-robin over the targets."""
        sent = 0
        with httpx.Client(timeout=10) as client:
            while self.pending and (count is None or sent < count):
                batch, self.pending = self.pending[: self.batch], self.pending[self.batch :]
                with self.lock:
                    targets = list(self.targets)
                target = targets[sent // self.batch % len(targets)]
                try:
                    response = client.post(
                        f"{target}/v1/traces",
                        content=otlp_body(batch),
                        headers={"Content-Type": "application/x-protobuf"},
                    )
                    ok = response.status_code == 200
                except httpx.TransportError:  # down, restarting: the app's exporter would retry later
                    ok = False
                if ok:
                    self.answered += batch
                else:
                    self.refused += len(batch)
                sent += len(batch)
                time.sleep(self.pause)

    def route_to(self, *urls: str) -> None:
        with self.lock:
            self.targets = list(urls)


class Prometheus:
    def __init__(self, workdir: Path, targets: list[int], binary: str, features: tuple[str, ...] = ()) -> None:
        self.workdir = workdir
        self.port = free_port()
        rules = workdir / "budgets.rules.yaml"
        rules.write_text(
            prometheus_rules(generate(load_budgets(workdir / "budgets.yaml"), Resolution.parse("1s", "2s")), "x")
        )
        (workdir / "prometheus.yml").write_text(
            yaml.safe_dump(
                {
                    "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
                    "rule_files": [str(rules)],
                    "scrape_configs": [
                        {
                            "job_name": "llm-cost-tracker",
                            "static_configs": [{"targets": [f"127.0.0.1:{port}" for port in targets]}],
                        }
                    ],
                }
            )
        )
        self.argv = [
            binary,
            f"--config.file={workdir / 'prometheus.yml'}",
            f"--storage.tsdb.path={workdir / 'data'}",
            f"--web.listen-address=127.0.0.1:{self.port}",
            "--log.level=warn",
            *([f"--enable-feature={','.join(features)}"] if features else []),
        ]
        self.process = spawn("prometheus", self.argv, workdir, f"http://127.0.0.1:{self.port}/-/ready")

    def wait_scraping(self, *exporters: Exporter, timeout: float = 30.0) -> None:
        """Until Prometheus scrapes them (it applies new targets every 5 s): traffic before that is not the point."""
        deadline = time.monotonic() + timeout
        wanted = len(exporters)
        targets = "|".join(f"127.0.0.1:{e.web}" for e in exporters)
        while self.query(f'count(up{{instance=~"{targets}"}} == 1)') < wanted:
            assert time.monotonic() < deadline, "Prometheus did not scrape the exporters"
            time.sleep(0.2)

    def query(self, promql: str) -> float:
        """The instant value of a one-series query (0 when empty)."""
        body = httpx.get(f"http://127.0.0.1:{self.port}/api/v1/query", params={"query": promql}, timeout=10).json()
        assert body["status"] == "success", body
        result = body["data"]["result"]
        assert len(result) <= 1, result
        return float(result[0]["value"][1]) if result else 0.0

    def wait_for(self, promql: str, expected: float, timeout: float = 30.0) -> float:
        """Poll until the query equals ``expected`` (to 1e-9 relative); the last value seen."""
        deadline = time.monotonic() + timeout
        value = self.query(promql)
        while abs(value - expected) > 1e-9 * max(expected, 1e-9) and time.monotonic() < deadline:
            time.sleep(0.25)
            value = self.query(promql)
        return value
