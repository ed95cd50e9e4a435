"""Alertmanager webhook payloads (version 4) as Alertmanager sends them."""

from __future__ import annotations

from typing import Any

import orjson

BUDGETS = """\
version: llm-cost-tracker/v1
budgets:
  - name: checkout-monthly
    match: {org: acme, project: checkout}
    amount_usd: 500
    period: month
    on_exceeded:
      swap:
        - {from: gpt-4o, to: gpt-4o-mini}
        - {from: "claude-3-5-sonnet*", to: claude-3-5-haiku-20241022}
  - name: checkout-daily
    match: {org: acme, project: checkout}
    amount_usd: 40
    period: day
    on_exceeded:
      swap: [{from: gpt-4o, to: gpt-3.5-turbo}]
  - name: no-swaps
    match: {project: research}
    amount_usd: 10
    period: day
"""


def alert(
    status: str = "firing",
    budget: str = "checkout-monthly",
    *,
    fingerprint: str = "6a5d6c8b2f0e1d34",
    starts: str = "2026-11-28T02:59:12.123456789Z",
    ends: str = "0001-01-01T00:00:00Z",
    **labels: str,
) -> dict[str, Any]:
    base = {
        "alertname": "LLMBudgetExceeded",
        "budget": budget,
        "org": "acme",
        "project": "checkout",
        "severity": "critical",
    }
    return {
        "status": status,
        "labels": {**base, **labels},
        "annotations": {"summary": "LLM budget exceeded"},
        "startsAt": starts,
        "endsAt": ends,
        "generatorURL": "http://prometheus:9090/graph",
        "fingerprint": fingerprint,
    }


def notification(*alerts: dict[str, Any], status: str | None = None) -> bytes:
    return orjson.dumps(
        {
            "version": "4",
            "groupKey": '{}/{alertname=~"LLMBudget.*"}:{alertname="LLMBudgetExceeded"}',
            "truncatedAlerts": 0,
            "status": status or alerts[0]["status"],
            "receiver": "llm-cost-tracker",
            "groupLabels": {"alertname": "LLMBudgetExceeded"},
            "commonLabels": {},
            "commonAnnotations": {},
            "externalURL": "http://alertmanager:9093",
            "alerts": list(alerts),
        }
    )
