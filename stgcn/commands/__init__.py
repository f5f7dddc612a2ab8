"""One module per `stgcn` subcommand, each with `add_arguments(parser)` and `run(args) -> int`."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable

from stgcn.errors import StgcnError


def tool_main(description: str, add_arguments: Callable, run: Callable, argv: list[str] | None) -> int:
    """Entry point of a `tools/*.py` script: parse, run, print user errors on one line (exit 2)."""
    parser = argparse.ArgumentParser(description=description)
    add_arguments(parser)
    args = parser.parse_args(argv)
    try:
        return run(args)
    except StgcnError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
