"""The counters and their exposition: golden text, escaping, the series cap, exact sums, promtool."""

from __future__ import annotations

import subprocess

import pytest
from prometheus_client.parser import text_string_to_metric_families

from llm_cost_tracker.exporter import exposition
from llm_cost_tracker.exporter.exposition import format_value
from llm_cost_tracker.exporter.ledger import OVERFLOW, OVERFLOW_KEY, UsageLedger
from tests.conftest import CORPUS, LiveServer, need_binary
from tests.golden import GOLDEN, METRICS_CASES, render_metrics
from tests.test_otlp_http import PROTOBUF


def test_golden_metrics_for_the_traceloop_folder() -> None:
    for name, payload in METRICS_CASES.items():
        assert render_metrics(payload) == (GOLDEN / name).read_text(), f"run `make golden` and review {name}"


def test_label_values_are_escaped() -> None:
    ledger = UsageLedger()
    ledger.add(("a\\b", 'quo"te', "new\nline", "m", "chat"), (1, 0, 0, 0, 0), 0)
    text = ledger.render()
    assert 'org="a\\\\b",project="quo\\"te",provider="new\\nline"' in text
    family = next(f for f in text_string_to_metric_families(text) if f.name == "llm_tokens")
    labels = family.samples[0].labels
    assert (labels["org"], labels["project"], labels["provider"]) == ("a\\b", 'quo"te', "new\nline")


