"""Reading spend back from the user's Prometheus (``prometheus-api-client``): what reconcile and reports compare.

Spend in a period is one definition, shared with the rules and dashboards (``rules/promql.py``): the sum of
the exact increases the spend rules record (``series:llm_cost_usd:increase_exact``), over the evaluations
whose data fall in the period. A UTC day's figure is a ``query_range`` step of one day, evaluated at each
day's end plus the rules' query offset, so that many days cost one query.

Credentials come from a Prometheus ``--http.config.file`` (the format promtool and Prometheus's own
``http_config`` use): ``basic_auth``, ``authorization`` and ``tls_config``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, Final

import pydantic
import requests
from prometheus_api_client import PrometheusConnect
from prometheus_api_client.exceptions import PrometheusApiClientException
from urllib3.util.retry import Retry

from llm_cost_tracker.clock import midnight
from llm_cost_tracker.inputfile import load_model
from llm_cost_tracker.rules import promql
from llm_cost_tracker.rules.generator import SERIES_INCREASE

TOKENS_INCREASE: Final = "series:llm_tokens:increase_exact"
REQUESTS_INCREASE: Final = "series:llm_requests:increase_exact"
DAY: Final = 86_400


class HistoryError(Exception):
    """Prometheus could not answer; the message says which Prometheus, why, and what to check."""


class _Strict(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(extra="forbid", frozen=True)


class _BasicAuth(_Strict):
    username: str
    password: str | None = None
    password_file: Path | None = None


class _Authorization(_Strict):
    type: str = "Bearer"
    credentials: str | None = None
    credentials_file: Path | None = None


class _Tls(_Strict):
    ca_file: Path | None = None
    cert_file: Path | None = None
    key_file: Path | None = None
    insecure_skip_verify: bool = False


class HttpClientConfig(_Strict):
    """The part of Prometheus's ``http_config`` a query client needs."""

    basic_auth: _BasicAuth | None = None
    authorization: _Authorization | None = None
    tls_config: _Tls | None = None

    @pydantic.model_validator(mode="after")
    def _one_auth(self) -> HttpClientConfig:
        if self.basic_auth is not None and self.authorization is not None:
            raise ValueError("at most one of basic_auth and authorization")
        return self


def _secret(value: str | None, path: Path | None, base: Path) -> str:
    if path is None:
        return value or ""
    try:
        return (path if path.is_absolute() else base / path).read_text("utf-8").strip()
    except OSError as exc:
        raise HistoryError(f"--http.config.file: cannot read {path}: {exc.strerror}") from None


def session_for(config_file: str | Path | None) -> requests.Session:
    """A ``requests`` session carrying the credentials and TLS settings of an ``--http.config.file``."""
    session = requests.Session()
    if config_file is None:
        return session
    config = load_model(config_file, HttpClientConfig)
    base = Path(config_file).parent
    if config.basic_auth is not None:
        auth = config.basic_auth
        session.auth = (auth.username, _secret(auth.password, auth.password_file, base))
    if config.authorization is not None:
        credentials = _secret(config.authorization.credentials, config.authorization.credentials_file, base)
        session.headers["Authorization"] = f"{config.authorization.type} {credentials}"
    if config.tls_config is not None:
        tls = config.tls_config

        def at(path: Path) -> str:
            return str(path if path.is_absolute() else base / path)

        if tls.insecure_skip_verify:
            session.verify = False
        elif tls.ca_file is not None:
            session.verify = at(tls.ca_file)
        if tls.cert_file is not None and tls.key_file is not None:
            session.cert = (at(tls.cert_file), at(tls.key_file))
    return session


_STATUS = re.compile(r"HTTP Status Code (\d+) \((b?)(['\"])(.*)\3\)$", re.S)
_ERRNO = re.compile(r"\[Errno -?\d+\] [^\"')]+")
_DURATION = re.compile(r"(\d+)(y|w|d|h|ms|m|s)")
_UNIT_SECONDS: Final = {"y": 365 * DAY, "w": 7 * DAY, "d": DAY, "h": 3600, "m": 60, "s": 1, "ms": 0.001}


@dataclass(frozen=True)
class DailyValue:
    labels: tuple[str, ...]
    day: date
    value: float


