"""Calls no price applies to: counted under the model that failed, with org and project, logged once, never hidden."""

from __future__ import annotations

import logging
from collections.abc import Callable

import pytest

from llm_cost_tracker.cli import main
from tests.conftest import LiveServer, sample_value, usage_by_model
from tests.test_otlp_http import JSON, genai_span_json

INGEST_LOGGER = "llm_cost_tracker.exporter.ingest"


def send(server: LiveServer, **attributes: object) -> None:
    body = genai_span_json(**{"gen_ai.provider.name": "openai", "gen_ai.usage.input_tokens": 1000, **attributes})
    assert server.post("/v1/traces", body, JSON).status_code == 200


def test_an_unknown_dated_version_is_priced_as_the_requested_model(server: LiveServer) -> None:
    send(
        server,
        **{"gen_ai.request.model": "gpt-4o", "gen_ai.response.model": "gpt-4o-2031-01-01", "gen_ai.response.id": "a"},
    )
    samples = server.samples()
    assert usage_by_model(samples)["gpt-4o"].cost == pytest.approx(1000 * 2.5e-6)
    assert sample_value(samples, "llm_unpriced_requests_total") == 0
    assert (
        sample_value(
            samples,
            "llm_price_fallback_requests_total",
            org="default",
            project="svc",
            provider="openai",
            model="gpt-4o-2031-01-01",
            priced_as="gpt-4o",
        )
        == 1
    )


def test_unpriced_calls_are_labelled_with_the_model_that_failed(
    server: LiveServer, capsys: pytest.CaptureFixture[str]
) -> None:
    # The gateway answered with a model of another family, which nobody prices: not priced as gpt-4o.
    send(server, **{"gen_ai.request.model": "gpt-4o", "gen_ai.response.model": "house-llama-70b"})
    samples = server.samples()
    assert usage_by_model(samples)["gpt-4o"].cost == 0
    unpriced = [(labels, value) for name, labels, value in samples if name == "llm_unpriced_requests_total"]
    assert unpriced == [
        (
            {
                "org": "default",
                "project": "svc",
                "provider": "openai",
                "model": "house-llama-70b",
                "reason": "not_in_catalog",
            },
            1.0,
        )
    ]
    # prices lookup agrees: the labelled model has no price (gpt-4o, the requested one, has).
    assert main(["prices", "lookup", "openai", "house-llama-70b"]) == 1
    assert "llm_unpriced_requests_total" in capsys.readouterr().err


def test_each_new_unpriced_model_is_logged_once(server: LiveServer, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger=INGEST_LOGGER)
    for index in range(3):
        send(
            server,
            **{"gen_ai.provider.name": "vllm", "gen_ai.request.model": "house-70b", "gen_ai.response.id": f"{index}"},
        )
    send(server, **{"gen_ai.provider.name": "vllm", "gen_ai.request.model": "house-8b"})
    lines = [r.getMessage() for r in caplog.records if r.name == INGEST_LOGGER]
    assert len(lines) == 2
    assert "provider=vllm model=house-70b" in lines[0]
    assert "provider=vllm model=house-8b" in lines[1]
    assert sample_value(server.samples(), "llm_unpriced_requests_total", model="house-70b") == 3


@pytest.mark.parametrize("policy", ["fallback", "prefer"])
def test_a_reported_cost_of_zero_does_not_hide_an_unpriced_model(
    start_server: Callable[..., LiveServer], policy: str
) -> None:
    server = start_server(pricing={"reported_cost": policy})
    send(server, **{"gen_ai.provider.name": "vllm", "gen_ai.request.model": "house-70b", "gen_ai.usage.cost": 0.0})
    # A priced model's reported $0 is no price either: the catalog prices it.
    send(server, **{"gen_ai.request.model": "gpt-4o-mini", "gen_ai.usage.cost": 0.0, "gen_ai.response.id": "b"})
    samples = server.samples()
    assert sample_value(samples, "llm_unpriced_requests_total", model="house-70b") == 1
    assert usage_by_model(samples)["gpt-4o-mini"].cost == pytest.approx(1000 * 0.15e-6)


def test_a_flood_of_made_up_models_does_not_flood_the_log(server: LiveServer, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger=INGEST_LOGGER)
    for index in range(30):
        send(
            server,
            **{
                "gen_ai.provider.name": "vllm",
                "gen_ai.request.model": f"junk-{index}",
                "gen_ai.response.id": f"r{index}",
            },
        )
    lines = [r.getMessage() for r in caplog.records if r.name == INGEST_LOGGER]
    assert len(lines) == 10  # a minute's worth; the next line says how many were left out
    assert sample_value(server.samples(), "llm_unpriced_requests_total") == 30
