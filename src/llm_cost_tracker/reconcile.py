"""``llm-cost-tracker reconcile``: what each provider billed against what the exporter tracked, per project and day.

Billed comes from the providers' cost APIs (``billing/``), tracked from the user's Prometheus with the one
definition of spend the rules use (``history``). Both are per UTC day, a day being ``[00:00, 24:00)``
in both: the providers' buckets are, and the recorded increases are summed over the day's evaluations.
See docs/reconcile.md.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any, Final

from llm_cost_tracker.billing.api import BillingApiError
from llm_cost_tracker.billing.model import BillingSource, UsedTokens
from llm_cost_tracker.billing.sources import ReconcileError as ReconcileError
from llm_cost_tracker.billing.sources import open_source
from llm_cost_tracker.clock import midnight
from llm_cost_tracker.config import ProviderBilling, ReconcileConfig
from llm_cost_tracker.history import TOKENS_INCREASE, PrometheusHistory
from llm_cost_tracker.rules.generator import SERIES_INCREASE

TOKEN_COLUMNS: Final = ("input", "cache_read", "cache_write", "output")
"""Token kinds both sides count alike; the exporter's ``reasoning`` is part of the providers' ``output``."""
ALL_MODELS: Final = "(all models)"
"""With ``--by model``, the row of a provider that bills a project's day as one amount (OpenAI)."""
NOT_A_MODEL: Final = "(not a model)"
"""Costs a provider bills apart from any model's tokens (Anthropic web search, code execution)."""


Key = tuple[str, str, date, str | None]
"""Provider, project label, UTC day, model (``None``: not per model)."""


@dataclass
class Row:
    provider: str
    project: str
    day: date
    billed_usd: Decimal | None
    """``None``: the provider does not attribute dollars to this row (OpenAI per model)."""
    tracked_usd: float
    model: str | None = None
    billed_tokens: dict[str, int] | None = None
    tracked_tokens: dict[str, float] | None = None

    @property
    def capture_ratio(self) -> float | None:
        if not self.billed_usd:
            return None
        return round(self.tracked_usd / float(self.billed_usd), 6)

    def to_json(self) -> dict[str, Any]:
        row: dict[str, Any] = {"provider": self.provider, "project": self.project, "day": self.day.isoformat()}
        if self.model is not None:
            row["model"] = self.model
        row.update(
            billed_usd=None if self.billed_usd is None else float(self.billed_usd),
            tracked_usd=round(self.tracked_usd, 9),
            capture_ratio=self.capture_ratio,
        )
        if self.model is not None:
            row["billed_tokens"] = self.billed_tokens
            row["tracked_tokens"] = {k: round(v) for k, v in (self.tracked_tokens or {}).items()}
        return row


@dataclass
class Reconciliation:
    start: date
    end: date
    """Exclusive."""
    by_model: bool
    rows: list[Row] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {"rows": [row.to_json() for row in self.rows], "notes": self.notes}


def _label(entry: ProviderBilling, project_id: str, unmapped: set[str]) -> str:
    label = entry.projects.get(project_id)
    if label is None:
        unmapped.add(project_id)
        return project_id
    return label


def _tokens(row: UsedTokens) -> dict[str, int]:
    return {"input": row.input, "cache_read": row.cache_read, "cache_write": row.cache_write, "output": row.output}


