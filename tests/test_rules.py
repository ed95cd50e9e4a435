"""The rules generator: validation, golden files, and the rules run by the real promtool."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import jsonschema
import pytest
import yaml

from llm_cost_tracker.cli import main
from llm_cost_tracker.inputfile import InputFileError, parse_model
from llm_cost_tracker.rules.generator import RUNBOOK, Resolution, generate
from llm_cost_tracker.rules.render import HEADER, prometheus_rules, vmalert_rules
from llm_cost_tracker.rules.spec import BudgetFile, json_schema, load_budgets
from tests.conftest import need_binary
from tests.golden import ROOT, RULES_TESTDATA, rules_cases

UNIT = Path(__file__).parent / "rules"


def test_generated_files_are_up_to_date() -> None:
    for path, expected in rules_cases().items():
        assert path.read_text() == expected, f"{path.relative_to(ROOT)} is stale: run `make golden` and review"


def test_every_generated_rule_file_passes_promtool_check(tmp_path: Path) -> None:
    promtool = need_binary("promtool")
    files = []
    for path in rules_cases():
        if path.suffix != ".yaml":
            continue
        document = yaml.safe_load(path.read_text())
        if document.get("kind") == "PrometheusRule":
            plain = tmp_path / path.name
            plain.write_text(yaml.safe_dump({"groups": document["spec"]["groups"]}))
            path = plain
        files.append(str(path))
    result = subprocess.run([promtool, "check", "rules", *files], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize(
    ("suite", "resolution"),
    [
        # Without a query offset, so that the hand-written series line up with the evaluations.
        ("unit-month", Resolution(interval_seconds=3600, offset_seconds=0)),  # a month of evaluations in seconds
        ("unit-exact", Resolution(offset_seconds=0)),
        ("unit-hours", Resolution(offset_seconds=0)),
        ("unit-interval", Resolution.parse("10s", "0s")),
        ("unit-unpriced", Resolution(offset_seconds=0)),  # no budget file: the alerts every rule file carries
        ("unit-overflow", Resolution(offset_seconds=0)),
        ("unit-offset", Resolution.parse("1m", "30s")),  # a month's end, read 30 s late
        ("unit-capture", Resolution(offset_seconds=0)),  # tracked against billed, per provider, project and day
    ],
)
def test_promtool_unit_tests(tmp_path: Path, suite: str, resolution: Resolution) -> None:
    """Month boundaries, exactness (new series, restarts, replicas, new instances, gaps), thresholds, forecasts,
    rolling windows, burn rates, --interval, unpriced models."""
    promtool = need_binary("promtool")
    budgets_file = UNIT / f"{suite}.budgets.yaml"
    budgets = load_budgets(budgets_file) if budgets_file.exists() else None
    rules = prometheus_rules(generate(budgets, resolution), budgets_file.name)
    (tmp_path / "rules.yaml").write_text(rules)
    shutil.copy(UNIT / f"{suite}.test.yaml", tmp_path)
    result = subprocess.run(
        [promtool, "test", "rules", f"{suite}.test.yaml"], cwd=tmp_path, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_vmalert_rules_keep_firing_as_keep_firing_for_does(tmp_path: Path) -> None:
    """The vmalert file has no ``keep_firing_for`` (vmalert 1.79 refuses it), and its alerts still keep firing:
    the month suite (an exceeded budget firing 2h into the next month) passes on it in promtool."""
    promtool = need_binary("promtool")
    budgets = load_budgets(UNIT / "unit-month.budgets.yaml")
    rules = vmalert_rules(generate(budgets, Resolution(interval_seconds=3600, offset_seconds=0)), "unit-month")
    assert all("keep_firing_for" not in rule for g in yaml.safe_load(rules)["groups"] for rule in g["rules"])
    (tmp_path / "rules.yaml").write_text(rules)
    # One difference: Prometheus keeps a kept alert's annotations as they last were; vmalert renders them
    # at each evaluation, so the description of the alert kept into February names February's spend.
    kept = "eval_time: 745h  # a new month, but the alert keeps firing for keep_firing_for (2h), as it last was"
    suite = (UNIT / "unit-month.test.yaml").read_text()
    before, after = suite.split(kept)
    after = after.replace("has spent $4464.00", "has spent $6.00", 1)
    (tmp_path / "unit-month.test.yaml").write_text(before + kept + after)
    result = subprocess.run(
        [promtool, "test", "rules", "unit-month.test.yaml"], cwd=tmp_path, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_vmalert_accepts_the_vmalert_rules(tmp_path: Path) -> None:
    vmalert = need_binary("vmalert", hint="Debian: apt-get install victoria-metrics")
    for out in sorted(RULES_TESTDATA.glob("out-*.vmalert.yaml")):
        result = subprocess.run([vmalert, "-dryRun", f"-rule={out}"], capture_output=True, text=True, check=False)
        assert result.returncode == 0, result.stdout + result.stderr
        assert "error" not in (result.stdout + result.stderr).lower()


def test_output_starts_with_the_generated_header() -> None:
    text = prometheus_rules(generate(load_budgets(RULES_TESTDATA / "in-design.yaml")), "in-design.yaml")
    assert text.startswith("# Code generated by llm-cost-tracker ")
    assert text.startswith(HEADER)
    assert text.splitlines()[0].endswith(". DO NOT EDIT.")


def test_every_series_and_alert_carries_the_budget_and_its_match_labels() -> None:
    budgets = load_budgets(ROOT / "examples" / "budgets.yaml")
    (group,) = generate(budgets)
    names = {b.name for b in budgets.budgets}
    for rule in group.rules:
        record = rule.to_dict().get("record", "")
        if isinstance(record, str) and record.startswith(("series:", "provider:")):
            assert not rule.labels  # the spend of each series (and provider), shared by every budget
        elif rule.to_dict().get("alert") in (
            "LLMUnpricedModel",
            "LLMCostTrackerSeriesOverflow",
            "LLMProviderBillNotCaptured",
            "LLMProviderBillUnread",
        ):
            assert "budget" not in rule.labels  # about calls or the exporter, whatever budget they fall under
        else:
            assert rule.labels["budget"] in names
    exceeded = next(
        r.to_dict()
        for r in group.rules
        if r.to_dict().get("alert") == "LLMBudgetExceeded" and r.labels["budget"] == "checkout-monthly"
    )
    assert exceeded["labels"] == {
        "budget": "checkout-monthly",
        "org": "acme",
        "project": "checkout",
        "team": "payments",
        "severity": "critical",
    }
    assert exceeded["keep_firing_for"] == "10m"


def test_replicas_drop_out_of_the_aggregation() -> None:
    (group,) = generate(load_budgets(RULES_TESTDATA / "in-design.yaml"))
    rules = {str(r.to_dict().get("record")): str(r.to_dict()["expr"]) for r in group.rules}
    assert rules["series:llm_cost_usd:increase_exact"].startswith(
        "sum by (org, project, provider, model, operation) (\n"
    )
    assert rules["budget:llm_cost_usd:increase_exact"].startswith(
        'sum by (org, project) (series:llm_cost_usd:increase_exact{org="acme",project="checkout"})'
    )


def test_without_a_budget_file_only_the_spend_rules(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["rules", "generate"]) == 0
    (group,) = yaml.safe_load(capsys.readouterr().out)["groups"]
    assert [r.get("record") or r["alert"] for r in group["rules"]] == [
        "series:llm_cost_usd:increase_exact",
        "series:llm_tokens:increase_exact",
        "series:llm_requests:increase_exact",
        "series:llm_cost_avoided_usd:increase_exact",
        "LLMUnpricedModel",
        "LLMCostTrackerSeriesOverflow",
        # tracked against billed (inert until serve polls a bill: docs/reconcile.md)
        "provider:llm_cost_usd:previous_day",
        "provider:llm_cost_usd:previous_day_start",
        "provider:llm_cost_usd:day",
        "provider:llm_cost_usd:day_start",
        "provider:llm_cost_usd:capture_ratio",
        "LLMProviderBillNotCaptured",
        "LLMProviderBillUnread",
    ]


BAD = """\
version: llm-cost-tracker/v1
budgets:
  - name: a
    match: {org: acme, team: payments}
    amount_usd: 0
    period: quarter
  - name: a
    amount_usd: 10
    period: month
    alerts: {thresholds: [1.5]}
    on_exceeded:
      swap: [{from: gpt-4o, to: gpt-4o}]
  - name: bad name!
    amount_usd: 10
    period: 2d
    alerts: {forecast: true}
