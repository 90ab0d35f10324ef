"""Debate on images (Irving, Christiano & Amodei 2018) with scikit-learn's 8x8 digits.

A sparse judge sees only k revealed pixels. Two debaters see the whole image and
precommit to labels: one honest (the true digit), one lying. They take turns
revealing nonzero pixels, each searching for the reveal that most helps its label
against the other's in the judge's eyes. The judge then chooses between the two
precommitted labels. The liar tries every lie; the image counts as judged correctly
only when the honest debater beats all nine.

Controls: the same judge with k random nonzero pixels choosing among all ten labels,
and precommit-only (the judge told the true label and the liar's best lie, random
pixels), which separates what the precommitment gives from what the reveals give.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor, nn

N_PIXELS = 64
N_CLASSES = 10


@dataclass(frozen=True)
class JudgeConfig:
    k: int = 6
    """Pixels the judge sees."""
    draws: int = 30
    """Random k-pixel masks per training image."""
    hidden: int = 256
    """Width of each of the two hidden layers."""
    epochs: int = 30
    """Passes over the masked training set."""
    batch_size: int = 256
    """Examples per optimiser step."""
    lr: float = 1e-3
    """Adam learning rate."""


def load_digits_split(seed: int, test_fraction: float = 0.3,
                      ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Digits scaled to [0, 1] as (N, 64) float32, split into train and test."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    data = load_digits()
    x = (data.data / 16.0).astype(np.float32)
    return tuple(train_test_split(x, data.target, test_size=test_fraction,  # type: ignore
                                  random_state=seed, stratify=data.target))


def judge_input(images: Tensor, mask: Tensor) -> Tensor:
    """The judge's view: the mask plane and the revealed values, (B, 64) each -> (B, 128).

    Both planes are needed: a revealed black pixel (mask 1, value 0) must differ from
    a hidden one (mask 0, value 0)."""
    return torch.cat([mask, images * mask], dim=1)


def random_masks(images: Tensor, k: int, generator: torch.Generator) -> Tensor:
    """(B, 64) masks with k pixels set, drawn uniformly among each image's nonzero ones."""
    scores = torch.rand(images.shape, generator=generator)
    scores = torch.where(images > 0, scores, torch.full_like(scores, -1.0))
    top = scores.topk(k, dim=1).indices
    return torch.zeros_like(images).scatter_(1, top, 1.0)


def make_judge(hidden: int) -> nn.Module:
    return nn.Sequential(nn.Linear(2 * N_PIXELS, hidden), nn.ReLU(),
                         nn.Linear(hidden, hidden), nn.ReLU(), nn.Linear(hidden, N_CLASSES))


