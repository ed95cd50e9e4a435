"""What each corpus folder must turn into: tokens by type, cost and requests per model.

From ``corpus/README.md``: the truth table where the source reports the
detail, and what the source reports where it under-reports. Prices are the
list prices of the README (USD per million tokens).
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Expect:
    tokens: dict[str, int]
    cost: float
    ok: int = 1
    error: int = 0
    extra: dict[str, str] = field(default_factory=dict)


def cost(
    input_: int = 0, cache_read: int = 0, cache_write: int = 0, output: int = 0, *, prices: tuple[float, ...]
) -> float:
    p_in, p_cr, p_cw, p_out = prices
    return (input_ * p_in + cache_read * p_cr + cache_write * p_cw + output * p_out) / 1e6


GPT_4O = (2.50, 1.25, 2.50, 10.00)
O3_MINI = (1.10, 0.55, 1.10, 4.40)
GPT_4O_MINI = (0.15, 0.075, 0.15, 0.60)
EMBEDDING = (0.02, 0.02, 0.02, 0.0)
SONNET = (3.00, 0.30, 3.75, 15.00)


def tokens(
    input_: int = 0, cache_read: int = 0, cache_write: int = 0, output: int = 0, reasoning: int = 0
) -> dict[str, int]:
    counts = {
        "input": input_,
        "cache_read": cache_read,
        "cache_write": cache_write,
        "output": output,
        "reasoning": reasoning,
    }
    return {k: v for k, v in counts.items() if v}


# openai-v2 reports neither cached nor reasoning tokens: input is all uncached.
OPENAI_V2 = {
    "gpt-4o-2024-08-06": Expect(tokens(1250, output=180), cost(1250, output=180, prices=GPT_4O)),
    "o3-mini": Expect(tokens(1536, output=900), cost(1536, output=900, prices=O3_MINI)),
    "gpt-4o-mini": Expect(tokens(42, output=12), cost(42, output=12, prices=GPT_4O_MINI), ok=1, error=1),
    "text-embedding-3-small": Expect(tokens(17), cost(17, prices=EMBEDDING)),
}

# The truth table of the README, calls 1-5 and 6-7.
TRUTH_OPENAI = {
    "gpt-4o-2024-08-06": Expect(tokens(226, 1024, output=180), 0.003645),
    "o3-mini": Expect(tokens(256, 1280, output=260, reasoning=640), 0.0049456),
    "gpt-4o-mini": Expect(tokens(42, output=12), 0.0000135, ok=1, error=1),
    "text-embedding-3-small": Expect(tokens(17), 0.00000034),
}
SONNET_CALL_6 = cost(128, 4096, 2048, 256, prices=SONNET)  # 0.0131328
SONNET_CALL_7 = cost(64, 4096, 0, 77, prices=SONNET)  # 0.0025758

# Traceloop's streamed Anthropic span says 78 output tokens where the API said 77;
# the anthropic SDK's own span of the same call says 77; the call counts once, at its most complete.
TRACELOOP = {
    **TRUTH_OPENAI,
    "claude-3-5-sonnet-20241022": Expect(
        tokens(128 + 64, 4096 + 4096, 2048, 256 + 78),
        SONNET_CALL_6 + cost(64, 4096, 0, 78, prices=SONNET),
        ok=2,
    ),
}
ANTHROPIC_NATIVE = {
    "claude-3-5-sonnet-20241022": Expect(
        tokens(128 + 64, 4096 + 4096, 2048, 256 + 77), SONNET_CALL_6 + SONNET_CALL_7, ok=2
    ),
}
# litellm's spans carry neither cache nor reasoning detail (input includes the cache).
LITELLM = {
    **OPENAI_V2,
    "claude-3-5-sonnet-20241022": Expect(
        tokens(6272 + 4160, output=256 + 77), cost(6272 + 4160, output=256 + 77, prices=SONNET), ok=2
    ),
}
# openlit reports Anthropic input without the cache, no reasoning, and a streamed cache read of 0.
OPENLIT = {
    "gpt-4o-2024-08-06": TRUTH_OPENAI["gpt-4o-2024-08-06"],
    "o3-mini": Expect(tokens(256, 1280, output=900), cost(256, 1280, output=900, prices=O3_MINI)),
    "gpt-4o-mini": TRUTH_OPENAI["gpt-4o-mini"],
    "text-embedding-3-small": TRUTH_OPENAI["text-embedding-3-small"],
    "claude-3-5-sonnet-20241022": Expect(
        tokens(128 + 64, 4096, 2048, 256 + 77), SONNET_CALL_6 + cost(64, 0, 0, 77, prices=SONNET), ok=2
    ),
}

# The Anthropic calls, 6 and 7, as the API answered them.
TRUTH_ANTHROPIC = Expect(tokens(128 + 64, 4096 + 4096, 2048, 256 + 77), SONNET_CALL_6 + SONNET_CALL_7, ok=2)
TRUTH = {**TRUTH_OPENAI, "claude-3-5-sonnet-20241022": TRUTH_ANTHROPIC}
WITHOUT_EMBEDDINGS = {k: v for k, v in TRUTH.items() if k != "text-embedding-3-small"}

# The Vercel AI SDK's default telemetry reports no reasoning tokens: o3-mini's output holds them, unsplit
# (the cost is the same: reasoning is priced as output).
VERCEL_AI = {**TRUTH, "o3-mini": Expect(tokens(256, 1280, output=900), 0.0049456)}
# Traceloop for Node: no cache detail for OpenAI, a streamed call's usage estimated with tiktoken (6 and 5
# where the API said 42 and 12), no span at all for the 429 or for embeddings.
TRACELOOP_NODE = {
    "gpt-4o-2024-08-06": Expect(tokens(1250, output=180), cost(1250, output=180, prices=GPT_4O)),
    "o3-mini": Expect(tokens(1536, output=900), cost(1536, output=900, prices=O3_MINI)),
    "gpt-4o-mini": Expect(tokens(6, output=5), cost(6, output=5, prices=GPT_4O_MINI)),
    "claude-3-5-sonnet-20241022": TRUTH_ANTHROPIC,
}
# Pydantic AI: calls 1-4 and 6-7, plus call 1 again through the Chat Completions API (its call 8).
PYDANTIC_AI = {
    **WITHOUT_EMBEDDINGS,
    "gpt-4o-2024-08-06": Expect(tokens(2 * 226, 2 * 1024, output=2 * 180), 2 * 0.003645, ok=2),
}
# Gemini (tests/corpus/_capture/provider_gemini.py): G1 952 / 2048 / 0 / 150 / 400, G2 (streamed)
# 300 / 512 / 0 / 61 / 96; G3 a 429. Google's list prices for gemini-2.5-flash: 0.30 in, 0.03 cached, 2.50 out.
GEMINI_FLASH = (0.30, 0.03, 0.30, 2.50)
GEMINI = {
    "gemini-2.5-flash": Expect(
        tokens(952 + 300, 2048 + 512, 0, 150 + 61, 400 + 96),
        cost(952 + 300, 2048 + 512, 0, 150 + 61 + 400 + 96, prices=GEMINI_FLASH),
        ok=2,
    ),
    "gemini-2.5-pro": Expect({}, 0.0, ok=0, error=1),
}
# Strands drops reasoning detail; its agents ran gpt-4o-2024-08-06 (call 1), the streamed Anthropic call (7) and
# o3-mini twice.
STRANDS = {
    "gpt-4o-2024-08-06": TRUTH_OPENAI["gpt-4o-2024-08-06"],
    "claude-3-5-sonnet-20241022": Expect(tokens(64, 4096, output=77), SONNET_CALL_7),
    "o3-mini": Expect(tokens(2 * 256, 2 * 1280, output=2 * 900), 2 * 0.0049456, ok=2),
}

SPANS = {
    "openai-v2": OPENAI_V2,
    "openai-v2-latest-experimental": OPENAI_V2,
    "openai-v2-json-exporter": OPENAI_V2,
    "openai-v2-gzip": OPENAI_V2,
    "traceloop": TRACELOOP,
    "traceloop-delta-temporality": TRACELOOP,
    "anthropic-sdk-native": ANTHROPIC_NATIVE,
    "litellm": LITELLM,
    "openlit-local-pricing": OPENLIT,
    "openinference": TRUTH,
    "openinference-langchain": WITHOUT_EMBEDDINGS,  # LangChain's embeddings emit no span
    "openinference-langchain-nested": TRUTH,
    "vercel-ai": VERCEL_AI,
    "vercel-ai-chat": VERCEL_AI,
    "vercel-ai-supplemental": TRUTH,
    "vercel-ai-legacy": TRUTH,
    "traceloop-node": TRACELOOP_NODE,
    "anthropic-sdk-native-node": {"claude-3-5-sonnet-20241022": TRUTH_ANTHROPIC},
    "pydantic-ai": PYDANTIC_AI,
    "google-genai": GEMINI,
    "google-adk": GEMINI,
    "strands": STRANDS,
    "strands-latest-experimental": STRANDS,
}

# From metrics pushes only input and output tokens exist (no cache, no reasoning detail).
TRACELOOP_METRICS = {
    "gpt-4o-2024-08-06": Expect(tokens(1250, output=180), cost(1250, output=180, prices=GPT_4O)),
    "o3-mini-2025-01-31": Expect(tokens(1536, output=900), cost(1536, output=900, prices=O3_MINI)),
    "gpt-4o-mini-2024-07-18": Expect(tokens(42, output=12), cost(42, output=12, prices=GPT_4O_MINI)),
    "text-embedding-3-small": Expect(tokens(17), cost(17, prices=EMBEDDING)),
    "claude-3-5-sonnet-20241022": Expect(tokens(10432, output=334), cost(10432, output=334, prices=SONNET), ok=2),
}
OPENAI_V2_METRICS = {
    "gpt-4o-2024-08-06": OPENAI_V2["gpt-4o-2024-08-06"],
    "o3-mini": OPENAI_V2["o3-mini"],
    # The streamed call has no token points, only a duration point; the 429 has an error.type.
    "gpt-4o-mini": Expect({}, 0.0, ok=1, error=1),
    "text-embedding-3-small": OPENAI_V2["text-embedding-3-small"],
}
LITELLM_METRICS = {
    "gpt-4o-2024-08-06": OPENAI_V2["gpt-4o-2024-08-06"],
    "o3-mini": OPENAI_V2["o3-mini"],
    "gpt-4o-mini": Expect(tokens(42, output=12), cost(42, output=12, prices=GPT_4O_MINI)),  # no point for the 429
    "text-embedding-3-small": Expect(tokens(17), cost(17, prices=EMBEDDING)),
    "claude-3-5-sonnet-20241022": LITELLM["claude-3-5-sonnet-20241022"],
}
METRICS = {
    "traceloop": TRACELOOP_METRICS,
    "traceloop-delta-temporality": TRACELOOP_METRICS,
    "openai-v2": OPENAI_V2_METRICS,
    "openai-v2-gzip": OPENAI_V2_METRICS,
    "openai-v2-json-exporter": OPENAI_V2_METRICS,
    "openai-v2-latest-experimental": {
        **OPENAI_V2_METRICS,
        "gpt-4o-mini": Expect(tokens(42, output=12), cost(42, output=12, prices=GPT_4O_MINI), ok=1, error=1),
    },
    "litellm": LITELLM_METRICS,
}
