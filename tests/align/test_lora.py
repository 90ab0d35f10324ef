"""The LoRA SFT/DPO loop on a tiny model: losses by hand, parameters move, loss falls, resume."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch

from alignlab.models.tiny import tiny_lm
from alignlab.report import Run
from alignlab.train import dpo
from alignlab.train.dpo import encode
from alignlab.train.lora import (
    PREFERENCE_LOSSES,
    AlignConfig,
    load_adapter,
    merge_adapter,
    save_adapter,
    train,
    train_dpo,
)

VOCAB = "the sky is blue green red grass sun yes no what colour".split()
PROMPTS = ["what colour is the sky", "what colour is the grass", "what colour is the sun"] * 2
CHOSEN = ["blue", "green", "red"] * 2
REJECTED = ["green", "red", "blue"] * 2


def lm():
    return tiny_lm(VOCAB, seed=0)


def test_sigmoid_dpo_matches_hand_value():
    # margins 1 and -2 at beta 0.5: mean of -log σ(0.5) and -log σ(-1)
    expected = (math.log(1 + math.exp(-0.5)) + math.log(1 + math.exp(1.0))) / 2
    loss = PREFERENCE_LOSSES["dpo"](torch.tensor([1.0, -2.0]), 0.5).item()
    assert loss == pytest.approx(expected, abs=1e-6)


def test_ipo_matches_hand_value():
    # beta 0.25: target 2; margins 1 and 4 -> ((1-2)^2 + (4-2)^2) / 2 = 2.5
    assert PREFERENCE_LOSSES["ipo"](torch.tensor([1.0, 4.0]), 0.25).item() == pytest.approx(2.5)


def test_dpo_changes_lora_parameters_and_lowers_loss():
    model = lm()
    config = AlignConfig(lora_r=4, lr=5e-2, epochs=10, batch_size=6, beta=0.5)
    model_before = None
    history = []
    from alignlab.train.common import apply_lora, trainable

    apply_lora(model, config)
    model_before = {n: p.detach().clone() for n, p in model.model.named_parameters()
                    if p.requires_grad}
    history = train_dpo(model, PROMPTS, CHOSEN, REJECTED, config, show=False)
    after = dict(model.model.named_parameters())
    changed = [n for n, p in model_before.items() if "lora_B" in n
               and not torch.equal(p, after[n].detach())]
    assert changed and len(trainable(model.model)) == len(model_before)
    assert history[0]["loss"] == pytest.approx(math.log(2), abs=1e-5)  # adapter starts at zero
    assert history[-1]["loss"] < history[0]["loss"] - 0.1


def test_lora_and_dpo_entry_points_train_identically():
    # Same loop, same step: `dpo` here is train.dpo's `sigmoid` under another name.
    shared = {"lora_r": 4, "lr": 5e-2, "epochs": 2, "batch_size": 3, "beta": 0.5}
    a, b = lm(), lm()
    log_a = train_dpo(a, PROMPTS, CHOSEN, REJECTED, AlignConfig(loss="dpo", **shared),
                      show=False)
    log_b = dpo.train_dpo(b, PROMPTS, CHOSEN, REJECTED,
                          dpo.DPOConfig(loss="sigmoid", kl_rows=0, **shared), show=False)
    assert log_a == log_b
    for (name, p), (_, q) in zip(a.model.named_parameters(), b.model.named_parameters(),
                                 strict=True):
        assert torch.equal(p, q), name


def test_sft_full_finetune_lowers_loss():
    model = lm()
    data = encode(model, PROMPTS, CHOSEN)
    history = train(model, data, AlignConfig(loss="sft", lr=1e-2, epochs=8, batch_size=3),
                    show=False)
    assert history[-1]["loss"] < history[0]["loss"] * 0.7


def test_unknown_loss_is_a_clear_error():
    model = lm()
    data = encode(model, PROMPTS, CHOSEN)
    with pytest.raises(ValueError, match="unknown loss"):
        train(model, data, AlignConfig(loss="ppo"), show=False)


def test_resume_continues_from_checkpoint(tmp_path: Path):
    config = AlignConfig(lora_r=4, lr=5e-2, epochs=4, batch_size=2, checkpoint_every=1)
    straight = lm()
    train_dpo(straight, PROMPTS, CHOSEN, REJECTED, config, show=False)
    # Interrupted after 3 steps, then run again with the full schedule in the same dir.
    from dataclasses import replace

    interrupted = lm()
    run = Run(tmp_path, "resume-test", config)
    train_dpo(interrupted, PROMPTS, CHOSEN, REJECTED, replace(config, max_steps=3), run,
              show=False)
    resumed = lm()
    log = train_dpo(resumed, PROMPTS, CHOSEN, REJECTED, config, Run(tmp_path, "resume-test",
                                                                    config), show=False)
    assert len(log) == 12 - 3  # only the remaining steps ran
    for (name, a), (_, b) in zip(straight.model.named_parameters(),
                                 resumed.model.named_parameters(), strict=True):
        assert torch.allclose(a, b, atol=1e-6), name


def test_adapter_save_load_merge_round_trip(tmp_path: Path):
    trained = lm()
    train_dpo(trained, PROMPTS, CHOSEN, REJECTED,
              AlignConfig(lora_r=4, lr=5e-2, epochs=3, batch_size=6), show=False)
    path = save_adapter(trained, tmp_path / "adapter")
    assert path.name == "adapter_model.safetensors" and path.exists()
    def flat(model):
        return [x for row in model.logprobs(PROMPTS[:3], CHOSEN[:3]) for x in row]

    reference = flat(trained)
    fresh = load_adapter(lm(), tmp_path / "adapter")
    assert flat(fresh) == pytest.approx(reference, abs=1e-5)
    merged = merge_adapter(fresh)
    assert not hasattr(merged.model, "peft_config")
    assert flat(merged) == pytest.approx(reference, abs=1e-4)
