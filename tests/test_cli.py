"""The command line, as a user runs it."""

from __future__ import annotations

import argparse
import shlex
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from llm_cost_tracker.cli import build_parser, main
from llm_cost_tracker.clock import utc_today
from tests.clock import TestClock
from tests.conftest import run_cli


def test_prices_lookup_prints_prices_and_source(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["prices", "lookup", "openai", "gpt-4o-2024-08-06", "--date", "2026-11-28"]) == 0
    out = capsys.readouterr().out
    assert "catalog entry openai/gpt-4o" in out
    assert "source:    genai-prices" in out
    assert "valid:     00:00-24:00 UTC on 2026-11-28" in out
    lines = {
        line.split()[0]: line.split()[1:]
        for line in out.splitlines()
        if line and line.split()[0] in ("input", "cache_read", "output")
    }
    assert lines["input"] == ["2.5", "2.5e-06"]
    assert lines["cache_read"] == ["1.25", "1.25e-06"]
    assert lines["output"] == ["10", "1e-05"]


def test_prices_lookup_shows_long_context_tiers(capsys: pytest.CaptureFixture[str], clock: TestClock) -> None:
    assert main(["prices", "lookup", "anthropic", "claude-sonnet-4-5"], clock=clock) == 0
    out = capsys.readouterr().out
    assert "above 200000 input tokens" in out
    assert f"UTC on {utc_today(clock)}" in out  # "now" is the clock's
    assert "cache_write_1h" in out.split("above 200000")[1]  # every tier shows every price


def test_prices_lookup_unknown_model_fails(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["prices", "lookup", "vllm", "my-model"]) == 1
    assert "llm_unpriced_requests_total" in capsys.readouterr().err


def test_prices_lookup_applies_the_configs_overrides(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "prices.yaml").write_text(
        "version: llm-cost-tracker/v1\nmodels:\n  - {provider: vllm, model: my-model,"
        " usd_per_million_tokens: {input: 0.1, output: 0.2}}\n"
    )
    (tmp_path / "config.yaml").write_text("version: llm-cost-tracker/v1\npricing: {overrides_file: prices.yaml}\n")
    assert main(["prices", "lookup", "vllm", "my-model", "--config", str(tmp_path / "config.yaml")]) == 0
    assert "source:    prices.yaml models[0]" in capsys.readouterr().out


def test_module_and_console_script_entry_points() -> None:
    result = run_cli("--help")
    assert result.returncode == 0
    for command in ("serve", "prices"):
        assert command in result.stdout
    serve_help = run_cli("serve", "--help").stdout
    for flag in ("--config", "--budgets", "--routing-file", "--otlp.listen-address", "--web.listen-address"):
        assert flag in serve_help


def test_bad_listen_address_flag() -> None:
    result = run_cli("serve", "--otlp.listen-address", "4318")
    assert result.returncode == 2
    assert "expected HOST:PORT" in result.stderr


def test_a_bare_command_prints_its_help(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([]) == 0
    assert "examples:" in capsys.readouterr().out
    assert main(["rules"]) == 0
    assert "generate" in capsys.readouterr().out


def _leaf_parsers(parser: argparse.ArgumentParser, path: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], Any]]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, child in action.choices.items():
                yield from _leaf_parsers(child, (*path, name))
            return
    yield path, parser


def test_every_commands_help_ends_with_examples_that_parse() -> None:
    """Each leaf command's --help ends with examples; each example is a command line this parser accepts."""
    parser = build_parser()
    leaves = list(_leaf_parsers(parser))
    # serve, prices lookup, tenants token, rules generate|check|schema|backtest, report, reconcile, routing show,
    # simulate
    assert len(leaves) == 11
    for path, leaf in leaves:
        epilog = leaf.epilog or ""
        assert epilog.startswith("examples:\n"), path
        for line in epilog.splitlines()[1:]:
            command = shlex.split(line.split(" # ")[0].split(" | ")[0], comments=True)
            assert command[0] == "llm-cost-tracker", line
            assert tuple(command[1 : 1 + len(path)]) == path, line
            parser.parse_args(command[1:])  # exits (a test failure) on a bad flag
