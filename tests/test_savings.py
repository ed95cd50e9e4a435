"""Proven savings: a call a budget swap sent to a cheaper model is marked by the integration that swapped it,
and the exporter counts what it would have cost more on the model asked for (``llm_cost_avoided_usd_total``).

Real LangChain (``RoutedChatModel`` over ``ChatOpenAI``), real LiteLLM (the patched ``litellm.completion``) and
the real OpenLLMetry instrumentation of the openai SDK export through the OpenTelemetry SDK to a live
exporter; only the provider's HTTP API is the loopback stand-in. The expected saving is read from the
exporter's own ``llm_cost_usd_total`` of an unswapped and a swapped call of the same tokens.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")  # no download of LiteLLM's price map

import litellm
import openai
from langchain_openai import ChatOpenAI
from litellm.integrations.opentelemetry import OpenTelemetry
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.instrumentation.openai import OpenAIInstrumentor
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor

from llm_cost_tracker.integrations import litellm as routed_litellm
from llm_cost_tracker.integrations.langchain import RoutedChatModel
from llm_cost_tracker.routing import ModelRouter, marks
from llm_cost_tracker.routing.document import Override
from llm_cost_tracker.routing.store import RoutingStore
from tests.conftest import LiveServer, sample_value, wait_until
from tests.fake_provider import FakeProvider

MESSAGES = [{"role": "user", "content": "Where is my order?"}]


@pytest.fixture
def traced(start_server: Callable[..., LiveServer]) -> Iterator[tuple[LiveServer, TracerProvider]]:
    """A live exporter, and an app's tracer provider exporting to it with the openai SDK instrumented."""
    server = start_server(real_clock=True)
    tracing = TracerProvider(resource=Resource.create({"service.name": "checkout"}))
    tracing.add_span_processor(SimpleSpanProcessor(OTLPSpanExporter(endpoint=f"{server.otlp_url}/v1/traces")))
    assert marks.install(tracing)  # an app with its own provider (the global one is found by itself)
    instrumentor = OpenAIInstrumentor()
    instrumentor.instrument(tracer_provider=tracing)
    try:
        yield server, tracing
    finally:
        instrumentor.uninstrument()
        tracing.shutdown()


def _swap(store: RoutingStore) -> None:
    override = Override(from_="gpt-4o", to="gpt-4o-mini", scope={"project": "checkout"}, budget="checkout-monthly")
    store.update(lambda d: d.with_overrides((override,), d.resolved))
    time.sleep(0.01)


def _costs(server: LiveServer) -> tuple[float, float, float]:
    """(cost on gpt-4o, cost on gpt-4o-mini, avoided by the swaps) of project checkout."""
    samples = server.samples()
    return (
        sample_value(samples, "llm_cost_usd_total", project="checkout", model="gpt-4o"),
        sample_value(samples, "llm_cost_usd_total", project="checkout", model="gpt-4o-mini"),
        sample_value(
            samples,
            "llm_cost_avoided_usd_total",
            project="checkout",
            model="gpt-4o",
            routed_to="gpt-4o-mini",
            budget="checkout-monthly",
        ),
    )


def _calls(server: LiveServer, n: int) -> None:
    def counted() -> bool:
        samples = server.samples()
        return sample_value(samples, "llm_requests_total", project="checkout") >= n

    wait_until(counted, timeout=15)


def test_langchain_swaps_are_counted_as_savings(
    traced: tuple[LiveServer, TracerProvider], provider: FakeProvider, tmp_path: Path
) -> None:
    server, _ = traced
    store = RoutingStore(tmp_path / "routing.yaml")
    llm = RoutedChatModel(
        router=ModelRouter(store.path, scope={"project": "checkout"}),
        model="gpt-4o",
        factory=lambda model: ChatOpenAI(model=model, base_url=provider.url, api_key="sk-test", max_retries=0),
    )
    llm.invoke("Where is my order?")  # not swapped
    _calls(server, 1)
    assert _costs(server)[2] == 0
    _swap(store)
    llm.invoke("Where is my order?")
    for _ in llm.stream("And now?"):
        pass
    _calls(server, 3)
    assert provider.models == ["gpt-4o", "gpt-4o-mini", "gpt-4o-mini"]
    on_4o, on_mini, avoided = _costs(server)
    assert on_4o > on_mini / 2 > 0  # one call on each side: gpt-4o's is the dearer
    assert avoided == pytest.approx(2 * on_4o - on_mini, rel=1e-9)  # both swapped calls, same tokens


def test_litellm_swaps_are_counted_as_savings(
    traced: tuple[LiveServer, TracerProvider], provider: FakeProvider, tmp_path: Path
) -> None:
    """LiteLLM's own OpenTelemetry callback writes the span (``litellm.callbacks = ["otel"]`` in an app), on the
    app's tracer provider: it starts during the call, so it carries the marks."""
    server, tracing = traced
    otel = OpenTelemetry(tracer_provider=tracing)
    litellm.callbacks = [otel]
    store = RoutingStore(tmp_path / "routing.yaml")
    router = ModelRouter(store.path, scope={"project": "checkout"})
    kwargs = {"messages": MESSAGES, "api_base": provider.url, "api_key": "sk-test", "custom_llm_provider": "openai"}
    try:
        routed_litellm.completion(router, model="gpt-4o", **kwargs)
        _calls(server, 1)
        _swap(store)
        routed_litellm.completion(router, model="gpt-4o", **kwargs)
        _calls(server, 2)
    finally:
        litellm.callbacks = []
    assert provider.models == ["gpt-4o", "gpt-4o-mini"]
    on_4o, on_mini, avoided = _costs(server)
    assert avoided == pytest.approx(on_4o - on_mini, rel=1e-9)
    assert avoided > 0


