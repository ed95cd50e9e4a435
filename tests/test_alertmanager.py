"""The swap loop with a real Alertmanager: alert in, routing file rewritten, resolve swaps back;
and a restarted receiver that asks Alertmanager what is firing."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from llm_cost_tracker.routing import ModelRouter
from llm_cost_tracker.routing.document import parse
from tests.alertmanager_fixture import alertmanager
from tests.conftest import LiveServer, wait_until
from tests.webhook_payloads import BUDGETS

LABELS = {
    "alertname": "LLMBudgetExceeded",
    "budget": "checkout-monthly",
    "org": "acme",
    "project": "checkout",
    "severity": "critical",
}


def test_alert_through_alertmanager_swaps_and_resolve_swaps_back(
    start_server: Callable[..., LiveServer], tmp_path: Path
) -> None:
    (tmp_path / "budgets.yaml").write_text(BUDGETS)
    routing = tmp_path / "routing.yaml"
    server = start_server(budgets_file=str(tmp_path / "budgets.yaml"), routing_file=str(routing))
    router = ModelRouter(routing, scope={"org": "acme", "project": "checkout"})
    with alertmanager(tmp_path, f"{server.web_url}/alertmanager/webhook") as am:
        am.post_alert(LABELS)
        wait_until(lambda: router.resolve("gpt-4o") == "gpt-4o-mini", timeout=20)
        fingerprint = parse(routing.read_text()).overrides[0].fingerprint
        assert fingerprint == am.alerts()[0]["fingerprint"]  # keyed by Alertmanager's fingerprint

        am.post_alert(LABELS, resolved=True)
        wait_until(lambda: router.resolve("gpt-4o") == "gpt-4o", timeout=20)
        assert parse(routing.read_text()).overrides == ()


def test_restarted_receiver_reconciles_with_alertmanager(
    start_server: Callable[..., LiveServer], tmp_path: Path
) -> None:
    (tmp_path / "budgets.yaml").write_text(BUDGETS)
    routing = tmp_path / "routing.yaml"
    # Alertmanager sends to a receiver that is down: the notification is lost to it.
    with alertmanager(tmp_path, "http://127.0.0.1:9/alertmanager/webhook") as am:
        am.post_alert(LABELS)
        wait_until(lambda: len(am.alerts()) == 1, timeout=10)
        settings = {
            "budgets_file": str(tmp_path / "budgets.yaml"),
            "routing_file": str(routing),
            "webhook": {"alertmanager_urls": [am.url]},
        }
        start_server(**settings)  # asks Alertmanager at start, before it is ready
        document = parse(routing.read_text())
        assert [(o.budget, o.to) for o in document.overrides if o.from_ == "gpt-4o"] == [
            ("checkout-monthly", "gpt-4o-mini")
        ]

        # The alert resolves while the receiver is down again; the next start drops the stale swap.
        am.post_alert(LABELS, resolved=True)
        wait_until(lambda: all(a["status"]["state"] != "active" for a in am.alerts()) or not am.alerts(), timeout=10)
        start_server(**settings)
        assert parse(routing.read_text()).overrides == ()
