"""No log line, at any level, holds a prompt, a completion, a token or a full attribute dump.

Every capture of the corpus (real instrumentation libraries, prompts included) goes through a server logging
at DEBUG, with a bearer token on every request, good and bad bodies alike; then every string
that is a message's content in those captures is looked for in everything that was logged.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from pathlib import Path

import orjson
import pytest

from tests.conftest import CORPUS, LiveServer
from tests.test_otlp_http import JSON, PROTOBUF

TOKEN = "sk-audit-6f1e2d3c4b5a69788796a5b4c3d2e1f0"
CONTENT_KEYS = (
    "prompt",
    "completion",
    "content",
    "message",
    "input.value",
    "output.value",
    "gen_ai.input",
    "gen_ai.output",
)


def captures() -> Iterator[Path]:
    yield from sorted(CORPUS.glob("*/*.otlp.json"))


def secret_strings(document: object, key: str = "") -> Iterator[str]:
    """The string values, at any depth, of attributes whose key names a message's content (at least 12
    characters: long enough to be someone's text, not a role name)."""
    if isinstance(document, dict):
        name = document.get("key")
        if isinstance(name, str) and "value" in document:
            yield from secret_strings(document["value"], name)
            return
        for child_key, value in document.items():
            if child_key == "stringValue" and isinstance(value, str):
                if any(part in key.lower() for part in CONTENT_KEYS) and len(value) >= 12:
                    yield value
            else:
                yield from secret_strings(value, key)
    elif isinstance(document, list):
        for item in document:
            yield from secret_strings(item, key)


def test_no_log_line_holds_a_prompt_or_a_token(
    start_server: Callable[..., LiveServer], caplog: pytest.LogCaptureFixture
) -> None:
    server = start_server()
    secrets: set[str] = set()
    with caplog.at_level(logging.DEBUG):
        for path in captures():
            text = path.read_text()
            secrets.update(secret_strings(orjson.loads(text)))
            signal = "metrics" if path.name.startswith("metrics") else "traces"
            headers = {"Authorization": f"Bearer {TOKEN}"}
            server.post(f"/v1/{signal}", text.encode(), JSON, **headers)
            server.post(f"/v1/{signal}", text.encode()[: len(text) // 2], JSON, **headers)  # truncated: a 400
            pb = path.with_name(path.name.replace(".otlp.json", ".pb"))
            if pb.exists():
                server.post(f"/v1/{signal}", pb.read_bytes()[:-7], PROTOBUF, **headers)
    assert len(secrets) > 20, "the corpus should hold prompts to look for"
    logged = "\n".join(f"{r.getMessage()} {r.exc_text or ''} {r.args!r}" for r in caplog.records)
    assert caplog.records, "nothing was logged at all: the audit would prove nothing"
    leaks = sorted(s[:60] for s in secrets if s in logged or s[:40] in logged)
    assert leaks == []
    assert TOKEN not in logged
    assert "Bearer" not in logged
