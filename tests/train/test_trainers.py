"""Each trainer, two steps on a tiny assistant-world model: the trained parameters change."""

from __future__ import annotations

import copy
import random

import pytest
import torch

from alignlab.models.tiny import TinyConfig, tiny_lm
from alignlab.report import Run, read_metrics
from alignlab.train.dpo import DPOConfig, train_dpo
from alignlab.train.grpo import GRPOConfig, train_grpo
from alignlab.train.ppo import PPOConfig, train_ppo
from alignlab.train.reward import (
    Ensemble,
    RewardConfig,
    load_reward_model,
    save_reward_model,
    tiny_reward_model,
    train_reward,
)
from alignlab.train.sft import SFTConfig, train_sft
from alignlab.worlds import assistant

TINY = TinyConfig(hidden_size=16, layers=1, heads=2, intermediate_size=32)


@pytest.fixture
def lm():
    return tiny_lm(assistant.VOCABULARY, TINY, seed=0)


@pytest.fixture(scope="module")
def data():
    prompts = assistant.sample_prompts(8, seed=1)
    rng = random.Random(0)
    a = [assistant.demonstration(p, rng) for p in prompts]
    b = [assistant.demonstration(p, rng) for p in prompts]
    return prompts, a, b


def snapshot(model):
    return {n: p.detach().clone() for n, p in model.named_parameters() if p.requires_grad}


def assert_all_changed(before, model):
    after = dict(model.named_parameters())
    unchanged = [n for n, p in before.items() if torch.equal(p, after[n].detach())]
    assert not unchanged, f"parameters not updated: {unchanged[:5]}"


def reward_fn(prompts, responses):
    return assistant.gold_score(prompts, responses)


def test_sft_two_steps_change_parameters_and_log_kl(lm, data, tmp_path):
    prompts, a, _ = data
    before = snapshot(lm.model)
    run = Run(tmp_path, "sft-test")
    history = train_sft(lm, prompts, a, SFTConfig(batch_size=4, max_steps=2, kl_rows=2), run,
                        show=False)
    assert len(history) == 2 and all("kl" in h for h in history)
    assert_all_changed(before, lm.model)
    assert [m["step"] for m in read_metrics(tmp_path)] == [1, 2]
    assert (tmp_path / "checkpoints" / "latest.pt").exists()


def test_reward_model_two_steps_and_round_trip(lm, data, tmp_path):
    prompts, a, b = data
    rm = tiny_reward_model(lm.tokenizer, hidden_size=8)
    before = snapshot(rm)
    history = train_reward(rm, rm.encode(prompts, a), rm.encode(prompts, b),
                           RewardConfig(epochs=1, batch_size=4), show=False)
    assert len(history) == 2
    assert_all_changed(before, rm)
    save_reward_model(rm, tmp_path / "rm")
    loaded = load_reward_model(tmp_path / "rm")
    assert torch.allclose(loaded.score(prompts, a), rm.score(prompts, a), atol=1e-5)
    ensemble = Ensemble([rm, loaded], "worst")
    assert ensemble.score(prompts, a).shape == (len(prompts),)


def test_ensemble_standardises_members_on_reference_rows(lm, data):
    """A member shifted by a constant must not decide the worst case once standardised."""
    prompts, a, b = data
    rm = tiny_reward_model(lm.tokenizer, hidden_size=8, seed=1)
    train_reward(rm, rm.encode(prompts, a), rm.encode(prompts, b),
                 RewardConfig(epochs=1, batch_size=4), show=False)
    shifted = copy.deepcopy(rm)
    with torch.no_grad():
        shifted.head.bias += 3.0
    rows = rm.encode(prompts + prompts, a + b)
    raw = Ensemble([rm, shifted], "worst")
    standardised = Ensemble([rm, shifted], "worst", reference=rows)
    plain = rm.score_ids(rows)
    assert torch.allclose(raw.score_ids(rows), plain)
    expected = (plain - plain.mean()) / plain.std()
    assert torch.allclose(standardised.score_ids(rows), expected, atol=1e-4)
    assert torch.allclose(standardised.member_scores(rows).mean(1), torch.zeros(2), atol=1e-3)


def test_dpo_two_steps_change_parameters(lm, data):
    prompts, a, b = data
    before = snapshot(lm.model)
    history = train_dpo(lm, prompts, a, b, DPOConfig(batch_size=4, max_steps=2, lr=1e-2,
                                                     kl_rows=2),
                        on_step=lambda step: {"seen_step": step}, show=False)
    assert len(history) == 2 and all("kl" in h for h in history)
    assert [h["seen_step"] for h in history] == [1, 2]
    assert_all_changed(before, lm.model)


def test_dpo_with_lora_trains_only_the_adapter_and_resumes(lm, data, tmp_path):
    prompts, a, b = data
    config = DPOConfig(loss="ipo", batch_size=4, max_steps=2, lr=1e-2, kl_rows=2, lora_r=2,
                       checkpoint_every=1)
    train_dpo(lm, prompts, a, b, config, Run(tmp_path, "dpo-test"), show=False)
    lora = {n: p for n, p in lm.model.named_parameters() if "lora_" in n}
    assert lora and all(p.requires_grad for p in lora.values())
    assert not any(p.requires_grad for n, p in lm.model.named_parameters() if "lora_" not in n)
    assert torch.load(tmp_path / "checkpoints" / "latest.pt", weights_only=False)["step"] == 2
    # A longer run in the same directory continues from step 2 instead of starting over.
    history = train_dpo(lm, prompts, a, b, DPOConfig(**{**config.__dict__, "max_steps": 3}),
                        Run(tmp_path, "dpo-test"), show=False)
    assert len(history) == 1


def test_ppo_two_steps_change_parameters(lm):
    prompts = assistant.sample_prompts(8, seed=2)
    before = snapshot(lm.model)
    config = PPOConfig(steps=2, batch_prompts=4, epochs=1, minibatch=4, lr=1e-2,
                       max_new_tokens=4)
    history = train_ppo(lm, prompts, reward_fn, config, show=False)
    assert len(history) == 2 and all("kl" in h for h in history)
    assert_all_changed(before, lm.model)


@pytest.mark.parametrize("variant", ["grpo", "rloo"])
def test_grpo_and_rloo_two_steps_change_parameters(lm, variant):
    prompts = assistant.sample_prompts(8, seed=3)
    before = snapshot(lm.model)
    config = GRPOConfig(variant=variant, steps=2, batch_prompts=2, group=3, lr=1e-2,
                        max_new_tokens=4)
    history = train_grpo(lm, prompts, reward_fn, config, show=False)
    assert len(history) == 2 and all("kl" in h for h in history)
    assert_all_changed(before, lm.model)
