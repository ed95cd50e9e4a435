"""Budgets → typed Prometheus rule groups (recording rules named ``level:metric:operation``, alerts).

Every rule file starts with the exact spend of each series (``spend_rules``,
see ``promql``); every series a budget records carries the ``budget`` label
and the budget's plain-value match labels, and is aggregated with ``sum by``
those labels, so exporter replicas (``instance``) add up.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

from llm_cost_tracker.rules import promql
from llm_cost_tracker.rules.model import GROUP_INTERVAL as GROUP_INTERVAL
from llm_cost_tracker.rules.model import AlertingRule as AlertingRule
from llm_cost_tracker.rules.model import RecordingRule as RecordingRule
from llm_cost_tracker.rules.model import Resolution as Resolution
from llm_cost_tracker.rules.model import RuleGroup as RuleGroup
from llm_cost_tracker.rules.spec import Budget, BudgetFile

COST: Final = "llm_cost_usd_total"
AMOUNT: Final = "llm_budget_amount_usd"
SERIES_INCREASE: Final = "series:llm_cost_usd:increase_exact"
"""Per (org, project, provider, model, operation): the exact spend of one evaluation interval."""
SERIES_LABELS: Final = ("org", "project", "provider", "model", "operation")
SPEND_SERIES: Final = (
    (SERIES_INCREASE, COST, SERIES_LABELS),
    ("series:llm_tokens:increase_exact", "llm_tokens_total", (*SERIES_LABELS, "token_type")),
    ("series:llm_requests:increase_exact", "llm_requests_total", (*SERIES_LABELS, "outcome")),
    (
        "series:llm_cost_avoided_usd:increase_exact",
        "llm_cost_avoided_usd_total",
        (*SERIES_LABELS[:4], "routed_to", "budget"),
    ),
)
"""The exact increases every rule file records: spend, tokens, calls and what budget swaps saved, for budgets,
reports and dashboards."""
INCREASE: Final = "budget:llm_cost_usd:increase_exact"
SPEND: Final = "budget:llm_cost_usd:period"
PERIOD_START: Final = "budget:llm_cost_usd:period_start"
RATIO: Final = "budget:llm_cost_usd:ratio"
FORECAST: Final = "budget:llm_cost_usd:forecast"
BURN_RATE: Final = "budget:llm_cost_usd:burn_rate{window}"
HOURLY: Final = "budget:llm_cost_usd:hourly"
HOURLY_BASELINE: Final = "budget:llm_cost_usd:hourly_baseline"
ANOMALY_FACTOR: Final = 3.0
"""The last hour's spend must be over this many times its baseline (a 5x spike is well past it; a busy normal
day, a few tens of percent over the median, is well under)."""
ANOMALY_MIN_SHARE: Final = 0.001
"""… and at least this share of the budget's amount: a jump from cents to cents is not worth a page."""
ANOMALY_MIN_DAYS: Final = 3
"""Days of the baseline that must exist: a budget younger than that has no baseline yet."""
GROUP: Final = "llm-cost-tracker"

# Multi-window burn-rate alerts, as in the SRE workbook: a tier fires when spending is
# `factor` times the sustainable rate (amount / period) in both its long and short window.
BURN_RATE_TIERS: Final = (
    ("critical", "1h", "5m", 14.4),  # 2 % of a 30-day budget in an hour
    ("warning", "6h", "30m", 6.0),  # 5 % of a 30-day budget in six hours
)
_WINDOW_SECONDS: Final = {"5m": 300, "30m": 1800, "1h": 3600, "6h": 21_600}

RUNBOOK: Final = "https://github.com/llm-cost-tracker/llm-cost-tracker/blob/main/docs/runbooks.md"


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


def spend_rules(resolution: Resolution = Resolution(), match: Mapping[str, str] | None = None) -> list[RecordingRule]:
    """The exact increases of spend, tokens and calls per series, every evaluation (``match``: of some only)."""
    return [
        RecordingRule(
            record,
            f"{promql.by(labels)} (\n"
            + _indent(
                promql.exact_increase(
                    promql.selector(metric, match or {}), resolution.interval_seconds, resolution.offset_seconds
                )
            )
            + "\n)",
        )
        for record, metric, labels in SPEND_SERIES
    ]


UNPRICED: Final = "llm_unpriced_requests_total"
UNPRICED_WINDOW: Final = "1h"
DROPPED: Final = "llm_cost_tracker_series_dropped_total"
OVERFLOW_WINDOW: Final = "10m"


