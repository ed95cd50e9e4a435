"""Golden files: what the exporter renders for fixed inputs. Regenerate with `make golden`, review the diff."""

from __future__ import annotations

from pathlib import Path

from prometheus_client import CollectorRegistry

from llm_cost_tracker.config import load_config
from llm_cost_tracker.exporter.ingest import Ingestor
from llm_cost_tracker.exporter.ledger import UsageLedger
from llm_cost_tracker.exporter.selfmetrics import SelfMetrics
from llm_cost_tracker.pricing.resolver import PriceResolver

GOLDEN = Path(__file__).parent / "golden"
CORPUS = Path(__file__).parent / "corpus"
METRICS_CASES = {"traceloop.metrics": CORPUS / "traceloop" / "traces-0001.pb"}


def render_metrics(payload: Path) -> str:
    """The usage metrics after one traces payload, on the bundled default config."""
    config = load_config(None)
    ledger = UsageLedger(config.limits.max_series_per_metric)
    ingestor = Ingestor(config, ledger, SelfMetrics(CollectorRegistry()), PriceResolver())
    ingestor.traces(payload.read_bytes(), "protobuf")
    return ledger.render()


def main() -> None:
    for name, payload in METRICS_CASES.items():
        (GOLDEN / name).write_text(render_metrics(payload))
        print(f"wrote {GOLDEN / name}")


if __name__ == "__main__":
    main()