def train_judge(x: np.ndarray, y: np.ndarray, config: JudgeConfig, seed: int,
                progress: Callable[[int], None] | None = None) -> nn.Module:
    """Train the sparse judge on `draws` random k-pixel masks of every training image."""
    gen = torch.Generator().manual_seed(seed)
    images = torch.from_numpy(x).repeat(config.draws, 1)
    labels = torch.from_numpy(y).long().repeat(config.draws)
    inputs = judge_input(images, random_masks(images, config.k, gen))
    torch.manual_seed(seed)
    judge = make_judge(config.hidden)
    opt = torch.optim.Adam(judge.parameters(), lr=config.lr)
    for epoch in range(config.epochs):
        order = torch.randperm(len(labels), generator=gen)
        for start in range(0, len(order), config.batch_size):
            idx = order[start:start + config.batch_size]
            loss = nn.functional.cross_entropy(judge(inputs[idx]), labels[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
        if progress:
            progress(epoch)
    return judge.eval()


# ----- debate -------------------------------------------------------------------------

def margins_after_reveal(judge: nn.Module, images: Tensor, mask: Tensor, mine: Tensor,
                         theirs: Tensor) -> Tensor:
    """For every candidate pixel p: judge logit of `mine` minus `theirs` once p is revealed.

    images, mask: (B, 64); mine, theirs: (B,) labels. Returns (B, 64); pixels that are
    zero or already revealed get -inf so they are never chosen."""
    b = images.shape[0]
    trial = mask.unsqueeze(1).repeat(1, N_PIXELS, 1)           # (B, 64 candidates, 64)
    trial[:, torch.arange(N_PIXELS), torch.arange(N_PIXELS)] = 1.0
    flat_in = judge_input(images.repeat_interleave(N_PIXELS, 0), trial.reshape(-1, N_PIXELS))
    logits = judge(flat_in).reshape(b, N_PIXELS, N_CLASSES)
    def pick(label: Tensor) -> Tensor:                          # (B,) -> (B, 64)
        return logits.gather(2, label.view(b, 1, 1).expand(b, N_PIXELS, 1)).squeeze(2)

    margin = pick(mine) - pick(theirs)
    allowed = (images > 0) & (mask == 0)
    return torch.where(allowed, margin, torch.full_like(margin, -torch.inf))


def greedy_move(judge: nn.Module, images: Tensor, mask: Tensor, mine: Tensor,
                theirs: Tensor) -> Tensor:
    """Reveal the pixel that most raises my label over the opponent's right now."""
    return margins_after_reveal(judge, images, mask, mine, theirs).argmax(dim=1)


def minimax2_move(judge: nn.Module, images: Tensor, mask: Tensor, mine: Tensor,
                  theirs: Tensor, width: int = 8) -> Tensor:
    """Two-ply search: of my `width` best greedy reveals, take the one whose margin
    stays highest after the opponent's best greedy reply."""
    first = margins_after_reveal(judge, images, mask, mine, theirs)
    width = min(width, int((first > -torch.inf).sum(1).min().item()))
    if width <= 1:
        return first.argmax(dim=1)
    cands = first.topk(width, dim=1).indices                   # (B, W)
    worst = torch.empty(cands.shape)
    for j in range(width):
        after = mask.clone().scatter_(1, cands[:, j:j + 1], 1.0)
        reply = margins_after_reveal(judge, images, after, theirs, mine)
        best_reply = reply.max(dim=1).values                   # opponent's margin
        # No legal reply left: my margin is what the reveal itself gave.
        worst[:, j] = torch.where(torch.isinf(best_reply), first.gather(1, cands[:, j:j + 1])
                                  .squeeze(1), -best_reply)
    return cands.gather(1, worst.argmax(dim=1, keepdim=True)).squeeze(1)


SEARCHES = {"greedy": greedy_move, "minimax2": minimax2_move}


@torch.no_grad()
def play_debate(judge: nn.Module, images: Tensor, honest: Tensor, liar: Tensor, k: int,
                search: str = "greedy", honest_first: bool = True) -> tuple[Tensor, Tensor]:
    """Play k alternating reveals; return (honest won (B,) bool, revealed pixels (B, k),
    -1 where an image ran out of nonzero pixels)."""
    move = SEARCHES[search]
    mask = torch.zeros_like(images)
    moves = torch.full((images.shape[0], k), -1, dtype=torch.long)
    for turn in range(k):
        honest_turn = (turn % 2 == 0) == honest_first
        mine, theirs = (honest, liar) if honest_turn else (liar, honest)
        pixel = move(judge, images, mask, mine, theirs)
        # An image with fewer than k nonzero pixels simply runs out of reveals.
        at = pixel.unsqueeze(1)
        legal = (images > 0).gather(1, at) & (mask.gather(1, at) == 0)
        mask.scatter_(1, at, legal.float())
        moves[:, turn] = torch.where(legal.squeeze(1), pixel, -1)
    logits = judge(judge_input(images, mask))
    rows = torch.arange(len(honest))
    return logits[rows, honest] > logits[rows, liar], moves


def all_lies(label: int) -> list[int]:
    """Every label the liar may precommit to: all but the truth."""
    return [c for c in range(N_CLASSES) if c != label]


@torch.no_grad()
def debate_accuracy(judge: nn.Module, x: np.ndarray, y: np.ndarray, k: int, search: str,
                    honest_first: bool = True, batch: int = 64,
                    progress: Callable[[int], None] | None = None) -> np.ndarray:
    """Per image, 1 when the honest debater beats every one of the nine lies."""
    wins = np.ones(len(y), dtype=bool)
    for lie_rank in range(N_CLASSES - 1):
        for start in range(0, len(y), batch):
            sl = slice(start, start + batch)
            honest = torch.from_numpy(y[sl]).long()
            liar = torch.tensor([all_lies(int(t))[lie_rank] for t in y[sl]])
            won, _ = play_debate(judge, torch.from_numpy(x[sl]), honest, liar, k, search,
                                 honest_first)
            wins[sl] &= won.numpy()
        if progress:
            progress(lie_rank)
    return wins.astype(float)


# ----- controls -------------------------------------------------------------------------

@torch.no_grad()
def random_pixel_accuracy(judge: nn.Module, x: np.ndarray, y: np.ndarray, k: int,
                          seed: int, draws: int = 10) -> np.ndarray:
    """Per image, the judge's mean accuracy over `draws` random k-pixel views (10-way)."""
    gen = torch.Generator().manual_seed(seed)
    images = torch.from_numpy(x)
    hits = np.zeros(len(y))
    for _ in range(draws):
        pred = judge(judge_input(images, random_masks(images, k, gen))).argmax(1).numpy()
        hits += pred == y
    return hits / draws


@torch.no_grad()
def precommit_accuracy(judge: nn.Module, x: np.ndarray, y: np.ndarray, k: int, seed: int,
                       draws: int = 10) -> np.ndarray:
    """Judge told the truth and one lie, random pixels. The liar picks the lie that wins
    most often over fresh random views (it knows the image, not which pixels will show);
    returns per image the judge's accuracy against that lie."""
    gen = torch.Generator().manual_seed(seed)
    images = torch.from_numpy(x)
    truth = torch.from_numpy(y).long()
    rows = torch.arange(len(y))
    lie_wins = torch.zeros(len(y), N_CLASSES)
    for _ in range(draws):
        logits = judge(judge_input(images, random_masks(images, k, gen)))
        lie_wins += (logits >= logits[rows, truth].unsqueeze(1)).float()
    lie_wins[rows, truth] = -1.0
    best_lie = lie_wins.argmax(1)
    # Evaluate on views independent of those used to choose the lie.
    correct = torch.zeros(len(y))
    for _ in range(draws):
        logits = judge(judge_input(images, random_masks(images, k, gen)))
        correct += (logits[rows, truth] > logits[rows, best_lie]).float()
    return (correct / draws).numpy()
