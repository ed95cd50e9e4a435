"""The exporter's configuration file: one YAML file, strict and versioned.

Every key has a default that works on a laptop; ``serve`` with no ``--config``
runs on ``default_config.yaml`` bundled with the package. See
``docs/configuration.md`` for the reference.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Annotated, Literal

import pydantic

from llm_cost_tracker.inputfile import load_model, parse_model
from llm_cost_tracker.labels import LabelMapping, LabelSource

CONFIG_VERSION = "llm-cost-tracker/v1"
DEFAULT_CONFIG_NAME = "default_config.yaml"

UsageSource = Literal["spans", "metrics"]
ReportedCost = Literal["ignore", "prefer", "fallback"]


class _Strict(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(extra="forbid", frozen=True)


def _check_listen_address(value: str) -> str:
    host, sep, port = value.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ValueError("expected HOST:PORT, e.g. 127.0.0.1:4318 or 0.0.0.0:4318")
    return value


ListenAddress = Annotated[str, pydantic.AfterValidator(_check_listen_address)]


def split_listen_address(value: str) -> tuple[str, int]:
    host, _, port = value.rpartition(":")
    return host.strip("[]"), int(port)


def _check_label_source(value: str) -> str:
    scope, sep, key = value.partition(":")
    if not sep or scope not in ("resource", "span") or not key:
        raise ValueError("expected resource:ATTRIBUTE or span:ATTRIBUTE, e.g. resource:service.name")
    return value


LabelSourceText = Annotated[str, pydantic.AfterValidator(_check_label_source)]


class TlsConfig(_Strict):
    """TLS for a listener, as the exporter-toolkit's ``tls_server_config`` (and the OTel Collector's ``tls``)."""

    cert_file: Path
    key_file: Path
    client_ca_file: Path | None = None
    client_auth_type: Literal[
        "NoClientCert",
        "RequestClientCert",
        "RequireAnyClientCert",
        "VerifyClientCertIfGiven",
        "RequireAndVerifyClientCert",
    ] = "NoClientCert"
    min_version: Literal["TLS12", "TLS13"] = "TLS12"
    max_version: Literal["TLS12", "TLS13"] = "TLS13"

    @pydantic.model_validator(mode="after")
    def _consistent(self) -> TlsConfig:
        if (
            self.client_auth_type in ("VerifyClientCertIfGiven", "RequireAndVerifyClientCert")
            and not self.client_ca_file
        ):
            raise ValueError(f"client_auth_type {self.client_auth_type} needs client_ca_file")
        if self.min_version == "TLS13" and self.max_version == "TLS12":
            raise ValueError("min_version is above max_version")
        return self


class OtlpConfig(_Strict):
    listen_address: ListenAddress = "127.0.0.1:4318"
    tls: TlsConfig | None = None
    """Serve OTLP over HTTPS (apps: ``OTEL_EXPORTER_OTLP_CERTIFICATE``)."""
    max_body_bytes: Annotated[pydantic.ByteSize, pydantic.Field(gt=0)] = pydantic.ByteSize(20 * 1024 * 1024)
    """Largest request body accepted, before and after decompression (OTLP recommends 20 MiB)."""


SeriesLabel = Literal["org", "project", "provider", "model", "operation"]


class WebConfig(_Strict):
    listen_address: ListenAddress = "127.0.0.1:9464"
    config_file: Path | None = None
    """The exporter-toolkit web configuration (TLS, ``basic_auth_users``) of this port (``--web.config.file``)."""
    new_series_hold_seconds: Annotated[float, pydantic.Field(ge=0, le=3600, allow_inf_nan=False)] = 60.0
    """A new series is scraped at 0 for this long after its first scrape, so that its first increment reaches
    ``increase()`` and the rules in every Prometheus scraping at least this often (0: no hold)."""
    drain_seconds: Annotated[float, pydantic.Field(ge=0, le=3600, allow_inf_nan=False)] = 30.0
    """On SIGTERM: stop taking OTLP, then keep serving /metrics until a scrape has read every count, at most
    this long."""
    max_scrape_render_share: Annotated[float, pydantic.Field(gt=0, le=1, allow_inf_nan=False)] = 0.2
    """The most of its time the process spends rendering ``/metrics`` for scrapers: a scraper that comes soon
    after a render (within 4 render times at 0.2) gets that render's body, and one that comes during a render
    waits for it (1: only the second)."""
    duration_histogram_labels: list[SeriesLabel] = pydantic.Field(
        default_factory=lambda: list[SeriesLabel](["org", "project", "provider", "operation"])
    )
    """The labels of ``llm_request_duration_seconds``; add ``model`` for latency per model (16 samples more per
    label set: most of ``/metrics`` at the series cap)."""

    exemplars: bool = False
    """Serve OpenMetrics to scrapers that ask for it, ``llm_cost_usd_total`` with an exemplar (trace and span id)
    of a recent expensive call: Prometheus stores them with ``--enable-feature=exemplar-storage``."""

    @pydantic.field_validator("duration_histogram_labels")
    @classmethod
    def _unique(cls, value: list[str]) -> list[str]:
        if len(set(value)) != len(value):
            raise ValueError("each label at most once")
        return value

    @property
    def duration_labels(self) -> tuple[str, ...]:
        """``duration_histogram_labels`` in the order of the other series' labels."""
        return tuple(
            name
            for name in ("org", "project", "provider", "model", "operation")
            if name in self.duration_histogram_labels
        )


