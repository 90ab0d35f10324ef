"""Process vs outcome supervision on multi-step arithmetic with known step labels.

A problem is a start value and a chain of operations ("start 7, add 5, times 3").
A noisy generator writes solutions step by step, "a op b = c"; each step may slip
(c off by a few units or by ten), and after a slip a later step may *compensate*:
it writes the true running value even though that does not follow from its own
inputs, so the final answer is right while the reasoning is wrong.

Two verifiers with the same network and the same solutions:
- ORM (outcome): whole solution -> "final answer correct?".
- PRM (process, Lightman et al. 2023): step -> "step correct?", trained on the
  steps up to and including the first error; a solution's score is the product of
  its step probabilities.
Step labels come either from the gold arithmetic or, as in Math-Shepherd, from
Monte-Carlo rollouts of the generator from each prefix (a step is good when some
rollout from it reaches the right answer).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sklearn.neural_network import MLPClassifier

OPS = ("+", "-", "*")
MAX_STEPS = 6


@dataclass(frozen=True)
class GeneratorConfig:
    min_steps: int = 3
    """Fewest operations in a problem."""
    max_steps: int = 6
    """Most operations in a problem (at most MAX_STEPS)."""
    slip_range: tuple[float, float] = (0.03, 0.35)
    """Per-problem chance that a step slips is drawn uniformly from this range."""
    compensate: float = 0.35
    """After a slip, chance per later step that it jumps back to the true value."""


@dataclass
class Problem:
    start: int
    ops: list[tuple[str, int]]

    def values(self) -> list[int]:
        """True running value after each operation."""
        out, v = [], self.start
        for op, b in self.ops:
            v = apply(v, op, b)
            out.append(v)
        return out


@dataclass
class Solution:
    steps: list[tuple[int, str, int, int]]
    """Each step as (a, op, b, c): the solver wrote "a op b = c"."""

    @property
    def answer(self) -> int:
        return self.steps[-1][3]


def apply(a: int, op: str, b: int) -> int:
    return a + b if op == "+" else a - b if op == "-" else a * b


def step_correct(step: tuple[int, str, int, int]) -> bool:
    a, op, b, c = step
    return apply(a, op, b) == c


def first_error(sol: Solution) -> int | None:
    """Index of the first wrong step, or None for a fully correct trace."""
    return next((i for i, s in enumerate(sol.steps) if not step_correct(s)), None)


def make_problem(rng: np.random.Generator, cfg: GeneratorConfig) -> Problem:
    n = int(rng.integers(cfg.min_steps, cfg.max_steps + 1))
    ops = []
    for _ in range(n):
        op = OPS[int(rng.integers(0, 3))]
        b = int(rng.integers(2, 6)) if op == "*" else int(rng.integers(2, 40))
        ops.append((op, b))
    return Problem(int(rng.integers(2, 30)), ops)


def slip(rng: np.random.Generator) -> int:
    """A plausible arithmetic slip: a few units (last digit) or ten (a dropped carry)."""
    size = int(rng.integers(1, 4)) if rng.random() < 0.6 else 10
    return size if rng.random() < 0.5 else -size


def generate(problem: Problem, slip_p: float, cfg: GeneratorConfig, rng: np.random.Generator,
             prefix: list[tuple[int, str, int, int]] | None = None) -> Solution:
    """Write a solution step by step, continuing after `prefix` when given."""
    truth = problem.values()
    steps = list(prefix or [])
    value = steps[-1][3] if steps else problem.start
    for i in range(len(steps), len(problem.ops)):
        op, b = problem.ops[i]
        c = apply(value, op, b)
        off_track = i > 0 and value != truth[i - 1]
        if off_track and rng.random() < cfg.compensate:
            c = truth[i]  # back on track without justification
        if rng.random() < slip_p:
            c += slip(rng)
        steps.append((value, op, b, c))
        value = c
    return Solution(steps)


# ----- features and verifiers -----------------------------------------------------------

def _digits(v: int) -> np.ndarray:
    """One-hot of the last and the tens digit, a sign bit and a scaled magnitude."""
    out = np.zeros(22)
    out[abs(v) % 10] = 1
    out[10 + (abs(v) // 10) % 10] = 1
    out[20] = float(v < 0)
    out[21] = np.sign(v) * np.log1p(abs(v)) / 8
    return out


STEP_DIM = 3 + 3 * 22


def step_features(step: tuple[int, str, int, int]) -> np.ndarray:
    a, op, b, c = step
    onehot = np.zeros(3)
    onehot[OPS.index(op)] = 1
    return np.concatenate([onehot, _digits(a), _digits(b), _digits(c)])


def solution_features(sol: Solution) -> np.ndarray:
    """Step features in fixed slots plus a presence bit per slot, for the ORM."""
    out = np.zeros(MAX_STEPS * (STEP_DIM + 1))
    for i, step in enumerate(sol.steps):
        out[i * (STEP_DIM + 1):(i + 1) * (STEP_DIM + 1)] = np.append(step_features(step), 1.0)
    return out


def new_verifier(seed: int, hidden: int = 128) -> MLPClassifier:
    return MLPClassifier(hidden_layer_sizes=(hidden, hidden), max_iter=200,
                         early_stopping=True, random_state=seed)


def prm_training_set(solutions: list[Solution], labels: list[list[bool]],
                     ) -> tuple[np.ndarray, np.ndarray]:
    """Steps up to and including the first bad one (later steps are left unlabelled)."""
    x, y = [], []
    for sol, lab in zip(solutions, labels, strict=True):
        for step, good in zip(sol.steps, lab, strict=True):
            x.append(step_features(step))
            y.append(int(good))
            if not good:
                break
    return np.array(x), np.array(y)


def gold_step_labels(sol: Solution) -> list[bool]:
    return [step_correct(s) for s in sol.steps]


def mc_step_labels(problem: Problem, sol: Solution, slip_p: float, cfg: GeneratorConfig,
                   rollouts: int, rng: np.random.Generator, soft: bool = False) -> list[float]:
    """Math-Shepherd labels: from each prefix, roll the generator out `rollouts` times;
    hard = some rollout reaches the true answer, soft = the fraction that do."""
    answer = problem.values()[-1]
    labels = []
    for i in range(1, len(sol.steps) + 1):
        hits = sum(generate(problem, slip_p, cfg, rng, sol.steps[:i]).answer == answer
                   for _ in range(rollouts))
        labels.append(hits / rollouts if soft else float(hits > 0))
    return labels


def prm_scores(model: MLPClassifier, solutions: list[Solution]) -> np.ndarray:
    """Solution score = product of the PRM's per-step probabilities of being correct."""
    feats = np.array([step_features(s) for sol in solutions for s in sol.steps])
    p_good = model.predict_proba(feats)[:, 1]
    owners = np.repeat(np.arange(len(solutions)), [len(sol.steps) for sol in solutions])
    log_score = np.zeros(len(solutions))
    np.add.at(log_score, owners, np.log(np.clip(p_good, 1e-12, 1.0)))
    return np.exp(log_score)


def orm_scores(model: MLPClassifier, solutions: list[Solution]) -> np.ndarray:
    return model.predict_proba(np.array([solution_features(s) for s in solutions]))[:, 1]


# ----- selection ---------------------------------------------------------------------------

def majority_answer(answers: np.ndarray, rng: np.random.Generator) -> int:
    """Most frequent final answer; ties broken at random."""
    values, counts = np.unique(answers, return_counts=True)
    return int(rng.choice(values[counts == counts.max()]))


def best_of_n(scores: np.ndarray, n: int, rng: np.random.Generator, repeats: int,
              ) -> np.ndarray:
    """Indices (repeats,) of the top-scored solution in `repeats` random subsets of size n."""
    picks = np.empty(repeats, dtype=int)
    for r in range(repeats):
        subset = rng.choice(len(scores), size=n, replace=False)
        picks[r] = subset[np.argmax(scores[subset])]
    return picks
