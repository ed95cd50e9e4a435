"""A stand-in for the OpenAI API on loopback: the provider's HTTP API is what tests may not reach.

Real SDKs (openai, litellm, langchain-openai) talk to it over real HTTP, whatever
transport they use (httpx, httpx2, aiohttp), and every request body is kept so
that tests can see which model the app really asked for.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import orjson
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

USAGE = {
    "prompt_tokens": 1250,
    "completion_tokens": 180,
    "total_tokens": 1430,
    # As the real API sends them (OpenLIT, for one, fails on a usage without the details).
    "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
    "completion_tokens_details": {
        "reasoning_tokens": 0,
        "audio_tokens": 0,
        "accepted_prediction_tokens": 0,
        "rejected_prediction_tokens": 0,
    },
}


@dataclass
class FakeProvider:
    url: str = ""
    requests: list[dict[str, Any]] = field(default_factory=list)
    received: list[float] = field(default_factory=list)
    """``time.time()`` at which each request arrived."""

    @property
    def models(self) -> list[str]:
        return [str(r.get("model")) for r in self.requests]


def _app(provider: FakeProvider) -> Starlette:
    async def chat(request: Request) -> Response:
        body = orjson.loads(await request.body())
        provider.requests.append(body)
        provider.received.append(time.time())
        model = body.get("model", "unknown")
        if body.get("stream"):

            async def chunks() -> Any:
                base = {"id": "chatcmpl-fake", "object": "chat.completion.chunk", "created": 1, "model": model}
                first = {**base, "choices": [{"index": 0, "delta": {"role": "assistant", "content": "ok"}}]}
                yield b"data: " + orjson.dumps(first) + b"\n\n"
                last = {**base, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}
                yield b"data: " + orjson.dumps(last) + b"\n\n"
                yield b"data: " + orjson.dumps({**base, "choices": [], "usage": USAGE}) + b"\n\n"
                yield b"data: [DONE]\n\n"

            return StreamingResponse(chunks(), media_type="text/event-stream")
        return JSONResponse(
            {
                "id": f"chatcmpl-fake-{len(provider.requests)}",
                "object": "chat.completion",
                "created": int(time.time()),
                "model": model,
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": f"answered by {model}"},
                        "finish_reason": "stop",
                    }
                ],
                "usage": USAGE,
            }
        )

    async def embeddings(request: Request) -> Response:
        body = orjson.loads(await request.body())
        provider.requests.append(body)
        provider.received.append(time.time())
        inputs = body.get("input")
        count = len(inputs) if isinstance(inputs, list) else 1
        return JSONResponse(
            {
                "object": "list",
                "model": body.get("model"),
                "data": [{"object": "embedding", "index": i, "embedding": [0.0] * 8} for i in range(count)],
                "usage": {"prompt_tokens": 17, "total_tokens": 17},
            }
        )

    async def responses(request: Request) -> Response:
        """The Responses API, what the Vercel AI SDK's ``openai(model)`` calls; not streamed."""
        body = orjson.loads(await request.body())
        provider.requests.append(body)
        provider.received.append(time.time())
        model = body.get("model", "unknown")
        return JSONResponse(
            {
                "id": f"resp_fake{len(provider.requests)}",
                "object": "response",
                "created_at": int(time.time()),
                "status": "completed",
                "model": model,
                "output": [
                    {
                        "type": "message",
                        "id": f"msg_fake{len(provider.requests)}",
                        "status": "completed",
                        "role": "assistant",
                        "content": [{"type": "output_text", "text": f"answered by {model}", "annotations": []}],
                    }
                ],
                "usage": {
                    "input_tokens": USAGE["prompt_tokens"],
                    "input_tokens_details": {"cached_tokens": 0},
                    "output_tokens": USAGE["completion_tokens"],
                    "output_tokens_details": {"reasoning_tokens": 0},
                    "total_tokens": USAGE["total_tokens"],
                },
            }
        )

    routes = []
    for prefix in ("", "/v1"):
        routes += [
            Route(f"{prefix}/chat/completions", chat, methods=["POST"]),
            Route(f"{prefix}/responses", responses, methods=["POST"]),
            Route(f"{prefix}/embeddings", embeddings, methods=["POST"]),
        ]
    return Starlette(routes=routes)


@contextmanager
def fake_openai() -> Iterator[FakeProvider]:
    provider = FakeProvider()
    config = uvicorn.Config(_app(provider), host="127.0.0.1", port=0, log_level="warning", lifespan="off")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=lambda: asyncio.run(server.serve()), daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline:
            raise RuntimeError("fake provider did not start")
        time.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    provider.url = f"http://127.0.0.1:{port}/v1"
    try:
        yield provider
    finally:
        server.should_exit = True
        thread.join(10)
