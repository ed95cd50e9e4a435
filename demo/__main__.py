"""`make demo`: exporter, Prometheus, Alertmanager and simulated apps, from deploy/, until Ctrl-C.

    python -m demo [--rate 20] [--keep]

The simulated apps spend past the demo budget of acme/checkout (deploy/budgets.yaml: $0.50 a month)
within a minute; the budget alert fires, the webhook swaps checkout's gpt-4o for gpt-4o-mini in the
routing file, and the simulator's next calls use it.
"""

from __future__ import annotations

import argparse
import shutil
import signal
import sys
import tempfile
import threading
import time
from pathlib import Path
from urllib.parse import quote

import httpx

from demo.stack import DEPLOY, LocalStack, Ports, StackError
from llm_cost_tracker import simulate
from llm_cost_tracker.routing.document import RoutingFileError
from llm_cost_tracker.routing.store import RoutingStore


def _graph(ui: str, *queries: str) -> str:
    parts = "&".join(f"g{i}.expr={quote(q)}&g{i}.tab=0&g{i}.range_input=15m" for i, q in enumerate(queries))
    return f"{ui}/graph?{parts}"


def _prometheus_ui(base: str) -> str:
    """Where Prometheus's pages are: Debian's 2.x ships only the classic UI (``/alerts`` is a 404 there)."""
    try:
        if httpx.get(f"{base}/classic/graph", timeout=2).status_code == 200:
            return f"{base}/classic"
    except httpx.HTTPError:
        pass
    return base


def _alertmanager_alerts(base: str) -> str:
    """Alertmanager's alerts page, or its API where the UI is left out (Debian's package says so at /)."""
    try:
        if "does not include a web" in httpx.get(base, timeout=2).text:
            return f"{base}/api/v2/alerts"
    except httpx.HTTPError:
        pass
    return f"{base}/#/alerts"


def _stop_on_signals() -> None:
    """SIGTERM (a process manager, CI) and SIGHUP (a closed terminal) stop the demo as Ctrl-C does: every
    process it started, and its working directory."""

    def interrupt(signum: int, _frame: object) -> None:
        raise KeyboardInterrupt(signal.Signals(signum).name)

    for signum in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, interrupt)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="make demo", description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=20.0, help="simulated LLM calls per second (default 20)")
    parser.add_argument("--keep", action="store_true", help="keep the working directory (configs, logs, data)")
    args = parser.parse_args(argv)

    _stop_on_signals()
    workdir = Path(tempfile.mkdtemp(prefix="llm-cost-tracker-demo-"))
    stack = LocalStack(workdir, DEPLOY / "budgets.yaml", [DEPLOY / "budgets.rules.yaml"], ports=Ports.usual())
    try:
        stack.start()
    except (StackError, KeyboardInterrupt) as exc:
        print(f"make demo: {exc or 'stopped'}", file=sys.stderr)
        stack.stop()
        shutil.rmtree(workdir, ignore_errors=True)
        return 1

    try:
        return _run(stack, workdir, args.rate, args.keep)
    except KeyboardInterrupt:
        return 0


def _run(stack: LocalStack, workdir: Path, rate: float, keep: bool) -> int:
    prometheus = _prometheus_ui(stack.prometheus_url)
    print(
        f"""
LLM Cost Tracker demo: configs from deploy/, working directory {workdir}

  Exporter      {stack.exporter_url}/metrics      (OTLP/HTTP in: {stack.otlp_url})
  Prometheus    {prometheus}/alerts
  Alertmanager  {_alertmanager_alerts(stack.alertmanager_url)}
  Spend         {_graph(prometheus, "sum by (project, model) (rate(llm_cost_usd_total[1m])) * 3600")}
  Budgets       {_graph(prometheus, "budget:llm_cost_usd:ratio")}
  Routing file  {stack.routing_file}   (llm-cost-tracker routing show --routing-file {stack.routing_file})

acme/checkout has a $0.50 monthly budget: within a minute it is exceeded, LLMBudgetExceeded fires,
and checkout's gpt-4o calls move to gpt-4o-mini ("swap" below). Ctrl-C (or SIGTERM) stops everything.
""",
        flush=True,
    )

    def watch_routing() -> None:
        store, last = RoutingStore(stack.routing_file), 0
        while stack.processes:
            try:
                document = store.read()
            except (OSError, RoutingFileError):  # the exporter logs the real error
                document = None
            if document is not None and document.generation != last:
                last = document.generation
                swaps = ", ".join(f"{o.budget}: {o.from_} -> {o.to}" for o in document.overrides) or "none"
                print(f"routing generation {last}: {swaps}", flush=True)
            time.sleep(0.5)

    threading.Thread(target=watch_routing, daemon=True).start()
    try:
        simulate.run(stack.otlp_url, rate=rate, routing_file=str(stack.routing_file), out=print)
    finally:
        print("stopping…", flush=True)
        stack.stop()
        if keep:
            print(f"kept {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
