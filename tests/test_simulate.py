"""`llm-cost-tracker simulate`: realistic traffic through the real OTel SDK, priced by a live exporter."""

from __future__ import annotations

import random
from pathlib import Path

from llm_cost_tracker import simulate
from llm_cost_tracker.pricing import catalog
from llm_cost_tracker.pricing.resolver import PriceResolver
from llm_cost_tracker.routing.document import Override, RoutingDocument
from llm_cost_tracker.routing.store import RoutingStore
from llm_cost_tracker.rules.spec import load_budgets
from tests.conftest import LiveServer, sample_value, usage_by_model, wait_until


def test_calls_look_like_real_usage() -> None:
    rng = random.Random(7)
    calls = [simulate.next_call(rng, lambda app, model: model) for _ in range(5000)]
    projects = {c.app.project for c in calls}
    assert projects == {a.project for a in simulate.APPS}
    for call in calls:
        assert 0 <= call.cached_tokens <= call.input_tokens
        assert 0 <= call.reasoning_tokens <= call.output_tokens
        assert call.seconds > 0
    errors = sum(1 for c in calls if c.error) / len(calls)
    assert 0.002 < errors < 0.05
    checkout = [c for c in calls if c.app.project == "checkout" and c.model.name == "gpt-4o"]
    mean_input = sum(c.input_tokens for c in checkout) / len(checkout)
    assert 1500 < mean_input < 2100  # scattered around the configured 1800


def test_simulated_models_are_current_catalog_models() -> None:
    """The simulator and the shipped budgets' swap targets use models today's catalog lists and prices."""
    models = {(m.provider, m.name) for app in simulate.APPS for m in app.models}
    root = Path(__file__).parent.parent
    for path in (root / "deploy" / "budgets.yaml", root / "examples" / "budgets.yaml"):
        for budget in load_budgets(path).budgets:
            models |= {(budget.match.get("provider", ""), swap.to) for swap in budget.on_exceeded.swap}
    resolver = PriceResolver()
    for provider, model in models:
        provider = provider or resolver.infer_provider(model) or ""
        assert catalog.find(provider, model) is not None, f"{provider}/{model} is not in the catalog"
        assert not catalog.deprecated(provider, model), f"{provider}/{model} is deprecated"


def test_simulated_spans_are_priced_and_obey_the_routing_file(server: LiveServer, tmp_path: Path) -> None:
    routing = tmp_path / "routing.yaml"
    swap = Override(from_="gpt-4o", to="gpt-4o-mini", scope={"org": "acme", "project": "checkout"}, budget="b")
    RoutingStore(routing).update(lambda doc: RoutingDocument(overrides=(swap,)))
    lines: list[str] = []

    sent = simulate.run(server.otlp_url, rate=200, duration=1.5, routing_file=str(routing), seed=3, out=lines.append)

    assert sum(sent.values()) > 100
    assert ("checkout", "gpt-4o") not in sent  # swapped, as an app using ModelRouter would be
    assert sent[("checkout", "gpt-4o-mini")] > 0
    assert "swap  acme/checkout: gpt-4o -> gpt-4o-mini" in lines

    def counted() -> bool:
        samples = server.samples()
        return sample_value(samples, "llm_requests_total") == sum(sent.values())

    wait_until(counted, timeout=10)
    samples = server.samples()
    models = usage_by_model(samples)
    assert set(models) == {model for _, model in sent}
    research = models["claude-sonnet-4-5-20250929"]
    assert research.tokens["cache_read"] > 0
    assert models["o4-mini"].tokens["reasoning"] > 0
    assert sample_value(samples, "llm_unpriced_requests_total") == 0
    assert all(usage.cost > 0 for name, usage in models.items() if usage.ok)
