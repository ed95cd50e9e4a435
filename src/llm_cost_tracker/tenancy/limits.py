"""Per-tenant rate limits: a token bucket of spans per second.

A request is let in while the tenant's bucket is not empty, and its spans are taken from the bucket
once it is decoded (the count is not known before); a large batch may take the bucket below zero, and
the tenant then waits until the refill has paid the debt. So any batch size gets through, the long-run
rate never exceeds the limit, and a throttled request costs the exporter one comparison and no decoding.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable


class TokenBucket:
    """``rate`` tokens per second, holding at most one second's worth."""

    def __init__(self, rate: float, monotonic: Callable[[], float] = time.monotonic) -> None:
        self.rate = rate
        self.capacity = rate
        self.monotonic = monotonic
        self._level = rate
        self._at = monotonic()
        self._lock = threading.Lock()

    def _refill(self) -> float:
        now = self.monotonic()
        self._level = min(self.capacity, self._level + (now - self._at) * self.rate)
        self._at = now
        return self._level

    def retry_after(self) -> int | None:
        """``None`` when a request may go ahead, else the whole seconds until it may (``Retry-After``)."""
        with self._lock:
            level = self._refill()
            if level > 0:
                return None
            return max(1, math.ceil((-level + 1) / self.rate))

    def take(self, tokens: int) -> None:
        with self._lock:
            self._refill()
            self._level -= tokens

    def configure(self, rate: float) -> None:
        with self._lock:
            self._refill()
            self.rate = self.capacity = rate
            self._level = min(self._level, rate)
