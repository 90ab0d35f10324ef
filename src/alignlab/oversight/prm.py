"""Process vs outcome supervision on multi-step arithmetic with known step labels.

A problem is a start value and a chain of operations ("start 47, add 38, times 3"),
every true running value in [0, 1000). A solver writes solutions step by step,
"a op b = c", and makes the two kinds of mistake real solvers make:
- a *habit*: at a step whose units column carries (or borrows) it drops the carry.
  How often is a property of the problem, drawn once per problem and shared by all
  its samples, so a problem's samples repeat the same wrong answer. On problems with
  a strong habit that wrong answer outnumbers the right one and majority voting
  fails; no amount of resampling fixes it.
- a *slip*: a random units-digit error of 1-3, rarer and different every time.
After a mistake a later step may *compensate*: it writes the true running value
although that does not follow from its own inputs (two opposite carry mistakes do
the same), so the final answer is right while the reasoning is wrong.

Two verifiers with the same network, the same solutions and the same scoring rule
(solution score = product of per-step probabilities, as in Lightman et al. 2023);
only the supervision differs, as it does in the paper:
- ORM (outcome): trained on "final answer right?" for the whole solution. It is
  never told which step failed, and compensated solutions tell it their wrong steps
  are fine.
- PRM (process): trained on step labels up to and including the first wrong step.
Step labels come either from the gold arithmetic or, as in Math-Shepherd, from
Monte-Carlo rollouts of the solver from each prefix (a step is good when some
rollout from it reaches the right answer).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

OPS = ("+", "-", "*")
MAX_STEPS = 6
COLUMNS = 3
"""Digit columns the verifier reads (units, tens, hundreds)."""

Step = tuple[int, str, int, int]
"""(a, op, b, c): the solver wrote "a op b = c"."""


@dataclass(frozen=True)
class GeneratorConfig:
    min_steps: int = 3
    """Fewest operations in a problem."""
    max_steps: int = 6
    """Most operations in a problem (at most MAX_STEPS)."""
    habit_range: tuple[float, float] = (0.0, 0.9)
    """Per-problem chance of dropping a carry at a carry step, drawn uniformly."""
    slip_range: tuple[float, float] = (0.01, 0.08)
    """Per-problem chance that a step slips by 1-3 units, drawn uniformly."""
    compensate: float = 0.1
    """Once off track, chance per later step that it jumps back to the true value."""


@dataclass(frozen=True)
class Solver:
    habit: float
    """Chance of dropping the carry at a step that has one."""
    slip: float
    """Chance of a random units slip at any step."""


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
    steps: list[Step]

    @property
    def answer(self) -> int:
        return self.steps[-1][3]


def apply(a: int, op: str, b: int) -> int:
    return a + b if op == "+" else a - b if op == "-" else a * b


def step_correct(step: Step) -> bool:
    a, op, b, c = step
    return apply(a, op, b) == c


def first_error(sol: Solution) -> int | None:
    """Index of the first wrong step, or None for a fully correct trace."""
    return next((i for i, s in enumerate(sol.steps) if not step_correct(s)), None)


# ----- the solver ---------------------------------------------------------------------------

def make_problem(rng: np.random.Generator, cfg: GeneratorConfig) -> Problem:
    n = int(rng.integers(cfg.min_steps, cfg.max_steps + 1))
    v = start = int(rng.integers(10, 100))
    ops: list[tuple[str, int]] = []
    while len(ops) < n:
        op = OPS[int(rng.integers(0, 3))]
        b = int(rng.integers(2, 10)) if op == "*" else int(rng.integers(2, 100))
        if 0 <= apply(v, op, b) < 1000:  # three digit columns hold every true value
            ops.append((op, b))
            v = apply(v, op, b)
    return Problem(start, ops)


def dropped_carry(a: int, op: str, b: int) -> int:
    """What losing the units column's carry (or borrow) adds to a op b; 0 if none."""
    units = abs(a) % 10
    if op == "+" and units + b % 10 >= 10:
        return -10
    if op == "-" and units < b % 10:
        return 10
    if op == "*" and units * b >= 10:
        return -10 * (units * b // 10)
    return 0


def generate(problem: Problem, solver: Solver, cfg: GeneratorConfig, rng: np.random.Generator,
             prefix: list[Step] | None = None) -> Solution:
    """Write a solution step by step, continuing after `prefix` when given."""
    truth = problem.values()
    steps = list(prefix or [])
    value = steps[-1][3] if steps else problem.start
    for i in range(len(steps), len(problem.ops)):
        op, b = problem.ops[i]
        c = apply(value, op, b)
        if i > 0 and value != truth[i - 1] and rng.random() < cfg.compensate:
            c = truth[i]  # back on track without justification
        else:
            if rng.random() < solver.habit:
                c += dropped_carry(value, op, b)
            if rng.random() < solver.slip:
                c += int(rng.choice((-3, -2, -1, 1, 2, 3)))
        steps.append((value, op, b, c))
        value = c
    return Solution(steps)


# ----- what the verifiers see --------------------------------------------------------------

def _digits(v: int) -> np.ndarray:
    """One-hot of each of the four lowest digits of |v|, and a sign bit."""
    out = np.zeros(41, dtype=np.float32)
    for k in range(4):
        out[10 * k + (abs(v) // 10 ** k) % 10] = 1
    out[40] = float(v < 0)
    return out


STEP_DIM = len(OPS) + 3 * 41


def step_features(step: Step) -> np.ndarray:
    a, op, b, c = step
    onehot = np.zeros(len(OPS), dtype=np.float32)
    onehot[OPS.index(op)] = 1
    return np.concatenate([onehot, _digits(a), _digits(b), _digits(c)])


def column_ids(step: Step) -> list[int]:
    """The step read column by column, as one checks a written sum: per column the
    (op, column, digit of a, digit of b, digit of c) as one id. A flat MLP on the digit
    one-hots alone caught only ~74% of wrong steps from 22k training steps, which is
    what kept verifiers from seeing past the plurality answer."""
    a, op, b, c = step
    col = OPS.index(op) * COLUMNS
    return [(col + k) * 1000 + (abs(a) // 10 ** k % 10) * 100 + (abs(b) // 10 ** k % 10) * 10
            + abs(c) // 10 ** k % 10 for k in range(COLUMNS)]


@dataclass
class Batch:
    digits: Tensor   # (B, S, STEP_DIM)
    columns: Tensor  # (B, S, COLUMNS) ids
    mask: Tensor     # (B, S) 1 for a real step, 0 for padding

    def __getitem__(self, idx: Tensor) -> Batch:
        return Batch(self.digits[idx], self.columns[idx], self.mask[idx])


def encode(solutions: list[Solution]) -> Batch:
    digits = np.zeros((len(solutions), MAX_STEPS, STEP_DIM), dtype=np.float32)
    columns = np.zeros((len(solutions), MAX_STEPS, COLUMNS), dtype=np.int64)
    mask = np.zeros((len(solutions), MAX_STEPS), dtype=np.float32)
    for i, sol in enumerate(solutions):
        for j, step in enumerate(sol.steps):
            digits[i, j], columns[i, j], mask[i, j] = step_features(step), column_ids(step), 1
    return Batch(torch.from_numpy(digits), torch.from_numpy(columns), torch.from_numpy(mask))


# ----- verifiers ----------------------------------------------------------------------------

@dataclass(frozen=True)
class VerifierConfig:
    hidden: int = 256
    """Width of the step network."""
    epochs: int = 6
    """Passes over the training solutions."""
    batch_size: int = 256
    """Solutions per optimiser step."""
    lr: float = 1e-3
    """Adam learning rate."""


class StepNet(nn.Module):
    """Step -> logit of "this step is correct"; the same network for ORM and PRM."""

    def __init__(self, hidden: int):
        super().__init__()
        self.columns = nn.Embedding(len(OPS) * COLUMNS * 1000, hidden)
        nn.init.zeros_(self.columns.weight)  # a column never seen in training adds nothing
        self.digits = nn.Linear(STEP_DIM, hidden)
        self.head = nn.Sequential(nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU(),
                                  nn.Linear(hidden, 1))

    def forward(self, batch: Batch) -> Tensor:                       # -> (B, S)
        h = self.digits(batch.digits) + self.columns(batch.columns).sum(-2)
        return self.head(h).squeeze(-1)


def log_solution_score(step_logits: Tensor, mask: Tensor) -> Tensor:  # (B, S) -> (B,)
    """log of the product of the steps' probabilities of being correct."""
    return (F.logsigmoid(step_logits) * mask).sum(-1)


def prm_loss(step_logits: Tensor, labels: Tensor, labelled: Tensor) -> Tensor:
    """Per-step cross-entropy on the labelled steps only."""
    per_step = F.binary_cross_entropy_with_logits(step_logits, labels, reduction="none")
    return (per_step * labelled).sum() / labelled.sum().clamp(min=1)


def orm_loss(step_logits: Tensor, mask: Tensor, answer_ok: Tensor) -> Tensor:
    """Cross-entropy of the solution score against final-answer correctness."""
    log_p = log_solution_score(step_logits, mask).clamp(max=-1e-6)
    return -(answer_ok * log_p + (1 - answer_ok) * torch.log1p(-log_p.exp())).mean()


def prm_targets(solutions: list[Solution], labels: list[list[float]]) -> tuple[Tensor, Tensor]:
    """Step labels (B, S) and which are used: steps up to and including the first bad one
    (later steps are left unlabelled, as in PRM800K)."""
    y = np.zeros((len(solutions), MAX_STEPS), dtype=np.float32)
    used = np.zeros_like(y)
    for i, lab in enumerate(labels):
        for j, good in enumerate(lab):
            y[i, j], used[i, j] = good, 1
            if not good:
                break
    return torch.from_numpy(y), torch.from_numpy(used)


def train_verifier(batch: Batch, loss_fn, cfg: VerifierConfig, seed: int) -> StepNet:
    """One loop for both verifiers; `loss_fn(step_logits, idx)` holds the supervision."""
    torch.manual_seed(seed)
    net = StepNet(cfg.hidden)
    opt = torch.optim.Adam(net.parameters(), lr=cfg.lr)
    gen = torch.Generator().manual_seed(seed)
    for _ in range(cfg.epochs):
        for idx in torch.randperm(len(batch.mask), generator=gen).split(cfg.batch_size):
            loss = loss_fn(net(batch[idx]), idx)
            opt.zero_grad()
            loss.backward()
            opt.step()
    return net.eval()


def train_prm(batch: Batch, labels: tuple[Tensor, Tensor], cfg: VerifierConfig, seed: int,
              ) -> StepNet:
    y, used = labels
    return train_verifier(batch, lambda logits, idx: prm_loss(logits, y[idx], used[idx]),
                          cfg, seed)


def train_orm(batch: Batch, answer_ok: Tensor, cfg: VerifierConfig, seed: int) -> StepNet:
    return train_verifier(batch, lambda logits, idx: orm_loss(logits, batch.mask[idx],
                                                              answer_ok[idx]), cfg, seed)


@torch.no_grad()
def solution_scores(net: nn.Module, batch: Batch) -> np.ndarray:
    """log score (B,) = sum of the log probabilities of the steps being correct."""
    return log_solution_score(net(batch), batch.mask).numpy()


def gold_step_labels(sol: Solution) -> list[float]:
    return [float(step_correct(s)) for s in sol.steps]


def mc_step_labels(problem: Problem, sol: Solution, solver: Solver, cfg: GeneratorConfig,
                   rollouts: int, rng: np.random.Generator) -> list[float]:
    """Math-Shepherd hard labels: from each prefix, roll the solver out `rollouts` times;
    a step is good when some rollout reaches the true answer. Stops after the first
    bad label, past which the PRM does not train."""
    answer = problem.values()[-1]
    labels: list[float] = []
    for i in range(1, len(sol.steps) + 1):
        hit = any(generate(problem, solver, cfg, rng, sol.steps[:i]).answer == answer
                  for _ in range(rollouts))
        labels.append(float(hit))
        if not hit:
            break
    return labels


# ----- selection ---------------------------------------------------------------------------

def majority_answer(answers: np.ndarray, rng: np.random.Generator) -> int:
    """Most frequent final answer; ties broken at random."""
    values, counts = np.unique(answers, return_counts=True)
    return int(rng.choice(values[counts == counts.max()]))
