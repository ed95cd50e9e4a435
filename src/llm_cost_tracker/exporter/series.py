"""One labelled series of the ledger: every counter of an (org, project, provider, model, operation)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

from llm_cost_tracker.exporter.exposition import ERROR_BIT, OK_BIT, SERIES_LABELS, label_text
from llm_cost_tracker.usage import LabelKey

GENAI_DURATION_BUCKETS: Final = (
    0.01,
    0.02,
    0.04,
    0.08,
    0.16,
    0.32,
    0.64,
    1.28,
    2.56,
    5.12,
    10.24,
    20.48,
    40.96,
    81.92,
)
"""The OTel GenAI semantic conventions' advisory boundaries for ``gen_ai.client.operation.duration``."""


def lines_of(tokens: Sequence[int], ok: int, errors: int) -> int:
    """The lines a call counts on."""
    return (
        (tokens[0] > 0)
        | (tokens[1] > 0) << 1
        | (tokens[2] > 0) << 2
        | (tokens[3] > 0) << 3
        | (tokens[4] > 0) << 4
        | (ok > 0) << OK_BIT
        | (errors > 0) << ERROR_BIT
    )


def org_of(key: object) -> str | None:
    """The org of a held key: a series' label key, or ``(metric, label values)`` of a call counter."""
    if isinstance(key, tuple) and key:
        first = key[0]
        if isinstance(first, str) and len(key) == 5:
            return first
        values = key[1] if len(key) == 2 else None
        if isinstance(values, tuple) and values and isinstance(values[0], str):
            return values[0]
    return None


class SeriesState:
    """Every counter of one (org, project, provider, model, operation) series."""

    __slots__ = (
        "buckets",
        "changed",
        "cost_fusd",
        "created",
        "duration_count",
        "duration_sum",
        "errors",
        "key",
        "labels",
        "lines",
        "ok",
        "tokens",
    )

    def __init__(self, key: LabelKey, bucket_count: int, created: float) -> None:
        self.key = key
        """The label set this series counts under (after any fold at a cap)."""
        self.labels = label_text(SERIES_LABELS, key)
        self.lines = 0
        """The token and request lines that have counted something (``LINE_*`` bits): only those are exposed."""
        self.created = created
        """When the series began (Unix seconds): the created timestamp of its counters."""
        self.cost_fusd = 0
        self.tokens = [0, 0, 0, 0, 0]
        self.ok = 0
        self.errors = 0
        self.buckets = [0] * bucket_count
        self.duration_sum = 0.0
        self.duration_count = 0
        self.changed = 0
        """The ledger's version at the series' last change: a render cache's key."""