def data_quality_alerts(match: Mapping[str, str] | None = None) -> list[AlertingRule]:
    """Alerts every rule file carries, budgets or not: calls priced at $0 because nothing prices their model,
    and calls counted in an ``__overflow__`` series because a series cap was reached."""
    counter, window = promql.selector(UNPRICED, match or {}), UNPRICED_WINDOW
    return [
        AlertingRule(
            alert="LLMUnpricedModel",
            # increase() sees a series the exporter first served at 0; the second clause one first seen above 0.
            expr=f"sum by (org, project, provider, model) (\n"
            f"  increase({counter}[{window}]) > 0\n"
            f"  or\n"
            f"  ({counter} > 0 unless {counter} offset {window})\n"
            f") > 0",
            labels={"severity": "warning"},
            annotations={
                "summary": "LLM calls to {{ $labels.provider }}/{{ $labels.model }} have no price",
                "description": "Calls of {{ $labels.org }}/{{ $labels.project }} to {{ $labels.provider }}/"
                "{{ $labels.model }} in the last hour were counted at $0: neither the price catalog nor the "
                "price overrides know the model, so budgets and reports miss their spend.",
                "runbook_url": f"{RUNBOOK}#llmunpricedmodel",
            },
        ),
        AlertingRule(
            alert="LLMCostTrackerSeriesOverflow",
            # The dropped counters exist at 0 from the exporter's start, so the first overflow is an increase.
            expr=f"sum by (instance, metric) (increase({DROPPED}[{OVERFLOW_WINDOW}])) > 0",
            labels={"severity": "warning"},
            annotations={
                "summary": "LLM Cost Tracker {{ $labels.instance }} folds new {{ $labels.metric }} label sets",
                "description": "{{ $labels.instance }} reached a series cap for {{ $labels.metric }}: "
                "{{ $value | humanize }} calls in the last 10 minutes were counted under their project's model "
                "'other' or an __overflow__ series instead of their own labels; budgets on a folded project "
                "do not see their spend.",
                "runbook_url": f"{RUNBOOK}#llmcosttrackerseriesoverflow",
            },
        ),
    ]


BILLED: Final = "llm_provider_billed_usd"
BILLED_DAY: Final = "llm_provider_billed_day_timestamp_seconds"
PROVIDER_DAY: Final = "provider:llm_cost_usd:day"
PROVIDER_DAY_START: Final = "provider:llm_cost_usd:day_start"
PROVIDER_PREVIOUS_DAY: Final = "provider:llm_cost_usd:previous_day"
PREVIOUS_DAY_START: Final = "provider:llm_cost_usd:previous_day_start"
CAPTURE: Final = "provider:llm_cost_usd:capture_ratio"
CAPTURE_BAND: Final = (0.98, 1.02)
CAPTURE_MIN_BILLED_USD: Final = 1.0
"""Days billed less than this are not judged: a few cents of rounding would move the ratio past the band."""
POLLS: Final = "llm_provider_billing_polls_total"
POLL_WINDOW: Final = "3h"
CAPTURE_FOR: Final = "3h"
"""How long a day's ratio must stay out of the band: the providers' figures for a day settle within hours."""


