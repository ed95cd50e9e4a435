"""The counters and their exposition: golden text, escaping, the series cap, exact sums, promtool."""

from __future__ import annotations

import subprocess

from prometheus_client.parser import text_string_to_metric_families

from llm_cost_tracker.exporter.ledger import OVERFLOW_KEY, UsageLedger, format_value
from tests.conftest import CORPUS, LiveServer, need_binary
from tests.golden import GOLDEN, METRICS_CASES, render_metrics
from tests.test_otlp_http import PROTOBUF


def test_golden_metrics_for_the_traceloop_folder() -> None:
    for name, payload in METRICS_CASES.items():
        assert render_metrics(payload) == (GOLDEN / name).read_text(), f"run `make golden` and review {name}"


def test_label_values_are_escaped() -> None:
    ledger = UsageLedger()
    ledger.add(("a\\b", 'quo"te', "new\nline", "m", "chat"), (1, 0, 0, 0, 0), 0)
    text = ledger.render()
    assert 'org="a\\\\b",project="quo\\"te",provider="new\\nline"' in text
    family = next(f for f in text_string_to_metric_families(text) if f.name == "llm_tokens")
    labels = family.samples[0].labels
    assert (labels["org"], labels["project"], labels["provider"]) == ("a\\b", 'quo"te', "new\nline")


def test_costs_sum_exactly() -> None:
    ledger = UsageLedger()
    for _ in range(1_000_000 // 1000):
        ledger.add(("o", "p", "openai", "m", "chat"), (0, 0, 0, 0, 0), 340_000_000 * 1000)  # 1000 x $0.00000034
    # One million embedding calls at $0.00000034 each: $0.34 exactly, no float drift.
    assert "} 0.34\n" in ledger.render()


def test_series_cap_folds_into_overflow() -> None:
    ledger = UsageLedger(max_series=2)
    for model in ("a", "b", "c", "d"):
        ledger.add(("o", "p", "x", model, "chat"), (1, 0, 0, 0, 0), 10, 1)
    assert ledger.dropped == {"llm_cost_usd_total": 2}
    assert ledger.series(OVERFLOW_KEY).tokens[0] == 2


def test_value_format() -> None:
    assert [format_value(v) for v in (0.0, 3.0, 0.003645, 1.35e-05, float("inf"), float("nan"))] == [
        "0",
        "3",
        "0.003645",
        "1.35e-05",
        "+Inf",
        "NaN",
    ]


def test_promtool_accepts_the_whole_exposition(server: LiveServer) -> None:
    promtool = need_binary("promtool")
    server.post("/v1/traces", (CORPUS / "traceloop" / "traces-0001.pb").read_bytes(), PROTOBUF)
    result = subprocess.run(
        [promtool, "check", "metrics"], input=server.metrics_text(), capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout == ""  # no lint warnings either
