"""LoRA training of any Hugging Face causal LM: adapters, and a lean SFT / DPO loop.

The adapter itself comes from `train.common.apply_lora` (PEFT, shared with the other
trainers); this file adds saving adapters as safetensors, loading and merging them,
and one training loop whose DPO step does only the work the loss needs:

- reference log-probs are computed once, before training, with the adapter off
  (the reference never changes, so recomputing them every step is waste);
- chosen and rejected completions go through the model in one forward pass;
- the LM head runs only on completion positions (`sequence_logprobs`).

The loop checkpoints the adapter and optimizer, resumes from the latest checkpoint,
and runs unchanged under `torchrun` / `accelerate launch` (see `train.distributed`).
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from alignlab.models.base import Prompt
from alignlab.models.hf import HFLM, sequence_logprobs
from alignlab.train import distributed as dist_
from alignlab.train import dpo as dpo_losses
from alignlab.train.common import (
    LoraOptions,
    apply_lora,
    is_peft,
    minibatches,
    progress,
    resume_state,
    save_state,
    trainable,
    with_eos,
)

# ---------------------------------------------------------------- adapters


def seeded_lora(lm: HFLM, config: AlignConfig) -> HFLM:
    """Attach the adapter with a seeded initialisation, so every process and every
    restart of a run starts from the same adapter whatever ran before."""
    torch.manual_seed(config.seed)
    return apply_lora(lm, config)


def attach_lora(lm: HFLM, r: int = 16, alpha: int = 32,
                targets: tuple[str, ...] = ("q_proj", "k_proj", "v_proj", "o_proj")) -> HFLM:
    """Wrap `lm.model` in a fresh LoRA adapter (in place); rank 0 leaves it untouched."""
    return apply_lora(lm, LoraOptions(lora_r=r, lora_alpha=alpha, lora_targets=targets))


def save_adapter(lm: HFLM, directory: Path | str) -> Path:
    """Write the adapter as `adapter_model.safetensors` + `adapter_config.json`."""
    if not is_peft(lm.model):
        raise ValueError("the model has no LoRA adapter to save (train with --lora-r > 0)")
    directory = Path(directory)
    lm.model.save_pretrained(directory, safe_serialization=True)
    return directory / "adapter_model.safetensors"


def load_adapter(lm: HFLM, directory: Path | str, trainable_: bool = False) -> HFLM:
    """Put a saved adapter on `lm.model` (in place)."""
    from peft import PeftModel

    if not (Path(directory) / "adapter_config.json").exists():
        raise ValueError(f"{directory}: no adapter_config.json (not a saved adapter)")
    lm.model = PeftModel.from_pretrained(lm.model, str(directory), is_trainable=trainable_)
    return lm


def merge_adapter(lm: HFLM) -> HFLM:
    """Fold the adapter into the base weights, leaving a plain model (in place)."""
    if is_peft(lm.model):
        lm.model = lm.model.merge_and_unload()
    return lm


# ---------------------------------------------------------------- config and losses


@dataclass(frozen=True)
class AlignConfig(LoraOptions):
    loss: str = "dpo"
    """One of LOSSES: sft (demonstrations), dpo (sigmoid), ipo."""
    beta: float = 0.1
    """DPO/IPO strength of the anchor to the reference policy."""
    lr: float = 5e-4
    """AdamW learning rate."""
    epochs: int = 2
    """Passes over the data."""
    batch_size: int = 4
    """Examples (pairs for DPO) per optimizer step, summed over all processes."""
    max_steps: int = 0
    """Stop after this many steps (0: no limit beyond `epochs`)."""
    checkpoint_every: int = 20
    """Save a resumable checkpoint every this many steps (when writing a run)."""
    seed: int = 0
    """Seed for shuffling."""


# The same loss functions as `alignlab.train.dpo`, under the names this loop's CLI uses.
PREFERENCE_LOSSES: dict[str, Callable[[Tensor, float], Tensor]] = {
    "dpo": dpo_losses.sigmoid_loss, "ipo": dpo_losses.ipo_loss}
LOSSES = ("sft", *PREFERENCE_LOSSES)


# ---------------------------------------------------------------- data


@dataclass
class Encoded:
    """Token ids of the training set; for preferences also the reference log-prob sums."""

    prompts: list[list[int]]
    chosen: list[list[int]]
    rejected: list[list[int]] | None = None
    ref_chosen: Tensor | None = None    # (N,)
    ref_rejected: Tensor | None = None  # (N,)

    def __len__(self) -> int:
        return len(self.prompts)


@torch.no_grad()
def reference_sums(lm: HFLM, prompts: Sequence[Sequence[int]],
                   completions: Sequence[Sequence[int]], batch_size: int = 16) -> Tensor:
    """Summed log-probs of completions under the base model (adapter off), (N,)."""
    context = lm.model.disable_adapter() if is_peft(lm.model) else torch.no_grad()
    sums: list[Tensor] = []
    was_training = lm.model.training
    lm.model.eval()
    with context:
        for s in range(0, len(prompts), batch_size):
            logps = sequence_logprobs(lm.model, prompts[s:s + batch_size],
                                      completions[s:s + batch_size], lm.pad_id)
            sums.extend(lp.sum() for lp in logps)
    lm.model.train(was_training)
    return torch.stack(sums)


def encode(lm: HFLM, prompts: Sequence[Prompt], chosen: Sequence[str],
           rejected: Sequence[str] | None = None) -> Encoded:
    """Encode demonstrations (rejected None) or preference pairs; EOS ends every completion."""
    data = Encoded(lm.encode(list(prompts)), with_eos(lm, chosen))
    if rejected is not None:
        data.rejected = with_eos(lm, rejected)
        data.ref_chosen = reference_sums(lm, data.prompts, data.chosen)
        data.ref_rejected = reference_sums(lm, data.prompts, data.rejected)
    return data


# ---------------------------------------------------------------- one step


def sft_batch_loss(model: Any, data: Encoded, idx: Sequence[int], config: AlignConfig,
                   pad_id: int) -> tuple[Tensor, dict[str, float]]:
    """Mean negative log-likelihood of the demonstration tokens."""
    logps = sequence_logprobs(model, [data.prompts[i] for i in idx],
                              [data.chosen[i] for i in idx], pad_id)
    loss = -torch.cat(logps).mean()
    return loss, {"loss": float(loss.detach())}


def preference_batch_loss(model: Any, data: Encoded, idx: Sequence[int], config: AlignConfig,
                          pad_id: int) -> tuple[Tensor, dict[str, float]]:
    """DPO/IPO loss of a batch of pairs; chosen and rejected share one forward pass."""
    assert data.rejected is not None and data.ref_chosen is not None
    assert data.ref_rejected is not None
    prompts = [data.prompts[i] for i in idx]
    completions = [data.chosen[i] for i in idx] + [data.rejected[i] for i in idx]
    logps = sequence_logprobs(model, prompts + prompts, completions, pad_id)
    sums = torch.stack([lp.sum() for lp in logps])            # (2B,)
    n = len(idx)
    rows = torch.tensor(list(idx))
    chosen_ratio = sums[:n] - data.ref_chosen[rows]           # (B,) log π/π_ref
    rejected_ratio = sums[n:] - data.ref_rejected[rows]
    margin = chosen_ratio - rejected_ratio
    loss = PREFERENCE_LOSSES[config.loss](margin, config.beta)
    m, c, r = margin.detach(), chosen_ratio.detach(), rejected_ratio.detach()
    return loss, {"loss": float(loss.detach()), "accuracy": float((m > 0).float().mean()),
                  "margin": float(m.mean()), "chosen_logratio": float(c.mean()),
                  "rejected_logratio": float(r.mean())}


def batch_loss(model: Any, data: Encoded, idx: Sequence[int], config: AlignConfig,
               pad_id: int) -> tuple[Tensor, dict[str, float]]:
    if config.loss == "sft":
        return sft_batch_loss(model, data, idx, config, pad_id)
    if config.loss not in PREFERENCE_LOSSES:
        raise ValueError(f"unknown loss {config.loss!r}; choose one of {', '.join(LOSSES)}")
    return preference_batch_loss(model, data, idx, config, pad_id)


# ---------------------------------------------------------------- the loop


def schedule(n: int, config: AlignConfig) -> list[list[int]]:
    """Every step's global batch of example indices, fixed by the seed (so resume is exact)."""
    rng = random.Random(config.seed)
    batches = [b for _ in range(config.epochs) for b in minibatches(n, config.batch_size, rng)]
    return batches[:config.max_steps] if config.max_steps else batches


