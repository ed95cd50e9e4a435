"""The README's recipes, run as written (ports aside), so that they cannot rot."""

from __future__ import annotations

import os
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from demo.stack import free_port
from tests.conftest import need_binary, run_cli, wait_until
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


RECIPES = {
    # The recipe's <summary> name -> what the app itself depends on, installed before the recipe's own line
    # (the app exists before it is instrumented), and the OTel service name its spans carry.
    "OpenTelemetry SDK": ["openai"],
    "OpenLLMetry": ["openai"],
    "OpenLIT": ["openai"],
    "LiteLLM": [],
    "LangChain": ["langchain-openai"],
    "OpenInference": ["openai"],
    "Vercel AI SDK": ["ai@7", "@ai-sdk/openai@4"],
}


@dataclass
class Recipe:
    name: str
    script: str
    """The ``sh`` block: install line, variables, the command that runs the app."""
    files: dict[str, str]
    """The app's files, each a code block whose first line is a comment naming it (``# app.py: ...``)."""

    @property
    def node(self) -> bool:
        return self.script.startswith("npm ")


def recipes() -> dict[str, Recipe]:
    found = {}
    section = README.split("## Point your app at it", 1)[1].split("\n## ", 1)[0]
    for summary, body in re.findall(
        r"<details[^>]*>\s*<summary><b>([^<]+)</b>.*?</summary>(.*?)</details>", section, re.S
    ):
        script = ""
        files = {}
        for lang, code in re.findall(r"```(\w+)\n(.*?)```", body, re.S):
            if lang == "sh":
                assert not script, f"{summary}: one sh block per recipe"
                script = code
            else:
                first = code.splitlines()[0]
                named = re.match(r"(?:#|//) ([\w.-]+\.(?:py|mjs))\b", first)
                assert named, f"{summary}: a {lang} block must start with a comment naming its file, not {first!r}"
                files[named.group(1)] = code
        found[summary.strip()] = Recipe(summary.strip(), script, files)
    return found


def test_every_instrumentation_has_a_recipe() -> None:
    assert sorted(recipes()) == sorted(RECIPES)


def recipe_environment(tmp_path: Path, provider_url: str) -> dict[str, str]:
    """A clean environment, as a new terminal has: the app's provider settings and the package caches kept."""
    home = Path.home()
    return {
        "PATH": f"{tmp_path / 'venv' / 'bin'}:{tmp_path / 'node_modules' / '.bin'}:/usr/local/bin:/usr/bin:/bin",
        "HOME": str(tmp_path),
        "OPENAI_API_KEY": "sk-not-a-key",
        "OPENAI_BASE_URL": provider_url,
        "PIP_CACHE_DIR": str(home / ".cache" / "pip"),
        "PIP_DISABLE_PIP_VERSION_CHECK": "1",
        "npm_config_cache": str(home / ".npm"),
        "npm_config_update_notifier": "false",
        "npm_config_fund": "false",
        "npm_config_audit": "false",
        # No network here: LiteLLM would try for ~10 s to fetch its model price map at import.
        "LITELLM_LOCAL_MODEL_COST_MAP": "True",
    }


@pytest.mark.recipe
@pytest.mark.parametrize("name", sorted(RECIPES))
def test_the_recipe_exports_priced_spans_as_written(name: str, tmp_path: Path) -> None:
    """The recipe's blocks as written (ports aside): its files, its app dependencies in a fresh venv or npm
    project, then its sh block in bash (install line, variables, run); the provider is a fake on loopback."""
    import sys

    from tests.fake_provider import USAGE, fake_openai

    recipe = recipes()[name]
    if recipe.node:
        for binary in ("node", "npm"):
            need_binary(binary, hint="the Vercel AI SDK recipe runs a Node app; Debian: apt-get install nodejs npm")
    for file, code in recipe.files.items():
        (tmp_path / file).write_text(code)
    with fake_openai() as provider:
        env = recipe_environment(tmp_path, provider.url)
        if recipe.node:
            (tmp_path / "package.json").write_text('{"name": "app", "private": true, "type": "module"}\n')
            prepare = ["npm", "install", "--silent", *RECIPES[name]]
        else:
            subprocess.run(
                [sys.executable, "-m", "venv", "--upgrade-deps", str(tmp_path / "venv")],
                check=True,
                capture_output=True,
                env={**env, "PATH": os.environ["PATH"]},
            )
            prepare = ["pip", "install", "--quiet", *RECIPES[name]] if RECIPES[name] else ["true"]
        done = subprocess.run(prepare, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
        assert done.returncode == 0, done.stderr[-3000:]
        otlp, web = free_port(), free_port()
        config = tmp_path / "config.yaml"
        write_config(config, otlp, web)
        server = Process(config, otlp, web)
        try:
            wait_until(server.ready, timeout=30)
            script = recipe.script.replace("localhost:4318", f"127.0.0.1:{otlp}")
            for file, code in recipe.files.items():
                (tmp_path / file).write_text(code.replace("localhost:4318", f"127.0.0.1:{otlp}"))
            result = subprocess.run(
                ["bash", "-e", "-c", script], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600
            )
            assert result.returncode == 0, result.stderr[-3000:]
            assert provider.models == ["gpt-4o"], provider.requests

            def priced() -> bool:
                return any(
                    name == "llm_cost_usd_total"
                    and labels.get("project") == "checkout-assistant"
                    and labels.get("model") == "gpt-4o"
                    and value > 0
                    for name, labels, value in server.samples()
                )

            try:
                wait_until(priced, timeout=20)
            except AssertionError:
                raise AssertionError(
                    f"{[s for s in server.samples() if s[0].startswith(('llm_tokens', 'llm_cost_tracker_spans'))]}\n"
                    f"{result.stderr[-3000:]}"
                ) from None
            tokens = {
                labels["token_type"]: value
                for sample, labels, value in server.samples()
                if sample == "llm_tokens_total" and labels.get("project") == "checkout-assistant"
            }
            assert tokens.get("input") == USAGE["prompt_tokens"], tokens  # counted once, however many spans
            assert tokens.get("output") == USAGE["completion_tokens"], tokens
        finally:
            server.popen.terminate()
            server.popen.wait(10)
            server.log.close()
