"""Constitutional AI (Bai et al. 2022): the data-making half of both phases.

SL-CAI: the policy answers a prompt; a critic (the policy itself or any other
target) critiques that answer under a principle drawn from the constitution, then
revises it. The (prompt, revision) pairs are demonstrations for SFT.

RL-CAI: the policy samples two answers per prompt; a feedback model is shown both
under a drawn principle and asked which is better. Its preference probability
comes from its log-probs of "A" versus "B", averaged over both orders of the
answers (small models pick a position more than an answer). The preferred answer
becomes the chosen side of a DPO pair.

Training on these records is `train.lora.train_sft` / `train_dpo`; this file only
makes and saves the records, so any target (an HTTP endpoint, a larger local
model, a mock in tests) can play critic or feedback model.
"""

from __future__ import annotations

import math
import random
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from alignlab.models.base import LM, Messages, Prompt, SamplingParams

DEFAULT_CONSTITUTION = Path(__file__).resolve().parent.parent / "constitutions" / "default.yaml"
PRINCIPLE_FIELDS = ("name", "covers", "critique", "revision", "compare")


@dataclass(frozen=True)
class Principle:
    name: str
    covers: str
    """harmlessness, honesty, non-sycophancy or helpfulness."""
    critique: str
    """Request that asks for a critique of the previous answer."""
    revision: str
    """Request that asks for a rewrite fixing what the critique found."""
    compare: str
    """Question put to a feedback model shown answers (A) and (B)."""


@dataclass(frozen=True)
class CAIConfig:
    constitution: str = str(DEFAULT_CONSTITUTION)
    """YAML file of principles (see constitutions/default.yaml)."""
    answer_tokens: int = 64
    """Length limit of the policy's answers."""
    critique_tokens: int = 64
    """Length limit of each critique."""
    revision_tokens: int = 64
    """Length limit of each revision."""
    temperature: float = 0.8
    """Sampling temperature of the two RL-CAI answers per prompt."""
    min_confidence: float = 0.0
    """Drop RL-CAI labels whose preference probability is within this of 0.5."""
    seed: int = 0
    """Seed for drawing principles and sampling answers."""


def load_constitution(path: str | Path = DEFAULT_CONSTITUTION) -> list[Principle]:
    """Read and check a constitution; errors name the file and the principle."""
    import yaml

    path = Path(path)
    if not path.exists():
        raise ValueError(f"constitution not found: {path}")
    doc = yaml.safe_load(path.read_text()) or {}
    entries = doc.get("principles") if isinstance(doc, dict) else None
    if not isinstance(entries, list) or not entries:
        raise ValueError(f"{path}: needs a non-empty 'principles' list")
    principles = []
    for i, entry in enumerate(entries, start=1):
        missing = [f for f in PRINCIPLE_FIELDS
                   if not isinstance(entry, dict) or not isinstance(entry.get(f), str)]
        if missing:
            raise ValueError(f"{path}: principle {i}: missing or non-text field(s) {missing}")
        principles.append(Principle(**{f: entry[f].strip() for f in PRINCIPLE_FIELDS}))
    return principles


# ---------------------------------------------------------------- prompts


def user_turns(prompt: Prompt) -> Messages:
    return [{"role": "user", "content": prompt}] if isinstance(prompt, str) else list(prompt)


def critique_chat(prompt: Prompt, answer: str, principle: Principle) -> Messages:
    return [*user_turns(prompt), {"role": "assistant", "content": answer},
            {"role": "user", "content": principle.critique}]


def revision_chat(prompt: Prompt, answer: str, critique: str, principle: Principle) -> Messages:
    return [*critique_chat(prompt, answer, principle), {"role": "assistant", "content": critique},
            {"role": "user", "content": principle.revision + " Reply with the new answer only."}]


def compare_prompt(prompt: Prompt, first: str, second: str, principle: Principle) -> str:
    request = prompt if isinstance(prompt, str) else prompt[-1]["content"]
    return (f"A person asked: {request}\n\n(A) {first}\n\n(B) {second}\n\n"
            f"{principle.compare} Reply with A or B.")


LEADS = re.compile(r"^\s*(revised answer|revision|new answer|here is (the|a) revised answer)"
                   r"\s*[:\-]\s*", re.IGNORECASE)


def clean_revision(text: str) -> str:
    """Strip a leading 'Revision:' label the model may add; the rest is the new answer."""
    return LEADS.sub("", text).strip()


