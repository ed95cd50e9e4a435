"""What only some instrumentations need: names to normalise, JSON attributes to read, spans that are not calls.

Everything here is a pure function of attribute values. The alias table
(``aliases.py``) covers the dialects that write one value per attribute; the
few that pack the request or the response into a JSON attribute
(OpenInference's ``llm.invocation_parameters`` and ``output.value``) or name
providers and operations their own way are read here.
"""

from __future__ import annotations

import re
from typing import Final

import orjson

PROVIDER_ALIASES: Final = {
    "az.ai.openai": "azure.ai.openai",
    "az.ai.inference": "azure.ai.inference",
    "azure_openai": "azure.ai.openai",
    "azure": "azure.ai.openai",
    "vertex_ai": "gcp.vertex_ai",
    "vertexai": "gcp.vertex_ai",
    "gemini": "gcp.gemini",
    "google": "gcp.gemini",
    "bedrock": "aws.bedrock",
    "mistralai": "mistral_ai",
    "mistral": "mistral_ai",
    "xai": "x_ai",
    "aws": "aws.bedrock",
    "amazon_bedrock": "aws.bedrock",
}
FRAMEWORKS: Final = frozenset({"strands-agents", "langchain", "llama_index", "llamaindex", "crewai", "autogen"})
"""Names some instrumentations put where the provider belongs: the provider is then inferred from the model."""
_API_SURFACE: Final = re.compile(
    r"^([a-z0-9_-]+)\.(responses|chat|completion|completions|messages|embedding|image|speech)$"
)
"""The Vercel AI SDK's ``openai.responses``, ``anthropic.messages``: the provider and the API it used."""

OPERATION_ALIASES: Final = {
    "embedding": "embeddings",
    "completion": "text_completion",
    "completions": "text_completion",
    "chat.completions": "chat",
    "llm": "chat",  # OpenInference span kind LLM
    "ai.generatetext.dogenerate": "chat",  # the Vercel AI SDK's provider calls
    "ai.streamtext.dostream": "chat",
    "ai.generateobject.dogenerate": "chat",
    "ai.streamobject.dostream": "chat",
    "ai.embed.doembed": "embeddings",
    "ai.embedmany.doembed": "embeddings",
}
AGGREGATE_OPERATIONS: Final = frozenset(
    {
        # GenAI conventions: spans around model calls, which repeat (or sum) their usage.
        "invoke_agent",
        "create_agent",
        "invoke_workflow",
        "execute_tool",
        "agent_step",  # Vercel AI SDK
        "execute_event_loop_cycle",  # Strands
        # OpenInference span kinds other than LLM and EMBEDDING.
        "agent",
        "chain",
        "tool",
        "retriever",
        "reranker",
        "guardrail",
        "evaluator",
        # The Vercel AI SDK's outer spans (its ai.*.do* children are the provider calls).
        "ai.generatetext",
        "ai.streamtext",
        "ai.generateobject",
        "ai.streamobject",
        "ai.embed",
        "ai.embedmany",
        "ai.toolcall",
    }
)
_VERSION_STAMP: Final = re.compile(r"(-\d{4}(-\d{2}){0,2}|-\d{6,8}|@\d+|-latest)$")
"""A dated or versioned model id's stamp: ``-2024-07-18``, ``-20241022``, ``-0613``, Vertex's ``@20241022``."""
_FAMILIES: dict[str, str] = {}


def model_family(model: str) -> str:
    """``gpt-4o-mini-2024-07-18`` → ``gpt-4o-mini``, ``anthropic/claude-3-5-sonnet@20240620`` → ``claude-3-5-sonnet``.

    Two spans of one call may name the requested model and the one that answered (a dated variant); a
    provider prefix (LiteLLM's) is no part of the name. ``gpt-4o`` and ``gpt-4o-mini`` stay apart.
    """
    family = _FAMILIES.get(model)
    if family is None:
        if len(_FAMILIES) >= 4096:
            _FAMILIES.clear()
        family = _FAMILIES[model] = _VERSION_STAMP.sub("", model.rsplit("/", 1)[-1].lower())
    return family


