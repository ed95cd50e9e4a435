"""The baseline: the straightforward exporter anyone would write first.

opentelemetry-proto's ``ExportTraceServiceRequest``, every attribute of every
span into a dict, and ``Counter.labels(...).inc()`` per span and token type,
served by the same uvicorn/starlette stack as the real exporter. Prices are
looked up once per model (a naive exporter that searched the catalog per span
would be far slower still).

Run: ``python -m bench.naive_exporter PORT``.
"""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from typing import Any

import uvicorn
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from prometheus_client import CollectorRegistry, Counter, Histogram
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from llm_cost_tracker.pricing import catalog

LABELS = ("org", "project", "provider", "model", "operation")


def value_of(any_value: Any) -> Any:
    kind = any_value.WhichOneof("value")
    return getattr(any_value, kind) if kind else None


def create_app() -> Starlette:
    registry = CollectorRegistry()
    cost = Counter("llm_cost_usd", "cost", LABELS, registry=registry)
    tokens = Counter("llm_tokens", "tokens", (*LABELS, "token_type"), registry=registry)
    requests = Counter("llm_requests", "requests", (*LABELS, "outcome"), registry=registry)
    duration = Histogram("llm_request_duration_seconds", "duration", LABELS, registry=registry)
    prices: dict[tuple[str, str], Any] = {}
    now = datetime.now(tz=UTC)

    async def traces(request: Request) -> Response:
        message = ExportTraceServiceRequest()
        message.ParseFromString(await request.body())
        for resource_spans in message.resource_spans:
            resource = {kv.key: value_of(kv.value) for kv in resource_spans.resource.attributes}
            project = str(resource.get("service.name", "unknown"))
            for scope_spans in resource_spans.scope_spans:
                for span in scope_spans.spans:
                    attrs = {kv.key: value_of(kv.value) for kv in span.attributes}
                    model = attrs.get("gen_ai.request.model") or attrs.get("gen_ai.response.model")
                    if not model:
                        continue
                    provider = str(attrs.get("gen_ai.provider.name") or attrs.get("gen_ai.system") or "")
                    operation = str(attrs.get("gen_ai.operation.name", "unknown"))
                    labels = ("default", project, provider, str(model), operation)
                    inp = int(attrs.get("gen_ai.usage.input_tokens", 0))
                    out = int(attrs.get("gen_ai.usage.output_tokens", 0))
                    cache_read = int(attrs.get("gen_ai.usage.cache_read.input_tokens", 0))
                    counts = {"input": max(inp - cache_read, 0), "cache_read": cache_read, "output": out}
                    key = (provider, str(attrs.get("gen_ai.response.model", model)))
                    if key not in prices:
                        prices[key] = catalog.lookup(key[0], key[1], now)
                    price = prices[key]
                    if price is not None:
                        per_token = price.usd_per_token()
                        cost.labels(*labels).inc(sum(n * per_token[t] for t, n in counts.items()))
                    for token_type, count in counts.items():
                        tokens.labels(*labels, token_type).inc(count)
                    requests.labels(*labels, "error" if span.status.code == 2 else "ok").inc()
                    duration.labels(*labels).observe((span.end_time_unix_nano - span.start_time_unix_nano) / 1e9)
        return Response(ExportTraceServiceResponse().SerializeToString(), media_type="application/x-protobuf")

    return Starlette(routes=[Route("/v1/traces", traces, methods=["POST"])])


if __name__ == "__main__":
    uvicorn.run(
        create_app(),
        host="127.0.0.1",
        port=int(sys.argv[1]),
        log_level="warning",
        access_log=False,
        loop="uvloop",
        http="httptools",
    )
