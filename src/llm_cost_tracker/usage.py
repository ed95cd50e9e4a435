"""Plain data passed between the stages: decode → normalise → price → record."""

from __future__ import annotations

from typing import Final

TOKEN_TYPES: Final = ("input", "cache_read", "cache_write", "output", "reasoning")
"""Non-overlapping token types: summing over them gives the true total."""

INPUT, CACHE_READ, CACHE_WRITE, OUTPUT, REASONING = range(5)

Tokens = tuple[int, int, int, int, int]
"""Token counts in ``TOKEN_TYPES`` order."""

NO_TOKENS: Final[Tokens] = (0, 0, 0, 0, 0)

Extras = tuple[int, int, int, int]
"""What some calls report beyond the five token types: of the cache writes, those with a 1-hour TTL; of the
input and output tokens, the audio ones; and the provider-side web searches."""

NO_EXTRAS: Final[Extras] = (0, 0, 0, 0)

LabelKey = tuple[str, str, str, str, str]
"""Label values ``(org, project, provider, model, operation)`` of one series."""


class SpanPlace:
    """A span's identity and place: trace-qualified ids, instrumentation scope, interval, the models it names.

    Plain classes with their own ``__init__`` (here and below), not dataclasses: mypyc compiles them into
    native classes, while a dataclass keeps an interpreted ``__init__``, a microsecond per span.
    """

    __slots__ = ("end_ns", "key", "models", "parent", "scope", "start_ns")

    def __init__(
        self, key: bytes, parent: bytes, scope: str, start_ns: int, end_ns: int, models: tuple[str, ...]
    ) -> None:
        self.key = key
        """Trace id + span id."""
        self.parent = parent
        """Trace id + parent span id (trace id alone for a root span)."""
        self.scope = scope
        self.start_ns = start_ns
        self.end_ns = end_ns
        self.models = models
        """The families of the models it names (requested and answered: ``gpt-4o-mini``, not its dated id)."""


class UsageRecord:
    """One provider call (from a span) or one metric point's worth of usage."""

    __slots__ = (
        "count_requests",
        "dedupe_key",
        "duration_s",
        "extras",
        "has_usage",
        "labels",
        "ok",
        "price_model",
        "reported",
        "reported_cost_usd",
        "requests",
        "routed_budget",
        "routed_from",
        "service_tier",
        "span",
        "time_unix_nano",
        "tokens",
    )

    def __init__(
        self,
        labels: LabelKey,
        price_model: str,
        tokens: Tokens,
        reported: Tokens = NO_TOKENS,
        extras: Extras = NO_EXTRAS,
        requests: int = 1,
        count_requests: bool = True,
        ok: bool = True,
        duration_s: float | None = None,
        reported_cost_usd: float | None = None,
        time_unix_nano: int = 0,
        service_tier: str = "",
        dedupe_key: str | bytes | None = None,
        has_usage: bool = True,
        span: SpanPlace | None = None,
        routed_from: str = "",
        routed_budget: str = "",
    ) -> None:
        self.labels = labels
        self.price_model = price_model
        """The model to price: the response model, else the requested one."""
        self.tokens = tokens
        """Non-overlapping token types, split once from ``reported``."""
        self.reported = reported
        """What the source reported, as the conventions count it: input total (cache included), cache read,
        cache write, output total (reasoning included), reasoning. Duplicate spans of one call merge on these."""
        self.extras = extras
        """``(cache writes with a 1-hour TTL, audio input tokens, audio output tokens, web searches)``."""
        self.requests = requests
        """How many calls the record covers (a metric point may aggregate several)."""
        self.count_requests = count_requests
        """False for token and cost points of a metrics push: their calls are counted from the duration
        histogram."""
        self.ok = ok
        self.duration_s = duration_s
        self.reported_cost_usd = reported_cost_usd
        self.time_unix_nano = time_unix_nano
        self.service_tier = service_tier
        self.dedupe_key = dedupe_key
        """Identity of the provider call, so duplicate spans of one call count once."""
        self.has_usage = has_usage
        self.span = span
        """Where the span sits in its trace (spans only), to recognise two spans of one call without a shared
        id."""
        self.routed_from = routed_from
        """The model the app asked for, when a budget swap sent the call to ``labels[3]`` instead ("": none)."""
        self.routed_budget = routed_budget

    def __repr__(self) -> str:
        return f"UsageRecord({self.labels!r}, tokens={self.tokens!r}, ok={self.ok!r}, dedupe_key={self.dedupe_key!r})"

    @property
    def provider(self) -> str:
        return self.labels[2]

    @property
    def model(self) -> str:
        return self.labels[3]
