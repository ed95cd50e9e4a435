"""Google's Gemini API (``generativelanguage``, v1beta and v1) on loopback: fixed, distinct usage per call.

    python -m tests.corpus._capture.provider_gemini [--port 8903]

Base URL ``http://127.0.0.1:PORT`` (google-genai: ``HttpOptions(base_url=...)``; any API key). Serves
``POST /v1beta/models/{model}:generateContent`` and ``:streamGenerateContent`` (SSE with ``alt=sse``, a
JSON array without it), and the same under ``/v1/`` (google-genai >= 3 defaults to it). What a request
gets depends on its model and on the method:

| call | model, method | answer (``usageMetadata``) |
|---|---|---|
| G1 | gemini-2.5-flash, generateContent | ``responseId`` gemresp-Ab12Cd34Ef56Gh78: prompt 3000 (cached 2048), |
|    |  | candidates 150, thoughts 400, total 3550 |
| G2 | gemini-2.5-flash, streamGenerateContent | gemresp-St90Uv12Wx34Yz56, 3 chunks, each with usage as the real API |
|    |  | sends it: prompt 812 (cached 512) and thoughts 96 on every chunk, candidates |
|    |  | 5 / 23 / 61 (so far), total 913 / 931 / 969; the last (STOP) has the final counts |
| G3 | gemini-2.5-pro, either | HTTP 429 ``RESOURCE_EXHAUSTED`` (``RetryInfo`` 7s, ``QuotaFailure``) |

Truth (uncached input / cache read / cache write / output / reasoning): G1 952 / 2048 / 0 / 150 / 400;
G2 300 / 512 / 0 / 61 / 96; G3 none. Gemini's ``promptTokenCount`` includes ``cachedContentTokenCount``,
and ``candidatesTokenCount`` excludes ``thoughtsTokenCount`` (both are billed as output). Any other model
answers as G1 does, under its own name.
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

TEXT = "Your order ships tomorrow."
STREAM_TEXT = ("Your order ", "ships ", "tomorrow.")
CREATED = "2026-11-28T10:00:00.000000Z"


def usage(prompt: int, cached: int, candidates: int, thoughts: int) -> dict[str, Any]:
    return {
        "promptTokenCount": prompt,
        "candidatesTokenCount": candidates,
        "totalTokenCount": prompt + candidates + thoughts,
        "cachedContentTokenCount": cached,
        "promptTokensDetails": [{"modality": "TEXT", "tokenCount": prompt}],
        "cacheTokensDetails": [{"modality": "TEXT", "tokenCount": cached}],
        "candidatesTokensDetails": [{"modality": "TEXT", "tokenCount": candidates}],
        "thoughtsTokenCount": thoughts,
    }


def response(model: str, response_id: str, text: str, meta: dict[str, Any], finish: bool) -> dict[str, Any]:
    candidate: dict[str, Any] = {"content": {"parts": [{"text": text}], "role": "model"}, "index": 0}
    if finish:
        candidate["finishReason"] = "STOP"
    return {
        "candidates": [candidate],
        "usageMetadata": meta,
        "modelVersion": model,
        "createTime": CREATED,
        "responseId": response_id,
    }


RESOURCE_EXHAUSTED = {
    "error": {
        "code": 429,
        "message": "You exceeded your current quota, please check your plan and billing details. "
        "Quota exceeded for metric: generativelanguage.googleapis.com/generate_content_paid_tier_input_token_count, "
        "limit: 2000000, model: gemini-2.5-pro. Please retry in 7s.",
        "status": "RESOURCE_EXHAUSTED",
        "details": [
            {
                "@type": "type.googleapis.com/google.rpc.QuotaFailure",
                "violations": [
                    {
                        "quotaMetric": "generativelanguage.googleapis.com/generate_content_paid_tier_input_token_count",
                        "quotaId": "GenerateContentPaidTierInputTokensPerModelPerMinute",
                        "quotaDimensions": {"location": "global", "model": "gemini-2.5-pro"},
                        "quotaValue": "2000000",
                    }
                ],
            },
            {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "7s"},
        ],
    }
}


async def models(request: Request) -> Response:
    model, _, method = request.path_params["target"].partition(":")
    if model == "gemini-2.5-pro":
        return JSONResponse(RESOURCE_EXHAUSTED, status_code=429)
    if method == "generateContent":
        return JSONResponse(response(model, "gemresp-Ab12Cd34Ef56Gh78", TEXT, usage(3000, 2048, 150, 400), True))
    if method != "streamGenerateContent":
        return JSONResponse({"error": {"code": 404, "message": method, "status": "NOT_FOUND"}}, status_code=404)
    chunks = [
        response(model, "gemresp-St90Uv12Wx34Yz56", text, usage(812, 512, candidates, 96), last)
        for text, candidates, last in zip(STREAM_TEXT, (5, 23, 61), (False, False, True), strict=True)
    ]
    if request.query_params.get("alt") != "sse":
        return JSONResponse(chunks)

    async def sse() -> AsyncIterator[bytes]:
        for chunk in chunks:
            yield b"data: " + orjson.dumps(chunk) + b"\r\n\r\n"

    return StreamingResponse(sse(), media_type="text/event-stream")


def create_app() -> Starlette:
    return Starlette(
        routes=[Route(f"/{version}/models/{{target}}", models, methods=["POST"]) for version in ("v1beta", "v1")]
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--port", type=int, default=8903)
    args = parser.parse_args()
    uvicorn.run(create_app(), host="127.0.0.1", port=args.port, log_level="warning")


if __name__ == "__main__":
    main()
