"""Compiles the exporter's hot path with mypyc; everything else is in pyproject.toml.

The modules below are plain, fully typed Python; mypyc turns them into C
extensions (about 40% more spans per second, see docs/benchmarks.md). Set
LLM_COST_TRACKER_PURE_PYTHON=1 to install them as Python, and a machine
without a C compiler gets the Python modules too, with a warning.
"""

import os
import sys

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

HOT_PATH = [
    "src/llm_cost_tracker/exporter/decode.py",
    "src/llm_cost_tracker/exporter/decode_json.py",
    "src/llm_cost_tracker/exporter/decode_points.py",
    "src/llm_cost_tracker/exporter/tokens.py",
    "src/llm_cost_tracker/exporter/normalise_points.py",
    "src/llm_cost_tracker/exporter/outcome.py",
    "src/llm_cost_tracker/exporter/labelling.py",
    "src/llm_cost_tracker/exporter/charge.py",
    "src/llm_cost_tracker/exporter/ingest_points.py",
    "src/llm_cost_tracker/exporter/aliases.py",
    "src/llm_cost_tracker/exporter/dialects.py",
    "src/llm_cost_tracker/usage.py",
    "src/llm_cost_tracker/exporter/normalise.py",
    "src/llm_cost_tracker/exporter/dedupe.py",
    "src/llm_cost_tracker/exporter/memory.py",
    "src/llm_cost_tracker/exporter/grouping.py",
    "src/llm_cost_tracker/exporter/ingest.py",
    "src/llm_cost_tracker/exporter/ledger.py",
    "src/llm_cost_tracker/exporter/series.py",
    "src/llm_cost_tracker/pricing/prices.py",
    "src/llm_cost_tracker/pricing/resolver.py",
]


class OptionalBuildExt(build_ext):
    """Build the C extensions if a compiler is there; otherwise the Python modules serve."""

    def run(self) -> None:
        try:
            super().run()
        except Exception as exc:  # any build failure means: ship pure Python
            print(f"warning: not compiling the hot path ({exc}); installing pure Python", file=sys.stderr)
            self.extensions = []


def extensions() -> list[Extension]:
    if os.environ.get("LLM_COST_TRACKER_PURE_PYTHON") == "1":
        return []
    try:
        from mypyc.build import mypycify
    except ImportError:
        print("warning: mypyc is not available; installing pure Python", file=sys.stderr)
        return []
    config = os.path.join(os.path.dirname(os.path.abspath(__file__)), "mypyc.ini")
    return mypycify(["--config-file", config, *HOT_PATH], opt_level="3", debug_level="0")


setup(ext_modules=extensions(), cmdclass={"build_ext": OptionalBuildExt})
