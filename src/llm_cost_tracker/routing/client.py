"""``ModelRouter``: which model to call, according to the routing file, in microseconds.

```python
from llm_cost_tracker.routing import ModelRouter

router = ModelRouter("/shared/routing.yaml", scope={"org": "acme", "project": "checkout"})
client.chat.completions.create(model=router.resolve("gpt-4o"), messages=...)
```

The file is looked at (``os.stat``) at most every ``check_interval`` seconds
and parsed only when it changed; answers are cached per model and scope in
between. No file means no swaps; a file that disappears or turns corrupt
keeps the last good state, logged once. ``resolve`` never raises.

App hosts that do not share a volume with the receiver read their org's
routing over HTTP instead (a tenant's read token in a file):

```python
router = ModelRouter.from_url(
    "https://tracker:9464/tenants/acme/routing", token_file="/run/secrets/llm-routing-token",
    scope={"project": "checkout"},
)
```
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
from collections.abc import Iterator, Mapping
from pathlib import Path

from llm_cost_tracker.routing import marks
from llm_cost_tracker.routing.document import RoutingDocument, RoutingFileError, parse
from llm_cost_tracker.routing.remote import RemoteRouting

log = logging.getLogger(__name__)

_EMPTY = RoutingDocument()


def file_signature(path: Path) -> tuple[int, int, int]:
    """What changes when the routing file is rewritten (a new inode) or edited; raises ``OSError``."""
    stat = os.stat(path)
    return (stat.st_mtime_ns, stat.st_ino, stat.st_size)


class ModelRouter:
    """Resolves requested models through a routing file written by the webhook receiver."""

    def __init__(
        self,
        path: str | os.PathLike[str] = "routing.yaml",
        *,
        scope: Mapping[str, str] | None = None,
        check_interval: float = 0.005,
    ) -> None:
        self.path = Path(path)
        self.scope = dict(scope or {})
        self.check_interval = check_interval
        self._document = _EMPTY
        self._signature: tuple[int, int, int] | None = None
        self._checked_at = float("-inf")
        self._answers: dict[tuple[str, tuple[tuple[str, str], ...]], str] = {}
        self._lock = threading.Lock()
        self._logged: str | None = None
        self.remote: RemoteRouting | None = None

    @classmethod
    def from_url(
        cls,
        url: str,
        *,
        token_file: str | os.PathLike[str] | None = None,
        scope: Mapping[str, str] | None = None,
        poll_interval: float = 0.25,
        timeout: float = 2.0,
        ca_file: str | os.PathLike[str] | None = None,
    ) -> ModelRouter:
        """A router reading ``GET /tenants/{org}/routing`` of the exporter's web port, polled every
        ``poll_interval`` seconds (a swap is seen within that, plus one request). The org of the URL is added to
        ``scope``. Never raises: an unreachable exporter leaves the last good routing (or none) in use."""
        router = cls(os.devnull, scope=scope, check_interval=0.005)
        parts = url.rstrip("/").split("/")
        if len(parts) >= 3 and parts[-1] == "routing" and parts[-3] == "tenants":
            router.scope.setdefault("org", parts[-2])
        router.remote = RemoteRouting(
            url,
            token_file=Path(token_file) if token_file is not None else None,
            poll_interval=poll_interval,
            timeout=timeout,
            ca_file=Path(ca_file) if ca_file is not None else None,
        )
        router._set(router.remote.document, None)
        return router

    def close(self) -> None:
        """Stop polling (a router reading a URL); a file router has nothing to stop."""
        if self.remote is not None:
            self.remote.close()

    @property
    def generation(self) -> int:
        """The generation of the routing file in use (0 before any swap)."""
        self._refresh()
        return self._document.generation

    def resolve(self, model: str, **scope: str) -> str:
        """The model to call for ``model``; ``scope`` (``project=...``) adds to the router's scope."""
        now = time.monotonic()
        if now - self._checked_at >= self.check_interval:
            self._refresh(now)
        key = (model, tuple(sorted(scope.items()))) if scope else (model, ())
        answer = self._answers.get(key)
        if answer is None:
            answer = self._document.resolve(model, {**self.scope, **scope} if scope else self.scope)
            if len(self._answers) > 4096:
                self._answers = {}
            self._answers[key] = answer
        return answer

    def route(self, model: str, **scope: str) -> tuple[str, str]:
        """``(model to call, budget)``: as ``resolve``, with the budget whose swap it is (``""``: no swap,
        ``"pin"``: a pin set by people). Integrations use it to mark the calls they swap."""
        now = time.monotonic()
        if now - self._checked_at >= self.check_interval:
            self._refresh(now)
        return self._document.route(model, {**self.scope, **scope} if scope else self.scope)

    @contextlib.contextmanager
    def call(self, model: str, **scope: str) -> Iterator[str]:
        """The model to call, with the call marked as swapped while the block runs::

            with router.call("gpt-4o") as model:
                client.chat.completions.create(model=model, messages=...)

        Spans started inside (the instrumentation's span of the call) carry ``llm_cost_tracker.routed_from``
        and ``llm_cost_tracker.budget`` when a swap applies, so that the exporter counts what it saved
        (``llm_cost_avoided_usd_total``); see ``routing.marks``."""
        target, budget = self.route(model, **scope)
        if target == model or not budget:
            yield target
            return
        with marks.swapped(model, budget):
            yield target

    def _refresh(self, now: float | None = None) -> None:
        remote = self.remote
        if remote is not None:
            self._checked_at = time.monotonic() if now is None else now
            if remote.document is not self._document:
                with self._lock:
                    self._set(remote.document, None)
            return
        with self._lock:
            self._checked_at = time.monotonic() if now is None else now
            try:
                signature = file_signature(self.path)
            except FileNotFoundError:
                # No file yet: no swaps. A file that disappears keeps its last state (logged once).
                if self._signature is not None:
                    self._log_once(f"routing file {self.path} is gone; keeping its last state")
                return
            except OSError as exc:
                self._log_once(f"cannot stat routing file {self.path}: {exc.strerror}")
                return
            if signature == self._signature:
                return
            try:
                document = parse(self.path.read_text(encoding="utf-8"))
            except (OSError, UnicodeDecodeError, RoutingFileError) as exc:
                # Keep the last good state; a writer that replaces the file atomically never gets here.
                self._log_once(f"routing file {self.path} unreadable, keeping the last good state: {exc}")
                self._signature = signature
                return
            self._set(document, signature)

    def _set(self, document: RoutingDocument, signature: tuple[int, int, int] | None) -> None:
        if document is not self._document:
            self._answers = {}
        self._document = document
        self._signature = signature
        self._logged = None

    def _log_once(self, message: str) -> None:
        if message != self._logged:
            log.warning(message)
            self._logged = message
