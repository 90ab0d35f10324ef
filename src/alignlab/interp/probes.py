"""Linear probes on activations: difference of means and logistic regression.

Difference-of-means directions generalize about as well as logistic probes and
are more causally implicated (Marks & Tegmark); logistic regression comes from
scikit-learn. Quality is the cross-validated AUROC; `layer_sweep` runs a probe at
every layer and `plot_sweep` draws the curve.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path

import numpy as np
import torch
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import StratifiedKFold
from torch import Tensor

from alignlab.report.plots import new_figure, save

Fit = Callable[[np.ndarray, np.ndarray], Callable[[np.ndarray], np.ndarray]]
"""A probe trainer: (X, y) -> scorer of new rows (higher = more like label 1)."""


def diff_of_means(pos: Tensor, neg: Tensor) -> Tensor:
    """Unit direction from the mean of `neg` to the mean of `pos` rows, (D,)."""
    direction = pos.float().mean(0) - neg.float().mean(0)
    return direction / direction.norm().clamp_min(1e-12)


def project(acts: Tensor, direction: Tensor) -> Tensor:
    """Score of each row along a direction, (N,)."""
    return acts.float() @ direction.float()


def auroc(scores: Tensor | np.ndarray, labels: Tensor | np.ndarray) -> float:
    """Area under the ROC curve of scores for labels 1 vs 0 (0.5 = chance)."""
    return float(roc_auc_score(np.asarray(labels), np.asarray(scores)))


def fit_mean_diff(x: np.ndarray, y: np.ndarray) -> Callable[[np.ndarray], np.ndarray]:
    d = diff_of_means(torch.from_numpy(x[y == 1]), torch.from_numpy(x[y == 0])).numpy()
    return lambda z: z @ d


def fit_logistic(x: np.ndarray, y: np.ndarray) -> Callable[[np.ndarray], np.ndarray]:
    # Standardize first: residual streams have a few huge dimensions that slow lbfgs down.
    mu, sd = x.mean(0), x.std(0) + 1e-6
    clf = LogisticRegression(C=1.0, max_iter=2000).fit((x - mu) / sd, y)
    return lambda z: clf.decision_function((z - mu) / sd)


PROBES: dict[str, Fit] = {"mean_diff": fit_mean_diff, "logistic": fit_logistic}


def cv_auroc(acts: Tensor, labels: Tensor | np.ndarray, probe: str = "mean_diff",
             folds: int = 5, seed: int = 0) -> float:
    """Mean held-out AUROC over stratified folds of a probe trained on the other folds."""
    x = acts.float().numpy()
    y = np.asarray(labels).astype(int)
    folds = max(2, min(folds, int(np.bincount(y).min())))
    splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    scores = []
    for train, test in splitter.split(x, y):
        scorer = PROBES[probe](x[train], y[train])
        scores.append(auroc(scorer(x[test]), y[test]))
    return float(np.mean(scores))


def layer_sweep(acts_by_layer: Mapping[int, Tensor], labels: Tensor | np.ndarray,
                probe: str = "mean_diff", folds: int = 5, seed: int = 0) -> dict[int, float]:
    """Cross-validated AUROC of the same probe at every layer."""
    return {layer: cv_auroc(acts, labels, probe, folds, seed)
            for layer, acts in sorted(acts_by_layer.items())}


def plot_sweep(path: Path, curves: Mapping[str, Mapping[int, float]], title: str,
               ylabel: str = "AUROC") -> Path:
    """One line per curve (e.g. probe, control, random direction) over layers."""
    fig, ax = new_figure(6.5, 4.0)
    for label, curve in curves.items():
        layers = sorted(curve)
        ax.plot(layers, [curve[k] for k in layers], marker="o", label=label)
    ax.axhline(0.5, color="#999", linestyle=":", linewidth=1)
    ax.set_xlabel("layer")
    ax.set_ylabel(ylabel)
    ax.set_ylim(0, 1.02)
    ax.set_title(title)
    ax.legend()
    return save(fig, path)
