"""Strands Agents' built-in telemetry: one agent invocation per model, OpenAI and Anthropic providers.

    cd /work/main && /tmp/capture/venv-strands/bin/python -m tests.corpus._capture.strands

Needs ``tests.corpus._capture.provider --port 8902`` and ``tests.corpus._capture.receiver OUT --port 4320``.
Telemetry: the stock SDK's global providers (``frameworks_otel``), which Strands' tracer and meter pick up, as
``StrandsTelemetry(tracer_provider=...)`` would; Strands' defaults otherwise (no env vars). Both providers
stream, as Strands always does: OpenAI with ``stream_options.include_usage``, Anthropic ``messages.stream``.
Extras beyond one invocation per model: an o3-mini agent invoked twice (reasoning tokens; usage accumulated
over an agent's invocations).
"""

from __future__ import annotations

from strands import Agent
from strands.models.anthropic import AnthropicModel
from strands.models.openai import OpenAIModel

from tests.corpus._capture import frameworks_otel as otel

PROMPT = "When does order 8812 ship?"
SYSTEM = "You are the checkout assistant of an online shop. Answer in one sentence."


def main() -> None:
    providers = otel.setup()
    gpt = OpenAIModel(
        client_args={"api_key": "sk-fake", "base_url": "http://127.0.0.1:8902/v1", "max_retries": 0},
        model_id="gpt-4o-2024-08-06",
        params={"temperature": 0.2, "max_tokens": 300},
    )
    o3 = OpenAIModel(
        client_args={"api_key": "sk-fake", "base_url": "http://127.0.0.1:8902/v1", "max_retries": 0},
        model_id="o3-mini",
        params={"reasoning_effort": "medium", "max_completion_tokens": 2000},
    )
    claude = AnthropicModel(
        client_args={"api_key": "sk-ant-fake", "base_url": "http://127.0.0.1:8902", "max_retries": 0},
        model_id="claude-3-5-sonnet-20241022",
        max_tokens=1024,
    )
    with otel.session(providers[0]):
        for name, model in (("checkout_openai", gpt), ("checkout_anthropic", claude)):
            Agent(name=name, model=model, system_prompt=SYSTEM, callback_handler=None)(PROMPT)
        reasoning = Agent(name="checkout_reasoning", model=o3, system_prompt=SYSTEM, callback_handler=None)
        reasoning(PROMPT)
        reasoning("And order 8813?")
    otel.shutdown(*providers)


if __name__ == "__main__":
    main()
