"""Direct preference optimisation (Rafailov et al. 2023) and IPO (Azar et al. 2023).

With margin m = [log π(y_w) − log π_ref(y_w)] − [log π(y_l) − log π_ref(y_l)]:

- sigmoid (DPO): −log σ(β·m)
- ipo:           (m − 1/(2β))²

The reference log-probs are computed once before training (one no-grad pass), and
each step runs chosen and rejected through the policy in a single forward. Runs
checkpoint and resume. KL to the reference is logged every step (per token, over the
vocabulary, at the chosen completions' positions: one extra forward, no sampling).
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from alignlab.models.hf import HFLM, sequence_logprobs
from alignlab.train.common import (
    LoraOptions,
    apply_lora,
    data_kl,
    frozen_reference,
    minibatches,
    progress,
    ref_model,
    reference_context,
    resume_state,
    save_state,
    trainable,
    with_eos,
)


@dataclass(frozen=True)
class DPOConfig(LoraOptions):
    beta: float = 0.1
    """Strength of the KL anchor to the reference policy."""
    loss: str = "sigmoid"
    """One of LOSSES: sigmoid (DPO) or ipo."""
    lr: float = 1e-4
    """AdamW learning rate."""
    epochs: int = 2
    """Passes over the preference pairs."""
    batch_size: int = 16
    """Pairs per optimizer step."""
    max_steps: int = 0
    """Stop after this many steps (0: no limit beyond `epochs`)."""
    kl_rows: int = 8
    """Chosen completions on which each step measures per-token KL to the reference."""
    checkpoint_every: int = 50
    """Save a resumable checkpoint every this many steps (when writing a run)."""
    seed: int = 0
    """Seed for shuffling and sampling."""


def sigmoid_loss(margin: Tensor, beta: float) -> Tensor:
    """DPO: −log σ(β·margin), averaged; margin: (B,)."""
    return -F.logsigmoid(beta * margin).mean()


def ipo_loss(margin: Tensor, beta: float) -> Tensor:
    """IPO: squared distance of the margin from 1/(2β), averaged."""
    return ((margin - 1.0 / (2.0 * beta)) ** 2).mean()


LOSSES: dict[str, Callable[[Tensor, float], Tensor]] = {"sigmoid": sigmoid_loss, "ipo": ipo_loss}


def dpo_margin(policy_w: Tensor, policy_l: Tensor, ref_w: Tensor, ref_l: Tensor) -> Tensor:
    """(B,) margins from summed sequence log-probs of chosen (w) and rejected (l)."""
    return (policy_w - ref_w) - (policy_l - ref_l)


def summed_logprobs(model: Any, prompt_ids: Sequence[Sequence[int]],
                    completion_ids: Sequence[Sequence[int]], pad_id: int) -> Tensor:
    return torch.stack([lp.sum() for lp in sequence_logprobs(model, prompt_ids, completion_ids,
                                                             pad_id)])


@torch.no_grad()
def reference_sums(lm: HFLM, ref: Any, prompt_ids: list[list[int]],
                   completion_ids: list[list[int]], batch_size: int = 64) -> Tensor:
    """Summed reference log-probs of every completion, computed once before training."""
    with reference_context(lm, ref):
        model = ref_model(lm, ref)
        return torch.cat([summed_logprobs(model, prompt_ids[s:s + batch_size],
                                          completion_ids[s:s + batch_size], lm.pad_id)
                          for s in range(0, len(prompt_ids), batch_size)])


def train_dpo(lm: HFLM, prompts: Sequence[str], chosen: Sequence[str], rejected: Sequence[str],
              config: DPOConfig = DPOConfig(), run: Any = None,
              on_step: Callable[[int], dict[str, Any]] | None = None, show: bool = True,
              ) -> list[dict[str, float]]:
    """Train `lm` in place on preference pairs; return the per-step log."""
    if config.loss not in LOSSES:
        raise ValueError(f"unknown DPO loss {config.loss!r}; use one of {list(LOSSES)}")
    apply_lora(lm, config)
    ref = frozen_reference(lm)
    prompt_ids = lm.encode(list(prompts))
    win_ids, lose_ids = with_eos(lm, chosen), with_eos(lm, rejected)
    ref_w = reference_sums(lm, ref, prompt_ids, win_ids)
    ref_l = reference_sums(lm, ref, prompt_ids, lose_ids)
    model = lm.model.train()
    optimizer = torch.optim.AdamW(trainable(model), lr=config.lr)
    out = Path(run.out) if run is not None else None
    state = resume_state(out, model, optimizer)
    start = state["step"] if state else 0
    rng = random.Random(config.seed)
    batches = [b for _ in range(config.epochs)
               for b in minibatches(len(prompt_ids), config.batch_size, rng)]
    total = min(len(batches), config.max_steps) if config.max_steps else len(batches)
    history = []
    with progress(show) as bar:
        task = bar.add_task(f"dpo ({config.loss})", total=total, completed=start, info="")
        for step in range(start, total):
            b = batches[step]
            both = summed_logprobs(model, [prompt_ids[i] for i in b] * 2,
                                   [win_ids[i] for i in b] + [lose_ids[i] for i in b], lm.pad_id)
            margin = dpo_margin(both[:len(b)], both[len(b):], ref_w[b], ref_l[b])
            loss = LOSSES[config.loss](margin, config.beta)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            kl = data_kl(lm, ref, [prompt_ids[i] for i in b[:config.kl_rows]],
                         [win_ids[i] for i in b[:config.kl_rows]])
            record = {"loss": float(loss.detach()), "margin": float(margin.detach().mean()),
                      "accuracy": float((margin > 0).float().mean()), "kl": kl,
                      **(on_step(step + 1) if on_step else {})}
            history.append(record)
            if run is not None:
                run.log(step + 1, **record)
                if (step + 1) % config.checkpoint_every == 0 or step + 1 == total:
                    save_state(out, step + 1, model, optimizer)
            bar.update(task, advance=1, info=f"loss {record['loss']:.3f} kl {kl:.2f}")
    lm.model.eval()
    return history
