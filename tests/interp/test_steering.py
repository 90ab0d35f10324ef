"""Steering: strength 0 changes nothing; a non-zero vector changes generations and scores."""

from __future__ import annotations

import torch

from alignlab.interp.steering import ContrastPair, caa_vectors, steering
from alignlab.models import SamplingParams
from alignlab.models.tiny import TinyConfig, tiny_lm

WORDS = "yes no the cat sat on a mat dog ran to big red house".split()


def make_lm():
    return tiny_lm(WORDS, TinyConfig(layers=2), seed=3)


def test_strength_zero_leaves_outputs_unchanged():
    lm = make_lm()
    prompts = ["the cat sat", "a big red dog"]
    params = SamplingParams(max_new_tokens=6)
    plain = lm.generate(prompts, params)
    vectors = {0: torch.randn(64) * 10, 1: torch.randn(64) * 10}
    with steering(lm.model, vectors, strength=0.0):
        steered = lm.generate(prompts, params)
        scores = lm.logprobs(prompts, ["mat", "house"])
    assert [c.token_ids for c in steered] == [c.token_ids for c in plain]
    for a, b in zip(scores, lm.logprobs(prompts, ["mat", "house"]), strict=True):
        assert a == b


def test_vector_from_pairs_moves_the_answer():
    lm = make_lm()
    pairs = [ContrastPair(p, "yes", "no") for p in ("the cat sat", "a dog ran", "big house")]
    vectors = caa_vectors(lm, pairs, layers=[1])
    assert vectors[1].shape == (64,) and vectors[1].norm() > 0
    base = lm.logprobs(["the mat"], ["yes"])[0][0] - lm.logprobs(["the mat"], ["no"])[0][0]
    with steering(lm.model, vectors, strength=4.0):
        pushed = lm.logprobs(["the mat"], ["yes"])[0][0] - lm.logprobs(["the mat"], ["no"])[0][0]
    assert pushed != base
