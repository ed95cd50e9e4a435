"""Plain data passed between the stages: decode → normalise → price → record."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

TOKEN_TYPES: Final = ("input", "cache_read", "cache_write", "output", "reasoning")
"""Non-overlapping token types: summing over them gives the true total."""

INPUT, CACHE_READ, CACHE_WRITE, OUTPUT, REASONING = range(5)

Tokens = tuple[int, int, int, int, int]
"""Token counts in ``TOKEN_TYPES`` order."""

NO_TOKENS: Final[Tokens] = (0, 0, 0, 0, 0)

LabelKey = tuple[str, str, str, str, str]
"""Label values ``(org, project, provider, model, operation)`` of one series."""


@dataclass(frozen=True, slots=True)
class SpanPlace:
    """A span's identity and place: trace-qualified ids, instrumentation scope, interval, the models it names."""

    key: bytes
    """Trace id + span id."""
    parent: bytes
    """Trace id + parent span id (trace id alone for a root span)."""
    scope: str
    start_ns: int
    end_ns: int
    models: frozenset[str]
    """The families of the models it names (requested and answered: ``gpt-4o-mini``, not its dated id)."""


@dataclass(slots=True)
class UsageRecord:
    """One provider call (from a span) or one metric point's worth of usage."""

    labels: LabelKey
    price_model: str
    """The model to price: the response model, else the requested one."""
    tokens: Tokens
    """Non-overlapping token types, split once from ``reported``."""
    reported: Tokens = NO_TOKENS
    """What the source reported, as the conventions count it: input total (cache included), cache read,
    cache write, output total (reasoning included), reasoning. Duplicate spans of one call merge on these."""
    cache_write_1h: int = 0
    """How many of the ``cache_write`` tokens were written with a 1-hour TTL."""
    requests: int = 1
    """How many calls the record covers (a metric point may aggregate several)."""
    count_requests: bool = True
    """False for token and cost points of a metrics push: their calls are counted
    from the duration histogram."""
    ok: bool = True
    duration_s: float | None = None
    reported_cost_usd: float | None = None
    time_unix_nano: int = 0
    service_tier: str = ""
    dedupe_key: object = None
    """Identity of the provider call, so duplicate spans of one call count once."""
    has_usage: bool = True
    span: SpanPlace | None = None
    """Where the span sits in its trace (spans only), to recognise two spans of one call without a shared id."""

    @property
    def provider(self) -> str:
        return self.labels[2]

    @property
    def model(self) -> str:
        return self.labels[3]
