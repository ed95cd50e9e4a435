"""The budget file (``version: llm-cost-tracker/v1``): its model and its validation.

The keys of DESIGN §7 are a contract. Validation is strict and reports every
problem at once, with the file, line, key path and value (``inputfile``).
"""

from __future__ import annotations

import fnmatch
import re
from pathlib import Path
from typing import Annotated, Final, Literal

import pydantic

from llm_cost_tracker.inputfile import load_model

MATCH_LABELS: Final = ("org", "project", "provider", "model", "operation")
"""The labels of the usage metrics a budget can match on."""
CALENDAR_PERIODS: Final = ("day", "week", "month")
PERIOD_SECONDS: Final = {"day": 86_400, "week": 7 * 86_400, "month": 30 * 86_400}
"""A period's nominal length, for burn rates (a month counts as 30 days, as SLO tooling does)."""
MAX_ROLLING_SECONDS: Final = 31 * 86_400
_UNIT_SECONDS: Final = {"s": 1, "m": 60, "h": 3600, "d": 86_400, "w": 7 * 86_400}


def duration_pattern(units: str, *, zero: bool = False) -> re.Pattern[str]:
    """``<n><unit>`` for the given units (``"mhdw"``), as Prometheus writes durations; ``zero``: ``0<unit>`` too."""
    number = "(0|[1-9][0-9]*)" if zero else "([1-9][0-9]*)"
    return re.compile(rf"^{number}({'|'.join(units)})$")


_DURATION = duration_pattern("mhdw")
_KEEP_FIRING = duration_pattern("smhdw", zero=True)
_NAME = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9_.-]{0,61}[A-Za-z0-9])?$")
_LABEL_NAME = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")


def duration_seconds(text: str, pattern: re.Pattern[str] = _DURATION) -> int:
    """``7d`` → 604800. Raises ``ValueError`` for anything ``pattern`` refuses (by default: but ``<n>m|h|d|w``)."""
    found = pattern.match(text)
    if found is None:
        raise ValueError("expected a duration such as 1h, 1d, 7d or 30d")
    return int(found.group(1)) * _UNIT_SECONDS[found.group(2)]


def _check_period(value: str) -> str:
    if value in CALENDAR_PERIODS:
        return value
    try:
        seconds = duration_seconds(value)
    except ValueError:
        raise ValueError(
            "expected day, week or month (calendar periods, UTC) or a rolling window such as 1h, 1d, 7d, 30d"
        ) from None
    if seconds < 300 or seconds > MAX_ROLLING_SECONDS:
        raise ValueError("a rolling window must be between 5m and 31d")
    if seconds < 86_400 and seconds % 300:
        raise ValueError("a rolling window under a day must be a multiple of 5m")
    if seconds >= 86_400 and seconds % 3600:
        raise ValueError("a rolling window of a day or more must be a whole number of hours")
    return value


def _check_matcher(value: str) -> str:
    if value.startswith(("=~", "!~")):
        try:
            re.compile(value[2:])
        except re.error as exc:
            raise ValueError(f"not a valid regular expression: {exc}") from None
    elif value.startswith("!=") and not value[2:]:
        raise ValueError("!= needs a value")
    elif not value:
        raise ValueError("an empty value matches nothing; leave the label out instead")
    return value


Matcher = Annotated[str, pydantic.AfterValidator(_check_matcher)]


class _Strict(pydantic.BaseModel):
    # Field docstrings become the JSON Schema's descriptions, shown by editors.
    model_config = pydantic.ConfigDict(extra="forbid", frozen=True, use_attribute_docstrings=True)


class Alerts(_Strict):
    """The alerts of a budget besides LLMBudgetExceeded, which every budget has."""

    thresholds: list[Annotated[float, pydantic.Field(gt=0, le=1, allow_inf_nan=False)]] = []
    """Fractions of the budget (0 < t <= 1) at which LLMBudgetThresholdReached fires."""
    forecast: bool = False
    """LLMBudgetForecastExceeded when, at the last day's spending rate, the period will end over budget."""
    burn_rate: bool = False
    """LLMBudgetBurnRateHigh when spending is fast in both a long and a short window (SRE workbook)."""
    anomaly: bool = False
    """LLMBudgetSpendAnomaly when the last hour's spend is over 3 times the median of the same hour on the
    previous 7 days (docs/budgets.md)."""
    keep_firing_for: Annotated[
        str,
        pydantic.Field(pattern=_KEEP_FIRING.pattern),
    ] = "10m"
    """How long LLMBudgetExceeded keeps firing after the spend drops under the budget, so swaps do not flap
    (``0s``: not at all)."""

    @pydantic.field_validator("thresholds")
    @classmethod
    def _distinct(cls, value: list[float]) -> list[float]:
        if len(set(value)) != len(value):
            raise ValueError("thresholds must be distinct")
        return sorted(value)


class Swap(_Strict):
    """While the budget is exceeded, calls to ``from`` go to ``to`` instead."""

    from_: Annotated[str, pydantic.Field(alias="from", min_length=1)]
    """The requested model to replace; a glob (``claude-3-5-sonnet*``) is allowed."""
    to: Annotated[str, pydantic.Field(min_length=1)]

    @pydantic.model_validator(mode="after")
    def _not_to_itself(self) -> Swap:
        if self.to == self.from_ or fnmatch.fnmatchcase(self.to, self.from_):
            raise ValueError(f"swap to {self.to!r} would match its own 'from' ({self.from_!r})")
        return self


