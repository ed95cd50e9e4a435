"""Where a new label set goes when its metric is near its caps: its own series, ``other`` of its project, or
``__overflow__``.

A flood of made-up projects or models must not blind a budget. So the caps are per dimension, not one pool:

- each org has at most ``max_projects_per_org`` projects; a new project past it is counted in the org's
  ``(org, __overflow__, ...)`` series;
- each project has at most ``max_models_per_project`` label sets (provider, model, operation); a new one past
  it is counted in the project's ``(org, project, other, other, other)`` series, which its budgets still see;
- past the metric's series cap (``limits.max_series_per_metric``, or a tenant's ``max_series``), known
  projects fold new models into their ``other``, known orgs new projects into their overflow, and new orgs
  into the global ``__overflow__`` series;
- what a budget names by value (``match: {org: acme, project: checkout, model: gpt-4o}``) and the default
  org are reserved: they get their own series whatever the caps, so that its rules see every cent. A
  reserved project's new models still meet its model cap, which bounds what reservations can add.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Final

OVERFLOW: Final = "__overflow__"
OTHER: Final = "other"

PROJECTS: Final = "projects"
MODELS: Final = "models"
SERIES: Final = "series"


@dataclass(frozen=True)
class Reservations:
    """Label values that always get their own series: the default org and what budgets match by value."""

    orgs: frozenset[str] = frozenset()
    projects: frozenset[tuple[str | None, str]] = frozenset()
    """(org or None for any org, project)."""
    models: frozenset[tuple[str | None, str | None, str]] = frozenset()
    """(org or None, project or None, model)."""

    @classmethod
    def of(cls, matches: Iterable[Mapping[str, str]], default_org: str | None = None) -> Reservations:
        """From budgets' ``match`` maps; matchers with an operator (``=~``, ``!~``, ``!=``) reserve nothing."""
        orgs = {default_org} if default_org else set()
        projects: set[tuple[str | None, str]] = set()
        models: set[tuple[str | None, str | None, str]] = set()
        for match in matches:
            exact = {k: v for k, v in match.items() if not v.startswith(("=~", "!~", "!="))}
            org, project, model = exact.get("org"), exact.get("project"), exact.get("model")
            if org is not None:
                orgs.add(org)
            if project is not None:
                projects.add((org, project))
            if model is not None:
                models.add((org, project, model))
        return cls(frozenset(orgs), frozenset(projects), frozenset(models))

    def org(self, org: str) -> bool:
        return org in self.orgs

    def project(self, org: str, project: str) -> bool:
        return (org, project) in self.projects or (None, project) in self.projects

    def model(self, org: str, project: str, model: str) -> bool:
        models = self.models
        return bool(models) and any((o, p, model) in models for o in (org, None) for p in (project, None))


@dataclass
class DimensionLimits:
    max_projects_per_org: int = 1000
    max_models_per_project: int = 100


class FamilyCaps:
    """The projects of each org and the label sets of each project of one metric family."""

    def __init__(self, keep_last: bool = False) -> None:
        self.keep_last = keep_last
        """The last label is a closed vocabulary (``reason``): folded keys keep it."""
        self.projects: dict[str, set[str]] = {}
        self.label_sets: dict[tuple[str, str], int] = {}

    def place(
        self, key: tuple[str, ...], room: bool, limits: DimensionLimits, reserved: Reservations
    ) -> tuple[tuple[str, ...], str | None]:
        """The key a new label set ``key`` is counted under, and why it was folded (``None``: not folded).

        ``key`` is ``(org, project, provider, model, ..., last)`` (a folded key has its length); ``room``: the
        family is below its series cap.
        """
        org, project = key[0], key[1]
        size = len(key)
        projects = self.projects.get(org)
        if projects is None or project not in projects:
            if not reserved.project(org, project) and (
                not room or (projects is not None and len(projects) >= limits.max_projects_per_org)
            ):
                tail = (key[size - 1],) if self.keep_last else (OVERFLOW,)
                if projects is None and not reserved.org(org):
                    return (OVERFLOW,) * (size - 1) + tail, SERIES
                return (org,) + (OVERFLOW,) * (size - 2) + tail, PROJECTS if room else SERIES
            if projects is None:
                projects = self.projects[org] = set()
            projects.add(project)
        scope = (org, project)
        used = self.label_sets.get(scope, 0)
        if not reserved.model(org, project, key[3]) and (not room or used >= limits.max_models_per_project):
            tail = (key[size - 1],) if self.keep_last else (OTHER,)
            return (org, project) + (OTHER,) * (size - 3) + tail, MODELS if room else SERIES
        self.label_sets[scope] = used + 1
        return key, None
