"""Who an OTLP request counts for: the tenant its bearer token names, or the open single-org exporter.

Generic over what a tenant's requests are counted by (the exporter's ``Ingestor``), so that tenancy
does not import the exporter; ``app`` builds one per tenant.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

from llm_cost_tracker.credentials import bearer_token
from llm_cost_tracker.httpbody import RequestRefused
from llm_cost_tracker.tenancy.limits import TokenBucket
from llm_cost_tracker.tenancy.tenants import Tenant, Tenants

T = TypeVar("T")

UNAUTHENTICATED = {"WWW-Authenticate": 'Bearer realm="llm-cost-tracker"'}


@dataclass(slots=True)
class Admitted(Generic[T]):
    """A request let in: what counts it, and the bucket its spans are taken from."""

    ingestor: T
    org: str
    bucket: TokenBucket | None = None

    def charge(self, items: int) -> None:
        if self.bucket is not None and items:
            self.bucket.take(items)


class IngestGate(Generic[T]):
    """Authenticates OTLP requests and applies each tenant's rate limit."""

    def __init__(
        self,
        open_ingestor: T,
        make: Callable[[Tenant], T],
        update: Callable[[T, Tenant], None],
        throttled: Callable[[str], None] = lambda org: None,
    ) -> None:
        self._open = Admitted(open_ingestor, "")
        self._make = make
        self._update = update
        self._throttled = throttled
        self.tenants: Tenants | None = None
        self.admitted: dict[str, Admitted[T]] = {}

    def configure(self, tenants: Tenants | None) -> None:
        """Take a new tenants file (``None``: open mode); a tenant kept keeps its state and its bucket."""
        admitted: dict[str, Admitted[T]] = {}
        for org, tenant in (tenants.by_org if tenants is not None else {}).items():
            previous = self.admitted.get(org)
            if previous is None:
                entry = Admitted(self._make(tenant), org)
            else:
                entry = previous
                self._update(entry.ingestor, tenant)
            rate = tenant.max_spans_per_second
            if rate is None:
                entry.bucket = None
            elif entry.bucket is None:
                entry.bucket = TokenBucket(rate)
            else:
                entry.bucket.configure(rate)
            admitted[org] = entry
        self.admitted = admitted
        self.tenants = tenants

    def admit(self, authorization: str | None) -> Admitted[T]:
        """The request's tenant; raises ``RequestRefused`` (401, 403, 429) when it may not be counted."""
        tenants = self.tenants
        if tenants is None:
            return self._open
        token = bearer_token(authorization)
        if token is None:
            raise RequestRefused(
                401, "unauthenticated", "missing bearer token (Authorization: Bearer <token>)", UNAUTHENTICATED
            )
        credential = tenants.identify(token)
        if credential is None:
            raise RequestRefused(401, "unauthenticated", "unknown bearer token", UNAUTHENTICATED)
        if credential.kind != "ingest":
            raise RequestRefused(403, "forbidden", "this token may read, not ingest")
        entry = self.admitted[credential.tenant.org]
        if entry.bucket is not None:
            wait = entry.bucket.retry_after()
            if wait is not None:
                self._throttled(entry.org)
                raise RequestRefused(
                    429,
                    "throttled",
                    f"over the tenant's max_spans_per_second; retry in {wait} s",
                    {"Retry-After": str(wait)},
                )
        return entry
