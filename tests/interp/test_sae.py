"""SAEs: TopK keeps exactly k latents, both kinds learn (parameters change, loss falls)."""

from __future__ import annotations

import pytest
import torch

from alignlab.interp.sae import SAE, SAEConfig, sae_loss, sae_stats, train_sae


def sparse_data(n: int = 2048, d: int = 16, n_features: int = 32, seed: int = 0):
    gen = torch.Generator().manual_seed(seed)
    dictionary = torch.randn(n_features, d, generator=gen)
    codes = (torch.rand(n, n_features, generator=gen) < 0.08) * torch.rand(n, n_features,
                                                                          generator=gen)
    return codes @ dictionary


def test_topk_keeps_k_latents():
    sae = SAE(8, SAEConfig(kind="topk", k=3, expansion=4))
    f = sae.encode(torch.randn(5, 8))
    assert ((f > 0).sum(-1) <= 3).all() and f.shape == (5, 32)


def test_relu_loss_by_hand():
    sae = SAE(2, SAEConfig(kind="relu", expansion=1, l1=0.5))
    with torch.no_grad():
        sae.W_enc.copy_(torch.eye(2))
        sae.W_dec.copy_(2 * torch.eye(2))
    x = torch.tensor([[1.0, -1.0]])
    # f = relu(x) = (1, 0); x_hat = (2, 0); mse = 1 + 1 = 2; L1 = 0.5 * 1 * |row 0| (=2) = 1
    assert float(sae_loss(sae, x)) == pytest.approx(3.0)


@pytest.mark.parametrize("kind", ["topk", "relu"])
def test_training_explains_variance(kind):
    acts = sparse_data()
    cfg = SAEConfig(kind=kind, k=4, steps=300, batch_size=256, lr=3e-3, l1=1e-3)
    sae, losses = train_sae(acts, cfg)
    stats = sae_stats(sae, acts)
    assert losses[-1] < 0.5 * losses[0]
    assert stats["explained_variance"] > 0.7
    if kind == "topk":
        assert stats["l0"] <= 4
