"""Exemplars: with ``web.exemplars``, OpenMetrics scrapes carry a recent expensive call's trace and span id on
``llm_cost_usd_total``, which a real Prometheus (``--enable-feature=exemplar-storage``) stores and returns."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from pathlib import Path

import httpx
from prometheus_client.openmetrics.parser import text_string_to_metric_families

from demo.stack import free_port, spawn, stop_all
from llm_cost_tracker.exporter.ledger import UsageLedger
from tests.conftest import LiveServer, need_binary

OPENMETRICS = "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75"


def _span(trace_id: str, span_id: str, input_tokens: int) -> bytes:
    attributes = [
        {"key": "gen_ai.system", "value": {"stringValue": "openai"}},
        {"key": "gen_ai.request.model", "value": {"stringValue": "gpt-4o"}},
        {"key": "gen_ai.usage.input_tokens", "value": {"intValue": str(input_tokens)}},
        {"key": "gen_ai.usage.output_tokens", "value": {"intValue": "100"}},
    ]
    span = {
        "traceId": trace_id,
        "spanId": span_id,
        "name": "chat gpt-4o",
        "kind": 3,
        "startTimeUnixNano": str(time.time_ns() - 10**9),
        "endTimeUnixNano": str(time.time_ns()),
        "attributes": attributes,
    }
    resource = {"attributes": [{"key": "service.name", "value": {"stringValue": "checkout"}}]}
    return json.dumps({"resourceSpans": [{"resource": resource, "scopeSpans": [{"spans": [span]}]}]}).encode()


def _ids() -> tuple[str, str]:
    return os.urandom(16).hex(), os.urandom(8).hex()


def test_openmetrics_scrapes_carry_the_most_expensive_recent_call(start_server: Callable[..., LiveServer]) -> None:
    server = start_server(web={"exemplars": True})
    cheap, dear, cheaper = _ids(), _ids(), _ids()
    for ids, tokens in ((cheap, 1000), (dear, 50_000), (cheaper, 10)):
        assert server.post("/v1/traces", _span(*ids, tokens), "application/json").status_code == 200
    response = httpx.get(f"{server.web_url}/metrics", headers={"Accept": OPENMETRICS}, timeout=10)
    assert response.headers["content-type"].startswith("application/openmetrics-text; version=1.0.0")
    assert response.text.endswith("# EOF\n")
    families = {f.name: f for f in text_string_to_metric_families(response.text)}  # a strict OpenMetrics parser
    (sample,) = [s for s in families["llm_cost_usd"].samples if s.name == "llm_cost_usd_total"]
    assert sample.exemplar is not None
    assert sample.exemplar.labels == {"trace_id": dear[0], "span_id": dear[1]}  # the dearest, not the latest
    assert 0 < sample.exemplar.value < sample.value
    assert "llm_cost_tracker_build" in families  # the self-metrics too (an info metric, in OpenMetrics terms)
    classic = httpx.get(f"{server.web_url}/metrics", timeout=10)
    assert classic.headers["content-type"].startswith("text/plain")
    assert " # {" not in classic.text


def test_without_the_option_openmetrics_is_not_served(server: LiveServer) -> None:
    assert server.post("/v1/traces", _span(*_ids(), 1000), "application/json").status_code == 200
    response = httpx.get(f"{server.web_url}/metrics", headers={"Accept": OPENMETRICS}, timeout=10)
    assert response.headers["content-type"].startswith("text/plain")


def test_an_exemplar_gives_way_to_a_cheaper_call_after_five_minutes() -> None:
    now = [1000.0]
    ledger = UsageLedger(clock=lambda: now[0])
    ledger.exemplars = True
    key = ("acme", "checkout", "openai", "gpt-4o", "chat")
    first, second, third = (bytes([n]) * 24 for n in (1, 2, 3))
    with ledger.lock:
        ledger.add(key, (1, 0, 0, 1, 0), 500)
        ledger.note_exemplar(key, first, 500)
        ledger.note_exemplar(key, second, 100)  # cheaper, within the window: kept the first
    snapshot = ledger.snapshot()
    assert snapshot.exemplars is not None
    assert list(snapshot.exemplars.values()) == [(first, 500, 1000.0)]
    now[0] += 301
    with ledger.lock:
        ledger.note_exemplar(key, third, 100)
        ledger.note_exemplar(key, b"\0" * 24, 900)  # no trace id: not an exemplar
    snapshot = ledger.snapshot()
    assert snapshot.exemplars is not None
    assert list(snapshot.exemplars.values()) == [(third, 100, 1301.0)]


def test_prometheus_stores_the_exemplars(start_server: Callable[..., LiveServer], tmp_path: Path) -> None:
    binary = need_binary("prometheus")
    server = start_server(web={"exemplars": True, "new_series_hold_seconds": 1})
    trace_id, span_id = _ids()
    assert server.post("/v1/traces", _span(trace_id, span_id, 2000), "application/json").status_code == 200
    target = server.web_url.removeprefix("http://")
    (tmp_path / "prometheus.yml").write_text(
        "global: {scrape_interval: 1s}\n"
        f"scrape_configs: [{{job_name: llm, static_configs: [{{targets: ['{target}']}}]}}]\n"
    )
    port = free_port()
    argv = [
        binary,
        f"--config.file={tmp_path / 'prometheus.yml'}",
        f"--storage.tsdb.path={tmp_path / 'data'}",
        f"--web.listen-address=127.0.0.1:{port}",
        "--enable-feature=exemplar-storage",
    ]
    process = spawn("prometheus", argv, tmp_path, f"http://127.0.0.1:{port}/-/ready")
    try:
        deadline, found = time.monotonic() + 40, []
        while time.monotonic() < deadline and not found:
            time.sleep(0.5)
            body = httpx.get(
                f"http://127.0.0.1:{port}/api/v1/query_exemplars",
                params={"query": "llm_cost_usd_total", "start": time.time() - 120, "end": time.time() + 5},
                timeout=10,
            ).json()
            assert body["status"] == "success", body
            found = [e for series in body["data"] for e in series["exemplars"]]
        assert found, (tmp_path / "prometheus.log").read_text()[-2000:]
        assert found[0]["labels"] == {"trace_id": trace_id, "span_id": span_id}
        assert float(found[0]["value"]) > 0
    finally:
        stop_all([process])
