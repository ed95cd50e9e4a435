"""The README's recipes, run as written (ports aside), so that they cannot rot."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from demo.stack import free_port
from tests.conftest import run_cli, wait_until
from tests.test_serve import Process, write_config

ROOT = Path(__file__).parent.parent
README = (ROOT / "README.md").read_text()


def shell_blocks() -> list[str]:
    return re.findall(r"```sh\n(.*?)```", README, flags=re.S)


def test_the_smoke_test_prints_a_priced_series(tmp_path: Path) -> None:
    (command,) = [block.strip() for block in shell_blocks() if "examples/span.json" in block]
    promised = re.search(r"It prints `(llm_cost_usd_total\{[^`]*)`", README)
    assert promised is not None
    otlp, web = free_port(), free_port()
    config = tmp_path / "config.yaml"
    write_config(config, otlp, web)
    server = Process(config, otlp, web)
    try:
        wait_until(server.ready, timeout=30)
        command = command.replace("localhost:4318", f"127.0.0.1:{otlp}").replace("localhost:9464", f"127.0.0.1:{web}")
        for _ in range(2):  # the second time counts nothing more: the same call
            result = subprocess.run(["bash", "-c", command], cwd=ROOT, capture_output=True, text=True, check=False)
            assert result.returncode == 0, result.stderr
            assert result.stdout.splitlines() == [promised.group(1)]
    finally:
        server.popen.terminate()
        server.popen.wait(10)
        server.log.close()


@pytest.mark.parametrize("target", ["run", "simulate", "test", "demo"])
def test_the_make_targets_the_readme_names_exist(target: str) -> None:
    assert re.search(rf"^{target}:", (ROOT / "Makefile").read_text(), flags=re.M)
    assert f"make {target}" in README


def test_simulate_runs_in_the_venv_make_run_creates(tmp_path: Path) -> None:
    """`make run` installs the package with its [simulate] extra: simulate sends to a running exporter."""
    makefile = (ROOT / "Makefile").read_text()
    assert "pip install --quiet '.[simulate]'" in makefile.split("run:")[0]
    otlp, web = free_port(), free_port()
    config = tmp_path / "config.yaml"
    write_config(config, otlp, web)
    server = Process(config, otlp, web)
    try:
        wait_until(server.ready, timeout=30)
        result = run_cli("simulate", "--endpoint", f"http://127.0.0.1:{otlp}", "--duration", "2", "--seed", "1")
        assert result.returncode == 0, result.stderr
        wait_until(lambda: any(n == "llm_cost_usd_total" and v > 0 for n, _, v in server.samples()), timeout=20)
    finally:
        server.popen.terminate()
        server.popen.wait(10)
        server.log.close()
