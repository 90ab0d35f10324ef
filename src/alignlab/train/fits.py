"""Gao, Schulman & Hilton (2022) functional forms of gold reward against d = √KL.

- best-of-n: R(d) = d(α − β·d)
- RL:        R(d) = d(α − β·log d)

Both are linear in (α, β), so least squares fits them exactly. R² is measured on
curves the fit did not see (held-out seeds), so a good score means the form
predicts, not just interpolates.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np


def _bon_features(d: np.ndarray) -> np.ndarray:
    return np.stack([d, -d * d], axis=1)


def _rl_features(d: np.ndarray) -> np.ndarray:
    safe = np.where(d > 0, d, 1.0)
    return np.stack([d, -d * np.log(safe)], axis=1)   # d·log d → 0 as d → 0


Points = Sequence[float] | np.ndarray
"""A sequence of d or gold values."""

FORMS: dict[str, Callable[[np.ndarray], np.ndarray]] = {"bon": _bon_features, "rl": _rl_features}
"""Form name -> features whose (α, β)-weighted sum is R(d)."""


@dataclass(frozen=True)
class Fit:
    form: str
    alpha: float
    beta: float

    def predict(self, d: Points) -> np.ndarray:
        return FORMS[self.form](np.asarray(d, dtype=float)) @ np.array([self.alpha, self.beta])

    @property
    def peak_d(self) -> float:
        """d at which the fitted gold peaks (inf when it never turns down)."""
        if self.beta <= 0:
            return float("inf")
        return self.alpha / (2 * self.beta) if self.form == "bon" else float(
            np.exp(self.alpha / self.beta - 1))


def fit_form(form: str, d: Points, gold: Points) -> Fit:
    """Least-squares (α, β) of `form` to points (d, gold gain over the initial policy)."""
    x = FORMS[form](np.asarray(d, dtype=float))
    alpha, beta = np.linalg.lstsq(x, np.asarray(gold, dtype=float), rcond=None)[0]
    return Fit(form, float(alpha), float(beta))


def r_squared(fit: Fit, d: Points, gold: Points) -> float:
    """1 − SS_res / SS_tot of the fit on the given points."""
    y = np.asarray(gold, dtype=float)
    residual = float(((y - fit.predict(d)) ** 2).sum())
    total = float(((y - y.mean()) ** 2).sum())
    return 1.0 - residual / total if total > 0 else float("nan")


def mean_curve(curves: Sequence[tuple[Points, Points]],
               ) -> tuple[np.ndarray, np.ndarray]:
    """Pointwise mean of several (d, gold) curves sampled at the same steps."""
    d = np.mean([np.asarray(c[0], dtype=float) for c in curves], axis=0)
    g = np.mean([np.asarray(c[1], dtype=float) for c in curves], axis=0)
    return d, g


def held_out_fit(form: str, curves: Sequence[tuple[Points, Points]],
                 n_fit: int) -> tuple[Fit, float]:
    """Fit on the mean of the first `n_fit` seeds' curves; R² on the mean of the rest."""
    if not 0 < n_fit < len(curves):
        raise ValueError(f"need curves to fit and to hold out; got {len(curves)}, n_fit={n_fit}")
    fit = fit_form(form, *mean_curve(curves[:n_fit]))
    return fit, r_squared(fit, *mean_curve(curves[n_fit:]))
