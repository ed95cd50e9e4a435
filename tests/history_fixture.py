"""A real Prometheus holding history that never ran live: backfilled with promtool, as users backfill.

The exporter's counters are written as OpenMetrics and turned into blocks (``promtool tsdb
create-blocks-from openmetrics``); the spend rules are then evaluated over them by ``promtool tsdb
create-blocks-from rules`` against the running Prometheus, and their blocks moved in. What reports and
reconcile read is then exactly what a Prometheus that had run the rules all along would hold.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from pathlib import Path

import httpx

from demo.stack import free_port, spawn, stop_all
from llm_cost_tracker.rules.generator import Resolution, spend_rules
from llm_cost_tracker.rules.model import RuleGroup
from llm_cost_tracker.rules.render import prometheus_rules

Series = tuple[str, Mapping[str, str], Sequence[tuple[float, float]]]
"""Metric name (with ``_total``), labels, ``(unix seconds, value)`` samples in time order."""


def openmetrics(series: Iterable[Series]) -> str:
    """The OpenMetrics text of counters (``*_total``) and gauges with timestamped samples, family by family."""
    families: dict[str, list[str]] = {}
    for name, labels, samples in series:
        label_text = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
        lines = families.setdefault(name, [])
        lines += [f"{name}{{{label_text}}} {value!r} {stamp:.3f}" for stamp, value in samples]
    out = []
    for name, lines in families.items():
        kind = "counter" if name.endswith("_total") else "gauge"
        out += [f"# TYPE {name.removesuffix('_total')} {kind}", *lines]
    return "\n".join([*out, "# EOF"]) + "\n"


class BackfilledPrometheus:
    """``promtool`` and ``prometheus`` binaries, a work directory, and the history to hold."""

    def __init__(self, workdir: Path, promtool: str, prometheus: str) -> None:
        self.workdir = workdir
        self.promtool = promtool
        self.binary = prometheus
        self.data = workdir / "data"
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None
        self.rule_blocks: list[str] = []
        """The blocks a rule backfill added to the data directory."""

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _run(self, *argv: str) -> None:
        result = subprocess.run(
            [self.promtool, *argv], cwd=self.workdir, capture_output=True, text=True, timeout=600, check=False
        )
        assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]

    def start(self) -> None:
        (self.workdir / "prometheus.yml").write_text("global: {scrape_interval: 1m}\n")
        argv = [
            self.binary,
            f"--config.file={self.workdir / 'prometheus.yml'}",
            f"--storage.tsdb.path={self.data}",
            "--storage.tsdb.retention.time=100y",  # history from any date stays
            f"--web.listen-address=127.0.0.1:{self.port}",
            "--log.level=warn",
        ]
        self.process = spawn("prometheus", argv, self.workdir, f"{self.url}/-/ready")

    def stop(self) -> None:
        if self.process is not None:
            stop_all([self.process])
            self.process = None

    def load_counters(self, series: Iterable[Series]) -> None:
        """The exporter's counters, as blocks; Prometheus must not be running (it is started after).

        One input file per UTC day: promtool 2.42 reads its whole input once per 2-hour block it writes,
        so a month in one file takes a minute, and a file a day a few seconds."""
        by_day: dict[int, list[Series]] = {}
        for name, labels, samples in series:
            days: dict[int, list[tuple[float, float]]] = {}
            for stamp, value in samples:
                days.setdefault(int(stamp // 86400), []).append((stamp, value))
            for day, part in days.items():
                by_day.setdefault(day, []).append((name, labels, part))
        for day, parts in sorted(by_day.items()):
            source = self.workdir / f"counters-{day}.om.txt"
            source.write_text(openmetrics(parts))
            self._run("tsdb", "create-blocks-from", "openmetrics", "--quiet", str(source), str(self.data))
            source.unlink()

    def backfill_rules(
        self, start: datetime, end: datetime, resolution: Resolution, groups: Sequence[RuleGroup] | None = None
    ) -> None:
        """Evaluate the spend rules (or ``groups``) over ``[start, end]`` every ``resolution`` interval, then restart
        Prometheus on the result. Rules that read other rules' output cannot be backfilled this way (promtool)."""
        rules = self.workdir / "backfill.rules.yaml"
        rules.write_text(
            prometheus_rules(groups or [RuleGroup("spend", list(spend_rules(resolution)), resolution.interval)], "x")
        )
        output = self.workdir / "rule-blocks"
        self._run(
            "tsdb",
            "create-blocks-from",
            "rules",
            f"--start={int(start.timestamp())}",
            f"--end={int(end.timestamp())}",
            f"--url={self.url}",
            f"--eval-interval={resolution.interval}",
            f"--output-dir={output}",
            str(rules),
        )
        self.stop()
        for block in output.iterdir():
            if block.is_dir():
                shutil.move(str(block), self.data / block.name)
                self.rule_blocks.append(block.name)
        self.start()

    def drop_rule_blocks(self) -> None:
        """Forget a rule backfill: restart on the counters' blocks alone."""
        self.stop()
        for name in self.rule_blocks:
            shutil.rmtree(self.data / name, ignore_errors=True)
        self.rule_blocks = []
        shutil.rmtree(self.workdir / "rule-blocks", ignore_errors=True)
        self.start()

    def query(self, promql: str, at: float) -> list[dict[str, object]]:
        body = httpx.get(f"{self.url}/api/v1/query", params={"query": promql, "time": at}, timeout=30).json()
        assert body["status"] == "success", body
        result: list[dict[str, object]] = body["data"]["result"]
        return result
