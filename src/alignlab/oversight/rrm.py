"""Recursive reward modeling (Leike et al. 2018) on a task the evaluator cannot judge whole.

The task at depth d: a list of 2**d digits and a claimed total. The evaluator is
exact on small pieces (adding up to `capacity` numbers) but on anything longer
can only estimate, with noise that grows with the length, so its direct labels of
deep tasks are poor. Assistance decomposes: a helper splits the list in two halves
and states each half's total; the evaluator checks only that the two halves add
up to the claim, and the half claims are judged by the reward model already
trained one level down. Each level's reward model is trained on its labels and
then assists the next level: the recursion of the agenda, with gold known at
every depth.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sklearn.neural_network import MLPClassifier


@dataclass(frozen=True)
class RRMConfig:
    depths: tuple[int, ...] = (1, 2, 3, 4)
    """Task depths; a depth-d task has 2**d numbers."""
    train_size: int = 4000
    """Labelled tasks per depth for training its reward model."""
    test_size: int = 2000
    """Held-out tasks per depth, scored against gold."""
    capacity: int = 2
    """Numbers the evaluator can add exactly."""
    noise: float = 1.5
    """Evaluator's estimate noise: sd = noise * sqrt(numbers beyond capacity)."""
    helper_error: float = 0.05
    """Chance that each half total the helper states is off."""
    hidden: int = 64
    """Width of the reward model's two hidden layers."""


def make_tasks(depth: int, n: int, rng: np.random.Generator,
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(numbers (n, 2**depth), claims (n,), gold (n,) bool); half the claims are right,
    the others off by 1-3."""
    numbers = rng.integers(0, 10, size=(n, 2 ** depth))
    right = rng.random(n) < 0.5
    off = rng.integers(1, 4, size=n) * rng.choice([-1, 1], size=n)
    claims = numbers.sum(1) + np.where(right, 0, off)
    return numbers, claims, right


def direct_labels(numbers: np.ndarray, claims: np.ndarray, cfg: RRMConfig,
                  rng: np.random.Generator) -> np.ndarray:
    """The evaluator judges the whole task: exact within capacity, a noisy estimate beyond."""
    beyond = max(0, numbers.shape[1] - cfg.capacity)
    estimate = numbers.sum(1) + rng.normal(0, cfg.noise * np.sqrt(beyond), len(claims))
    return np.abs(estimate - claims) < 0.5


def helper_halves(numbers: np.ndarray, cfg: RRMConfig, rng: np.random.Generator,
                  ) -> tuple[np.ndarray, np.ndarray]:
    """The helper's stated totals of the left and right halves, each sometimes off."""
    half = numbers.shape[1] // 2
    stated = []
    for part in (numbers[:, :half], numbers[:, half:]):
        wrong = rng.random(len(part)) < cfg.helper_error
        slip = rng.integers(1, 4, size=len(part)) * rng.choice([-1, 1], size=len(part))
        stated.append(part.sum(1) + np.where(wrong, slip, 0))
    return stated[0], stated[1]


def assisted_labels(numbers: np.ndarray, claims: np.ndarray, cfg: RRMConfig,
                    rng: np.random.Generator, lower_rm: MLPClassifier | None) -> np.ndarray:
    """Accept when the halves add up to the claim (a two-number check the evaluator does
    exactly) and each half's stated total is accepted one level down: by the evaluator
    directly for single numbers, by the lower reward model otherwise."""
    left, right = helper_halves(numbers, cfg, rng)
    half = numbers.shape[1] // 2
    adds_up = left + right == claims
    checks = []
    for part, stated in ((numbers[:, :half], left), (numbers[:, half:], right)):
        if lower_rm is None:
            checks.append(direct_labels(part, stated, cfg, rng))
        else:
            checks.append(lower_rm.predict(rm_features(part, stated)).astype(bool))
    return adds_up & checks[0] & checks[1]


def rm_features(numbers: np.ndarray, claims: np.ndarray) -> np.ndarray:
    """The reward model sees the numbers and the claim, both raw (no hint of the sum)."""
    return np.column_stack([numbers, claims]).astype(float)


def train_rm(numbers: np.ndarray, claims: np.ndarray, labels: np.ndarray, cfg: RRMConfig,
             seed: int) -> MLPClassifier:
    model = MLPClassifier(hidden_layer_sizes=(cfg.hidden, cfg.hidden), max_iter=400,
                          early_stopping=True, random_state=seed)
    if len(np.unique(labels)) < 2:
        labels = labels.copy()
        labels[0] = not labels[0]  # one flipped label lets sklearn fit a (near-)constant
    return model.fit(rm_features(numbers, claims), labels.astype(int))


def run_recursion(cfg: RRMConfig, seed: int) -> dict[str, list[float]]:
    """Train direct, assisted and gold-label reward models at every depth (assisted ones
    recursively); return per-depth label accuracy and reward-model accuracy vs gold."""
    rng = np.random.default_rng(seed)
    out: dict[str, list[float]] = {k: [] for k in (
        "label_acc_direct", "label_acc_assisted", "rm_acc_direct", "rm_acc_assisted",
        "rm_acc_gold")}
    lower: MLPClassifier | None = None
    for depth in cfg.depths:
        x, c, gold = make_tasks(depth, cfg.train_size, rng)
        xt, ct, gold_t = make_tasks(depth, cfg.test_size, rng)
        labels = {"direct": direct_labels(x, c, cfg, rng),
                  "assisted": assisted_labels(x, c, cfg, rng, lower),
                  "gold": gold}
        models = {name: train_rm(x, c, lab, cfg, seed + depth) for name, lab in labels.items()}
        for name in ("direct", "assisted"):
            out[f"label_acc_{name}"].append(float((labels[name] == gold).mean()))
        for name, model in models.items():
            pred = model.predict(rm_features(xt, ct)).astype(bool)
            out[f"rm_acc_{name}"].append(float((pred == gold_t).mean()))
        lower = models["assisted"]
    return out
