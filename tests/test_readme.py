"""The README's recipes, run as written (ports aside), so that they cannot rot."""

from __future__ import annotations

import re
import shlex
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


APP = """\
import os

import openai

client = openai.OpenAI(base_url=os.environ["FAKE_OPENAI_URL"], api_key="sk-not-a-key", max_retries=0)
client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "Where is my order?"}])
"""


def test_the_otel_sdk_recipe_exports_priced_spans_from_a_fresh_venv(tmp_path: Path) -> None:
    """The "OpenTelemetry SDK" block, as written: its pip line into a new venv (with the app's openai), its
    variables with this test's port, ``opentelemetry-instrument python app.py``; the provider is a fake."""
    import sys

    from tests.fake_provider import USAGE, fake_openai

    (block,) = [b for b in shell_blocks() if "opentelemetry-instrument python app.py" in b]
    lines = [line for line in block.splitlines() if line.strip()]
    assert lines[0].startswith("pip install ")
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    install = subprocess.run(
        [str(venv / "bin" / "pip"), "install", "--quiet", *shlex.split(lines[0])[2:], "openai"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert install.returncode == 0, install.stderr[-2000:]
    (tmp_path / "app.py").write_text(APP)
    otlp, web = free_port(), free_port()
    config = tmp_path / "config.yaml"
    write_config(config, otlp, web)
    server = Process(config, otlp, web)
    try:
        wait_until(server.ready, timeout=30)
        script = "\n".join(lines[1:]).replace("localhost:4318", f"127.0.0.1:{otlp}")
        with fake_openai() as provider:
            env = {"PATH": f"{venv / 'bin'}:/usr/bin:/bin", "FAKE_OPENAI_URL": provider.url, "HOME": str(tmp_path)}
            result = subprocess.run(
                ["bash", "-e", "-c", script], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120
            )
            assert result.returncode == 0, result.stderr[-2000:]
            assert provider.models == ["gpt-4o"]

        def priced() -> bool:
            return any(
                name == "llm_tokens_total"
                and labels.get("project") == "checkout-assistant"
                and labels.get("model") == "gpt-4o"
                and labels.get("token_type") == "input"
                and value == USAGE["prompt_tokens"]
                for name, labels, value in server.samples()
            )

        try:
            wait_until(priced, timeout=20)
        except AssertionError:
            raise AssertionError(
                f"{[s for s in server.samples() if s[0].startswith(('llm_tokens', 'llm_cost_tracker_spans'))]}\n"
                f"{result.stderr[-3000:]}"
            ) from None
    finally:
        server.popen.terminate()
        server.popen.wait(10)
        server.log.close()