def capture_rules(resolution: Resolution = Resolution()) -> list[RecordingRule | AlertingRule]:
    """Yesterday's tracked spend per (provider, project), held all day, against the bill ``serve`` polls.

    The tracked side is a running total of the UTC day (``provider:llm_cost_usd:day``, the increases summed as a
    calendar budget sums them) and the day before's final total (``previous_day``), taken at the first
    evaluation of a new day and held until the next. Each pair carries the start of the day its value belongs
    to, so that a pair which stopped spending is not carried into a later day. The bill side is
    ``llm_provider_billed_usd`` (the last complete UTC day, docs/reconcile.md); the ratio is recorded only
    while both sides are of the same day.
    """
    start = promql.period_start("day", resolution.offset_seconds)
    pair = "on (provider, project)"

    def of_day(series: str, start_series: str, day_start: str) -> str:
        return (
            f"last_over_time({series}[1d])\n  and {pair}\n"
            f"  (last_over_time({start_series}[1d]) == on () group_left () ({day_start}))"
        )

    today = of_day(PROVIDER_DAY, PROVIDER_DAY_START, start)
    increase = f"sum by (provider, project) ({SERIES_INCREASE})"
    billed = f"max by (provider, project) ({BILLED})"
    low, high = CAPTURE_BAND
    return [
        # Before the day's total: at a new day's first evaluation, the last total is still the day before's.
        RecordingRule(
            PROVIDER_PREVIOUS_DAY,
            f"(\n  {of_day(PROVIDER_PREVIOUS_DAY, PREVIOUS_DAY_START, start)}\n)\nor\n"
            f"(\n  {of_day(PROVIDER_DAY, PROVIDER_DAY_START, f'{start} - 86400')}\n)",
        ),
        RecordingRule(PREVIOUS_DAY_START, f"{PROVIDER_PREVIOUS_DAY} * 0 + on () group_left () ({start})"),
        RecordingRule(PROVIDER_DAY, f"(\n  ({today})\n  + {pair}\n  {increase}\n)\nor\n({today})\nor\n{increase}"),
        RecordingRule(PROVIDER_DAY_START, f"{PROVIDER_DAY} * 0 + on () group_left () ({start})"),
        RecordingRule(
            CAPTURE,
            f"round(\n  (\n    {PROVIDER_PREVIOUS_DAY}\n    or {pair} ({billed} * 0)\n  )\n"
            f"  / {pair}\n  ({billed} >= {CAPTURE_MIN_BILLED_USD!r})\n  * 1e6\n) / 1e6\n"
            f"and on (provider)\n"
            f"(max by (provider) ({BILLED_DAY}) == on () group_left () ({start} - 86400))",
        ),
        AlertingRule(
            alert="LLMProviderBillNotCaptured",
            expr=f"{CAPTURE} < {low!r} or {CAPTURE} > {high!r}",
            labels={"severity": "warning"},
            annotations={
                "summary": "Tracked {{ $labels.provider }} spend of {{ $labels.project }} yesterday was "
                "{{ $value | humanizePercentage }} of the bill",
                "description": "For the last complete UTC day, the exporter priced {{ $value | humanizePercentage }} "
                "of what {{ $labels.provider }} billed for project {{ $labels.project }} (expected "
                f"{low:.0%} to {high:.0%}). Run `llm-cost-tracker reconcile --by model` for the day to see "
                "which model the difference comes from.",
                "runbook_url": f"{RUNBOOK}#llmproviderbillnotcaptured",
            },
            for_=CAPTURE_FOR,
        ),
        AlertingRule(
            alert="LLMProviderBillUnread",
            expr=f'sum by (provider) (increase({POLLS}{{outcome="error"}}[{POLL_WINDOW}])) > 0\n'
            f"unless on (provider)\n"
            f'sum by (provider) (increase({POLLS}{{outcome="success"}}[{POLL_WINDOW}])) > 0',
            labels={"severity": "warning"},
            annotations={
                "summary": "The {{ $labels.provider }} bill could not be read for 3 hours",
                "description": "Every read of the {{ $labels.provider }} cost API in the last 3 hours failed, so "
                "LLMProviderBillNotCaptured judges old figures or none. The exporter's log says why (a revoked "
                "admin key, a rate limit, the API down).",
                "runbook_url": f"{RUNBOOK}#llmproviderbillunread",
            },
        ),
    ]


def _indent(text: str) -> str:
    return "\n".join(f"  {line}" for line in text.splitlines())


