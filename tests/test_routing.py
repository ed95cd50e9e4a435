"""The routing file and ModelRouter: resolution, change detection, bad files, concurrent and killed writers."""

from __future__ import annotations

import multiprocessing
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from llm_cost_tracker.routing import ModelRouter
from llm_cost_tracker.routing.document import Override, RoutingDocument, parse
from llm_cost_tracker.routing.store import RoutingStore

SWAP = Override(
    from_="gpt-4o", to="gpt-4o-mini", scope={"org": "acme", "project": "checkout"}, budget="b", fingerprint="f1"
)


def write(store: RoutingStore, *overrides: Override) -> RoutingDocument:
    document, _ = store.update(lambda d: d.with_overrides(tuple(overrides), d.resolved))
    return document


def test_resolve_by_scope_and_glob(tmp_path: Path) -> None:
    store = RoutingStore(tmp_path / "routing.yaml")
    write(
        store,
        SWAP,
        Override(
            from_="claude-3-5-sonnet*", to="claude-3-5-haiku-20241022", scope={"project": "=~check.*"}, fingerprint="f2"
        ),
    )
    router = ModelRouter(store.path, scope={"org": "acme"})
    assert router.resolve("gpt-4o", project="checkout") == "gpt-4o-mini"
    assert router.resolve("gpt-4o", project="search") == "gpt-4o"  # another project
    assert router.resolve("gpt-4o-2024-08-06", project="checkout") == "gpt-4o-2024-08-06"  # from is exact here
    assert router.resolve("claude-3-5-sonnet-20241022", project="checkout") == "claude-3-5-haiku-20241022"
    assert ModelRouter(store.path).resolve("gpt-4o", project="checkout") == "gpt-4o"  # org unknown: no match


def test_pins_win_and_survive_rewrites(tmp_path: Path) -> None:
    path = tmp_path / "routing.yaml"
    path.write_text(
        textwrap.dedent(
            """\
            version: llm-cost-tracker/v1
            generation: 3
            pins:
              - scope: {project: checkout}
                from: gpt-4o
                to: gpt-4o-2024-11-20
                note: pinned by the on-call
            """
        )
    )
    store = RoutingStore(path)
    document = write(store, SWAP)
    assert document.generation == 4
    assert document.pins[0].note == "pinned by the on-call"
    assert "pinned by the on-call" in path.read_text()
    assert ModelRouter(path, scope={"org": "acme"}).resolve("gpt-4o", project="checkout") == "gpt-4o-2024-11-20"


def test_router_sees_a_change_within_milliseconds(tmp_path: Path) -> None:
    store = RoutingStore(tmp_path / "routing.yaml")
    router = ModelRouter(store.path, scope={"org": "acme", "project": "checkout"})
    assert router.resolve("gpt-4o") == "gpt-4o"  # no file yet: no swaps
    write(store, SWAP)
    time.sleep(0.01)
    assert router.resolve("gpt-4o") == "gpt-4o-mini"
    assert router.generation == 1
    write(store)
    time.sleep(0.01)
    assert router.resolve("gpt-4o") == "gpt-4o"


def test_corrupt_or_missing_file_keeps_the_last_good_state(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    store = RoutingStore(tmp_path / "routing.yaml")
    write(store, SWAP)
    router = ModelRouter(store.path, scope={"org": "acme", "project": "checkout"}, check_interval=0)
    assert router.resolve("gpt-4o") == "gpt-4o-mini"
    for bad in ("version: [\n", "just text", "version: other/v9\n", "\xff"):
        store.path.write_text(bad, errors="surrogateescape")
        assert router.resolve("gpt-4o") == "gpt-4o-mini"
    store.path.write_bytes(b"\xff\xfe\x00")
    assert router.resolve("gpt-4o") == "gpt-4o-mini"
    store.path.unlink()
    assert router.resolve("gpt-4o") == "gpt-4o-mini"
    assert len([r for r in caplog.records if "keeping" in r.getMessage()]) <= 6  # once per distinct problem


def test_writer_refuses_to_overwrite_a_corrupt_file(tmp_path: Path) -> None:
    store = RoutingStore(tmp_path / "routing.yaml")
    store.path.write_text("pins: [unclosed\n")
    with pytest.raises(OSError, match="not valid YAML"):
        write(store, SWAP)
    assert store.path.read_text() == "pins: [unclosed\n"


def test_parse_checks_what_it_reads() -> None:
    assert parse("") == RoutingDocument()
    with pytest.raises(ValueError, match="'from' and 'to'"):
        parse("version: llm-cost-tracker/v1\noverrides: [{from: x}]\n")
    with pytest.raises(ValueError, match="generation"):
        parse("version: llm-cost-tracker/v1\ngeneration: -1\n")


def _hammer(path: str, worker: int, rounds: int) -> None:
    store = RoutingStore(path)
    for i in range(rounds):
        key = f"w{worker}-{i}"
        store.update(
            lambda d, key=key: d.with_overrides(
                (*d.overrides, Override(from_=key, to="x", fingerprint=key)), d.resolved
            )
        )


def test_concurrent_writers_lose_nothing(tmp_path: Path) -> None:
    path = tmp_path / "routing.yaml"
    context = multiprocessing.get_context("spawn")
    workers = [context.Process(target=_hammer, args=(str(path), w, 25)) for w in range(2)]
    seen: list[int] = []
    for worker in workers:
        worker.start()
    while any(w.is_alive() for w in workers):
        if path.exists():
            seen.append(parse(path.read_text()).generation)  # always a whole, valid file
    for worker in workers:
        worker.join()
        assert worker.exitcode == 0
    document = parse(path.read_text())
    assert document.generation == 50
    assert len(document.overrides) == 50
    assert seen == sorted(seen)  # generation never goes back


KILLED_WRITER = """
import sys
from llm_cost_tracker.routing.document import Override
from llm_cost_tracker.routing.store import RoutingStore
store = RoutingStore(sys.argv[1])
i = 0
while True:
    i += 1
    big = tuple(Override(from_=f"model-{i}-{n}", to="x" * 200, fingerprint=str(n)) for n in range(200))
    store.update(lambda d: d.with_overrides(big, d.resolved))
"""


def test_a_writer_killed_mid_write_never_leaves_a_partial_file(tmp_path: Path) -> None:
    path = tmp_path / "routing.yaml"
    reads = 0
    for _ in range(8):
        writer = subprocess.Popen([sys.executable, "-c", KILLED_WRITER, str(path)])
        deadline = time.monotonic() + 0.4
        while time.monotonic() < deadline:
            if path.exists():
                document = parse(path.read_text())  # raises on a partial file
                assert len(document.overrides) == 200
                reads += 1
        os.kill(writer.pid, signal.SIGKILL)
        writer.wait()
    assert reads > 0
    leftovers = [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")]
    # A killed writer may leave its temp file; it is never the routing file, and the next writer goes on.
    assert all(name.startswith(".routing.yaml.") for name in leftovers)
    assert parse(path.read_text()).generation > 0
