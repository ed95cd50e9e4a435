"""Budgets → typed Prometheus rule groups (recording rules named ``level:metric:operation``, alerts).

Every series a budget records carries the ``budget`` label and the budget's
plain-value match labels, and is aggregated with ``sum by`` those labels, so
exporter replicas (``instance``) add up.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Final

from llm_cost_tracker.rules import promql
from llm_cost_tracker.rules.spec import Budget, BudgetFile, duration_pattern, duration_seconds

COST: Final = "llm_cost_usd_total"
AMOUNT: Final = "llm_budget_amount_usd"
INCREASE_STEP: Final = "budget:llm_cost_usd:increase{step}"
INCREASE_1H: Final = "budget:llm_cost_usd:increase1h"
SPEND: Final = "budget:llm_cost_usd:period"
RATIO: Final = "budget:llm_cost_usd:ratio"
FORECAST: Final = "budget:llm_cost_usd:forecast"
BURN_RATE: Final = "budget:llm_cost_usd:burn_rate{window}"

# Multi-window burn-rate alerts, as in the SRE workbook: a tier fires when spending is
# `factor` times the sustainable rate (amount / period) in both its long and short window.
BURN_RATE_TIERS: Final = (
    ("critical", "1h", "5m", 14.4),  # 2 % of a 30-day budget in an hour
    ("warning", "6h", "30m", 6.0),  # 5 % of a 30-day budget in six hours
)
_WINDOW_SECONDS: Final = {"5m": 300, "30m": 1800, "1h": 3600, "6h": 21_600}

RUNBOOK: Final = "https://github.com/llm-cost-tracker/llm-cost-tracker/blob/main/docs/runbooks.md"
GROUP_INTERVAL: Final = "1m"
_STEP = duration_pattern("sm")


@dataclass(frozen=True)
class Resolution:
    """How finely spend is recorded: the step of the current hour's spend, and the rule evaluation interval.

    The default (5m steps, evaluated every minute) suits any Prometheus; a budget is then known to be exceeded
    at most one step plus one evaluation after it is. A shorter step reacts sooner at the cost of more
    samples per query; the scrape interval must stay well under the step (``increase`` needs two samples).
    """

    step_seconds: int = 300
    interval: str = GROUP_INTERVAL

    @property
    def step(self) -> str:
        return promql.duration(self.step_seconds)

    @classmethod
    def parse(cls, step: str = "5m", interval: str = GROUP_INTERVAL) -> Resolution:
        """From ``--step`` and ``--interval``; raises ``ValueError`` naming the bad value."""
        seconds = {}
        for name, text in (("--step", step), ("--interval", interval)):
            try:
                seconds[name] = duration_seconds(text, _STEP)
            except ValueError:
                raise ValueError(
                    f"{name}: expected a duration in seconds or minutes such as 10s or 5m (got {text!r})"
                ) from None
        if 300 % seconds["--step"]:
            raise ValueError(f"--step: must divide 5 minutes evenly, e.g. 10s, 30s, 1m or 5m (got {step!r})")
        if seconds["--interval"] > seconds["--step"]:
            raise ValueError(f"--interval: must not be longer than the step {step} (got {interval!r})")
        return cls(seconds["--step"], promql.duration(seconds["--interval"]))


@dataclass(frozen=True)
class RecordingRule:
    record: str
    expr: str
    labels: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, object]:
        rule: dict[str, object] = {"record": self.record, "expr": self.expr}
        if self.labels:
            rule["labels"] = dict(self.labels)
        return rule


@dataclass(frozen=True)
class AlertingRule:
    alert: str
    expr: str
    labels: dict[str, str]
    annotations: dict[str, str]
    for_: str = ""
    keep_firing_for: str = ""

    def to_dict(self) -> dict[str, object]:
        rule: dict[str, object] = {"alert": self.alert, "expr": self.expr}
        if self.for_:
            rule["for"] = self.for_
        if self.keep_firing_for:
            rule["keep_firing_for"] = self.keep_firing_for
        rule["labels"] = dict(self.labels)
        rule["annotations"] = dict(self.annotations)
        return rule


@dataclass(frozen=True)
class RuleGroup:
    name: str
    rules: list[RecordingRule | AlertingRule]
    interval: str = GROUP_INTERVAL

    def to_dict(self) -> dict[str, object]:
        return {"name": self.name, "interval": self.interval, "rules": [r.to_dict() for r in self.rules]}


class GenerationError(ValueError):
    """Nothing to generate, or a budget that cannot be turned into rules."""


def _money(amount: float) -> str:
    return f"${amount:,.2f}"


def _period_text(budget: Budget) -> str:
    if budget.is_calendar:
        return {
            "day": "calendar day (UTC)",
            "week": "calendar week (Monday to Sunday, UTC)",
            "month": "calendar month (UTC)",
        }[budget.period]
    return f"rolling {budget.period}"


def _scope_text(budget: Budget) -> str:
    return (
        ", ".join(f"{k}{'' if v.startswith(('=~', '!~', '!=')) else '='}{v}" for k, v in budget.match.items())
        or "all usage"
    )


def _spent_query(budget: Budget) -> str:
    """An alert template fragment printing the budget's spend (a query at alert time)."""
    return (
        f'{{{{ with printf `{SPEND}{{budget="{budget.name}"}}` | query }}}}'
        '${{ . | first | value | printf "%.2f" }}{{ end }}'
    )


