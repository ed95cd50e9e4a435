"""Every corpus folder, posted to a live exporter as protobuf, OTLP/JSON and gzip.

The numbers come from ``corpus_truth.py``; each assertion is exact (tokens)
or to a millionth of a cent (cost).
"""

from __future__ import annotations

import gzip
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import CORPUS, LiveServer, usage_by_model
from tests.corpus_truth import METRICS, SPANS, Expect

PROTOBUF = "application/x-protobuf"
JSON = "application/json"


Body = tuple[bytes, str, dict[str, str]]


def bodies(folder: str, signal: str) -> dict[str, list[Body]]:
    """The folder's ``signal`` payloads (in the order they were sent) in every encoding they can be sent in."""
    path = CORPUS / folder
    out: dict[str, list[Body]] = {}
    for pb in sorted(path.glob(f"{signal}-*.pb")):
        raw = pb.read_bytes()
        out.setdefault("protobuf", []).append((raw, PROTOBUF, {}))
        wire = pb.with_suffix(".pb.gz")
        gzipped = wire.read_bytes() if wire.exists() else gzip.compress(raw)
        out.setdefault("gzip", []).append((gzipped, PROTOBUF, {"Content-Encoding": "gzip"}))
        rendered = pb.with_suffix(".otlp.json")
        if rendered.exists():
            out.setdefault("json", []).append((rendered.read_bytes(), JSON, {}))
    for js in sorted(path.glob(f"{signal}-*.json")):
        if not js.name.endswith(".otlp.json"):
            out.setdefault("json-exporter", []).append((js.read_bytes(), JSON, {}))
    return out


def cases(table: dict[str, dict[str, Expect]], signal: str) -> list[tuple[str, str]]:
    return [(folder, encoding) for folder in sorted(table) for encoding in sorted(bodies(folder, signal))]


def assert_usage(server: LiveServer, expected: dict[str, Expect]) -> None:
    usage = usage_by_model(server.samples())
    assert sorted(usage) == sorted(expected)
    for model, expect in expected.items():
        got = usage[model]
        assert got.tokens == expect.tokens, model
        assert got.cost == pytest.approx(expect.cost, rel=1e-9, abs=1e-12), model
        assert (got.ok, got.error) == (expect.ok, expect.error), model


@pytest.mark.parametrize(("folder", "encoding"), cases(SPANS, "traces"))
def test_spans_give_the_truth(start_server: Callable[..., LiveServer], folder: str, encoding: str) -> None:
    server = start_server()
    for body, content_type, headers in bodies(folder, "traces")[encoding]:
        response = server.post("/v1/traces", body, content_type, **headers)
        assert response.status_code == 200
        assert response.headers["content-type"] == content_type
    assert_usage(server, SPANS[folder])


@pytest.mark.parametrize(("folder", "encoding"), cases(METRICS, "metrics"))
def test_metrics_give_what_the_source_reports(
    start_server: Callable[..., LiveServer], folder: str, encoding: str
) -> None:
    # The captures are older than this exporter, so their first cumulative point must be kept.
    server = start_server(ingest={"usage_from": "metrics", "cumulative_initial_value": "keep"})
    for body, content_type, headers in bodies(folder, "metrics")[encoding]:
        assert server.post("/v1/metrics", body, content_type, **headers).status_code == 200
    assert_usage(server, METRICS[folder])


@pytest.mark.parametrize("folder", sorted(SPANS))
def test_spans_and_metrics_of_one_app_count_once(start_server: Callable[..., LiveServer], folder: str) -> None:
    """Apps send both signals; by default spans count and metric points are ignored."""
    server = start_server()
    for signal, path in (("traces", "/v1/traces"), ("metrics", "/v1/metrics"), ("logs", "/v1/logs")):
        for payloads in bodies(folder, signal).values():
            for body, content_type, headers in payloads:
                assert server.post(path, body, content_type, **headers).status_code == 200
    # Every encoding of the same spans was sent: each call still counts once.
    assert_usage(server, SPANS[folder])


def test_every_corpus_folder_is_covered() -> None:
    folders = {p.name for p in Path(CORPUS).iterdir() if p.is_dir() and not p.name.startswith("_")}
    assert folders == set(SPANS)