class PrometheusHistory:
    """The user's Prometheus, as ``reconcile`` and reports read it."""

    def __init__(
        self,
        url: str,
        *,
        http_config_file: str | Path | None = None,
        timeout_seconds: float = 60.0,
        query_offset_seconds: int = 10,
    ) -> None:
        self.url = url.rstrip("/")
        self.offset = query_offset_seconds
        self.timeout = timeout_seconds
        self.session = session_for(http_config_file)
        retry = Retry(total=2, backoff_factor=0.5, status_forcelist=(502, 503, 504), allowed_methods=None)
        self.client = PrometheusConnect(
            url=self.url,
            session=self.session,
            retry=retry,
            timeout=int(max(1, timeout_seconds)),
            disable_ssl=self.session.verify is False,
        )

    def close(self) -> None:
        self.client.close()

    def _call(self, what: str, run: Any) -> Any:
        try:
            return run()
        except requests.exceptions.Timeout:
            raise HistoryError(
                f"Prometheus at {self.url} did not answer {what} within {self.timeout:g} s (--prometheus.timeout)"
            ) from None
        except requests.exceptions.SSLError as exc:
            raise HistoryError(
                f"TLS to Prometheus at {self.url} failed: {exc.__class__.__name__}; "
                "check tls_config in --http.config.file"
            ) from None
        except requests.exceptions.RequestException as exc:
            text = str(exc.__context__ or exc)
            errno = _ERRNO.search(text)
            reason = errno.group(0) if errno else text.split(": ")[-1].rstrip("\"')")[:200]
            raise HistoryError(
                f"cannot reach Prometheus at {self.url} (--prometheus.url): {reason or exc.__class__.__name__}"
            ) from None
        except PrometheusApiClientException as exc:
            raise HistoryError(self._refused(what, str(exc))) from None

    def _refused(self, what: str, message: str) -> str:
        match = _STATUS.match(message)
        status = match.group(1) if match else "an error"
        detail = ""
        if match:
            try:
                detail = str(json.loads(match.group(4).encode().decode("unicode_escape")).get("error", ""))
            except (ValueError, AttributeError):
                detail = match.group(4)[:200]
        if status in ("401", "403"):
            return f"Prometheus at {self.url} refused {what} ({status}): check the credentials in --http.config.file"
        return f"Prometheus at {self.url} answered {what} with {status}{': ' + detail if detail else ''}"

    def daily(
        self, record: str, start: date, end: date, by: Iterable[str], match: Mapping[str, str] | None = None
    ) -> list[DailyValue]:
        """``record``'s sum per UTC day in ``[start, end)`` and per ``by`` labels (``match``: selected series)."""
        labels = tuple(by)
        if end <= start:
            return []
        expr = f"{promql.by(labels)} ({promql.period_sum(promql.selector(record, match or {}), DAY)})"
        first = midnight(start) + timedelta(days=1, seconds=self.offset)
        last = midnight(end) + timedelta(seconds=self.offset)
        result = self._call(
            f"the daily {record} query",
            lambda: self.client.custom_query_range(expr, first, last, str(DAY)),
        )
        values = []
        for series in result:
            metric = series.get("metric", {})
            key = tuple(metric.get(name, "") for name in labels)
            for stamp, value in series.get("values", []):
                day = datetime.fromtimestamp(float(stamp) - self.offset - DAY, UTC).date()
                values.append(DailyValue(key, day, float(value)))
        return values

    def instant(self, expr: str, at: datetime, what: str) -> list[tuple[dict[str, str], float]]:
        """An instant query's series (labels, value) at ``at``."""
        result = self._call(what, lambda: self.client.custom_query(expr, params={"time": at.timestamp()}))
        return [(dict(series.get("metric", {})), float(series["value"][1])) for series in result]

    def raw(self, expr: str, at: datetime, what: str) -> list[tuple[dict[str, str], list[tuple[float, float]]]]:
        """The raw samples of a range selector ``expr`` evaluated at ``at``: (labels, [(unix seconds, value)])."""
        result = self._call(what, lambda: self.client.custom_query(expr, params={"time": at.timestamp()}))
        return [
            (dict(series.get("metric", {})), [(float(t), float(v)) for t, v in series.get("values", [])])
            for series in result
        ]

    def count_series(self, metric: str, start: datetime, end: datetime) -> int:
        """How many series of ``metric`` have samples in ``(start, end]`` (0: the rules or exporter are missing)."""
        seconds = max(1, round((end - start).total_seconds()))
        at = end + timedelta(seconds=self.offset)
        result = self.instant(f"count(last_over_time({metric}[{seconds}s]))", at, f"a count of {metric}")
        return int(result[0][1]) if result else 0

    def missing_spend_rules(self, start: datetime, end: datetime) -> str | None:
        """Why nothing was found, when it is that the spend rules are not loaded; ``None`` otherwise."""
        if self.count_series(SERIES_INCREASE, start, end) or self.count_series(REQUESTS_INCREASE, start, end):
            return None
        if not self.count_series("llm_cost_usd_total", start, end):
            return None
        return (
            f"Prometheus at {self.url} has llm_cost_usd_total but not {SERIES_INCREASE}: load the spend rules "
            "(`llm-cost-tracker rules generate -o llm-cost.rules.yaml`, in rule_files); reports and reconcile read "
            "what they record, so that their figures are the budgets'"
        )

    def why_no_spend(self, start: datetime, end: datetime, what: str) -> str:
        """Found no spend in ``(start, end]``: raises ``HistoryError`` when that is because the spend rules are not
        loaded, else returns the note to print (``what``: "this period", "these days")."""
        message = self.missing_spend_rules(start, end)
        if message is not None:
            raise HistoryError(message)
        return (
            f"Prometheus at {self.url} holds no LLM spend for {what}: is it scraping the exporter, and are the spend "
            "rules loaded?"
        )

    def retention_start(self, now: datetime) -> datetime | None:
        """The oldest time this Prometheus keeps (``--storage.tsdb.retention.time``), if it says."""
        try:
            response = self.session.get(f"{self.url}/api/v1/status/runtimeinfo", timeout=self.timeout)
            retention = str(response.json()["data"]["storageRetention"]) if response.status_code == 200 else ""
        except (requests.exceptions.RequestException, ValueError, KeyError, TypeError):
            return None
        duration = retention.split(" or ")[0].strip()
        parts = _DURATION.findall(duration)
        if not parts or "".join(n + u for n, u in parts) != duration:
            return None  # size-based retention only, or a format this does not read
        seconds = sum(int(n) * _UNIT_SECONDS[u] for n, u in parts)
        return now - timedelta(seconds=seconds)
