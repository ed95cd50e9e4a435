"""Help that teaches: every command's ``--help`` ends with examples, and a command group alone prints its help."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any


def examples(*lines: str) -> dict[str, Any]:
    """``add_parser`` keywords for a ``--help`` that ends with real examples, as promtool's and kubectl's do."""
    return {
        "epilog": "examples:\n" + "\n".join(f"  {line}" for line in lines),
        "formatter_class": argparse.RawDescriptionHelpFormatter,
    }


def command_group(parser: argparse.ArgumentParser, dest: str) -> Any:
    """Subcommands of ``parser``; the group alone (``llm-cost-tracker rules``) prints its help."""
    parser.set_defaults(func=lambda _args: _print_help(parser))
    return parser.add_subparsers(dest=dest, metavar="COMMAND")


def _print_help(parser: argparse.ArgumentParser) -> int:
    parser.print_help()
    return 0


def write_output(text: str, output: str | None) -> None:
    """``text`` to standard output (``-o`` absent or ``-``), else to the file, atomically (a temporary file
    renamed over it)."""
    if output is None or output == "-":
        sys.stdout.write(text)
        return
    path = Path(output)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text)
    tmp.replace(path)