class BudgetRules:
    """The rules of one budget."""

    def __init__(self, budget: Budget, resolution: Resolution = Resolution()) -> None:
        self.budget = budget
        self.resolution = resolution
        self.labels = {"budget": budget.name, **budget.group_labels}
        self.only = promql.selector("", {"budget": budget.name})  # {budget="name"}
        self.zero = f"{AMOUNT}{self.only} * 0"

    def series(self, metric: str) -> str:
        return f"{metric}{self.only}"

    def recording(self) -> list[RecordingRule]:
        budget = self.budget
        usage = promql.selector(COST, budget.match)
        by = promql.by(budget.group_labels)
        budget_label = {"budget": budget.name}
        step, step_seconds = self.resolution.step, self.resolution.step_seconds
        step_record = INCREASE_STEP.format(step=step)
        hourly, per_step = self.series(INCREASE_1H), self.series(step_record)
        if budget.is_calendar:
            spend = promql.calendar_spend(budget.period, hourly, per_step, step_seconds, self.zero)
        else:
            spend = promql.rolling_spend(budget.period_seconds, hourly, per_step, step_seconds, self.zero)
        rules = [
            RecordingRule(AMOUNT, f"vector({budget.amount_usd!r})", dict(self.labels)),
            RecordingRule(step_record, f"{by} (increase({usage}[{step}]))", budget_label),
            RecordingRule(INCREASE_1H, f"{by} (increase({usage}[1h]))", budget_label),
            RecordingRule(SPEND, spend, budget_label),
            RecordingRule(RATIO, f"round({self.series(SPEND)} / {self.series(AMOUNT)} * 1e6) / 1e6", budget_label),
        ]
        if budget.alerts.forecast:
            # The spend at the period's end if the last day's spending rate goes on.
            rate = f"(sum_over_time({hourly}[{promql.steps(86_400)}:1h]) or {self.zero}) / 86400"
            left = promql.seconds_left(budget.period)
            forecast = (
                f"round(\n  (\n    {self.series(SPEND)}\n    + {rate} * on () group_left () ({left})\n"
                "  ) * 1e9\n) / 1e9"
            )
            rules.append(RecordingRule(FORECAST, forecast, budget_label))
        if budget.alerts.burn_rate:
            sustainable = f"({self.series(AMOUNT)} / {budget.period_seconds})"

            def over(seconds: int) -> str:
                if seconds == step_seconds:
                    return per_step
                return f"sum_over_time({per_step}[{promql.steps(seconds)}:{step}])"

            windows = {"5m": over(300), "30m": over(1800), "1h": hourly, "6h": over(21_600)}
            for window, spend_in_window in windows.items():
                rules.append(
                    RecordingRule(
                        BURN_RATE.format(window=window),
                        f"round(({spend_in_window}) / {_WINDOW_SECONDS[window]} / {sustainable} * 1e6) / 1e6",
                        budget_label,
                    )
                )
        return rules

    def alerting(self) -> list[AlertingRule]:
        budget = self.budget
        amount = _money(budget.amount_usd)
        period = _period_text(budget)
        scope = _scope_text(budget)
        spent = _spent_query(budget)
        ratio = self.series(RATIO)

        def alert(name: str, expr: str, severity: str, summary: str, description: str, **extra: str) -> AlertingRule:
            labels = {**self.labels, **budget.labels, "severity": severity}
            labels.update({k: v for k, v in extra.items() if k in ("threshold", "window")})
            return AlertingRule(
                alert=name,
                expr=expr,
                labels=labels,
                annotations={
                    "summary": summary,
                    "description": description,
                    "runbook_url": f"{RUNBOOK}#{name.lower()}",
                },
                for_=extra.get("for_", ""),
                keep_firing_for=extra.get("keep_firing_for", ""),
            )

        rules = [
            alert(
                "LLMBudgetThresholdReached",
                f"{ratio} >= {threshold!r}",
                "warning" if threshold < 1 else "critical",
                f"LLM budget {budget.name} has used {threshold:.0%} of {amount} ({period})",
                f"{budget.name} ({scope}) has spent {spent} of its {amount} budget for the {period}: "
                "{{ $value | humanizePercentage }}.",
                threshold=repr(threshold),
            )
            for threshold in budget.alerts.thresholds
        ]
        if budget.alerts.forecast:
            rules.append(
                alert(
                    "LLMBudgetForecastExceeded",
                    f"{self.series(FORECAST)} > {self.series(AMOUNT)} and {ratio} < 1",
                    "warning",
                    f"LLM budget {budget.name} will exceed {amount} before the {period} ends",
                    f"{budget.name} ({scope}) has spent {spent}; at the last day's rate it will have spent "
                    '${{ $value | printf "%.2f" }}' + f" of its {amount} budget by the end of the {period}.",
                    for_="30m",
                )
            )
        if budget.alerts.burn_rate:
            for severity, long_window, short_window, factor in BURN_RATE_TIERS:
                long_rate = self.series(BURN_RATE.format(window=long_window))
                short_rate = self.series(BURN_RATE.format(window=short_window))
                rules.append(
                    alert(
                        "LLMBudgetBurnRateHigh",
                        f"{long_rate} > {factor!r} and {short_rate} > {factor!r}",
                        severity,
                        f"LLM budget {budget.name} is being spent {factor:g}x too fast",
                        f'{budget.name} ({scope}) is spending {{{{ $value | printf "%.1f" }}}}x the rate its '
                        f"{amount} per {period} allows, over the last {long_window} and {short_window}.",
                        window=long_window,
                    )
                )
        rules.append(
            alert(
                "LLMBudgetExceeded",
                f"{ratio} >= 1",
                "critical",
                f"LLM budget {budget.name} is exceeded: {amount} ({period})",
                f"{budget.name} ({scope}) has spent {spent} of its {amount} budget for the {period}"
                " ({{ $value | humanizePercentage }}). Model swaps configured for it are active.",
                keep_firing_for="" if budget.alerts.keep_firing_for.startswith("0") else budget.alerts.keep_firing_for,
            )
        )
        return rules


def generate(spec: BudgetFile, resolution: Resolution = Resolution()) -> list[RuleGroup]:
    """One rule group per budget; raises ``GenerationError`` when there is nothing to generate."""
    groups = []
    for budget in spec.budgets:
        rules = BudgetRules(budget, resolution)
        groups.append(
            RuleGroup(
                f"llm-cost-tracker-budget-{budget.name}",
                [*rules.recording(), *rules.alerting()],
                interval=resolution.interval,
            )
        )
    if not groups:
        raise GenerationError("the budget file defines no budgets: no rules to generate")
    return groups
