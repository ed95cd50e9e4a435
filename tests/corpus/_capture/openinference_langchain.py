"""The corpus scenario (calls 1-7) made through LangChain and traced by OpenInference's LangChain instrumentor.

Run as ``openinference.py`` is (same venv, provider.py on 8901, receiver.py on 4319), from the repo root:

    /tmp/capture/venv-openinference/bin/python -m tests.corpus._capture.openinference_langchain [--nested]

``--nested`` also instruments the openai and anthropic SDKs underneath with OpenInference's own instrumentors
(a framework span wrapping the provider SDK's span, for ``openinference-langchain-nested/``).
"""

from __future__ import annotations

from contextlib import suppress

import openai
from langchain_anthropic import ChatAnthropic
from langchain_core.messages import HumanMessage, SystemMessage
from langchain_openai import ChatOpenAI, OpenAIEmbeddings
from openinference.instrumentation.anthropic import AnthropicInstrumentor
from openinference.instrumentation.langchain import LangChainInstrumentor
from openinference.instrumentation.openai import OpenAIInstrumentor

from tests.corpus._capture.openinference import CATALOG, EMBED_INPUTS, SYSTEM, route_to_fake, session, setup

OPENAI = {"api_key": "sk-fake", "max_retries": 0}
ANTHROPIC = {"model": "claude-3-5-sonnet-20241022", "api_key": "sk-ant-fake", "max_retries": 0}


def main() -> None:
    provider, args = setup(__doc__ or "", "--nested")
    route_to_fake()
    LangChainInstrumentor().instrument(tracer_provider=provider)
    if args.nested:
        OpenAIInstrumentor().instrument(tracer_provider=provider)
        AnthropicInstrumentor().instrument(tracer_provider=provider)
    cached_system = SystemMessage(content=[{"type": "text", "text": CATALOG, "cache_control": {"type": "ephemeral"}}])
    with session(provider):
        ChatOpenAI(model="gpt-4o-2024-08-06", temperature=0.2, max_tokens=300, **OPENAI).invoke(
            [SystemMessage(SYSTEM), HumanMessage("What accessories go with my laptop order?")]
        )
        ChatOpenAI(model="o3-mini", reasoning_effort="medium", max_completion_tokens=2000, **OPENAI).invoke(
            "Which shipping option arrives by Friday at lowest cost?"
        )
        for _ in ChatOpenAI(model="gpt-4o-mini", stream_usage=True, **OPENAI).stream("When will my order ship?"):
            pass
        with suppress(openai.RateLimitError):
            ChatOpenAI(model="gpt-4o-mini", **OPENAI).invoke("trigger-429 please summarize my cart")
        # check_embedding_ctx_length=False: send the strings as they are (the check tokenizes with tiktoken,
        # whose encodings are downloaded on first use, and would send token ids instead).
        OpenAIEmbeddings(model="text-embedding-3-small", check_embedding_ctx_length=False, **OPENAI).embed_documents(
            EMBED_INPUTS
        )
        ChatAnthropic(max_tokens=1024, **ANTHROPIC).invoke([cached_system, HumanMessage("List my recent orders.")])
        for _ in ChatAnthropic(max_tokens=512, **ANTHROPIC).stream(
            [cached_system, HumanMessage("Can I return order #4711?")]
        ):
            pass


if __name__ == "__main__":
    main()
