"""`serve` as a process: listeners, readiness, reload on SIGHUP and /-/reload, bind errors."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from demo.stack import free_port
from tests.conftest import CORPUS, run_cli, sample_value, usage_by_model, wait_until
from tests.test_otlp_http import PROTOBUF

TRACES = (CORPUS / "traceloop" / "traces-0001.pb").read_bytes()


class Process:
    def __init__(self, config: Path, otlp: int, web: int) -> None:
        self.config = config
        self.otlp = f"http://127.0.0.1:{otlp}"
        self.web = f"http://127.0.0.1:{web}"
        self.log = (config.parent / "serve.log").open("w")
        self.popen = subprocess.Popen(
            [sys.executable, "-m", "llm_cost_tracker", "serve", "--config", str(config)],
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )

    def ready(self) -> bool:
        try:
            return httpx.get(f"{self.web}/-/ready", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    def samples(self) -> list[tuple[str, dict[str, str], float]]:
        from prometheus_client.parser import text_string_to_metric_families

        text = httpx.get(f"{self.web}/metrics", timeout=5).text
        return [(s.name, dict(s.labels), s.value) for f in text_string_to_metric_families(text) for s in f.samples]


def write_config(path: Path, otlp: int, web: int, extra: str = "") -> None:
    path.write_text(
        f"version: llm-cost-tracker/v1\notlp: {{listen_address: 127.0.0.1:{otlp}}}\n"
        f"web: {{listen_address: 127.0.0.1:{web}}}\n{extra}"
    )


@pytest.fixture
def process(tmp_path: Path) -> Iterator[Process]:
    otlp, web = free_port(), free_port()
    config = tmp_path / "config.yaml"
    write_config(config, otlp, web)
    proc = Process(config, otlp, web)
    try:
        wait_until(proc.ready, timeout=30)
        yield proc
    finally:
        proc.popen.terminate()
        proc.popen.wait(10)
        proc.log.close()


def test_serves_both_ports_and_stops_cleanly_on_sigterm(process: Process) -> None:
    assert httpx.get(f"{process.web}/-/healthy").text == "LLM Cost Tracker is Healthy.\n"
    response = httpx.post(f"{process.otlp}/v1/traces", content=TRACES, headers={"Content-Type": PROTOBUF})
    assert response.status_code == 200
    assert "claude-3-5-sonnet-20241022" in usage_by_model(process.samples())
    build = [labels for name, labels, _ in process.samples() if name == "llm_cost_tracker_build_info"]
    assert build[0]["protobuf_backend"] == "upb"  # the pure-Python backend is 30x slower
    process.popen.send_signal(signal.SIGTERM)
    assert process.popen.wait(10) == 0
    process.log.flush()
    log = (process.config.parent / "serve.log").read_text()
    for line in ("Started server process", "Shutting down", "Finished server process"):
        assert log.count(line) == 1, log  # two servers, one line each


def test_sighup_and_reload_endpoint_keep_the_counters(process: Process) -> None:
    httpx.post(f"{process.otlp}/v1/traces", content=TRACES, headers={"Content-Type": PROTOBUF})
    before = usage_by_model(process.samples())

    # A new label mapping takes effect on SIGHUP; what was counted stays.
    port_otlp, port_web = process.otlp.rsplit(":", 1)[1], process.web.rsplit(":", 1)[1]
    write_config(
        process.config,
        int(port_otlp),
        int(port_web),
        "labels: {project: {from: [resource:tenant.project], default: none}}\n",
    )
    os.kill(process.popen.pid, signal.SIGHUP)
    wait_until(lambda: sample_value(process.samples(), "llm_cost_tracker_config_last_reload_successful") == 1)
    time.sleep(0.2)
    httpx.post(f"{process.otlp}/v1/traces", content=TRACES, headers={"Content-Type": PROTOBUF})
    samples = process.samples()
    assert sample_value(samples, "llm_requests_total", project="checkout-assistant", outcome="ok") == sum(
        u.ok for u in before.values()
    )
    # The second post repeats the same spans: counted once, so nothing moved to the new project label.
    assert sample_value(samples, "llm_requests_total", project="checkout") == 0

    # A broken config is refused; the old one keeps running.
    process.config.write_text("version: llm-cost-tracker/v1\nweb: {nope: 1}\n")
    response = httpx.post(f"{process.web}/-/reload")
    assert response.status_code == 500
    assert "web.nope: unknown key" in response.text
    assert sample_value(process.samples(), "llm_cost_tracker_config_last_reload_successful") == 0
    assert process.ready()


def test_address_in_use_is_a_clear_error(process: Process, tmp_path: Path) -> None:
    config = tmp_path / "second.yaml"
    write_config(config, int(process.otlp.rsplit(":", 1)[1]), free_port())
    result = run_cli("serve", "--config", str(config))
    assert result.returncode == 1
    address = process.otlp.removeprefix("http://")
    assert f"cannot listen on {address} (otlp.listen_address, --otlp.listen-address)" in result.stderr
    assert "in use" in result.stderr
    assert "never awaited" not in result.stderr


def test_one_address_for_both_listeners_is_refused_up_front() -> None:
    port = free_port()
    result = run_cli("serve", "--otlp.listen-address", f"127.0.0.1:{port}", "--web.listen-address", f"127.0.0.1:{port}")
    assert result.returncode == 1
    assert f"otlp.listen_address and web.listen_address are both 127.0.0.1:{port}" in result.stderr