def test_plain_openai_sdk_with_router_call(
    traced: tuple[LiveServer, TracerProvider], provider: FakeProvider, tmp_path: Path
) -> None:
    server, _ = traced
    store = RoutingStore(tmp_path / "routing.yaml")
    router = ModelRouter(store.path, scope={"project": "checkout"})
    client = openai.OpenAI(base_url=provider.url, api_key="sk-test", max_retries=0)
    with router.call("gpt-4o") as model:
        client.chat.completions.create(model=model, messages=MESSAGES)  # type: ignore[arg-type]
    _swap(store)
    with router.call("gpt-4o") as model:
        assert model == "gpt-4o-mini"
        client.chat.completions.create(model=model, messages=MESSAGES)  # type: ignore[arg-type]
    client.chat.completions.create(model=router.resolve("gpt-4o"), messages=MESSAGES)  # type: ignore[arg-type]
    _calls(server, 3)
    on_4o, on_mini, avoided = _costs(server)
    assert avoided == pytest.approx(on_4o - on_mini / 2, rel=1e-9)  # only the call made in router.call()


def test_a_mark_naming_the_called_model_or_an_unpriced_one_saves_nothing(
    server: LiveServer,
) -> None:
    def span(model: str, routed_from: object) -> bytes:
        import json

        attributes = [
            {"key": "gen_ai.system", "value": {"stringValue": "openai"}},
            {"key": "gen_ai.request.model", "value": {"stringValue": model}},
            {"key": "gen_ai.usage.input_tokens", "value": {"intValue": "1000"}},
            {"key": "gen_ai.usage.output_tokens", "value": {"intValue": "100"}},
            {"key": "llm_cost_tracker.routed_from", "value": routed_from},
            {"key": "llm_cost_tracker.budget", "value": {"stringValue": "b"}},
        ]
        body = {
            "resourceSpans": [
                {
                    "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "checkout"}}]},
                    "scopeSpans": [
                        {
                            "spans": [
                                {
                                    "traceId": os.urandom(16).hex(),
                                    "spanId": os.urandom(8).hex(),
                                    "name": "chat",
                                    "kind": 3,
                                    "startTimeUnixNano": str(time.time_ns() - 10**9),
                                    "endTimeUnixNano": str(time.time_ns()),
                                    "attributes": attributes,
                                }
                            ]
                        }
                    ],
                }
            ]
        }
        return json.dumps(body).encode()

    for model, routed in (
        ("gpt-4o-mini", {"stringValue": "gpt-4o-mini"}),  # the model called: no swap
        ("gpt-4o-mini", {"stringValue": "house-model-9000"}),  # asked for a model nobody prices
        ("gpt-4o-mini", {"intValue": "4"}),  # not a model name
    ):
        assert server.post("/v1/traces", span(model, routed), "application/json").status_code == 200
    samples = server.samples()
    assert sample_value(samples, "llm_requests_total", model="gpt-4o-mini") == 3
    assert sample_value(samples, "llm_cost_avoided_usd_total") == 0
    assert (
        server.post("/v1/traces", span("gpt-4o-mini", {"stringValue": "gpt-4o"}), "application/json").status_code == 200
    )
    assert sample_value(server.samples(), "llm_cost_avoided_usd_total", model="gpt-4o", budget="b") > 0


def test_savings_series_fold_at_the_caps_like_the_others() -> None:
    """The first family with six labels: past a project's model cap its new label sets become the project's
    ``other``, all six labels kept, so the text stays well-formed and every cent is still counted."""
    from llm_cost_tracker.exporter.caps import DimensionLimits, Reservations
    from llm_cost_tracker.exporter.exposition import text
    from llm_cost_tracker.exporter.ledger import UsageLedger

    ledger = UsageLedger()
    ledger.reserve(Reservations(), DimensionLimits(max_projects_per_org=10, max_models_per_project=1))
    with ledger.lock:
        ledger.count_avoided(("acme", "checkout", "openai", "gpt-4o", "gpt-4o-mini", "b"), 5 * 10**12)
        ledger.count_avoided(("acme", "checkout", "openai", "o3", "o4-mini", "b"), 7 * 10**12)
    lines = [line for line in text(ledger.snapshot()).splitlines() if line.startswith("llm_cost_avoided_usd_total{")]
    assert lines == [
        'llm_cost_avoided_usd_total{org="acme",project="checkout",provider="openai",model="gpt-4o",'
        'routed_to="gpt-4o-mini",budget="b"} 0.005',
        'llm_cost_avoided_usd_total{org="acme",project="checkout",provider="other",model="other",'
        'routed_to="other",budget="other"} 0.007',
    ]
