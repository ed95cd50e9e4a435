"""``/metrics`` at the series cap: its size, its render time, and ingestion while it is scraped.

    python -m bench.cap         # also run by `make bench`

One ``serve`` process is filled to the cap (``limits.max_series_per_metric``: 10,000 label sets, 100 projects of
100 models) with 128-character project and model names, the longest ``limits.max_label_value_length`` lets
through, and provider and operation names as long as a client sends. Measured, in the same run, for the shipped
shape (duration histogram per org, project, provider and operation; token and request lines only for what a
label set counted; scrapers close together share a render) and for the naive shape (a histogram per label set,
model included: ``web.duration_histogram_labels`` naming all five; a finished render is not reused, only one under way:
``web.max_scrape_render_share: 1``):

- the size of ``/metrics`` as text, and gzipped (what Prometheus asks for);
- the median time of a scrape (gzip, as Prometheus scrapes; until the last byte arrives, not inflated), 20
  rounds;
- ingestion p99 of the bench's 100-span requests with nobody scraping, then with two clients scraping
  back to back.

Machines here are noisy: compare the ratios within a run.
"""

from __future__ import annotations

import asyncio
import statistics
import time

import httpx
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import KeyValue

from bench.ingest import PROTOBUF, exporter, load
from bench.loadgen import LoadResult, run_load
from bench.workload import Template, protobuf_template

PROJECTS, MODELS = 100, 100
SCRAPE = {"Accept-Encoding": "gzip", "X-Prometheus-Scrape-Timeout-Seconds": "10"}
SHAPES = {
    "shipped (histogram without model)": "",
    "naive (histogram per label set, renders not reused)": (
        "duration_histogram_labels: [org, project, provider, model, operation], max_scrape_render_share: 1"
    ),
}


def long_name(kind: str, i: int) -> str:
    return f"{kind}-{i:04d}-".ljust(128, "x")


def fill_requests() -> list[bytes]:
    """10,000 label sets, one request per project, each call with a duration."""
    bodies = []
    now = time.time_ns()
    for p in range(PROJECTS):
        request = ExportTraceServiceRequest()
        resource = request.resource_spans.add()
        resource.resource.attributes.append(KeyValue(key="service.name", value={"string_value": long_name("p", p)}))
        scope = resource.scope_spans.add()
        for m in range(MODELS):
            n = p * MODELS + m
            span = scope.spans.add()
            span.trace_id, span.span_id = (n + 1).to_bytes(16, "big"), (n + 1).to_bytes(8, "big")
            span.start_time_unix_nano, span.end_time_unix_nano = now - (n % 5000) * 1_000_000, now
            for key, value in (
                ("gen_ai.request.model", long_name("m", m)),
                ("gen_ai.provider.name", "provider-".ljust(128, "x")),
                ("gen_ai.operation.name", "operation-".ljust(128, "x")),
            ):
                span.attributes.append(KeyValue(key=key, value={"string_value": value}))
            for key, count in (("gen_ai.usage.input_tokens", 100 + n), ("gen_ai.usage.output_tokens", 10)):
                span.attributes.append(KeyValue(key=key, value={"int_value": count}))
        bodies.append(request.SerializeToString())
    return bodies


def scrape_stats(web: int, rounds: int = 20) -> tuple[int, int, float]:
    """(text bytes, gzipped bytes, median seconds of a gzipped scrape)."""
    url = f"http://127.0.0.1:{web}/metrics"
    with httpx.Client(timeout=60) as client:
        raw = client.get(url, headers={"Accept-Encoding": "identity"}).content
        times, zipped = [], 0
        for _ in range(rounds):
            started = time.perf_counter()
            with client.stream("GET", url, headers=SCRAPE) as response:
                zipped = sum(len(chunk) for chunk in response.iter_raw())  # the body as sent: not inflated here
            times.append(time.perf_counter() - started)
            time.sleep(max(1.0, 6 * times[-1]))  # past the time a scraper shares the last render: each one renders
    return len(raw), zipped, statistics.median(times)


def load_scraped(otlp: int, web: int, template: Template, requests: int, first: int, scrapers: int) -> LoadResult:
    async def scrape(stop: asyncio.Event) -> None:
        async with httpx.AsyncClient(timeout=60) as client:
            while not stop.is_set():
                await client.get(f"http://127.0.0.1:{web}/metrics", headers=SCRAPE)

    async def both() -> LoadResult:
        stop = asyncio.Event()
        tasks = [asyncio.create_task(scrape(stop)) for _ in range(scrapers)]
        result = await run_load(
            "127.0.0.1", otlp, "/v1/traces", PROTOBUF, lambda i: template.render(first + i), requests
        )
        stop.set()
        await asyncio.gather(*tasks)
        return result

    return asyncio.run(both())


def measure(web_settings: str, template: Template, bodies: list[bytes]) -> dict[str, float]:
    with exporter(web_settings) as (otlp, web), httpx.Client(timeout=60) as client:
        for body in bodies:
            response = client.post(
                f"http://127.0.0.1:{otlp}/v1/traces", content=body, headers={"Content-Type": PROTOBUF}
            )
            response.raise_for_status()
        raw, zipped, scrape_s = scrape_stats(web)
        samples = sum(
            1 for line in client.get(f"http://127.0.0.1:{web}/metrics").text.splitlines() if line[:1] not in ("#", "")
        )
        load(otlp, template, PROTOBUF, 200)  # warm
        quiet = load_scraped(otlp, web, template, 600, 1000, scrapers=0)
        busy = load_scraped(otlp, web, template, 600, 2000, scrapers=2)
    return {
        "samples": samples,
        "text_mb": raw / 1e6,
        "gzip_mb": zipped / 1e6,
        "scrape_ms": scrape_s * 1e3,
        "p99_quiet_ms": quiet.percentile(0.99) * 1e3,
        "p99_scraped_ms": busy.percentile(0.99) * 1e3,
    }


def main() -> None:
    template = protobuf_template()
    bodies = fill_requests()
    results = {name: measure(settings, template, bodies) for name, settings in SHAPES.items()}
    for name, r in results.items():
        print(
            f"{name}: {r['samples']:,.0f} samples, /metrics {r['text_mb']:.1f} MB as text, {r['gzip_mb']:.2f} MB "
            f"gzipped, scrape {r['scrape_ms']:.0f} ms (median of 20); ingest p99 {r['p99_quiet_ms']:.1f} ms "
            f"unscraped, {r['p99_scraped_ms']:.1f} ms with two scrapers"
        )
    ours, naive = (
        results["shipped (histogram without model)"],
        results["naive (histogram per label set, renders not reused)"],
    )
    size, scrape = naive["text_mb"] / ours["text_mb"], naive["scrape_ms"] / ours["scrape_ms"]
    print(
        f"cap: /metrics {ours['text_mb']:.1f} MB text / {ours['gzip_mb']:.2f} MB gzip, "
        f"scrape {ours['scrape_ms']:.0f} ms (naive: {naive['text_mb']:.1f} MB / {naive['gzip_mb']:.2f} MB, "
        f"{naive['scrape_ms']:.0f} ms; size ratio {size:.1f}x, scrape ratio {scrape:.1f}x); "
        f"ingest p99 scraped/unscraped {ours['p99_scraped_ms'] / ours['p99_quiet_ms']:.2f} "
        f"(naive {naive['p99_scraped_ms'] / naive['p99_quiet_ms']:.2f}); targets: < 10 MB, < 200 ms"
    )


if __name__ == "__main__":
    main()
