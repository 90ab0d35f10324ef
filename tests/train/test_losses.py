"""Loss and estimator functions against values worked out by hand."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import torch

from alignlab.train.bon import bon_expectation, bon_kl, bon_weights
from alignlab.train.dpo import LOSSES, dpo_margin
from alignlab.train.fits import fit_form, held_out_fit, r_squared
from alignlab.train.grpo import group_normalized, k3_kl, leave_one_out
from alignlab.train.ppo import clipped_policy_loss, clipped_value_loss, gae, token_rewards
from alignlab.train.reward import ENSEMBLE_SCORES, bradley_terry_loss


def test_bradley_terry_by_hand():
    # −log σ(1) = 0.313262, −log σ(0) = log 2 = 0.693147
    loss = bradley_terry_loss(torch.tensor([1.0, 0.0]), torch.tensor([0.0, 0.0]))
    assert float(loss) == pytest.approx((0.313262 + 0.693147) / 2, abs=1e-5)


def test_dpo_sigmoid_and_ipo_by_hand():
    # policy gains 1 nat on the chosen and loses 1 on the rejected: margin 2
    margin = dpo_margin(torch.tensor([-1.0]), torch.tensor([-3.0]), torch.tensor([-2.0]),
                        torch.tensor([-2.0]))
    assert float(margin) == 2.0
    assert float(LOSSES["sigmoid"](margin, 0.5)) == pytest.approx(0.313262, abs=1e-5)  # −log σ(1)
    assert float(LOSSES["ipo"](margin, 0.5)) == pytest.approx(1.0)     # (2 − 1/(2·0.5))²
    assert float(LOSSES["ipo"](margin, 0.25)) == pytest.approx(0.0)    # the IPO target is 2


def test_ppo_clipped_objective_by_hand():
    old = torch.zeros(1, 3)
    logp = torch.log(torch.tensor([[1.5, 0.5, 1.1]]))
    adv = torch.tensor([[1.0, -1.0, 2.0]])
    mask = torch.ones(1, 3)
    # min(1.5·1, 1.2·1) = 1.2; min(0.5·−1, 0.8·−1) = −0.8; min(1.1·2, 1.1·2) = 2.2
    loss = clipped_policy_loss(logp, old, adv, mask, clip=0.2)
    assert float(loss) == pytest.approx(-(1.2 - 0.8 + 2.2) / 3, abs=1e-6)


def test_value_loss_clips_the_update():
    # V moves from 0 to 1 (clipped to 0.2); returns 1: max((1−1)², (0.2−1)²) = 0.64
    loss = clipped_value_loss(torch.tensor([[1.0]]), torch.tensor([[0.0]]),
                              torch.tensor([[1.0]]), torch.ones(1, 1), clip=0.2)
    assert float(loss) == pytest.approx(0.5 * 0.64)


def test_gae_by_hand_with_left_padding():
    # One padded column, then rewards [0, 1], values [0.5, 0.2], γ=1, λ=0.5:
    # δ1 = 1 − 0.2 = 0.8, A1 = 0.8; δ0 = 0 + 0.2 − 0.5 = −0.3, A0 = −0.3 + 0.5·0.8 = 0.1
    rewards = torch.tensor([[9.0, 0.0, 1.0]])
    values = torch.tensor([[9.0, 0.5, 0.2]])
    mask = torch.tensor([[0.0, 1.0, 1.0]])
    adv, returns = gae(rewards * mask, values * mask, mask, gamma=1.0, lam=0.5)
    assert adv.tolist()[0] == pytest.approx([0.0, 0.1, 0.8])
    assert returns.tolist()[0] == pytest.approx([0.0, 0.6, 1.0])


def test_token_rewards_put_the_score_on_the_last_token():
    logp, ref = torch.tensor([[0.0, -1.0, -1.0]]), torch.tensor([[0.0, -2.0, -1.5]])
    mask = torch.tensor([[0.0, 1.0, 1.0]])
    r = token_rewards(torch.tensor([3.0]), logp, ref, mask, kl_coef=0.1)
    assert r.tolist()[0] == pytest.approx([0.0, -0.1, 3.0 - 0.05])


def test_group_baselines_by_hand():
    scores = torch.tensor([[1.0, 2.0, 3.0]])
    assert leave_one_out(scores).tolist()[0] == pytest.approx([-1.5, 0.0, 1.5])
    assert group_normalized(scores).tolist()[0] == pytest.approx([-1.0, 0.0, 1.0], abs=1e-5)
    # k3 at q = log(π_ref/π) = log 2: 2 − log 2 − 1
    assert float(k3_kl(torch.tensor(0.0), torch.tensor(math.log(2)))) == pytest.approx(
        1 - math.log(2))


def test_ensemble_scores():
    s = torch.tensor([[1.0, 0.0], [3.0, 0.0]])
    assert ENSEMBLE_SCORES["mean"](s, 1.0).tolist() == [2.0, 0.0]
    assert ENSEMBLE_SCORES["worst"](s, 1.0).tolist() == [1.0, 0.0]
    assert ENSEMBLE_SCORES["uncertainty"](s, 0.5).tolist() == pytest.approx(
        [2.0 - 0.5 * math.sqrt(2), 0.0])


def test_bon_kl_closed_form():
    assert bon_kl(1) == 0.0
    assert bon_kl(4) == pytest.approx(math.log(4) - 0.75)


@pytest.mark.parametrize("n", [1, 2, 3, 5, 7])
def test_bon_estimator_matches_brute_force(n):
    gen = torch.Generator().manual_seed(n)
    proxy = torch.randn(3, 7, generator=gen)
    values = torch.randn(3, 7, generator=gen)
    estimate = bon_expectation(proxy, values, n)
    for p in range(3):
        subsets = list(itertools.combinations(range(7), n))
        brute = np.mean([float(values[p, max(s, key=lambda i: float(proxy[p, i]))])
                         for s in subsets])
        assert float(estimate[p]) == pytest.approx(brute, abs=1e-6)
    assert float(bon_weights(7, n).sum()) == pytest.approx(1.0)


def test_bon_estimator_takes_several_statistics_at_once():
    proxy = torch.tensor([[0.1, 0.9, 0.5]])
    values = torch.tensor([[[1.0, 10.0], [2.0, 20.0], [3.0, 30.0]]])
    assert bon_expectation(proxy, values, 3).tolist() == [[2.0, 20.0]]   # the argmax, sample 1


def test_gao_forms_fit_and_predict_held_out_curves():
    d = np.linspace(0.1, 3.0, 12)
    bon = d * (0.8 - 0.3 * d)
    fit = fit_form("bon", d, bon)
    assert (fit.alpha, fit.beta) == pytest.approx((0.8, 0.3))
    assert fit.peak_d == pytest.approx(0.8 / 0.6)
    rl = d * (0.5 - 0.4 * np.log(d))
    curves = [(d, rl + 0.01), (d, rl - 0.01), (d, rl)]
    fit_rl, r2 = held_out_fit("rl", curves, n_fit=2)
    assert (fit_rl.alpha, fit_rl.beta) == pytest.approx((0.5, 0.4), abs=1e-6)
    assert r2 == pytest.approx(1.0)
    assert r_squared(fit_rl, d, -rl) < 0   # a wrong curve is not fit
