"""Small plotting helpers on matplotlib's headless backend."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # no display on servers and CI
import matplotlib.pyplot as plt  # noqa: E402


def new_figure(width: float = 6.0, height: float = 4.0) -> tuple[Any, Any]:
    fig, ax = plt.subplots(figsize=(width, height), dpi=110)
    return fig, ax


def save(fig: Any, path: Path) -> Path:
    fig.tight_layout()
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return Path(path)


def bar_chart(path: Path, labels: list[str], values: list[float], title: str, ylabel: str,
              errors: list[tuple[float, float]] | None = None) -> Path:
    """Bars with optional (low, high) intervals drawn as error bars."""
    fig, ax = new_figure(max(5.0, 0.6 * len(labels) + 2), 4.0)
    yerr = None
    if errors is not None:
        yerr = [[v - lo for v, (lo, _) in zip(values, errors, strict=True)],
                [hi - v for v, (_, hi) in zip(values, errors, strict=True)]]
    ax.bar(labels, values, yerr=yerr, capsize=4, color="#4c72b0")
    ax.set_title(title)
    ax.set_ylabel(ylabel)
    ax.tick_params(axis="x", rotation=30)
    return save(fig, path)
