"""The decode loop: the fast Llama path must match `model.generate` and the standard path;
scoring: packed and padded log-probs agree."""

import pytest
import torch
from transformers import GPT2Config, GPT2LMHeadModel, LlamaConfig, LlamaForCausalLM

from alignlab.models import SamplingParams, fast_llama
from alignlab.models.hf import (
    HFLM,
    categorical,
    decode,
    left_pad,
    packed_logprobs,
    sequence_logprobs,
)
from alignlab.models.tiny import word_tokenizer

WORDS = "the cat sat on a mat dog ran far away big small red blue sun moon".split()


@pytest.fixture(scope="module")
def gqa_lm() -> HFLM:
    """A tiny Llama with grouped-query attention (4 query heads share 2 key heads)."""
    tokenizer = word_tokenizer(WORDS)
    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=len(tokenizer), hidden_size=64, intermediate_size=96,
                         num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
                         max_position_embeddings=128, pad_token_id=0, bos_token_id=2,
                         eos_token_id=3, tie_word_embeddings=True, initializer_range=0.5)
    return HFLM(LlamaForCausalLM(config), tokenizer, name="gqa", chat=False)


# Shared prefixes, different lengths, a repeated prompt: every prefill case.
PROMPTS = ["the cat sat", "the cat sat on a mat", "dog ran", "the cat ran far", "the cat sat"]


def hf_greedy(lm: HFLM, prompt_ids: list[list[int]], tokens: int) -> list[list[int]]:
    ids, mask = left_pad(prompt_ids, lm.pad_id)
    out = lm.model.generate(input_ids=ids, attention_mask=mask, max_new_tokens=tokens,
                            do_sample=False, pad_token_id=lm.pad_id, eos_token_id=None)
    return out[:, ids.shape[1]:].tolist()


def assert_same(a: list[tuple[list[int], list[float]]], b: list[tuple[list[int], list[float]]],
                ) -> None:
    """Same token ids and logprobs equal up to float rounding."""
    assert [ids for ids, _ in a] == [ids for ids, _ in b]
    for (_, x), (_, y) in zip(a, b, strict=True):
        assert x == pytest.approx(y, abs=1e-4)


def test_categorical_draws_in_proportion_and_never_a_zero_weight():
    generator = torch.Generator().manual_seed(0)
    weights = torch.tensor([[0.1, 0.0, 0.6, 0.3]]).repeat(40_000, 1)
    freq = torch.bincount(categorical(weights, generator), minlength=4) / 40_000
    assert freq[1] == 0
    assert torch.allclose(freq, torch.tensor([0.1, 0.0, 0.6, 0.3]), atol=0.01)
    last_only = torch.zeros(8, 5)
    last_only[:, -1] = 2.0  # unnormalised weights work too
    assert categorical(last_only, generator).tolist() == [4] * 8


def test_fast_path_is_taken_only_for_plain_llama(gqa_lm):
    assert fast_llama.supports(gqa_lm.model)
    handle = gqa_lm.model.model.layers[0].register_forward_hook(lambda *a: None)
    assert not fast_llama.supports(gqa_lm.model)
    handle.remove()
    assert fast_llama.supports(gqa_lm.model)
    from peft import LoraConfig, get_peft_model

    peft = get_peft_model(LlamaForCausalLM(gqa_lm.model.config),
                          LoraConfig(r=2, target_modules=["q_proj"], lora_dropout=0.1,
                                     use_dora=True))
    assert not fast_llama.supports(peft)  # DoRA changes the layer's output formula


def test_lora_adapters_are_added_into_the_fast_path(gqa_lm):
    from peft import LoraConfig, get_peft_model

    torch.manual_seed(1)
    peft = get_peft_model(LlamaForCausalLM(gqa_lm.model.config),
                          LoraConfig(r=2, target_modules=["q_proj", "v_proj", "down_proj"],
                                     lora_dropout=0.1))
    with torch.no_grad():  # PEFT starts B at zero; make the adapters change the outputs
        for name, p in peft.named_parameters():
            if "lora_B" in name:
                p.normal_(0, 0.5)
    peft.eval()
    assert fast_llama.supports(peft)
    prompt_ids = gqa_lm.encode(PROMPTS)
    params = SamplingParams(max_new_tokens=8, temperature=1.0)
    runs = {fast: decode(peft, prompt_ids, params, set(), gqa_lm.pad_id,
                         torch.Generator().manual_seed(3), fast=fast) for fast in (True, False)}
    assert_same(runs[True], runs[False])
    with peft.disable_adapter():
        assert not fast_llama.supports(peft)
    peft.train()  # dropout on the adapter's input: only the standard forward applies it
    assert not fast_llama.supports(peft)


def test_greedy_matches_generate_on_both_paths(gqa_lm):
    prompt_ids = gqa_lm.encode(PROMPTS)
    params = SamplingParams(max_new_tokens=10)
    reference = hf_greedy(gqa_lm, prompt_ids, 10)
    for fast in (True, False):
        out = decode(gqa_lm.model, prompt_ids, params, set(), gqa_lm.pad_id, fast=fast)
        assert [ids for ids, _ in out] == reference


def test_rows_that_end_early_leave_the_others_unchanged(gqa_lm):
    prompt_ids = gqa_lm.encode(PROMPTS)
    params = SamplingParams(max_new_tokens=10)
    full = hf_greedy(gqa_lm, prompt_ids, 10)
    eos = full[1][2]  # a token some rows produce mid-way: those rows stop there
    for fast in (True, False):
        out = decode(gqa_lm.model, prompt_ids, params, {eos}, gqa_lm.pad_id, fast=fast)
        for (ids, logps), ref in zip(out, full, strict=True):
            cut = ref.index(eos) + 1 if eos in ref else len(ref)
            assert ids == ref[:cut] and len(logps) == len(ids)
    assert any(eos in ref[:-1] for ref in full) and not all(eos in ref for ref in full)


