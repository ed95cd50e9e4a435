"""``llm-cost-tracker reconcile`` end to end: a real Prometheus with backfilled history, a loopback provider.

Four days of exporter counters (one call a few minutes apart, per project, at known prices) cross a
year's end; Prometheus gets them as blocks, and the spend rules evaluated over them with promtool, as a
user backfills. The stand-in provider bills a chosen amount per project and day. The expected rows are
computed here from the calls, independently of the code under test.
"""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest

from llm_cost_tracker import cli
from llm_cost_tracker.reconcile import default_window, month_window, parse_day
from tests.history_world import END, FIRST, NOW, UNINSTRUMENTED, World, backfilled


def _reconcile(world: World, capsys: pytest.CaptureFixture[str], *flags: str) -> tuple[int, str, str]:
    argv = ["reconcile", "--config", str(world.config), "--prometheus.url", world.prometheus.url, *flags]
    code = cli.main(argv, clock=lambda: NOW)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_without_the_spend_rules_it_says_to_load_them(world: World, capsys: pytest.CaptureFixture[str]) -> None:
    if (world.prometheus.workdir / "rule-blocks").exists():
        pytest.skip("the rules are already backfilled (this test runs first in file order)")
    code, out, err = _reconcile(world, capsys, "--from", FIRST.isoformat(), "--to", END.isoformat())
    assert code == 1
    assert "has llm_cost_usd_total but not series:llm_cost_usd:increase_exact: load the spend rules" in err
    assert out == ""


def test_billed_against_tracked_per_project_and_day(world: World, capsys: pytest.CaptureFixture[str]) -> None:
    backfilled(world)
    code, out, err = _reconcile(world, capsys, "--from", FIRST.isoformat(), "--to", END.isoformat(), "--format", "json")
    assert code == 0, err
    rows = json.loads(out)["rows"]
    expected = []
    for (provider, project, day), usd in sorted(world.truth.items()):
        if FIRST <= day < END:
            billed = usd + (UNINSTRUMENTED if project == "search" else 0)
            expected.append((provider, project, day.isoformat(), float(billed), float(usd), float(usd / billed)))
    expected.append(("openai", "proj_new", "2025-12-31", 2.0, 0.0, 0.0))
    expected.sort()
    got = [(r["provider"], r["project"], r["day"], r["billed_usd"], r["tracked_usd"], r["capture_ratio"]) for r in rows]
    assert [g[:4] for g in got] == [e[:4] for e in expected]  # billed: exactly what the provider said
    for g, e in zip(got, expected, strict=True):
        assert g[4] == pytest.approx(e[4], rel=1e-9, abs=1e-9), g  # tracked: what the exporter priced, to the cent
        assert g[5] == pytest.approx(e[5], abs=2e-6), g
    assert {r["day"] for r in rows} == {"2025-12-30", "2025-12-31", "2026-01-01"}  # [from, to), nothing around
    assert set(rows[0]) == {"provider", "project", "day", "billed_usd", "tracked_usd", "capture_ratio"}
    assert "openai: ids not in `projects`, reported under their own name: proj_new" in err
    # Every page was read (one day per page), after one 429 per endpoint.
    costs = [r for r in world.bill.requests if r.startswith("/v1/organization/costs")]
    assert sum("page=" in r for r in costs) >= 2


def test_by_model_compares_tokens_and_anthropic_dollars(world: World, capsys: pytest.CaptureFixture[str]) -> None:
    backfilled(world)
    code, out, err = _reconcile(world, capsys, "--period", "2025-12", "--by", "model", "--format", "json")
    assert code == 0, err
    rows = json.loads(out)["rows"]
    support = [r for r in rows if r["project"] == "support"]
    assert [r["day"] for r in support] == ["2025-12-29", "2025-12-30", "2025-12-31"]  # the month's days with data
    for row in support:
        day = date.fromisoformat(row["day"])
        counts = world.tokens[("anthropic", "support", day)]
        assert row["model"] == "claude-sonnet-4-5-20250929"
        assert row["billed_usd"] == float(world.truth[("anthropic", "support", day)])
        assert row["tracked_usd"] == pytest.approx(row["billed_usd"], rel=1e-9)
        billed_tokens = {"input": counts["input"], "cache_read": 0, "cache_write": 0, "output": counts["output"]}
        assert row["billed_tokens"] == billed_tokens
        assert row["tracked_tokens"] == billed_tokens
    # OpenAI's costs have no model dimension: a project's day is one "(all models)" row, its models' rows
    # compare tokens.
    checkout = [r for r in rows if r["project"] == "checkout"]
    totals = [r for r in checkout if r["model"] == "(all models)"]
    models = [r for r in checkout if r["model"] != "(all models)"]
    assert [r["day"] for r in totals] == [r["day"] for r in models] == ["2025-12-29", "2025-12-30", "2025-12-31"]
    for row in totals:
        assert row["capture_ratio"] == pytest.approx(1.0, abs=2e-6)
        assert row["billed_tokens"] is None
    for row in models:
        assert row["model"] == "gpt-4o-2024-08-06"
        assert row["billed_usd"] is None
        assert row["capture_ratio"] is None
        assert row["billed_tokens"]["output"] == row["tracked_tokens"]["output"] > 0


