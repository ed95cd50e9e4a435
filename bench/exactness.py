"""How much of the priced spend reaches Prometheus, before and after the exactness work (docs/exactness.md).

    python -m bench.exactness        (or: make bench-exactness; needs Debian's prometheus package)

Runs a real exporter and a real Prometheus (1 s scrapes, rules every second) twice in the same
run, on the same traffic:

- *naive*: new series shown with their first value (``web.new_series_hold_seconds: 0``), spend
  summed from ``increase()`` steps as the rules used to;
- *exact*: new series held at 0 for 2 s, the generated ``series:llm_cost_usd:increase_exact``.

Two kinds of traffic: *sparse* (120 new label sets with 1-3 calls each) and *steady* (10 label
sets, 300 calls). For each it prints what a plain ``sum(increase(llm_cost_usd_total[10m]))``, the
sum of extrapolated 5 s increases (the old period rule) and the exact rule say, as a share of the
truth (the sum of the calls' known prices).
"""

from __future__ import annotations

import shutil
import tempfile
import time
from pathlib import Path

from demo.stack import stop_all
from tests.exactness import BUDGETS, PRICES, Call, Exporter, Prometheus, Traffic, calls

QUERIES = {
    "increase()": "sum(increase(llm_cost_usd_total[10m]))",
    "old rule (sum of increase() steps)": "sum(sum_over_time((sum(increase(llm_cost_usd_total[5s])))[10m:5s]))",
    "exact rule": "sum(sum_over_time(series:llm_cost_usd:increase_exact[10m]))",
}


def steady(seed: int) -> list[Call]:
    return [Call(f"s{i % 10}", "exact-a", 1000 + seed + i, 100 + i) for i in range(300)]


def run(workdir: Path, traffic_calls: list[Call], hold: float, binary: str) -> dict[str, float]:
    """Each query's result over the truth, after the traffic and a few quiet scrapes."""
    workdir.mkdir()
    (workdir / "prices.yaml").write_text(PRICES)
    (workdir / "budgets.yaml").write_text(BUDGETS)
    exporter = Exporter(workdir, "exporter", hold=hold).start()
    prometheus = Prometheus(workdir, [exporter.web], binary)
    try:
        prometheus.wait_scraping(exporter)
        traffic = Traffic(traffic_calls, batch=4, pause=0.05)
        traffic.route_to(exporter.otlp_url)
        traffic.send_all()
        truth = float(sum(c.cost for c in traffic.answered))
        prometheus.wait_for("sum(llm_cost_usd_total)", exporter.total_cost())
        time.sleep(6)  # the last increases recorded, and a few scrapes of flat counters
        return {name: prometheus.query(query) / truth for name, query in QUERIES.items()}
    finally:
        stop_all([p for p in (exporter.process, prometheus.process) if p is not None])


def main() -> None:
    binary = shutil.which("prometheus")
    if binary is None:
        raise SystemExit("bench.exactness needs prometheus (Debian: apt-get install prometheus)")
    results: dict[tuple[str, str], dict[str, float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for traffic_name, traffic in (("sparse", calls(120, seed=7)), ("steady", steady(7))):
            for mode, hold in (("naive", 0.0), ("exact", 2.0)):
                results[traffic_name, mode] = run(Path(tmp) / f"{traffic_name}-{mode}", traffic, hold, binary)
    width = max(len(name) for name in QUERIES)
    print(f"\nshare of the priced spend that Prometheus reports (1.000000 = every cent)\n{'':<{width}}", end="")
    for traffic_name, mode in results:
        print(f"  {traffic_name + ' ' + mode:>14}", end="")
    print()
    for name in QUERIES:
        print(f"{name:<{width}}", end="")
        for shares in results.values():
            print(f"  {shares[name]:>14.6f}", end="")
        print()


if __name__ == "__main__":
    main()
