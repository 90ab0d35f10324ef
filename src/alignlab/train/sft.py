"""Supervised fine-tuning: maximise the log-likelihood of demonstration completions.

Loss = mean negative log-probability over completion tokens (EOS included, so the
model learns to stop); prompt tokens are context only. KL to the initial policy is
logged every step (per token, over the vocabulary, at the batch's completion positions).
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from alignlab.models.hf import HFLM, sequence_logprobs
from alignlab.train.common import (
    LoraOptions,
    apply_lora,
    data_kl,
    frozen_reference,
    minibatches,
    progress,
    resume_state,
    save_state,
    trainable,
    with_eos,
)


@dataclass(frozen=True)
class SFTConfig(LoraOptions):
    lr: float = 1e-3
    """AdamW learning rate."""
    epochs: int = 3
    """Passes over the demonstrations."""
    batch_size: int = 32
    """Demonstrations per optimizer step."""
    max_steps: int = 0
    """Stop after this many steps (0: no limit beyond `epochs`)."""
    kl_rows: int = 8
    """Batch rows on which each step measures per-token KL to the initial policy."""
    checkpoint_every: int = 100
    """Save a resumable checkpoint every this many steps (when writing a run)."""
    seed: int = 0
    """Seed for shuffling and sampling."""


def sft_loss(token_logps: Sequence[Tensor]) -> Tensor:
    """Mean negative log-likelihood over all completion tokens of the batch."""
    return -torch.cat(list(token_logps)).mean()


def train_sft(lm: HFLM, prompts: Sequence[str], completions: Sequence[str],
              config: SFTConfig = SFTConfig(), run: Any = None, show: bool = True,
              ) -> list[dict[str, float]]:
    """Fine-tune `lm` in place on (prompt, completion) pairs; return the per-step log."""
    apply_lora(lm, config)
    ref = frozen_reference(lm)
    prompt_ids = lm.encode(list(prompts))
    target_ids = with_eos(lm, completions)
    model = lm.model.train()
    optimizer = torch.optim.AdamW(trainable(model), lr=config.lr)
    out = Path(run.out) if run is not None else None
    state = resume_state(out, model, optimizer)
    start = state["step"] if state else 0
    steps_per_epoch = -(-len(prompt_ids) // config.batch_size)
    total = steps_per_epoch * config.epochs
    if config.max_steps:
        total = min(total, config.max_steps)
    rng = random.Random(config.seed)
    batches = [b for _ in range(config.epochs)
               for b in minibatches(len(prompt_ids), config.batch_size, rng)][:total]
    history = []
    with progress(show) as bar:
        task = bar.add_task("sft", total=total, completed=start, info="")
        for step in range(start, total):
            batch = batches[step]
            logps = sequence_logprobs(model, [prompt_ids[i] for i in batch],
                                      [target_ids[i] for i in batch], lm.pad_id)
            loss = sft_loss(logps)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            kl = data_kl(lm, ref, [prompt_ids[i] for i in batch[:config.kl_rows]],
                         [target_ids[i] for i in batch[:config.kl_rows]])
            record = {"loss": float(loss.detach()), "kl": kl}
            history.append(record)
            if run is not None:
                run.log(step + 1, **record)
                if (step + 1) % config.checkpoint_every == 0 or step + 1 == total:
                    save_state(out, step + 1, model, optimizer)
            bar.update(task, advance=1, info=f"loss {record['loss']:.3f} kl {kl:.2f}")
    lm.model.eval()
    return history
