"""A flood of made-up label sets cannot blind a budget: caps per dimension, reserved budget scopes."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from llm_cost_tracker.exporter.caps import OTHER, OVERFLOW, DimensionLimits, Reservations
from llm_cost_tracker.exporter.ledger import OVERFLOW_KEY, UsageLedger
from tests.conftest import LiveServer, sample_value
from tests.test_otlp_http import PROTOBUF

ONE = (1, 0, 0, 0, 0)


def ledger(max_series: int = 10_000, projects: int = 3, models: int = 2, *matches: dict[str, str]) -> UsageLedger:
    book = UsageLedger(max_series)
    book.reserve(Reservations.of(matches, "default"), DimensionLimits(projects, models))
    return book


def test_reservations_are_what_budgets_match_by_value() -> None:
    reserved = Reservations.of(
        [{"org": "acme", "project": "checkout"}, {"project": "search", "model": "gpt-4o"}, {"project": "=~tmp-.*"}],
        "default",
    )
    assert reserved.org("default")
    assert reserved.org("acme")
    assert not reserved.org("globex")
    assert reserved.project("acme", "checkout")
    assert not reserved.project("globex", "checkout")
    assert reserved.project("globex", "search")  # no org in the match: any org's
    assert not reserved.project("acme", "tmp-1")  # a regex reserves nothing
    assert reserved.model("acme", "search", "gpt-4o")
    assert not reserved.model("acme", "checkout", "gpt-4o")


def test_new_models_of_a_full_project_count_as_its_other_model() -> None:
    book = ledger(10_000, 3, 2)
    for model in ("a", "b", "c", "d"):
        book.add(("default", "p", "openai", model, "chat"), ONE, 10)
    assert book.series(("default", "p", "openai", "b", "chat")).tokens[0] == 1
    assert book.series(("default", "p", OTHER, OTHER, OTHER)).tokens[0] == 2
    assert book.dropped == {"llm_cost_usd_total": 2}


def test_new_projects_of_a_full_org_count_in_its_overflow_project() -> None:
    book = ledger(10_000, 3, 2)
    for project in ("p1", "p2", "p3", "p4", "p5"):
        book.add(("default", project, "openai", "m", "chat"), ONE, 10)
    assert book.series(("default", OVERFLOW, OVERFLOW, OVERFLOW, OVERFLOW)).tokens[0] == 2
    assert ("default", "p4", "openai", "m", "chat") not in book._series


def test_a_budgeted_project_gets_its_series_after_any_flood() -> None:
    book = ledger(50, 3, 2, {"project": "checkout"}, {"project": "search", "model": "gpt-4o"})
    for i in range(200):  # made-up projects, then made-up models of the budgeted projects
        book.add(("default", f"junk-{i}", "openai", "m", "chat"), ONE, 10)
    for i in range(200):
        book.add(("default", "checkout", "openai", f"junk-{i}", "chat"), ONE, 10)
    book.add(("default", "checkout", "openai", "gpt-4o", "chat"), ONE, 10)
    book.add(("default", "search", "openai", "junk", "chat"), ONE, 10)
    book.add(("default", "search", "openai", "gpt-4o", "chat"), ONE, 10)
    checkout = sum(s.tokens[0] for k, s in book._series.items() if k[1] == "checkout")
    assert checkout == 201  # every call of the project: its own two models and 'other'
    assert {k[3] for k in book._series if k[1] == "checkout"} == {"junk-0", "junk-1", OTHER}
    assert book.series(("default", "search", "openai", "gpt-4o", "chat")).tokens[0] == 1  # a budgeted model
    assert len(book._series) <= 50 + 3 * 2 + 2  # the reservations add little: each project is still capped


def test_past_the_series_cap_known_projects_keep_their_name() -> None:
    book = ledger(2, 100, 100)
    book.add(("default", "p", "openai", "a", "chat"), ONE, 10)
    book.add(("default", "q", "openai", "a", "chat"), ONE, 10)
    book.add(("default", "p", "openai", "b", "chat"), ONE, 10)  # full: p's other
    book.add(("default", "r", "openai", "a", "chat"), ONE, 10)  # full: the org's overflow
    book.add(("globex", "r", "openai", "a", "chat"), ONE, 10)  # a new org that nothing reserves: the overflow
    assert book.series(("default", "p", OTHER, OTHER, OTHER)).tokens[0] == 1
    assert book.series(("default", OVERFLOW, OVERFLOW, OVERFLOW, OVERFLOW)).tokens[0] == 1
    assert book.series(OVERFLOW_KEY).tokens[0] == 1


def test_unpriced_calls_fold_the_same_way_and_keep_their_reason() -> None:
    book = ledger(10_000, 3, 1)
    with book.lock:
        book.count_unpriced(("default", "p", "openai", "made-up-1", "unknown_model"))
        book.count_unpriced(("default", "p", "openai", "made-up-2", "unknown_model"))
    calls = book.snapshot().calls
    assert {row[1] for row in calls} == {
        ("default", "p", "openai", "made-up-1", "unknown_model"),
        ("default", "p", OTHER, OTHER, "unknown_model"),
    }


def spans(projects: list[str], models: list[str], first_id: int = 0) -> bytes:
    """One span per (project, model) pair, its project as ``service.name``; span ids from ``first_id + 1``."""
    request = ExportTraceServiceRequest()
    n = first_id
    for project in projects:
        resource_spans = request.resource_spans.add()
        kv = resource_spans.resource.attributes.add()
        kv.key, kv.value.string_value = "service.name", project
        scope = resource_spans.scope_spans.add()
        for model in models:
            n += 1
            span = scope.spans.add()
            span.span_id = n.to_bytes(8, "big")
            span.trace_id = n.to_bytes(16, "big")
            for key, value in (("gen_ai.request.model", model), ("gen_ai.provider.name", "openai")):
                kv = span.attributes.add()
                kv.key, kv.value.string_value = key, value
            kv = span.attributes.add()
            kv.key, kv.value.int_value = "gen_ai.usage.input_tokens", 1000
    return request.SerializeToString()


def test_a_junk_flood_cannot_blind_a_budget(
    start_server: Callable[..., LiveServer], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The attack of the hardening issue: fill the series cap with made-up projects, then a budgeted call."""
    budgets = tmp_path / "budgets.yaml"
    budgets.write_text(
        "version: llm-cost-tracker/v1\nbudgets:\n"
        "  - {name: checkout, match: {project: checkout}, amount_usd: 500, period: month}\n"
    )
    server = start_server(budgets_file=str(budgets))
    junk = [f"made-up-{i:05d}" for i in range(10_000)]
    with caplog.at_level("WARNING", logger="llm_cost_tracker.exporter.ledger"):
        for start in range(0, len(junk), 2000):
            assert (
                server.post("/v1/traces", spans(junk[start : start + 2000], ["gpt-4o"], start), PROTOBUF).status_code
                == 200
            )
        assert (
            server.post("/v1/traces", spans(["checkout"], ["gpt-4o", "gpt-4o-mini"], 20_000), PROTOBUF).status_code
            == 200
        )
        made_up_models = [f"gpt-made-up-{i}" for i in range(300)]
        assert server.post("/v1/traces", spans(["checkout"], made_up_models, 30_000), PROTOBUF).status_code == 200
    samples = server.samples()
    checkout = {
        labels["model"]
        for name, labels, _ in samples
        if name == "llm_requests_total" and labels["project"] == "checkout"
    }
    assert {"gpt-4o", "gpt-4o-mini", OTHER} <= checkout
    assert len(checkout) == 100 + 1  # the project's cap, then 'other'
    assert sample_value(samples, "llm_requests_total", project="checkout") == 302  # every call counted
    assert sample_value(samples, "llm_tokens_total", project="checkout", token_type="input") == 302_000
    projects = {labels["project"] for name, labels, _ in samples if name == "llm_requests_total"}
    assert len(projects) == 1000 + 1 + 1  # the org's project cap, its overflow, and the budgeted project
    assert sample_value(samples, "llm_requests_total", project=OVERFLOW) == 9000
    assert sample_value(samples, "llm_cost_tracker_series_dropped_total", metric="llm_cost_usd_total") == 9000 + 202
    lines = [r.getMessage() for r in caplog.records if "series cap" in r.getMessage()]
    assert len(lines) == 2, lines  # logged once per metric: the usage series and the unpriced calls
    assert "limits.max_projects_per_org" in lines[0]
    assert "limits.max_models_per_project" in lines[1]
    unpriced = [r for r in caplog.records if r.getMessage().startswith("unpriced model")]
    assert len(unpriced) == 10  # made-up models are named ten a minute at most
