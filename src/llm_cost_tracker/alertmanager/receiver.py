"""``POST /alertmanager/webhook``: budget alerts in, the routing file rewritten.

Answers 2xx only once the routing file is durably written (or nothing needed
writing), 5xx when it could not be (Alertmanager retries those), 4xx for a
request it cannot read (and retrying will not help). An alert it will not act
on (another alert, an unknown budget, labels that do not belong) is
acknowledged with 200 and its reason, so that Alertmanager does not retry it
forever.
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import Iterator, Sequence
from pathlib import Path

import anyio.to_thread
import httpx
import orjson
from prometheus_client import CollectorRegistry, Counter
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from llm_cost_tracker.alertmanager.payload import Alert, PayloadError, parse_api_alerts, parse_webhook
from llm_cost_tracker.alertmanager.planner import Outcome, apply_alerts, reconcile
from llm_cost_tracker.clock import Clock, now_ns, system_clock
from llm_cost_tracker.config import Config
from llm_cost_tracker.credentials import basic_credentials, bearer_token
from llm_cost_tracker.httpbody import RequestRefused, read_body
from llm_cost_tracker.inputfile import InputFileError
from llm_cost_tracker.pricing.resolver import PriceResolver
from llm_cost_tracker.routing.client import file_signature
from llm_cost_tracker.routing.document import RoutingDocument, RoutingFileError
from llm_cost_tracker.routing.store import RoutingStore, RoutingStoreError
from llm_cost_tracker.rules.spec import BudgetFile

log = logging.getLogger(__name__)

WEBHOOK_PATH = "/alertmanager/webhook"


def _secret(path: Path | None, key: str) -> bytes | None:
    """The content of a secret file (``key`` names it in the config); raises ``InputFileError``."""
    if path is None:
        return None
    try:
        return path.read_bytes().strip()
    except OSError as exc:
        raise InputFileError(str(path), [f"{key}: cannot read {path}: {exc.strerror}"]) from None


class SwapReceiver:
    """The webhook receiver and the routing metrics, for one config and budget file."""

    def __init__(
        self,
        config: Config,
        budgets: BudgetFile | None,
        resolver: PriceResolver,
        registry: CollectorRegistry,
        clock: Clock = system_clock,
    ) -> None:
        self.clock = clock
        self.swaps = Counter(
            "llm_routing_swaps",
            "Model swaps added or removed by this receiver.",
            ("budget", "action"),
            registry=registry,
        )
        self.requests = Counter(
            "llm_cost_tracker_webhook_requests",
            "Alertmanager webhook requests by response code.",
            ("code",),
            registry=registry,
        )
        # The success code exists at 0 from the start, so the first notification shows in increase().
        self.requests.labels("200")
        self.alerts = Counter(
            "llm_cost_tracker_webhook_alerts",
            "Alerts received by the webhook, by what they did (added, updated, removed, unchanged, ignored) and why.",
            ("action", "reason"),
            registry=registry,
        )
        self.configure(config, budgets, resolver)
        registry.register(_RoutingCollector(self))

    def configure(self, config: Config, budgets: BudgetFile | None, resolver: PriceResolver) -> None:
        """Take a new config and budget file (on reload); raises ``InputFileError`` if a secret file cannot be read."""
        webhook = config.webhook
        # Secrets first: a file that cannot be read leaves the receiver as it was, not half reconfigured.
        bearer = _secret(webhook.bearer_token_file, "webhook.bearer_token_file")
        basic = webhook.basic_auth
        password = _secret(basic.password_file, "webhook.basic_auth.password_file") if basic else None
        self.bearer = bearer
        self.basic = (basic.username.encode(), password or b"") if basic else None
        self.config = config
        self.budgets = budgets
        # Series exist at 0 before the first swap, so that increase() sees the first one.
        for budget in budgets.budgets if budgets is not None else ():
            if budget.on_exceeded.swap:
                for action in ("added", "updated", "removed"):
                    self.swaps.labels(budget.name, action)
        self.resolver = resolver
        self.store = RoutingStore(config.routing_file, clock=self.clock)
        self.alertnames = frozenset(webhook.alertnames)

    def price(self, provider: str, model: str) -> float | None:
        """USD per million tokens, input plus output, today: what "cheapest" means for swap targets."""
        provider = provider or self.resolver.infer_provider(model) or ""
        found = self.resolver.resolve(provider, model, now_ns(self.clock))
        return None if found is None else float(found.base.input + found.base.output)

    # --- HTTP -------------------------------------------------------------------------------

    def authorised(self, request: Request) -> bool:
        if self.bearer is None and self.basic is None:
            return True
        header = request.headers.get("authorization")
        if self.bearer is not None:
            token = bearer_token(header)
            return token is not None and hmac.compare_digest(token.encode(), self.bearer)
        assert self.basic is not None
        credentials = basic_credentials(header)
        if credentials is None:
            return False
        # Both compared, always, so that timing tells nothing about which one was wrong.
        user_ok = hmac.compare_digest(credentials[0], self.basic[0])
        password_ok = hmac.compare_digest(credentials[1], self.basic[1])
        return user_ok and password_ok

    def _answer(self, status: int, body: dict[str, object], headers: dict[str, str] | None = None) -> Response:
        self.requests.labels(str(status)).inc()
        return Response(orjson.dumps(body), status_code=status, media_type="application/json", headers=headers)

    async def handle(self, request: Request) -> Response:
        if not self.authorised(request):
            return self._answer(401, {"status": "error", "error": "unauthorised"}, {"WWW-Authenticate": "Bearer"})
        try:
            body = await read_body(request, self.config.webhook.max_body_bytes)
            message = parse_webhook(body)
        except RequestRefused as refused:
            return self._answer(refused.status, {"status": "error", "error": refused.message})
        except PayloadError as exc:
            log.warning("webhook payload refused: %s", exc)
            return self._answer(400, {"status": "error", "error": str(exc)})
        try:
            document, written, outcomes = await anyio.to_thread.run_sync(self.apply, message.alerts)
        except RoutingStoreError as exc:
            log.error("routing file not written, Alertmanager will retry: %s", exc)
            return self._answer(500, {"status": "error", "error": "the routing file could not be written"})
        return self._answer(
            200,
            {
                "status": "ok",
                "generation": document.generation,
                "written": written,
                "alerts": [o.to_dict() for o in outcomes],
            },
        )

    def apply(self, alerts: Sequence[Alert]) -> tuple[RoutingDocument, bool, list[Outcome]]:
        """Apply one notification's alerts to the routing file; raises ``RoutingStoreError``."""
        outcomes: list[Outcome] = []

        def change(current: RoutingDocument) -> RoutingDocument:
            new, found = apply_alerts(
                current, alerts, self.budgets, self.price, alertnames=self.alertnames, now=self.clock()
            )
            outcomes[:] = found
            return new

        document, written = self.store.update(change)
        self._record(document, outcomes)
        return document, written, outcomes

    def _record(self, document: RoutingDocument, outcomes: Sequence[Outcome]) -> None:
        for outcome in outcomes:
            self.alerts.labels(outcome.action, outcome.reason or "-").inc()
            if outcome.action in ("added", "updated", "removed"):
                self.swaps.labels(outcome.budget, outcome.action).inc()
                swaps = [o for o in document.overrides if o.fingerprint == outcome.fingerprint]
                log.info(
                    "swap %s: budget=%s fingerprint=%s swaps=%s generation=%d",
                    outcome.action,
                    outcome.budget,
                    outcome.fingerprint,
                    ",".join(f"{o.from_}->{o.to}" for o in swaps) or "-",
                    document.generation,
                )
            elif outcome.reason == "unknown_budget":
                # Most often rules generated from another budget file than the one serve reads.
                log.warning(
                    "alert for unknown budget %r ignored (fingerprint=%s): the budget file serve reads (%s) has no "
                    "budget of that name; generate the rules from the same file",
                    outcome.budget[:100],
                    outcome.fingerprint[:32],
                    self.config.budgets_file or "none given",
                )

    # --- start-up ---------------------------------------------------------------------------

    def reconcile(self, timeout: float = 5.0) -> bool:
        """Match the routing file to the alerts Alertmanager has active; False if none could be asked."""
        urls = self.config.webhook.alertmanager_urls
        if not urls:
            return False
        active: dict[str, Alert] = {}
        asked = 0
        params: list[tuple[str, str | int | float | bool | None]] = [
            ("active", "true"),
            ("silenced", "false"),
            ("inhibited", "false"),
        ]
        params += [("filter", f'alertname="{name}"') for name in sorted(self.alertnames)]
        for url in urls:
            try:
                response = httpx.get(f"{url.rstrip('/')}/api/v2/alerts", params=params, timeout=timeout)
                response.raise_for_status()
                alerts = parse_api_alerts(response.content)
            except (httpx.HTTPError, PayloadError) as exc:
                log.warning("cannot ask %s for active alerts: %s", url, exc)
                continue
            asked += 1
            active.update((a.key, a) for a in alerts)
        if not asked:
            log.warning("no Alertmanager answered; the routing file stays as it is")
            return False
        outcomes: list[Outcome] = []

        def change(current: RoutingDocument) -> RoutingDocument:
            new, found = reconcile(
                current, active.values(), self.budgets, self.price, alertnames=self.alertnames, now=self.clock()
            )
            outcomes[:] = found
            return new

        try:
            document, _ = self.store.update(change)
        except RoutingStoreError as exc:
            log.error("cannot reconcile the routing file: %s", exc)
            return False
        self._record(document, [o for o in outcomes if o.action != "unchanged"])
        log.info("routing file reconciled with %d active alert(s), generation %d", len(active), document.generation)
        return True

    def routes(self) -> list[BaseRoute]:
        return [Route(WEBHOOK_PATH, self.handle, methods=["POST"])]


