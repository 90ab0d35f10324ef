"""Direct preference optimisation (Rafailov et al. 2023) and IPO (Azar et al. 2023).

With margin m = [log π(y_w) − log π_ref(y_w)] − [log π(y_l) − log π_ref(y_l)]:

- sigmoid (DPO): −log σ(β·m)
- ipo:           (m − 1/(2β))²

This is the one DPO implementation: `train_dpo` below (full fine-tuning or LoRA) and
`train.lora` (adapters on real models, plus SFT) both run `fit`, the loop at the end.
It does only the work the loss needs:

- reference log-probs are computed once, before training, with the adapter off
  (the reference never changes, so recomputing them every step is waste);
- a batch goes through the model as one packed row (`packed_logprobs`): chosen and
  rejected share their prompt's forward, a chat template's common system turn is
  computed once, nothing is padded, and the LM head runs only where a completion
  token is predicted.

The loop checkpoints and resumes, hands each step to an optional `on_step` callback,
and runs unchanged under `torchrun` / `accelerate launch` (see `train.distributed`).
`train_dpo` logs KL to the reference every step (per token, over the vocabulary, at
the chosen completions' positions: one extra forward, no sampling).
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from contextlib import nullcontext
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from alignlab.models.base import Prompt
from alignlab.models.hf import HFLM, packed_logprobs
from alignlab.train import distributed as dist_
from alignlab.train.common import (
    LoraOptions,
    apply_lora,
    data_kl,
    frozen_reference,
    is_peft,
    minibatches,
    progress,
    resume_state,
    save_state,
    trainable,
    with_eos,
)

# ---------------------------------------------------------------- config


@dataclass(frozen=True)
class LoopOptions(LoraOptions):
    """Everything `fit` reads; `DPOConfig` and `train.lora.AlignConfig` extend it."""

    beta: float = 0.1
    """Strength of the KL anchor to the reference policy."""
    loss: str = "sigmoid"
    """One of LOSSES: sigmoid (DPO) or ipo."""
    lr: float = 1e-4
    """AdamW learning rate."""
    epochs: int = 2
    """Passes over the training data."""
    batch_size: int = 16
    """Examples (pairs for DPO) per optimizer step, summed over all processes."""
    max_steps: int = 0
    """Stop after this many steps (0: no limit beyond `epochs`)."""
    checkpoint_every: int = 50
    """Save a resumable checkpoint every this many steps (when writing a run)."""
    seed: int = 0
    """Seed for shuffling and for the LoRA adapter's initialisation."""


@dataclass(frozen=True)
class DPOConfig(LoopOptions):
    # Not in LoopOptions: on a real model (train.lora) the probe would cost two more
    # full-vocabulary forwards per step.
    kl_rows: int = 8
    """Chosen completions on which each step measures per-token KL to the reference."""


# ---------------------------------------------------------------- losses


def sigmoid_loss(margin: Tensor, beta: float) -> Tensor:
    """DPO: −log σ(β·margin), averaged; margin: (B,)."""
    return -F.logsigmoid(beta * margin).mean()


def ipo_loss(margin: Tensor, beta: float) -> Tensor:
    """IPO: squared distance of the margin from 1/(2β), averaged."""
    return ((margin - 1.0 / (2.0 * beta)) ** 2).mean()


LossFn = Callable[[Tensor, float], Tensor]
LOSSES: dict[str, LossFn] = {"sigmoid": sigmoid_loss, "ipo": ipo_loss}


def dpo_margin(policy_w: Tensor, policy_l: Tensor, ref_w: Tensor, ref_l: Tensor) -> Tensor:
    """(B,) margins from summed sequence log-probs of chosen (w) and rejected (l)."""
    return (policy_w - ref_w) - (policy_l - ref_l)


# ---------------------------------------------------------------- adapter and data


def seeded_lora(lm: HFLM, config: LoopOptions) -> HFLM:
    """Attach the LoRA adapter (when `config.lora_r` > 0) from a seeded initialisation, so
    every process and every restart of a run starts from the same adapter whatever ran
    before. Full fine-tuning leaves the global RNG alone."""
    if config.lora_r > 0 and not is_peft(lm.model):
        torch.manual_seed(config.seed)
    return apply_lora(lm, config)


def summed_logprobs(model: Any, prompt_ids: Sequence[Sequence[int]],
                    completion_ids: Sequence[Sequence[int]]) -> Tensor:
    """(B,) log-probs of each completion given its prompt, summed over its tokens."""
    return torch.stack([lp.sum() for lp in packed_logprobs(model, prompt_ids, completion_ids)])


def pair_sums(model: Any, prompts: Sequence[Sequence[int]], chosen: Sequence[Sequence[int]],
              rejected: Sequence[Sequence[int]]) -> Tensor:
    """(2B,) summed log-probs, chosen then rejected, in one packed forward pass (each
    pair's prompt goes through the model once)."""
    return summed_logprobs(model, list(prompts) + list(prompts), list(chosen) + list(rejected))


