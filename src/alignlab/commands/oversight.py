"""`alignlab oversight debate-lm|judge-audit`: the LM oversight studies on any target.

`alignlab repro NAME` runs a study at a budget's fixed configuration; these commands
expose every configuration field as a flag (`--target`, `--questions`, ...) so the same
protocols run on a local model, a hub model or an OpenAI-compatible endpoint.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from rich.console import Console
from rich.table import Table

from alignlab.commands import add_command
from alignlab.config import add_config_args, config_from_args
from alignlab.studies import debate_lm, judge_audit

COMMANDS = {
    "debate-lm": (debate_lm.DebateLMConfig, debate_lm.run,
                  "naive judge vs consultancy vs debate on hidden fact tables"),
    "judge-audit": (judge_audit.JudgeAuditConfig, judge_audit.run,
                    "an LM judge's agreement with human labels, audited error estimates"),
}


def register(sub: argparse._SubParsersAction) -> None:
    parser = add_command(sub, "oversight")
    osub = parser.add_subparsers(dest="protocol", required=True)
    for name, (cls, _, help_text) in COMMANDS.items():
        p = osub.add_parser(name, help=help_text)
        add_config_args(p, cls)
        p.add_argument("--out", type=Path, default=Path("runs") / name, help="output directory")
        p.add_argument("--seed", type=int, default=0)
        p.set_defaults(func=cmd_oversight, protocol=name)


def cmd_oversight(args: argparse.Namespace) -> int:
    cls, run, _ = COMMANDS[args.protocol]
    result = run("custom", args.out, args.seed, config_from_args(cls, args))
    table = Table("metric", "value", title=args.protocol)
    for key, value in result.metrics.items():
        if not isinstance(value, (dict, list)):
            table.add_row(key, f"{value:.4g}" if isinstance(value, float) else str(value))
    Console().print(table)
    print(f"result: {args.out / 'result.json'}\nreport: {args.out / 'report.html'}")
    return 0
