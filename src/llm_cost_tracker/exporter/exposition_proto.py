"""The ledger's counters in the Prometheus protobuf format, with created timestamps.

Prometheus asks for this format (``Accept: application/vnd.google.protobuf;
proto=io.prometheus.client.MetricFamily; encoding=delimited``) when it runs with
``--enable-feature=created-timestamp-zero-ingestion`` (2.50 and later) or
``native-histograms``. The created timestamp of each counter and histogram
says when its series began, so that Prometheus stores a 0 there and the first
increment reaches ``increase()`` without the exporter's hold (docs/exactness.md).

The message types are ``io.prometheus.client`` from prometheus/client_model's
``metrics.proto``, built at import time from their field numbers (as
``otlp_schema`` does for OTLP): no generated code to vendor, and the C (upb)
protobuf runtime does the encoding.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator
from typing import Any, Final

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory, timestamp_pb2
from google.protobuf.internal.encoder import _VarintBytes  # type: ignore[attr-defined]
from prometheus_client import CollectorRegistry

from llm_cost_tracker.exporter import exposition
from llm_cost_tracker.exporter.exposition import (
    CALL_COUNTERS,
    DROPPED_METRICS,
    HELP,
    MONEY_COUNTERS,
    REQUEST_LINES,
    SERIES_LABELS,
    Snapshot,
)
from llm_cost_tracker.pricing.prices import FUSD_PER_USD
from llm_cost_tracker.usage import TOKEN_TYPES

CONTENT_TYPE: Final = "application/vnd.google.protobuf; proto=io.prometheus.client.MetricFamily; encoding=delimited"
_PACKAGE = "io.prometheus.client"
_F = descriptor_pb2.FieldDescriptorProto
COUNTER, GAUGE, SUMMARY, UNTYPED, HISTOGRAM = 0, 1, 2, 3, 4


def _build_file() -> descriptor_pb2.FileDescriptorProto:
    fdp = descriptor_pb2.FileDescriptorProto(
        name="io/prometheus/client/metrics.proto", package=_PACKAGE, syntax="proto2"
    )
    fdp.dependency.append(timestamp_pb2.DESCRIPTOR.name)
    timestamp = ".google.protobuf.Timestamp"

    def message(name: str, *fields: tuple[str, int, int, str | None, bool]) -> None:
        msg = fdp.message_type.add(name=name)
        for field_name, number, kind, type_name, repeated in fields:
            label = _F.LABEL_REPEATED if repeated else _F.LABEL_OPTIONAL
            field = msg.field.add(name=field_name, number=number, type=kind, label=label)
            if type_name:
                field.type_name = type_name if type_name.startswith(".") else f".{_PACKAGE}.{type_name}"

    msg, dbl, u64, s32 = _F.TYPE_MESSAGE, _F.TYPE_DOUBLE, _F.TYPE_UINT64, _F.TYPE_SINT32
    i64, string = _F.TYPE_INT64, _F.TYPE_STRING
    message("LabelPair", ("name", 1, string, None, False), ("value", 2, string, None, False))
    message("Gauge", ("value", 1, dbl, None, False))
    message("Counter", ("value", 1, dbl, None, False), ("created_timestamp", 3, msg, timestamp, False))
    message("Untyped", ("value", 1, dbl, None, False))
    message("Bucket", ("cumulative_count", 1, u64, None, False), ("upper_bound", 2, dbl, None, False))
    message("BucketSpan", ("offset", 1, s32, None, False), ("length", 2, _F.TYPE_UINT32, None, False))
    message(
        "Histogram",
        ("sample_count", 1, u64, None, False),
        ("sample_sum", 2, dbl, None, False),
        ("bucket", 3, msg, "Bucket", True),
        ("schema", 5, s32, None, False),
        ("zero_threshold", 6, dbl, None, False),
        ("zero_count", 7, u64, None, False),
        ("positive_span", 12, msg, "BucketSpan", True),
        ("positive_delta", 13, _F.TYPE_SINT64, None, True),
        ("created_timestamp", 15, msg, timestamp, False),
    )
    message(
        "Metric",
        ("label", 1, msg, "LabelPair", True),
        ("gauge", 2, msg, "Gauge", False),
        ("counter", 3, msg, "Counter", False),
        ("untyped", 5, msg, "Untyped", False),
        ("histogram", 7, msg, "Histogram", False),
        ("timestamp_ms", 6, i64, None, False),
    )
    message(
        "MetricFamily",
        ("name", 1, string, None, False),
        ("help", 2, string, None, False),
        ("type", 3, _F.TYPE_INT32, None, False),  # the MetricType enum, on the wire an int
        ("metric", 4, msg, "Metric", True),
    )
    return fdp


def _message_class(name: str) -> Any:
    pool = descriptor_pool.Default()
    try:
        descriptor = pool.FindMessageTypeByName(f"{_PACKAGE}.{name}")
    except KeyError:
        pool.Add(_build_file())
        descriptor = pool.FindMessageTypeByName(f"{_PACKAGE}.{name}")
    return message_factory.GetMessageClass(descriptor)


MetricFamily: Any = _message_class("MetricFamily")


def _family(name: str, kind: int, help_text: str) -> Any:
    family = MetricFamily()
    family.name, family.type, family.help = name, kind, help_text
    return family


def _created(metric: Any, seconds: float) -> None:
    nanos = round(seconds * 1e9)
    metric.created_timestamp.seconds, metric.created_timestamp.nanos = divmod(nanos, 1_000_000_000)


def _labels(metric: Any, names: Iterable[str], values: Iterable[str]) -> None:
    for name, value in zip(names, values, strict=True):
        pair = metric.label.add()
        pair.name, pair.value = name, value


def ledger_families(snapshot: Snapshot) -> Iterator[Any]:
    """The ledger's families, with the created timestamp of every counter and histogram."""
    cost = _family("llm_cost_usd_total", COUNTER, HELP["llm_cost_usd_total"])
    tokens = _family("llm_tokens_total", COUNTER, HELP["llm_tokens_total"])
    requests = _family("llm_requests_total", COUNTER, HELP["llm_requests_total"])
    histograms = _family("llm_request_duration_seconds", HISTOGRAM, HELP["llm_request_duration_seconds"])
    bounds = snapshot.bounds
    for _, key, cost_fusd, counts, ok, errors, _, _, created, _, lines in snapshot.series:
        metric = cost.metric.add()
        _labels(metric, SERIES_LABELS, key)
        metric.counter.value = cost_fusd / FUSD_PER_USD
        _created(metric.counter, created)
        for i, (token_type, count) in enumerate(zip(TOKEN_TYPES, counts, strict=True)):
            if not lines >> i & 1:
                continue
            metric = tokens.metric.add()
            _labels(metric, (*SERIES_LABELS, "token_type"), (*key, token_type))
            metric.counter.value = count
            _created(metric.counter, created)
        for (bit, outcome), count in zip(REQUEST_LINES, (ok, errors), strict=True):
            if not lines >> bit & 1:
                continue
            metric = requests.metric.add()
            _labels(metric, (*SERIES_LABELS, "outcome"), (*key, outcome))
            metric.counter.value = count
            _created(metric.counter, created)
    for _, values, buckets, duration_sum, created in exposition.durations(snapshot):
        metric = histograms.metric.add()
        _labels(metric, snapshot.duration_labels, values)
        histogram = metric.histogram
        cumulative = 0
        for bound, count in zip(bounds, buckets, strict=False):
            cumulative += count
            bucket = histogram.bucket.add()
            bucket.upper_bound, bucket.cumulative_count = bound, cumulative
        histogram.sample_count = cumulative + buckets[-1]
        histogram.sample_sum = duration_sum
        _created(histogram, created)
    yield from (cost, tokens, requests, histograms)
    for name, label_names in CALL_COUNTERS.items():
        family = _family(name, COUNTER, HELP[name])
        for row_metric, values, count, created in snapshot.calls:
            if row_metric == name:
                metric = family.metric.add()
                _labels(metric, label_names, values)
                metric.counter.value = count / FUSD_PER_USD if name in MONEY_COUNTERS else count
                _created(metric.counter, created)
        yield family
    prices = _family("llm_price_usd_per_token", GAUGE, HELP["llm_price_usd_per_token"])
    for (provider, model), price in snapshot.prices:
        for token_type, usd in price.usd_per_token().items():
            metric = prices.metric.add()
            _labels(metric, ("provider", "model", "token_type"), (provider, model, token_type))
            metric.gauge.value = usd
    yield prices
    dropped = _family("llm_cost_tracker_series_dropped_total", COUNTER, HELP["llm_cost_tracker_series_dropped_total"])
    for name in DROPPED_METRICS:
        metric = dropped.metric.add()
        _labels(metric, ("metric",), (name,))
        metric.counter.value = snapshot.dropped.get(name, 0)
    yield dropped


