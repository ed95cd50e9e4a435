"""The corpus scenario (calls 1-7) traced by OpenInference's openai and anthropic instrumentors.

Run with a venv that has the capture's packages (``_env/venv-openinference.freeze.txt``), from the repo root,
with ``provider.py`` on port 8901 and ``receiver.py`` on port 4319:

    /tmp/capture/venv-openinference/bin/python -m tests.corpus._capture.openinference [--otlp http://127.0.0.1:4319]

The clients keep their real base URLs (``api.openai.com``, ``api.anthropic.com``), as in production, so that the
attributes derived from the host (OpenInference's ``llm.provider``, the anthropic SDK's ``server.address``) are
the real ones; ``route_to_fake()`` sends the requests for those two hosts to ``provider.py`` instead.
``setup()``, ``route_to_fake()`` and ``session()`` are shared with ``openinference_langchain.py``.
"""

from __future__ import annotations

import argparse
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from typing import Any

import anthropic
import httpx2
import openai
from openinference.instrumentation.anthropic import AnthropicInstrumentor
from openinference.instrumentation.openai import OpenAIInstrumentor
from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor

FAKE_HOSTS = {"api.openai.com", "api.anthropic.com"}
RESOURCE = {
    "service.name": "checkout-assistant",
    "service.version": "1.4.2",
    "service.namespace": "shop",
    "deployment.environment.name": "staging",
    "tenant.project": "checkout",
}
SYSTEM = "You are a shopping assistant for ACME."
CATALOG = SYSTEM + " The ACME catalog (long, cacheable): laptops, chargers, cables, sleeves, docks."
EMBED_INPUTS = ["usb-c charger 65w", "braided usb-c cable 2m"]


def setup(description: str, *flags: str) -> tuple[TracerProvider, argparse.Namespace]:
    """The global SDK TracerProvider, batching all spans into one OTLP/HTTP protobuf export at shutdown."""
    parser = argparse.ArgumentParser(description=description, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--otlp", default="http://127.0.0.1:4319")
    for flag in flags:
        parser.add_argument(flag, action="store_true")
    args = parser.parse_args()
    provider = TracerProvider(resource=Resource.create(RESOURCE))
    exporter = OTLPSpanExporter(endpoint=f"{args.otlp}/v1/traces")
    provider.add_span_processor(BatchSpanProcessor(exporter, schedule_delay_millis=60_000))
    trace.set_tracer_provider(provider)
    return provider, args


def route_to_fake(port: int = 8901) -> None:
    """Send every sync request of the openai and anthropic clients (both on httpx2) for FAKE_HOSTS to loopback."""
    original = httpx2.HTTPTransport.handle_request

    def handle_request(self: httpx2.HTTPTransport, request: httpx2.Request) -> Any:
        if request.url.host in FAKE_HOSTS:
            request.url = request.url.copy_with(scheme="http", host="127.0.0.1", port=port)
        return original(self, request)

    httpx2.HTTPTransport.handle_request = handle_request  # type: ignore[method-assign]


@contextmanager
def session(provider: TracerProvider) -> Iterator[None]:
    """All calls inside the non-GenAI app span ``checkout.session``; flush and shut down after it."""
    with trace.get_tracer("checkout-assistant.app").start_as_current_span("checkout.session") as span:
        span.set_attribute("app.user_tier", "gold")
        yield
    provider.force_flush()
    provider.shutdown()


def main() -> None:
    provider, _ = setup(__doc__ or "")
    route_to_fake()
    OpenAIInstrumentor().instrument(tracer_provider=provider)
    AnthropicInstrumentor().instrument(tracer_provider=provider)
    oai = openai.OpenAI(api_key="sk-fake", max_retries=0)
    claude = anthropic.Anthropic(api_key="sk-ant-fake", max_retries=0)
    with session(provider):
        oai.chat.completions.create(
            model="gpt-4o-2024-08-06",
            messages=[
                {"role": "system", "content": SYSTEM},
                {"role": "user", "content": "What accessories go with my laptop order?"},
            ],
            temperature=0.2,
            max_tokens=300,
        )
        oai.chat.completions.create(
            model="o3-mini",
            messages=[{"role": "user", "content": "Which shipping option arrives by Friday at lowest cost?"}],
            reasoning_effort="medium",
            max_completion_tokens=2000,
        )
        stream = oai.chat.completions.create(
            model="gpt-4o-mini",
            messages=[{"role": "user", "content": "When will my order ship?"}],
            stream=True,
            stream_options={"include_usage": True},
        )
        for _ in stream:
            pass
        with suppress(openai.RateLimitError):
            oai.chat.completions.create(
                model="gpt-4o-mini", messages=[{"role": "user", "content": "trigger-429 please summarize my cart"}]
            )
        oai.embeddings.create(model="text-embedding-3-small", input=EMBED_INPUTS)
        claude.messages.create(
            model="claude-3-5-sonnet-20241022",
            max_tokens=1024,
            system=[{"type": "text", "text": CATALOG, "cache_control": {"type": "ephemeral"}}],
            messages=[{"role": "user", "content": "List my recent orders."}],
        )
        events = claude.messages.create(
            model="claude-3-5-sonnet-20241022",
            max_tokens=512,
            system=[{"type": "text", "text": CATALOG, "cache_control": {"type": "ephemeral"}}],
            messages=[{"role": "user", "content": "Can I return order #4711?"}],
            stream=True,
        )
        for _ in events:
            pass


if __name__ == "__main__":
    main()
