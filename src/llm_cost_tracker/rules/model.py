"""Prometheus rule groups as typed values (rendered to YAML by ``render``), and how often they run."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Final

from llm_cost_tracker.rules import promql
from llm_cost_tracker.rules.spec import duration_pattern, duration_seconds

GROUP_INTERVAL: Final = "1m"
QUERY_OFFSET: Final = "10s"
"""Prometheus's default ``scrape_timeout``: every scrape begun before then has stored its samples."""
_INTERVAL = duration_pattern("sm")
_OFFSET = duration_pattern("sm", zero=True)


@dataclass(frozen=True)
class Resolution:
    """How often the rules run: each evaluation records the exact spend since the previous one.

    The default (every minute) suits any Prometheus: a budget is known to be exceeded at most one
    interval after it is. A shorter interval reacts sooner; the scrape interval need not be shorter
    (an interval without a new sample records 0), but ``web.new_series_hold_seconds`` must be at
    least the interval for a restart's last calls to count exactly (docs/exactness.md).

    Each evaluation reads the interval that ended ``offset_seconds`` earlier (as Prometheus 2.53's
    ``query_offset`` does, written into the expressions so that any Prometheus, vmalert or ruler runs
    them): a scrape stores its samples when it ends, stamped with the time it began, and one in flight
    while the rules run would otherwise be missed. It must be at least the ``scrape_timeout``
    (10 s by default), or the ingestion delay of a remote-write path.
    """

    interval_seconds: int = 60
    offset_seconds: int = 10

    @property
    def interval(self) -> str:
        return promql.duration(self.interval_seconds)

    @classmethod
    def parse(cls, interval: str = GROUP_INTERVAL, offset: str = QUERY_OFFSET) -> Resolution:
        """From ``--interval`` and ``--query-offset``; raises ``ValueError`` naming the bad value."""
        try:
            offset_seconds = 0 if offset == "0" else duration_seconds(offset, _OFFSET)
        except ValueError:
            raise ValueError(
                f"--query-offset: expected a duration in seconds or minutes such as 10s or 1m (got {offset!r})"
            ) from None
        if offset_seconds > 3600:
            raise ValueError(f"--query-offset: at most 1h (got {offset!r})")
        try:
            seconds = duration_seconds(interval, _INTERVAL)
        except ValueError:
            raise ValueError(
                f"--interval: expected a duration in seconds or minutes such as 10s or 1m (got {interval!r})"
            ) from None
        if 300 % seconds:
            raise ValueError(f"--interval: must divide 5 minutes evenly, e.g. 5s, 10s, 30s or 1m (got {interval!r})")
        return cls(seconds, offset_seconds)


@dataclass(frozen=True)
class RecordingRule:
    record: str
    expr: str
    labels: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, object]:
        rule: dict[str, object] = {"record": self.record, "expr": self.expr}
        if self.labels:
            rule["labels"] = dict(self.labels)
        return rule


@dataclass(frozen=True)
class AlertingRule:
    alert: str
    expr: str
    labels: dict[str, str]
    annotations: dict[str, str]
    for_: str = ""
    keep_firing_for: str = ""

    def to_dict(self) -> dict[str, object]:
        rule: dict[str, object] = {"alert": self.alert, "expr": self.expr}
        if self.for_:
            rule["for"] = self.for_
        if self.keep_firing_for:
            rule["keep_firing_for"] = self.keep_firing_for
        rule["labels"] = dict(self.labels)
        rule["annotations"] = dict(self.annotations)
        return rule


@dataclass(frozen=True)
class RuleGroup:
    name: str
    rules: list[RecordingRule | AlertingRule]
    interval: str = GROUP_INTERVAL

    def to_dict(self) -> dict[str, object]:
        return {"name": self.name, "interval": self.interval, "rules": [r.to_dict() for r in self.rules]}
