"""What a provider's admin API says about one UTC day: billed dollars and used tokens, per project."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Protocol

from llm_cost_tracker.clock import midnight as midnight

DEFAULT_PROJECT = "default"
"""How the projects map names the provider's default project or workspace (a ``null`` id in the APIs)."""


@dataclass(frozen=True, slots=True)
class BilledCost:
    provider: str
    project_id: str
    """The provider's project or workspace id; ``DEFAULT_PROJECT`` for its default one."""
    day: date
    usd: Decimal
    model: str | None = None
    """The model, where the API attributes the cost to one (Anthropic); ``None`` for other costs."""


@dataclass(frozen=True, slots=True)
class UsedTokens:
    provider: str
    project_id: str
    day: date
    model: str
    input: int
    """Uncached input tokens (as ``llm_tokens_total{token_type="input"}``)."""
    cache_read: int
    cache_write: int
    output: int
    """Output tokens, reasoning included."""
    requests: int | None


class BillingSource(Protocol):
    """One provider's admin API, for the UTC days ``[start, end)``."""

    provider: str

    def costs(self, start: date, end: date, *, by_model: bool = False) -> list[BilledCost]: ...

    def usage(self, start: date, end: date) -> list[UsedTokens]: ...

    def close(self) -> None: ...