def registry_families(registry: CollectorRegistry) -> Iterator[Any]:
    """The prometheus_client registry's metrics (the exporter's own) as protobuf families."""
    for metric in registry.collect():
        samples = [s for s in metric.samples if not s.name.endswith("_created")]
        if metric.type == "counter":
            family = _family(f"{metric.name}_total", COUNTER, metric.documentation)
            for sample in samples:
                point = family.metric.add()
                _labels(point, sample.labels, sample.labels.values())
                point.counter.value = sample.value
        elif metric.type == "histogram":
            family = _family(metric.name, HISTOGRAM, metric.documentation)
            grouped: dict[tuple[tuple[str, str], ...], Any] = {}
            for sample in samples:
                labels = tuple((k, v) for k, v in sample.labels.items() if k != "le")
                point = grouped.get(labels)
                if point is None:
                    point = grouped[labels] = family.metric.add()
                    _labels(point, (k for k, _ in labels), (v for _, v in labels))
                if sample.name.endswith("_bucket"):
                    upper = float(sample.labels["le"])
                    if not math.isinf(upper):
                        bucket = point.histogram.bucket.add()
                        bucket.upper_bound, bucket.cumulative_count = upper, int(sample.value)
                elif sample.name.endswith("_sum"):
                    point.histogram.sample_sum = sample.value
                elif sample.name.endswith("_count"):
                    point.histogram.sample_count = int(sample.value)
        else:  # gauge, info (a gauge named *_info), and anything else as untyped
            kind = GAUGE if metric.type in ("gauge", "info") else UNTYPED
            for name in dict.fromkeys(s.name for s in samples):
                family = _family(name, kind, metric.documentation)
                for sample in (s for s in samples if s.name == name):
                    point = family.metric.add()
                    _labels(point, sample.labels, sample.labels.values())
                    (point.gauge if kind == GAUGE else point.untyped).value = sample.value
                yield family
            continue
        yield family


def delimited(families: Iterable[Any]) -> bytes:
    """Families as the scrape body: each a varint length and the message."""
    parts = []
    for family in families:
        if len(family.metric):
            data = family.SerializeToString()
            parts += [_VarintBytes(len(data)), data]
    return b"".join(parts)


def _quality(media_range: str) -> float:
    for parameter in media_range.split(";")[1:]:
        name, _, value = parameter.strip().partition("=")
        if name == "q":
            try:
                return float(value)
            except ValueError:
                return 0.0
    return 1.0


def wants_protobuf(accept: str | None) -> bool:
    """Whether the scraper prefers the protobuf format to text (``Accept``, by quality, ties to protobuf).

    Prometheus puts it first when ``created-timestamp-zero-ingestion`` or ``native-histograms`` is on.
    """
    if not accept:
        return False
    protobuf = text = 0.0
    for media_range in accept.split(","):
        kind = media_range.split(";", 1)[0].strip()
        if kind == "application/vnd.google.protobuf" and "io.prometheus.client.MetricFamily" in media_range:
            protobuf = max(protobuf, _quality(media_range))
        elif kind in ("text/plain", "application/openmetrics-text", "*/*"):
            text = max(text, _quality(media_range))
    return protobuf > 0 and protobuf >= text