# ---------------------------------------------------------------- SL-CAI


def sl_cai(policy: LM, critic: LM, prompts: Sequence[Prompt], principles: Sequence[Principle],
           config: CAIConfig = CAIConfig()) -> list[dict[str, Any]]:
    """Answer, critique, revise: one record per prompt whose revision is not empty."""
    rng = random.Random(config.seed)
    drawn = [rng.choice(list(principles)) for _ in prompts]
    greedy = SamplingParams(max_new_tokens=config.answer_tokens)
    answers = [c.text for c in policy.generate(list(prompts), greedy)]
    critiques = [c.text for c in critic.generate(
        [critique_chat(p, a, pr) for p, a, pr in zip(prompts, answers, drawn, strict=True)],
        SamplingParams(max_new_tokens=config.critique_tokens))]
    revisions = [clean_revision(c.text) for c in critic.generate(
        [revision_chat(p, a, c, pr)
         for p, a, c, pr in zip(prompts, answers, critiques, drawn, strict=True)],
        SamplingParams(max_new_tokens=config.revision_tokens))]
    return [{"prompt": p, "answer": a, "principle": pr.name, "critique": c, "revision": r}
            for p, a, c, r, pr in zip(prompts, answers, critiques, revisions, drawn, strict=True)
            if r]


# ---------------------------------------------------------------- RL-CAI


def choice_probability(feedback: LM, questions: Sequence[str], max_tokens: int = 8,
                       ) -> list[float]:
    """P(the feedback model answers "A"), from its log-probs of "A" vs "B".

    Targets without log-probs (mocks, some endpoints) answer in text instead;
    then the probability is 1 or 0 for a clear letter and 0.5 otherwise.
    """
    try:
        lp = feedback.logprobs(list(questions) * 2, ["A"] * len(questions) + ["B"] * len(questions))
    except NotImplementedError:
        texts = [c.text.strip().upper() for c in
                 feedback.generate(list(questions), SamplingParams(max_new_tokens=max_tokens))]
        return [1.0 if t.startswith("A") or t.startswith("(A") else
                0.0 if t.startswith("B") or t.startswith("(B") else 0.5 for t in texts]
    n = len(questions)
    a, b = [sum(x) for x in lp[:n]], [sum(x) for x in lp[n:]]
    return [1.0 / (1.0 + math.exp(bi - ai)) for ai, bi in zip(a, b, strict=True)]


def preference_labels(feedback: LM, prompts: Sequence[Prompt], first: Sequence[str],
                      second: Sequence[str], principles: Sequence[Principle],
                      ) -> list[float]:
    """P(first answer is better) per prompt, averaged over both presentation orders."""
    forward = [compare_prompt(p, x, y, pr) for p, x, y, pr in
               zip(prompts, first, second, principles, strict=True)]
    backward = [compare_prompt(p, y, x, pr) for p, x, y, pr in
                zip(prompts, first, second, principles, strict=True)]
    p_fwd = choice_probability(feedback, forward)
    p_bwd = choice_probability(feedback, backward)
    return [(f + (1.0 - b)) / 2.0 for f, b in zip(p_fwd, p_bwd, strict=True)]


def rl_cai(policy: LM, feedback: LM, prompts: Sequence[Prompt], principles: Sequence[Principle],
           config: CAIConfig = CAIConfig()) -> list[dict[str, Any]]:
    """Two sampled answers per prompt, labeled by the feedback model: DPO-ready records."""
    rng = random.Random(config.seed + 1)
    drawn = [rng.choice(list(principles)) for _ in prompts]
    params = SamplingParams(max_new_tokens=config.answer_tokens, temperature=config.temperature,
                            n=2, seed=config.seed)
    samples = [c.text for c in policy.generate(list(prompts), params)]
    first, second = samples[0::2], samples[1::2]
    probs = preference_labels(feedback, prompts, first, second, drawn)
    records = []
    for p, x, y, pr, prob in zip(prompts, first, second, drawn, probs, strict=True):
        if x.strip() == y.strip() or abs(prob - 0.5) <= config.min_confidence:
            continue  # identical answers or no clear preference: no signal to learn
        chosen, rejected = (x, y) if prob >= 0.5 else (y, x)
        records.append({"prompt": p, "chosen": chosen, "rejected": rejected,
                        "principle": pr.name, "p_chosen": max(prob, 1.0 - prob)})
    return records
