"""The caller's scope (org, project) from the OpenTelemetry resource the app already sets."""

from __future__ import annotations

import os
from collections.abc import Mapping


def resource_attributes(environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """``OTEL_RESOURCE_ATTRIBUTES`` and ``OTEL_SERVICE_NAME``, parsed as the OpenTelemetry SDK does."""
    env = os.environ if environ is None else environ
    attributes: dict[str, str] = {}
    for item in env.get("OTEL_RESOURCE_ATTRIBUTES", "").split(","):
        key, sep, value = item.partition("=")
        if sep and key.strip():
            attributes[key.strip()] = value.strip()
    if env.get("OTEL_SERVICE_NAME"):
        attributes["service.name"] = env["OTEL_SERVICE_NAME"]
    return attributes


def scope_from_resource(
    *,
    project: str | None = "service.name",
    org: str | None = None,
    environ: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """The scope to route by, read from resource attributes as the exporter reads its labels.

    The defaults match the exporter's default label mapping (``project`` from
    ``service.name``, ``org`` unmapped); pass the same attribute names as your
    exporter's ``labels`` config, e.g. ``scope_from_resource(project="tenant.project", org="tenant.org")``.
    """
    attributes = resource_attributes(environ)
    scope = {}
    if project and attributes.get(project):
        scope["project"] = attributes[project]
    if org and attributes.get(org):
        scope["org"] = attributes[org]
    return scope