def train(lm: HFLM, data: Encoded, config: AlignConfig, run: Any = None, show: bool = True,
          ) -> list[dict[str, float]]:
    """Train `lm` in place (LoRA when `config.lora_r` > 0); return the per-step log.

    Under torchrun / accelerate launch each process takes its slice of every global
    batch and DistributedDataParallel averages the gradients, so every rank holds the
    same weights after every step; rank 0 alone writes logs and checkpoints.
    """
    seeded_lora(lm, config)
    rank, world = dist_.rank_and_world()
    model = dist_.wrap(lm.model.train())
    optimizer = torch.optim.AdamW(trainable(lm.model), lr=config.lr)
    out = Path(run.out) if run is not None else None
    state = resume_state(out, lm.model, optimizer)
    start = state["step"] if state else 0
    batches = schedule(len(data), config)
    history: list[dict[str, float]] = []
    with progress(show and rank == 0) as bar:
        task = bar.add_task(config.loss, total=len(batches), completed=start, info="")
        for step in range(start, len(batches)):
            mine = batches[step][rank::world]
            loss, record = batch_loss(model, data, mine, config, lm.pad_id)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            record = dist_.mean_over_ranks(record)
            history.append(record)
            if run is not None and rank == 0:
                run.log(step + 1, **record)
                if (step + 1) % config.checkpoint_every == 0 or step + 1 == len(batches):
                    save_state(out, step + 1, lm.model, optimizer)
            dist_.barrier()
            bar.update(task, advance=1, info=f"loss {record['loss']:.3f}")
    lm.model.eval()
    return history


def train_sft(lm: HFLM, prompts: Sequence[Prompt], completions: Sequence[str],
              config: AlignConfig, run: Any = None, show: bool = True) -> list[dict[str, float]]:
    """Supervised fine-tuning on demonstrations (config.loss is forced to "sft")."""
    from dataclasses import replace

    config = replace(config, loss="sft")
    seeded_lora(lm, config)
    return train(lm, encode(lm, prompts, completions), config, run, show)


def train_dpo(lm: HFLM, prompts: Sequence[Prompt], chosen: Sequence[str],
              rejected: Sequence[str], config: AlignConfig, run: Any = None, show: bool = True,
              ) -> list[dict[str, float]]:
    """DPO (or IPO) on preference pairs, reference log-probs computed once up front."""
    seeded_lora(lm, config)  # before encoding, so the reference is "adapter off"
    return train(lm, encode(lm, prompts, chosen, rejected), config, run, show)
