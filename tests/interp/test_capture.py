"""Capture: hook names map onto the HF modules, and captured tensors equal a manual forward."""

from __future__ import annotations

import pytest
import torch

from alignlab.interp.capture import (
    hook_points,
    intervene,
    load_shards,
    prompt_activations,
    resid_name,
    run_with_cache,
    stream_to_disk,
    token_activations,
)
from alignlab.models.tiny import TinyConfig, tiny_lm

WORDS = "the cat sat on a mat dog ran to big red house".split()


@pytest.fixture
def lm():
    return tiny_lm(WORDS, TinyConfig(layers=3), seed=0)


def test_names_cover_every_block(lm):
    names = hook_points(lm.model)
    for i in range(3):
        for kind in ("hook_resid_pre", "attn.hook_out", "mlp.hook_out", "hook_resid_post"):
            assert f"blocks.{i}.{kind}" in names
    assert "hook_embed" in names and "ln_final.hook_normalized" in names


def test_resid_equals_hidden_states(lm):
    ids = torch.tensor([lm.tokenizer("the cat sat on a mat")["input_ids"]])
    names = [f"blocks.{i}.hook_resid_pre" for i in range(3)] + [resid_name(i) for i in range(3)]
    names += ["hook_embed", "ln_final.hook_normalized"]
    out, cache = run_with_cache(lm.model, ids, None, names)
    with torch.no_grad():
        ref = lm.model(input_ids=ids, output_hidden_states=True)
    hs = ref.hidden_states  # embeddings, block 0 out, block 1 out, final norm(block 2 out)
    torch.testing.assert_close(cache["hook_embed"], hs[0])
    for i in range(3):
        torch.testing.assert_close(cache[f"blocks.{i}.hook_resid_pre"], hs[i])
    torch.testing.assert_close(cache[resid_name(0)], hs[1])
    torch.testing.assert_close(cache[resid_name(1)], hs[2])
    torch.testing.assert_close(cache["ln_final.hook_normalized"], hs[3])
    torch.testing.assert_close(out.logits, ref.logits)


def test_resid_post_is_pre_plus_attn_plus_mlp(lm):
    ids = torch.tensor([lm.tokenizer("big red dog ran")["input_ids"]])
    names = ["blocks.1.hook_resid_pre", "blocks.1.attn.hook_out", "blocks.1.mlp.hook_out",
             resid_name(1)]
    _, c = run_with_cache(lm.model, ids, None, names)
    total = c["blocks.1.hook_resid_pre"] + c["blocks.1.attn.hook_out"] + c["blocks.1.mlp.hook_out"]
    torch.testing.assert_close(c[resid_name(1)], total)


def test_left_padding_last_token_matches_single_prompt(lm):
    prompts = ["the cat", "a big red dog ran to the house"]
    batched = prompt_activations(lm, prompts, [resid_name(2)], batch_size=2)[resid_name(2)]
    alone = prompt_activations(lm, prompts[:1], [resid_name(2)], batch_size=1)[resid_name(2)]
    torch.testing.assert_close(batched[0], alone[0], atol=1e-5, rtol=1e-4)


def test_intervention_changes_output_and_is_removed(lm):
    ids = torch.tensor([lm.tokenizer("the cat sat")["input_ids"]])
    with torch.no_grad():
        before = lm.model(input_ids=ids).logits
        with intervene(lm.model, {resid_name(0): lambda a: a * 0}):
            zeroed = lm.model(input_ids=ids).logits
        after = lm.model(input_ids=ids).logits
    assert not torch.allclose(before, zeroed)
    torch.testing.assert_close(before, after)


def test_stream_to_disk_matches_in_memory(lm, tmp_path):
    texts = ["the cat sat on a mat", "dog ran", "big red house", "a cat ran to the dog"]
    counts = stream_to_disk(lm, texts, [resid_name(1)], tmp_path, batch_size=2)
    on_disk = load_shards(tmp_path, resid_name(1))
    in_memory = token_activations(lm, texts, resid_name(1), batch_size=4)
    assert counts[resid_name(1)] == len(on_disk) == sum(len(t.split()) for t in texts)
    torch.testing.assert_close(on_disk, in_memory, atol=1e-5, rtol=1e-4)


def test_unknown_name_is_a_clear_error(lm):
    with pytest.raises(ValueError, match="unknown hook name"):
        with intervene(lm.model, {"blocks.99.hook_resid_post": lambda a: a}):
            pass
