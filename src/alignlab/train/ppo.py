"""PPO for language models: value head, GAE, clipped ratio objective, per-token KL penalty.

Each step samples one completion per prompt from the current policy, scores it with
the reward function, and turns it into per-token rewards: −kl_coef·log(π/π_ref) on
every token plus the score on the last one. GAE (γ, λ) turns those and the value
head's estimates into advantages; then a few epochs of clipped-ratio updates. The
value head is a linear layer on the policy's last hidden state (a shared body, as
in the first RLHF implementations). KL to the initial policy is logged every step.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn

from alignlab.models.hf import HFLM, left_pad, positions
from alignlab.train.common import (
    LoraOptions,
    apply_lora,
    as_scores,
    frozen_reference,
    minibatches,
    progress,
    reference_logprobs,
    right_align,
    sample_ids,
    texts,
    trainable,
)

RewardFn = Callable[[list[str], list[str]], Any]
"""(prompts, responses) -> one score per response."""


@dataclass(frozen=True)
class PPOConfig(LoraOptions):
    lr: float = 1e-4
    """AdamW learning rate (policy and value head)."""
    steps: int = 100
    """Rollout-and-update iterations."""
    batch_prompts: int = 64
    """Prompts (one completion each) per rollout."""
    epochs: int = 2
    """Optimisation passes over each rollout."""
    minibatch: int = 32
    """Completions per gradient step."""
    clip: float = 0.2
    """Clipping range ε of the probability ratio (and of the value update)."""
    kl_coef: float = 0.05
    """Per-token KL penalty coefficient (0: no penalty; KL is still logged)."""
    vf_coef: float = 0.5
    """Weight of the value loss."""
    gamma: float = 1.0
    """Discount."""
    lam: float = 0.95
    """GAE λ."""
    max_new_tokens: int = 24
    """Length limit of each completion."""
    seed: int = 0
    """Seed for prompt order and sampling."""


def gae(rewards: Tensor, values: Tensor, mask: Tensor, gamma: float, lam: float,
        ) -> tuple[Tensor, Tensor]:
    """Generalised advantage estimation over (B, T) right-aligned sequences.

    The value after a sequence's last token is 0 (the episode ends there).
    Returns (advantages, returns), both (B, T), zero where mask is 0.
    """
    adv = torch.zeros_like(rewards)
    next_value = torch.zeros(rewards.shape[0])
    running = torch.zeros(rewards.shape[0])
    for t in reversed(range(rewards.shape[1])):
        delta = rewards[:, t] + gamma * next_value - values[:, t]
        running = delta + gamma * lam * running
        adv[:, t] = running * mask[:, t]
        next_value, running = values[:, t] * mask[:, t], running * mask[:, t]
    return adv, (adv + values) * mask


def clipped_policy_loss(logp: Tensor, old_logp: Tensor, adv: Tensor, mask: Tensor,
                        clip: float) -> Tensor:
    """−E[min(ρA, clip(ρ, 1−ε, 1+ε)A)] over real tokens, ρ = π/π_old."""
    ratio = (logp - old_logp).exp()
    surrogate = torch.min(ratio * adv, ratio.clamp(1 - clip, 1 + clip) * adv)
    return -(surrogate * mask).sum() / mask.sum()


def clipped_value_loss(values: Tensor, old_values: Tensor, returns: Tensor, mask: Tensor,
                       clip: float) -> Tensor:
    """½·E[max((V−R)², (clip(V, V_old±ε)−R)²)] over real tokens."""
    clipped = old_values + (values - old_values).clamp(-clip, clip)
    err = torch.max((values - returns) ** 2, (clipped - returns) ** 2)
    return 0.5 * (err * mask).sum() / mask.sum()


def token_rewards(scores: Tensor, logp: Tensor, ref_logp: Tensor, mask: Tensor,
                  kl_coef: float) -> Tensor:
    """(B, T): −kl_coef·log(π/π_ref) per token, plus the score on each sequence's last token."""
    rewards = -kl_coef * (logp - ref_logp) * mask
    rewards[:, -1] += scores          # right-aligned: the last column is every sequence's end
    return rewards


def whiten(x: Tensor, mask: Tensor) -> Tensor:
    mean = (x * mask).sum() / mask.sum()
    var = (((x - mean) * mask) ** 2).sum() / mask.sum()
    return (x - mean) * torch.rsqrt(var + 1e-8) * mask


def logprobs_and_values(model: Any, value_head: nn.Module, prompt_ids: Sequence[Sequence[int]],
                        completion_ids: Sequence[Sequence[int]], pad_id: int,
                        ) -> tuple[Tensor, Tensor, Tensor]:
    """One forward: per-token log-probs and values of completions, (B, T) right-aligned + mask."""
    rows = [list(p) + list(c) for p, c in zip(prompt_ids, completion_ids, strict=True)]
    ids, attn = left_pad(rows, pad_id)
    width = max(len(c) for c in completion_ids)
    out = model(input_ids=ids, attention_mask=attn, position_ids=positions(attn),
                logits_to_keep=width + 1, output_hidden_states=True)
    logp = torch.log_softmax(out.logits[:, :-1].float(), -1)            # (B, width, V)
    token_logp = logp.gather(-1, ids[:, -width:, None]).squeeze(-1)     # (B, width)
    # The value of the state before token t is read where token t is predicted.
    values = value_head(out.hidden_states[-1][:, -width - 1:-1]).squeeze(-1)
    mask = torch.zeros_like(token_logp)
    for i, c in enumerate(completion_ids):
        mask[i, width - len(c):] = 1.0
    return token_logp * mask, values * mask, mask


