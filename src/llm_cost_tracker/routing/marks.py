"""Marking the calls a budget swap sent elsewhere, so that the exporter can count what the swap saved.

A swapped call carries two span attributes (DESIGN §12): ``llm_cost_tracker.routed_from``, the model the app
asked for, and ``llm_cost_tracker.budget``, the budget whose swap it was. The exporter prices the call's
tokens at the asked-for model too, and counts the difference in ``llm_cost_avoided_usd_total``.

The span that matters is the instrumentation's span of the provider call (openai-v2, OpenLLMetry,
OpenInference), which starts *inside* the call, after the model was chosen. So while a swapped call runs,
the mark sits in a context variable, and a span processor, added once to the app's OpenTelemetry SDK
``TracerProvider`` the first time a call is swapped, copies it onto every span started meanwhile; the span
current when the call begins is marked too. Without the OpenTelemetry SDK nothing is marked and nothing
fails.
"""

from __future__ import annotations

import contextlib
import contextvars
import logging
import threading
from collections.abc import Iterator
from typing import Any, Final

log = logging.getLogger(__name__)

ROUTED_FROM: Final = "llm_cost_tracker.routed_from"
BUDGET: Final = "llm_cost_tracker.budget"

_mark: contextvars.ContextVar[tuple[str, str] | None] = contextvars.ContextVar("llm_cost_tracker_swap", default=None)
_installed: set[int] = set()
_lock = threading.Lock()


class SwapMarks:
    """A span processor: spans started while a swapped call runs get its marks (OpenTelemetry SDK interface)."""

    def on_start(self, span: Any, parent_context: Any = None) -> None:
        mark = _mark.get()
        if mark is not None:
            span.set_attribute(ROUTED_FROM, mark[0])
            span.set_attribute(BUDGET, mark[1])

    def on_end(self, span: Any) -> None:
        return None

    def _on_ending(self, span: Any) -> None:
        return None

    def shutdown(self) -> None:
        return None

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        return True


def install(provider: Any = None) -> bool:
    """Add ``SwapMarks`` to ``provider`` (default: the global SDK tracer provider), once; ``False`` when there is
    none to add it to. Apps that give their instrumentation a provider of their own call it with that one."""
    if provider is None:
        try:
            from opentelemetry import trace
        except ImportError:
            return False
        provider = trace.get_tracer_provider()
    add = getattr(provider, "add_span_processor", None)
    if add is None:
        return False
    with _lock:
        if id(provider) not in _installed:
            add(SwapMarks())
            _installed.add(id(provider))
    return True


@contextlib.contextmanager
def swapped(routed_from: str, budget: str) -> Iterator[None]:
    """Mark the spans of the call made in the block as swapped away from ``routed_from`` by ``budget``."""
    if install():
        from opentelemetry import trace

        current = trace.get_current_span()
        if current.is_recording():
            current.set_attribute(ROUTED_FROM, routed_from)
            current.set_attribute(BUDGET, budget)
    token = _mark.set((routed_from, budget))
    try:
        yield
    finally:
        _mark.reset(token)
