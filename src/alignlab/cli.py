"""`alignlab ...`: the command line. Each module in `alignlab.commands` adds its
subcommands through a `register(subparsers)` function; user errors (bad target,
bad file, bad flag) end with a clear message and exit status 2, never a traceback."""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Sequence

from alignlab.data import DataError
from alignlab.models import TargetError

USER_ERRORS = (TargetError, DataError, FileNotFoundError, ValueError)


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The parser with every command listed; only `command`'s module is imported.

    The other commands get a bare placeholder (name and help): enough for the
    top-level `--help` and for argparse to reject a misspelt command.
    """
    from alignlab.commands import COMMANDS

    parser = argparse.ArgumentParser(
        prog="alignlab",
        description="A workbench for AI alignment: specify, train, break, inspect, oversee "
                    "and guard language models, measured against known gold objectives.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    wanted = COMMANDS[command][0] if command in COMMANDS else None
    registered = False
    for name, (module, help_text) in COMMANDS.items():
        if module != wanted:
            sub.add_parser(name, help=help_text)
        elif not registered:  # the module adds all its commands at once
            importlib.import_module(f"alignlab.commands.{module}").register(sub)
            registered = True
    return parser


def requested_command(argv: Sequence[str]) -> str | None:
    """The command named in argv (its first word that is not an option), if any."""
    return next((a for a in argv if not a.startswith("-")), None)


def main(argv: Sequence[str] | None = None) -> int:
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser(requested_command(argv)).parse_args(argv)
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
