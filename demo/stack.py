"""The stack of docker-compose.yml, run from the machine's own binaries: `make demo` and the end-to-end test.

Configurations come from ``deploy/`` (the very files docker-compose mounts), with the compose service
names (``exporter:9464``, ``alertmanager:9093``) replaced by loopback addresses, and paths by a
working directory. Prometheus and Alertmanager are Debian's ``prometheus`` and
``prometheus-alertmanager`` packages (or any ``prometheus``/``alertmanager`` on PATH).
"""

from __future__ import annotations

import contextlib
import random
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import yaml

ROOT = Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "deploy"
BINARIES = {
    "prometheus": ("prometheus",),
    "alertmanager": ("prometheus-alertmanager", "alertmanager"),
}
INSTALL_HINT = "install them with: sudo apt-get install prometheus prometheus-alertmanager (Debian, Ubuntu)"


class StackError(RuntimeError):
    """A part of the stack is missing or did not start."""


def find_binary(kind: str) -> str | None:
    """The path of ``prometheus`` or ``alertmanager`` on this machine, if any."""
    for name in BINARIES[kind]:
        found = shutil.which(name) or (f"/usr/bin/{name}" if Path(f"/usr/bin/{name}").exists() else None)
        if found:
            return found
    return None


def _ephemeral_ports() -> tuple[int, int]:
    try:
        low, high = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()
        return int(low), int(high)
    except (OSError, ValueError):
        return 32768, 60999


def free_port() -> int:
    """A free port on loopback, below the ephemeral range when there is room.

    A port the kernel hands out for ``bind(0)`` is also one it may hand to the next outgoing
    connection (a scrape, a client) before the process meant to listen on it has started.
    """
    low, _ = _ephemeral_ports()
    rng = random.SystemRandom()
    for _ in range(50):
        port = rng.randrange(10_000, low) if low > 11_000 else 0
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            chosen: int = sock.getsockname()[1]
            return chosen
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        fallback: int = sock.getsockname()[1]
        return fallback


def port_or_free(preferred: int) -> int:
    """``preferred`` if nothing listens on it, else any free port."""
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", preferred))
        except OSError:
            return free_port()
    return preferred


def _load(name: str) -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load((DEPLOY / name).read_text())
    return document


def prometheus_config(
    *, exporter: str, alertmanager: str, itself: str, rule_files: list[str], interval: str | None = None
) -> dict[str, Any]:
    """deploy/prometheus.yml with loopback targets, the given rule files and, optionally, shorter intervals."""
    config = _load("prometheus.yml")
    if interval is not None:
        config["global"].update({"scrape_interval": interval, "evaluation_interval": interval})
    config["rule_files"] = rule_files
    config["alerting"]["alertmanagers"][0]["static_configs"] = [{"targets": [alertmanager]}]
    targets = {"llm-cost-tracker": exporter, "prometheus": itself}
    for job in config["scrape_configs"]:
        job["static_configs"] = [{"targets": [targets[job["job_name"]]]}]
    return config


def alertmanager_config(webhook_url: str, *, fast: bool = False) -> dict[str, Any]:
    """deploy/alertmanager.yml pointed at ``webhook_url``; ``fast``: timings short enough for a test."""
    config = _load("alertmanager.yml")
    if fast:
        route = config["route"]["routes"][0]
        route.update({"group_wait": "0s", "group_interval": "1s", "repeat_interval": "1h"})
    for receiver in config["receivers"]:
        for webhook in receiver.get("webhook_configs", []):
            webhook["url"] = webhook_url
    return config


def exporter_config(*, otlp: str, web: str, budgets: Path, routing: Path, alertmanager_url: str) -> dict[str, Any]:
    """deploy/llm-cost-tracker.yaml on loopback, with absolute paths."""
    config = _load("llm-cost-tracker.yaml")
    config["otlp"]["listen_address"] = otlp
    config["web"]["listen_address"] = web
    config["budgets_file"] = str(budgets)
    config["routing_file"] = str(routing)
    config["webhook"]["alertmanager_urls"] = [alertmanager_url]
    return config


def alertmanager_command(binary: str, workdir: Path, port: int) -> list[str]:
    """Alertmanager on loopback with ``workdir``'s alertmanager.yml, alone (no cluster)."""
    return [
        binary,
        f"--config.file={workdir / 'alertmanager.yml'}",
        f"--storage.path={workdir / 'alertmanager-data'}",
        f"--web.listen-address=127.0.0.1:{port}",
        "--cluster.listen-address=",
        "--log.level=warn",
    ]


def spawn(name: str, argv: list[str], workdir: Path, ready_url: str, timeout: float = 30.0) -> subprocess.Popen[bytes]:
    """Start ``argv`` logging to ``workdir/NAME.log`` and wait until ``ready_url`` answers 200.

    Raises ``StackError`` with the end of the log (the process stopped) if it exits or is not ready in time.
    """
    log_path = workdir / f"{name}.log"
    with log_path.open("wb") as log:  # the child keeps its own copy of the descriptor
        process = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, cwd=workdir)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            tail = log_path.read_text(errors="replace")[-2000:]
            raise StackError(f"{name} exited with status {process.returncode}:\n{tail}")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(ready_url, timeout=1).status_code == 200:
                return process
        time.sleep(0.1)
    stop_all([process])
    raise StackError(f"{name} was not ready at {ready_url} within {timeout:.0f}s")


