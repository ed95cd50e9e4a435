"""The composition root of ``serve``: builds every component from the config, and rebuilds on reload.

No component imports this module; it imports them. ``runtime`` runs what it builds.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import ssl
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import prometheus_client
import uvicorn
from prometheus_client import CollectorRegistry
from prometheus_client.core import CounterMetricFamily
from prometheus_client.registry import Collector
from starlette.types import ASGIApp

from llm_cost_tracker.alertmanager.receiver import SwapReceiver
from llm_cost_tracker.billing.poller import BillPoller
from llm_cost_tracker.clock import Clock, now_ns, system_clock
from llm_cost_tracker.config import Config, load_config, split_listen_address
from llm_cost_tracker.exporter.caps import DimensionLimits, Reservations
from llm_cost_tracker.exporter.ingest import Ingestor
from llm_cost_tracker.exporter.ledger import UsageLedger
from llm_cost_tracker.exporter.otlp_http import create_otlp_app
from llm_cost_tracker.exporter.selfmetrics import SelfMetrics
from llm_cost_tracker.exporter.web import SharedRenders, create_web_app, tenant_metrics_renderer
from llm_cost_tracker.inputfile import InputFileError
from llm_cost_tracker.pricing import catalog
from llm_cost_tracker.pricing.overrides import load_overrides
from llm_cost_tracker.pricing.resolver import PriceResolver
from llm_cost_tracker.rules.spec import BudgetFile, load_budgets
from llm_cost_tracker.runtime import collect_garbage_periodically, own_garbage_collection, serve_forever
from llm_cost_tracker.tenancy.gate import IngestGate
from llm_cost_tracker.tenancy.tenants import Tenant, Tenants, load_tenants
from llm_cost_tracker.tenancy.views import RoutingFileCache, tenant_routes
from llm_cost_tracker.tenancy.webconfig import (
    WebAuthMiddleware,
    WebConfig,
    configure_context,
    load_web_config,
    ssl_context,
)

log = logging.getLogger(__name__)

__all__ = ["Service", "build_resolver", "run", "serve_forever"]


def load_budget_file(config: Config) -> BudgetFile | None:
    """The budget file whose swaps the webhook applies; raises ``InputFileError``."""
    return load_budgets(config.budgets_file) if config.budgets_file is not None else None


def build_resolver(config: Config) -> PriceResolver:
    path = config.pricing.overrides_file
    if path is None:
        return PriceResolver()
    return PriceResolver(load_overrides(path), overrides_name=Path(path).name)


def load_tenant_file(config: Config) -> Tenants | None:
    path = config.tenants_file
    return load_tenants(path, config.limits.max_series_per_metric) if path is not None else None


def check_budget_orgs(budgets: BudgetFile | None, tenants: Tenants | None, source: str) -> None:
    """With tenants, a budget that swaps models must match one tenant's org by value: its swaps are then
    scoped to that org, so no budget can swap another team's routes. Raises ``InputFileError``."""
    if budgets is None or tenants is None:
        return
    problems = []
    for index, budget in enumerate(budgets.budgets):
        if not budget.on_exceeded.swap:
            continue
        org = budget.match.get("org")
        where = f"{source}: budgets[{index}].match.org"
        if org is None:
            problems.append(f"{where}: with a tenants file, a budget that swaps models must name its org")
        elif org not in tenants.by_org:
            problems.append(f"{where}: {org!r} is not an org of the tenants file ({tenants.source})")
    if problems:
        raise InputFileError(source, problems)


def _tls(config: Config) -> ssl.SSLContext | None:
    tls = config.otlp.tls
    if tls is None:
        return None
    try:
        return ssl_context(tls)
    except (OSError, ssl.SSLError, ValueError) as exc:
        raise InputFileError("otlp.tls", [f"otlp.tls: cannot load the certificate or key: {exc}"]) from None


class _TenantOverflow(Collector):
    """``llm_cost_tracker_tenant_series_dropped_total{org,metric}``: calls folded into a tenant's overflow."""

    def __init__(self, ledger: UsageLedger) -> None:
        self.ledger = ledger

    def collect(self) -> list[CounterMetricFamily]:
        family = CounterMetricFamily(
            "llm_cost_tracker_tenant_series_dropped",
            "Records folded into a tenant's __overflow__ series because it reached its max_series.",
            labels=("org", "metric"),
        )
        for (org, metric), count in sorted(self.ledger.dropped_by_org.items()):
            family.add_metric((org, metric), count)
        return [family]