class _RoutingCollector(Collector):
    """``llm_routing_override_active`` and the file's generation, read from the file at scrape."""

    def __init__(self, receiver: SwapReceiver) -> None:
        self.receiver = receiver
        self._cache: tuple[tuple[int, int, int], RoutingDocument] | None = None

    def _document(self) -> RoutingDocument | None:
        try:
            signature = file_signature(self.receiver.store.path)
        except FileNotFoundError:
            return RoutingDocument()
        except OSError:
            return None
        if self._cache is None or self._cache[0] != signature:
            try:
                self._cache = (signature, self.receiver.store.read())
            except RoutingFileError:
                return None
        return self._cache[1]

    def collect(self) -> Iterator[GaugeMetricFamily]:
        document = self._document()
        active = GaugeMetricFamily(
            "llm_routing_override_active",
            'Model swaps in force (1 per swap; budget="pin" for swaps set by people).',
            labels=("budget", "project", "from_model", "to_model"),
        )
        generation = GaugeMetricFamily("llm_routing_file_generation", "Generation of the routing file (0: no file).")
        readable = GaugeMetricFamily(
            "llm_routing_file_readable", "Whether the routing file can be read (a corrupt file keeps the last swaps)."
        )
        readable.add_metric([], 0 if document is None else 1)
        if document is not None:
            generation.add_metric([], document.generation)
            for override in document.overrides:
                project = override.scope.get("project", "")
                active.add_metric([override.budget, project, override.from_, override.to], 1)
            for pin in document.pins:
                active.add_metric(["pin", pin.scope.get("project", ""), pin.from_, pin.to], 1)
        yield active
        yield generation
        yield readable
