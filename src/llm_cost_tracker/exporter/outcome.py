"""What became of the spans or points of one export request (the OTLP response is built from it)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Final, Literal

Encoding = Literal["protobuf", "json"]

# Reasons a span or point is not counted. Ignored items are not GenAI calls;
# rejected ones are GenAI calls we cannot use, reported in partial_success.
IGNORED_NOT_GENAI: Final = "not_genai"
IGNORED_AGGREGATE: Final = "aggregate"
"""An agent run, a step, a workflow: its usage is its model calls', counted from their own spans."""
IGNORED_SOURCE_USES_METRICS: Final = "source_uses_metrics"
REJECTED_MISSING_USAGE: Final = "missing_usage"
REJECTED_INVALID_USAGE: Final = "invalid_usage"
REJECTED_MISSING_MODEL: Final = "missing_model"
REJECTED_INVALID_VALUE: Final = "invalid_value"
REJECTED_INVALID_MODEL: Final = "invalid_model"
REJECTED_IMPLAUSIBLE_USAGE: Final = "implausible_usage"

REJECTED_PROJECT_NOT_ALLOWED: Final = "project_not_allowed"
REJECT_HINTS: Final = {
    REJECTED_MISSING_USAGE: "GenAI client span without token usage (for streamed OpenAI calls set "
    "stream_options={'include_usage': True})",
    REJECTED_INVALID_USAGE: "token count that is negative, not an integer or implausibly large",
    REJECTED_MISSING_MODEL: "GenAI metric point without gen_ai.request.model or gen_ai.response.model",
    REJECTED_INVALID_VALUE: "negative, non-finite or unknown value",
    REJECTED_PROJECT_NOT_ALLOWED: "project not among this tenant's projects in the tenants file",
    REJECTED_INVALID_MODEL: "model name that is not valid UTF-8",
    REJECTED_IMPLAUSIBLE_USAGE: "more tokens than the model's context window allows, or than "
    "limits.max_tokens_per_call",
}


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
