"""The routing document over HTTP: ``GET /tenants/{org}/routing``, polled with ``If-None-Match``.

A daemon thread fetches the document every ``poll_interval`` seconds; a 304 costs the exporter a
hash comparison and the app nothing. Whatever goes wrong (exporter down, 401, a corrupt answer), the
last good document stays in use and the problem is logged once; nothing raises into the app. Only the
standard library, so that an app needs nothing new.
"""

from __future__ import annotations

import json
import logging
import ssl
import threading
import urllib.error
import urllib.request
from pathlib import Path

from llm_cost_tracker.routing.document import RoutingDocument, RoutingFileError, from_mapping

log = logging.getLogger(__name__)

MAX_DOCUMENT_BYTES = 4 * 1024 * 1024


class RemoteRouting:
    """Keeps the latest good routing document of a URL; ``document`` is read without a lock."""

    def __init__(
        self,
        url: str,
        *,
        token_file: str | Path | None = None,
        poll_interval: float = 0.25,
        timeout: float = 2.0,
        ca_file: str | Path | None = None,
    ) -> None:
        self.url = url
        self.token_file = Path(token_file) if token_file is not None else None
        self.poll_interval = poll_interval
        self.timeout = timeout
        self.document = RoutingDocument()
        self.fetches = 0
        """Answers received (200 or 304): a test or a health check can tell the poller is alive."""
        self._etag: str | None = None
        self._logged: str | None = None
        self._context = ssl.create_default_context(cafile=str(ca_file)) if ca_file is not None else None
        self._stop = threading.Event()
        self.poll()  # the first answer before the app's first call, if the exporter answers quickly
        self._thread = threading.Thread(target=self._run, name="llm-cost-tracker-routing", daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._stop.set()

    def _run(self) -> None:
        while not self._stop.wait(self.poll_interval):
            self.poll()

    def _headers(self) -> dict[str, str]:
        headers = {"Accept": "application/json", "User-Agent": "llm-cost-tracker-router"}
        if self._etag is not None:
            headers["If-None-Match"] = self._etag
        if self.token_file is not None:
            token = self.token_file.read_text(encoding="utf-8").strip()  # re-read: a rotated token applies
            headers["Authorization"] = f"Bearer {token}"
        return headers

    def poll(self) -> None:
        """Fetch once; never raises."""
        try:
            if not self.url.startswith(("http://", "https://")):
                raise ValueError("the routing URL must be http:// or https://")
            request = urllib.request.Request(self.url, headers=self._headers())  # noqa: S310 - scheme checked above
            with urllib.request.urlopen(request, timeout=self.timeout, context=self._context) as response:  # noqa: S310
                body = response.read(MAX_DOCUMENT_BYTES + 1)
                if len(body) > MAX_DOCUMENT_BYTES:
                    raise RoutingFileError(f"larger than {MAX_DOCUMENT_BYTES} bytes")
                document = from_mapping(json.loads(body))
                etag = response.headers.get("ETag")
        except urllib.error.HTTPError as exc:
            if exc.code == 304:
                self.fetches += 1
                self._logged = None
                return
            self._log_once(f"routing {self.url}: HTTP {exc.code}; keeping the last good routing")
            return
        except (OSError, ValueError, RoutingFileError) as exc:
            self._log_once(f"routing {self.url} unreadable, keeping the last good routing: {exc}")
            return
        except Exception as exc:  # never into the app
            self._log_once(f"routing {self.url}: unexpected error, keeping the last good routing: {exc!r}")
            return
        self.fetches += 1
        self._logged = None
        self._etag = etag
        self.document = document

    def _log_once(self, message: str) -> None:
        if message != self._logged:
            log.warning(message)
            self._logged = message