class OnExceeded(_Strict):
    """What happens while LLMBudgetExceeded fires."""

    swap: list[Swap] = []
    """Model swaps, applied by the webhook receiver through the routing file."""

    @pydantic.field_validator("swap")
    @classmethod
    def _distinct_sources(cls, value: list[Swap]) -> list[Swap]:
        sources = [s.from_ for s in value]
        duplicates = sorted({s for s in sources if sources.count(s) > 1})
        if duplicates:
            raise ValueError(f"more than one swap from {', '.join(duplicates)}")
        return value


class Budget(_Strict):
    """One budget: how much the usage it matches may cost per period, and what happens past it."""

    name: Annotated[str, pydantic.Field(pattern=_NAME.pattern)]
    """Unique; becomes the ``budget`` label of every rule and alert."""
    description: str = ""
    """Free text for people; not used in rules."""
    match: dict[str, Matcher] = {}
    """Label matchers on the usage metrics: a value, or ``=~regex``, ``!~regex``, ``!=value``."""
    amount_usd: Annotated[float, pydantic.Field(gt=0, allow_inf_nan=False)]
    """The budget in US dollars for each period."""
    period: Annotated[
        str,
        pydantic.AfterValidator(_check_period),
        pydantic.Field(json_schema_extra={"pattern": r"^(day|week|month|[1-9][0-9]*[mhdw])$"}),
    ]
    """``day``, ``week`` (Monday to Sunday) or ``month``: calendar periods in UTC; or a rolling window
    written as a duration (``1h``, ``1d``, ``7d``, ``30d``)."""
    alerts: Alerts = Alerts()
    """The budget's alerts."""
    on_exceeded: OnExceeded = OnExceeded()
    """What happens while it is exceeded."""
    labels: dict[str, str] = {}
    """Extra labels on this budget's alerts (for routing: ``team: payments``)."""

    @pydantic.field_validator("name")
    @classmethod
    def _not_repeated(cls, value: str, info: pydantic.ValidationInfo) -> str:
        if isinstance(info.context, dict) and value in info.context.get("repeated_names", ()):
            raise ValueError("another budget has this name; names must be unique")
        return value

    @pydantic.field_validator("match", mode="before")
    @classmethod
    def _known_labels(cls, value: object) -> object:
        if not isinstance(value, dict):
            return value
        unknown = sorted(str(k) for k in set(value) - set(MATCH_LABELS))
        if unknown:
            raise ValueError(
                f"cannot match on {', '.join(unknown)}; the usage metrics' labels are {', '.join(MATCH_LABELS)}"
            )
        return value

    @pydantic.field_validator("labels")
    @classmethod
    def _label_names(cls, value: dict[str, str]) -> dict[str, str]:
        problems = []
        bad = sorted(k for k in value if not _LABEL_NAME.match(k) or k.startswith("__"))
        if bad:
            problems.append(f"not valid Prometheus label names: {', '.join(bad)}")
        reserved = sorted(set(value) & {"budget", "severity", "threshold", "window", *MATCH_LABELS})
        if reserved:
            problems.append(f"labels the generator sets itself: {', '.join(reserved)}")
        if problems:
            raise ValueError("; ".join(problems))
        return value

    @pydantic.model_validator(mode="after")
    def _forecast_needs_a_calendar_period(self) -> Budget:
        if self.alerts.forecast and self.period not in CALENDAR_PERIODS:
            raise ValueError("alerts.forecast applies to calendar periods (day, week, month), not rolling windows")
        return self

    @property
    def is_calendar(self) -> bool:
        return self.period in CALENDAR_PERIODS

    @property
    def period_seconds(self) -> int:
        return PERIOD_SECONDS.get(self.period) or duration_seconds(self.period)

    @property
    def group_labels(self) -> dict[str, str]:
        """The match labels given as plain values: they label every series and alert of the budget."""
        return {k: v for k, v in self.match.items() if not v.startswith(("=~", "!~", "!="))}


class BudgetFile(_Strict):
    """A budget file: ``llm-cost-tracker rules generate --budgets FILE`` turns it into Prometheus rules."""

    version: Literal["llm-cost-tracker/v1"]
    budgets: Annotated[list[Budget], pydantic.Field(min_length=1)]

    @pydantic.model_validator(mode="before")
    @classmethod
    def _find_repeated_names(cls, data: object, info: pydantic.ValidationInfo) -> object:
        """Note repeated names first, so that each repeat is reported with its own line (see Budget)."""
        budgets = data.get("budgets") if isinstance(data, dict) else None
        if isinstance(info.context, dict) and isinstance(budgets, list):
            names = [b.get("name") for b in budgets if isinstance(b, dict)]
            info.context["repeated_names"] = {n for n in names if isinstance(n, str) and names.count(n) > 1}
        return data

    @pydantic.model_validator(mode="after")
    def _unique_names(self) -> BudgetFile:
        names = [b.name for b in self.budgets]
        repeated = sorted({n for n in names if names.count(n) > 1})
        if repeated:
            raise ValueError(f"budget names must be unique; repeated: {', '.join(repeated)}")
        return self

    def budget(self, name: str) -> Budget | None:
        return next((b for b in self.budgets if b.name == name), None)


def load_budgets(path: str | Path) -> BudgetFile:
    """The budget file at ``path``; raises ``InputFileError`` listing every problem."""
    return load_model(path, BudgetFile, context={})


def json_schema() -> dict[str, object]:
    """The JSON Schema of the budget file, for editors (``yaml-language-server``)."""
    schema = BudgetFile.model_json_schema(by_alias=True)
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "LLM Cost Tracker budgets"
    return schema
