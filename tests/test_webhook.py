"""The Alertmanager webhook receiver, over real HTTP, against a real routing file."""

from __future__ import annotations

import base64
import concurrent.futures
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from demo.stack import free_port
from llm_cost_tracker.inputfile import InputFileError
from llm_cost_tracker.routing import ModelRouter
from llm_cost_tracker.routing.document import parse
from tests.clock import TestClock
from tests.conftest import LiveServer, make_config, run_cli, sample_value, wait_until
from tests.test_serve import Process, write_config
from tests.webhook_payloads import BUDGETS, Alerts, notification

Start = Callable[..., LiveServer]


@pytest.fixture
def alert(clock: TestClock) -> Alerts:
    return Alerts(clock)


@pytest.fixture
def files(tmp_path: Path) -> tuple[Path, Path]:
    budgets = tmp_path / "budgets.yaml"
    budgets.write_text(BUDGETS)
    return budgets, tmp_path / "routing.yaml"


def post(server: LiveServer, body: bytes, **headers: str) -> httpx.Response:
    return httpx.post(
        f"{server.web_url}/alertmanager/webhook",
        content=body,
        headers={"Content-Type": "application/json", **headers},
        timeout=10,
    )


def test_firing_swaps_and_resolved_swaps_back(start_server: Start, files: tuple[Path, Path], alert: Alerts) -> None:
    budgets, routing = files
    server = start_server(budgets_file=str(budgets), routing_file=str(routing))
    router = ModelRouter(routing, scope={"org": "acme", "project": "checkout"}, check_interval=0)
    # Before any notification the success series is there at 0, so increase() sees the first one.
    assert sample_value(server.samples(), "llm_cost_tracker_webhook_requests_total", code="200") == 0

    response = post(server, notification(alert("firing")))
    assert response.status_code == 200
    assert sample_value(server.samples(), "llm_cost_tracker_webhook_requests_total", code="200") == 1
    assert response.json()["alerts"] == [
        {"fingerprint": "6a5d6c8b2f0e1d34", "budget": "checkout-monthly", "action": "added"}
    ]
    document = parse(routing.read_text())
    assert document.generation == 1
    assert {(o.from_, o.to) for o in document.overrides} == {
        ("gpt-4o", "gpt-4o-mini"),
        ("claude-3-5-sonnet*", "claude-3-5-haiku-20241022"),
    }
    assert router.resolve("gpt-4o") == "gpt-4o-mini"
    assert router.resolve("claude-3-5-sonnet-20241022") == "claude-3-5-haiku-20241022"
    assert router.resolve("gpt-4o", project="search") == "gpt-4o"

    # Alertmanager repeats every repeat_interval, and each of an HA pair sends it: nothing changes.
    before = routing.read_bytes()
    for _ in range(3):
        assert post(server, notification(alert("firing"))).json()["written"] is False
    assert routing.read_bytes() == before

    resolved = post(server, notification(alert("resolved")))
    assert resolved.json()["alerts"][0]["action"] == "removed"
    assert router.resolve("gpt-4o") == "gpt-4o"
    # A late repeat of the firing notification (the other Alertmanager of a pair) cannot re-add it...
    late = post(server, notification(alert("firing")))
    assert late.json()["alerts"][0] == {
        "fingerprint": "6a5d6c8b2f0e1d34",
        "budget": "checkout-monthly",
        "action": "ignored",
        "reason": "stale",
    }
    # ...but the next episode of the alert (a later startsAt) does.
    again = post(server, notification(alert("firing", starts=alert.clock.iso(10))))
    assert again.json()["alerts"][0]["action"] == "added"
    samples = server.samples()
    assert sample_value(samples, "llm_routing_swaps_total", budget="checkout-monthly", action="added") == 2
    assert sample_value(samples, "llm_routing_swaps_total", budget="checkout-monthly", action="removed") == 1
    assert sample_value(samples, "llm_routing_override_active", from_model="gpt-4o", to_model="gpt-4o-mini") == 1
    assert sample_value(samples, "llm_routing_file_generation") == 3


