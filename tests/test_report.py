"""``llm-cost-tracker report`` against a real Prometheus holding backfilled history (tests/test_reconcile.py's).

Expected figures are computed here from the calls themselves; the same definition of spend makes them
the budget rules' figures too (tests/test_exact.py proves the rules equal what the exporter priced).
"""

from __future__ import annotations

import contextlib
import json
import os
import ssl
import subprocess
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import bcrypt
import httpx
import pytest
import trustme

from demo.stack import free_port
from llm_cost_tracker import cli
from llm_cost_tracker.history import session_for
from llm_cost_tracker.inputfile import InputFileError
from tests.conftest import need_binary
from tests.history_world import BUDGET, BUDGET_USD, NOW, SERIES, World, _calls, backfilled

ROOT = Path(__file__).resolve().parent.parent
DECEMBER = (datetime(2025, 12, 1, tzinfo=UTC), datetime(2026, 1, 1, tzinfo=UTC))
EXAMPLE = ROOT / "examples" / "report.html"


def _report(world: World, capsys: pytest.CaptureFixture[str], *flags: str) -> tuple[int, str, str]:
    code = cli.main(["report", "--prometheus.url", world.prometheus.url, *flags], clock=lambda: NOW)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def _truth(start: datetime, end: datetime) -> dict[tuple[str, str, str], tuple[Decimal, int]]:
    """(org, project, model) → (USD, calls) of the calls in ``(start, end]``."""
    out: dict[tuple[str, str, str], tuple[Decimal, int]] = {}
    for seed, (_, project, _, model) in enumerate(SERIES):
        for call in _calls(seed):
            if start.timestamp() < call.at <= end.timestamp():
                usd, count = out.get(("acme", project, model), (Decimal(0), 0))
                out[("acme", project, model)] = (usd + call.usd, count + 1)
    return out


def _quiet_minute(around: datetime) -> datetime:
    """A whole minute near ``around`` with no call within 3 minutes: a boundary is as fine as the rule
    interval (docs/exactness.md), so the expected figures must not depend on which side a call falls."""
    calls = [c.at for seed in range(len(SERIES)) for c in _calls(seed)]
    moment = around
    while any(abs(at - moment.timestamp()) < 180 for at in calls):
        moment += timedelta(minutes=1)
    return moment


def test_a_month_by_org_project_model(world: World, capsys: pytest.CaptureFixture[str]) -> None:
    backfilled(world)
    code, out, err = _report(world, capsys, "--period", "2025-12", "--format", "json")
    assert code == 0, err
    result = json.loads(out)
    start, end = datetime(2025, 12, 1, tzinfo=UTC), datetime(2026, 1, 1, tzinfo=UTC)
    truth = _truth(start, end)
    assert (result["start"], result["end"], result["currency"]) == (
        "2025-12-01T00:00:00Z",
        "2026-01-01T00:00:00Z",
        "USD",
    )
    got = {(r["org"], r["project"], r["model"]): (r["cost_usd"], r["requests"]) for r in result["rows"]}
    assert set(got) == set(truth)
    for key, (usd, calls) in truth.items():
        assert got[key][0] == pytest.approx(float(usd), rel=1e-9), key
        assert got[key][1] == calls
    assert result["total_usd"] == pytest.approx(float(sum(u for u, _ in truth.values())), rel=1e-9)
    assert set(result["rows"][0]) == {"org", "project", "model", "cost_usd", "requests"}


def test_any_window_and_grouping(world: World, capsys: pytest.CaptureFixture[str]) -> None:
    backfilled(world)
    start = _quiet_minute(datetime(2025, 12, 30, 12, 0, tzinfo=UTC))
    end = _quiet_minute(datetime(2025, 12, 31, 6, 0, tzinfo=UTC))
    flags = ("--from", start.isoformat(), "--to", end.isoformat(), "--by", "project", "--format", "csv")
    code, out, err = _report(world, capsys, *flags)
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0] == "project,cost_usd,requests"
    got = {line.split(",")[0]: (float(line.split(",")[1]), float(line.split(",")[2])) for line in lines[1:]}
    truth: dict[str, tuple[Decimal, int]] = {}
    for (_, project, _), (usd, calls) in _truth(start, end).items():
        before = truth.get(project, (Decimal(0), 0))
        truth[project] = (before[0] + usd, before[1] + calls)
    assert set(got) == set(truth)
    for project, (usd, calls) in truth.items():
        assert got[project][0] == pytest.approx(float(usd), rel=1e-9)
        assert got[project][1] == calls


def test_table_has_a_total(world: World, capsys: pytest.CaptureFixture[str]) -> None:
    backfilled(world)
    code, out, _ = _report(world, capsys, "--period", "2025-12", "--by", "org")
    assert code == 0
    lines = out.splitlines()
    assert lines[0] == "LLM spend from 2025-12-01T00:00:00Z to 2026-01-01T00:00:00Z (USD)"
    assert lines[1].split() == ["org", "cost_usd", "requests"]
    assert lines[3].split()[0] == "acme"
    assert lines[-2].split()[0] == "total"
    assert lines[3].split()[1:] == lines[-2].split()[1:]  # one org: its row is the total
    searches = sum(n for (_, project, _), (_, n) in _truth(*DECEMBER).items() if project == "search")
    assert lines[-1] == f"saved by budget swaps: {searches * 0.001:,.2f} (what the swapped calls would have cost more)"