@dataclass
class Service:
    """Everything ``serve`` runs, built from a config; ``reload`` swaps the config, keeps the counters."""

    config: Config
    load: Callable[[], Config]
    """Re-reads the configuration (file plus command-line overrides)."""
    registry: CollectorRegistry = field(default_factory=CollectorRegistry)
    clock: Clock = system_clock
    """The wall clock every component reads (tests set it)."""
    ready: bool = False
    servers: list[uvicorn.Server] = field(default_factory=list)
    bound: dict[str, str] = field(default_factory=dict)
    """Actual listen addresses once serving (a configured port 0 becomes a real port)."""

    def __post_init__(self) -> None:
        # `*_created` series double the self-metrics for a timestamp Prometheus does not use.
        prometheus_client.disable_created_metrics()  # type: ignore[no-untyped-call]
        config = self.config
        tenants = load_tenant_file(config)
        budgets = load_budget_file(config)
        check_budget_orgs(budgets, tenants, str(config.budgets_file))
        self.web_config: WebConfig | None = load_web_config(config.web.config_file) if config.web.config_file else None
        self.otlp_tls = _tls(config)
        self.metrics = SelfMetrics(self.registry)
        self.ledger = UsageLedger(config.limits.max_series_per_metric, hold_s=config.web.new_series_hold_seconds)
        self.resolver = build_resolver(config)
        self.ingestor = self._ingestor(config, self.resolver)
        self.gate: IngestGate[Ingestor] = IngestGate(
            self.ingestor,
            lambda tenant: self._ingestor(self.config, self.resolver, tenant),
            lambda ingestor, tenant: ingestor.set_tenant(tenant.allows),
            throttled=lambda org: self.metrics.throttled.labels(org).inc(),
        )
        self._apply_tenants(tenants)
        self._configure_ledger(config, budgets)
        self.registry.register(_TenantOverflow(self.ledger))
        self.bills = BillPoller(lambda: self.config, self.clock)
        self.registry.register(self.bills)
        self.receiver = SwapReceiver(config, budgets, self.resolver, self.registry, self.clock)
        self.otlp_app = create_otlp_app(self.gate.admit, self.metrics, lambda: self.config.otlp.max_body_bytes)
        routing = RoutingFileCache(lambda: self.config.routing_file)
        shared = SharedRenders(lambda: self.config.web.max_scrape_render_share)
        reads = tenant_routes(
            lambda: self.gate.tenants,
            tenant_metrics_renderer(self.ledger, self.metrics.scrapes, shared),
            routing,
            lambda org, what, code: self.metrics.tenant_reads.labels(org, what, str(code)).inc(),
        )
        web = create_web_app(
            self.ledger,
            self.registry,
            self.reload,
            lambda: self.ready,
            extra_routes=[*self.receiver.routes(), *reads],
            scrapes=self.metrics.scrapes,
            shared=shared,
        )
        self.web_app: ASGIApp = WebAuthMiddleware(web, lambda: self.web_config)

    @property
    def web_tls(self) -> ssl.SSLContext | None:
        return self.web_config.ssl if self.web_config is not None else None

    def _ingestor(self, config: Config, resolver: PriceResolver, tenant: Tenant | None = None) -> Ingestor:
        clock = self.clock
        return Ingestor(
            config,
            self.ledger,
            self.metrics,
            resolver,
            clock_ns=lambda: now_ns(clock),
            org=tenant.org if tenant is not None else None,
            allows=tenant.allows if tenant is not None else None,
        )

    def _configure_ledger(self, config: Config, budgets: BudgetFile | None) -> None:
        """The duration histogram's labels; what budgets match by value, and the default org, always get their
        own series (``exporter/caps.py``)."""
        with self.ledger.lock:
            self.ledger.duration_labels = config.web.duration_labels
            self.ledger.exemplars = config.web.exemplars
        matches = [budget.match for budget in budgets.budgets] if budgets is not None else []
        self.ledger.reserve(
            Reservations.of(matches, config.labels.org.default),
            DimensionLimits(config.limits.max_projects_per_org, config.limits.max_models_per_project),
        )

    def _apply_tenants(self, tenants: Tenants | None) -> None:
        with self.ledger.lock:
            self.ledger.org_caps = (
                {tenant.org: tenant.max_series for tenant in tenants.by_org.values()} if tenants is not None else None
            )
        self.gate.configure(tenants)
        for org in tenants.by_org if tenants is not None else ():
            self.metrics.add_org(org)

    def warn_if_open(self) -> None:
        """Without a tenants file anyone who reaches the OTLP port spends in any org's name: say so when that is
        more than this machine."""
        if self.gate.tenants is not None:
            return
        for name in ("otlp", "web"):
            host = split_listen_address(getattr(self.config, name).listen_address)[0]
            try:
                loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
            except ValueError:
                loopback = False
            if not loopback:
                log.warning(
                    "%s listens on %s without a tenants file: anyone who reaches it can %s (see SECURITY.md)",
                    name,
                    host or "every interface",
                    "push spend for any org and project" if name == "otlp" else "read every org's spend and reload",
                )

    def reload(self) -> None:
        """Load the config and every file it names again; on any failure keep running on the old ones and raise
        ``InputFileError``."""
        try:
            config = self.load()
            resolver = build_resolver(config)
            budgets = load_budget_file(config)
            tenants = load_tenant_file(config)
            check_budget_orgs(budgets, tenants, str(config.budgets_file))
            web_config = load_web_config(config.web.config_file) if config.web.config_file else None
            _tls(config)  # the OTLP certificate loads, before anything changes
            self.receiver.configure(config, budgets, resolver)
        except Exception:
            self.metrics.reload_success.set(0)
            raise
        for listener in ("otlp", "web"):
            old, new = getattr(self.config, listener).listen_address, getattr(config, listener).listen_address
            if old != new:
                log.warning("%s.listen_address changed to %s; it takes effect on restart", listener, new)
        self._rotate_certificates(config, web_config)
        self.web_config = web_config
        self.ingestor.apply_config(config, resolver)
        for admitted in self.gate.admitted.values():
            admitted.ingestor.apply_config(config, resolver)
        self._apply_tenants(tenants)
        self._configure_ledger(config, budgets)
        self.config = config  # what reads the config live (body limits, routing file, bills) sees the new one
        self.metrics.reload_success.set(1)
        self.metrics.reload_timestamp.set_to_current_time()
        log.info("configuration reloaded")

    def _rotate_certificates(self, config: Config, web_config: WebConfig | None) -> None:
        """A listener keeps its TLS context for its life: a reload loads the (maybe rotated) certificates into
        it. Turning TLS on or off takes a restart."""
        live = self.web_tls
        if (live is None) != (web_config is None or web_config.ssl is None):
            log.warning("web TLS turned on or off; that takes effect on restart")
        elif live is not None and web_config is not None and web_config.tls is not None:
            configure_context(live, web_config.tls, web_config.base)
            web_config.ssl = live
        if (self.otlp_tls is None) != (config.otlp.tls is None):
            log.warning("otlp.tls turned on or off; that takes effect on restart")
        elif self.otlp_tls is not None and config.otlp.tls is not None:
            configure_context(self.otlp_tls, config.otlp.tls)

    def request_stop(self) -> None:
        """Ask both listeners to finish their requests and stop (safe from any thread)."""
        for server in self.servers:
            server.should_exit = True


SWITCH_INTERVAL_S = 0.001
"""How long a thread holding the GIL keeps it while another waits (CPython's default is 5 ms): a ``/metrics``
render on a worker thread then delays a request on the event loop by a millisecond at a time, not five."""


def run(config_path: str | None, apply_flags: Callable[[Config], Config]) -> None:
    """Load config (raising ``InputFileError``), then serve until stopped."""

    def load() -> Config:
        return apply_flags(load_config(config_path))

    service = Service(load(), load)
    catalog.warm_up()
    own_garbage_collection()
    sys.setswitchinterval(SWITCH_INTERVAL_S)
    try:
        import uvloop

        runner: Callable[..., None] = uvloop.run
    except ImportError:
        runner = asyncio.run
    runner(serve_forever(service, background=[collect_garbage_periodically(), service.bills.run()]))