def test_each_alert_acts_by_its_own_status(start_server: Start, files: tuple[Path, Path], alert: Alerts) -> None:
    budgets, routing = files
    server = start_server(budgets_file=str(budgets), routing_file=str(routing))
    post(server, notification(alert("firing"), alert("firing", "checkout-daily", fingerprint="aa")))
    # One notification, group status "firing", one alert in it resolved.
    body = notification(alert("firing", "checkout-daily", fingerprint="aa"), alert("resolved"), status="firing")
    outcomes = post(server, body).json()["alerts"]
    assert [o["action"] for o in outcomes] == ["unchanged", "removed"]
    assert [(o.budget, o.to) for o in parse(routing.read_text()).overrides] == [("checkout-daily", "gpt-3.5-turbo")]


def test_cheapest_target_wins(start_server: Start, files: tuple[Path, Path], alert: Alerts) -> None:
    budgets, routing = files
    server = start_server(budgets_file=str(budgets), routing_file=str(routing))
    post(server, notification(alert("firing", "checkout-daily", fingerprint="aa"), alert("firing")))
    document = parse(routing.read_text())
    # gpt-4o-mini (0.15 + 0.60 $/Mtok) is cheaper than gpt-3.5-turbo (0.50 + 1.50): it comes first.
    assert [o.to for o in document.overrides if o.from_ == "gpt-4o"] == ["gpt-4o-mini", "gpt-3.5-turbo"]
    assert ModelRouter(routing, scope={"org": "acme", "project": "checkout"}).resolve("gpt-4o") == "gpt-4o-mini"


@pytest.mark.parametrize(
    ("labels", "reason"),
    [
        ({"budget": "nobody-knows"}, "unknown_budget"),
        ({"alertname": "LLMBudgetThresholdReached", "threshold": "0.8"}, "not_acting_alert"),
        ({"to": "gpt-3.5-turbo"}, "unexpected_labels"),
        ({"path": "/etc/passwd"}, "unexpected_labels"),
        ({"model": "gpt-4o"}, "unexpected_labels"),
        ({"project": "search"}, "labels_mismatch"),
        ({"budget": "no-swaps", "org": "", "project": "research"}, "no_swaps"),
    ],
)
def test_alerts_that_change_nothing_are_acknowledged(
    start_server: Start, files: tuple[Path, Path], labels: dict[str, str], reason: str, alert: Alerts
) -> None:
    budgets, routing = files
    routing.write_text("version: llm-cost-tracker/v1\ngeneration: 9\n")
    before = routing.read_bytes()
    server = start_server(budgets_file=str(budgets), routing_file=str(routing))
    response = post(server, notification(alert(**labels)))
    assert response.status_code == 200  # so that Alertmanager does not retry forever
    assert response.json()["alerts"][0]["reason"] == reason
    assert routing.read_bytes() == before
    assert sample_value(server.samples(), "llm_cost_tracker_webhook_alerts_total", action="ignored", reason=reason) == 1


def test_external_labels_are_fine(start_server: Start, files: tuple[Path, Path], alert: Alerts) -> None:
    budgets, routing = files
    server = start_server(budgets_file=str(budgets), routing_file=str(routing))
    response = post(server, notification(alert(cluster="eu-1", prometheus="monitoring/k8s", team="payments")))
    assert response.json()["alerts"][0]["action"] == "added"


@pytest.mark.parametrize(
    ("body", "status"),
    [
        (b"{not json", 400),
        (b'{"version": "3", "status": "firing", "alerts": []}', 400),
        (b'{"version": "4", "status": "firing", "alerts": [{"status": "exploded", "labels": {}}]}', 400),
        (b'{"version": "4", "status": "firing", "alerts": "many"}', 400),
        (b"[1, 2, 3]", 400),
        (b"\xff\xfe\xfd not utf-8", 400),
        (b"{" + b" " * (11 * 1024 * 1024) + b"}", 413),
    ],
)
def test_bad_payloads_leave_the_file_byte_identical(
    start_server: Start, files: tuple[Path, Path], body: bytes, status: int, alert: Alerts
) -> None:
    budgets, routing = files
    server = start_server(budgets_file=str(budgets), routing_file=str(routing))
    post(server, notification(alert("firing")))
    before = routing.read_bytes()
    assert post(server, body).status_code == status
    assert routing.read_bytes() == before
    assert post(server, notification(alert("firing"))).status_code == 200  # and it still serves


