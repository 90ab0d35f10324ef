"""GRPO and RLOO: policy gradients with a baseline from k samples of the same prompt.

No value head. Each prompt gets k completions; a completion's advantage compares
its score with its siblings':

- GRPO (Shao et al. 2024): (r − mean) / std within the group; the KL to the
  reference enters the loss per token through the k3 estimator
  (π_ref/π − log(π_ref/π) − 1), weighted by β.
- RLOO (Ahmadian et al. 2024): r − mean of the other k−1; the KL enters the
  reward as −β·log(π/π_ref) summed over the sequence.

Both use the clipped ratio of PPO for the (optional) extra epochs per batch, and
both log the sequence KL to the initial policy every step.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from alignlab.models.hf import HFLM, sequence_logprobs
from alignlab.train.common import (
    LoraOptions,
    apply_lora,
    as_scores,
    frozen_reference,
    progress,
    reference_logprobs,
    right_align,
    sample_ids,
    texts,
    trainable,
)
from alignlab.train.ppo import RewardFn, clipped_policy_loss


@dataclass(frozen=True)
class GRPOConfig(LoraOptions):
    variant: str = "grpo"
    """One of VARIANTS: grpo (group-normalised, KL in the loss) or rloo (leave-one-out, KL in
    the reward)."""
    lr: float = 1e-4
    """AdamW learning rate."""
    steps: int = 100
    """Sample-and-update iterations."""
    batch_prompts: int = 16
    """Prompts per step."""
    group: int = 4
    """Completions per prompt (k)."""
    epochs: int = 1
    """Optimisation passes over each batch (1: purely on-policy, the ratio is 1)."""
    clip: float = 0.2
    """Clipping range of the probability ratio."""
    beta: float = 0.05
    """KL coefficient (0: no penalty; KL is still logged)."""
    max_new_tokens: int = 24
    """Length limit of each completion."""
    seed: int = 0
    """Seed for prompt order and sampling."""


def group_normalized(scores: Tensor) -> Tensor:
    """(P, k) -> (P, k): (r − group mean) / (group std + ε)."""
    return (scores - scores.mean(1, keepdim=True)) / (scores.std(1, keepdim=True) + 1e-6)


def leave_one_out(scores: Tensor) -> Tensor:
    """(P, k) -> (P, k): r − mean of the other k−1 scores."""
    k = scores.shape[1]
    return scores - (scores.sum(1, keepdim=True) - scores) / (k - 1)


def k3_kl(logp: Tensor, ref_logp: Tensor) -> Tensor:
    """Per-token unbiased, non-negative KL estimate exp(q) − q − 1 with q = log π_ref − log π."""
    q = ref_logp - logp
    return q.exp() - q - 1


@dataclass(frozen=True)
class Variant:
    advantage: Callable[[Tensor], Tensor]
    kl_in_loss: bool
    """True: β·k3 per token in the loss (GRPO); False: −β·KL in the reward (RLOO)."""


VARIANTS = {"grpo": Variant(group_normalized, kl_in_loss=True),
            "rloo": Variant(leave_one_out, kl_in_loss=False)}


def grpo_step(lm: HFLM, ref: Any, optimizer: Any, prompts: list[str], prompt_ids: list[list[int]],
              reward_fn: RewardFn, config: GRPOConfig, generator: torch.Generator,
              ) -> dict[str, float]:
    """Sample k completions per prompt, compute advantages, update; return step stats."""
    variant = VARIANTS[config.variant]
    k = config.group
    rep_ids = [ids for ids in prompt_ids for _ in range(k)]
    completions = sample_ids(lm, rep_ids, config.max_new_tokens, 1.0, generator)
    scores = as_scores(reward_fn([p for p in prompts for _ in range(k)], texts(lm, completions)))
    with torch.no_grad():
        old_logp, mask = right_align(sequence_logprobs(lm.model, rep_ids, completions, lm.pad_id))
        ref_logp, _ = right_align(reference_logprobs(lm, ref, rep_ids, completions))
    kl = ((old_logp - ref_logp) * mask).sum(1)                           # (P·k,)
    shaped = scores if variant.kl_in_loss else scores - config.beta * kl
    adv = variant.advantage(shaped.view(-1, k)).flatten()[:, None] * mask  # (P·k, T)
    stats: dict[str, float] = {}
    for _ in range(config.epochs):
        logp, _ = right_align(sequence_logprobs(lm.model, rep_ids, completions, lm.pad_id))
        loss = clipped_policy_loss(logp, old_logp, adv, mask, config.clip)
        if variant.kl_in_loss and config.beta:
            loss = loss + config.beta * (k3_kl(logp, ref_logp) * mask).sum() / mask.sum()
        optimizer.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(trainable(lm.model), 1.0)
        optimizer.step()
        stats = {"loss": float(loss.detach())}
    return {"score": float(scores.mean()), "kl": float(kl.mean()), **stats}


def train_grpo(lm: HFLM, prompts: Sequence[str], reward_fn: RewardFn,
               config: GRPOConfig = GRPOConfig(), run: Any = None,
               on_step: Callable[[int], dict[str, Any]] | None = None, show: bool = True,
               ) -> list[dict[str, float]]:
    """Optimise `lm` in place against `reward_fn` with GRPO or RLOO."""
    if config.variant not in VARIANTS:
        raise ValueError(f"unknown variant {config.variant!r}; use one of {list(VARIANTS)}")
    if config.group < 2:
        raise ValueError("group must be at least 2: the baseline comes from sibling samples")
    apply_lora(lm, config)
    ref = frozen_reference(lm)
    optimizer = torch.optim.AdamW(trainable(lm.model), lr=config.lr)
    encoded = lm.encode(list(prompts))
    rng = random.Random(config.seed)
    generator = torch.Generator().manual_seed(config.seed)
    history: list[dict[str, float]] = []
    lm.model.train()
    with progress(show) as bar:
        task = bar.add_task(config.variant, total=config.steps, info="")
        for step in range(1, config.steps + 1):
            idx = [rng.randrange(len(encoded)) for _ in range(config.batch_prompts)]
            record = grpo_step(lm, ref, optimizer, [prompts[i] for i in idx],
                               [encoded[i] for i in idx], reward_fn, config, generator)
            record.update(on_step(step) if on_step else {})
            history.append(record)
            if run is not None:
                run.log(step, **record)
            bar.update(task, advance=1, info=f"score {record['score']:.3f} kl {record['kl']:.2f}")
    lm.model.eval()
    return history
