"""Small statistics shared by the oversight studies: intervals and agreement."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np


def wilson(successes: float, n: int, z: float = 1.96) -> tuple[float, float]:
    """Wilson score interval of a proportion; sane at 0 and n, unlike the normal one."""
    if n == 0:
        return (0.0, 1.0)
    p = successes / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return (max(0.0, centre - half), min(1.0, centre + half))


def mean_ci(values: Sequence[float] | np.ndarray) -> tuple[float, tuple[float, float]]:
    """Mean of 0/1 outcomes with its Wilson interval."""
    arr = np.asarray(values, dtype=float)
    return float(arr.mean()), wilson(float(arr.sum()), len(arr))


def bootstrap_ci(stat: Callable[[np.ndarray], float], n: int, rounds: int = 1000,
                 seed: int = 0, level: float = 0.95) -> tuple[float, float]:
    """Percentile interval of `stat(indices)` over `rounds` resamples of range(n)."""
    rng = np.random.default_rng(seed)
    values = [stat(rng.integers(0, n, n)) for _ in range(rounds)]
    lo, hi = np.percentile(values, [100 * (1 - level) / 2, 100 * (1 + level) / 2])
    return (float(lo), float(hi))


def cohen_kappa(a: Sequence[int], b: Sequence[int]) -> float:
    """Cohen's kappa: observed agreement corrected for the agreement expected by chance
    from each rater's label frequencies, (p_o - p_e) / (1 - p_e)."""
    a_arr, b_arr = np.asarray(a), np.asarray(b)
    labels = np.union1d(a_arr, b_arr)
    p_o = float((a_arr == b_arr).mean())
    p_e = float(sum((a_arr == c).mean() * (b_arr == c).mean() for c in labels))
    return 1.0 if p_e == 1.0 else (p_o - p_e) / (1 - p_e)


def fmt_ci(value: float, ci: tuple[float, float]) -> str:
    return f"{value:.3f} [{ci[0]:.3f}, {ci[1]:.3f}]"