def test_bearer_token(start_server: Start, files: tuple[Path, Path], tmp_path: Path, alert: Alerts) -> None:
    budgets, routing = files
    (tmp_path / "token").write_text("s3cret-token\n")
    server = start_server(
        budgets_file=str(budgets), routing_file=str(routing), webhook={"bearer_token_file": str(tmp_path / "token")}
    )
    body = notification(alert("firing"))
    assert post(server, body).status_code == 401
    assert post(server, body, Authorization="Bearer wrong").status_code == 401
    assert not routing.exists()
    assert post(server, body, Authorization="Bearer s3cret-token").status_code == 200


def test_a_reload_with_an_unreadable_secret_keeps_the_receiver_as_it_was(
    start_server: Start, files: tuple[Path, Path], tmp_path: Path, alert: Alerts
) -> None:
    budgets, routing = files
    (tmp_path / "token").write_text("s3cret-token\n")
    server = start_server(
        budgets_file=str(budgets), routing_file=str(routing), webhook={"bearer_token_file": str(tmp_path / "token")}
    )
    elsewhere = tmp_path / "elsewhere.yaml"
    server.service.load = lambda: make_config(
        budgets_file=str(budgets),
        routing_file=str(elsewhere),
        webhook={"basic_auth": {"username": "alertmanager", "password_file": str(tmp_path / "missing")}},
    )
    with pytest.raises(InputFileError, match=r"webhook\.basic_auth\.password_file: cannot read .*missing"):
        server.service.reload()
    refused = httpx.post(f"{server.web_url}/-/reload", timeout=10)
    assert refused.status_code == 500
    assert "webhook.basic_auth.password_file: cannot read" in refused.text
    body = notification(alert("firing"))
    assert post(server, body).status_code == 401
    assert post(server, body, Authorization="Bearer s3cret-token").status_code == 200
    assert routing.exists()  # the old routing file, not the one of the refused config
    assert not elsewhere.exists()


def test_basic_auth(start_server: Start, files: tuple[Path, Path], tmp_path: Path, alert: Alerts) -> None:
    budgets, routing = files
    (tmp_path / "password").write_text("pa55")
    server = start_server(
        budgets_file=str(budgets),
        routing_file=str(routing),
        webhook={"basic_auth": {"username": "alertmanager", "password_file": str(tmp_path / "password")}},
    )
    body = notification(alert("firing"))

    def basic(user: str, password: str) -> str:
        return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()

    assert post(server, body, Authorization=basic("alertmanager", "nope")).status_code == 401
    assert post(server, body, Authorization="Basic !!!").status_code == 401
    assert post(server, body, Authorization=basic("alertmanager", "pa55")).status_code == 200


def test_unwritable_routing_file_is_a_5xx(
    start_server: Start, files: tuple[Path, Path], tmp_path: Path, alert: Alerts
) -> None:
    budgets, _ = files
    blocked = tmp_path / "not-a-directory"
    blocked.write_text("a file where a directory should be")
    server = start_server(budgets_file=str(budgets), routing_file=str(blocked / "routing.yaml"))
    response = post(server, notification(alert("firing")))
    assert response.status_code == 500  # Alertmanager retries 5xx
    assert sample_value(server.samples(), "llm_cost_tracker_webhook_requests_total", code="500") == 1


def test_routing_show(start_server: Start, files: tuple[Path, Path], alert: Alerts) -> None:
    budgets, routing = files
    server = start_server(budgets_file=str(budgets), routing_file=str(routing))
    post(server, notification(alert("firing")))
    result = run_cli("routing", "show", "--routing-file", str(routing))
    assert result.returncode == 0
    assert "generation 1" in result.stdout
    assert "checkout-monthly" in result.stdout
    assert "gpt-4o-mini" in result.stdout
    assert "org=acme,project=checkout" in result.stdout


