"""``llm-cost-tracker simulate``: realistic mixed LLM traffic, as OTLP spans, for demos and load.

A few apps (OpenTelemetry resources with ``service.name`` = project and
``service.namespace`` = org) call a few models, with token counts, prompt
caching, reasoning, errors and latencies of the kind real apps show. Spans
follow the OpenTelemetry GenAI semantic conventions and leave through the real
OpenTelemetry SDK and its OTLP/HTTP exporter, as an instrumented app's would.

Each app picks its model through a ``ModelRouter``, so when a budget is
exceeded the simulated traffic moves to the cheaper model, as a real app's would.

Needs the OpenTelemetry SDK: ``pip install 'llm-cost-tracker[simulate]'``.
"""

from __future__ import annotations

import math
import random
import sys
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from llm_cost_tracker.routing import ModelRouter

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import TracerProvider


@dataclass(frozen=True)
class Model:
    """One kind of call an app makes: mean token counts, and how often it hits the cache or fails."""

    provider: str
    name: str
    operation: str = "chat"
    input_tokens: int = 1000
    output_tokens: int = 200
    cached: float = 0.0
    """Fraction of input tokens read from the provider's prompt cache."""
    reasoning: float = 0.0
    """Fraction of output tokens that are reasoning."""
    errors: float = 0.01
    weight: float = 1.0


@dataclass(frozen=True)
class App:
    org: str
    project: str
    weight: float
    models: tuple[Model, ...]


APPS: tuple[App, ...] = (
    App(
        "acme",
        "checkout",
        0.35,
        (
            Model("openai", "gpt-4o", input_tokens=1800, output_tokens=350, cached=0.3, weight=3),
            Model("openai", "gpt-4o-mini", input_tokens=600, output_tokens=80),
        ),
    ),
    App(
        "acme",
        "search",
        0.3,
        (
            Model("openai", "gpt-4o-mini", input_tokens=900, output_tokens=120, weight=2),
            Model("openai", "text-embedding-3-small", "embeddings", input_tokens=300, output_tokens=0, errors=0.0),
        ),
    ),
    App(
        "acme",
        "support",
        0.2,
        (Model("anthropic", "claude-haiku-4-5-20251001", input_tokens=1500, output_tokens=250, cached=0.5),),
    ),
    App(
        "labs",
        "research",
        0.15,
        (
            Model(
                "anthropic", "claude-sonnet-4-5-20250929", input_tokens=6000, output_tokens=900, cached=0.6, weight=2
            ),
            Model("openai", "o4-mini", input_tokens=2500, output_tokens=1500, reasoning=0.7, errors=0.03),
        ),
    ),
)


@dataclass(frozen=True)
class Call:
    """One simulated provider call, as the span will describe it."""

    app: App
    model: Model
    requested: str
    input_tokens: int
    cached_tokens: int
    output_tokens: int
    reasoning_tokens: int
    seconds: float
    error: str | None


def _around(rng: random.Random, mean: int) -> int:
    """A token count scattered around ``mean`` (log-normal, as prompt and answer lengths are)."""
    if mean <= 0:
        return 0
    sigma = 0.5
    return max(1, round(rng.lognormvariate(math.log(mean) - sigma * sigma / 2, sigma)))


def next_call(rng: random.Random, resolve: Callable[[App, str], str], apps: Sequence[App] = APPS) -> Call:
    """Draw one call: an app by its share of traffic, one of its models, and the call's usage."""
    app = rng.choices(apps, weights=[a.weight for a in apps])[0]
    model = rng.choices(app.models, weights=[m.weight for m in app.models])[0]
    requested = resolve(app, model.name)
    input_tokens = _around(rng, model.input_tokens)
    cached = round(input_tokens * model.cached * rng.uniform(0.5, 1.0)) if model.cached else 0
    output = _around(rng, model.output_tokens)
    reasoning = round(output * model.reasoning)
    seconds = 0.2 + output * rng.uniform(0.008, 0.02) + input_tokens * 0.00002
    error = None
    if rng.random() < model.errors:
        error = rng.choice(("RateLimitError", "APITimeoutError", "InternalServerError"))
    return Call(app, model, requested, input_tokens, cached, output, reasoning, seconds, error)


def _providers(endpoint: str, apps: Sequence[App]) -> dict[str, TracerProvider]:
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    providers = {}
    for app in apps:
        provider = TracerProvider(
            resource=Resource.create(
                {"service.name": app.project, "service.namespace": app.org, "deployment.environment.name": "demo"}
            )
        )
        exporter = OTLPSpanExporter(endpoint=f"{endpoint.rstrip('/')}/v1/traces", timeout=5)
        provider.add_span_processor(BatchSpanProcessor(exporter, schedule_delay_millis=1000))
        providers[app.project] = provider
    return providers


