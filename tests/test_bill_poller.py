"""``serve`` polling the providers' bills into gauges: values, the day they are of, failures, bounds."""

from __future__ import annotations

import logging
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from demo.stack import free_port
from tests.billing_server import ANTHROPIC_KEY, OPENAI_KEY, Bill, billing_server
from tests.clock import TestClock
from tests.conftest import LiveServer, make_config, sample_value


@pytest.fixture
def bill() -> Iterator[tuple[Bill, str]]:
    served = Bill()
    with billing_server(served) as url:
        yield served, url


def _reconcile(tmp_path: Path, url: str, **extra: Any) -> dict[str, Any]:
    (tmp_path / "openai.key").write_text(OPENAI_KEY)
    (tmp_path / "anthropic.key").write_text(ANTHROPIC_KEY)
    return {
        "providers": [
            {
                "provider": "openai",
                "admin_key_file": str(tmp_path / "openai.key"),
                "base_url": url,
                "projects": {"proj_checkout": "checkout"},
            },
            {"provider": "anthropic", "admin_key_file": str(tmp_path / "anthropic.key"), "base_url": url},
        ],
        **extra,
    }


def test_the_last_complete_day_is_served_as_gauges(
    start_server: Callable[..., LiveServer], clock: TestClock, bill: tuple[Bill, str], tmp_path: Path
) -> None:
    served, url = bill
    yesterday = datetime.fromtimestamp(clock(), UTC).date() - timedelta(days=1)
    served.costs[("openai", "proj_checkout", yesterday, "")] = Decimal("41.07")
    served.costs[("openai", None, yesterday, "")] = Decimal("0.5")
    served.costs[("anthropic", "wrkspc_1", yesterday, "claude-sonnet-4-5")] = Decimal("12.3456")
    served.costs[("openai", "proj_checkout", yesterday - timedelta(days=1), "")] = Decimal("999")  # not yesterday
    served.tokens[("openai", "proj_checkout", yesterday, "gpt-4o")] = {
        "input": 1000,
        "cache_read": 200,
        "output": 50,
        "requests": 3,
    }
    server = start_server(reconcile=_reconcile(tmp_path, url))
    samples = server.samples()
    assert sample_value(samples, "llm_provider_billing_polls_total", provider="openai", outcome="success") == 0
    server.service.bills.poll_once()
    samples = server.samples()
    assert sample_value(samples, "llm_provider_billed_usd", provider="openai", project="checkout") == 41.07
    assert sample_value(samples, "llm_provider_billed_usd", provider="openai", project="default") == 0.5
    assert sample_value(samples, "llm_provider_billed_usd", provider="anthropic", project="wrkspc_1") == 12.3456
    midnight = datetime(yesterday.year, yesterday.month, yesterday.day, tzinfo=UTC).timestamp()
    assert sample_value(samples, "llm_provider_billed_day_timestamp_seconds", provider="openai") == midnight
    assert sample_value(samples, "llm_provider_billed_day_timestamp_seconds", provider="anthropic") == midnight
    tokens = {
        labels["token_type"]: value
        for name, labels, value in samples
        if name == "llm_provider_usage_tokens" and labels["provider"] == "openai"
    }
    assert tokens == {"input": 1000, "cache_read": 200, "cache_write": 0, "output": 50}
    assert sample_value(samples, "llm_provider_billing_polls_total", provider="openai", outcome="success") == 1
    assert sample_value(samples, "llm_provider_billing_last_success_timestamp_seconds", provider="openai") > 0


def test_a_failed_poll_keeps_the_last_figures_and_logs_no_key(
    start_server: Callable[..., LiveServer],
    clock: TestClock,
    bill: tuple[Bill, str],
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    served, url = bill
    yesterday = datetime.fromtimestamp(clock(), UTC).date() - timedelta(days=1)
    served.costs[("openai", "proj_checkout", yesterday, "")] = Decimal("41.07")
    server = start_server(reconcile=_reconcile(tmp_path, url))
    server.service.bills.poll_once()
    (tmp_path / "openai.key").write_text("sk-admin-revoked")
    with caplog.at_level(logging.WARNING, logger="llm_cost_tracker.billing"):
        server.service.bills.poll_once()
    samples = server.samples()
    assert sample_value(samples, "llm_provider_billed_usd", provider="openai", project="checkout") == 41.07
    assert sample_value(samples, "llm_provider_billing_polls_total", provider="openai", outcome="error") == 1
    assert sample_value(samples, "llm_provider_billing_polls_total", provider="anthropic", outcome="success") == 2
    assert "reading the openai bill failed, keeping the last figures" in caplog.text
    assert "answered 401" in caplog.text
    assert "sk-admin-revoked" not in caplog.text


def test_models_past_the_cap_are_summed_as_other(
    start_server: Callable[..., LiveServer], clock: TestClock, bill: tuple[Bill, str], tmp_path: Path
) -> None:
    served, url = bill
    yesterday = datetime.fromtimestamp(clock(), UTC).date() - timedelta(days=1)
    for n in range(5):
        counts = {"input": 10, "cache_read": 0, "output": 1, "requests": 1}
        served.tokens[("openai", "proj_checkout", yesterday, f"ft:gpt-4o:acme:{n}")] = counts
    server = start_server(reconcile=_reconcile(tmp_path, url, max_models=2))
    server.service.bills.poll_once()
    models = {
        labels["model"]
        for name, labels, _ in server.samples()
        if name == "llm_provider_usage_tokens" and labels["provider"] == "openai"
    }
    assert models == {"ft:gpt-4o:acme:0", "ft:gpt-4o:acme:1", "other"}


def test_poll_interval_below_a_minute_is_refused() -> None:
    with pytest.raises(ValueError, match="at least 60"):
        make_config(
            reconcile={"providers": [{"provider": "openai", "admin_key_file": "k"}], "poll_interval_seconds": 5}
        )


def test_serve_polls_at_start(bill: tuple[Bill, str], tmp_path: Path) -> None:
    """The real ``serve`` process reads the bills as it starts (and then hourly)."""
    served, url = bill
    served.every_day[("openai", "proj_checkout", "")] = Decimal("7.25")
    config = make_config(reconcile=_reconcile(tmp_path, url))
    web = free_port()
    path = tmp_path / "config.yaml"
    data = config.model_dump(mode="json", by_alias=True, exclude_defaults=True)
    data["web"] = {"listen_address": f"127.0.0.1:{web}"}
    path.write_text(yaml.safe_dump(data))
    process = subprocess.Popen(
        [sys.executable, "-m", "llm_cost_tracker", "serve", "--config", str(path)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )

    def billed() -> float:
        try:
            text = httpx.get(f"http://127.0.0.1:{web}/metrics", timeout=2).text
        except httpx.HTTPError:
            return 0.0
        samples = [(s.name, dict(s.labels), s.value) for f in text_string_to_metric_families(text) for s in f.samples]
        return sample_value(samples, "llm_provider_billed_usd", provider="openai", project="checkout")

    try:
        deadline = time.monotonic() + 30
        while billed() != 7.25 and time.monotonic() < deadline:
            time.sleep(0.2)
        # Whatever day the process's clock says is yesterday: the stand-in bills every day the same.
        assert billed() == 7.25
    finally:
        process.terminate()
        process.wait(30)
