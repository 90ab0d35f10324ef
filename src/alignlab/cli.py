"""`alignlab ...`: the command line. Each module in `alignlab.commands` adds its
subcommands through a `register(subparsers)` function; user errors (bad target,
bad file, bad flag) end with a clear message and exit status 2, never a traceback."""

from __future__ import annotations

import argparse
import importlib
import os
import pkgutil
import sys
from collections.abc import Sequence

from alignlab.data import DataError
from alignlab.models import TargetError

USER_ERRORS = (TargetError, DataError, FileNotFoundError, ValueError)


def build_parser() -> argparse.ArgumentParser:
    import alignlab.commands as commands

    parser = argparse.ArgumentParser(
        prog="alignlab",
        description="A workbench for AI alignment: specify, train, break, inspect, oversee "
                    "and guard language models, measured against known gold objectives.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for info in sorted(pkgutil.iter_modules(commands.__path__), key=lambda m: m.name):
        importlib.import_module(f"{commands.__name__}.{info.name}").register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    args = build_parser().parse_args(argv)
    try:
        result = args.func(args)
    except USER_ERRORS as err:
        print(f"alignlab {args.command}: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    return int(result or 0)


if __name__ == "__main__":
    sys.exit(main())