def hidden_size(model: Any) -> int:
    return int(model.config.hidden_size)


def rollout(lm: HFLM, ref: Any, value_head: nn.Module, prompts: list[str],
            prompt_ids: list[list[int]], reward_fn: RewardFn, config: PPOConfig,
            generator: torch.Generator) -> dict[str, Any]:
    """Sample, score and compute advantages for one batch (no gradients)."""
    completions = sample_ids(lm, prompt_ids, config.max_new_tokens, 1.0, generator)
    responses = texts(lm, completions)
    scores = as_scores(reward_fn(prompts, responses))
    with torch.no_grad():
        old_logp, old_values, mask = logprobs_and_values(lm.model, value_head, prompt_ids,
                                                         completions, lm.pad_id)
        ref_logp, _ = right_align(reference_logprobs(lm, ref, prompt_ids, completions))
        rewards = token_rewards(scores, old_logp, ref_logp, mask, config.kl_coef)
        adv, returns = gae(rewards, old_values, mask, config.gamma, config.lam)
    kl = ((old_logp - ref_logp) * mask).sum(1)
    return {"completions": completions, "responses": responses, "scores": scores,
            "old_logp": old_logp, "old_values": old_values, "mask": mask,
            "adv": whiten(adv, mask), "returns": returns, "kl": kl}


def update(lm: HFLM, value_head: nn.Module, optimizer: Any, prompt_ids: list[list[int]],
           batch: dict[str, Any], config: PPOConfig, rng: random.Random) -> dict[str, float]:
    """PPO epochs over one rollout; returns the last minibatch's losses."""
    stats: dict[str, float] = {}
    for _ in range(config.epochs):
        for idx in minibatches(len(prompt_ids), config.minibatch, rng):
            logp, values, _ = logprobs_and_values(
                lm.model, value_head, [prompt_ids[i] for i in idx],
                [batch["completions"][i] for i in idx], lm.pad_id)
            # Realign the minibatch's columns with the rollout's (its width may be smaller).
            width = logp.shape[1]
            pick = {k: batch[k][idx][:, -width:] for k in
                    ("old_logp", "old_values", "mask", "adv", "returns")}
            pg = clipped_policy_loss(logp, pick["old_logp"], pick["adv"], pick["mask"],
                                     config.clip)
            vf = clipped_value_loss(values, pick["old_values"], pick["returns"], pick["mask"],
                                    config.clip)
            loss = pg + config.vf_coef * vf
            optimizer.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(trainable(lm.model) + list(value_head.parameters()), 1.0)
            optimizer.step()
            stats = {"policy_loss": float(pg.detach()), "value_loss": float(vf.detach())}
    return stats


def train_ppo(lm: HFLM, prompts: Sequence[str], reward_fn: RewardFn,
              config: PPOConfig = PPOConfig(), run: Any = None,
              on_step: Callable[[int], dict[str, Any]] | None = None, show: bool = True,
              ) -> list[dict[str, float]]:
    """Optimise `lm` in place against `reward_fn`; `on_step(step)` may add metrics (evals)."""
    apply_lora(lm, config)
    ref = frozen_reference(lm)
    value_head = nn.Linear(hidden_size(lm.model), 1)
    nn.init.zeros_(value_head.weight)
    nn.init.zeros_(value_head.bias)
    optimizer = torch.optim.AdamW(trainable(lm.model) + list(value_head.parameters()),
                                  lr=config.lr)
    encoded = lm.encode(list(prompts))
    rng = random.Random(config.seed)
    generator = torch.Generator().manual_seed(config.seed)
    history: list[dict[str, float]] = []
    lm.model.train()
    with progress(show) as bar:
        task = bar.add_task("ppo", total=config.steps, info="")
        for step in range(1, config.steps + 1):
            idx = [rng.randrange(len(encoded)) for _ in range(config.batch_prompts)]
            batch = rollout(lm, ref, value_head, [prompts[i] for i in idx],
                            [encoded[i] for i in idx], reward_fn, config, generator)
            stats = update(lm, value_head, optimizer, [encoded[i] for i in idx], batch, config,
                           rng)
            record = {"score": float(batch["scores"].mean()), "kl": float(batch["kl"].mean()),
                      **stats, **(on_step(step) if on_step else {})}
            history.append(record)
            if run is not None:
                run.log(step, **record)
            bar.update(task, advance=1, info=f"score {record['score']:.3f} kl {record['kl']:.2f}")
    lm.model.eval()
    return history
