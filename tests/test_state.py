"""The exporter's two bits of memory: counted calls (dedupe) and cumulative streams."""

from __future__ import annotations

from llm_cost_tracker.exporter.dialects import model_family
from llm_cost_tracker.exporter.memory import Memory
from llm_cost_tracker.exporter.normalise import merge_reported, reported_usage, split_reported
from llm_cost_tracker.exporter.temporality import CumulativeStreams, Delta

LABELS = ("o", "p", "x", "m", "chat")


def call(n: int) -> tuple[tuple[str, str, str, str, str], tuple[int, int, int, int, int], int, int, None]:
    return (LABELS, (n, 0, 0, 0, 0), 0, 0, None)


def test_calls_are_remembered_for_at_least_half_a_window() -> None:
    memory = Memory(max_entries=1000, window_s=10)
    memory.remember("a", call(1), now=0.0)
    memory.remember("b", call(2), now=4.9)
    assert memory.get("a") == call(1)
    memory.remember("c", call(3), now=5.0)  # half a window: rotate
    assert memory.get("a") == call(1)  # still in the previous generation
    memory.remember("d", call(4), now=10.0)  # rotate again: "a" and "b" are forgotten
    assert memory.get("a") is None
    assert memory.get("c") == call(3)


def test_memory_is_bounded() -> None:
    memory = Memory(max_entries=100, window_s=1e9)
    for i in range(10_000):
        memory.remember(f"k{i}", call(i), now=float(i))
    assert len(memory) <= 100
    assert memory.get("k9999") == call(9999)


def test_replace_updates_in_place() -> None:
    memory = Memory(max_entries=10, window_s=100)
    memory.remember("a", call(1), now=0.0)
    memory.replace("a", call(5))
    assert memory.get("a") == call(5)


def test_merge_keeps_the_most_complete_report_then_splits_once() -> None:
    # Reports are the conventions' counts: input with cache inside, output with reasoning inside.
    assert merge_reported((4160, 4096, 0, 77, 0), (4160, 4096, 0, 78, 0)) == (4160, 4096, 0, 78, 0)
    langchain = reported_usage(6272, 4096, 0, 256, 0, cache_in_input=True)
    sdk = reported_usage(6272, 4096, 2048, 256, 0, cache_in_input=True)
    assert split_reported(merge_reported(langchain, sdk)) == (128, 4096, 2048, 256, 0)
    # A source counting the cache apart (input 128) reports the same call as one that does not.
    traceloop_node = reported_usage(128, 4096, 2048, 256, 0, cache_in_input=True)
    assert traceloop_node == sdk


def test_dated_variants_are_one_model_and_other_models_are_not() -> None:
    assert model_family("gpt-4o-mini-2024-07-18") == model_family("gpt-4o-mini") == "gpt-4o-mini"
    assert model_family("anthropic/claude-3-5-sonnet-20241022") == "claude-3-5-sonnet"
    assert model_family("claude-3-5-sonnet@20240620") == "claude-3-5-sonnet"  # Vertex's versions
    assert model_family("gpt-4-0613") == model_family("gpt-4") == "gpt-4"
    for a, b in (("gpt-4o", "gpt-4o-mini"), ("o3", "o3-mini"), ("gpt-4", "gpt-5"), ("claude-2", "claude-3")):
        assert model_family(a) != model_family(b)


def test_cumulative_stream_deltas() -> None:
    streams = CumulativeStreams(initial_value="keep", started_ns=0)
    assert streams.delta(b"s", start_ns=100, count=1, total=42.0, buckets=(1, 0)) == Delta(1, 42.0, (1, 0))
    assert streams.delta(b"s", start_ns=100, count=1, total=42.0, buckets=(1, 0)) is None  # nothing new
    assert streams.delta(b"s", start_ns=100, count=3, total=100.0, buckets=(2, 1)) == Delta(2, 58.0, (1, 1))
    # The app restarted: a new start time, the total begins again.
    assert streams.delta(b"s", start_ns=900, count=1, total=5.0, buckets=(1, 0)) == Delta(1, 5.0, (1, 0))
    # A smaller total with the same start time is a reset too.
    assert streams.delta(b"s", start_ns=900, count=0, total=0.0, buckets=(0, 0)) == Delta(0, 0.0, (0, 0))


def test_first_point_auto_counts_only_streams_begun_after_start() -> None:
    streams = CumulativeStreams(initial_value="auto", started_ns=1_000)
    assert streams.delta(b"old", start_ns=500, count=4, total=40.0) is None  # began before us: unknown share
    assert streams.delta(b"old", start_ns=500, count=5, total=50.0) == Delta(1, 10.0, ())
    assert streams.delta(b"new", start_ns=2_000, count=2, total=20.0) == Delta(2, 20.0, ())
    drop = CumulativeStreams(initial_value="drop", started_ns=0)
    assert drop.delta(b"x", start_ns=5, count=1, total=1.0) is None


def test_streams_are_bounded() -> None:
    streams = CumulativeStreams(max_streams=10, initial_value="keep", started_ns=0)
    for i in range(100):
        streams.delta(i.to_bytes(2, "big"), start_ns=1, count=1, total=1.0)
    assert len(streams) == 10
    assert streams.evicted == 90
