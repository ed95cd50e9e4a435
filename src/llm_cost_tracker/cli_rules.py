"""``llm-cost-tracker rules ...``: budgets as Prometheus rules (generate, check, schema)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from llm_cost_tracker.cli_help import command_group, examples, write_output
from llm_cost_tracker.inputfile import InputFileError


def _generated_rules(args: argparse.Namespace) -> tuple[str, int]:
    """The rule file text for ``--budgets`` and how many rules it holds; raises ``InputFileError``."""
    from llm_cost_tracker.rules.generator import Resolution, generate
    from llm_cost_tracker.rules.render import RENDERERS
    from llm_cost_tracker.rules.spec import load_budgets

    resolution = Resolution.parse(getattr(args, "interval", "1m"), getattr(args, "query_offset", "10s"))
    groups = generate(load_budgets(args.budgets) if args.budgets else None, resolution)
    source = Path(args.budgets).name if args.budgets else "(no budget file: the spend rules only)"
    return RENDERERS[getattr(args, "format", "prometheus")](groups, source), sum(len(g.rules) for g in groups)


def cmd_rules_generate(args: argparse.Namespace) -> int:
    from llm_cost_tracker.rules.render import alertmanager_route

    if args.alertmanager_route:
        write_output(alertmanager_route(args.webhook_url), args.output)
        return 0
    if args.split_by is not None:
        return _generate_split(args)
    try:
        text, _ = _generated_rules(args)
    except (InputFileError, ValueError) as exc:  # a bad --interval is a ValueError
        print(f"could not generate rules: {exc}", file=sys.stderr)
        return 1
    write_output(text, args.output)
    return 0


def _generate_split(args: argparse.Namespace) -> int:
    """``--split-by org -o DIR``: ``DIR/<org>.rules.yaml`` for each org."""
    from llm_cost_tracker.rules.generator import Resolution
    from llm_cost_tracker.rules.render import RENDERERS, prometheus_operator_rule
    from llm_cost_tracker.rules.spec import load_budgets
    from llm_cost_tracker.rules.split import generate_by_org
    from llm_cost_tracker.tenancy.tenants import load_tenants

    if not args.output or args.output == "-":
        print("--split-by org writes one file per org: give the directory with -o DIR", file=sys.stderr)
        return 2
    try:
        spec = load_budgets(args.budgets) if args.budgets else None
        tenants = load_tenants(args.tenants_file, 1).by_org if args.tenants_file else {}
        by_org = generate_by_org(
            spec, args.budgets or "", Resolution.parse(args.interval, args.query_offset), also=tenants
        )
    except (InputFileError, ValueError) as exc:
        print(f"could not generate rules: {exc}", file=sys.stderr)
        return 1
    if not by_org:
        print("no org to write rules for: give --budgets (budgets naming orgs) or --tenants.file", file=sys.stderr)
        return 1
    directory = Path(args.output)
    directory.mkdir(parents=True, exist_ok=True)
    source = Path(args.budgets).name if args.budgets else "(no budget file: the spend rules only)"
    for org, groups in by_org.items():
        if args.format == "prometheus-operator":
            text = prometheus_operator_rule(
                groups, source, name=f"llm-cost-tracker-budgets-{org.lower().replace('_', '-')}"
            )
        else:
            text = RENDERERS[args.format](groups, f"{source}, org {org}")
        write_output(text, str(directory / f"{org}.rules.yaml"))
        print(f"{directory / f'{org}.rules.yaml'}: {sum(len(g.rules) for g in groups)} rules for org {org}")
    return 0


def cmd_rules_check(args: argparse.Namespace) -> int:
    import shutil
    import subprocess
    import tempfile

    try:
        text, count = _generated_rules(args)
    except InputFileError as exc:
        print(f"could not generate rules: {exc}", file=sys.stderr)
        return 1
    promtool = shutil.which("promtool")
    if promtool is None:
        print(f"{args.budgets}: valid, {count} rules (promtool not found: generated rules not checked)")
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        rules = Path(tmp) / "rules.yaml"
        rules.write_text(text)
        result = subprocess.run([promtool, "check", "rules", str(rules)], capture_output=True, text=True, check=False)
    if result.returncode != 0:
        print(f"promtool rejects the generated rules:\n{result.stdout}{result.stderr}", file=sys.stderr)
        return 1
    print(f"{args.budgets}: valid, {count} rules, accepted by promtool check rules")
    return 0


def cmd_rules_schema(args: argparse.Namespace) -> int:
    import json

    from llm_cost_tracker.rules.spec import json_schema

    write_output(json.dumps(json_schema(), indent=2) + "\n", args.output)
    return 0


def cmd_rules_backtest(args: argparse.Namespace) -> int:
    """When each budget's alerts would have fired over a past range."""
    import json
    from datetime import UTC, datetime

    from llm_cost_tracker.cli import _instant, history_from_args
    from llm_cost_tracker.history import HistoryError
    from llm_cost_tracker.rules.backtest import backtest, render_table
    from llm_cost_tracker.rules.model import Resolution
    from llm_cost_tracker.rules.spec import load_budgets

    now = datetime.fromtimestamp(args.clock(), UTC)
    try:
        offset = Resolution.parse("1m", args.query_offset).offset_seconds
        start = _instant(args.from_)
        end = _instant(args.to) if args.to else now
        if end <= start:
            raise ValueError(f"--to must be after --from ({args.to} <= {args.from_})")
    except (ValueError, argparse.ArgumentTypeError) as exc:
        print(exc, file=sys.stderr)
        return 2
    try:
        budgets = load_budgets(args.budgets)
        history = history_from_args(args, offset)
        missing = history.missing_spend_rules(start, end)
        results = backtest(history, budgets, start, end) if missing is None else []
    except InputFileError as exc:
        print(f"could not backtest: {exc}", file=sys.stderr)
        return 1
    except HistoryError as exc:
        print(f"rules backtest: {exc}", file=sys.stderr)
        return 1
    if missing is not None:
        print(f"rules backtest: {missing}", file=sys.stderr)
        return 1
    if args.format == "json":
        sys.stdout.write(json.dumps({"budgets": [r.to_json() for r in results]}, indent=2) + "\n")
    else:
        sys.stdout.write(render_table(results))
    return 0


