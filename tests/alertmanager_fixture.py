"""A real Alertmanager (Debian's prometheus-alertmanager) on loopback, configured from deploy/alertmanager.yml."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import yaml

from demo.stack import alertmanager_command, alertmanager_config, free_port, spawn, stop_all
from tests.conftest import need_binary


@dataclass
class Alertmanager:
    url: str

    def post_alert(self, labels: dict[str, str], *, resolved: bool = False) -> None:
        """Send an alert as Prometheus does (firing: ends in the future; resolved: ended now)."""
        now = dt.datetime.now(tz=dt.UTC)
        ends = now - dt.timedelta(seconds=1) if resolved else now + dt.timedelta(hours=1)
        alert = {
            "labels": labels,
            "annotations": {"summary": "test"},
            "startsAt": (now - dt.timedelta(minutes=5)).isoformat(),
            "endsAt": ends.isoformat(),
            "generatorURL": "http://prometheus.test/graph",
        }
        httpx.post(f"{self.url}/api/v2/alerts", json=[alert], timeout=10).raise_for_status()

    def alerts(self) -> list[dict[str, Any]]:
        return list(httpx.get(f"{self.url}/api/v2/alerts", timeout=10).json())


@contextmanager
def alertmanager(tmp_path: Path, webhook_url: str) -> Iterator[Alertmanager]:
    binary = need_binary("prometheus-alertmanager", "alertmanager")
    port = free_port()
    (tmp_path / "alertmanager.yml").write_text(yaml.safe_dump(alertmanager_config(webhook_url, fast=True)))
    url = f"http://127.0.0.1:{port}"
    process = spawn("alertmanager", alertmanager_command(binary, tmp_path, port), tmp_path, f"{url}/-/ready")
    try:
        yield Alertmanager(url)
    finally:
        stop_all([process])
