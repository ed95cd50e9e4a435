"""The corpus scenario's provider APIs on loopback: fixed, distinct usage per call.

    python -m tests.corpus._capture.provider [--port 8900]

OpenAI (base URL ``http://127.0.0.1:PORT/v1``): Chat Completions, Responses and
Embeddings; Anthropic (base URL ``http://127.0.0.1:PORT``): Messages. Which
answer a request gets depends on its model and on ``stream``, so that every
token count in a capture traces back to one call of the table in
``tests/corpus/README.md``:

| call | request | answer |
|---|---|---|
| 1 | gpt-4o-2024-08-06 (or gpt-4o) | input 1250 (cached 1024), output 180 (reasoning 0) |
| 2 | o3-mini | model o3-mini-2025-01-31, input 1536 (cached 1280), output 900 (reasoning 640) |
| 3 | gpt-4o-mini, stream | model gpt-4o-mini-2024-07-18, input 42, output 12, usage in the last chunk |
| 4 | gpt-4o-mini, not streamed | HTTP 429 ``rate_limit_exceeded``, ``retry-after: 1`` |
| 5 | text-embedding-3-small | 17 input tokens |
| 6 | claude-3-5-sonnet-20241022 | input 128, cache write 2048 (5 min), cache read 4096, output 256 |
| 7 | claude-3-5-sonnet-20241022, stream | start: input 64, cache read 4096, output 1; delta: output 77 |

Any other model answers as call 1 does, under its own name.
"""

from __future__ import annotations

import argparse
from collections.abc import AsyncIterator
from typing import Any

import orjson
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

CREATED = 1764300000
TEXT = "Your order ships tomorrow."

# model asked for -> (model answered, response id, input, cached input, output, reasoning)
OPENAI_CALLS: dict[str, tuple[str, str, int, int, int, int]] = {
    "gpt-4o-2024-08-06": ("gpt-4o-2024-08-06", "chatcmpl-Ab12Cd34Ef56Gh78Ij90Kl12Mn34", 1250, 1024, 180, 0),
    "o3-mini": ("o3-mini-2025-01-31", "chatcmpl-Op56Qr78St90Uv12Wx34Yz56Ab78", 1536, 1280, 900, 640),
    "gpt-4o-mini": ("gpt-4o-mini-2024-07-18", "chatcmpl-Cd90Ef12Gh34Ij56Kl78Mn90Op12", 42, 0, 12, 0),
}
RATE_LIMITED = {
    "error": {
        "message": "Rate limit reached for gpt-4o-mini in organization org-fake on tokens per min (TPM): "
        "Limit 200000, Used 200000, Requested 54.",
        "type": "tokens",
        "param": None,
        "code": "rate_limit_exceeded",
    }
}


def _openai_call(model: str) -> tuple[str, str, int, int, int, int]:
    if model in OPENAI_CALLS:
        return OPENAI_CALLS[model]
    answered, _, *usage = OPENAI_CALLS["gpt-4o-2024-08-06"]
    return (model if model != "gpt-4o" else answered, "chatcmpl-Ab12Cd34Ef56Gh78Ij90Kl12Mn34", *usage)  # type: ignore[return-value]


def _sse(events: list[tuple[str | None, dict[str, Any]]]) -> StreamingResponse:
    async def body() -> AsyncIterator[bytes]:
        for name, data in events:
            prefix = f"event: {name}\n".encode() if name else b""
            yield prefix + b"data: " + orjson.dumps(data) + b"\n\n"

    return StreamingResponse(body(), media_type="text/event-stream")


def _rate_limited() -> Response:
    return JSONResponse(RATE_LIMITED, status_code=429, headers={"retry-after": "1", "x-request-id": "req_429"})


async def chat_completions(request: Request) -> Response:
    body = orjson.loads(await request.body())
    model = str(body.get("model"))
    stream = bool(body.get("stream"))
    if model == "gpt-4o-mini" and not stream:
        return _rate_limited()
    answered, call_id, prompt, cached, completion, reasoning = _openai_call(model)
    usage = {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
        "prompt_tokens_details": {"cached_tokens": cached, "audio_tokens": 0},
        "completion_tokens_details": {
            "reasoning_tokens": reasoning,
            "audio_tokens": 0,
            "accepted_prediction_tokens": 0,
            "rejected_prediction_tokens": 0,
        },
    }
    base = {"id": call_id, "created": CREATED, "model": answered, "system_fingerprint": "fp_fake"}
    if stream:
        chunk = {**base, "object": "chat.completion.chunk", "service_tier": "default"}
        events: list[tuple[str | None, dict[str, Any]]] = [
            (None, {**chunk, "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}}]}),
            (None, {**chunk, "choices": [{"index": 0, "delta": {"content": TEXT}}]}),
            (None, {**chunk, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}),
        ]
        if (body.get("stream_options") or {}).get("include_usage"):
            events.append((None, {**chunk, "choices": [], "usage": usage}))

        async def sse() -> AsyncIterator[bytes]:
            for _, data in events:
                yield b"data: " + orjson.dumps(data) + b"\n\n"
            yield b"data: [DONE]\n\n"

        return StreamingResponse(sse(), media_type="text/event-stream")
    return JSONResponse(
        {
            **base,
            "object": "chat.completion",
            "service_tier": "default",
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": TEXT, "refusal": None},
                    "logprobs": None,
                    "finish_reason": "stop",
                }
            ],
            "usage": usage,
        }
    )


