"""Attack success rates you can trust: judge-error correction and bootstrap intervals.

A judge with sensitivity Se and specificity Sp flags a fraction
    p_obs = Se * p + (1 - Sp) * (1 - p)
of responses when the true success rate is p. Solving for p gives the Rogan–Gladen
estimator p = (p_obs + Sp - 1) / (Se + Sp - 1), clipped to [0, 1]. The interval
resamples both sources of error: the probes (which prompts we happened to test) and
the judge's calibration set (how well we know Se and Sp).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class JudgeErrors:
    """A judge's measured error rates, with the held-out labels and predictions behind them."""

    labels: tuple[int, ...]
    predictions: tuple[int, ...]

    @property
    def sensitivity(self) -> float:
        return sensitivity(self.labels, self.predictions)

    @property
    def specificity(self) -> float:
        return specificity(self.labels, self.predictions)

    @property
    def accuracy(self) -> float:
        return float(np.mean(np.array(self.labels) == np.array(self.predictions)))


def sensitivity(labels: Sequence[int], predictions: Sequence[int]) -> float:
    """True-positive rate: of the truly positive items, the fraction flagged."""
    y, p = np.asarray(labels), np.asarray(predictions)
    pos = y == 1
    return float(p[pos].mean()) if pos.any() else float("nan")


def specificity(labels: Sequence[int], predictions: Sequence[int]) -> float:
    """True-negative rate: of the truly negative items, the fraction not flagged."""
    y, p = np.asarray(labels), np.asarray(predictions)
    neg = y == 0
    return float(1 - p[neg].mean()) if neg.any() else float("nan")


def rogan_gladen(p_obs: float, se: float, sp: float) -> float:
    """Prevalence corrected for judge error, clipped to [0, 1].

    When Se + Sp <= 1 the judge is no better than chance and nothing can be
    recovered; we then return the observed rate unchanged.
    """
    denom = se + sp - 1
    if not np.isfinite(denom) or denom <= 0:
        return float(p_obs)
    return float(np.clip((p_obs + sp - 1) / denom, 0.0, 1.0))


@dataclass(frozen=True)
class Estimate:
    """One rate with its correction and 95% interval."""

    n: int
    raw: float
    corrected: float
    ci_low: float
    ci_high: float

    def as_metrics(self, prefix: str) -> dict[str, float | int]:
        return {f"{prefix}_raw": self.raw, f"{prefix}_corrected": self.corrected,
                f"{prefix}_ci_low": self.ci_low, f"{prefix}_ci_high": self.ci_high,
                f"{prefix}_n": self.n}


def percentile_interval(samples: np.ndarray, level: float = 0.95) -> tuple[float, float]:
    """Percentile bootstrap interval (linear interpolation between order statistics)."""
    tail = (1 - level) / 2 * 100
    low, high = np.percentile(samples, [tail, 100 - tail])
    return float(low), float(high)


def bootstrap_rate(flags: Sequence[int], judge: JudgeErrors | None = None, reps: int = 2000,
                   seed: int = 0, level: float = 0.95) -> Estimate:
    """Raw and corrected rate of `flags` (judge verdicts, 1 = success) with a bootstrap CI.

    Without `judge` the verdicts are taken as exact (a string match, say) and the
    interval covers prompt sampling only.
    """
    x = np.asarray(flags, dtype=float)
    if len(x) == 0:
        return Estimate(0, float("nan"), float("nan"), float("nan"), float("nan"))
    rng = np.random.default_rng(seed)
    raw = float(x.mean())
    obs = x[rng.integers(0, len(x), size=(reps, len(x)))].mean(axis=1)  # (reps,)
    if judge is None:
        low, high = percentile_interval(obs, level)
        return Estimate(len(x), raw, raw, low, high)
    corrected = rogan_gladen(raw, judge.sensitivity, judge.specificity)
    y, p = np.asarray(judge.labels), np.asarray(judge.predictions)
    idx = rng.integers(0, len(y), size=(reps, len(y)))                  # calibration resample
    boot = np.empty(reps)
    for r in range(reps):
        yb, pb = y[idx[r]], p[idx[r]]
        se = pb[yb == 1].mean() if (yb == 1).any() else judge.sensitivity
        sp = 1 - pb[yb == 0].mean() if (yb == 0).any() else judge.specificity
        boot[r] = rogan_gladen(obs[r], se, sp)
    low, high = percentile_interval(boot, level)
    return Estimate(len(x), raw, corrected, low, high)
