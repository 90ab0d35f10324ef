"""Small helpers every trainer shares: LoRA wrapping, sampling, reference log-probs, KL.

Trainers take an `HFLM` (any Hugging Face causal LM with its tokenizer) so the same
code trains a tiny world policy and SmolLM2. With LoRA the reference policy is the
base model with the adapter switched off, so no second copy is held in memory.
"""

from __future__ import annotations

import copy
import random
from collections.abc import Iterator, Sequence
from contextlib import nullcontext
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from alignlab.models.base import SamplingParams
from alignlab.models.hf import HFLM, decode, sequence_logprobs


@dataclass(frozen=True)
class LoraOptions:
    """LoRA settings shared by the trainers' configs (rank 0 means full fine-tuning)."""

    lora_r: int = 0
    """LoRA rank; 0 trains every weight instead of an adapter."""
    lora_alpha: int = 32
    """LoRA scaling numerator (the update is scaled by alpha / r)."""
    lora_targets: tuple[str, ...] = ("q_proj", "k_proj", "v_proj", "o_proj")
    """Module names that receive LoRA adapters."""


def apply_lora(lm: HFLM, options: LoraOptions) -> HFLM:
    """Wrap `lm.model` in a PEFT LoRA adapter when `options.lora_r` > 0 (in place)."""
    if options.lora_r <= 0 or is_peft(lm.model):
        return lm
    from peft import LoraConfig, get_peft_model

    config = LoraConfig(r=options.lora_r, lora_alpha=options.lora_alpha,
                        target_modules=list(options.lora_targets), lora_dropout=0.0,
                        task_type="CAUSAL_LM")
    lm.model = get_peft_model(lm.model, config)
    return lm


def is_peft(model: Any) -> bool:
    return hasattr(model, "disable_adapter") and hasattr(model, "peft_config")


def trainable(model: Any) -> list[torch.nn.Parameter]:
    return [p for p in model.parameters() if p.requires_grad]


def frozen_reference(lm: HFLM) -> Any:
    """The initial policy to measure KL against: None for PEFT (adapter off), else a copy."""
    if is_peft(lm.model):
        return None
    ref = copy.deepcopy(lm.model).eval()
    for p in ref.parameters():
        p.requires_grad_(False)
    return ref


def reference_context(lm: HFLM, ref: Any) -> Any:
    """Context in which `ref_model(lm, ref)` is the reference policy."""
    return lm.model.disable_adapter() if ref is None else nullcontext()


def ref_model(lm: HFLM, ref: Any) -> Any:
    return lm.model if ref is None else ref


@torch.no_grad()
def reference_logprobs(lm: HFLM, ref: Any, prompt_ids: Sequence[Sequence[int]],
                       completion_ids: Sequence[Sequence[int]]) -> list[Tensor]:
    """Per-token log-probs of completions under the reference policy."""
    with reference_context(lm, ref):
        return sequence_logprobs(ref_model(lm, ref), prompt_ids, completion_ids, lm.pad_id)


def sample_ids(lm: HFLM, prompt_ids: Sequence[Sequence[int]], max_new_tokens: int,
               temperature: float = 1.0, generator: torch.Generator | None = None,
               batch_size: int = 4096) -> list[list[int]]:
    """Sampled completion token ids (ending with EOS when the model stopped), one per prompt."""
    params = SamplingParams(max_new_tokens=max_new_tokens, temperature=temperature)
    out: list[list[int]] = []
    was_training = lm.model.training
    lm.model.eval()
    for s in range(0, len(prompt_ids), batch_size):
        rows = decode(lm.model, prompt_ids[s:s + batch_size], params, lm.eos_ids, lm.pad_id,
                      generator)
        out.extend(ids for ids, _ in rows)
    lm.model.train(was_training)
    return out


def texts(lm: HFLM, completion_ids: Sequence[Sequence[int]]) -> list[str]:
    return [lm.tokenizer.decode(ids, skip_special_tokens=True) for ids in completion_ids]


def with_eos(lm: HFLM, completions: Sequence[str]) -> list[list[int]]:
    """Token ids of target completions followed by EOS, so training teaches the model to stop."""
    eos = int(lm.tokenizer.eos_token_id)
    return [ids + [eos] for ids in lm.encode_completions(completions)]


