"""`alignlab study` (every section, one report) and `alignlab repro NAME` (one study)."""

from __future__ import annotations

import argparse
import time
import traceback
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from alignlab.commands import add_command
from alignlab.report import BUDGETS, Run, Section, paragraphs, write_report
from alignlab.studies import Study, all_studies


def register(sub: argparse._SubParsersAction) -> None:
    study = add_command(sub, "study")
    study.add_argument("--budget", choices=BUDGETS, default="tour",
                       help="tour: every section at its smallest meaningful size (default); "
                            "quick: acceptance size; full: paper scale; smoke: seconds")
    study.add_argument("--only", nargs="+", metavar="NAME", help="run only these sections")
    study.add_argument("--out", type=Path, default=Path("runs/study"), help="output directory")
    study.add_argument("--seed", type=int, default=0)
    study.set_defaults(func=cmd_study)

    repro = add_command(sub, "repro")
    repro.add_argument("name", help="study name (see `alignlab repro --list`)", nargs="?")
    repro.add_argument("--list", action="store_true", help="list the studies")
    repro.add_argument("--budget", choices=BUDGETS, default="quick")
    repro.add_argument("--out", type=Path, default=None, help="default: runs/NAME")
    repro.add_argument("--seed", type=int, default=0)
    repro.set_defaults(func=cmd_repro)


def _summary_value(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def run_sections(studies: list[Study], budget: str, out: Path, seed: int,
                 console: Console) -> tuple[list[Section], dict[str, Any], list[tuple]]:
    """Run each study in its own subdirectory; a failing one is reported, not fatal."""
    sections: list[Section] = []
    metrics: dict[str, Any] = {}
    rows = []
    for i, study in enumerate(studies, start=1):
        console.rule(f"[{i}/{len(studies)}] {study.title} ({study.name}, budget {budget})")
        start = time.perf_counter()
        try:
            result = study.run(budget, out / study.name, seed)
        except Exception as err:  # one broken section must not lose the others
            console.print(f"[red]{study.name} failed: {err}[/red]")
            sections.append(Section(study.title, paragraphs(traceback.format_exc()),
                                    status="failed"))
            rows.append((study.name, "failed", f"{time.perf_counter() - start:.0f}", str(err)))
            continue
        sections.extend(result.sections)
        metrics.update({f"{study.name}/{k}": v for k, v in result.metrics.items()})
        shown = ", ".join(f"{k}={_summary_value(result.metrics.get(k))}"
                          for k in study.summary_keys if k in result.metrics)
        rows.append((study.name, "ok", f"{time.perf_counter() - start:.0f}", shown))
    return sections, metrics, rows


def cmd_study(args: argparse.Namespace) -> int:
    console = Console()
    studies = all_studies()
    unknown = set(args.only or []) - set(studies)
    if unknown:
        raise ValueError(f"unknown section(s) {sorted(unknown)}; known: {', '.join(studies)}")
    chosen = [s for name, s in studies.items() if not args.only or name in args.only]
    run = Run(args.out, "study", {"sections": [s.name for s in chosen]}, args.budget, args.seed)
    sections, metrics, rows = run_sections(chosen, args.budget, args.out, args.seed, console)
    failed = [r[0] for r in rows if r[1] == "failed"]
    run.finish(metrics, sections={r[0]: r[1] for r in rows})
    write_report(args.out / "report.html", "alignlab study", sections,
                 summary=f"Budget {args.budget}, seed {args.seed}, {len(chosen)} sections.")
    table = Table("section", "status", "seconds", "key figures", title="alignlab study")
    for row in rows:
        table.add_row(*row)
    console.print(table)
    console.print(f"report: {args.out / 'report.html'}\nresult: {args.out / 'result.json'}")
    return 1 if failed else 0


def cmd_repro(args: argparse.Namespace) -> int:
    studies = all_studies()
    if args.list or not args.name:
        for name, s in studies.items():
            print(f"{name:<20} {s.title}")
        return 0
    if args.name not in studies:
        raise ValueError(f"unknown study {args.name!r}; known: {', '.join(studies)}")
    out = args.out or Path("runs") / args.name
    result = studies[args.name].run(args.budget, out, args.seed)
    table = Table("metric", "value", title=f"{args.name} ({args.budget})")
    for k, v in result.metrics.items():
        if not isinstance(v, (list, dict)):
            table.add_row(k, _summary_value(v))
    Console().print(table)
    print(f"result: {out / 'result.json'}\nreport: {out / 'report.html'}")
    return 0
