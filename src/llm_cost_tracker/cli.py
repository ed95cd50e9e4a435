"""The ``llm-cost-tracker`` command (also ``python -m llm_cost_tracker``)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from llm_cost_tracker import __version__
from llm_cost_tracker.cli_help import command_group, examples, write_output
from llm_cost_tracker.cli_rules import add_rules_commands
from llm_cost_tracker.clock import Clock, system_clock
from llm_cost_tracker.config import Config, ListenAddress
from llm_cost_tracker.inputfile import InputFileError

if TYPE_CHECKING:
    from llm_cost_tracker.history import PrometheusHistory


def _apply_serve_flags(args: argparse.Namespace, config: Config) -> Config:
    """Command-line flags override the config file (validated the same way)."""
    update: dict[str, object] = {}
    otlp = args.otlp_listen_address
    web = args.web_listen_address
    if otlp is not None:
        update["otlp"] = config.otlp.model_copy(update={"listen_address": otlp})
    web_update: dict[str, object] = {}
    if web is not None:
        web_update["listen_address"] = web
    if args.web_config_file is not None:
        web_update["config_file"] = Path(args.web_config_file)
    if web_update:
        update["web"] = config.web.model_copy(update=web_update)
    if args.tenants_file is not None:
        update["tenants_file"] = Path(args.tenants_file)
    if args.routing_file is not None:
        update["routing_file"] = Path(args.routing_file)
    if args.budgets is not None:
        update["budgets_file"] = Path(args.budgets)
    return config.model_copy(update=update) if update else config


def _listen_address(value: str) -> str:
    import pydantic

    try:
        return pydantic.TypeAdapter(ListenAddress).validate_python(value)
    except pydantic.ValidationError as exc:
        raise argparse.ArgumentTypeError(exc.errors()[0]["msg"].removeprefix("Value error, ")) from None


def cmd_serve(args: argparse.Namespace) -> int:
    from llm_cost_tracker import app as server
    from llm_cost_tracker.logfmt import setup_logging

    setup_logging(args.log_level)
    try:
        server.run(args.config, lambda config: _apply_serve_flags(args, config))
    except InputFileError as exc:
        print(f"Invalid configuration: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:  # runtime.ListenError names the address and the flag
        print(exc if exc.__class__.__name__ == "ListenError" else f"cannot listen: {exc}", file=sys.stderr)
        return 1
    return 0


def cmd_prices_lookup(args: argparse.Namespace) -> int:
    from llm_cost_tracker.app import build_resolver
    from llm_cost_tracker.config import load_config
    from llm_cost_tracker.exporter.dialects import cloud_provider, normalise_provider
    from llm_cost_tracker.pricing.lookup import lookup_lines

    try:
        resolver = build_resolver(load_config(args.config))
    except InputFileError as exc:
        print(f"Invalid configuration: {exc}", file=sys.stderr)
        return 1
    provider = cloud_provider(args.model, normalise_provider(args.provider))
    at = None if args.date else args.at or datetime.fromtimestamp(args.clock(), UTC)
    lines, priced = lookup_lines(resolver, provider, args.model, args.service_tier, at, args.date)
    print("\n".join(lines))
    if not priced:
        print(
            f"no price for {provider}/{args.model}: calls to it cost $0 and are counted in "
            "llm_unpriced_requests_total; add it to your price overrides (docs/configuration.md#price-overrides)",
            file=sys.stderr,
        )
        return 1
    return 0


def _instant(value: str) -> datetime:
    """``2026-12-02T14:00:00Z`` or ``2026-12-02 14:00`` (UTC when no offset is given)."""
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an ISO 8601 date and time: {value!r}") from None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def cmd_tenants_token(args: argparse.Namespace) -> int:
    """A new random bearer token for an org, and the line of the tenants file that admits it."""
    import re
    import secrets

    from llm_cost_tracker.tenancy.tenants import ORG_PATTERN, token_sha256

    if not re.match(ORG_PATTERN, args.org) or args.org.startswith("__"):
        print(f"--org {args.org!r}: an org is letters, digits and _ . - (at most 64)", file=sys.stderr)
        return 2
    token = f"lct_{secrets.token_urlsafe(32)}"
    key = "ingest_tokens_sha256" if args.kind == "ingest" else "read_tokens_sha256"
    use = (
        "apps send it: OTEL_EXPORTER_OTLP_HEADERS=Authorization=Bearer%20<token>"
        if args.kind == "ingest"
        else "for GET /tenants/<org>/metrics and /tenants/<org>/routing: Authorization: Bearer <token>"
    )
    print(f"token: {token}")
    print(f"# {args.kind} token of org {args.org}; {use}. Keep the token secret; the hash is not.")
    print(f"# In the tenants file, under `- org: {args.org}`, add the hash to {key}:")
    print(f"{key}: [{token_sha256(token)}]")
    return 0


def cmd_routing_show(args: argparse.Namespace) -> int:
    from llm_cost_tracker.routing.document import RoutingFileError
    from llm_cost_tracker.routing.store import RoutingStore

    store = RoutingStore(args.routing)
    if not store.path.exists():
        print(f"{store.path}: no routing file, so no model swaps")
        return 0
    try:
        document = store.read()
    except RoutingFileError as exc:  # FILE:LINE:COLUMN: ..., as compilers and promtool say it
        print(f"{store.path}:{exc.where + ':' if exc.where else ''} {exc}", file=sys.stderr)
        return 1
    print(f"{store.path}: generation {document.generation}, updated {document.updated_at or '-'}")

    def scope(rule_scope: dict[str, str]) -> str:
        return ",".join(f"{k}={v}" for k, v in rule_scope.items()) or "(everywhere)"

    if not document.overrides and not document.pins:
        print("no model swaps in force")
    if document.overrides:
        print(f"\n{'budget':<24} {'scope':<32} {'from':<28} {'to':<28} since")
        for o in document.overrides:
            print(f"{o.budget:<24} {scope(dict(o.scope)):<32} {o.from_:<28} {o.to:<28} {o.since}")
    if document.pins:
        print(f"\npins (set by people, win over budget swaps)\n{'scope':<32} {'from':<28} {'to':<28} note")
        for p in document.pins:
            print(f"{scope(dict(p.scope)):<32} {p.from_:<28} {p.to:<28} {p.note}")
    return 0


def cmd_reconcile(args: argparse.Namespace) -> int:
    """Billed against tracked, per provider, project and UTC day."""
    from llm_cost_tracker import reconcile
    from llm_cost_tracker.config import load_config
    from llm_cost_tracker.history import HistoryError
    from llm_cost_tracker.rules.model import Resolution

    now = datetime.fromtimestamp(args.clock(), UTC)
    try:
        offset = Resolution.parse("1m", args.query_offset).offset_seconds
        if args.period:
            start, end = reconcile.month_window(args.period)
        elif args.from_ or args.to:
            if not (args.from_ and args.to):
                raise ValueError("--from and --to go together (or give --period YYYY-MM)")
            start, end = reconcile.parse_day(args.from_, "--from"), reconcile.parse_day(args.to, "--to")
            if end <= start:
                raise ValueError(f"--to ({args.to}) must be after --from ({args.from_})")
        else:
            start, end = reconcile.default_window(now.date())
    except ValueError as exc:
        print(exc, file=sys.stderr)
        return 2
    try:
        config = load_config(args.config)
    except InputFileError as exc:
        print(f"Invalid configuration: {exc}", file=sys.stderr)
        return 1
    if config.reconcile is None:
        print(
            f"{args.config or '(bundled default config)'}: no `reconcile:` section: list the providers whose bills "
            "to read (docs/reconcile.md)",
            file=sys.stderr,
        )
        return 1
    end = min(end, now.date() + timedelta(days=1))
    try:
        history = history_from_args(args, offset)
        result = reconcile.run(config.reconcile, history, start, end, by_model=args.by == "model", now=now)
    except InputFileError as exc:
        print(f"Invalid --http.config.file: {exc}", file=sys.stderr)
        return 1
    except (reconcile.ReconcileError, HistoryError) as exc:
        print(f"reconcile: {exc}", file=sys.stderr)
        return 1
    if end > now.date():
        result.notes.append(f"{now.date()} is not over: its figures are partial on both sides")
    write_output(reconcile.render(result, args.format), args.output)
    if args.format != "table":
        for note in result.notes:
            print(f"note: {note}", file=sys.stderr)
    return 0


def _report_window(args: argparse.Namespace, now: datetime) -> tuple[datetime, datetime]:
    """``--period YYYY-MM`` or ``--from``/``--to`` (instants, UTC unless an offset is given); default: this month
    to now. Raises ``ValueError``."""
    from llm_cost_tracker.clock import iso_utc, midnight
    from llm_cost_tracker.reconcile import month_window

    if args.period:
        first, following = month_window(args.period)
        return midnight(first), midnight(following)
    if args.from_ or args.to:
        if not args.from_:
            raise ValueError("--to needs --from (or give --period YYYY-MM)")
        start = _instant(args.from_)
        end = _instant(args.to) if args.to else now
        if end <= start:
            raise ValueError(f"--to ({iso_utc(end)}) must be after --from ({iso_utc(start)})")
        return start, end
    return midnight(now.date().replace(day=1)), now


def cmd_report(args: argparse.Namespace) -> int:
    """What was spent in a period, by the labels of ``--by``."""
    from llm_cost_tracker import report
    from llm_cost_tracker.history import HistoryError
    from llm_cost_tracker.rules.model import Resolution
    from llm_cost_tracker.rules.spec import load_budgets

    now = datetime.fromtimestamp(args.clock(), UTC).replace(microsecond=0)
    try:
        offset = Resolution.parse("1m", args.query_offset).offset_seconds
        start, end = _report_window(args, now)
        by = tuple(name.strip() for name in args.by.split(",") if name.strip())
        unknown = [name for name in by if name not in report.GROUP_LABELS]
        if unknown or len(set(by)) != len(by):
            raise ValueError(
                f"--by {args.by!r}: a comma-separated list of distinct labels among {', '.join(report.GROUP_LABELS)}"
            )
    except (ValueError, argparse.ArgumentTypeError) as exc:
        print(exc, file=sys.stderr)
        return 2
    try:
        budgets = load_budgets(args.budgets) if args.budgets else None
        history = history_from_args(args, offset)
        result = report.build(history, start, end, by, now=now, budgets=budgets, detail=args.format == "html")
    except InputFileError as exc:
        print(f"Invalid input file: {exc}", file=sys.stderr)
        return 1
    except HistoryError as exc:
        print(f"report: {exc}", file=sys.stderr)
        return 1
    write_output(report.render(result, args.format, now), args.output)
    if args.format not in ("table", "html"):
        for note in result.notes:
            print(f"note: {note}", file=sys.stderr)
    return 0


def history_from_args(args: argparse.Namespace, offset_seconds: int) -> PrometheusHistory:
    """The Prometheus of ``add_prometheus_flags``; raises ``InputFileError`` for a bad ``--http.config.file``."""
    from llm_cost_tracker.history import PrometheusHistory

    return PrometheusHistory(
        args.prometheus_url,
        http_config_file=args.http_config_file,
        timeout_seconds=args.prometheus_timeout,
        query_offset_seconds=offset_seconds,
    )


def add_prometheus_flags(parser: argparse.ArgumentParser) -> None:
    """How a command reads the user's Prometheus (as promtool's query commands do)."""
    parser.add_argument(
        "--prometheus.url",
        dest="prometheus_url",
        required=True,
        metavar="URL",
        help="Prometheus to read, e.g. http://127.0.0.1:9090 (Mimir, Thanos: their Prometheus API prefix)",
    )
    parser.add_argument(
        "--http.config.file",
        dest="http_config_file",
        metavar="FILE",
        help="Prometheus http_config file: basic_auth, authorization (bearer), tls_config",
    )
    parser.add_argument(
        "--prometheus.timeout",
        dest="prometheus_timeout",
        type=float,
        default=60.0,
        metavar="SECONDS",
        help="how long to wait for each query (default 60)",
    )
    parser.add_argument(
        "--query-offset",
        default="10s",
        metavar="DURATION",
        help="the --query-offset the rules were generated with (default 10s)",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="llm-cost-tracker",
        description="Prometheus-native LLM cost tracker: OTLP GenAI telemetry in, priced counters out.",
        **examples(
            "llm-cost-tracker serve                      # OTLP on :4318, /metrics on :9464",
            "llm-cost-tracker rules generate --budgets budgets.yaml -o llm-budgets.rules.yaml",
            "llm-cost-tracker prices lookup openai gpt-4o",
        ),
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = command_group(parser, "command")

    serve = commands.add_parser(
        "serve",
        help="run the OTLP receiver and the /metrics endpoint",
        **examples(
            "llm-cost-tracker serve --config llm-cost-tracker.yaml",
            "llm-cost-tracker serve --otlp.listen-address 0.0.0.0:4319 --web.listen-address 127.0.0.1:9465",
        ),
    )
    serve.add_argument("--config", metavar="FILE", help="configuration file (default: the bundled default)")
    serve.add_argument("--budgets", metavar="FILE", help="budgets file, for model swaps")
    serve.add_argument("--routing-file", metavar="FILE", help="routing file the webhook receiver writes")
    serve.add_argument(
        "--tenants.file",
        dest="tenants_file",
        metavar="FILE",
        help="tenants file: bearer tokens, orgs, projects and limits (default: open ingest, one org)",
    )
    serve.add_argument(
        "--web.config.file",
        dest="web_config_file",
        metavar="FILE",
        help="exporter-toolkit web configuration (TLS, basic_auth_users) for the web port",
    )
    serve.add_argument(
        "--otlp.listen-address",
        dest="otlp_listen_address",
        metavar="HOST:PORT",
        type=_listen_address,
        help="OTLP/HTTP listen address (default 127.0.0.1:4318)",
    )
    serve.add_argument(
        "--web.listen-address",
        dest="web_listen_address",
        metavar="HOST:PORT",
        type=_listen_address,
        help="metrics, webhook and admin listen address (default 127.0.0.1:9464)",
    )
    serve.add_argument(
        "--log.level",
        dest="log_level",
        default="info",
        choices=("debug", "info", "warning", "error"),
        help="log level (default info)",
    )
    serve.set_defaults(func=cmd_serve)

    prices = command_group(commands.add_parser("prices", help="inspect the price catalog"), "prices_command")
    lookup = prices.add_parser(
        "lookup",
        help="the per-token prices of a model and their source",
        **examples(
            "llm-cost-tracker prices lookup openai gpt-4o",
            "llm-cost-tracker prices lookup anthropic claude-sonnet-4-5 --at 2026-11-01T12:00:00Z",
            "llm-cost-tracker prices lookup deepseek deepseek-chat --date 2026-12-01   # every price of that day",
        ),
    )
    lookup.add_argument("provider", metavar="PROVIDER", help="provider, e.g. openai, anthropic, gcp.vertex_ai")
    lookup.add_argument("model", metavar="MODEL", help="model name as the API reports it")
    when = lookup.add_mutually_exclusive_group()
    when.add_argument("--at", type=_instant, metavar="TIME", help="the instant to price at, UTC (default: now)")
    when.add_argument(
        "--date", type=date.fromisoformat, metavar="DAY", help="show every price of this UTC day (time-of-day rates)"
    )
    lookup.add_argument("--service-tier", default="", help="service tier, e.g. priority, flex, batch")
    lookup.add_argument("--config", metavar="FILE", help="configuration file (its price overrides apply)")
    lookup.set_defaults(func=cmd_prices_lookup)

    tenants = command_group(commands.add_parser("tenants", help="tenants file helpers"), "tenants_command")
    token = tenants.add_parser(
        "token",
        help="mint a bearer token for an org and print the line for the tenants file",
        **examples(
            "llm-cost-tracker tenants token --org acme", "llm-cost-tracker tenants token --org acme --kind read"
        ),
    )
    token.add_argument("--org", required=True, help="the org the token speaks for")
    token.add_argument(
        "--kind",
        choices=("ingest", "read"),
        default="ingest",
        help="ingest (apps push OTLP with it, the default) or read (the org's metrics and routing)",
    )
    token.set_defaults(func=cmd_tenants_token)

    add_rules_commands(commands)

    report = commands.add_parser(
        "report",
        help="what was spent in a period, by org, project, model: table, csv, json or html",
        **examples(
            "llm-cost-tracker report --prometheus.url http://127.0.0.1:9090 --period 2026-11",
            "llm-cost-tracker report --prometheus.url http://prom:9090 --period 2026-11 --by project --format csv "
            "-o chargeback.csv",
            "llm-cost-tracker report --prometheus.url http://prom:9090 --budgets budgets.yaml --format html "
            "-o november.html --period 2026-11",
        ),
    )
    add_prometheus_flags(report)
    span = report.add_mutually_exclusive_group()
    span.add_argument("--period", metavar="YYYY-MM", help="a calendar month, UTC (default: this month to now)")
    span.add_argument(
        "--from", dest="from_", metavar="TIME", help="start, exclusive: 2026-11-01 or 2026-11-01T00:00:00Z"
    )
    report.add_argument("--to", metavar="TIME", help="end, inclusive (default: now)")
    report.add_argument(
        "--by", default="org,project,model", metavar="LABELS", help="group by these labels (default org,project,model)"
    )
    report.add_argument("--format", choices=("table", "csv", "json", "html"), default="table", help="output format")
    report.add_argument("--budgets", metavar="FILE", help="budget file: the HTML report shows each budget's status")
    report.add_argument("-o", "--output", metavar="FILE", help="write to FILE instead of standard output")
    report.set_defaults(func=cmd_report)

    reconcile = commands.add_parser(
        "reconcile",
        help="compare what OpenAI and Anthropic billed with what was tracked, per project and UTC day",
        **examples(
            "llm-cost-tracker reconcile --config llm-cost-tracker.yaml --prometheus.url http://127.0.0.1:9090",
            "llm-cost-tracker reconcile --config llm-cost-tracker.yaml --prometheus.url http://prom:9090 "
            "--period 2026-11 --by model",
            "llm-cost-tracker reconcile --config c.yaml --prometheus.url http://prom:9090 "
            "--from 2026-11-01 --to 2026-11-08 --format json -o week.json",
        ),
    )
    reconcile.add_argument(
        "--config", metavar="FILE", required=True, help="configuration file with a reconcile: section"
    )
    add_prometheus_flags(reconcile)
    window = reconcile.add_mutually_exclusive_group()
    window.add_argument("--period", metavar="YYYY-MM", help="a calendar month (default: this month's complete days)")
    window.add_argument("--from", dest="from_", metavar="DAY", help="first UTC day, e.g. 2026-11-01 (with --to)")
    reconcile.add_argument("--to", metavar="DAY", help="the UTC day after the last one (exclusive)")
    reconcile.add_argument(
        "--by", choices=("project", "model"), default="project", help="rows per project (default) or per model too"
    )
    reconcile.add_argument("--format", choices=("table", "json", "csv"), default="table", help="output format")
    reconcile.add_argument("-o", "--output", metavar="FILE", help="write to FILE instead of standard output")
    reconcile.set_defaults(func=cmd_reconcile)

    routing = command_group(commands.add_parser("routing", help="the routing file of model swaps"), "routing_command")
    show = routing.add_parser(
        "show",
        help="print the model swaps in force",
        **examples("llm-cost-tracker routing show --routing-file /var/lib/llm-cost-tracker/routing.yaml"),
    )
    show.add_argument(
        "--routing-file",
        "--routing",
        dest="routing",
        metavar="FILE",
        default="routing.yaml",
        help="routing file (default routing.yaml; --routing is the old name)",
    )
    show.set_defaults(func=cmd_routing_show)

    simulate = commands.add_parser(
        "simulate",
        help="send realistic LLM traffic as OTLP spans (demos, load)",
        **examples(
            "llm-cost-tracker simulate --duration 30",
            "llm-cost-tracker simulate --rate 200 --routing-file routing.yaml --seed 1",
        ),
    )
    simulate.add_argument(
        "--endpoint", default="http://127.0.0.1:4318", help="OTLP/HTTP endpoint (default http://127.0.0.1:4318)"
    )
    simulate.add_argument("--rate", type=float, default=20.0, help="LLM calls per second (default 20)")
    simulate.add_argument("--duration", type=float, default=0.0, help="seconds to run (default: until Ctrl-C)")
    simulate.add_argument("--routing-file", metavar="FILE", help="routing file the simulated apps obey (model swaps)")
    simulate.add_argument("--seed", type=int, help="random seed, for repeatable traffic")
    simulate.set_defaults(func=cmd_simulate)
    return parser


def cmd_simulate(args: argparse.Namespace) -> int:
    from llm_cost_tracker import simulate

    return simulate.main(args.endpoint, args.rate, args.duration, args.routing_file, args.seed)


def main(argv: Sequence[str] | None = None, *, clock: Clock = system_clock) -> int:
    """Run the command ``argv``; ``clock`` is the wall clock of commands that need "today"."""
    args = build_parser().parse_args(argv)
    args.clock = clock
    result: int = args.func(args)
    return result


if __name__ == "__main__":
    sys.exit(main())
