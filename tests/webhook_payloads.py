"""Alertmanager webhook payloads (version 4) as Alertmanager sends them."""

from __future__ import annotations

from typing import Any, Final

import orjson

from tests.clock import TestClock

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


NEVER: Final = "0001-01-01T00:00:00Z"
"""The ``endsAt`` of a firing alert in a webhook notification."""


class Alerts:
    """Alerts as Alertmanager sends them, timed by a test's clock.

    One episode of each alert started a minute before the test; repeats keep its
    ``startsAt``, as Alertmanager's do. A resolved alert ends "now" unless told.
    """

    def __init__(self, clock: TestClock) -> None:
        self.clock = clock
        self.episode = clock.iso(-60)

    def __call__(
        self,
        status: str = "firing",
        budget: str = "checkout-monthly",
        *,
        fingerprint: str = "6a5d6c8b2f0e1d34",
        starts: str | None = None,
        ends: str | None = None,
        **labels: str,
    ) -> dict[str, Any]:
        base = {
            "alertname": "LLMBudgetExceeded",
            "budget": budget,
            "org": "acme",
            "project": "checkout",
            "severity": "critical",
        }
        if ends is None:
            ends = self.clock.iso() if status == "resolved" else NEVER
        return {
            "status": status,
            "labels": {**base, **labels},
            "annotations": {"summary": "LLM budget exceeded"},
            "startsAt": starts or self.episode,
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