class BudgetRules:
    """The rules of one budget, evaluated in the group after the spend rules they read."""

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
        by = promql.by(budget.group_labels)
        budget_label = {"budget": budget.name}
        increase = self.series(INCREASE)
        usage = promql.selector(SERIES_INCREASE, budget.match)
        rules = [
            RecordingRule(AMOUNT, f"vector({budget.amount_usd!r})", dict(self.labels)),
            RecordingRule(
                INCREASE, f"{by} ({usage})\nor on ({', '.join(budget.group_labels)})\n{self.zero}", budget_label
            ),
        ]
        if budget.is_calendar:
            spend = promql.calendar_spend(
                budget.period,
                self.series(SPEND),
                self.series(PERIOD_START),
                increase,
                self.zero,
                self.resolution.offset_seconds,
            )
            rules += [
                RecordingRule(SPEND, spend, budget_label),
                # After the total: the total's rule reads the start of the period the last total belongs to.
                RecordingRule(
                    PERIOD_START,
                    f"{self.zero} + on () ({promql.period_start(budget.period, self.resolution.offset_seconds)})",
                    budget_label,
                ),
            ]
        else:
            window = promql.window(budget.period_seconds)
            rules.append(RecordingRule(SPEND, f"sum_over_time({increase}[{window}])", budget_label))
        rules.append(
            RecordingRule(RATIO, f"round({self.series(SPEND)} / {self.series(AMOUNT)} * 1e6) / 1e6", budget_label)
        )
        if budget.alerts.forecast:
            # The spend at the period's end if the last day's spending rate goes on.
            rate = f"sum_over_time({increase}[{promql.window(86_400)}]) / 86400"
            left = promql.seconds_left(budget.period, self.resolution.offset_seconds)
            forecast = (
                f"round(\n  (\n    {self.series(SPEND)}\n    + {rate} * on () group_left () ({left})\n"
                "  ) * 1e9\n) / 1e9"
            )
            rules.append(RecordingRule(FORECAST, forecast, budget_label))
        if budget.alerts.burn_rate:
            sustainable = f"({self.series(AMOUNT)} / {budget.period_seconds})"
            for window, seconds in _WINDOW_SECONDS.items():
                spent = f"sum_over_time({increase}[{promql.window(seconds)}])"
                rules.append(
                    RecordingRule(
                        BURN_RATE.format(window=window),
                        f"round({spent} / {seconds} / {sustainable} * 1e6) / 1e6",
                        budget_label,
                    )
                )
        if budget.alerts.anomaly:
            rules += self._anomaly_recording(increase, budget_label)
        return rules

    def _anomaly_recording(self, increase: str, budget_label: dict[str, str]) -> list[RecordingRule]:
        """The last hour's spend, and its baseline: the median of the same hour on each of the previous 7 days.

        The same hour of day follows the daily cycle (busy days, quiet nights); the median of seven days is
        a weekday's level however the week goes (five weekdays, two quieter weekend days) and ignores one
        abnormal day, a past spike included, where a mean or a maximum would be pulled up by it for a week.
        """
        hourly = self.series(HOURLY)
        past = "\n  or\n".join(f'  label_replace({hourly} offset {n}d, "days_ago", "{n}", "", "")' for n in range(1, 8))
        by = ", ".join(["budget", *self.budget.group_labels])
        median = f"quantile by ({by}) (0.5, (\n{past}\n))"
        enough = f"count by ({by}) (\n{past}\n) >= {ANOMALY_MIN_DAYS}"
        return [
            RecordingRule(HOURLY, f"sum_over_time({increase}[{promql.window(3600)}])", budget_label),
            RecordingRule(HOURLY_BASELINE, f"{median}\nand\n{enough}", budget_label),
        ]

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
        if budget.alerts.anomaly:
            hourly, baseline = self.series(HOURLY), self.series(HOURLY_BASELINE)
            floor = round(budget.amount_usd * ANOMALY_MIN_SHARE, 6)
            rules.append(
                alert(
                    "LLMBudgetSpendAnomaly",
                    f"{hourly} > {ANOMALY_FACTOR!r} * {baseline}\nand\n{hourly} >= {floor!r}",
                    "warning",
                    f"LLM budget {budget.name} spent far more in the last hour than usual",
                    f'{budget.name} ({scope}) spent ${{{{ $value | printf "%.2f" }}}} in the last hour, over '
                    f"{ANOMALY_FACTOR:g} times the median of the same hour on the previous 7 days.",
                    for_="15m",
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


def generate(spec: BudgetFile | None, resolution: Resolution = Resolution(), org: str | None = None) -> list[RuleGroup]:
    """The rule group of a budget file (``None``: the spend rules alone), evaluated as one group.

    One group, so that every rule of an evaluation sees the same instant: the
    budgets read the spend recorded a moment before, at the same timestamp, and
    a period's boundary falls at the same evaluation for all of them. ``org``: that
    org's series and budgets only (``rules generate --split-by org``).
    """
    match = {"org": org} if org is not None else None
    rules: list[RecordingRule | AlertingRule] = [*spend_rules(resolution, match), *data_quality_alerts(match)]
    if org is None:  # a provider bills its own organisation, which no tracker org's rule file sees whole
        rules += capture_rules(resolution)
    for budget in spec.budgets if spec is not None else ():
        if org is not None and budget.match.get("org") != org:
            continue
        budget_rules = BudgetRules(budget, resolution)
        rules += [*budget_rules.recording(), *budget_rules.alerting()]
    return [RuleGroup(GROUP, rules, interval=resolution.interval)]
