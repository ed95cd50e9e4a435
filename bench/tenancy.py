"""Tenancy benchmark: ingest with a tenants file against the open exporter, in the same run.

    python -m bench.tenancy        (also part of `make bench`)

Two exporters, each its own process: one open (no tenants file), one with 200 tenants (each with an
ingest and a read token, a project glob list and a rate limit far above the load). The same 100-span
protobuf requests alternate between them, three rounds each, best of three; the 8 connections of the
tenant run use 8 different tenants' tokens. What tenancy adds per request: the token's sha256, a
lookup by its first bytes and a constant-time comparison, the tenant's bucket, and a cached project
check per span. Target: within 10% of the open exporter. The last line is

    tenancy: X spans/s with 200 tenants (open: Y spans/s, ratio R; target >= 0.90)
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from bench import ingest
from bench.ingest import PROTOBUF, spans_per_second, wait_ready
from bench.loadgen import LoadResult
from bench.workload import Template, protobuf_template
from demo.stack import free_port
from llm_cost_tracker.tenancy.tenants import token_sha256

TENANTS = 200


def token(i: int) -> str:
    return f"lct_bench_tenant_{i:04d}"


def tenants_file(path: Path, tenants: int) -> None:
    lines = ["version: llm-cost-tracker/v1", "tenants:"]
    for i in range(tenants):
        lines.append(
            f"  - {{org: tenant-{i:04d}, ingest_tokens_sha256: [{token_sha256(token(i))}], "
            f"read_tokens_sha256: [{token_sha256(token(i) + '-read')}], projects: [checkout, 'search-*', '*'], "
            "limits: {max_series: 5000, max_spans_per_second: 1000000}}"
        )
    path.write_text("\n".join(lines) + "\n")


@contextmanager
def exporter(tenants: int) -> Iterator[int]:
    otlp, web = free_port(), free_port()
    with tempfile.TemporaryDirectory() as tmp:
        config = Path(tmp) / "config.yaml"
        text = (
            "version: llm-cost-tracker/v1\n"
            f"otlp: {{listen_address: 127.0.0.1:{otlp}}}\nweb: {{listen_address: 127.0.0.1:{web}}}\n"
        )
        if tenants:
            tenants_file(Path(tmp) / "tenants.yaml", tenants)
            text += "tenants_file: tenants.yaml\n"
        config.write_text(text)
        cmd = [sys.executable, "-m", "llm_cost_tracker", "serve", "--config", str(config), "--log.level", "warning"]
        with subprocess.Popen(cmd) as process:
            try:
                wait_ready(f"http://127.0.0.1:{web}/-/ready")
                yield otlp
            finally:
                process.terminate()
                process.wait(10)


def load(port: int, template: Template, requests: int, first: int, tenants: int) -> LoadResult:
    """``bench.ingest.load``, each connection with its own tenant's token (none for the open exporter)."""

    def headers(connection: int) -> dict[str, str]:
        return {"Authorization": f"Bearer {token(connection * 7 % tenants)}"} if tenants else {}

    return ingest.load(port, template, PROTOBUF, requests, first, headers=headers)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=1500, help="requests per measurement (100 spans each)")
    parser.add_argument("--tenants", type=int, default=TENANTS, help=f"tenants in the file (default {TENANTS})")
    args = parser.parse_args()
    n, template = args.requests, protobuf_template()
    open_runs: list[LoadResult] = []
    tenant_runs: list[LoadResult] = []
    with exporter(0) as open_port, exporter(args.tenants) as tenant_port:
        load(open_port, template, 100, 0, 0)  # warm-up
        load(tenant_port, template, 100, 0, args.tenants)
        for round_number in range(3):
            first = 10_000 + round_number * n
            open_runs.append(load(open_port, template, n, first, 0))
            tenant_runs.append(load(tenant_port, template, n, first, args.tenants))
    best_open = max(open_runs, key=spans_per_second)
    best_tenants = max(tenant_runs, key=spans_per_second)
    for name, runs, best in (("open", open_runs, best_open), ("tenants", tenant_runs, best_tenants)):
        rates = ", ".join(f"{spans_per_second(r):,.0f}" for r in runs)
        print(f"{name}: {rates} spans/s; best p99 {best.percentile(0.99) * 1e3:.1f} ms")
    ratio = spans_per_second(best_tenants) / spans_per_second(best_open)
    print(
        f"tenancy: {spans_per_second(best_tenants):.0f} spans/s with {args.tenants} tenants "
        f"(open: {spans_per_second(best_open):.0f} spans/s, ratio {ratio:.2f}; target >= 0.90)"
    )


if __name__ == "__main__":
    main()