def test_html_report_is_one_self_contained_file(
    world: World, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    backfilled(world)
    budgets = tmp_path / "budgets.yaml"
    budgets.write_text(
        f"version: llm-cost-tracker/v1\nbudgets:\n  - {{name: {BUDGET}, amount_usd: {BUDGET_USD}, period: month}}\n"
    )
    code, out, err = _report(world, capsys, "--period", "2025-12", "--format", "html", "--budgets", str(budgets))
    assert code == 0, err
    assert out.startswith("<!doctype html>")
    assert "<svg" in out
    assert "<script" not in out
    assert "http" not in out.split("</style>")[0]  # nothing fetched: one self-contained file
    total = sum(u for u, _ in _truth(datetime(2025, 12, 1, tzinfo=UTC), datetime(2026, 1, 1, tzinfo=UTC)).values())
    assert f"${float(total):,.2f}" in out
    assert "acme / checkout" in out
    assert "openai / gpt-4o-2024-08-06" in out
    assert out.count('<rect class="bar"') == 31  # a bar per day of December
    # The budget's status as its rules recorded it at the period's end: spent the month's total, over $15.
    row = next(line for line in out.splitlines() if f"<td>{BUDGET}</td>" in line)
    assert f"{float(total):,.2f}" in row
    assert 'class="n over"' in row
    assert "<td>search-monthly</td><td>gpt-4o</td>" in out  # what the swaps saved, by budget and model asked for
    if os.environ.get("LLM_COST_TRACKER_UPDATE_EXAMPLES") == "1":
        EXAMPLE.write_text(out)
    assert EXAMPLE.read_text() == out, "examples/report.html is stale: LLM_COST_TRACKER_UPDATE_EXAMPLES=1 pytest"


def test_errors_are_clear(world: World, capsys: pytest.CaptureFixture[str]) -> None:
    code = cli.main(["report", "--prometheus.url", "http://127.0.0.1:9", "--period", "2025-12"], clock=lambda: NOW)
    assert code == 1
    assert "report: cannot reach Prometheus at http://127.0.0.1:9 (--prometheus.url)" in capsys.readouterr().err
    code, _, err = _report(world, capsys, "--by", "org,user")
    assert code == 2
    assert "--by 'org,user': a comma-separated list of distinct labels among org, project" in err


def test_a_prometheus_behind_tls_and_basic_auth(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Prometheus's own --web.config.file (TLS, basic_auth_users), reached with an --http.config.file."""
    binary = need_binary("prometheus")
    ca = trustme.CA()
    server = ca.issue_cert("127.0.0.1")
    ca.cert_pem.write_to_path(tmp_path / "ca.pem")
    server.cert_chain_pems[0].write_to_path(tmp_path / "cert.pem")
    server.private_key_pem.write_to_path(tmp_path / "key.pem")
    hashed = bcrypt.hashpw(b"s3cret", bcrypt.gensalt(rounds=4)).decode()
    (tmp_path / "web.yml").write_text(
        f"tls_server_config: {{cert_file: cert.pem, key_file: key.pem}}\nbasic_auth_users: {{finops: '{hashed}'}}\n"
    )
    (tmp_path / "prometheus.yml").write_text("global: {scrape_interval: 1m}\n")
    port = free_port()
    process = subprocess.Popen(
        [
            binary,
            f"--config.file={tmp_path / 'prometheus.yml'}",
            f"--storage.tsdb.path={tmp_path / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
            f"--web.config.file={tmp_path / 'web.yml'}",
        ],
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"https://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            with contextlib.suppress(httpx.HTTPError):
                trusted = ssl.create_default_context(cafile=str(tmp_path / "ca.pem"))
                ready = httpx.get(f"{url}/-/ready", verify=trusted, auth=("finops", "s3cret"))
                if ready.status_code == 200:
                    break
            time.sleep(0.2)
        (tmp_path / "password").write_text("s3cret\n")
        (tmp_path / "ca-only.yml").write_text("tls_config: {ca_file: ca.pem}\n")
        (tmp_path / "http.yml").write_text(
            "basic_auth: {username: finops, password_file: password}\ntls_config: {ca_file: ca.pem}\n"
        )

        def run(*flags: str) -> tuple[int, str]:
            code = cli.main(["report", "--prometheus.url", url, "--period", "2025-12", *flags], clock=lambda: NOW)
            captured = capsys.readouterr()
            return code, captured.out + captured.err

        code, text = run()
        assert code == 1
        assert f"TLS to Prometheus at {url} failed" in text
        code, text = run("--http.config.file", str(tmp_path / "ca-only.yml"))
        assert code == 1
        assert f"Prometheus at {url} refused the spend query (401): check the credentials in --http.config.file" in text
        code, text = run("--http.config.file", str(tmp_path / "http.yml"))
        assert code == 0, text
        assert "holds no LLM spend for this period" in text
    finally:
        process.terminate()
        process.wait(30)


def test_http_config_bearer_token_and_its_errors(tmp_path: Path) -> None:
    (tmp_path / "token").write_text("tok-123\n")
    (tmp_path / "bearer.yml").write_text("authorization: {type: Bearer, credentials_file: token}\n")
    assert session_for(tmp_path / "bearer.yml").headers["Authorization"] == "Bearer tok-123"
    (tmp_path / "bad.yml").write_text("basic_auth: {username: a, password: b}\nauthorization: {credentials: c}\n")
    with pytest.raises(InputFileError, match="at most one of basic_auth and authorization"):
        session_for(tmp_path / "bad.yml")
    (tmp_path / "typo.yml").write_text("tls_confg: {ca_file: ca.pem}\n")
    with pytest.raises(InputFileError, match="tls_confg"):
        session_for(tmp_path / "typo.yml")