def sequence_kl(policy_logps: Sequence[Tensor], ref_logps: Sequence[Tensor]) -> Tensor:
    """Per-sequence log-ratio sums, (B,): on policy samples their mean estimates KL(π‖π_ref)."""
    return torch.stack([(p - r).sum() for p, r in zip(policy_logps, ref_logps, strict=True)])


@torch.no_grad()
def sampled_kl(lm: HFLM, ref: Any, prompt_ids: Sequence[Sequence[int]], max_new_tokens: int,
               generator: torch.Generator | None = None) -> float:
    """Monte-Carlo KL(π‖π_ref) in nats per sequence, from one sample per prompt."""
    completions = sample_ids(lm, prompt_ids, max_new_tokens, 1.0, generator)
    policy = sequence_logprobs(lm.model, prompt_ids, completions, lm.pad_id)
    reference = reference_logprobs(lm, ref, prompt_ids, completions)
    return float(sequence_kl(policy, reference).mean())


def data_kl(lm: HFLM, ref: Any, prompt_ids: Sequence[Sequence[int]],
            completion_ids: Sequence[Sequence[int]]) -> float:
    """Mean per-token KL(π‖π_ref) over the full vocabulary, at the completion positions of a
    batch of data: one reference forward instead of sampling, for trainers that see no samples.
    """
    from alignlab.models.hf import left_pad, positions

    rows = [list(p) + list(c) for p, c in zip(prompt_ids, completion_ids, strict=True)]
    ids, mask = left_pad(rows, lm.pad_id)
    width = max(len(c) for c in completion_ids)
    keep = torch.zeros(len(rows), width, dtype=torch.bool)   # real completion positions
    for i, c in enumerate(completion_ids):
        keep[i, width - len(c):] = True
    with torch.no_grad():
        logits = []
        pairs = ((lm.model, nullcontext()), (ref_model(lm, ref), reference_context(lm, ref)))
        for model, ctx in pairs:
            with ctx:
                out = model(input_ids=ids, attention_mask=mask, position_ids=positions(mask),
                            logits_to_keep=width + 1)
            logits.append(torch.log_softmax(out.logits[:, :-1].float(), -1))   # (B, width, V)
        policy, reference = logits
        kl = (policy.exp() * (policy - reference)).sum(-1)                      # (B, width)
    return float(kl[keep].mean())


def minibatches(n: int, size: int, rng: random.Random) -> Iterator[list[int]]:
    """Shuffled index batches covering range(n) once."""
    order = list(range(n))
    rng.shuffle(order)
    for s in range(0, n, size):
        yield order[s:s + size]


def count_params(model: Any, trainable_only: bool = False) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)


def progress(enabled: bool = True) -> Any:
    """A rich progress bar (a transient one, so logs stay readable); disabled in tests."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                    TimeElapsedColumn(), TextColumn("{task.fields[info]}"), transient=True,
                    disable=not enabled)


def trainable_state(model: Any) -> dict[str, Tensor]:
    """Only the trained weights (the adapter under LoRA), so checkpoints stay small."""
    return {n: p.detach().clone() for n, p in model.named_parameters() if p.requires_grad}


def save_state(out: Any, step: int, model: Any, optimizer: Any, **extra: Any) -> None:
    from alignlab.report import save_checkpoint

    save_checkpoint(out, {"model": trainable_state(model), "optimizer": optimizer.state_dict(),
                          **extra}, step)


def resume_state(out: Any, model: Any, optimizer: Any) -> dict[str, Any] | None:
    """Load the run's latest checkpoint into `model` and `optimizer`; None on a fresh start."""
    from alignlab.report import load_checkpoint

    if out is None or (state := load_checkpoint(out)) is None:
        return None
    model.load_state_dict(state["model"], strict=False)
    optimizer.load_state_dict(state["optimizer"])
    return state


def right_align(rows: Sequence[Tensor]) -> tuple[Tensor, Tensor]:
    """Stack 1-D tensors of different lengths into (B, T), each ending at column T−1.

    Completions sit at the end of left-padded rows, so this is their natural layout.
    Returns the values (0 where absent) and a float mask.
    """
    width = max(len(r) for r in rows)
    values = rows[0].new_zeros((len(rows), width))
    mask = torch.zeros((len(rows), width))
    for i, r in enumerate(rows):
        if len(r):
            values[i, width - len(r):] = r
            mask[i, width - len(r):] = 1.0
    return values, mask


def as_scores(values: Any) -> Tensor:
    return torch.as_tensor(values, dtype=torch.float32).detach().flatten()