def emit(provider: TracerProvider, call: Call, end_ns: int) -> None:
    """Record ``call`` as a GenAI client span that ended at ``end_ns``."""
    from opentelemetry.trace import SpanKind, Status, StatusCode

    start_ns = end_ns - int(call.seconds * 1e9)
    model = call.model
    tracer = provider.get_tracer("llm_cost_tracker.simulate")
    span = tracer.start_span(f"{model.operation} {call.requested}", kind=SpanKind.CLIENT, start_time=start_ns)
    span.set_attributes(
        {
            "gen_ai.operation.name": model.operation,
            "gen_ai.provider.name": model.provider,
            "gen_ai.request.model": call.requested,
        }
    )
    if call.error:
        span.set_attribute("error.type", call.error)
        span.set_status(Status(StatusCode.ERROR, call.error))
    else:
        span.set_attributes(
            {
                "gen_ai.response.model": call.requested,
                "gen_ai.response.id": f"sim-{start_ns:x}-{id(call):x}",
                "gen_ai.usage.input_tokens": call.input_tokens,  # includes cached tokens, as the conventions say
                "gen_ai.usage.output_tokens": call.output_tokens,
            }
        )
        if call.cached_tokens:
            span.set_attribute("gen_ai.usage.cache_read.input_tokens", call.cached_tokens)
        if call.reasoning_tokens:
            span.set_attribute("gen_ai.usage.reasoning.output_tokens", call.reasoning_tokens)
    span.end(end_time=end_ns)


def run(
    endpoint: str,
    *,
    rate: float = 20.0,
    duration: float = 0.0,
    routing_file: str | None = None,
    seed: int | None = None,
    report_every: float = 10.0,
    out: Callable[[str], object] = print,
) -> Counter[tuple[str, str]]:
    """Send ``rate`` calls a second to ``endpoint`` for ``duration`` seconds (0: until interrupted).

    Returns the calls sent by (project, model); prints a summary every ``report_every`` seconds and a
    line whenever the routing file swaps an app's model.
    """
    rng = random.Random(seed)  # noqa: S311 - simulated traffic, not secrets
    providers = _providers(endpoint, APPS)
    router = ModelRouter(routing_file) if routing_file is not None else None
    seen: dict[tuple[str, str], str] = {}

    def resolve(app: App, model: str) -> str:
        if router is None:
            return model
        chosen = router.resolve(model, org=app.org, project=app.project)
        if seen.get((app.project, model), model) != chosen:
            what = f"{model} -> {chosen}" if chosen != model else f"back to {model}"
            out(f"swap  {app.org}/{app.project}: {what}")
        seen[(app.project, model)] = chosen
        return chosen

    sent: Counter[tuple[str, str]] = Counter()
    window: Counter[tuple[str, str]] = Counter()
    started = time.monotonic()
    reported = started
    next_at = started
    try:
        while duration <= 0 or time.monotonic() - started < duration:
            next_at += rng.expovariate(rate)
            pause = next_at - time.monotonic()
            if pause > 0:
                time.sleep(pause)
            call = next_call(rng, resolve)
            emit(providers[call.app.project], call, time.time_ns())
            sent[(call.app.project, call.requested)] += 1
            window[(call.app.project, call.requested)] += 1
            now = time.monotonic()
            if report_every and now - reported >= report_every:
                top = ", ".join(f"{p}/{m} {n}" for (p, m), n in window.most_common(4))
                out(f"sent  {sum(window.values())} calls in {now - reported:.0f}s: {top}")
                window.clear()
                reported = now
    except KeyboardInterrupt:
        pass
    finally:
        for provider in providers.values():
            provider.shutdown()
    return sent


def main(endpoint: str, rate: float, duration: float, routing_file: str | None, seed: int | None) -> int:
    try:
        import opentelemetry.exporter.otlp.proto.http
        import opentelemetry.sdk  # noqa: F401
    except ImportError:
        print(
            "simulate needs the OpenTelemetry SDK and OTLP exporter: in a checkout, `make simulate` installs them "
            "into .venv (or: .venv/bin/pip install '.[simulate]'); else pip install 'llm-cost-tracker[simulate]'",
            file=sys.stderr,
        )
        return 1
    print(f"simulating {rate:g} LLM calls/s to {endpoint} (Ctrl-C stops)", flush=True)
    sent = run(
        endpoint,
        rate=rate,
        duration=duration,
        routing_file=routing_file,
        seed=seed,
        out=lambda line: print(line, flush=True),
    )
    print(f"sent {sum(sent.values())} calls", flush=True)
    return 0
