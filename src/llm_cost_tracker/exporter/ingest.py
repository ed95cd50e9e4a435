"""The pipeline of one export request: decode → normalise → price → count.

The HTTP layer hands a body to ``Ingestor.traces`` or ``Ingestor.metrics`` and
turns the ``IngestResult`` into an OTLP response; nothing here knows HTTP.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import replace
from typing import Final

from prometheus_client import Counter as PromCounter

from llm_cost_tracker.config import Config, ReportedCost, SourcePolicy
from llm_cost_tracker.exporter import decode, decode_json, ingest_points
from llm_cost_tracker.exporter.charge import CallPricer
from llm_cost_tracker.exporter.dedupe import CallRegistry, CountedCall
from llm_cost_tracker.exporter.grouping import group_records
from llm_cost_tracker.exporter.ledger import UsageLedger
from llm_cost_tracker.exporter.normalise import (
    IGNORED_AGGREGATE,
    IGNORED_NOT_GENAI,
    REJECTED_MISSING_USAGE,
    REJECTED_PROJECT_NOT_ALLOWED,
    SpanNormaliser,
    merge_reported,
    split_reported,
)
from llm_cost_tracker.exporter.outcome import REJECTED_IMPLAUSIBLE_USAGE, Encoding, IngestResult
from llm_cost_tracker.exporter.selfmetrics import SelfMetrics
from llm_cost_tracker.exporter.temporality import CumulativeStreams
from llm_cost_tracker.pricing.resolver import PriceResolver
from llm_cost_tracker.usage import NO_EXTRAS, Extras, UsageRecord

log = logging.getLogger(__name__)


def merge_extras(a: Extras, b: Extras) -> Extras:
    """The larger of each extra count of two reports of one call."""
    if b is NO_EXTRAS:
        return a
    if a is NO_EXTRAS:
        return b
    return (max(a[0], b[0]), max(a[1], b[1]), max(a[2], b[2]), max(a[3], b[3]))


PROJECT_CHECKS_KEPT: Final = 4096
ALWAYS_PLAUSIBLE: Final = 100_000
"""Tokens a call may report without a look at its model's context window (the common case costs nothing)."""
WINDOW_SLACK: Final = 5
"""Calls may report up to this many times the catalog's context window: windows grow faster than catalogs
(Claude's 1M-token beta sits on a 200k entry)."""