class LabelConfig(_Strict):
    sources: list[LabelSourceText] = pydantic.Field(default_factory=list, alias="from")
    """Where the value comes from, first non-empty wins: ``resource:KEY`` or ``span:KEY``."""
    default: Annotated[str, pydantic.Field(min_length=1)]


class LabelsConfig(_Strict):
    org: LabelConfig = LabelConfig.model_validate({"from": [], "default": "default"})
    project: LabelConfig = LabelConfig.model_validate({"from": ["resource:service.name"], "default": "unknown"})


class LimitsConfig(_Strict):
    max_series_per_metric: Annotated[int, pydantic.Field(ge=1)] = 10_000
    """Distinct label sets per metric; past it, new ones fold into their project's ``other`` model, their org's
    ``__overflow__`` project, or the ``__overflow__`` series (``exporter/caps.py``)."""
    max_projects_per_org: Annotated[int, pydantic.Field(ge=1)] = 1000
    """Projects per org; a new one past it is counted in the org's ``__overflow__`` project."""
    max_models_per_project: Annotated[int, pydantic.Field(ge=1)] = 100
    """Label sets (provider, model, operation) per project; a new one past it is counted as the model ``other``."""
    max_label_value_length: Annotated[int, pydantic.Field(ge=8, le=1024)] = 128
    max_tokens_per_call: Annotated[int, pydantic.Field(ge=1000, le=10_000_000_000)] = 10_000_000
    """Most input (or output) tokens one call may report; a model the catalog knows is also held to five times
    its context window. Above either, the span is rejected as ``implausible_usage``."""
    dedupe_window_seconds: Annotated[float, pydantic.Field(gt=0, allow_inf_nan=False)] = 900.0
    """How long a call is remembered so that a second span of it is not counted twice."""
    dedupe_max_entries: Annotated[int, pydantic.Field(ge=0)] = 100_000
    max_metric_streams: Annotated[int, pydantic.Field(ge=1)] = 100_000
    """Cumulative metric streams whose last value is kept."""


class SourceRule(_Strict):
    match: Annotated[dict[str, str], pydantic.Field(min_length=1)]
    """Resource attributes that select the app, e.g. ``{service.name: billing-batch}``."""
    usage_from: UsageSource | None = None
    """Default: ``ingest.usage_from``."""
    reported_cost: ReportedCost | None = None
    """Default: ``pricing.reported_cost``."""


@dataclass(frozen=True, slots=True)
class SourcePolicy:
    """How one app's telemetry is counted."""

    usage_from: UsageSource
    reported_cost: ReportedCost


