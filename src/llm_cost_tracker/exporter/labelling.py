"""The ``org`` and ``project`` labels of a call: the first non-empty configured source, else the default."""

from __future__ import annotations

from collections.abc import Mapping

from llm_cost_tracker.exporter.aliases import Aliases, field_of, with_label_keys
from llm_cost_tracker.labels import LabelMapping, LabelSource


def label_aliases(labels: LabelMapping) -> Aliases:
    """The alias table plus the span attributes the labels are read from."""
    return with_label_keys(labels.span_keys)


def _resolve_label(
    labels: LabelMapping,
    sources: tuple[LabelSource, ...],
    default: str,
    fields: Mapping[str, object],
    resource: Mapping[str, object],
) -> str:
    for source in sources:
        value = fields.get(field_of(source.key)) if source.scope == "span" else resource.get(source.key)
        if value is not None and value != "":
            return labels.clip(str(value))
    return default


def org_project(labels: LabelMapping, fields: Mapping[str, object], resource: Mapping[str, object]) -> tuple[str, str]:
    return (
        _resolve_label(labels, labels.org, labels.org_default, fields, resource),
        _resolve_label(labels, labels.project, labels.project_default, fields, resource),
    )
