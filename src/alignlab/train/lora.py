"""LoRA training of any Hugging Face causal LM: adapters, and SFT / DPO on `train.dpo`'s loop.

The adapter itself comes from `train.common.apply_lora` (PEFT, shared with the other
trainers); this file adds saving adapters as safetensors, loading and merging them,
and `AlignConfig`: the settings of `train.dpo.fit` for real models, with supervised
fine-tuning on demonstrations as a third loss next to DPO and IPO.

Training is `train.dpo.fit`: reference log-probs once before training (adapter off),
chosen and rejected in one forward pass, checkpoint and resume, and the same run
under `torchrun` / `accelerate launch` (see `train.distributed`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from functools import partial
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from alignlab.models.base import Prompt
from alignlab.models.hf import HFLM, packed_logprobs
from alignlab.train.common import LoraOptions, apply_lora, is_peft
from alignlab.train.dpo import (
    Encoded,
    LoopOptions,
    LossFn,
    encode,
    fit,
    ipo_loss,
    preference_loss,
    sigmoid_loss,
)

# ---------------------------------------------------------------- adapters


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
class AlignConfig(LoopOptions):
    """`train.dpo.fit`'s settings for LoRA on real models, with "sft" as a third loss."""

    loss: str = "dpo"
    """One of LOSSES: sft (demonstrations), dpo (sigmoid), ipo."""
    # Adapters on real models: a larger step, smaller batches, checkpoints more often.
    lr: float = 5e-4
    batch_size: int = 4
    checkpoint_every: int = 20


# `train.dpo`'s loss functions, under the names this module's CLI uses.
PREFERENCE_LOSSES: dict[str, LossFn] = {"dpo": sigmoid_loss, "ipo": ipo_loss}
LOSSES = ("sft", *PREFERENCE_LOSSES)


def sft_batch_loss(model: Any, data: Encoded, idx: Sequence[int],
                   ) -> tuple[Tensor, dict[str, float]]:
    """Mean negative log-likelihood of the demonstration tokens."""
    logps = packed_logprobs(model, [data.prompts[i] for i in idx],
                            [data.chosen[i] for i in idx])
    loss = -torch.cat(logps).mean()
    return loss, {"loss": float(loss.detach())}


def batch_loss(model: Any, data: Encoded, idx: Sequence[int], config: AlignConfig,
               ) -> tuple[Tensor, dict[str, float]]:
    """The loss `config.loss` names on rows `idx` of `data`, and the scalars to log."""
    if config.loss == "sft":
        return sft_batch_loss(model, data, idx)
    return preference_loss(model, data, idx, PREFERENCE_LOSSES[config.loss], config.beta)


# ---------------------------------------------------------------- training


def train(lm: HFLM, data: Encoded, config: AlignConfig, run: Any = None, show: bool = True,
          ) -> list[dict[str, float]]:
    """Train `lm` in place (LoRA when `config.lora_r` > 0); return the per-step log."""
    if config.loss not in LOSSES:
        raise ValueError(f"unknown loss {config.loss!r}; choose one of {', '.join(LOSSES)}")
    step = partial(batch_loss, config=config)
    return fit(lm, data, step, config, run, show)


def train_sft(lm: HFLM, prompts: Sequence[Prompt], completions: Sequence[str],
              config: AlignConfig, run: Any = None, show: bool = True) -> list[dict[str, float]]:
    """Supervised fine-tuning on demonstrations (config.loss is forced to "sft")."""
    return train(lm, encode(lm, prompts, completions), replace(config, loss="sft"), run, show)


def train_dpo(lm: HFLM, prompts: Sequence[Prompt], chosen: Sequence[str],
              rejected: Sequence[str], config: AlignConfig, run: Any = None, show: bool = True,
              ) -> list[dict[str, float]]:
    """DPO (or IPO) on preference pairs, reference log-probs computed once up front."""
    return train(lm, encode(lm, prompts, chosen, rejected), config, run, show)