def test_logprobs_match_scoring_and_seeded_sampling_reproduces(gqa_lm):
    prompt_ids = gqa_lm.encode(PROMPTS)
    params = SamplingParams(max_new_tokens=8, temperature=1.0)
    runs = {fast: decode(gqa_lm.model, prompt_ids, params, set(), gqa_lm.pad_id,
                         torch.Generator().manual_seed(7), fast=fast) for fast in (True, False)}
    assert_same(runs[True], runs[False])
    again = decode(gqa_lm.model, prompt_ids, params, set(), gqa_lm.pad_id,
                   torch.Generator().manual_seed(7), fast=True)
    assert [ids for ids, _ in again] == [ids for ids, _ in runs[True]]
    with torch.no_grad():
        scored = sequence_logprobs(gqa_lm.model, prompt_ids, [ids for ids, _ in runs[True]],
                                   gqa_lm.pad_id)
    for (_, logps), ref in zip(runs[True], scored, strict=True):
        assert torch.allclose(torch.tensor(logps), ref, atol=1e-4)


def test_folded_weights_follow_in_place_updates(gqa_lm):
    model = LlamaForCausalLM(gqa_lm.model.config)
    prompt_ids = gqa_lm.encode(PROMPTS[:2])
    params = SamplingParams(max_new_tokens=6)
    decode(model, prompt_ids, params, set(), gqa_lm.pad_id, fast=True)
    with torch.no_grad():  # as an optimizer step would
        for layer in model.model.layers:
            layer.mlp.up_proj.weight.mul_(-3.0)
            layer.self_attn.k_proj.weight.add_(0.5)
            layer.input_layernorm.weight.mul_(2.0)
        model.model.norm.weight.mul_(0.5)
    fast = decode(model, prompt_ids, params, set(), gqa_lm.pad_id, fast=True)
    standard = decode(model, prompt_ids, params, set(), gqa_lm.pad_id, fast=False)
    assert_same(fast, standard)


def test_hooks_see_generation_and_stop_strings_cut_text(gqa_lm):
    calls = []
    handle = gqa_lm.model.model.layers[1].register_forward_hook(lambda *a: calls.append(1))
    try:
        decode(gqa_lm.model, gqa_lm.encode(["the cat"]), SamplingParams(max_new_tokens=6), set(),
               gqa_lm.pad_id)
    finally:
        handle.remove()
    assert len(calls) == 6  # prefill + 5 steps: a hooked model takes the standard path
    firsts = gqa_lm.generate(PROMPTS, SamplingParams(max_new_tokens=8))
    prompt, first = next((p, c) for p, c in zip(PROMPTS, firsts, strict=True)
                         if len(c.text.split()) >= 3)
    stop = first.text.split()[2]
    cut = gqa_lm.generate([prompt], SamplingParams(max_new_tokens=8, stop=(stop,)))[0]
    assert cut.text == first.text[:first.text.index(stop)] and cut.finish_reason == "stop"


@pytest.mark.embedded
def test_embedded_greedy_matches_generate(embedded_lm):
    prompts = ["Tell me a short story about a cat.", "Name three colors."]
    prompt_ids = embedded_lm.encode(prompts)
    assert fast_llama.supports(embedded_lm.model)
    out = decode(embedded_lm.model, prompt_ids, SamplingParams(max_new_tokens=8),
                 embedded_lm.eos_ids, embedded_lm.pad_id)
    reference = hf_greedy(embedded_lm, prompt_ids, 8)
    for (ids, _), ref in zip(out, reference, strict=True):
        assert ids == ref[:len(ids)]


def gpt2_model() -> GPT2LMHeadModel:
    torch.manual_seed(1)
    config = GPT2Config(vocab_size=len(WORDS) + 4, n_embd=32, n_layer=2, n_head=2, n_positions=64,
                        bos_token_id=2, eos_token_id=3)
    return GPT2LMHeadModel(config).eval()   # eval: no dropout, so the two passes can agree


@pytest.mark.parametrize("arch", ["llama", "gpt2"])
def test_packed_logprobs_equal_padded_ones_and_carry_gradients(gqa_lm, arch):
    model = gqa_lm.model if arch == "llama" else gpt2_model()
    # Repeated prompts (a preference pair), a shared prefix, a prompt that is a prefix of
    # another, a one-token completion.
    prompt_ids = gqa_lm.encode(PROMPTS + ["the cat"])
    completion_ids = gqa_lm.encode_completions(
        ["big red sun", "away", "far far away dog", "moon", "small blue", "the mat"])
    padded = sequence_logprobs(model, prompt_ids, completion_ids, gqa_lm.pad_id)
    packed = packed_logprobs(model, prompt_ids, completion_ids)
    assert [len(x) for x in packed] == [len(c) for c in completion_ids]
    for a, b in zip(padded, packed, strict=True):
        assert torch.allclose(a, b, atol=1e-5)
    torch.stack([x.sum() for x in packed]).sum().backward()
    grads = [p.grad for p in model.parameters() if p.grad is not None]
    assert grads and all(torch.isfinite(g).all() for g in grads)
    model.zero_grad()
    one = packed_logprobs(model, prompt_ids[:1], completion_ids[:1])   # a single prompt
    assert torch.allclose(one[0], padded[0], atol=1e-5)
    split = packed_logprobs(model, prompt_ids, completion_ids, max_tokens=8)  # one row each
    for a, b in zip(padded, split, strict=True):
        assert torch.allclose(a, b, atol=1e-5)