async def responses(request: Request) -> Response:
    """The Responses API (what the Vercel AI SDK's ``openai(...)`` and OpenAI Agents use by default)."""
    body = orjson.loads(await request.body())
    model = str(body.get("model"))
    stream = bool(body.get("stream"))
    if model == "gpt-4o-mini" and not stream:
        return _rate_limited()
    answered, call_id, prompt, cached, completion, reasoning = _openai_call(model)
    response_id = "resp_" + call_id.removeprefix("chatcmpl-")
    message = {
        "type": "message",
        "id": "msg_" + call_id.removeprefix("chatcmpl-"),
        "status": "completed",
        "role": "assistant",
        "content": [{"type": "output_text", "text": TEXT, "annotations": []}],
    }
    usage = {
        "input_tokens": prompt,
        "input_tokens_details": {"cached_tokens": cached},
        "output_tokens": completion,
        "output_tokens_details": {"reasoning_tokens": reasoning},
        "total_tokens": prompt + completion,
    }
    done = {
        "id": response_id,
        "object": "response",
        "created_at": CREATED,
        "status": "completed",
        "model": answered,
        "output": [message],
        "service_tier": "default",
        "usage": usage,
    }
    if not stream:
        return JSONResponse(done)
    started = {**done, "status": "in_progress", "output": [], "usage": None}
    item = {**message, "status": "in_progress", "content": []}
    part = {"type": "output_text", "text": "", "annotations": []}
    return _sse(
        [
            ("response.created", {"type": "response.created", "sequence_number": 0, "response": started}),
            ("response.in_progress", {"type": "response.in_progress", "sequence_number": 1, "response": started}),
            (
                "response.output_item.added",
                {"type": "response.output_item.added", "sequence_number": 2, "output_index": 0, "item": item},
            ),
            (
                "response.content_part.added",
                {
                    "type": "response.content_part.added",
                    "sequence_number": 3,
                    "item_id": message["id"],
                    "output_index": 0,
                    "content_index": 0,
                    "part": part,
                },
            ),
            (
                "response.output_text.delta",
                {
                    "type": "response.output_text.delta",
                    "sequence_number": 4,
                    "item_id": message["id"],
                    "output_index": 0,
                    "content_index": 0,
                    "delta": TEXT,
                },
            ),
            (
                "response.output_text.done",
                {
                    "type": "response.output_text.done",
                    "sequence_number": 5,
                    "item_id": message["id"],
                    "output_index": 0,
                    "content_index": 0,
                    "text": TEXT,
                },
            ),
            (
                "response.content_part.done",
                {
                    "type": "response.content_part.done",
                    "sequence_number": 6,
                    "item_id": message["id"],
                    "output_index": 0,
                    "content_index": 0,
                    "part": {**part, "text": TEXT},
                },
            ),
            (
                "response.output_item.done",
                {"type": "response.output_item.done", "sequence_number": 7, "output_index": 0, "item": message},
            ),
            ("response.completed", {"type": "response.completed", "sequence_number": 8, "response": done}),
        ]
    )


async def embeddings(request: Request) -> Response:
    body = orjson.loads(await request.body())
    inputs = body.get("input")
    count = len(inputs) if isinstance(inputs, list) else 1
    return JSONResponse(
        {
            "object": "list",
            "model": body.get("model"),
            "data": [{"object": "embedding", "index": i, "embedding": [0.125 * (i + 1)] * 8} for i in range(count)],
            "usage": {"prompt_tokens": 17, "total_tokens": 17},
        }
    )


async def messages(request: Request) -> Response:
    body = orjson.loads(await request.body())
    model = str(body.get("model"))
    if body.get("stream"):
        message_id = "msg_01StreamXyZ9aBcDeFgHiJkLm"
        start_usage = {
            "input_tokens": 64,
            "cache_creation_input_tokens": 0,
            "cache_read_input_tokens": 4096,
            "cache_creation": {"ephemeral_5m_input_tokens": 0, "ephemeral_1h_input_tokens": 0},
            "output_tokens": 1,
            "service_tier": "standard",
        }
        return _sse(
            [
                (
                    "message_start",
                    {
                        "type": "message_start",
                        "message": {
                            "id": message_id,
                            "type": "message",
                            "role": "assistant",
                            "model": model,
                            "content": [],
                            "stop_reason": None,
                            "stop_sequence": None,
                            "usage": start_usage,
                        },
                    },
                ),
                (
                    "content_block_start",
                    {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
                ),
                (
                    "content_block_delta",
                    {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": TEXT}},
                ),
                ("content_block_stop", {"type": "content_block_stop", "index": 0}),
                (
                    "message_delta",
                    {
                        "type": "message_delta",
                        "delta": {"stop_reason": "end_turn", "stop_sequence": None},
                        "usage": {"output_tokens": 77},
                    },
                ),
                ("message_stop", {"type": "message_stop"}),
            ]
        )
    return JSONResponse(
        {
            "id": "msg_01XFDUDYJgAACzvnptvVoYEL",
            "type": "message",
            "role": "assistant",
            "model": model,
            "content": [{"type": "text", "text": TEXT}],
            "stop_reason": "end_turn",
            "stop_sequence": None,
            "usage": {
                "input_tokens": 128,
                "cache_creation_input_tokens": 2048,
                "cache_read_input_tokens": 4096,
                "cache_creation": {"ephemeral_5m_input_tokens": 2048, "ephemeral_1h_input_tokens": 0},
                "output_tokens": 256,
                "service_tier": "standard",
            },
        }
    )


def create_app() -> Starlette:
    return Starlette(
        routes=[
            Route("/v1/chat/completions", chat_completions, methods=["POST"]),
            Route("/v1/responses", responses, methods=["POST"]),
            Route("/v1/embeddings", embeddings, methods=["POST"]),
            Route("/v1/messages", messages, methods=["POST"]),
        ]
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--port", type=int, default=8900)
    args = parser.parse_args()
    uvicorn.run(create_app(), host="127.0.0.1", port=args.port, log_level="warning")


if __name__ == "__main__":
    main()
