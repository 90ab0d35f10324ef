"""A run directory: config.json, metrics.jsonl, result.json, figures, checkpoints.

Every command that takes ``--out DIR`` writes through one `Run`, so the result
contract (``result.json`` with study, budget, seconds, metrics, config, versions)
holds everywhere.
"""

from __future__ import annotations

import json
import os
import platform
import random
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

from alignlab.config import to_jsonable
from alignlab.report.compute import compute_record

BUDGETS = ("smoke", "tour", "quick", "full")
_UMASK = os.umask(0)
os.umask(_UMASK)


def atomic_write_text(path: Path, text: str) -> None:
    """Write via a temporary file and rename, so a crash never leaves half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(text)
    os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp makes files private; give them the usual mode
    os.replace(tmp, path)


def versions() -> dict[str, str]:
    """Versions of Python and of the libraries whose behaviour shapes the numbers."""
    out = {"python": platform.python_version(), "platform": platform.platform()}
    for name in ("alignlab", "torch", "transformers", "peft", "numpy", "scikit-learn"):
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            pass
    return out


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch so the same seed gives the same numbers."""
    random.seed(seed)
    try:
        import numpy as np

        np.random.seed(seed % 2**32)
    except ImportError:
        pass
    try:
        import torch

        torch.manual_seed(seed)
    except ImportError:
        pass


@dataclass
class Run:
    """One run directory. Create it, `log` metrics as you go, then `finish`."""

    out: Path
    study: str
    config: Any = None
    budget: str = "quick"
    seed: int = 0
    started: float = field(default_factory=time.time)
    train_flops: float = 0.0
    """Training compute accumulated with `add_flops` (estimate: 6·params·tokens)."""

    def __post_init__(self) -> None:
        self.out = Path(self.out)
        self.out.mkdir(parents=True, exist_ok=True)
        (self.out / "figures").mkdir(exist_ok=True)
        atomic_write_text(self.out / "config.json", json.dumps(
            {"study": self.study, "budget": self.budget, "seed": self.seed,
             "config": to_jsonable(self.config)}, indent=2))
        seed_everything(self.seed)

    def log(self, step: int | None = None, **metrics: Any) -> None:
        """Append one line to metrics.jsonl (flushed at once, so nothing is lost)."""
        record = {"step": step, "time": round(time.time() - self.started, 3), **metrics}
        with open(self.out / "metrics.jsonl", "a", encoding="utf-8") as fh:
            fh.write(json.dumps(to_jsonable(record)) + "\n")

    def add_flops(self, flops: float) -> None:
        self.train_flops += float(flops)

    def figure_path(self, name: str) -> Path:
        return self.out / "figures" / (name if name.endswith(".png") else f"{name}.png")

    def finish(self, metrics: Mapping[str, Any], **extra: Any) -> dict[str, Any]:
        """Write result.json per the contract and return it."""
        result = {
            "study": self.study,
            "budget": self.budget,
            "seed": self.seed,
            "seconds": round(time.time() - self.started, 2),
            "metrics": to_jsonable(dict(metrics)),
            "config": to_jsonable(self.config),
            "versions": versions(),
            "compute": compute_record(self.train_flops),
            **to_jsonable(extra),
        }
        atomic_write_text(self.out / "result.json", json.dumps(result, indent=2))
        return result


def read_metrics(out: Path) -> list[dict[str, Any]]:
    path = Path(out) / "metrics.jsonl"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def save_checkpoint(out: Path, state: Mapping[str, Any], step: int) -> Path:
    """Save `state` (anything torch.save takes) atomically as the run's latest checkpoint."""
    import torch

    ckpt_dir = Path(out) / "checkpoints"
    ckpt_dir.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=ckpt_dir, prefix=".ckpt.")
    os.close(fd)
    torch.save({"step": step, **state}, tmp)
    final = ckpt_dir / "latest.pt"
    os.replace(tmp, final)
    return final


def load_checkpoint(out: Path) -> dict[str, Any] | None:
    """The latest checkpoint of a run, or None when the run has none (a fresh start)."""
    import torch

    path = Path(out) / "checkpoints" / "latest.pt"
    if not path.exists():
        return None
    return torch.load(path, weights_only=False)  # our own file, written by save_checkpoint
