"""Studies: each a function (budget, out, seed) -> StudyResult, writing its own run dir.

A study module defines ``STUDY = Study(...)``; modules in this package are found
by name so each capability adds its section without touching a central list.
`alignlab study` runs every study in `order`; `alignlab repro NAME` runs one.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from alignlab.report import Run, Section, write_report


@dataclass
class StudyResult:
    metrics: dict[str, Any]
    sections: list[Section] = field(default_factory=list)


@dataclass(frozen=True)
class Study:
    name: str
    """Name used by `alignlab repro NAME` and `alignlab study --only NAME`."""
    title: str
    run: Callable[[str, Path, int], StudyResult]
    """(budget, out_dir, seed) -> StudyResult; writes out_dir/result.json itself."""
    order: int = 50
    """Position in the full report (lower first)."""
    summary_keys: tuple[str, ...] = ()
    """Metrics shown in the terminal summary table of `alignlab study`."""


def all_studies() -> dict[str, Study]:
    """Every `STUDY` defined by a module of this package, sorted by `order`."""
    found = []
    for info in pkgutil.iter_modules(__path__):
        module = importlib.import_module(f"{__name__}.{info.name}")
        study = getattr(module, "STUDY", None)
        if isinstance(study, Study):
            found.append(study)
    return {s.name: s for s in sorted(found, key=lambda s: (s.order, s.name))}


def finish_study(run: Run, metrics: dict[str, Any], sections: list[Section]) -> StudyResult:
    """Write result.json and a one-study report.html; return what `alignlab study` collects."""
    run.finish(metrics)
    write_report(run.out / "report.html", f"alignlab: {run.study}", sections)
    return StudyResult(metrics, sections)
