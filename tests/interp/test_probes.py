"""Probes: AUROC near 1 on separable data, near 0.5 on shuffled labels; hand-checked pieces."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from alignlab.interp.probes import auroc, cv_auroc, diff_of_means, layer_sweep, plot_sweep


def synthetic(n: int = 200, d: int = 16, gap: float = 3.0, seed: int = 0):
    gen = torch.Generator().manual_seed(seed)
    y = torch.arange(n) % 2
    x = torch.randn(n, d, generator=gen)
    x[:, 3] += gap * y  # class 1 sits `gap` further along dimension 3
    return x, y


def test_diff_of_means_by_hand():
    pos = torch.tensor([[2.0, 0.0], [4.0, 0.0]])
    neg = torch.tensor([[0.0, 0.0], [0.0, 2.0]])
    # means (3, 0) - (0, 1) = (3, -1), normalised
    torch.testing.assert_close(diff_of_means(pos, neg), torch.tensor([3.0, -1.0]) / 10 ** 0.5)


def test_auroc_by_hand():
    # pairs (pos, neg): (0.9,0.1) win, (0.9,0.8) win, (0.4,0.1) win, (0.4,0.8) loss -> 3/4
    assert auroc(np.array([0.9, 0.4, 0.1, 0.8]), np.array([1, 1, 0, 0])) == 0.75


@pytest.mark.parametrize("probe", ["mean_diff", "logistic"])
def test_separable_data_near_one(probe):
    x, y = synthetic()
    assert cv_auroc(x, y, probe) > 0.97


@pytest.mark.parametrize("probe", ["mean_diff", "logistic"])
def test_shuffled_labels_near_half(probe):
    # Many rows: with few, cross-validation on shuffled labels leans below 0.5 (the held-out
    # fold's class means sit opposite the training folds').
    x, y = synthetic(n=1000)
    shuffled = y[torch.randperm(len(y), generator=torch.Generator().manual_seed(1))]
    assert abs(cv_auroc(x, shuffled, probe) - 0.5) < 0.08


def test_layer_sweep_finds_the_informative_layer(tmp_path):
    x, y = synthetic()
    noise, _ = synthetic(gap=0.0, seed=2)
    sweep = layer_sweep({0: noise, 1: x}, y)
    assert sweep[1] > 0.97 and sweep[0] < 0.7
    assert plot_sweep(tmp_path / "s.png", {"probe": sweep}, "t").exists()
