"""The cost of one call: the catalog's price at the call's instant, the requested model's when an unknown
dated version answered, or $0 counted (and logged once) as unpriced. Never a silent $0."""

from __future__ import annotations

import logging
import time
from decimal import Decimal
from typing import Final

from llm_cost_tracker.config import ReportedCost
from llm_cost_tracker.exporter.dedupe import PriceKey
from llm_cost_tracker.exporter.dialects import model_family
from llm_cost_tracker.exporter.ledger import UsageLedger
from llm_cost_tracker.labels import LabelMapping
from llm_cost_tracker.pricing.prices import FUSD_PER_USD, ResolvedPrice
from llm_cost_tracker.pricing.resolver import PriceResolver, call_time_ns
from llm_cost_tracker.usage import UsageRecord

log = logging.getLogger("llm_cost_tracker.exporter.ingest")
UNPRICED_LOGS_PER_WINDOW: Final = 10
UNPRICED_LOG_WINDOW_S: Final = 60.0


def _cost_fusd(usd: float) -> int:
    return int(Decimal(repr(usd)) * FUSD_PER_USD)


class CallPricer:
    """Prices calls for one ingestor (caller holds the ledger's lock)."""

    def __init__(self, ledger: UsageLedger, resolver: PriceResolver, labels: LabelMapping) -> None:
        self.ledger = ledger
        self.resolver = resolver
        self.labels = labels
        self._log_window_start = -UNPRICED_LOG_WINDOW_S
        self._logged_in_window = 0
        self._unlogged = 0

    def price(self, record: UsageRecord, reported_cost: ReportedCost, now_ns: int) -> tuple[int, PriceKey | None]:
        """The record's cost in femto-dollars, and the key of the price used (``None``: no catalog price).

        A reported cost of exactly 0 for a call with tokens is no price (an instrumentation that does not
        know the model reports 0): the catalog prices the call, or it is counted unpriced.
        """
        reported = record.reported_cost_usd
        if reported == 0 and record.has_usage:
            reported = None
        if reported_cost == "prefer" and reported is not None:
            return _cost_fusd(reported), None
        if not record.has_usage:
            return 0, None
        labels = record.labels
        provider, priced = labels[2], record.price_model
        price_key = (provider, priced, call_time_ns(record.time_unix_nano, now_ns), record.service_tier)
        price = self.resolver.resolve(*price_key)
        if price is None:
            price, price_key = self._fallback(record, price_key)
        if price is None:
            if reported_cost == "fallback" and reported is not None:
                return _cost_fusd(reported), None
            self._unpriced(record, provider, priced)
            return 0, None
        self.ledger.note_price(provider, labels[3], price)
        requests = record.requests if record.count_requests else 0
        return price.cost_fusd(record.tokens, record.extras, requests), price_key

    def count_avoided(self, record: UsageRecord, cost_fusd: int, now_ns: int) -> None:
        """A call a budget swap sent to a cheaper model: what it would have cost more on the model asked for
        (the same tokens at that model's price), in ``llm_cost_avoided_usd_total``. Nothing when either model
        has no price: a saving is counted only when both sides are known."""
        if not record.has_usage or (cost_fusd <= 0 and not record.tokens[0] + record.tokens[3]):
            return
        labels = record.labels
        key = (labels[2], record.routed_from, call_time_ns(record.time_unix_nano, now_ns), record.service_tier)
        price = self.resolver.resolve(*key)
        if price is None:
            return
        requests = record.requests if record.count_requests else 0
        avoided = price.cost_fusd(record.tokens, record.extras, requests) - cost_fusd
        if avoided > 0:
            saved = (labels[0], labels[1], labels[2], record.routed_from, labels[3], record.routed_budget)
            self.ledger.count_avoided(saved, avoided)

    def _fallback(self, record: UsageRecord, price_key: PriceKey) -> tuple[ResolvedPrice | None, PriceKey]:
        """An answering model the catalog does not know yet (a new dated version of the requested one) is
        priced as the requested model, and counted in ``llm_price_fallback_requests_total``."""
        requested = record.labels[3]
        answered = price_key[1]
        if requested == answered or model_family(requested) != model_family(answered):
            return None, price_key
        fallback_key = (price_key[0], requested, price_key[2], price_key[3])
        price = self.resolver.resolve(*fallback_key)
        if price is not None:
            labels = record.labels
            self.ledger.count_fallback((labels[0], labels[1], labels[2], answered, requested), max(record.requests, 1))
        return price, fallback_key

    def _unpriced(self, record: UsageRecord, provider: str, model: str) -> None:
        labels = record.labels
        model = self.labels.clip(model)
        key = (labels[0], labels[1], provider, model, "not_in_catalog")
        if not self.ledger.count_unpriced(key, max(record.requests, 1)):
            return
        # Each new unpriced model once, but never a flood (a client inventing model names).
        now = time.monotonic()
        if now - self._log_window_start >= UNPRICED_LOG_WINDOW_S:
            self._log_window_start, self._logged_in_window = now, 0
        if self._logged_in_window >= UNPRICED_LOGS_PER_WINDOW:
            self._unlogged += 1
            return
        self._logged_in_window += 1
        more = f" ({self._unlogged} more unpriced models were not logged)" if self._unlogged else ""
        self._unlogged = 0
        log.warning(
            "unpriced model provider=%s model=%s (first seen from org=%s project=%s): its calls cost $0 in "
            "llm_cost_usd_total and are counted in llm_unpriced_requests_total until the catalog or the "
            "price overrides price it%s",
            provider,
            model,
            labels[0],
            labels[1],
            more,
        )
