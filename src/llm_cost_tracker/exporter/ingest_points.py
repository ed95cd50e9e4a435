"""The pipeline of one metrics push: GenAI histogram points → usage since the stream's last push → priced
counts. Functions of the ``Ingestor`` whose state they share (its ledger, streams, labels, pricer)."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from llm_cost_tracker.config import ReportedCost, SourcePolicy
from llm_cost_tracker.exporter.aliases import canonical_attributes
from llm_cost_tracker.exporter.decode_points import (
    GENAI_COST,
    GENAI_DURATION,
    TEMPORALITY_CUMULATIVE,
    TEMPORALITY_DELTA,
    GenAIPoint,
    iter_points_json,
    iter_points_proto,
)
from llm_cost_tracker.exporter.normalise import (
    REJECT_HINTS,
    REJECTED_INVALID_VALUE,
    REJECTED_PROJECT_NOT_ALLOWED,
)
from llm_cost_tracker.exporter.normalise_points import normalise_point
from llm_cost_tracker.exporter.outcome import REJECTED_IMPLAUSIBLE_USAGE, Encoding, IngestResult
from llm_cost_tracker.exporter.temporality import Delta
from llm_cost_tracker.usage import UsageRecord

if TYPE_CHECKING:
    from llm_cost_tracker.exporter.ingest import Ingestor


def _same(value: object) -> object:
    return value


def metrics_push(ingestor: Ingestor, body: bytes, encoding: Encoding) -> IngestResult:
    """Count the GenAI metric points of one ``ExportMetricsServiceRequest``."""
    started = time.perf_counter()
    decoder = iter_points_proto if encoding == "protobuf" else iter_points_json
    points, others = decoder(body)
    result = IngestResult(received=len(points) + others)
    if others:
        result.ignored["not_genai"] += others
    now_ns = ingestor.clock_ns()
    policies: dict[int, SourcePolicy] = {}
    with ingestor.ledger.lock:
        counted: list[tuple[UsageRecord, ReportedCost, GenAIPoint, Delta]] = []
        for point in points:
            policy = policies.get(id(point.resource))
            if policy is None:
                policy = policies[id(point.resource)] = ingestor.config.source_policy(point.resource)
            if policy.usage_from != "metrics":
                result.ignored["source_uses_spans"] += 1
                continue
            if point.metric == GENAI_COST and policy.reported_cost != "prefer":
                result.ignored["reported_cost_unused"] += 1
                continue
            outcome = _point_record(ingestor, point)
            if isinstance(outcome, str):
                counter = result.rejected if outcome in REJECT_HINTS else result.ignored
                counter[outcome] += 1
                continue
            record, delta = outcome
            if record.has_usage and ingestor.implausible(record):
                result.rejected[REJECTED_IMPLAUSIBLE_USAGE] += 1
                continue
            if ingestor.allows is not None and ingestor.project_refused(record.labels[1]):
                result.rejected[REJECTED_PROJECT_NOT_ALLOWED] += 1
                continue
            counted.append((record, policy.reported_cost, point, delta))
        # A reported cost point replaces the catalog price of the same series' tokens, in this push.
        reported = {record.labels for record, *_ in counted if record.reported_cost_usd is not None}
        for record, reported_cost, point, delta in counted:
            if record.reported_cost_usd is None and record.labels in reported:
                cost = 0
            else:
                cost, _ = ingestor.pricer.price(record, reported_cost, now_ns)
            requests = record.requests if record.count_requests else 0
            if record.ok:
                ingestor.ledger.add(record.labels, record.tokens, cost, requests, 0)
            else:
                ingestor.ledger.add(record.labels, record.tokens, cost, 0, requests)
            if point.metric == GENAI_DURATION and delta.buckets:
                ingestor.ledger.add_durations(record.labels, delta.buckets, point.bounds, delta.total)
            result.accepted += 1
        ingestor.metrics.metric_streams.set(len(ingestor.streams))
    ingestor.tally(ingestor.metrics.points, result)
    ingestor.metrics.ingest_seconds.labels("metrics").observe(time.perf_counter() - started)
    return result


def _point_record(ingestor: Ingestor, point: GenAIPoint) -> tuple[UsageRecord, Delta] | str:
    """The usage a point adds since the stream's last push, or why it adds none."""
    if point.temporality == TEMPORALITY_CUMULATIVE:
        first = point.stream not in ingestor.streams
        delta = ingestor.streams.delta(point.stream, point.start_ns, point.count, point.total, point.bucket_counts)
        if delta is None:
            return "first_cumulative_point" if first else "no_change"
    elif point.temporality == TEMPORALITY_DELTA:
        delta = Delta(point.count, point.total, tuple(point.bucket_counts))
    else:
        return REJECTED_INVALID_VALUE
    aliases = ingestor.normalise.aliases
    fields = canonical_attributes(aliases.keys() & point.attrs.keys(), point.attrs, _same, aliases)
    record = normalise_point(
        point.metric,
        fields,
        point.resource,
        count=delta.count,
        total=delta.total,
        time_ns=point.time_ns,
        labels=ingestor.labels,
    )
    if isinstance(record, str):
        return record
    if not record.labels[2]:
        provider = ingestor.resolver.infer_provider(record.price_model) or "unknown"
        record.labels = (record.labels[0], record.labels[1], provider, record.labels[3], record.labels[4])
    return record, delta
