"""The benchmark's parts still work (the benchmark itself runs with `make bench`)."""

from __future__ import annotations

import asyncio

from starlette.testclient import TestClient

from bench.loadgen import run_load
from bench.naive_exporter import create_app
from bench.workload import SPANS_PER_REQUEST, json_template, protobuf_template
from llm_cost_tracker.exporter.aliases import ALIASES
from llm_cost_tracker.exporter.decode import iter_spans_proto
from llm_cost_tracker.exporter.decode_json import iter_spans_json
from tests.conftest import LiveServer, usage_by_model


def test_requests_carry_fresh_ids() -> None:
    for template, decode in ((protobuf_template(), iter_spans_proto), (json_template(), iter_spans_json)):
        first = list(decode(template.render(1), ALIASES))
        second = list(decode(template.render(2), ALIASES))
        assert len(first) == SPANS_PER_REQUEST
        assert {span[6] for span in first if span[6]}.isdisjoint(span[6] for span in second if span[6])


def test_naive_exporter_counts() -> None:
    with TestClient(create_app()) as client:
        body = protobuf_template().render(0)
        response = client.post("/v1/traces", content=body, headers={"Content-Type": "application/x-protobuf"})
        assert response.status_code == 200


def test_load_generator_against_the_exporter(server: LiveServer) -> None:
    template = protobuf_template()
    host, port = server.otlp_url.removeprefix("http://").rsplit(":", 1)
    result = asyncio.run(
        run_load(host, int(port), "/v1/traces", "application/x-protobuf", template.render, 20, connections=4)
    )
    assert result.statuses == {200: 20}
    # 10 copies of the capture per request: 7 calls each (the SDK's duplicate Anthropic spans count once).
    usage = usage_by_model(server.samples())
    assert sum(u.ok + u.error for u in usage.values()) == 20 * 10 * 7
