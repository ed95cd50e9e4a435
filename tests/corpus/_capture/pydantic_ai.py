"""Pydantic AI's built-in OTel GenAI instrumentation (``Agent.instrument_all()``) on the corpus scenario.

    cd /work/main && /tmp/capture/venv-pydantic-ai/bin/python -m tests.corpus._capture.pydantic_ai

Needs ``tests.corpus._capture.provider --port 8902`` and ``tests.corpus._capture.receiver OUT --port 4320``.
No logfire: the stock SDK's providers are global and Pydantic AI picks them up. Model strings are the
library's defaults: ``openai:`` is the Responses API, ``openai-chat:`` (call 8, an extra) Chat Completions.
"""

from __future__ import annotations

import asyncio
import os

from tests.corpus._capture import frameworks_otel as otel

os.environ.setdefault("OPENAI_BASE_URL", "http://127.0.0.1:8902/v1")
os.environ.setdefault("OPENAI_API_KEY", "sk-fake")
os.environ.setdefault("ANTHROPIC_BASE_URL", "http://127.0.0.1:8902")
os.environ.setdefault("ANTHROPIC_API_KEY", "sk-ant-fake")

from pydantic_ai import Agent
from pydantic_ai.exceptions import ModelHTTPError

PROMPT = "When does order 8812 ship?"
SONNET = "anthropic:claude-3-5-sonnet-20241022"
SYSTEM = "You are the checkout assistant of an online shop. " * 40


async def scenario() -> None:
    await Agent("openai:gpt-4o-2024-08-06").run(PROMPT, model_settings={"temperature": 0.2, "max_tokens": 300})
    await Agent("openai:o3-mini").run(PROMPT, model_settings={"openai_reasoning_effort": "medium", "max_tokens": 2000})
    async with Agent("openai:gpt-4o-mini").run_stream(PROMPT) as result:
        await result.get_output()
    try:
        await Agent("openai:gpt-4o-mini", retries=0).run(PROMPT, model_settings={"max_retries": 0})
    except ModelHTTPError as error:
        print("call 4 raised", type(error).__name__, error.status_code)
    settings = {"max_tokens": 1024, "anthropic_cache_instructions": True}
    await Agent(SONNET, instructions=SYSTEM).run(PROMPT, model_settings=settings)
    async with Agent(SONNET, instructions=SYSTEM).run_stream(PROMPT, model_settings=settings) as result:
        await result.get_output()
    await Agent("openai-chat:gpt-4o-2024-08-06").run(PROMPT, model_settings={"temperature": 0.2, "max_tokens": 300})


def main() -> None:
    providers = otel.setup()
    Agent.instrument_all()
    with otel.session(providers[0]):
        asyncio.run(scenario())
    otel.shutdown(*providers)


if __name__ == "__main__":
    main()
