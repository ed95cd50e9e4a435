"""Google ADK's own telemetry (``invoke_agent`` / ``call_llm`` / ``generate_content`` spans) on one agent turn.

    cd /work/main && /tmp/capture/venv-google-adk/bin/python -m tests.corpus._capture.google_adk

Needs ``tests.corpus._capture.provider_gemini --port 8903`` and ``tests.corpus._capture.receiver OUT --port 4320``.
Three turns of an ``LlmAgent``, each its own runner and session: gemini-2.5-flash (call G1), the same with
``StreamingMode.SSE`` (call G2), gemini-2.5-pro (call G3, the 429). No google-genai instrumentor: only what ADK
emits itself, ADK's telemetry defaults (no env vars).
"""

from __future__ import annotations

import asyncio
import os

from google.adk.agents import LlmAgent
from google.adk.agents.run_config import RunConfig, StreamingMode
from google.adk.models.google_llm import Gemini
from google.adk.runners import InMemoryRunner
from google.genai import errors, types

from tests.corpus._capture import frameworks_otel as otel

PROMPT = "When does order 8812 ship?"


async def turn(model: str, streaming: StreamingMode) -> None:
    llm = Gemini(model=model, base_url="http://127.0.0.1:8903")
    agent = LlmAgent(name="checkout_agent", model=llm, instruction="You are the checkout assistant of a shop.")
    runner = InMemoryRunner(agent=agent, app_name="checkout")
    session = await runner.session_service.create_session(app_name="checkout", user_id="u-1")
    config = RunConfig(streaming_mode=streaming)
    message = types.Content(role="user", parts=[types.Part(text=PROMPT)])
    async for _ in runner.run_async(user_id="u-1", session_id=session.id, new_message=message, run_config=config):
        pass


async def scenario() -> None:
    await turn("gemini-2.5-flash", StreamingMode.NONE)
    await turn("gemini-2.5-flash", StreamingMode.SSE)
    try:
        await turn("gemini-2.5-pro", StreamingMode.NONE)
    except errors.ClientError as error:
        print("G3 raised", type(error).__name__, error.code, error.status)


def main() -> None:
    os.environ.setdefault("GOOGLE_API_KEY", "fake-gemini-key")
    providers = otel.setup()
    with otel.session(providers[0]):
        asyncio.run(scenario())
    otel.shutdown(*providers)


if __name__ == "__main__":
    main()
