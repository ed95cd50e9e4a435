"""Ingest benchmark: the exporter against a naive exporter and the bare decode loop.

    make bench            # or: python -m bench.ingest [--requests N]

Both servers run as their own single process (one event loop, one core) and
are driven over loopback by the same load generator with 8 keep-alive
connections posting prebuilt 100-span protobuf requests. Machines here are
noisy: compare the ratios, not the absolute numbers. The last line is

    ingest: X spans/s (naive baseline: Y spans/s, ratio R; decode ceiling: C spans/s)
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import KeyValue

from bench.loadgen import LoadResult, run_load
from bench.workload import SPANS_PER_REQUEST, Template, json_template, protobuf_template
from demo.stack import free_port
from llm_cost_tracker.exporter.aliases import ALIASES
from llm_cost_tracker.exporter.decode import iter_spans_proto
from llm_cost_tracker.exporter.selfmetrics import is_compiled

PROTOBUF = "application/x-protobuf"
JSON = "application/json"


def wait_ready(url: str, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"{url} did not become ready")


@contextmanager
def exporter(web_settings: str = "") -> Iterator[tuple[int, int]]:
    """``serve`` as its own process; ``web_settings``: more keys of its ``web`` mapping (flow-style YAML)."""
    otlp, web = free_port(), free_port()
    with tempfile.TemporaryDirectory() as tmp:
        config = Path(tmp) / "config.yaml"
        config.write_text(
            "version: llm-cost-tracker/v1\n"
            f"otlp: {{listen_address: 127.0.0.1:{otlp}}}\n"
            f"web: {{listen_address: 127.0.0.1:{web}{', ' + web_settings if web_settings else ''}}}\n"
        )
        cmd = [sys.executable, "-m", "llm_cost_tracker", "serve", "--config", str(config), "--log.level", "warning"]
        with subprocess.Popen(cmd) as process:
            try:
                wait_ready(f"http://127.0.0.1:{web}/-/ready")
                yield otlp, web
            finally:
                process.terminate()
                process.wait(10)


@contextmanager
def naive_exporter() -> Iterator[int]:
    port = free_port()
    with subprocess.Popen([sys.executable, "-m", "bench.naive_exporter", str(port)]) as process:
        try:
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline:
                try:
                    httpx.post(f"http://127.0.0.1:{port}/v1/traces", content=b"", timeout=1)
                    break
                except httpx.HTTPError:
                    time.sleep(0.1)
            yield port
        finally:
            process.terminate()
            process.wait(10)


def load(
    port: int,
    template: Template,
    content_type: str,
    requests: int,
    first: int = 0,
    headers: Callable[[int], dict[str, str]] | None = None,
) -> LoadResult:
    """``requests`` bodies of ``template`` over 8 connections; ``headers(c)``: extra headers of connection ``c``."""
    result = asyncio.run(
        run_load(
            "127.0.0.1",
            port,
            "/v1/traces",
            content_type,
            lambda i: template.render(first + i),
            requests,
            headers=headers,
        )
    )
    if set(result.statuses) != {200}:
        raise RuntimeError(f"unexpected responses: {result.statuses}")
    return result


def spans_per_second(result: LoadResult) -> float:
    return result.requests * SPANS_PER_REQUEST / result.seconds


def decode_ceiling(template: Template, seconds: float = 2.0) -> tuple[float, float]:
    """Spans/s of the bare decode loops, in process: ours (slim schema + the attributes we read) and
    opentelemetry-proto's (parse, then walk every attribute of every span)."""
    bodies = [template.render(i) for i in range(50)]

    cache: dict[object, object] = {}

    def ours() -> int:
        return sum(len(list(iter_spans_proto(body, ALIASES, cache))) for body in bodies)

    def official() -> int:
        count = 0
        for body in bodies:
            request = ExportTraceServiceRequest()
            request.ParseFromString(body)
            for resource_spans in request.resource_spans:
                for scope_spans in resource_spans.scope_spans:
                    for span in scope_spans.spans:
                        for kv in span.attributes:
                            kv.value.WhichOneof("value")
                        count += 1
        return count

    rates = []
    for loop in (ours, official):
        started, spans = time.perf_counter(), 0
        while time.perf_counter() - started < seconds:
            spans += loop()
        rates.append(spans / (time.perf_counter() - started))
    return rates[0], rates[1]


def series_request(models: int) -> bytes:
    """One request with ``models`` distinct models: that many label sets."""
    request = ExportTraceServiceRequest()
    scope = request.resource_spans.add().scope_spans.add()
    for i in range(models):
        span = scope.spans.add()
        span.trace_id = i.to_bytes(16, "big")
        span.span_id = i.to_bytes(8, "big")
        span.start_time_unix_nano, span.end_time_unix_nano = time.time_ns() - 10**9, time.time_ns()
        for key, value in (("gen_ai.request.model", f"bench-model-{i:05d}"), ("gen_ai.provider.name", "vllm")):
            span.attributes.append(KeyValue(key=key, value={"string_value": value}))
        for key, count in (("gen_ai.usage.input_tokens", 100 + i), ("gen_ai.usage.output_tokens", 10)):
            span.attributes.append(KeyValue(key=key, value={"int_value": count}))
    return request.SerializeToString()


