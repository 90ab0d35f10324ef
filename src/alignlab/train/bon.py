"""Best-of-n sampling: draw n responses, keep the one a reward model scores highest.

Two facts make it the cleanest optimiser to study overoptimization with:

- its KL to the base policy is known in closed form, KL = log n − (n−1)/n (exact
  when the n samples are distinct; repeated samples make the true KL smaller);
- the expected value of *any* statistic of the best-of-n response, for every
  n ≤ N at once, follows without bias from one pool of N samples: the i-th
  lowest-scored sample of the pool is the best of a random n-subset with
  probability C(i−1, n−1) / C(N, n) (Nakano et al. 2021, WebGPT appendix).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from alignlab.models.hf import HFLM
from alignlab.train.common import sample_ids, texts


@dataclass(frozen=True)
class BoNConfig:
    n: int = 16
    """Samples drawn per prompt; the best by the reward is kept."""
    max_new_tokens: int = 24
    """Length limit of each sample."""
    temperature: float = 1.0
    """Sampling temperature of the base policy (1: the policy itself)."""
    seed: int = 0
    """Sampling seed."""


def bon_kl(n: int) -> float:
    """KL(best-of-n ‖ base) in nats: log n − (n−1)/n."""
    return math.log(n) - (n - 1) / n


def bon_weights(pool: int, n: int) -> Tensor:
    """(pool,) probability that the i-th lowest-scored sample is the best of a random n-subset."""
    i = torch.arange(1, pool + 1, dtype=torch.float64)
    # log C(i−1, n−1) − log C(pool, n); rows with i < n get weight 0 below
    log_w = (torch.lgamma(i) - torch.lgamma((i - n + 1).clamp(min=1)) - math.lgamma(n)
             - (math.lgamma(pool + 1) - math.lgamma(n + 1) - math.lgamma(pool - n + 1)))
    weights = torch.where(i >= n, log_w.exp(), torch.zeros_like(i))
    return weights / weights.sum()  # removes rounding drift; the sum is 1 exactly in theory


def bon_expectation(proxy: Tensor, values: Tensor, n: int) -> Tensor:
    """Unbiased E[value of the best-of-n sample] per prompt, from one pool per prompt.

    proxy: (P, N) reward-model scores of a pool of N samples for each of P prompts;
    values: (P, N) or (P, N, M) statistics of the same samples (gold reward, length...).
    Returns (P,) or (P, M).
    """
    order = proxy.argsort(dim=1, stable=True)                  # ascending proxy
    idx = order if values.dim() == 2 else order[..., None].expand_as(values)
    ranked = values.gather(1, idx).double()
    w = bon_weights(proxy.shape[1], n)
    w = w[None, :] if values.dim() == 2 else w[None, :, None]
    return (ranked * w).sum(1).to(values.dtype if values.is_floating_point() else torch.float64)


def best_of_n(lm: HFLM, prompts: Sequence[str], reward: Callable[[list[str], list[str]], Any],
              config: BoNConfig = BoNConfig()) -> list[dict[str, Any]]:
    """Sample n responses per prompt and keep the highest-reward one."""
    prompt_ids = lm.encode(list(prompts))
    expanded = [ids for ids in prompt_ids for _ in range(config.n)]
    generator = torch.Generator().manual_seed(config.seed)
    responses = texts(lm, sample_ids(lm, expanded, config.max_new_tokens, config.temperature,
                                     generator))
    repeated = [p for p in prompts for _ in range(config.n)]
    scores = torch.as_tensor(reward(repeated, responses), dtype=torch.float32)
    scores = scores.view(len(prompts), config.n)
    best = scores.argmax(1).tolist()
    return [{"prompt": p, "response": responses[i * config.n + b],
             "reward": float(scores[i, b]), "kl_bound": bon_kl(config.n)}
            for i, (p, b) in enumerate(zip(prompts, best, strict=True))]
