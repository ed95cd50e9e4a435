"""`make demo` stopped as a process manager or CI stops it: no process survives, no directory is left."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import need_binary

pytestmark = pytest.mark.binary


def processes_mentioning(text: str) -> list[int]:
    """PIDs whose command line names ``text`` (the demo's working directory: its children all do)."""
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if text in cmdline:
            found.append(int(proc.name))
    return found


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP])
def test_a_signal_stops_every_process_and_removes_the_directory(signum: signal.Signals) -> None:
    need_binary("prometheus")
    need_binary("prometheus-alertmanager", "alertmanager")
    demo = subprocess.Popen(
        [sys.executable, "-m", "demo", "--rate", "5"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert demo.stdout is not None
    workdir = None
    lines = []
    deadline = time.monotonic() + 60
    try:
        while time.monotonic() < deadline:
            line = demo.stdout.readline()
            lines.append(line)
            found = re.search(r"working directory (\S+)", line)
            if found:
                workdir = found.group(1)
            if "sent " in line:  # serving and sending: every process is up
                break
        assert workdir is not None, "".join(lines)
        children = processes_mentioning(workdir)
        assert len(children) >= 3, children  # the exporter, Prometheus, Alertmanager
        text = "".join(lines)
        assert "/alerts" in text
        demo.send_signal(signum)
        assert demo.wait(60) == 0
    finally:
        if demo.poll() is None:
            demo.kill()
            demo.wait(10)
        demo.stdout.close()
    deadline = time.monotonic() + 10
    while processes_mentioning(workdir) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert processes_mentioning(workdir) == []
    assert not Path(workdir).exists()