def scrape_times(web: int, rounds: int = 20) -> tuple[float, int]:
    times, lines = [], 0
    with httpx.Client() as client:
        for _ in range(rounds):
            started = time.perf_counter()
            text = client.get(f"http://127.0.0.1:{web}/metrics").text
            times.append(time.perf_counter() - started)
            lines = sum(1 for line in text.splitlines() if line and not line.startswith("#"))
    return statistics.median(times), lines


def load_while_scraping(otlp: int, web: int, template: Template, requests: int, first: int) -> LoadResult:
    async def scrape(stop: asyncio.Event) -> int:
        count = 0
        async with httpx.AsyncClient() as client:
            while not stop.is_set():
                await client.get(f"http://127.0.0.1:{web}/metrics")
                count += 1
        return count

    async def both() -> LoadResult:
        stop = asyncio.Event()
        scraper = asyncio.create_task(scrape(stop))
        result = await run_load(
            "127.0.0.1", otlp, "/v1/traces", PROTOBUF, lambda i: template.render(first + i), requests
        )
        stop.set()
        await scraper
        return result

    return asyncio.run(both())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=1500, help="requests per measurement (100 spans each)")
    args = parser.parse_args()
    n = args.requests
    proto, js = protobuf_template(), json_template()
    print(f"hot path: {'compiled with mypyc' if is_compiled() else 'pure Python (PURE=1)'}")
    print(
        f"workload: {SPANS_PER_REQUEST}-span requests built from corpus/traceloop spans, "
        f"{len(proto.body)} bytes protobuf, {len(js.body)} bytes JSON; {n} requests per run, 8 connections"
    )

    ours_decode, official_decode = decode_ceiling(proto)
    print(
        f"decode loop, in process: ours {ours_decode:,.0f} spans/s; "
        f"opentelemetry-proto parse + walk attributes {official_decode:,.0f} spans/s"
    )

    # Both servers stay up; their runs alternate and each keeps its best of three, so a
    # burst of noise on this shared machine does not decide the ratio.
    naive_runs: list[LoadResult] = []
    ours_runs: list[LoadResult] = []
    with naive_exporter() as port, exporter() as (otlp, _):
        load(port, proto, PROTOBUF, 100)  # warm-up
        load(otlp, proto, PROTOBUF, 100)
        for round_number in range(3):
            first = 10_000 + round_number * n
            naive_runs.append(load(port, proto, PROTOBUF, n, first=first))
            ours_runs.append(load(otlp, proto, PROTOBUF, n, first=first))
        naive = max(naive_runs, key=spans_per_second)
        ours = max(ours_runs, key=spans_per_second)
        print(
            f"naive exporter: {spans_per_second(naive):,.0f} spans/s, p50 {naive.percentile(0.5) * 1e3:.1f} ms, "
            f"p99 {naive.percentile(0.99) * 1e3:.1f} ms (best of 3)"
        )
        print(
            f"exporter, protobuf: {spans_per_second(ours):,.0f} spans/s, p50 {ours.percentile(0.5) * 1e3:.1f} ms, "
            f"p99 {ours.percentile(0.99) * 1e3:.1f} ms (best of 3; target p99 < 20 ms)"
        )
        json_result = max((load(otlp, js, JSON, n, first=100_000 + r * n) for r in range(2)), key=spans_per_second)
        json_ratio = spans_per_second(json_result) / spans_per_second(ours)
        print(
            f"exporter, OTLP/JSON: {spans_per_second(json_result):,.0f} spans/s, "
            f"{json_ratio:.0%} of protobuf (target >= 60%)"
        )

    with exporter() as (otlp, web):
        httpx.post(
            f"http://127.0.0.1:{otlp}/v1/traces", content=series_request(400), headers={"Content-Type": PROTOBUF}
        ).raise_for_status()
        render, lines = scrape_times(web)
        print(f"/metrics: {lines:,} series rendered in {render * 1e3:.1f} ms (median of 20; target < 100 ms)")
        load(otlp, proto, PROTOBUF, 100)
        quiet = load(otlp, proto, PROTOBUF, n // 2, first=200_000)
        busy = load_while_scraping(otlp, web, proto, n // 2, first=300_000)
        print(
            f"ingest while /metrics is scraped back to back: {spans_per_second(busy):,.0f} spans/s, "
            f"p99 {busy.percentile(0.99) * 1e3:.1f} ms (without scrapes: {spans_per_second(quiet):,.0f} spans/s, "
            f"p99 {quiet.percentile(0.99) * 1e3:.1f} ms)"
        )

    ratio = spans_per_second(ours) / spans_per_second(naive)
    print(
        f"ingest: {spans_per_second(ours):.0f} spans/s (naive baseline: {spans_per_second(naive):.0f} spans/s, "
        f"ratio {ratio:.2f}; decode ceiling: {ours_decode:.0f} spans/s)"
    )


if __name__ == "__main__":
    main()