class IngestConfig(_Strict):
    usage_from: UsageSource = "spans"
    """Count usage from spans or from ``gen_ai.client.*`` metrics (never both, or calls count twice)."""
    sources: list[SourceRule] = []
    """Per-app exceptions to ``usage_from``; the first matching rule wins."""
    cumulative_initial_value: Literal["auto", "keep", "drop"] = "auto"
    """First point of a cumulative stream: count it if the stream began after the exporter started (auto),
    always (keep) or never (drop)."""


class PricingConfig(_Strict):
    overrides_file: Path | None = None
    """Price overrides (discounts, batch/flex tiers, self-hosted models); relative to this file."""
    reported_cost: ReportedCost = "ignore"
    """Use the cost an instrumentation reports (openlit, litellm): never, instead of the catalog,
    or only for models the catalog does not price."""


class BasicAuth(_Strict):
    username: Annotated[str, pydantic.Field(min_length=1)]
    password_file: Path
    """File holding the password (as Alertmanager's ``http_config.basic_auth``)."""


class WebhookConfig(_Strict):
    alertnames: Annotated[list[str], pydantic.Field(min_length=1)] = ["LLMBudgetExceeded"]
    """Alerts that swap models while firing; any other alert is acknowledged and ignored."""
    bearer_token_file: Path | None = None
    """If set, requests must carry ``Authorization: Bearer <the file's content>``."""
    basic_auth: BasicAuth | None = None
    """If set, requests must carry these basic-auth credentials."""
    alertmanager_urls: list[Annotated[str, pydantic.Field(pattern=r"^https?://")]] = []
    """Alertmanagers to ask for the active alerts at start, so a restarted receiver neither loses nor keeps a stale
    swap (an HA pair: list both)."""
    max_body_bytes: Annotated[pydantic.ByteSize, pydantic.Field(gt=0)] = pydantic.ByteSize(1024 * 1024)

    @pydantic.model_validator(mode="after")
    def _one_auth(self) -> WebhookConfig:
        if self.bearer_token_file is not None and self.basic_auth is not None:
            raise ValueError("choose bearer_token_file or basic_auth, not both")
        return self


class ProviderBilling(_Strict):
    """One provider organisation whose bill ``reconcile`` (and ``serve``, polling) reads."""

    provider: Literal["openai", "anthropic"]
    admin_key_file: Path
    """File holding the organisation's admin key (OpenAI ``sk-admin-…``, Anthropic ``sk-ant-admin…``)."""
    base_url: Annotated[str, pydantic.Field(pattern=r"^https?://[^/]")] | None = None
    """The API's base URL; ``null`` for the provider's public API."""
    projects: dict[
        Annotated[str, pydantic.Field(min_length=1, max_length=256)],
        Annotated[str, pydantic.Field(min_length=1, max_length=128)],
    ] = {}
    """Provider project (OpenAI) or workspace (Anthropic) id → the ``project`` label its calls carry; ``default``
    stands for the default project or workspace. An id not listed is reported under its own name."""


class ReconcileConfig(_Strict):
    providers: Annotated[list[ProviderBilling], pydantic.Field(min_length=1)]
    poll_interval_seconds: Annotated[float, pydantic.Field(ge=0, allow_inf_nan=False)] = 3600.0
    """How often ``serve`` reads the bills into ``llm_provider_billed_usd`` (0: ``serve`` does not poll)."""
    max_models: Annotated[int, pydantic.Field(ge=1, le=10_000)] = 200
    """Most (provider, project, model) series of the polled token gauges; the rest are summed as model ``other``."""

    @pydantic.field_validator("poll_interval_seconds")
    @classmethod
    def _not_too_often(cls, value: float) -> float:
        if 0 < value < 60:
            raise ValueError("at least 60 (Anthropic asks for at most one poll a minute), or 0 for no polling")
        return value


