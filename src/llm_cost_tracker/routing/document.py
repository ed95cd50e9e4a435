"""The routing file: which model calls go to which model instead, and why.

```yaml
# Managed by llm-cost-tracker: model swaps of exceeded budgets.
version: llm-cost-tracker/v1
generation: 7                       # +1 on every change
updated_at: "2026-11-28T03:00:00Z"
overrides:                          # written by the webhook receiver, cheapest target first
  - budget: checkout-monthly
    scope: {org: acme, project: checkout}
    from: gpt-4o
    to: gpt-4o-mini
    to_usd_per_mtok: 0.75           # input + output price, for the ordering
    fingerprint: 6a5d6c8b2f0e1d34   # the Alertmanager alert that put it here
    since: "2026-11-28T02:59:12Z"
pins:                               # written by people; kept as they are, and they win
  - scope: {project: research}
    from: "claude-sonnet-4*"
    to: claude-haiku-4-5-20251001
    note: cost freeze until December
resolved:                           # alerts resolved lately, so that a late repeat cannot re-add them
  - fingerprint: 1f2e3d4c5b6a7988
    at: "2026-11-28T01:00:00Z"
```

Plain data and a lenient parser, so that the router in an app needs nothing
but the standard library and PyYAML, and never raises on a file a person
edited badly: ``parse`` reports problems as ``RoutingFileError``.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any, Final

import yaml

VERSION: Final = "llm-cost-tracker/v1"
SCOPE_KEYS: Final = ("org", "project", "provider", "operation")
"""The labels a swap can be scoped by (the budget's plain-value match labels, but for the model)."""
HEADER: Final = (
    "# Managed by llm-cost-tracker: model swaps of exceeded budgets (overrides) and swaps set by\n"
    "# people (pins, which win and are kept as they are). See `llm-cost-tracker routing show`.\n"
)


def iso_utc(seconds: float) -> str:
    """A time as the routing file writes it: ``2026-11-28T03:00:00Z``."""
    return datetime.fromtimestamp(seconds, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def label_matches(value: str | None, matcher: str) -> bool:
    """Whether a caller's label value meets a scope matcher: ``value``, ``=~re``, ``!~re``, ``!=value``.

    A caller that does not give the label matches only negative matchers, as in PromQL,
    where an absent label is the empty string.
    """
    actual = value or ""
    if matcher.startswith("=~"):
        return _regex(matcher[2:]).fullmatch(actual) is not None
    if matcher.startswith("!~"):
        return _regex(matcher[2:]).fullmatch(actual) is None
    if matcher.startswith("!="):
        return actual != matcher[2:]
    return actual == matcher


_REGEXES: dict[str, re.Pattern[str]] = {}


def _regex(pattern: str) -> re.Pattern[str]:
    compiled = _REGEXES.get(pattern)
    if compiled is None:
        try:
            compiled = re.compile(pattern)
        except re.error:
            compiled = re.compile(r"(?!)")  # a broken pattern matches nothing
        if len(_REGEXES) < 1024:
            _REGEXES[pattern] = compiled
    return compiled


class RoutingFileError(ValueError):
    """The routing file cannot be read or is not a routing file; ``where``: ``LINE:COLUMN`` of a YAML error."""

    def __init__(self, message: str, where: str = "") -> None:
        super().__init__(message)
        self.where = where


@dataclass(frozen=True)
class Override:
    """A model swap: calls to ``from_`` (a glob) within ``scope`` (label matchers) go to ``to``."""

    from_: str
    to: str
    scope: Mapping[str, str] = field(default_factory=dict)
    budget: str = ""
    fingerprint: str = ""
    since: str = ""
    to_usd_per_mtok: float | None = None
    note: str = ""

    def applies(self, model: str, scope: Mapping[str, str]) -> bool:
        return fnmatch.fnmatchcase(model, self.from_) and all(
            label_matches(scope.get(key), matcher) for key, matcher in self.scope.items()
        )

    def to_dict(self, *, pin: bool = False) -> dict[str, object]:
        out: dict[str, object] = {}
        if not pin:
            out["budget"] = self.budget
        out["scope"] = dict(self.scope)
        out["from"] = self.from_
        out["to"] = self.to
        if pin:
            if self.note:
                out["note"] = self.note
            return out
        if self.to_usd_per_mtok is not None:
            out["to_usd_per_mtok"] = self.to_usd_per_mtok
        out["fingerprint"] = self.fingerprint
        out["since"] = self.since
        return out


@dataclass(frozen=True)
class RoutingDocument:
    generation: int = 0
    updated_at: str = ""
    overrides: tuple[Override, ...] = ()
    pins: tuple[Override, ...] = ()
    resolved: tuple[tuple[str, str], ...] = ()
    """``(fingerprint, resolved at)`` of alerts resolved lately."""

    def resolve(self, model: str, scope: Mapping[str, str]) -> str:
        """The model to call instead of ``model`` for a caller in ``scope``: pins first, then overrides."""
        for rule in self.pins:
            if rule.applies(model, scope):
                return rule.to
        for rule in self.overrides:
            if rule.applies(model, scope):
                return rule.to
        return model

    def route(self, model: str, scope: Mapping[str, str]) -> tuple[str, str]:
        """``(model to call, budget)``: the budget whose swap applies (``"pin"`` for a pin), ``""`` for none."""
        for rule in self.pins:
            if rule.applies(model, scope):
                return rule.to, "pin"
        for rule in self.overrides:
            if rule.applies(model, scope):
                return rule.to, rule.budget
        return model, ""

    def with_overrides(self, overrides: tuple[Override, ...], resolved: tuple[tuple[str, str], ...]) -> RoutingDocument:
        return replace(self, overrides=overrides, resolved=resolved)

    def to_dict(self) -> dict[str, object]:
        return {
            "version": VERSION,
            "generation": self.generation,
            "updated_at": self.updated_at,
            "overrides": [o.to_dict() for o in self.overrides],
            "pins": [p.to_dict(pin=True) for p in self.pins],
            "resolved": [{"fingerprint": f, "at": at} for f, at in self.resolved],
        }

    def dump(self) -> str:
        return HEADER + yaml.safe_dump(self.to_dict(), sort_keys=False, allow_unicode=True)


def _rule(raw: Any, where: str, *, pin: bool) -> Override:
    if not isinstance(raw, dict):
        raise RoutingFileError(f"{where} is not a mapping")
    source, target = raw.get("from"), raw.get("to")
    if not isinstance(source, str) or not source or not isinstance(target, str) or not target:
        raise RoutingFileError(f"{where} needs 'from' and 'to' model names")
    scope = raw.get("scope") or {}
    if not isinstance(scope, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in scope.items()):
        raise RoutingFileError(f"{where}.scope must map label names to values")
    price = raw.get("to_usd_per_mtok")
    return Override(
        from_=source,
        to=target,
        scope=scope,
        budget=str(raw.get("budget", "")),
        fingerprint=str(raw.get("fingerprint", "")),
        since=str(raw.get("since", "")),
        to_usd_per_mtok=float(price) if isinstance(price, int | float) and not isinstance(price, bool) else None,
        note=str(raw.get("note", "")) if pin else "",
    )


def parse(text: str) -> RoutingDocument:
    """A routing document from its YAML; raises ``RoutingFileError``. An empty file is an empty document."""
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{mark.line + 1}:{mark.column + 1}" if mark is not None else ""
        raise RoutingFileError(f"not valid YAML: {getattr(exc, 'problem', None) or exc}", where) from None
    if raw is None:
        return RoutingDocument()
    return from_mapping(raw)


def from_mapping(raw: object) -> RoutingDocument:
    """A routing document from its parsed YAML or JSON (``GET /tenants/{org}/routing``); raises
    ``RoutingFileError``."""
    if not isinstance(raw, dict):
        raise RoutingFileError("not a mapping")
    if raw.get("version") != VERSION:
        raise RoutingFileError(f"version is {raw.get('version')!r}, expected {VERSION!r}")
    generation = raw.get("generation", 0)
    if not isinstance(generation, int) or isinstance(generation, bool) or generation < 0:
        raise RoutingFileError("generation must be a non-negative integer")

    def rules(key: str, *, pin: bool) -> tuple[Override, ...]:
        items = raw.get(key) or []
        if not isinstance(items, list):
            raise RoutingFileError(f"{key} must be a list")
        return tuple(_rule(item, f"{key}[{i}]", pin=pin) for i, item in enumerate(items))

    resolved_raw = raw.get("resolved") or []
    if not isinstance(resolved_raw, list):
        raise RoutingFileError("resolved must be a list")
    resolved = tuple(
        (str(item.get("fingerprint", "")), str(item.get("at", ""))) for item in resolved_raw if isinstance(item, dict)
    )
    return RoutingDocument(
        generation=generation,
        updated_at=str(raw.get("updated_at", "")),
        overrides=rules("overrides", pin=False),
        pins=rules("pins", pin=True),
        resolved=resolved,
    )