@torch.no_grad()
def reference_sums(lm: HFLM, prompts: Sequence[Sequence[int]], chosen: Sequence[Sequence[int]],
                   rejected: Sequence[Sequence[int]], pairs_per_pass: int = 8,
                   ) -> tuple[Tensor, Tensor]:
    """(N,), (N,) summed log-probs of chosen and rejected under the reference: `lm` as it
    is now, with its adapter (if any) switched off. Called once, before training changes
    the weights."""
    was_training = lm.model.training
    lm.model.eval()
    with lm.model.disable_adapter() if is_peft(lm.model) else nullcontext():
        sums = [pair_sums(lm.model, prompts[s:s + pairs_per_pass], chosen[s:s + pairs_per_pass],
                          rejected[s:s + pairs_per_pass]).view(2, -1)
                for s in range(0, len(prompts), pairs_per_pass)]
    lm.model.train(was_training)
    both = torch.cat(sums, dim=1)
    return both[0], both[1]


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


def encode(lm: HFLM, prompts: Sequence[Prompt], chosen: Sequence[str],
           rejected: Sequence[str] | None = None) -> Encoded:
    """Encode demonstrations (rejected None) or preference pairs; EOS ends every completion."""
    data = Encoded(lm.encode(list(prompts)), with_eos(lm, chosen))
    if rejected is not None:
        data.rejected = with_eos(lm, rejected)
        data.ref_chosen, data.ref_rejected = reference_sums(lm, data.prompts, data.chosen,
                                                            data.rejected)
    return data


# ---------------------------------------------------------------- one step


StepLoss = Callable[[Any, Encoded, Sequence[int]], tuple[Tensor, dict[str, float]]]
"""(model, data, rows of this step) -> (loss to minimise, scalars to log)."""


def preference_loss(model: Any, data: Encoded, idx: Sequence[int], loss: LossFn, beta: float,
                    ) -> tuple[Tensor, dict[str, float]]:
    """DPO/IPO loss of a batch of pairs; chosen and rejected share one forward pass."""
    assert data.rejected is not None and data.ref_chosen is not None
    assert data.ref_rejected is not None
    sums = pair_sums(model, [data.prompts[i] for i in idx], [data.chosen[i] for i in idx],
                     [data.rejected[i] for i in idx])                   # (2B,)
    n, rows = len(idx), list(idx)
    ref_w, ref_l = data.ref_chosen[rows], data.ref_rejected[rows]          # (B,)
    margin = dpo_margin(sums[:n], sums[n:], ref_w, ref_l)
    value = loss(margin, beta)
    m, s = margin.detach(), sums.detach()
    return value, {"loss": float(value.detach()), "accuracy": float((m > 0).float().mean()),
                   "margin": float(m.mean()),
                   "chosen_logratio": float((s[:n] - ref_w).mean()),      # log π/π_ref
                   "rejected_logratio": float((s[n:] - ref_l).mean())}


def chosen_kl(lm: HFLM, ref: Any, data: Encoded, idx: Sequence[int]) -> float:
    """Per-token KL(π‖π_ref) at the chosen completions of rows `idx`."""
    return data_kl(lm, ref, [data.prompts[i] for i in idx], [data.chosen[i] for i in idx])


# ---------------------------------------------------------------- the loop


def schedule(n: int, config: LoopOptions) -> list[list[int]]:
    """Every step's global batch of example indices, fixed by the seed (so resume is exact)."""
    rng = random.Random(config.seed)
    batches = [b for _ in range(config.epochs) for b in minibatches(n, config.batch_size, rng)]
    return batches[:config.max_steps] if config.max_steps else batches


def fit(lm: HFLM, data: Encoded, step_loss: StepLoss, config: LoopOptions, run: Any = None,
        show: bool = True, on_step: Callable[[int], dict[str, Any]] | None = None,
        kl_rows: int = 0) -> list[dict[str, float]]:
    """Train `lm` in place (LoRA when `config.lora_r` > 0); return the per-step log.

    Each step's record holds `step_loss`'s scalars, `kl` on `kl_rows` chosen completions
    (when > 0) and whatever `on_step(step)` returns. Under torchrun / accelerate launch
    each process takes its slice of every global batch and DistributedDataParallel
    averages the gradients, so every rank holds the same weights after every step;
    rank 0 alone writes logs and checkpoints.
    """
    seeded_lora(lm, config)
    ref = frozen_reference(lm) if kl_rows else None  # a full copy only when KL is measured
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
            loss, record = step_loss(model, data, mine)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            if kl_rows:
                record["kl"] = chosen_kl(lm, ref, data, mine[:kl_rows])
            record = {**dist_.mean_over_ranks(record), **(on_step(step + 1) if on_step else {})}
            history.append(record)
            if run is not None and rank == 0:
                run.log(step + 1, **record)
                if (step + 1) % config.checkpoint_every == 0 or step + 1 == len(batches):
                    save_state(out, step + 1, lm.model, optimizer)
            dist_.barrier()
            kl = f" kl {record['kl']:.2f}" if kl_rows else ""
            bar.update(task, advance=1, info=f"loss {record['loss']:.3f}{kl}")
    lm.model.eval()
    return history


def train_dpo(lm: HFLM, prompts: Sequence[Prompt], chosen: Sequence[str],
              rejected: Sequence[str], config: DPOConfig = DPOConfig(), run: Any = None,
              on_step: Callable[[int], dict[str, Any]] | None = None, show: bool = True,
              ) -> list[dict[str, float]]:
    """Train `lm` in place on preference pairs; return the per-step log."""
    if config.loss not in LOSSES:
        raise ValueError(f"unknown DPO loss {config.loss!r}; use one of {list(LOSSES)}")
    step = partial(preference_loss, loss=LOSSES[config.loss], beta=config.beta)
    return fit(lm, encode(lm, prompts, chosen, rejected), step, config, run, show, on_step,
               config.kl_rows)
