"""What a batch of alerts does to the routing file: a pure function of the file, the alerts and the budgets.

Each alert acts by its own ``status``, never the group's, keyed by its
fingerprint; repeats and duplicates (Alertmanager delivers at least once, and
each of an HA pair sends every alert) change nothing. Swaps come only from
the budget file: an alert names a budget, never a model or a path.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass
from typing import Final

from llm_cost_tracker.alertmanager.payload import Alert, timestamp
from llm_cost_tracker.routing.document import Override, RoutingDocument, iso_utc
from llm_cost_tracker.rules.spec import MATCH_LABELS, Budget, BudgetFile

ACTING_ALERTS: Final = ("LLMBudgetExceeded",)
STEERING_LABELS: Final = frozenset(
    {"from", "to", "from_model", "to_model", "swap", "target", "path", "file", "routing_file", "url"}
)
"""Labels no generated alert has, which could only be an attempt to steer a swap."""
TOMBSTONE_SECONDS: Final = 86_400
MAX_TOMBSTONES: Final = 1000

Price = Callable[[str, str], float | None]
"""(provider, model) → USD per million tokens (input + output), or None when unknown."""


@dataclass(frozen=True)
class Outcome:
    fingerprint: str
    budget: str
    action: str  # added | updated | removed | unchanged | ignored
    reason: str = ""

    def to_dict(self) -> dict[str, str]:
        out = {"fingerprint": self.fingerprint, "budget": self.budget, "action": self.action}
        if self.reason:
            out["reason"] = self.reason
        return out


def check(alert: Alert, budgets: BudgetFile | None, alertnames: Collection[str]) -> tuple[Budget | None, str]:
    """The budget an alert acts for, or why it does not act."""
    labels = alert.labels
    if labels.get("alertname") not in alertnames:
        return None, "not_acting_alert"
    if STEERING_LABELS & labels.keys():
        return None, "unexpected_labels"
    name = labels.get("budget")
    if not name:
        return None, "no_budget_label"
    budget = budgets.budget(name) if budgets is not None else None
    if budget is None:
        return None, "unknown_budget"
    for key in MATCH_LABELS:
        expected = budget.group_labels.get(key)
        if expected is None and labels.get(key) and key not in budget.match:  # an empty label is no label
            return None, "unexpected_labels"
        if expected is not None and labels.get(key) != expected:
            return None, "labels_mismatch"
    if not budget.on_exceeded.swap:
        return None, "no_swaps"
    return budget, ""


def swaps_of(budget: Budget, alert: Alert, price: Price) -> tuple[Override, ...]:
    scope = {k: v for k, v in budget.match.items() if k != "model"}
    provider = budget.group_labels.get("provider", "")
    return tuple(
        Override(
            from_=swap.from_,
            to=swap.to,
            scope=scope,
            budget=budget.name,
            fingerprint=alert.key,
            since=alert.startsAt,
            to_usd_per_mtok=price(provider, swap.to),
        )
        for swap in budget.on_exceeded.swap
    )


def _order(overrides: Iterable[Override]) -> tuple[Override, ...]:
    """Cheapest target first (unknown prices last), then by name: the first that applies wins."""
    return tuple(
        sorted(
            overrides,
            key=lambda o: (o.to_usd_per_mtok is None, o.to_usd_per_mtok or 0.0, o.to, o.from_, o.fingerprint),
        )
    )


def _same(a: Iterable[Override], b: Iterable[Override]) -> bool:
    return sorted((o.from_, o.to, tuple(sorted(o.scope.items()))) for o in a) == sorted(
        (o.from_, o.to, tuple(sorted(o.scope.items()))) for o in b
    )


class _Plan:
    def __init__(self, document: RoutingDocument, now: float) -> None:
        self.overrides = list(document.overrides)
        self.tombstones = dict(document.resolved)
        self.now = now
        self.outcomes: list[Outcome] = []

    def of(self, fingerprint: str) -> list[Override]:
        return [o for o in self.overrides if o.fingerprint == fingerprint]

    def fire(self, alert: Alert, budget: Budget, price: Price, *, trust: bool = False) -> None:
        key = alert.key
        tombstone = self.tombstones.get(key)
        if tombstone is not None and not trust and timestamp(alert.startsAt) <= timestamp(tombstone):
            self.outcomes.append(Outcome(key, budget.name, "ignored", "stale"))
            return
        wanted = swaps_of(budget, alert, price)
        existing = self.of(key)
        if existing and _same(existing, wanted):
            self.outcomes.append(Outcome(key, budget.name, "unchanged"))
            return
        self.overrides = [o for o in self.overrides if o.fingerprint != key] + list(wanted)
        self.tombstones.pop(key, None)
        self.outcomes.append(Outcome(key, budget.name, "updated" if existing else "added"))

    def resolve(self, alert: Alert, budget_name: str, reason: str = "") -> None:
        key = alert.key
        existing = self.of(key)
        ended = timestamp(alert.endsAt) or self.now
        self.tombstones[key] = iso_utc(max(ended, timestamp(self.tombstones.get(key, ""))))
        if not existing:
            self.outcomes.append(Outcome(key, budget_name, "unchanged", reason))
            return
        self.overrides = [o for o in self.overrides if o.fingerprint != key]
        self.outcomes.append(Outcome(key, budget_name, "removed", reason))

    def document(self, current: RoutingDocument) -> RoutingDocument:
        horizon = self.now - TOMBSTONE_SECONDS
        kept = sorted(
            ((k, at) for k, at in self.tombstones.items() if timestamp(at) >= horizon),
            key=lambda item: (item[1], item[0]),
        )[-MAX_TOMBSTONES:]
        return current.with_overrides(_order(self.overrides), tuple(kept))


def apply_alerts(
    document: RoutingDocument,
    alerts: Iterable[Alert],
    budgets: BudgetFile | None,
    price: Price,
    *,
    alertnames: Collection[str] = ACTING_ALERTS,
    now: float,
) -> tuple[RoutingDocument, list[Outcome]]:
    """The document after the alerts of one webhook notification, and what each alert did."""
    plan = _Plan(document, now)
    for alert in alerts:
        budget, reason = check(alert, budgets, alertnames)
        if budget is None:
            if alert.status == "resolved" and reason == "unknown_budget" and plan.of(alert.key):
                # The budget is gone from the file, but its swap is still in force: end it.
                plan.resolve(alert, alert.labels.get("budget", ""), "budget_removed")
            else:
                plan.outcomes.append(Outcome(alert.key, alert.labels.get("budget", ""), "ignored", reason))
        elif alert.status == "firing":
            plan.fire(alert, budget, price)
        else:
            plan.resolve(alert, budget.name)
    return plan.document(document), plan.outcomes


def reconcile(
    document: RoutingDocument,
    active: Iterable[Alert],
    budgets: BudgetFile | None,
    price: Price,
    *,
    alertnames: Collection[str] = ACTING_ALERTS,
    now: float,
) -> tuple[RoutingDocument, list[Outcome]]:
    """Make the overrides match the alerts Alertmanager has active now (after a restart of the receiver)."""
    plan = _Plan(document, now)
    active_keys = set()
    for alert in active:
        budget, _ = check(alert, budgets, alertnames)
        if budget is None:
            continue
        active_keys.add(alert.key)
        plan.fire(alert, budget, price, trust=True)
    for override in list(plan.overrides):
        if override.fingerprint not in active_keys and plan.of(override.fingerprint):
            gone = Alert(status="resolved", labels={}, fingerprint=override.fingerprint)
            plan.resolve(gone, override.budget, "not_active")
    return plan.document(document), plan.outcomes
