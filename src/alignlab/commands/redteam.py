"""`alignlab redteam`, `alignlab eval`, `alignlab judge`."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from alignlab.commands import add_command
from alignlab.config import add_config_args
from alignlab.report import BUDGETS, Run, write_report

RUN_FLAGS = ("suites", "attacks", "target")


def register(sub: argparse._SubParsersAction) -> None:
    from alignlab.redteam.runner import ATTACKS, RedteamConfig

    rt = add_command(sub, "redteam")
    rt.add_argument("--target", default="embedded", help="target spec (default: embedded)")
    rt.add_argument("--suite", nargs="+", default=["default"], metavar="NAME|FILE",
                    help="harmful, overrefusal, sycophancy, injection, default (all four), "
                         "or a JSONL/YAML file")
    rt.add_argument("--attack", nargs="+", default=None, metavar="NAME",
                    help=f"parts to run: {', '.join(ATTACKS)}, or converter names "
                         "(rot13, roleplay, rot13+roleplay...) (default: all)")
    _common(rt)
    add_config_args(rt, RedteamConfig, skip=RUN_FLAGS)
    rt.set_defaults(func=cmd_redteam)

    ev = add_command(sub, "eval")
    ev.add_argument("eval", choices=("sycophancy", "harmful", "overrefusal", "injection"))
    ev.add_argument("--target", default="embedded", help="target spec (default: embedded)")
    ev.add_argument("--suite", default=None, metavar="FILE",
                    help="a JSONL/YAML suite (default: the project's suite)")
    _common(ev)
    ev.set_defaults(func=cmd_eval)

    jd = add_command(sub, "judge")
    jd.add_argument("--input", required=True, type=Path, help="JSONL with prompt, response, label")
    jd.add_argument("--judge", choices=("harm", "refusal"), default="harm",
                    help="which judge (default: harm; label 1 = harmful / refused)")
    jd.add_argument("--out", type=Path, required=True, help="output directory")
    jd.set_defaults(func=cmd_judge)


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--budget", choices=BUDGETS, default="quick",
                        help="smoke, tour, quick (default) or full")
    parser.add_argument("--out", type=Path, required=True, help="output directory")
    parser.add_argument("--seed", type=int, default=0)


def _config(args: argparse.Namespace, suites: tuple[str, ...], attacks: tuple[str, ...] | None,
            ) -> Any:
    from alignlab.redteam.runner import ATTACKS, RedteamConfig, config_with
    from alignlab.redteam.runner import BUDGETS as RT_BUDGETS
    from alignlab.redteam.suites import DEFAULT_SUITES

    base = RT_BUDGETS[args.budget]
    changes = {f: getattr(args, f, None) for f in RedteamConfig.__dataclass_fields__
               if f not in RUN_FLAGS}
    changes = {k: tuple(v) if isinstance(v, list) else v for k, v in changes.items()}
    suites = tuple(s for name in suites for s in (DEFAULT_SUITES if name == "default" else [name]))
    if attacks is not None:
        named = tuple(a for a in attacks if a not in ATTACKS)
        if named:  # converter names given as attacks: run exactly those converters
            changes["converters"] = named
            attacks = tuple(a for a in attacks if a in ATTACKS) + ("direct", "converters")
        changes["attacks"] = tuple(dict.fromkeys(attacks))
    return config_with(base, **changes, target=args.target, suites=suites)


def _run(args: argparse.Namespace, config: Any, study: str) -> int:
    from alignlab.redteam.converters import get_converter
    from alignlab.redteam.report import sections
    from alignlab.redteam.suites import load_suite

    for name in config.converters:
        get_converter(name)  # a bad name fails before any model loads
    for suite in config.suites:
        load_suite(suite)
    from alignlab.redteam.runner import run_redteam

    run = Run(args.out, study, config, args.budget, args.seed)
    metrics, runs = run_redteam(config, args.out, args.seed)
    secs = sections(metrics, runs, run.figure_path, config.target)
    run.log(**metrics)
    run.finish(metrics)
    write_report(run.out / "report.html", f"alignlab {study}: {config.target}", secs)
    _print(metrics)
    print(f"wrote {run.out / 'result.json'}, {run.out / 'report.html'}, "
          f"{run.out / 'transcripts.jsonl'}")
    return 0


def _print(metrics: dict[str, Any]) -> None:
    table = Table("metric", "value", title="results")
    for k, v in metrics.items():
        if any(k.endswith(f"_{c}") for c in ("n",)) or k.count("_") > 3:
            continue
        table.add_row(k, f"{v:.3f}" if isinstance(v, float) else str(v))
    Console().print(table)


def cmd_redteam(args: argparse.Namespace) -> int:
    config = _config(args, tuple(args.suite), tuple(args.attack) if args.attack else None)
    return _run(args, config, "redteam")


def cmd_eval(args: argparse.Namespace) -> int:
    # "KIND:FILE" makes a user's file of plain prompts read as this eval's kind.
    suite = f"{args.eval}:{args.suite}" if args.suite else args.eval
    config = _config(args, (suite,), ("direct",))
    return _run(args, config, f"eval-{args.eval}")


def cmd_judge(args: argparse.Namespace) -> int:
    from alignlab.data import DataError, read_jsonl_dicts
    from alignlab.redteam.judges import evaluate_judge, load_harm_judge, load_refusal_judge

    rows = read_jsonl_dicts(args.input)
    for i, row in enumerate(rows, start=1):
        if "response" not in row or "label" not in row:
            raise DataError(f"{args.input}:{i}: each line needs 'response' and 'label' "
                            "(and 'prompt' for the harm judge)")
    judge = load_harm_judge() if args.judge == "harm" else load_refusal_judge()
    result = evaluate_judge(judge, rows)
    preds = result.pop("predictions")
    run = Run(args.out, f"judge-{args.judge}", {"input": str(args.input), "judge": args.judge})
    metrics = {**result, "calibration_accuracy": judge.accuracy,
               "calibration_sensitivity": judge.sensitivity,
               "calibration_specificity": judge.specificity}
    with open(run.out / "predictions.jsonl", "w", encoding="utf-8") as fh:
        for row, p in zip(rows, preds, strict=True):
            fh.write(json.dumps({**row, "prediction": p}, ensure_ascii=False) + "\n")
    run.finish(metrics)
    _print(metrics)
    return 0
