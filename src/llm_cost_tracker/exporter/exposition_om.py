"""The ledger in the OpenMetrics text format (1.0.0), for scrapers that ask for it, with exemplars.

Served only with ``web.exemplars: true``: ``llm_cost_usd_total`` then carries, per series, an exemplar of a
recent expensive call (its ``trace_id`` and ``span_id``, its cost, when it was counted), so a Grafana panel
can jump from a cost spike to the trace. Prometheus stores exemplars with ``--enable-feature=exemplar-storage``
and asks for OpenMetrics first whatever its flags, so the option is off by default: the classic text format
(what every scrape gets without it) is unchanged.

The values are the classic format's, line for line: OpenMetrics differs there only in naming a counter's
family without ``_total`` and ending with ``# EOF``.
"""

from __future__ import annotations

from typing import Final

from prometheus_client import CollectorRegistry
from prometheus_client.openmetrics.exposition import generate_latest as openmetrics_latest

from llm_cost_tracker.exporter import exposition
from llm_cost_tracker.exporter.exposition import RenderCache, Snapshot, format_value
from llm_cost_tracker.pricing.prices import FUSD_PER_USD

CONTENT_TYPE: Final = "application/openmetrics-text; version=1.0.0; charset=utf-8"
COST: Final = "llm_cost_usd_total"


def wants_openmetrics(accept: str | None) -> bool:
    """Whether the scraper accepts OpenMetrics (Prometheus lists it first unless told otherwise)."""
    return bool(accept) and "application/openmetrics-text" in str(accept)


def text(snapshot: Snapshot, cache: RenderCache, registry: CollectorRegistry | None = None) -> bytes:
    """The ledger's families (and ``registry``'s) as OpenMetrics, the cost counters with their exemplars."""
    exemplars = snapshot.exemplars
    out: list[str] = []
    for line in exposition.text(snapshot, cache).split("\n"):
        if not line:
            continue
        if line.startswith("# "):
            _, kind, name, rest = line.split(" ", 3)
            out.append(f"# {kind} {name.removesuffix('_total')} {rest}")
            continue
        if exemplars and line.startswith(COST):
            labels = line[len(COST) + 1 : line.rindex("}")]
            exemplar = exemplars.get(labels)
            if exemplar is not None:
                span_key, cost_fusd, at = exemplar
                line += (
                    f' # {{trace_id="{span_key[:16].hex()}",span_id="{span_key[16:24].hex()}"}} '
                    f"{format_value(cost_fusd / FUSD_PER_USD)} {at:.3f}"
                )
        out.append(line)
    body = ("\n".join(out) + "\n").encode()
    tail: bytes = openmetrics_latest(registry) if registry is not None else b"# EOF\n"  # type: ignore[no-untyped-call]
    return body + tail