def reconcile(
    sources: Sequence[tuple[ProviderBilling, BillingSource]],
    history: PrometheusHistory,
    start: date,
    end: date,
    *,
    by_model: bool = False,
    now: datetime | None = None,
) -> Reconciliation:
    """Billed against tracked for the UTC days ``[start, end)``; raises ``BillingApiError``/``HistoryError``."""
    result = Reconciliation(start, end, by_model)
    providers = sorted({entry.provider for entry, _ in sources})
    billed: dict[Key, Decimal] = {}
    billed_tokens: dict[Key, dict[str, int]] = {}
    for entry, source in sources:
        unmapped: set[str] = set()
        for cost in source.costs(start, end, by_model=by_model):
            model = None
            if by_model:
                model = (cost.model or NOT_A_MODEL) if entry.provider == "anthropic" else ALL_MODELS
            key: Key = (str(entry.provider), _label(entry, cost.project_id, unmapped), cost.day, model)
            billed[key] = billed.get(key, Decimal(0)) + cost.usd
        if by_model:
            for used in source.usage(start, end):
                key = (entry.provider, _label(entry, used.project_id, unmapped), used.day, used.model or NOT_A_MODEL)
                counts = billed_tokens.setdefault(key, dict.fromkeys(TOKEN_COLUMNS, 0))
                for kind, count in _tokens(used).items():
                    counts[kind] += count
        if unmapped:
            result.notes.append(
                f"{entry.provider}: ids not in `projects`, reported under their own name: {', '.join(sorted(unmapped))}"
            )

    match = {"provider": "=~" + "|".join(providers)}
    by = ("provider", "project", "model") if by_model else ("provider", "project")
    tracked: dict[Key, float] = {}
    for value in history.daily(SERIES_INCREASE, start, end, by, match):
        provider_label, project, *rest = value.labels
        tracked_key = (provider_label, project, value.day, rest[0] if rest else None)
        tracked[tracked_key] = tracked.get(tracked_key, 0.0) + value.value
    if by_model:  # the providers that bill a project's day as one amount get one row of it, against all models
        whole = {k[:3] for k in billed if k[3] == ALL_MODELS} | {k[:3] for k in tracked if k[0] == "openai"}
        for provider_label, project, day in whole:
            sums = [v for k, v in tracked.items() if k[:3] == (provider_label, project, day)]
            tracked[(provider_label, project, day, ALL_MODELS)] = sum(sums)
            billed.setdefault((provider_label, project, day, ALL_MODELS), Decimal(0))
    tracked_tokens: dict[Key, dict[str, float]] = {}
    if by_model:
        for value in history.daily(TOKENS_INCREASE, start, end, (*by, "token_type"), match):
            provider_label, project, model_label, kind = value.labels
            kind = "output" if kind == "reasoning" else kind
            if kind in TOKEN_COLUMNS:
                tokens = tracked_tokens.setdefault(
                    (provider_label, project, value.day, model_label), dict.fromkeys(TOKEN_COLUMNS, 0.0)
                )
                tokens[kind] += value.value

    if not tracked and billed:
        result.notes.append(history.why_no_spend(midnight(start), midnight(end), "these days"))
    if now is not None:
        kept_from = history.retention_start(now)
        if kept_from is not None and kept_from > midnight(start):
            result.notes.append(
                f"Prometheus keeps data from {kept_from:%Y-%m-%d %H:%M} UTC (its retention): days before "
                "are tracked as far as it still holds them, so their capture ratio reads low"
            )

    keys = set(billed) | set(tracked) | set(billed_tokens) | set(tracked_tokens)
    for key in sorted(keys, key=lambda k: (k[0], k[1], k[2], k[3] or "")):
        amount = billed.get(key)
        if amount is None and not (by_model and key[0] == "openai" and key[3] != ALL_MODELS):
            amount = Decimal(0)
        row = Row(key[0], key[1], key[2], amount, tracked.get(key, 0.0), key[3])
        if by_model:
            row.billed_tokens = billed_tokens.get(key)
            row.tracked_tokens = tracked_tokens.get(key)
        if row.billed_usd or row.tracked_usd or row.billed_tokens or row.tracked_tokens:
            result.rows.append(row)
    return result


def default_window(today: date) -> tuple[date, date]:
    """The current month's complete days; on the 1st, the month before."""
    first = today.replace(day=1)
    if today == first:
        previous = first - timedelta(days=1)
        return previous.replace(day=1), first
    return first, today


def month_window(month: str) -> tuple[date, date]:
    """``YYYY-MM`` → its first day and the next month's; raises ``ValueError``."""
    try:
        first = datetime.strptime(month, "%Y-%m").date()
    except ValueError:
        raise ValueError(f"--period: expected YYYY-MM, e.g. 2026-11 (got {month!r})") from None
    following = (first.replace(day=28) + timedelta(days=4)).replace(day=1)
    return first, following


def _money(value: Decimal | float | None) -> str:
    return "-" if value is None else f"{value:,.2f}"


def _ratio(value: float | None) -> str:
    return "-" if value is None else f"{value:.2%}"