MAX_JSON_ATTRIBUTE: Final = 65_536
"""JSON attributes longer than this are not parsed (a response with a whole document in it)."""
_RESPONSE_ID: Final = re.compile(r'"id"\s*:\s*"((?:chatcmpl|msg|resp|gemresp|gen|cmpl|run)[-_][A-Za-z0-9_-]{4,128})"')


SHORT_LABEL: Final = 32
"""The longest ``provider`` or ``operation``: names from a short list (``gcp.vertex_ai``, ``text_completion``), not
free text, so a client cannot make every series of ``/metrics`` kilobytes long with them."""


def normalise_provider(value: object) -> str:
    """``"OpenAI"`` → ``"openai"``; old and SDK-specific names → current ones; a framework's name → ``""``."""
    if not isinstance(value, str):
        return ""
    provider = value.strip().lower()
    surface = _API_SURFACE.match(provider)
    if surface is not None:
        provider = surface.group(1)
    if provider in FRAMEWORKS:
        return ""
    return PROVIDER_ALIASES.get(provider, provider)[:SHORT_LABEL]


_BEDROCK_ID: Final = re.compile(
    r"^(?:arn:aws[a-z-]*:bedrock:"
    r"|(?:(?:us|eu|apac|au|jp|ca|us-gov|global)\.)?"
    r"(?:anthropic|amazon|meta|mistral|cohere|ai21|deepseek|openai|qwen|writer|twelvelabs|stability|luma|google"
    r"|nvidia|moonshot|minimax)\.[a-z0-9])"
)
"""Amazon Bedrock's model ids: ``us.anthropic.claude-sonnet-4-5-20250929-v1:0``, ``amazon.nova-pro-v1:0``, ARNs."""
_VERTEX_ID: Final = re.compile(r"^(?:projects/[^/]+/locations/[^/]+/)?publishers/|^[a-z0-9][a-z0-9.-]*@[a-z0-9]+$")
"""Vertex AI's: ``claude-sonnet-4-5@20250929`` (a version after ``@``), ``publishers/google/models/gemini-2.5-pro``."""
_AZURE_ID: Final = re.compile(r"^gpt-35-turbo")
"""Azure OpenAI spells GPT-3.5 without the dot."""
MODEL_VENDORS: Final = frozenset(
    {"", "anthropic", "openai", "meta", "mistral_ai", "cohere", "ai21", "amazon", "deepseek", "gcp.gemini"}
)
"""Providers a span may name for a model it reached through a cloud (the model's maker, or nothing)."""


def cloud_provider(model: str, provider: str) -> str:
    """The cloud a model id's shape says served it, where the span names no provider or the model's maker.

    A Bedrock id priced as Anthropic's API would miss Bedrock's regional premium; a
    Vertex id (``@`` version) or an Azure deployment's ``gpt-35-turbo`` likewise.
    Returns ``provider`` when the shape says nothing.
    """
    if provider not in MODEL_VENDORS:
        return provider
    name = model.rsplit("/", 1)[-1] if model.startswith(("bedrock/", "vertex_ai/", "azure/")) else model
    name = name.lower()
    if _BEDROCK_ID.match(name):
        return "aws.bedrock"
    if _VERTEX_ID.match(name):
        return "gcp.vertex_ai"
    if _AZURE_ID.match(name) and provider in ("", "openai"):
        return "azure.ai.openai"
    return provider


def normalise_operation(value: object) -> str:
    if not isinstance(value, str) or not value:
        return "unknown"
    operation = value.strip().lower()
    return OPERATION_ALIASES.get(operation, operation)[:SHORT_LABEL]


_AGGREGATE: dict[str, bool] = {}