def test_costs_sum_exactly() -> None:
    ledger = UsageLedger()
    for _ in range(1_000_000 // 1000):
        ledger.add(("o", "p", "openai", "m", "chat"), (0, 0, 0, 0, 0), 340_000_000 * 1000)  # 1000 x $0.00000034
    # One million embedding calls at $0.00000034 each: $0.34 exactly, no float drift.
    assert "} 0.34\n" in ledger.render()


def test_series_cap_folds_into_overflow() -> None:
    ledger = UsageLedger(max_series=2)
    for model in ("a", "b", "c", "d"):
        ledger.add(("o", "p", "x", model, "chat"), (1, 0, 0, 0, 0), 10, 1)
    assert ledger.dropped == {"llm_cost_usd_total": 2}
    assert ledger.series(("o", "p", "other", "other", "other")).tokens[0] == 2  # a known project: its 'other'
    ledger.add(("o", "q", "x", "a", "chat"), (1, 0, 0, 0, 0), 10, 1)  # a new project: the org's overflow
    assert ledger.series(("o", OVERFLOW, OVERFLOW, OVERFLOW, OVERFLOW)).tokens[0] == 1
    ledger.add(("new-org", "q", "x", "a", "chat"), (1, 0, 0, 0, 0), 10, 1)  # a new org: the global overflow
    assert ledger.series(OVERFLOW_KEY).tokens[0] == 1
    assert ledger.dropped == {"llm_cost_usd_total": 4}


def test_value_format() -> None:
    assert [format_value(v) for v in (0.0, 3.0, 0.003645, 1.35e-05, float("inf"), float("nan"))] == [
        "0",
        "3",
        "0.003645",
        "1.35e-05",
        "+Inf",
        "NaN",
    ]


def test_promtool_accepts_the_whole_exposition(server: LiveServer) -> None:
    promtool = need_binary("promtool")
    server.post("/v1/traces", (CORPUS / "traceloop" / "traces-0001.pb").read_bytes(), PROTOBUF)
    result = subprocess.run(
        [promtool, "check", "metrics"], input=server.metrics_text(), capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout == ""  # no lint warnings either


class Ticks:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def cost_of(text: str) -> float:
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines() if line.startswith("llm_cost_usd_total{"))


def test_a_new_series_is_scraped_at_zero_first_and_curl_sees_the_truth() -> None:
    ticks = Ticks()
    ledger = UsageLedger(hold_s=60, monotonic=ticks)
    key = ("o", "p", "openai", "gpt-4o", "chat")
    ledger.add(key, (10, 0, 0, 5, 0), 7 * 10**15, 1)  # $7
    assert cost_of(ledger.render()) == 7  # curl: the true values, and the hold does not start
    assert cost_of(ledger.render(scrape=True)) == 0  # the first scrape stores a 0...
    ticks.now += 59
    ledger.add(key, (1, 0, 0, 1, 0), 10**15, 1)
    assert cost_of(ledger.render(scrape=True)) == 0  # ...and so does every scrape for the hold
    assert "llm_requests_total" in ledger.render(scrape=True)  # the series is there, at 0
    assert not ledger.settled()
    ticks.now += 1
    assert cost_of(ledger.render(scrape=True)) == 8  # then the whole truth, first call included
    assert ledger.settled()
    ledger.add(key, (1, 0, 0, 0, 0), 10**15, 1)
    assert not ledger.settled()
    assert cost_of(ledger.render(scrape=True)) == 9  # an existing series is never held again
    assert ledger.settled()


def line_value(text: str, metric: str, label: str) -> float | None:
    """The value of ``metric``'s one line carrying ``label`` (e.g. ``token_type="cache_read"``), None if absent."""
    found = [line for line in text.splitlines() if line.startswith(metric + "{") and label in line]
    assert len(found) <= 1, found
    return float(found[0].rsplit(" ", 1)[1]) if found else None


def test_only_lines_that_counted_are_shown_and_a_new_one_starts_at_zero() -> None:
    ticks = Ticks()
    ledger = UsageLedger(hold_s=60, monotonic=ticks)
    key = ("o", "p", "openai", "gpt-4o", "chat")
    ledger.add(key, (10, 0, 0, 5, 0), 10**15, 1)
    ledger.render(scrape=True)
    ticks.now += 60
    shown = ledger.render(scrape=True)
    assert cost_of(shown) == 1
    # Types and outcomes that never counted have no line: half of /metrics at the cap was zeros.
    tokens = [line for line in shown.splitlines() if line.startswith("llm_tokens_total{")]
    assert [line.split('token_type="')[1].split('"')[0] for line in tokens] == ["input", "output"]
    assert line_value(shown, "llm_requests_total", 'outcome="error"') is None
    assert line_value(shown, "llm_requests_total", 'outcome="ok"') == 1

    # A first cache read and a first error on that series: their lines are new series to Prometheus, so they are
    # scraped at 0 first, for the hold, like a new label set; the lines it had keep counting meanwhile.
    ledger.add(key, (0, 100, 0, 5, 0), 10**15, 0, 1)
    assert line_value(ledger.render(), "llm_tokens_total", 'token_type="cache_read"') == 100  # curl: the truth
    first = ledger.render(scrape=True)
    assert line_value(first, "llm_tokens_total", 'token_type="cache_read"') == 0
    assert line_value(first, "llm_requests_total", 'outcome="error"') == 0
    assert line_value(first, "llm_tokens_total", 'token_type="output"') == 10
    assert cost_of(first) == 2
    assert not ledger.settled()
    ticks.now += 30
    ledger.add(key, (0, 0, 0, 0, 1), 10**15, 1)  # reasoning, half-way through: all new lines wait for its zero
    second = ledger.render(scrape=True)
    assert line_value(second, "llm_tokens_total", 'token_type="reasoning"') == 0
    assert line_value(second, "llm_tokens_total", 'token_type="cache_read"') == 0
    ticks.now += 60
    released = ledger.render(scrape=True)
    assert line_value(released, "llm_tokens_total", 'token_type="cache_read"') == 100
    assert line_value(released, "llm_tokens_total", 'token_type="reasoning"') == 1
    assert line_value(released, "llm_requests_total", 'outcome="error"') == 1
    assert ledger.settled()


def test_a_line_added_late_in_a_new_series_hold_gets_a_zero_of_its_own() -> None:
    ticks = Ticks()
    ledger = UsageLedger(hold_s=60, monotonic=ticks)
    key = ("o", "p", "openai", "gpt-4o", "chat")
    ledger.add(key, (10, 0, 0, 5, 0), 10**15, 1)
    ledger.add(key, (0, 3, 0, 0, 0), 10**15, 1)  # before the first scrape: it shares the series' zero
    first = ledger.render(scrape=True)
    assert line_value(first, "llm_tokens_total", 'token_type="input"') == 0
    assert line_value(first, "llm_tokens_total", 'token_type="cache_read"') == 0
    ticks.now += 59.9
    ledger.add(key, (0, 0, 4, 0, 0), 10**15, 1)  # a first cache write just before the series' hold ends
    ticks.now += 0.1
    released = ledger.render(scrape=True)
    assert cost_of(released) == 3
    assert line_value(released, "llm_tokens_total", 'token_type="cache_read"') == 3
    assert line_value(released, "llm_tokens_total", 'token_type="cache_write"') == 0  # its zero, first
    assert not ledger.settled()
    ticks.now += 60
    assert line_value(ledger.render(scrape=True), "llm_tokens_total", 'token_type="cache_write"') == 4
    assert ledger.settled()


def test_draining_releases_a_held_series_at_the_scrape_after_its_zero() -> None:
    ticks = Ticks()
    ledger = UsageLedger(hold_s=60, monotonic=ticks)
    ledger.add(("o", "p", "openai", "gpt-4o", "chat"), (10, 0, 0, 5, 0), 10**15, 1)
    ledger.count_unpriced(("o", "p", "vllm", "m", "not_in_catalog"))
    ledger.draining = True  # SIGTERM: no time to wait out the hold
    unpriced = 'llm_unpriced_requests_total{org="o",project="p",provider="vllm",model="m",reason="not_in_catalog"}'
    first = ledger.render(scrape=True)
    assert cost_of(first) == 0
    assert f"{unpriced} 0\n" in first
    assert not ledger.settled()
    ticks.now += 1
    second = ledger.render(scrape=True)
    assert cost_of(second) == 1
    assert f"{unpriced} 1\n" in second
    assert ledger.settled()


def test_a_hold_of_zero_shows_everything_at_once() -> None:
    ledger = UsageLedger(hold_s=0)
    ledger.add(("o", "p", "openai", "gpt-4o", "chat"), (10, 0, 0, 5, 0), 10**15, 1)
    assert cost_of(ledger.render(scrape=True)) == 1
    assert ledger.settled()


def test_an_overflow_is_logged_when_it_starts_then_once_a_minute(caplog: pytest.LogCaptureFixture) -> None:
    now = [0.0]
    ledger = UsageLedger(max_series=2, monotonic=lambda: now[0])
    with caplog.at_level("WARNING", logger="llm_cost_tracker.exporter.ledger"), ledger.lock:
        for i in range(10):
            ledger.add(("o", "p", "openai", f"m{i}", "chat"), (1, 0, 0, 0, 0), 0)
        now[0] = 30.0
        ledger.add(("o", "p", "openai", "m-late", "chat"), (1, 0, 0, 0, 0), 0)
        now[0] = 61.0
        ledger.add(("o", "p", "openai", "m-later", "chat"), (1, 0, 0, 0, 0), 0)
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 2, lines
    assert lines[0].startswith(
        "llm_cost_usd_total reached a series cap: 2 label sets (limits.max_series_per_metric): new ones are folded; "
        "1 since the last report"
    ), lines[0]
    assert "; 9 since the last report" in lines[1]
    assert ledger.dropped["llm_cost_usd_total"] == 10


def test_the_duration_histogram_is_summed_over_models_unless_configured() -> None:
    ledger = UsageLedger()
    for model, seconds in (("gpt-4o", 0.25), ("gpt-4o-mini", 0.25), ("gpt-4o-mini", 3.0)):
        ledger.add(("o", "p", "openai", model, "chat"), (1, 0, 0, 0, 0), 10, 1, duration_s=seconds)
    text = ledger.render()
    histogram = [line for line in text.splitlines() if line.startswith("llm_request_duration_seconds")]
    assert histogram[-2:] == [
        'llm_request_duration_seconds_sum{org="o",project="p",provider="openai",operation="chat"} 3.5',
        'llm_request_duration_seconds_count{org="o",project="p",provider="openai",operation="chat"} 3',
    ]
    assert (
        'llm_request_duration_seconds_bucket{org="o",project="p",provider="openai",operation="chat",le="0.32"} 2'
        in text
    )
    assert len(histogram) == 17  # one histogram: 15 buckets, sum, count
    assert 'llm_cost_usd_total{org="o",project="p",provider="openai",model="gpt-4o-mini",operation="chat"}' in text
    ledger.duration_labels = ("org", "project", "provider", "model", "operation")
    counts = [line for line in ledger.render().splitlines() if line.startswith("llm_request_duration_seconds_count")]
    assert [line.split("model=")[1] for line in counts] == [
        '"gpt-4o",operation="chat"} 1',
        '"gpt-4o-mini",operation="chat"} 2',
    ]


def test_cached_lines_are_rendered_again_when_their_series_changes() -> None:
    now = [0.0]
    ledger = UsageLedger(hold_s=5.0, monotonic=lambda: now[0])
    for model in ("a", "b", "c"):
        ledger.add(("o", "p", "openai", model, "chat"), (1, 0, 0, 0, 0), 10, 1, duration_s=0.1)

    def fresh(scrape: bool) -> str:
        return exposition.text(ledger.snapshot(scrape))

    assert cost_of(ledger.render(scrape=True)) == 0  # held at 0 for a scraper, cached so
    now[0] = 10.0
    ledger.render(scrape=True)  # the hold ends
    assert ledger.render(scrape=True) == fresh(True)
    ledger.add(("o", "p", "openai", "b", "chat"), (5, 0, 0, 0, 0), 10**15, 1, duration_s=2.0)
    cached = ledger.render(scrape=True)
    assert cached == fresh(True)
    assert 'model="b",operation="chat"} 1.00000000000001' in cached
    ledger.duration_labels = ("org", "project", "provider", "model", "operation")
    assert ledger.render() == fresh(False)
