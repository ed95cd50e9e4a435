"""``serve`` reading the providers' bills into gauges, so Prometheus can hold them against the tracked spend.

Every ``reconcile.poll_interval_seconds`` (default hourly) it reads the last complete UTC day's costs and
tokens of each configured provider and serves them as:

- ``llm_provider_billed_usd{provider, project}``: what the provider billed the project that day;
- ``llm_provider_billed_day_timestamp_seconds{provider}``: the start of the day those figures are of;
- ``llm_provider_usage_tokens{provider, project, model, token_type}``: the usage APIs' tokens that day;
- ``llm_provider_billing_polls_total{provider, outcome}`` and
  ``llm_provider_billing_last_success_timestamp_seconds{provider}``.

The generated ``LLMProviderBillNotCaptured`` alert divides yesterday's tracked spend by the first
(``rules/generator.py``, ``capture_rules``). A failed poll keeps the last figures (their day gauge says
which day they are of) and is logged without the key. Cardinality is bounded: projects are the configured
organisations' own, and (provider, project, model) triples past ``reconcile.max_models`` are summed as
model ``other``.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable, Iterable
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from llm_cost_tracker.billing import sources
from llm_cost_tracker.billing.api import BillingApiError
from llm_cost_tracker.billing.model import BillingSource, midnight
from llm_cost_tracker.clock import Clock
from llm_cost_tracker.config import Config, ProviderBilling, ReconcileConfig

log = logging.getLogger("llm_cost_tracker.billing")

IDLE_CHECK_SECONDS = 60.0
"""Without polling configured, how often to look again (a reload may turn it on)."""
TOKEN_TYPES = ("input", "cache_read", "cache_write", "output")


class _Figures:
    """One provider's last good poll."""

    def __init__(self, day: date) -> None:
        self.day = day
        self.billed: dict[str, Decimal] = {}
        self.tokens: dict[tuple[str, str, str], int] = {}


class BillPoller(Collector):
    """Polls the bills of ``config().reconcile`` and serves them as gauges (a prometheus_client collector)."""

    def __init__(
        self,
        config: Callable[[], Config],
        clock: Clock,
        open_source: Callable[[ProviderBilling], BillingSource] | None = None,
    ) -> None:
        self.config = config
        self.clock = clock
        self.open_source = open_source or sources.open_source
        self.lock = threading.Lock()
        self.figures: dict[str, _Figures] = {}
        self.polls: dict[tuple[str, str], int] = {}
        self.last_success: dict[str, float] = {}

    def _count(self, provider: str, outcome: str) -> None:
        with self.lock:
            self.polls[(provider, outcome)] = self.polls.get((provider, outcome), 0) + 1

    def poll_once(self) -> None:
        """Read the last complete UTC day of every provider (blocking: run it in a thread)."""
        reconcile = self.config().reconcile
        if reconcile is None:
            return
        today = datetime.fromtimestamp(self.clock(), UTC).date()
        day = today - timedelta(days=1)
        for provider in {entry.provider for entry in reconcile.providers}:
            entries = [entry for entry in reconcile.providers if entry.provider == provider]
            try:
                figures = self._read(entries, reconcile, day, today)
            except Exception as exc:  # one provider's failure leaves the others' figures
                self._count(provider, "error")
                reason = str(exc) if isinstance(exc, BillingApiError) else f"{exc.__class__.__name__}: {exc}"
                log.warning("reading the %s bill failed, keeping the last figures: %s", provider, reason)
                continue
            with self.lock:
                self.figures[provider] = figures
                self.last_success[provider] = self.clock()
            self._count(provider, "success")

    def _read(self, entries: list[ProviderBilling], reconcile: ReconcileConfig, day: date, today: date) -> _Figures:
        figures = _Figures(day)
        triples: set[tuple[str, str]] = set()
        for entry in entries:
            source = self.open_source(entry)
            try:
                for cost in source.costs(day, today):
                    project = entry.projects.get(cost.project_id, cost.project_id)
                    figures.billed[project] = figures.billed.get(project, Decimal(0)) + cost.usd
                for used in source.usage(day, today):
                    project = entry.projects.get(used.project_id, used.project_id)
                    model = used.model or "unknown"
                    if (project, model) not in triples and len(triples) >= reconcile.max_models:
                        model = "other"
                    triples.add((project, model))
                    counts = (used.input, used.cache_read, used.cache_write, used.output)
                    for kind, count in zip(TOKEN_TYPES, counts, strict=True):
                        key = (project, model, kind)
                        figures.tokens[key] = figures.tokens.get(key, 0) + count
            finally:
                source.close()
        return figures

    async def run(self) -> None:
        """Poll now, then every ``poll_interval_seconds``, until cancelled."""
        while True:
            reconcile = self.config().reconcile
            if reconcile is None or reconcile.poll_interval_seconds == 0:
                await asyncio.sleep(IDLE_CHECK_SECONDS)
                continue
            await asyncio.to_thread(self.poll_once)
            await asyncio.sleep(reconcile.poll_interval_seconds)

    def collect(self) -> Iterable[Metric]:
        reconcile = self.config().reconcile
        configured = {entry.provider for entry in reconcile.providers} if reconcile is not None else set()
        with self.lock:
            figures = dict(self.figures)
            polls = {(p, o): 0 for p in configured for o in ("success", "error")} | self.polls
            last_success = dict(self.last_success)
        billed = GaugeMetricFamily(
            "llm_provider_billed_usd",
            "What the provider billed the project on the last complete UTC day (its cost API), in USD.",
            labels=("provider", "project"),
        )
        day = GaugeMetricFamily(
            "llm_provider_billed_day_timestamp_seconds",
            "Start (UTC) of the day llm_provider_billed_usd and llm_provider_usage_tokens are of.",
            labels=("provider",),
        )
        tokens = GaugeMetricFamily(
            "llm_provider_usage_tokens",
            "Tokens the provider's usage API counted on the last complete UTC day.",
            labels=("provider", "project", "model", "token_type"),
        )
        for provider, f in sorted(figures.items()):
            day.add_metric((provider,), midnight(f.day).timestamp())
            for project, usd in sorted(f.billed.items()):
                billed.add_metric((provider, project), float(usd))
            for (project, model, kind), count in sorted(f.tokens.items()):
                tokens.add_metric((provider, project, model, kind), count)
        reads = CounterMetricFamily(
            "llm_provider_billing_polls",
            "Reads of a provider's bill, by outcome (success, error).",
            labels=("provider", "outcome"),
        )
        for (provider, outcome), n in sorted(polls.items()):
            reads.add_metric((provider, outcome), n)
        success = GaugeMetricFamily(
            "llm_provider_billing_last_success_timestamp_seconds",
            "When a provider's bill was last read.",
            labels=("provider",),
        )
        for provider, at in sorted(last_success.items()):
            success.add_metric((provider,), at)
        metrics: list[Any] = [billed, day, tokens, reads, success]
        return metrics