class Config(_Strict):
    version: Literal["llm-cost-tracker/v1"]
    otlp: OtlpConfig = OtlpConfig()
    web: WebConfig = WebConfig()
    labels: LabelsConfig = LabelsConfig()
    limits: LimitsConfig = LimitsConfig()
    ingest: IngestConfig = IngestConfig()
    pricing: PricingConfig = PricingConfig()
    webhook: WebhookConfig = WebhookConfig()
    routing_file: Path = Path("routing.yaml")
    """The routing file the webhook receiver writes and apps read (relative paths: to this file)."""
    budgets_file: Path | None = None
    """The budget file whose swaps the receiver applies (``serve --budgets``)."""
    tenants_file: Path | None = None
    """Tenants, their tokens, projects and limits (``--tenants.file``); without it, ingest is open (one org)."""
    reconcile: ReconcileConfig | None = None
    """The providers' bills, for ``reconcile`` and the ``llm_provider_billed_usd`` gauges (docs/reconcile.md)."""

    def label_mapping(self) -> LabelMapping:
        def sources(config: LabelConfig) -> tuple[LabelSource, ...]:
            return tuple(LabelSource(*text.split(":", 1)) for text in config.sources)

        return LabelMapping(
            org=sources(self.labels.org),
            org_default=self.labels.org.default,
            project=sources(self.labels.project),
            project_default=self.labels.project.default,
            max_value_length=self.limits.max_label_value_length,
        )

    def source_policy(self, resource: Mapping[str, object]) -> SourcePolicy:
        """The policy for an app, by its resource attributes: the first matching rule, else the defaults."""
        for rule in self.ingest.sources:
            if all(str(resource.get(key, "")) == value for key, value in rule.match.items()):
                return SourcePolicy(
                    rule.usage_from or self.ingest.usage_from, rule.reported_cost or self.pricing.reported_cost
                )
        return SourcePolicy(self.ingest.usage_from, self.pricing.reported_cost)

    @property
    def reads_reported_cost(self) -> bool:
        return self.pricing.reported_cost != "ignore" or any(
            rule.reported_cost not in (None, "ignore") for rule in self.ingest.sources
        )


def _resolve_relative(config: Config, base: Path) -> Config:
    """Paths in a config file are relative to the file, as in Prometheus's own configuration."""

    def at(path: Path | None) -> Path | None:
        return path if path is None or path.is_absolute() else base / path

    webhook = config.webhook
    basic = webhook.basic_auth
    tls = config.otlp.tls
    if tls is not None:
        tls = tls.model_copy(
            update={
                "cert_file": at(tls.cert_file),
                "key_file": at(tls.key_file),
                "client_ca_file": at(tls.client_ca_file),
            }
        )
    reconcile = config.reconcile
    if reconcile is not None:
        reconcile = reconcile.model_copy(
            update={
                "providers": [
                    entry.model_copy(update={"admin_key_file": at(entry.admin_key_file)})
                    for entry in reconcile.providers
                ]
            }
        )
    return config.model_copy(
        update={
            "reconcile": reconcile,
            "otlp": config.otlp.model_copy(update={"tls": tls}),
            "web": config.web.model_copy(update={"config_file": at(config.web.config_file)}),
            "tenants_file": at(config.tenants_file),
            "pricing": config.pricing.model_copy(update={"overrides_file": at(config.pricing.overrides_file)}),
            "routing_file": at(config.routing_file),
            "budgets_file": at(config.budgets_file),
            "webhook": webhook.model_copy(
                update={
                    "bearer_token_file": at(webhook.bearer_token_file),
                    "basic_auth": basic.model_copy(update={"password_file": at(basic.password_file)})
                    if basic
                    else None,
                }
            ),
        }
    )


def load_config(path: str | Path | None) -> Config:
    """The config at ``path``, or the bundled default; raises ``InputFileError`` listing every problem."""
    if path is None:
        text = resources.files("llm_cost_tracker").joinpath(DEFAULT_CONFIG_NAME).read_text("utf-8")
        return parse_model(text, f"(bundled) {DEFAULT_CONFIG_NAME}", Config)
    config = load_model(path, Config)
    return _resolve_relative(config, Path(path).parent)