def test_two_receivers_share_one_file(tmp_path: Path) -> None:
    """An HA pair of Alertmanagers sends every alert to each of two receivers, concurrently."""
    alert = Alerts(TestClock())  # the receivers are processes of their own, on the real clock
    budgets = tmp_path / "budgets.yaml"
    budgets.write_text(
        "version: llm-cost-tracker/v1\nbudgets:\n"
        + "".join(
            f"  - {{name: b{i:02d}, match: {{project: p{i:02d}}}, amount_usd: 1, period: day,"
            f" on_exceeded: {{swap: [{{from: gpt-4o, to: gpt-4o-mini}}]}}}}\n"
            for i in range(50)
        )
    )
    routing = tmp_path / "routing.yaml"
    receivers = []
    for n in range(2):
        (tmp_path / f"r{n}").mkdir()
        config = tmp_path / f"r{n}" / "config.yaml"
        otlp, web = free_port(), free_port()
        write_config(config, otlp, web, f"budgets_file: {budgets}\nrouting_file: {routing}\n")
        receivers.append(Process(config, otlp, web))
    try:
        for receiver in receivers:
            wait_until(receiver.ready, timeout=30)
        generations: list[int] = []
        stop = threading.Event()

        def watch() -> None:
            while not stop.is_set():
                if routing.exists():
                    generations.append(parse(routing.read_text()).generation)  # a whole, valid file every time

        watcher = threading.Thread(target=watch)
        watcher.start()

        def send(i: int, receiver: Process) -> int:
            payload = alert("firing", f"b{i:02d}", fingerprint=f"fp{i:02d}", org="", project=f"p{i:02d}")
            return httpx.post(
                f"{receiver.web}/alertmanager/webhook", content=notification(payload), timeout=30
            ).status_code

        with concurrent.futures.ThreadPoolExecutor(16) as pool:
            codes = list(pool.map(lambda job: send(*job), [(i, r) for i in range(50) for r in receivers]))
        stop.set()
        watcher.join()
    finally:
        for receiver in receivers:
            receiver.popen.terminate()
            receiver.popen.wait(10)
            receiver.log.close()
    assert codes == [200] * 100
    document = parse(routing.read_text())
    assert document.generation == 50  # each swap written once, whichever receiver got there first
    assert sorted(o.budget for o in document.overrides) == [f"b{i:02d}" for i in range(50)]
    assert generations == sorted(generations)


def test_serve_names_a_secret_file_it_cannot_read(tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    config.write_text(
        "version: llm-cost-tracker/v1\n"
        "otlp: {listen_address: 127.0.0.1:0}\n"
        "web: {listen_address: 127.0.0.1:0}\n"
        "webhook: {bearer_token_file: no-such-token}\n"
    )
    result = run_cli("serve", "--config", str(config))
    assert result.returncode == 1
    assert f"webhook.bearer_token_file: cannot read {tmp_path / 'no-such-token'}" in result.stderr
    assert "cannot listen" not in result.stderr


def test_kill_9_while_notifications_arrive_leaves_a_valid_file_and_a_clean_restart(tmp_path: Path) -> None:
    """Twenty rounds: firing and resolved notifications arrive while the receiver is killed with SIGKILL at a
    random moment. Each time the routing file is whole and valid, and the next process starts and applies
    notifications again from it."""
    import random
    import signal

    rng = random.Random(9)
    alert = Alerts(TestClock())
    budgets = tmp_path / "budgets.yaml"
    budgets.write_text(
        "version: llm-cost-tracker/v1\nbudgets:\n"
        + "".join(
            f"  - {{name: b{i}, match: {{project: p{i}}}, amount_usd: 1, period: day,"
            f" on_exceeded: {{swap: [{{from: gpt-4o, to: gpt-4o-mini}}]}}}}\n"
            for i in range(8)
        )
    )
    routing = tmp_path / "routing.yaml"
    config = tmp_path / "config.yaml"
    otlp, web = free_port(), free_port()
    write_config(config, otlp, web, f"budgets_file: {budgets}\nrouting_file: {routing}\n")
    firing: set[int] = set()  # what the receiver answered 2xx for, so what the file must hold
    for _ in range(20):
        receiver = Process(config, otlp, web)
        try:
            wait_until(receiver.ready, timeout=30)
            if routing.exists():  # the restart read what the killed process had written
                assert {o.budget for o in parse(routing.read_text()).overrides} == {f"b{i}" for i in firing}
            stop = threading.Event()

            codes: list[int] = []
            sender = threading.Thread(target=_send_until, args=(receiver.web, stop, firing, rng, alert, codes))
            sender.start()
            time.sleep(rng.uniform(0.05, 0.6))
            receiver.popen.send_signal(signal.SIGKILL)
            receiver.popen.wait(10)
            stop.set()
            sender.join()
            assert set(codes) <= {200}, codes
        finally:
            if receiver.popen.poll() is None:
                receiver.popen.kill()
                receiver.popen.wait(10)
            receiver.log.close()
        if routing.exists():
            document = parse(routing.read_text())  # whole and valid, whenever the kill came
            # A notification answered 2xx is in the file; one the kill interrupted may or may not be, as with
            # any receiver (Alertmanager sends it again), so the file is what was answered, or one step on.
            answered = {f"b{i}" for i in firing}
            assert len({o.budget for o in document.overrides} ^ answered) <= 1
            firing = {int(o.budget[1:]) for o in document.overrides}
    # The killed writers' temp files go with the next write.
    receiver = Process(config, otlp, web)
    try:
        wait_until(receiver.ready, timeout=30)
        codes = []
        _send_until(receiver.web, threading.Event(), firing, rng, alert, codes, once=True)
        assert codes == [200]
    finally:
        receiver.popen.kill()
        receiver.popen.wait(10)
        receiver.log.close()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".routing")] == [".routing.yaml.lock"]


