"""Golden files: what we generate for fixed inputs (the /metrics text, rules, the examples' and the
demo's rules, the budget JSON Schema, the Grafana dashboards). Regenerate with `make golden` (or
`make examples`), review the diff."""

from __future__ import annotations

import functools
import importlib.util
import json
from pathlib import Path
from types import ModuleType

from prometheus_client import CollectorRegistry

from llm_cost_tracker.config import load_config
from llm_cost_tracker.exporter.ingest import Ingestor
from llm_cost_tracker.exporter.ledger import UsageLedger
from llm_cost_tracker.exporter.selfmetrics import SelfMetrics
from llm_cost_tracker.pricing.resolver import PriceResolver
from llm_cost_tracker.rules.generator import Resolution, generate
from llm_cost_tracker.rules.render import prometheus_operator_rule, prometheus_rules, vmalert_rules
from llm_cost_tracker.rules.spec import json_schema, load_budgets

GOLDEN = Path(__file__).parent / "golden"
CORPUS = Path(__file__).parent / "corpus"
METRICS_CASES = {"traceloop.metrics": CORPUS / "traceloop" / "traces-0001.pb"}
RULES_TESTDATA = Path(__file__).parent / "rules" / "testdata"
ROOT = Path(__file__).parent.parent
DEMO_RESOLUTION = Resolution.parse("5s")
"""deploy/budgets.rules.yaml: fine steps, so that the demo shows a swap within a minute."""


def render_metrics(payload: Path) -> str:
    """The usage metrics after one traces payload, on the bundled default config."""
    config = load_config(None)
    ledger = UsageLedger(config.limits.max_series_per_metric)
    ingestor = Ingestor(config, ledger, SelfMetrics(CollectorRegistry()), PriceResolver())
    ingestor.traces(payload.read_bytes(), "protobuf")
    return ledger.render()


def rules_cases() -> dict[Path, str]:
    """Generated file → its expected content: rules golden files, the examples and the JSON Schema."""
    cases: dict[Path, str] = {}
    for source in sorted(RULES_TESTDATA.glob("in-*.yaml")):
        groups = generate(load_budgets(source))
        out = source.with_name(source.name.replace("in-", "out-", 1))
        cases[out] = prometheus_rules(groups, source.name)
        cases[out.with_suffix(".operator.yaml")] = prometheus_operator_rule(groups, source.name)
        cases[out.with_suffix(".vmalert.yaml")] = vmalert_rules(groups, source.name)
    example = ROOT / "examples" / "budgets.yaml"
    cases[example.with_name("budgets.rules.yaml")] = prometheus_rules(generate(load_budgets(example)), example.name)
    demo = ROOT / "deploy" / "budgets.yaml"
    cases[demo.with_name("budgets.rules.yaml")] = prometheus_rules(
        generate(load_budgets(demo), DEMO_RESOLUTION), demo.name
    )
    cases[ROOT / "schemas" / "budgets.schema.json"] = json.dumps(json_schema(), indent=2) + "\n"
    return cases


@functools.cache
def dashboards_module() -> ModuleType:
    """grafana/generate.py, the dashboards as code (a script, not a package)."""
    spec = importlib.util.spec_from_file_location("grafana_dashboards", ROOT / "grafana" / "generate.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def dashboard_cases() -> dict[Path, str]:
    """grafana/dashboards/*.json, built by grafana/generate.py."""
    rendered: dict[Path, str] = dashboards_module().render()
    return rendered


def main() -> None:
    for name, payload in METRICS_CASES.items():
        (GOLDEN / name).write_text(render_metrics(payload))
        print(f"wrote {GOLDEN / name}")
    for path, text in {**rules_cases(), **dashboard_cases()}.items():
        path.write_text(text)
        print(f"wrote {path.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
