"""What became of the spans or points of one export request (the OTLP response is built from it)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Literal

from llm_cost_tracker.exporter.normalise import REJECT_HINTS

Encoding = Literal["protobuf", "json"]


@dataclass(slots=True)
class IngestResult:
    """What became of the spans or points of one request."""

    received: int = 0
    """Spans or points in the request (what a tenant's rate limit counts)."""
    accepted: int = 0
    duplicates: int = 0
    ignored: Counter[str] = field(default_factory=Counter)
    rejected: Counter[str] = field(default_factory=Counter)

    @property
    def rejected_count(self) -> int:
        return sum(self.rejected.values())

    def message(self, noun: str) -> str:
        """The ``partial_success.error_message``: why items were rejected and what to do."""
        if not self.rejected:
            return ""
        parts = [
            f"{count} {reason} ({REJECT_HINTS.get(reason, reason.replace('_', ' '))})"
            for reason, count in sorted(self.rejected.items())
        ]
        return f"rejected {self.rejected_count} GenAI {noun}: " + "; ".join(parts)