_EPISODES: dict[int, int] = {}
"""Per budget of the kill -9 test, its latest episode (the test's alerts are on a fixed clock)."""


def _send_until(
    url: str, stop: threading.Event, firing: set[int], rng: Any, alert: Alerts, codes: list[int], once: bool = False
) -> None:
    """Firing and resolved notifications of random budgets until ``stop`` or the receiver is gone; ``firing``
    follows what was answered."""
    episodes = _EPISODES
    with httpx.Client(timeout=5) as client:
        while not stop.is_set():
            i = rng.randrange(8)
            status = "resolved" if i in firing else "firing"
            if status == "firing":
                episodes[i] = episodes.get(i, 0) + 1  # a new episode: one that resolved does not fire again
            starts = episodes.get(i, 0) * 10
            payload = alert(
                status,
                f"b{i}",
                fingerprint=f"fp{i}",
                starts=alert.clock.iso(starts),
                ends=alert.clock.iso(starts + 5) if status == "resolved" else None,
                org="",
                project=f"p{i}",
            )
            try:
                response = client.post(f"{url}/alertmanager/webhook", content=notification(payload))
            except httpx.TransportError:
                return  # killed: Alertmanager would send this one again
            codes.append(response.status_code)
            if response.status_code == 200:
                (firing.discard if status == "resolved" else firing.add)(i)
            if once:
                return


def test_an_alert_for_an_unknown_budget_is_logged(
    start_server: Start, files: tuple[Path, Path], alert: Alerts, caplog: pytest.LogCaptureFixture
) -> None:
    budgets, routing = files
    server = start_server(budgets_file=str(budgets), routing_file=str(routing))
    with caplog.at_level("WARNING", logger="llm_cost_tracker.alertmanager.receiver"):
        response = post(server, notification(alert(budget="renamed-budget")))
    assert response.status_code == 200
    assert response.json()["alerts"][0]["reason"] == "unknown_budget"
    lines = [r.getMessage() for r in caplog.records]
    assert any("alert for unknown budget 'renamed-budget' ignored" in line and str(budgets) in line for line in lines)


def test_routing_show_names_the_line_of_a_broken_file(tmp_path: Path) -> None:
    routing = tmp_path / "routing.yaml"
    routing.write_text("version: llm-cost-tracker/v1\noverrides: [\n  {from: gpt-4o\n")
    result = run_cli("routing", "show", "--routing-file", str(routing))
    assert result.returncode == 1
    assert result.stderr.startswith(f"{routing}:4:1: not valid YAML: expected ',' or '}}'"), result.stderr
    assert "<unicode string>" not in result.stderr
