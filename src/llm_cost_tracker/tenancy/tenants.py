"""The tenants file: which bearer tokens speak for which organisation, and with what limits.

```yaml
version: llm-cost-tracker/v1
tenants:
  - org: acme
    ingest_tokens_sha256: [9f86d0...]   # sha256 hex of the tokens apps send
    read_tokens_sha256: [60303a...]     # for GET /tenants/acme/metrics and /tenants/acme/routing
    projects: [checkout, "search-*"]    # shell globs; default ["*"]
    limits: {max_series: 2000, max_spans_per_second: 500}
```

Only hashes are stored, so the file is not a secret. A presented token is hashed (sha256); the first
8 bytes of its digest pick the few known hashes that can match, and each is compared with the whole
digest by ``hmac.compare_digest``, in constant time. Response times can depend only on the digest,
never on how much of a token is right (and a digest says nothing of its token without a sha256
preimage); the check costs the same for 10 tenants as for 10,000. A token never reaches a log line
or a label.
"""

from __future__ import annotations

import fnmatch
import hashlib
import hmac
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Final, Literal

import pydantic

from llm_cost_tracker.inputfile import load_model

OVERFLOW: Final = "__overflow__"
ORG_PATTERN: Final = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"
"""An org is a label value and a URL path segment: letters, digits, ``_ . -``."""
TokenKind = Literal["ingest", "read"]

Sha256Hex = Annotated[str, pydantic.StringConstraints(pattern=r"^[0-9a-f]{64}$", to_lower=True)]


class _Strict(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(extra="forbid", frozen=True)


class TenantLimits(_Strict):
    max_series: Annotated[int, pydantic.Field(ge=1, le=10_000_000)] | None = None
    """Label sets this tenant may create per metric (default: the config's ``limits.max_series_per_metric``);
    beyond it, its calls go to its own ``__overflow__`` series."""
    max_spans_per_second: Annotated[float, pydantic.Field(gt=0, allow_inf_nan=False)] | None = None
    """Spans (or metric points) per second, averaged over a second; beyond it, 429 with ``Retry-After``."""


class TenantSpec(_Strict):
    org: Annotated[str, pydantic.Field(pattern=ORG_PATTERN)]
    ingest_tokens_sha256: list[Sha256Hex] = []
    read_tokens_sha256: list[Sha256Hex] = []
    projects: Annotated[list[Annotated[str, pydantic.Field(min_length=1)]], pydantic.Field(min_length=1)] = ["*"]
    limits: TenantLimits = TenantLimits()

    @pydantic.field_validator("org")
    @classmethod
    def _not_reserved(cls, value: str) -> str:
        if value.startswith("__"):
            raise ValueError("names starting with '__' are reserved")
        return value


class TenantsFile(_Strict):
    version: Literal["llm-cost-tracker/v1"]
    tenants: list[TenantSpec] = []

    @pydantic.model_validator(mode="after")
    def _unique(self) -> TenantsFile:
        orgs: set[str] = set()
        owners: dict[str, str] = {}
        problems = []
        for index, tenant in enumerate(self.tenants):
            if tenant.org in orgs:
                problems.append(f"tenants[{index}].org: {tenant.org!r} is listed twice")
            orgs.add(tenant.org)
            for kind in ("ingest_tokens_sha256", "read_tokens_sha256"):
                for digest in getattr(tenant, kind):
                    owner = owners.setdefault(digest, f"tenants[{index}].{kind}")
                    if owner != f"tenants[{index}].{kind}":
                        problems.append(f"tenants[{index}].{kind}: hash {digest[:12]}... is also in {owner}")
        if problems:
            raise ValueError("; ".join(problems))
        return self


def token_sha256(token: str) -> str:
    """The hex sha256 of a token, as the tenants file stores it."""
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class Tenant:
    """One organisation as the exporter enforces it."""

    org: str
    projects: tuple[str, ...]
    max_series: int
    max_spans_per_second: float | None

    def allows(self, project: str) -> bool:
        return any(fnmatch.fnmatchcase(project, pattern) for pattern in self.projects)


@dataclass(frozen=True, slots=True)
class Credential:
    """Who a token speaks for and what it may do."""

    tenant: Tenant
    kind: TokenKind


class Tenants:
    """The loaded tenants file: authenticates bearer tokens."""

    def __init__(self, spec: TenantsFile, default_max_series: int, source: str = "") -> None:
        self.source = source
        self.by_org: dict[str, Tenant] = {}
        hashes: dict[bytes, list[tuple[bytes, Credential]]] = {}
        for entry in spec.tenants:
            tenant = Tenant(
                org=entry.org,
                projects=tuple(entry.projects),
                max_series=entry.limits.max_series or default_max_series,
                max_spans_per_second=entry.limits.max_spans_per_second,
            )
            self.by_org[tenant.org] = tenant
            kinds: tuple[tuple[TokenKind, list[str]], ...] = (
                ("ingest", entry.ingest_tokens_sha256),
                ("read", entry.read_tokens_sha256),
            )
            for kind, digests in kinds:
                for hexdigest in digests:
                    digest = bytes.fromhex(hexdigest)
                    hashes.setdefault(digest[:8], []).append((digest, Credential(tenant, kind)))
        self._hashes = hashes

    def identify(self, token: str) -> Credential | None:
        """The credential a bearer token is, or ``None`` (see the module's note on timing)."""
        digest = hashlib.sha256(token.encode("utf-8", "surrogateescape")).digest()
        found: Credential | None = None
        for known, credential in self._hashes.get(digest[:8], ()):
            if hmac.compare_digest(digest, known):
                found = credential
        return found


def load_tenants(path: str | Path, default_max_series: int) -> Tenants:
    """The tenants file at ``path``; raises ``InputFileError`` listing every problem."""
    return Tenants(load_model(path, TenantsFile), default_max_series, source=str(path))
