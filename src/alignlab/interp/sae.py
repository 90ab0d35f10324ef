"""Sparse autoencoders on captured activations: TopK and ReLU with an L1 penalty.

Metrics as SAELens defines them: L0 (active latents per token), explained
variance (1 - residual variance / total variance) and the fraction of language
model loss recovered when the reconstruction is spliced in,
(CE_ablated - CE_sae) / (CE_ablated - CE_clean), with zero-ablation as the floor.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from rich.progress import Progress
from torch import Tensor, nn

from alignlab.interp.capture import intervene
from alignlab.models.hf import left_pad, positions


@dataclass(frozen=True)
class SAEConfig:
    kind: str = "topk"
    """One of ACTIVATIONS: topk (keep the k largest latents) or relu (ReLU + L1 penalty)."""
    expansion: int = 4
    """Latents per input dimension."""
    k: int = 32
    """Active latents per token for topk."""
    l1: float = 5e-3
    """L1 coefficient for relu (on latent x decoder-row norm)."""
    lr: float = 1e-3
    """Adam learning rate."""
    steps: int = 1500
    """Optimizer steps."""
    batch_size: int = 512
    """Activation rows per step."""
    seed: int = 0
    """Seed of the initialisation and batch order."""


def topk_activation(pre: Tensor, cfg: SAEConfig) -> Tensor:
    values, index = pre.topk(cfg.k, dim=-1)
    return torch.zeros_like(pre).scatter(-1, index, F.relu(values))


def relu_activation(pre: Tensor, cfg: SAEConfig) -> Tensor:
    return F.relu(pre)


ACTIVATIONS = {"topk": topk_activation, "relu": relu_activation}


class SAE(nn.Module):
    """x -> latents f = act((x/s - b_dec) W_enc + b_enc) -> x_hat = s (f W_dec + b_dec).

    s rescales inputs so their mean norm is sqrt(D), which keeps one learning rate
    and L1 coefficient meaningful across models and layers.
    """

    def __init__(self, d_in: int, cfg: SAEConfig, scale: float = 1.0) -> None:
        super().__init__()
        self.cfg = cfg
        d_sae = d_in * cfg.expansion
        w = torch.randn(d_in, d_sae) / d_in ** 0.5
        self.W_enc = nn.Parameter(w.clone())
        self.W_dec = nn.Parameter(w.T.clone())              # tied at initialisation
        self.b_enc = nn.Parameter(torch.zeros(d_sae))
        self.b_dec = nn.Parameter(torch.zeros(d_in))
        self.register_buffer("scale", torch.tensor(float(scale)))

    def encode(self, x: Tensor) -> Tensor:
        pre = (x / self.scale - self.b_dec) @ self.W_enc + self.b_enc
        return ACTIVATIONS[self.cfg.kind](pre, self.cfg)

    def decode(self, f: Tensor) -> Tensor:
        return (f @ self.W_dec + self.b_dec) * self.scale

    def forward(self, x: Tensor) -> Tensor:
        return self.decode(self.encode(x))


def sae_loss(sae: SAE, x: Tensor) -> Tensor:
    """Reconstruction MSE (in scaled units) + L1 on latents weighted by decoder norms (relu)."""
    f = sae.encode(x)
    mse = ((sae.decode(f) - x) / sae.scale).pow(2).sum(-1).mean()
    if sae.cfg.kind == "relu":
        return mse + sae.cfg.l1 * (f * sae.W_dec.norm(dim=-1)).sum(-1).mean()
    return mse


def train_sae(acts: Tensor, cfg: SAEConfig) -> tuple[SAE, list[float]]:
    """Train on rows of `acts` (N, D); returns the SAE and its loss per step."""
    torch.manual_seed(cfg.seed)
    acts = acts.float()
    sae = SAE(acts.shape[1], cfg, scale=float(acts.norm(dim=-1).mean() / acts.shape[1] ** 0.5))
    with torch.no_grad():  # start the decoder bias at the (scaled) mean, as is usual
        sae.b_dec.copy_(acts.mean(0) / sae.scale)
    opt = torch.optim.Adam(sae.parameters(), lr=cfg.lr)
    gen = torch.Generator().manual_seed(cfg.seed)
    losses = []
    with Progress(transient=True) as bar:
        task = bar.add_task(f"SAE ({cfg.kind})", total=cfg.steps)
        for _ in range(cfg.steps):
            batch = acts[torch.randint(len(acts), (cfg.batch_size,), generator=gen)]
            loss = sae_loss(sae, batch)
            opt.zero_grad()
            loss.backward()
            opt.step()
            if cfg.kind == "topk":  # unit decoder rows, so latent sizes mean the same
                with torch.no_grad():
                    sae.W_dec /= sae.W_dec.norm(dim=-1, keepdim=True).clamp_min(1e-8)
            losses.append(loss.detach().item())
            bar.advance(task)
    return sae.eval(), losses


@torch.no_grad()
def sae_stats(sae: SAE, acts: Tensor) -> dict[str, float]:
    """L0, explained variance, and the fraction of latents never active on `acts`."""
    acts = acts.float()
    f = sae.encode(acts)
    residual = (sae.decode(f) - acts).pow(2).sum()
    total = (acts - acts.mean(0)).pow(2).sum()
    return {"l0": float((f > 0).sum(-1).float().mean()),
            "explained_variance": float(1 - residual / total),
            "dead_fraction": float(((f > 0).sum(0) == 0).float().mean())}


def _mean_ce(model: Any, ids: Tensor, mask: Tensor) -> float:
    logits = model(input_ids=ids, attention_mask=mask, position_ids=positions(mask)).logits
    ce = F.cross_entropy(logits[:, :-1].flatten(0, 1).float(), ids[:, 1:].flatten(),
                         reduction="none").view(ids.shape[0], -1)
    weight = (mask[:, 1:] * mask[:, :-1]).float()
    return float((ce * weight).sum() / weight.sum())


@torch.no_grad()
def ce_loss_recovered(lm: Any, sae: SAE, name: str, texts: Sequence[str],
                      max_tokens: int = 128) -> dict[str, float]:
    """CE of the model clean, with the SAE spliced in at `name`, and with `name` zeroed.

    The first token of each text is left alone: its residual norm is far larger than
    the others' (an attention sink), and the SAE is not trained on it.
    """
    rows = [lm.tokenizer(t)["input_ids"][:max_tokens] for t in texts]
    ids, mask = left_pad(rows, lm.pad_id)
    keep = mask.clone()
    keep[torch.arange(len(rows)), mask.argmax(-1)] = 0     # first real token of each row
    keep3 = keep.bool()[..., None]                          # (B, T, 1)
    clean = _mean_ce(lm.model, ids, mask)
    with intervene(lm.model, {name: lambda a: torch.where(keep3, sae(a), a)}):
        spliced = _mean_ce(lm.model, ids, mask)
    with intervene(lm.model, {name: lambda a: torch.where(keep3, torch.zeros_like(a), a)}):
        ablated = _mean_ce(lm.model, ids, mask)
    recovered = (ablated - spliced) / (ablated - clean) if ablated != clean else float("nan")
    return {"ce_clean": clean, "ce_sae": spliced, "ce_ablated": ablated,
            "ce_loss_recovered": recovered}