def add_rules_commands(commands: Any) -> None:
    """The ``rules`` subcommands, on the top-level parser's subparsers."""
    rules = command_group(commands.add_parser("rules", help="budgets as Prometheus rules"), "rules_command")
    generate = rules.add_parser(
        "generate",
        help="write the recording and alerting rules of a budget file",
        **examples(
            "llm-cost-tracker rules generate --budgets budgets.yaml -o /etc/prometheus/rules/llm-budgets.rules.yaml",
            "llm-cost-tracker rules generate --budgets budgets.yaml --interval 10s --query-offset 1m   # Mimir ruler",
            "llm-cost-tracker rules generate --budgets budgets.yaml --format prometheus-operator | kubectl apply -f -",
            "llm-cost-tracker rules generate --budgets budgets.yaml --format vmalert -o /etc/vmalert/llm-budgets.yaml",
            "llm-cost-tracker rules generate --alertmanager-route --webhook-url http://tracker:9464/alertmanager/webhook",
        ),
    )
    generate.add_argument(
        "--budgets",
        metavar="FILE",
        help="budget file (version: llm-cost-tracker/v1); without it, only the exact spend rules that reports use",
    )
    generate.add_argument("-o", "--output", metavar="OUT", help="output file (default: standard output)")
    generate.add_argument(
        "--format",
        choices=("prometheus", "prometheus-operator", "vmalert"),
        default="prometheus",
        help="a rule file for rule_files (default), a PrometheusRule resource, or a rule file for vmalert "
        "(VictoriaMetrics)",
    )
    generate.add_argument(
        "--interval",
        default="1m",
        help="rule evaluation interval: each evaluation records the exact spend since the previous one; "
        "divides 5m (default 1m; 10s reacts sooner)",
    )
    generate.add_argument(
        "--query-offset",
        default="10s",
        metavar="DURATION",
        help="each evaluation reads the interval that ended this long before it, so that scrapes still in flight "
        "are counted: at least the scrape_timeout, or a remote-write path's delay (default 10s; 0 to turn off)",
    )
    generate.add_argument(
        "--split-by",
        choices=("org",),
        help="one rule file per org in the directory -o names (DIR/<org>.rules.yaml), for a ruler namespace per "
        "tenant (Mimir, Cortex) or one Prometheus per team",
    )
    generate.add_argument(
        "--tenants.file",
        dest="tenants_file",
        metavar="FILE",
        help="with --split-by org: also write the spend rules of tenants that have no budget",
    )
    generate.add_argument(
        "--alertmanager-route",
        action="store_true",
        help="print the Alertmanager route and receiver that send budget alerts to the webhook, instead",
    )
    generate.add_argument(
        "--webhook-url",
        default="http://127.0.0.1:9464/alertmanager/webhook",
        help="the webhook receiver's URL, for --alertmanager-route",
    )
    generate.set_defaults(func=cmd_rules_generate)
    check = rules.add_parser(
        "check",
        help="validate a budget file, and the rules it generates with promtool",
        **examples("llm-cost-tracker rules check --budgets budgets.yaml"),
    )
    check.add_argument("--budgets", metavar="FILE", required=True, help="budget file")
    check.set_defaults(func=cmd_rules_check)
    schema = rules.add_parser(
        "schema",
        help="print the JSON Schema of budget files, for editors",
        **examples("llm-cost-tracker rules schema -o budgets.schema.json"),
    )
    schema.add_argument("-o", "--output", metavar="OUT", help="output file (default: standard output)")
    schema.set_defaults(func=cmd_rules_schema)

    from llm_cost_tracker.cli import add_prometheus_flags

    backtest = rules.add_parser(
        "backtest",
        help="when each budget's alerts would have fired over past history, from Prometheus",
        **examples(
            "llm-cost-tracker rules backtest --budgets budgets.yaml --prometheus.url http://127.0.0.1:9090 "
            "--from 2026-11-01 --to 2026-12-01",
            "llm-cost-tracker rules backtest --budgets new.yaml --prometheus.url http://prom:9090 "
            "--from 2026-11-01T00:00:00Z --format json",
        ),
    )
    backtest.add_argument("--budgets", required=True, metavar="FILE", help="the budget file to evaluate")
    add_prometheus_flags(backtest)
    backtest.add_argument("--from", dest="from_", required=True, metavar="TIME", help="start (ISO 8601, UTC)")
    backtest.add_argument("--to", metavar="TIME", help="end (default: now)")
    backtest.add_argument("--format", choices=("table", "json"), default="table", help="output format")
    backtest.set_defaults(func=cmd_rules_backtest)