"""


def test_every_problem_at_once_with_file_line_path_and_value() -> None:
    with pytest.raises(InputFileError) as caught:
        parse_model(BAD, "budgets.yaml", BudgetFile, context={})
    problems = caught.value.problems
    expected = [
        "budgets.yaml:3: budgets[0].name: another budget has this name",
        "budgets.yaml:4: budgets[0].match: cannot match on team",
        "budgets.yaml:5: budgets[0].amount_usd: Input should be greater than 0 (got 0)",
        "budgets.yaml:6: budgets[0].period: expected day, week or month",
        "budgets.yaml:7: budgets[1].name: another budget has this name",
        "budgets.yaml:10: budgets[1].alerts.thresholds[0]: Input should be less than or equal to 1 (got 1.5)",
        "budgets.yaml:12: budgets[1].on_exceeded.swap[0]: swap to 'gpt-4o' would match its own 'from'",
        "budgets.yaml:13: budgets[2].name: String should match pattern",
    ]
    assert len(problems) == len(expected), problems
    for problem, start in zip(problems, expected, strict=True):
        assert problem.startswith(start), problem


def test_forecast_needs_a_calendar_period() -> None:
    text = (
        "version: llm-cost-tracker/v1\nbudgets:\n  - {name: x, amount_usd: 1, period: 7d, alerts: {forecast: true}}\n"
    )
    with pytest.raises(InputFileError, match="calendar periods"):
        parse_model(text, "b.yaml", BudgetFile, context={})


def test_a_budget_file_without_budgets_is_an_error() -> None:
    with pytest.raises(InputFileError, match="at least 1 item"):
        parse_model("version: llm-cost-tracker/v1\nbudgets: []\n", "b.yaml", BudgetFile, context={})


def test_json_schema_validates_the_examples_and_refuses_a_typo() -> None:
    schema = json.loads((ROOT / "schemas" / "budgets.schema.json").read_text())
    assert schema == json_schema()
    validator = jsonschema.Draft202012Validator(schema)
    for path in [ROOT / "examples" / "budgets.yaml", *RULES_TESTDATA.glob("in-*.yaml")]:
        validator.validate(yaml.safe_load(path.read_text()))
    typo = yaml.safe_load((ROOT / "examples" / "budgets.yaml").read_text())
    typo["budgets"][0]["ammount_usd"] = 5
    assert list(validator.iter_errors(typo))
    assert (
        "yaml-language-server: $schema=../schemas/budgets.schema.json"
        in (ROOT / "examples" / "budgets.yaml").read_text()
    )


def test_cli_generates_the_vmalert_file_alone_and_split_by_org(tmp_path: Path) -> None:
    design = RULES_TESTDATA / "in-design.yaml"
    out = tmp_path / "rules.yaml"
    assert main(["rules", "generate", "--budgets", str(design), "--format", "vmalert", "-o", str(out)]) == 0
    assert out.read_text() == (RULES_TESTDATA / "out-design.vmalert.yaml").read_text()
    split = ["rules", "generate", "--budgets", str(design), "--format", "vmalert", "--split-by", "org"]
    assert main([*split, "-o", str(tmp_path / "orgs")]) == 0
    files = sorted((tmp_path / "orgs").glob("*.rules.yaml"))
    assert files
    for path in files:
        text = path.read_text()
        assert "keep_firing_for" not in text
        assert "# For vmalert (VictoriaMetrics)" in text


def test_cli_generate_check_and_route(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "rules.yaml"
    assert main(["rules", "generate", "--budgets", str(ROOT / "examples" / "budgets.yaml"), "-o", str(out)]) == 0
    assert out.read_text() == (ROOT / "examples" / "budgets.rules.yaml").read_text()
    assert (
        main(
            [
                "rules",
                "generate",
                "--budgets",
                str(RULES_TESTDATA / "in-design.yaml"),
                "--format",
                "prometheus-operator",
            ]
        )
        == 0
    )
    operator = yaml.safe_load(capsys.readouterr().out)
    assert operator["kind"] == "PrometheusRule"
    assert operator["spec"]["groups"][0]["name"] == "llm-cost-tracker"

    assert (
        main(
            ["rules", "generate", "--alertmanager-route", "--webhook-url", "http://exporter:9464/alertmanager/webhook"]
        )
        == 0
    )
    route = yaml.safe_load(capsys.readouterr().out)
    assert route["route"]["routes"][0]["matchers"] == ['alertname=~"LLMBudget.*"']
    assert route["receivers"][0]["webhook_configs"][0] == {
        "url": "http://exporter:9464/alertmanager/webhook",
        "send_resolved": True,
    }

    assert main(["rules", "check", "--budgets", str(ROOT / "examples" / "budgets.yaml")]) == 0
    assert "valid" in capsys.readouterr().out
    bad = tmp_path / "bad.yaml"
    bad.write_text(BAD)
    assert main(["rules", "check", "--budgets", str(bad)]) == 1
    assert f"{bad}:4: budgets[0].match" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--interval", "7s"], "--interval: must divide 5 minutes evenly, e.g. 5s, 10s, 30s or 1m (got '7s')"),
        (["--interval", "5 minutes"], "--interval: expected a duration in seconds or minutes"),
        (["--interval", "10m"], "--interval: must divide 5 minutes evenly"),
    ],
)
def test_cli_refuses_a_bad_interval(flags: list[str], message: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["rules", "generate", "--budgets", str(ROOT / "examples" / "budgets.yaml"), *flags]) == 1
    captured = capsys.readouterr()
    assert message in captured.err
    assert captured.out == ""


def test_shipped_alertmanager_config_routes_budget_alerts_to_the_webhook() -> None:
    amtool = need_binary("amtool")
    config = ROOT / "deploy" / "alertmanager.yml"
    result = subprocess.run([amtool, "check-config", str(config)], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    routed = subprocess.run(
        [amtool, "config", "routes", "test", "--config.file", str(config), "alertname=LLMBudgetExceeded", "budget=x"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert routed.stdout.split() == ["llm-cost-tracker"], routed.stdout + routed.stderr


ANOMALY_BUDGETS = """\
version: llm-cost-tracker/v1
budgets:
  - name: checkout
    match: {project: checkout}
    amount_usd: 5000
    period: month
    alerts: {anomaly: true}