def test_table_and_csv(world: World, capsys: pytest.CaptureFixture[str]) -> None:
    backfilled(world)
    code, out, _ = _reconcile(world, capsys, "--from", "2025-12-31", "--to", "2026-01-01")
    assert code == 0
    lines = out.splitlines()
    assert lines[0].split() == ["provider", "project", "day", "billed", "tracked", "capture"]
    assert any(line.split()[:3] == ["openai", "search", "2025-12-31"] for line in lines)
    assert lines[-2].startswith("total")
    assert "2025-12-31 to 2025-12-31" in lines[-2]
    _, by_model, _ = _reconcile(world, capsys, "--from", "2025-12-31", "--to", "2026-01-01", "--by", "model")
    total = next(line for line in by_model.splitlines() if line.startswith("total"))
    assert total.split()[-3:] == lines[-2].split()[-3:]  # a model's share of a whole-day bill is not added again
    code, out, _ = _reconcile(world, capsys, "--from", "2025-12-31", "--to", "2026-01-01", "--format", "csv")
    assert out.splitlines()[0] == "provider,project,day,billed_usd,tracked_usd,capture_ratio"
    assert len(out.splitlines()) == 1 + 4  # checkout, search, support, proj_new


def test_prometheus_down_is_a_clear_error(world: World, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    argv = ["reconcile", "--config", str(world.config), "--prometheus.url", "http://127.0.0.1:9", "--period", "2025-12"]
    assert cli.main(argv, clock=lambda: NOW) == 1
    assert "reconcile: cannot reach Prometheus at http://127.0.0.1:9 (--prometheus.url)" in capsys.readouterr().err


def test_a_refused_admin_key_is_a_clear_error(world: World, capsys: pytest.CaptureFixture[str]) -> None:
    (world.config.parent / "wrong.key").write_text("sk-admin-wrong")
    config = world.config.parent / "wrong.yaml"
    config.write_text(world.config.read_text().replace("openai.key", "wrong.key"))
    argv = ["reconcile", "--config", str(config), "--prometheus.url", world.prometheus.url, "--period", "2025-12"]
    assert cli.main(argv, clock=lambda: NOW) == 1
    err = capsys.readouterr().err
    assert "openai: GET /v1/organization/costs answered 401: invalid_request_error: Incorrect API key" in err
    assert "sk-admin-wrong" not in err


@pytest.mark.parametrize(
    ("today", "window"),
    [
        (date(2026, 12, 3), (date(2026, 12, 1), date(2026, 12, 3))),
        (date(2027, 1, 1), (date(2026, 12, 1), date(2027, 1, 1))),  # on the 1st: the month before
        (date(2028, 3, 1), (date(2028, 2, 1), date(2028, 3, 1))),  # a leap February
    ],
)
def test_default_window_is_the_complete_days_of_this_month(today: date, window: tuple[date, date]) -> None:
    assert default_window(today) == window


def test_periods_and_days() -> None:
    assert month_window("2028-02") == (date(2028, 2, 1), date(2028, 3, 1))
    assert month_window("2026-12") == (date(2026, 12, 1), date(2027, 1, 1))
    assert parse_day("2026-11-03T00:00:00Z", "--from") == date(2026, 11, 3)
    with pytest.raises(ValueError, match="whole UTC days"):
        parse_day("2026-11-03T12:00:00Z", "--from")
    with pytest.raises(ValueError, match="expected YYYY-MM"):
        month_window("2026-13")