class Ingestor:
    """Counts usage into a ``UsageLedger``; survives config reloads with its state.

    A tenant's ingestor (``org`` set) labels everything with its org, whatever the payload says, and
    rejects calls of projects that ``allows`` refuses; each tenant has its own, so that one tenant's
    spans can neither be taken for another's duplicates nor evict another's remembered calls.
    """

    def __init__(
        self,
        config: Config,
        ledger: UsageLedger,
        metrics: SelfMetrics,
        resolver: PriceResolver,
        *,
        clock_ns: Callable[[], int] = time.time_ns,
        org: str | None = None,
        allows: Callable[[str], bool] | None = None,
    ) -> None:
        self.org = org
        self.org_label = org or ""
        """The ``org`` of the self-metrics: the tenant's, or empty (no label) in open mode."""
        self.allows = allows
        self._allowed: dict[str, bool] = {}
        self.ledger = ledger
        self.metrics = metrics
        self.clock_ns = clock_ns
        self.dedupe = CallRegistry(config.limits.dedupe_max_entries, config.limits.dedupe_window_seconds)
        self.streams = CumulativeStreams(
            config.limits.max_metric_streams, config.ingest.cumulative_initial_value, started_ns=clock_ns()
        )
        self.apply_config(config, resolver)

    def apply_config(self, config: Config, resolver: PriceResolver) -> None:
        """Take a new config; counters, remembered calls and stream state carry over."""
        self.config = config
        self.resolver = resolver
        labels = config.label_mapping()
        if self.org is not None:
            labels = replace(labels, org=(), org_default=self.org)
        self.labels = labels
        self._allowed = {}
        self._bounds: dict[tuple[str, str], int] = {}
        self.max_tokens_per_call = config.limits.max_tokens_per_call
        self.pricer = CallPricer(self.ledger, resolver, labels)
        self._values: dict[object, object] = {}
        self.normalise = SpanNormaliser(self.labels, read_reported_cost=config.reads_reported_cost)
        self.dedupe.configure(config.limits.dedupe_max_entries, config.limits.dedupe_window_seconds)
        self.streams.max_streams = config.limits.max_metric_streams
        self.streams.initial_value = config.ingest.cumulative_initial_value
        if self.org is None:
            self.ledger.max_series = config.limits.max_series_per_metric
        self.ledger.hold_s = config.web.new_series_hold_seconds

    def set_tenant(self, allows: Callable[[str], bool]) -> None:
        """The tenant's project list changed (a reload)."""
        self.allows = allows
        self._allowed = {}

    def implausible(self, record: UsageRecord) -> bool:
        """Whether a call (or a point's ``requests`` calls) reports more tokens than it can have."""
        reported = record.reported
        most = reported[0] if reported[0] > reported[3] else reported[3]
        if most <= ALWAYS_PLAUSIBLE:
            return False
        key = (record.labels[2], record.price_model)
        bound = self._bounds.get(key)
        if bound is None:
            window = self.resolver.context_window(key[0], key[1])
            ceiling = self.max_tokens_per_call
            bound = ceiling if window is None else min(ceiling, WINDOW_SLACK * window)
            if len(self._bounds) >= PROJECT_CHECKS_KEPT:
                self._bounds = {}
            self._bounds[key] = bound
        return most > bound * (record.requests if record.requests > 1 else 1)

    def project_refused(self, project: str) -> bool:
        allows = self.allows
        if allows is None:
            return False
        allowed = self._allowed.get(project)
        if allowed is None:
            if len(self._allowed) >= PROJECT_CHECKS_KEPT:
                self._allowed = {}
            allowed = self._allowed[project] = allows(project)
        return not allowed

    # --- traces -----------------------------------------------------------------------------

    def traces(self, body: bytes, encoding: Encoding) -> IngestResult:
        """Count the GenAI calls of one ``ExportTraceServiceRequest``; raises ``decode.DecodeError``."""
        started = time.perf_counter()
        iterate = decode.iter_spans_proto if encoding == "protobuf" else decode_json.iter_spans_json
        normalise = self.normalise
        spans = list(iterate(body, normalise.aliases, self._values))  # decode all first: a bad body counts nothing
        result = IngestResult(received=len(spans))
        now_ns = self.clock_ns()
        now_mono = time.monotonic()
        # Per resource (all spans of a resource share it): which signal counts, and org/project.
        resources: dict[int, tuple[SourcePolicy, tuple[str, str] | None]] = {}
        records: list[UsageRecord] = []
        costs: list[ReportedCost] = []
        with self.ledger.lock:
            for resource, scope_name, fields, status_code, start_ns, end_ns, span_key, parent_key in spans:
                per_resource = resources.get(id(resource))
                if per_resource is None:
                    per_resource = resources[id(resource)] = (
                        self.config.source_policy(resource),
                        normalise.resource_labels(resource),
                    )
                policy = per_resource[0]
                if policy.usage_from != "spans":
                    result.ignored["source_uses_metrics"] += 1
                    continue
                record = normalise(
                    fields, resource, per_resource[1], scope_name, status_code, start_ns, end_ns, span_key, parent_key
                )
                if isinstance(record, str):
                    if record in (IGNORED_NOT_GENAI, IGNORED_AGGREGATE):
                        result.ignored[record] += 1
                    else:
                        result.rejected[record] += 1
                    continue
                if self.allows is not None and self.project_refused(record.labels[1]):
                    result.rejected[REJECTED_PROJECT_NOT_ALLOWED] += 1
                    continue
                self._infer_provider(record)
                if record.has_usage and self.implausible(record):
                    result.rejected[REJECTED_IMPLAUSIBLE_USAGE] += 1
                    continue
                records.append(record)
                costs.append(policy.reported_cost)
            self.dedupe.begin_request()
            for group in group_records(records):
                if len(group) == 1:
                    self._count(records[group[0]], costs[group[0]], now_ns, now_mono, result)
                else:
                    self._count_group([records[i] for i in group], costs[group[0]], now_ns, now_mono, result)
            self.metrics.dedupe_entries.set(len(self.dedupe))
        self.tally(self.metrics.spans, result)
        self.metrics.ingest_seconds.labels("traces").observe(time.perf_counter() - started)
        return result

    def _infer_provider(self, record: UsageRecord) -> None:
        if not record.labels[2]:
            provider = self.resolver.infer_provider(record.price_model) or "unknown"
            record.labels = (record.labels[0], record.labels[1], provider, record.labels[3], record.labels[4])

    def _count_group(
        self,
        group: list[UsageRecord],
        reported_cost: ReportedCost,
        now_ns: int,
        now_mono: float,
        result: IngestResult,
    ) -> None:
        """Spans of this request that describe one call: counted once, at the most complete report of them all."""
        primary = next((r for r in group if r.has_usage), group[0])
        reported, extras = primary.reported, primary.extras
        for record in group:
            reported = merge_reported(reported, record.reported)
            extras = merge_extras(extras, record.extras)
        # The group's records are this request's own: the primary becomes the call's most complete report.
        primary.reported, primary.tokens, primary.extras = reported, split_reported(reported), extras
        merged = primary
        scopes = frozenset(r.span.scope for r in group if r.span is not None and r.has_usage)
        call_key = self._count(merged, reported_cost, now_ns, now_mono, result, scopes)
        calls = self.dedupe
        for record in group:
            if record is primary:
                continue
            if call_key is None:
                calls.remember_span(record, None, now_mono)
                result.rejected[REJECTED_MISSING_USAGE] += 1
                continue
            if record.dedupe_key is not None:
                calls.alias(record.dedupe_key, call_key, now_mono)
            calls.remember_span(record, call_key, now_mono)
            self._merge_scope(call_key, record)
            result.duplicates += 1

    def _merge_scope(self, call_key: object, record: UsageRecord) -> None:
        found = self.dedupe.call_of(call_key)
        if found is not None and record.span is not None and record.has_usage and record.span.scope not in found[1][5]:
            labels, reported, extras, cost, price_key, scopes, ok = found[1]
            self.dedupe.update_call(
                found[0], (labels, reported, extras, cost, price_key, (*scopes, record.span.scope), ok)
            )

    def _count(
        self,
        record: UsageRecord,
        reported_cost: ReportedCost,
        now_ns: int,
        now_mono: float,
        result: IngestResult,
        scopes: frozenset[str] | None = None,
    ) -> object:
        """Count one call (or merge it into the call it repeats); the key it is remembered under (``None``: none).

        ``scopes``: the instrumentation scopes that reported the call's usage (default: the span's own).
        """
        calls = self.dedupe
        key = record.dedupe_key
        found = calls.call_of(key) if key is not None else None
        if found is None:
            if scopes is None:
                scopes = (
                    frozenset((record.span.scope,)) if record.span is not None and record.has_usage else frozenset()
                )
            found = calls.related(record, scopes)
        if found is not None:
            call_key, counted = found
            self._merge(call_key, counted, record)
            if key is not None:
                calls.alias(key, call_key, now_mono)
            calls.remember_span(record, call_key, now_mono)
            result.duplicates += 1
            return call_key
        if not record.has_usage and record.ok:
            # A GenAI client span without usage: unusable, unless a later span of the same call has it.
            calls.remember_span(record, None, now_mono)
            result.rejected[REJECTED_MISSING_USAGE] += 1
            return None
        cost, price_key = self.pricer.price(record, reported_cost, now_ns)
        if record.routed_from and price_key is not None:
            self.pricer.count_avoided(record, cost, now_ns)
        requests = record.requests if record.count_requests else 0
        if record.ok:
            self.ledger.add(record.labels, record.tokens, cost, requests, 0, record.duration_s)
        else:
            self.ledger.add(record.labels, record.tokens, cost, 0, requests, record.duration_s)
        if self.ledger.exemplars and record.span is not None:
            self.ledger.note_exemplar(record.labels, record.span.key, cost)
        if key is not None:
            usage_scopes = tuple(scopes) if scopes is not None else ()
            if not usage_scopes and record.span is not None and record.has_usage:
                usage_scopes = (record.span.scope,)
            call = (record.labels, record.reported, record.extras, cost, price_key, usage_scopes, record.ok)
            calls.remember_call(key, call, now_mono)
            calls.remember_span(record, key, now_mono)
            calls.link_unattached(record, key)
        result.accepted += 1
        return key

    def _merge(self, call_key: object, counted: CountedCall, record: UsageRecord) -> None:
        """Another span of a counted call: add only what it reports beyond what was counted."""
        labels, reported, counted_extras, counted_cost, price_key, scopes, ok = counted
        if record.span is not None and record.has_usage and record.span.scope not in scopes:
            scopes = (*scopes, record.span.scope)
        merged = merge_reported(reported, record.reported)
        extras = merge_extras(counted_extras, record.extras)
        if merged == reported and extras == counted_extras:
            self.dedupe.update_call(call_key, (labels, reported, counted_extras, counted_cost, price_key, scopes, ok))
            return
        before, after = split_reported(reported), split_reported(merged)
        cost = counted_cost
        if price_key is not None:
            price = self.resolver.resolve(*price_key)
            if price is not None:
                cost = price.cost_fusd(after, extras)
        delta = (
            after[0] - before[0],
            after[1] - before[1],
            after[2] - before[2],
            after[3] - before[3],
            after[4] - before[4],
        )
        self.ledger.add(labels, delta, cost - counted_cost)
        self.dedupe.update_call(call_key, (labels, merged, extras, cost, price_key, scopes, ok))

    # --- metrics ----------------------------------------------------------------------------

    def metrics_push(self, body: bytes, encoding: Encoding) -> IngestResult:
        """Count the GenAI metric points of one ``ExportMetricsServiceRequest``."""
        return ingest_points.metrics_push(self, body, encoding)

    def tally(self, counter: PromCounter, result: IngestResult) -> None:
        org = self.org_label
        if result.accepted:
            counter.labels(org, "accepted", "genai").inc(result.accepted)
        if result.duplicates:
            counter.labels(org, "duplicate", "same_call").inc(result.duplicates)
        for reason, count in result.ignored.items():
            counter.labels(org, "ignored", reason).inc(count)
        for reason, count in result.rejected.items():
            counter.labels(org, "rejected", reason).inc(count)
