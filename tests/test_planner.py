"""The webhook's planner on an injected clock: tombstones age by the clock, across month, leap-day and year ends."""

from __future__ import annotations

import pytest

from llm_cost_tracker.alertmanager.payload import parse_webhook
from llm_cost_tracker.alertmanager.planner import TOMBSTONE_SECONDS, apply_alerts
from llm_cost_tracker.inputfile import parse_model
from llm_cost_tracker.routing.document import RoutingDocument
from llm_cost_tracker.rules.spec import BudgetFile
from tests.clock import TestClock, parse_now
from tests.webhook_payloads import BUDGETS, Alerts, notification

BUDGET_FILE = parse_model(BUDGETS, "budgets.yaml", BudgetFile, context={})


def price(provider: str, model: str) -> float | None:
    return None


def apply(document: RoutingDocument, body: bytes, now: float) -> tuple[RoutingDocument, list[str]]:
    new, outcomes = apply_alerts(document, parse_webhook(body).alerts, BUDGET_FILE, price, now=now)
    return new, [o.action if not o.reason else f"{o.action}:{o.reason}" for o in outcomes]


@pytest.mark.parametrize(
    "moment",
    ["2027-01-31T23:59:30Z", "2028-02-29T12:00:00Z", "2027-12-31T23:59:59Z", "2026-03-31T23:00:00Z"],
)
def test_a_late_repeat_is_stale_for_a_day_whatever_the_date(moment: str) -> None:
    clock = TestClock(parse_now(moment))
    alert = Alerts(clock)
    now = clock()
    document, actions = apply(RoutingDocument(), notification(alert("firing")), now)
    assert actions == ["added"]
    document, actions = apply(document, notification(alert("resolved")), now + 5)
    assert actions == ["removed"]
    # Within a day (across the month's, year's or February's end), the old episode cannot come back.
    for later in (60, 3600, TOMBSTONE_SECONDS - 60):
        _, actions = apply(document, notification(alert("firing")), now + later)
        assert actions == ["ignored:stale"], later
    # A new episode (a later startsAt) always can.
    _, actions = apply(document, notification(alert("firing", starts=clock.iso(3600))), now + 3600)
    assert actions == ["added"]


def test_tombstones_are_forgotten_a_day_after_by_the_injected_clock() -> None:
    clock = TestClock(parse_now("2027-01-31T23:59:30Z"))
    alert = Alerts(clock)
    now = clock()
    document, _ = apply(RoutingDocument(), notification(alert("firing")), now)
    document, _ = apply(document, notification(alert("resolved")), now)
    assert len(document.resolved) == 1
    # Another alert's notification a day and a minute later prunes the old tombstone.
    other = alert("firing", "checkout-daily", fingerprint="bb", starts=clock.iso(TOMBSTONE_SECONDS))
    document, _ = apply(document, notification(other), now + TOMBSTONE_SECONDS + 60)
    assert [key for key, _ in document.resolved] == []