"""


def _weekly_cycle(spike_day: int, spike_hours: tuple[int, int]) -> str:
    """Ten days of a counter scraped every 5 minutes from Thursday 1970-01-01: $12 an hour from 08:00 to 20:00 on
    weekdays, $6 on weekends, $3 at night; five times the weekday rate in ``spike_hours`` of ``spike_day``."""
    values, total = [], 0.0
    for step in range(10 * 288 + 1):
        values.append(f"{total:g}")
        day, hour = divmod(step * 5 // 60, 24)
        weekend = day % 7 in (2, 3)  # day 0 is a Thursday
        rate = (0.5 if weekend else 1.0) if 8 <= hour < 20 else 0.25
        if day == spike_day and spike_hours[0] <= hour < spike_hours[1]:
            rate = 5.0
        total += rate
    return " ".join(values)


def test_the_anomaly_alert_fires_on_a_5x_spike_and_not_over_a_normal_week(tmp_path: Path) -> None:
    """LLMBudgetSpendAnomaly, by the real promtool: quiet through weekdays, nights and a weekend; firing 15
    minutes into an hour at five times the usual rate (on day 8, a Friday, 14:00 to 15:00)."""
    promtool = need_binary("promtool")
    budgets = tmp_path / "budgets.yaml"
    budgets.write_text(ANOMALY_BUDGETS)
    (tmp_path / "rules.yaml").write_text(
        prometheus_rules(generate(load_budgets(budgets), Resolution(interval_seconds=300, offset_seconds=0)), "x")
    )
    series = 'llm_cost_usd_total{org="acme",project="checkout",provider="openai",model="gpt-4o",operation="chat"}'
    quiet = [(day * 1440 + minute) for day, minute in ((4, 540), (4, 720), (7, 1230), (8, 835), (8, 990), (9, 840))]
    description = (
        "checkout (project=checkout) spent $60.00 in the last hour, over 3 times the median of the same hour on "
        "the previous 7 days."
    )
    test = {
        "rule_files": ["rules.yaml"],
        "evaluation_interval": "5m",
        "tests": [
            {
                "interval": "5m",
                "input_series": [{"series": series, "values": _weekly_cycle(8, (14, 15))}],
                "alert_rule_test": [
                    *({"eval_time": f"{m}m", "alertname": "LLMBudgetSpendAnomaly", "exp_alerts": []} for m in quiet),
                    {
                        "eval_time": f"{8 * 1440 + 900}m",
                        "alertname": "LLMBudgetSpendAnomaly",
                        "exp_alerts": [
                            {
                                "exp_labels": {"budget": "checkout", "project": "checkout", "severity": "warning"},
                                "exp_annotations": {
                                    "summary": "LLM budget checkout spent far more in the last hour than usual",
                                    "description": description,
                                    "runbook_url": f"{RUNBOOK}#llmbudgetspendanomaly",
                                },
                            }
                        ],
                    },
                ],
                "promql_expr_test": [
                    {  # a Friday afternoon's usual hour: the median of Thursday to the Friday before, weekend included
                        "expr": 'budget:llm_cost_usd:hourly_baseline{budget="checkout"}',
                        "eval_time": f"{8 * 1440 + 840}m",
                        "exp_samples": [
                            {
                                "labels": 'budget:llm_cost_usd:hourly_baseline{budget="checkout",project="checkout"}',
                                "value": 12,
                            }
                        ],
                    }
                ],
            }
        ],
    }
    (tmp_path / "anomaly.test.yaml").write_text(yaml.safe_dump(test))
    result = subprocess.run(
        [promtool, "test", "rules", "anomaly.test.yaml"], cwd=tmp_path, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
