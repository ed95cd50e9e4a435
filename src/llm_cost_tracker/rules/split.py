"""``rules generate --split-by org -o DIR``: one rule file per org, for a ruler namespace per tenant.

Each file holds that org's spend rules (selecting ``org="<org>"``), its data-quality alert and its
budgets, so it gives the same answers in the org's own Prometheus, or in a Mimir/Cortex ruler under
the org's ``X-Scope-OrgID``, as the single file gives in a Prometheus that sees every org.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from llm_cost_tracker.inputfile import InputFileError
from llm_cost_tracker.rules.generator import Resolution, RuleGroup, generate
from llm_cost_tracker.rules.spec import BudgetFile

ORG_FILE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


def orgs_of(spec: BudgetFile, source: str) -> list[str]:
    """The orgs the budgets name, in order; raises ``InputFileError`` for a budget that names none by value."""
    orgs: list[str] = []
    problems = []
    for index, budget in enumerate(spec.budgets):
        org = budget.match.get("org")
        if org is None or org.startswith(("=~", "!~", "!=")) or not ORG_FILE_NAME.match(org):
            problems.append(
                f"{source}: budgets[{index}].match.org: --split-by org needs every budget to match one org by "
                f"value (got {org!r})"
            )
        elif org not in orgs:
            orgs.append(org)
    if problems:
        raise InputFileError(source, problems)
    return orgs


def generate_by_org(
    spec: BudgetFile | None, source: str, resolution: Resolution | None = None, also: Iterable[str] = ()
) -> dict[str, list[RuleGroup]]:
    """Each org's rule groups: the budgets' orgs, and ``also`` (tenants without budgets get the spend rules)."""
    orgs = orgs_of(spec, source) if spec is not None else []
    orgs += [org for org in also if org not in orgs]
    return {org: generate(spec, resolution or Resolution(), org=org) for org in orgs}
