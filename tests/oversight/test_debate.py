import numpy as np
import torch
from torch import nn

from alignlab.oversight import debate as D


class FavourJudge(nn.Module):
    """Logits that ignore the pixels: label `favour` first, then the rest by index."""

    def __init__(self, favour: int):
        super().__init__()
        self.favour = favour

    def forward(self, x):
        logits = -torch.arange(10, dtype=torch.float).repeat(len(x), 1)
        logits[:, self.favour] = 100.0
        return logits


class LinearJudge(nn.Module):
    def __init__(self, weight):
        super().__init__()
        self.weight = weight  # (10, 128)

    def forward(self, x):
        return x @ self.weight.T


def test_judge_input_has_mask_plane_and_revealed_values():
    images = torch.tensor([[0.0, 0.5, 1.0, 0.25]]).repeat(1, 16)
    mask = torch.zeros_like(images)
    mask[0, 0] = 1  # a revealed black pixel
    mask[0, 2] = 1
    view = D.judge_input(images, mask)
    assert view.shape == (1, 128)
    assert view[0, 0] == 1 and view[0, 64] == 0       # revealed, value 0: seen as black
    assert view[0, 1] == 0 and view[0, 65] == 0       # hidden: value withheld
    assert view[0, 2] == 1 and view[0, 66] == 1.0
    hidden = D.judge_input(images, torch.zeros_like(images))
    assert not torch.equal(view, hidden)


def test_random_masks_reveal_k_nonzero_pixels():
    x, _, _, _ = D.load_digits_split(0)
    images = torch.from_numpy(x[:50])
    masks = D.random_masks(images, 4, torch.Generator().manual_seed(0))
    assert torch.all(masks.sum(1) == 4)
    assert torch.all(images[masks.bool()] > 0)


def test_liar_tries_every_lie():
    assert D.all_lies(3) == [0, 1, 2, 4, 5, 6, 7, 8, 9]
    x, _, y, _ = D.load_digits_split(0)
    x, y = x[:30], y[:30]
    for lie in range(10):
        # Only this one lie can beat the truth; honesty must lose wherever it is a lie.
        acc = D.debate_accuracy(FavourJudge(lie), x, y, k=2, search="greedy")
        assert np.array_equal(acc, (y == lie).astype(float))


def test_greedy_reveals_the_pixel_that_helps_most():
    weight = torch.zeros(10, 128)
    weight[1, 64 + 10] = 5.0   # value of pixel 10 supports label 1
    weight[1, 64 + 20] = 9.0   # pixel 20 even more, but it will be zero in the image
    images = torch.full((1, 64), 0.5)
    images[0, 20] = 0.0
    pick = D.greedy_move(LinearJudge(weight), images, torch.zeros_like(images),
                         torch.tensor([1]), torch.tensor([2]))
    assert pick.item() == 10
    pick = D.minimax2_move(LinearJudge(weight), images, torch.zeros_like(images),
                           torch.tensor([1]), torch.tensor([2]))
    assert pick.item() == 10


def test_train_judge_changes_parameters():
    x, _, y, _ = D.load_digits_split(0)
    cfg = D.JudgeConfig(k=4, draws=1, epochs=1, hidden=16, batch_size=8)
    torch.manual_seed(5)
    before = [p.clone() for p in D.make_judge(16).parameters()]
    after = list(D.train_judge(x[:16], y[:16], cfg, seed=5).parameters())
    assert all(not torch.equal(b, a) for b, a in zip(before, after, strict=True))