def render_table(result: Reconciliation) -> str:
    columns = ["provider", "project", "day", *(["model"] if result.by_model else []), "billed", "tracked", "capture"]
    lines: list[list[str]] = []
    for row in result.rows:
        cells = [row.provider, row.project, row.day.isoformat()]
        if result.by_model:
            cells.append(row.model or "")
        cells += [_money(row.billed_usd), _money(row.tracked_usd), _ratio(row.capture_ratio)]
        if result.by_model:
            cells.append(_token_text(row))
        lines.append(cells)
    if result.by_model:
        columns.append("tokens billed/tracked")
    counted = [row for row in result.rows if row.billed_usd is not None]  # not a model's share of a whole
    billed_total = sum((row.billed_usd or Decimal(0) for row in counted), Decimal(0))
    tracked_total = sum(row.tracked_usd for row in counted)
    total = Row("", "", result.start, billed_total, tracked_total)
    footer = ["total", "", f"{result.start} to {result.end - timedelta(days=1)}"]
    if result.by_model:
        footer.append("")
    footer += [_money(billed_total), _money(tracked_total), _ratio(total.capture_ratio)]
    table = [columns, *lines, footer]
    widths = [max(len(r[i]) if i < len(r) else 0 for r in table) for i in range(len(columns))]
    right = {"billed", "tracked", "capture"}

    def fmt(cells: list[str]) -> str:
        return "  ".join(
            (cell.rjust(widths[i]) if columns[i] in right else cell.ljust(widths[i])) for i, cell in enumerate(cells)
        ).rstrip()

    rule = "  ".join("-" * w for w in widths)
    out = [fmt(columns), rule, *(fmt(cells) for cells in lines), rule, fmt(footer)]
    if not lines:
        out.insert(2, "(no billed or tracked spend in these days)")
    out += [f"note: {note}" for note in result.notes]
    return "\n".join(out) + "\n"


def _token_text(row: Row) -> str:
    billed, tracked = row.billed_tokens or {}, row.tracked_tokens or {}
    parts = []
    for kind in TOKEN_COLUMNS:
        b, t = billed.get(kind), tracked.get(kind)
        if b or t:
            parts.append(f"{kind} {b if b is not None else '-'}/{round(t) if t is not None else '-'}")
    return ", ".join(parts)


def render_csv(result: Reconciliation) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    header = ["provider", "project", "day", *(["model"] if result.by_model else []), "billed_usd", "tracked_usd"]
    header.append("capture_ratio")
    if result.by_model:
        header += [f"billed_{k}_tokens" for k in TOKEN_COLUMNS] + [f"tracked_{k}_tokens" for k in TOKEN_COLUMNS]
    writer.writerow(header)
    for row in result.rows:
        cells: list[object] = [row.provider, row.project, row.day.isoformat()]
        if result.by_model:
            cells.append(row.model)
        ratio = row.capture_ratio
        cells += [
            "" if row.billed_usd is None else row.billed_usd,
            round(row.tracked_usd, 9),
            "" if ratio is None else ratio,
        ]
        if result.by_model:
            cells += [(row.billed_tokens or {}).get(k, "") for k in TOKEN_COLUMNS]
            cells += [round((row.tracked_tokens or {}).get(k, 0)) if row.tracked_tokens else "" for k in TOKEN_COLUMNS]
        writer.writerow(cells)
    return out.getvalue()


def render(result: Reconciliation, output_format: str) -> str:
    if output_format == "json":
        return json.dumps(result.to_json(), indent=2) + "\n"
    if output_format == "csv":
        return render_csv(result)
    return render_table(result)


def run(
    config: ReconcileConfig,
    history: PrometheusHistory,
    start: date,
    end: date,
    *,
    by_model: bool = False,
    now: datetime | None = None,
    options: dict[str, Any] | None = None,
) -> Reconciliation:
    """Open every provider of ``config``, reconcile, close; raises ``ReconcileError`` for any failure of a bill."""
    sources: list[tuple[ProviderBilling, BillingSource]] = []
    try:
        for entry in config.providers:
            sources.append((entry, open_source(entry, **(options or {}))))
        return reconcile(sources, history, start, end, by_model=by_model, now=now)
    except BillingApiError as exc:
        raise ReconcileError(str(exc)) from None
    finally:
        for _, source in sources:
            source.close()


def parse_day(value: str, flag: str) -> date:
    """A UTC day, ``2026-11-03`` or a midnight ``2026-11-03T00:00:00Z``; raises ``ValueError``."""
    try:
        if len(value) == 10:
            return date.fromisoformat(value)
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise ValueError(f"{flag}: expected a UTC day such as 2026-11-03 (got {value!r})") from None
    moment = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    if moment.time() != datetime.min.time():
        raise ValueError(f"{flag}: the providers bill whole UTC days; give a day or a UTC midnight (got {value!r})")
    return moment.date()
