"""The ``llm-cost-tracker`` command (also ``python -m llm_cost_tracker``)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from datetime import UTC, date, datetime
from pathlib import Path

from llm_cost_tracker import __version__
from llm_cost_tracker.config import Config, ListenAddress
from llm_cost_tracker.inputfile import InputFileError


def _apply_serve_flags(args: argparse.Namespace, config: Config) -> Config:
    """Command-line flags override the config file (validated the same way)."""
    update: dict[str, object] = {}
    otlp = args.otlp_listen_address
    web = args.web_listen_address
    if otlp is not None:
        update["otlp"] = config.otlp.model_copy(update={"listen_address": otlp})
    if web is not None:
        update["web"] = config.web.model_copy(update={"listen_address": web})
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
    from llm_cost_tracker.exporter import server
    from llm_cost_tracker.logfmt import setup_logging

    setup_logging(args.log_level)
    try:
        server.run(args.config, lambda config: _apply_serve_flags(args, config))
    except InputFileError as exc:
        print(f"Invalid configuration: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:
        print(f"cannot listen: {exc}", file=sys.stderr)
        return 1
    return 0


def cmd_prices_lookup(args: argparse.Namespace) -> int:
    from llm_cost_tracker.config import load_config
    from llm_cost_tracker.exporter.normalise import normalise_provider
    from llm_cost_tracker.exporter.server import build_resolver
    from llm_cost_tracker.pricing.resolver import day_number_of

    try:
        resolver = build_resolver(load_config(args.config))
    except InputFileError as exc:
        print(f"Invalid configuration: {exc}", file=sys.stderr)
        return 1
    day = args.date or datetime.now(tz=UTC).date()
    provider = normalise_provider(args.provider)
    price = resolver.resolve(provider, args.model, day_number_of(day), args.service_tier)
    if price is None:
        print(
            f"no price for {provider}/{args.model} on {day}: not in the catalog or the overrides "
            "(calls to it are counted in llm_unpriced_requests_total)",
            file=sys.stderr,
        )
        return 1
    print(f"provider:  {provider}")
    print(f"model:     {args.model}" + (f"  (catalog entry {price.catalog_ref})" if price.catalog_ref else ""))
    print(f"date:      {day} (UTC)" + (f", service tier {args.service_tier}" if args.service_tier else ""))
    print(f"source:    {price.source}")
    print()
    print(f"{'token type':<16}{'USD per 1M tokens':>20}{'USD per token':>20}")
    for name, value in (*price.base.by_token_type().items(), ("cache_write_1h", price.base.cache_write_1h)):
        print(f"{name:<16}{value.normalize():>20f}{float(value) / 1e6:>20.12g}")
    if price.base.per_request:
        print(f"{'per request':<16}{'':>20}{price.base.per_request.normalize():>20f}")
    for start, tier in price.tiers:
        print(f"\nabove {start} input tokens (the whole call):")
        for name, value in tier.by_token_type().items():
            print(f"{name:<16}{value.normalize():>20f}{float(value) / 1e6:>20.12g}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="llm-cost-tracker",
        description="Prometheus-native LLM cost tracker: OTLP GenAI telemetry in, priced counters out.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    serve = commands.add_parser("serve", help="run the OTLP receiver and the /metrics endpoint")
    serve.add_argument("--config", metavar="FILE", help="configuration file (default: the bundled default)")
    serve.add_argument("--budgets", metavar="FILE", help="budgets file, for model swaps")
    serve.add_argument("--routing-file", metavar="FILE", help="routing file the webhook receiver writes")
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

    prices = commands.add_parser("prices", help="inspect the price catalog").add_subparsers(
        dest="prices_command", required=True, metavar="COMMAND"
    )
    lookup = prices.add_parser("lookup", help="the per-token prices of a model and their source")
    lookup.add_argument("provider", metavar="PROVIDER", help="provider, e.g. openai, anthropic, gcp.vertex_ai")
    lookup.add_argument("model", metavar="MODEL", help="model name as the API reports it")
    lookup.add_argument("--date", type=date.fromisoformat, help="UTC day to price on (default today)")
    lookup.add_argument("--service-tier", default="", help="service tier, e.g. priority, flex, batch")
    lookup.add_argument("--config", metavar="FILE", help="configuration file (its price overrides apply)")
    lookup.set_defaults(func=cmd_prices_lookup)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    result: int = args.func(args)
    return result


if __name__ == "__main__":
    sys.exit(main())