def stop_all(processes: Iterable[subprocess.Popen[bytes]], timeout: float = 10.0) -> None:
    """SIGTERM them all, then wait for each (SIGKILL after ``timeout``)."""
    processes = list(processes)
    for process in processes:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
    for process in processes:
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@dataclass
class Ports:
    otlp: int
    web: int
    prometheus: int
    alertmanager: int

    @classmethod
    def free(cls) -> Ports:
        return cls(free_port(), free_port(), free_port(), free_port())

    @classmethod
    def usual(cls) -> Ports:
        """The usual ports (4318, 9464, 9090, 9093) where free, others where not."""
        return cls(port_or_free(4318), port_or_free(9464), port_or_free(9090), port_or_free(9093))


@dataclass
class LocalStack:
    """Exporter, Prometheus and Alertmanager as processes on loopback, configured from deploy/."""

    workdir: Path
    budgets: Path
    rules: list[Path]
    ports: Ports = field(default_factory=Ports.free)
    interval: str | None = None
    """Scrape and evaluation interval (None: deploy/prometheus.yml's)."""
    fast_alerts: bool = False
    """Alertmanager's group timings and Prometheus's alert resend delay in seconds, for tests."""
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    @property
    def otlp_url(self) -> str:
        return f"http://127.0.0.1:{self.ports.otlp}"

    @property
    def exporter_url(self) -> str:
        return f"http://127.0.0.1:{self.ports.web}"

    @property
    def prometheus_url(self) -> str:
        return f"http://127.0.0.1:{self.ports.prometheus}"

    @property
    def alertmanager_url(self) -> str:
        return f"http://127.0.0.1:{self.ports.alertmanager}"

    @property
    def routing_file(self) -> Path:
        return self.workdir / "routing.yaml"

    @property
    def rules_dir(self) -> Path:
        return self.workdir / "rules"

    def write_configs(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.rules_dir.mkdir(exist_ok=True)
        for rules in self.rules:
            shutil.copy(rules, self.rules_dir / rules.name)
        p = self.ports
        files = {
            "prometheus.yml": prometheus_config(
                exporter=f"127.0.0.1:{p.web}",
                alertmanager=f"127.0.0.1:{p.alertmanager}",
                itself=f"127.0.0.1:{p.prometheus}",
                rule_files=[str(self.rules_dir / "*.yaml")],
                interval=self.interval,
            ),
            "alertmanager.yml": alertmanager_config(f"{self.exporter_url}/alertmanager/webhook", fast=self.fast_alerts),
            "llm-cost-tracker.yaml": exporter_config(
                otlp=f"127.0.0.1:{p.otlp}",
                web=f"127.0.0.1:{p.web}",
                budgets=self.budgets,
                routing=self.routing_file,
                alertmanager_url=self.alertmanager_url,
            ),
        }
        for name, document in files.items():
            (self.workdir / name).write_text(yaml.safe_dump(document, sort_keys=False))

    def _start(self, name: str, argv: list[str], ready_url: str) -> None:
        self.processes[name] = spawn(name, argv, self.workdir, ready_url)

    def start(self) -> LocalStack:
        prometheus, alertmanager = find_binary("prometheus"), find_binary("alertmanager")
        if prometheus is None or alertmanager is None:
            missing = " and ".join(k for k, v in (("prometheus", prometheus), ("alertmanager", alertmanager)) if not v)
            raise StackError(f"{missing} not found; {INSTALL_HINT}")
        self.write_configs()
        try:
            self._start(
                "alertmanager",
                alertmanager_command(alertmanager, self.workdir, self.ports.alertmanager),
                f"{self.alertmanager_url}/-/ready",
            )
            self._start(
                "exporter",
                [
                    sys.executable,
                    "-m",
                    "llm_cost_tracker",
                    "serve",
                    "--config",
                    str(self.workdir / "llm-cost-tracker.yaml"),
                ],
                f"{self.exporter_url}/-/ready",
            )
            self._start(
                "prometheus",
                [
                    prometheus,
                    f"--config.file={self.workdir / 'prometheus.yml'}",
                    f"--storage.tsdb.path={self.workdir / 'prometheus-data'}",
                    f"--web.listen-address=127.0.0.1:{self.ports.prometheus}",
                    "--web.enable-lifecycle",
                    "--log.level=warn",
                    # A test cannot wait the default minute for an alert notification Prometheus dropped
                    # (after a reload, until it has rediscovered its Alertmanagers) to be sent again.
                    *(["--rules.alert.resend-delay=2s"] if self.fast_alerts else []),
                ],
                f"{self.prometheus_url}/-/ready",
            )
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        # The exporter first: on SIGTERM it serves /metrics until Prometheus has scraped every count.
        exporter = self.processes.pop("exporter", None)
        stop_all([exporter] if exporter is not None else [], timeout=20)
        stop_all(self.processes.values())
        self.processes.clear()

    def __enter__(self) -> LocalStack:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- for tests and the demo -------------------------------------------------------------

    def query(self, promql: str, **params: str) -> list[dict[str, Any]]:
        """An instant query's result; raises ``StackError`` if Prometheus refuses it."""
        response = httpx.get(f"{self.prometheus_url}/api/v1/query", params={"query": promql, **params}, timeout=10)
        body = response.json()
        if body.get("status") != "success":
            raise StackError(f"{promql}: {body.get('errorType')}: {body.get('error')}")
        result: list[dict[str, Any]] = body["data"]["result"]
        return result

    def reload_prometheus(self) -> None:
        httpx.post(f"{self.prometheus_url}/-/reload", timeout=10).raise_for_status()


def wait_for(predicate: Callable[[], bool], timeout: float, what: str, interval: float = 0.25) -> None:
    """Poll ``predicate`` until it holds; raises ``TimeoutError`` naming ``what``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(interval)
    raise TimeoutError(f"timed out after {timeout:.0f}s waiting for {what}")
