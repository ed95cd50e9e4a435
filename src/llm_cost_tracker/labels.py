"""Where the ``org`` and ``project`` labels come from: plain configuration values shared by the config and the exporter.

Kept out of ``exporter`` so that ``config`` can build them without importing the
exporter (DESIGN §2: components depend on shared value types, not on each other).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class LabelSource:
    """Where a label's value comes from: a span (or metric point) attribute or a resource attribute."""

    scope: str  # "span" | "resource"
    key: str


@dataclass(frozen=True, slots=True)
class LabelMapping:
    """The sources of ``org`` and ``project``, first non-empty wins, and their defaults."""

    org: tuple[LabelSource, ...]
    org_default: str
    project: tuple[LabelSource, ...]
    project_default: str
    max_value_length: int = 128

    @property
    def resource_only(self) -> bool:
        return all(source.scope == "resource" for source in self.org + self.project)

    @property
    def span_keys(self) -> tuple[str, ...]:
        """The span attributes the labels read."""
        return tuple(s.key for s in self.org + self.project if s.scope == "span")

    def clip(self, value: str) -> str:
        return value if len(value) <= self.max_value_length else value[: self.max_value_length]
