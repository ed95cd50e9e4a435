"""The configuration file: strict, versioned, every problem at once, with file, line, key path and value."""

from __future__ import annotations

from pathlib import Path

import pytest

from llm_cost_tracker.app import build_resolver
from llm_cost_tracker.config import Config, load_config
from llm_cost_tracker.inputfile import InputFileError, parse_model
from tests.conftest import run_cli


def test_bundled_default_works_on_a_laptop() -> None:
    config = load_config(None)
    assert config.otlp.listen_address == "127.0.0.1:4318"
    assert config.web.listen_address == "127.0.0.1:9464"
    assert config.otlp.max_body_bytes == 20 * 1024 * 1024
    assert config.routing_file == Path("routing.yaml")
    assert config.ingest.usage_from == "spans"


def test_every_problem_at_once() -> None:
    text = """\
version: llm-cost-tracker/v1
otlp:
  listen_address: localhost
  max_body_bytes: lots
labels:
  org: {from: [tenant.org], default: x}
limits:
  max_series_per_metric: 0
ingest:
  usage_from: both
  sources:
    - match: {}
      usage_from: metrics
pricing:
  reported_cost: sometimes
unknown_section: 1
"""
    with pytest.raises(InputFileError) as caught:
        parse_model(text, "config.yaml", Config)
    problems = caught.value.problems
    expected = [
        "config.yaml:3: otlp.listen_address: expected HOST:PORT",
        "config.yaml:4: otlp.max_body_bytes:",
        "config.yaml:6: labels.org.from[0]: expected resource:ATTRIBUTE or span:ATTRIBUTE",
        "config.yaml:8: limits.max_series_per_metric: Input should be greater than or equal to 1 (got 0)",
        "config.yaml:10: ingest.usage_from: Input should be 'spans' or 'metrics' (got 'both')",
        "config.yaml:12: ingest.sources[0].match:",
        "config.yaml:15: pricing.reported_cost: Input should be 'ignore', 'prefer' or 'fallback' (got 'sometimes')",
        "config.yaml:16: unknown_section: unknown key (got 1)",
    ]
    assert len(problems) == len(expected)
    for problem, start in zip(problems, expected, strict=True):
        assert problem.startswith(start), problem


def test_version_is_required_and_checked() -> None:
    with pytest.raises(InputFileError) as caught:
        parse_model("otlp: {}\n", "c.yaml", Config)
    assert caught.value.problems == ["c.yaml:1: version: required key is missing"]
    with pytest.raises(InputFileError) as caught:
        parse_model("version: v2\n", "c.yaml", Config)
    assert "'llm-cost-tracker/v1'" in caught.value.problems[0]


def test_yaml_errors_and_duplicate_keys() -> None:
    with pytest.raises(InputFileError) as caught:
        parse_model("version: llm-cost-tracker/v1\notlp: [\n", "c.yaml", Config)
    assert caught.value.problems[0].startswith("c.yaml:3:1: not valid YAML")
    with pytest.raises(InputFileError) as caught:
        parse_model("version: llm-cost-tracker/v1\nweb: {}\nweb: {}\n", "c.yaml", Config)
    assert "duplicate key 'web'" in caught.value.problems[0]


def test_overrides_file_is_relative_to_the_config(tmp_path: Path) -> None:
    (tmp_path / "config.yaml").write_text("version: llm-cost-tracker/v1\npricing: {overrides_file: prices.yaml}\n")
    config = load_config(tmp_path / "config.yaml")
    assert config.pricing.overrides_file == tmp_path / "prices.yaml"


def test_serve_with_a_bad_config_exits_non_zero_listing_problems(tmp_path: Path) -> None:
    config = tmp_path / "bad.yaml"
    config.write_text("version: llm-cost-tracker/v1\notlp: {listen_address: nowhere}\nweb: {bogus: 1}\n")
    result = run_cli("serve", "--config", str(config))
    assert result.returncode == 1
    assert f"{config}:2: otlp.listen_address: expected HOST:PORT" in result.stderr
    assert f"{config}:3: web.bogus: unknown key" in result.stderr


def test_the_examples_are_valid() -> None:
    examples = Path(__file__).parent.parent / "examples"
    config = load_config(examples / "config.yaml")
    assert config.pricing.overrides_file == examples / "prices.yaml"
    assert config.source_policy({"service.name": "billing-batch"}).usage_from == "metrics"
    assert config.source_policy({"service.name": "litellm-proxy"}).reported_cost == "prefer"
    assert config.source_policy({"service.name": "other"}).usage_from == "spans"
    resolver = build_resolver(config)
    assert resolver.resolve("vllm", "llama-3.1-70b-instruct", 20_000) is not None


def test_problems_come_in_file_order_with_a_suggestion_and_no_class_names() -> None:
    text = """\
version: llm-cost-tracker/v1
limts: {}
web:
  listen_adress: 127.0.0.1:9464
labels:
  org: acme
"""
    with pytest.raises(InputFileError) as caught:
        parse_model(text, "config.yaml", Config)
    assert caught.value.problems == [
        "config.yaml:2: limts: unknown key (did you mean limits?)",
        "config.yaml:4: web.listen_adress: unknown key (did you mean listen_address?) (got '127.0.0.1:9464')",
        "config.yaml:6: labels.org: expected a mapping (got 'acme')",
    ]