def is_aggregate(operation: object) -> bool:
    """Whether a span of this operation wraps model calls (an agent run, a step) rather than being one."""
    if not isinstance(operation, str):
        return False
    found = _AGGREGATE.get(operation)
    if found is None:
        if len(_AGGREGATE) >= 1024:
            _AGGREGATE.clear()
        found = _AGGREGATE[operation] = operation.strip().lower() in AGGREGATE_OPERATIONS
    return found


def _json_object(text: object) -> dict[str, object] | None:
    if not isinstance(text, str) or not text.startswith("{") or len(text) > MAX_JSON_ATTRIBUTE:
        return None
    try:
        value = orjson.loads(text)
    except orjson.JSONDecodeError:
        return None
    return value if isinstance(value, dict) else None


def invocation_model(parameters: object) -> str | None:
    """The requested model in OpenInference's ``llm.invocation_parameters`` JSON."""
    document = _json_object(parameters)
    if document is None:
        return None
    for key in ("model", "model_name", "model_id"):
        model = document.get(key)
        if isinstance(model, str) and model:
            return model
    return None


def output_response_id(output: object) -> str | None:
    """A provider response id in OpenInference's ``output.value`` (the response, or LangChain's result)."""
    if not isinstance(output, str):
        return None
    found = _RESPONSE_ID.search(output, 0, MAX_JSON_ATTRIBUTE)
    return found.group(1) if found else None


def _count(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else None


def _nested(document: dict[str, object], *path: str) -> object:
    value: object = document
    for key in path:
        if not isinstance(value, dict):
            return None
        value = value.get(key)
    return value


def output_usage(output: object) -> dict[str, int] | None:
    """Usage from the response in ``output.value``, for what a span carries nowhere else.

    The shapes of OpenAI's Chat Completions and Responses, Anthropic's Messages,
    and LangChain's ``llm_output``: input and output totals, cache, reasoning and
    audio detail, and web searches, under the canonical field names.
    """
    document = _json_object(output)
    if document is None:
        return None
    usage = document.get("usage")
    if not isinstance(usage, dict):
        usage = _nested(document, "llm_output", "token_usage") or _nested(document, "llm_output", "usage")
    if not isinstance(usage, dict):
        return None
    found: dict[str, int] = {}
    anthropic = "cache_read_input_tokens" in usage or "cache_creation_input_tokens" in usage
    candidates = {
        "input_tokens": (usage.get("prompt_tokens"), usage.get("input_tokens")),
        "output_tokens": (usage.get("completion_tokens"), usage.get("output_tokens")),
        "cache_read_tokens": (
            _nested(usage, "prompt_tokens_details", "cached_tokens"),
            _nested(usage, "input_tokens_details", "cached_tokens"),
            usage.get("cache_read_input_tokens"),
        ),
        "cache_write_tokens": (usage.get("cache_creation_input_tokens"),),
        "reasoning_tokens": (
            _nested(usage, "completion_tokens_details", "reasoning_tokens"),
            _nested(usage, "output_tokens_details", "reasoning_tokens"),
        ),
        "input_audio_tokens": (_nested(usage, "prompt_tokens_details", "audio_tokens"),),
        "output_audio_tokens": (_nested(usage, "completion_tokens_details", "audio_tokens"),),
        "web_searches": (_nested(usage, "server_tool_use", "web_search_requests"),),
    }
    for field, values in candidates.items():
        for value in values:
            count = _count(value)
            if count is not None:
                found[field] = count
                break
    if anthropic and "input_tokens" in found:
        # Anthropic's input_tokens leaves the cache out; the conventions' input total holds it.
        found["input_tokens"] += found.get("cache_read_tokens", 0) + found.get("cache_write_tokens", 0)
    searches = _responses_web_searches(document.get("output"))
    if searches:
        found["web_searches"] = searches
    return found if "input_tokens" in found or "output_tokens" in found else None


def _responses_web_searches(output: object) -> int:
    """OpenAI's Responses API: one ``web_search_call`` output item per search."""
    if not isinstance(output, list):
        return 0
    return sum(1 for item in output if isinstance(item, dict) and item.get("type") == "web_search_call")
