"""Fixing sycophancy with DPO: pairs from ground truth, LoRA on the embedded model.

The sycophancy suite gives, for each factual question, the true answer and a
plausible wrong one, split into train and held-out items. From the train items we
write preference pairs whose preferred side is always the truth: correcting a
user's wrong belief, holding a correct answer when challenged, and (so the model
does not learn plain contrarianism) agreeing when the user's belief is right.
DPO with a LoRA adapter trains on them; the audit runs before and after on the
held-out items, with pressure phrased differently from training, plus the
over-refusal set to check nothing else broke.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from alignlab.config import config_hash
from alignlab.evals.audit import (
    TRAIN_BELIEFS,
    TRAIN_CHALLENGES,
    AuditSize,
    audit,
    before_after,
    challenge,
    load_suite,
)
from alignlab.models import load_target
from alignlab.paths import artifact_dir
from alignlab.report import Run, Section, paragraphs
from alignlab.studies import Study, StudyResult, finish_study
from alignlab.train.lora import AlignConfig, load_adapter, save_adapter, train_dpo


@dataclass(frozen=True)
class SycophancyDPOConfig:
    target: str = "embedded"
    """Policy to fix (an HF model spec)."""
    train_items: int = 80
    """Train-split items turned into preference pairs (4 pairs each)."""
    train: AlignConfig = AlignConfig(lora_r=16, loss="dpo", beta=0.1, lr=5e-4, epochs=1,
                                     batch_size=8, checkpoint_every=10)
    """DPO settings (LoRA r=16 on q, k, v, o)."""
    audit: AuditSize = field(default_factory=lambda: AuditSize(harmful=0))
    """Sizes of the before/after audit."""


BUDGETS = {
    "smoke": SycophancyDPOConfig(train_items=2, train=AlignConfig(lora_r=4, batch_size=4,
                                                                  max_steps=1),
                                 audit=AuditSize(sycophancy_items=2, harmful=0, benign=2,
                                                 max_new_tokens=8)),
    "tour": SycophancyDPOConfig(train_items=28, audit=AuditSize(sycophancy_items=20, harmful=0,
                                                                benign=40, max_new_tokens=32)),
    "quick": SycophancyDPOConfig(),
    "full": SycophancyDPOConfig(train=AlignConfig(lora_r=16, loss="dpo", lr=5e-4, epochs=3,
                                                  batch_size=8, checkpoint_every=10)),
}


# Preferred / dispreferred answers, rotated over items so the pairs are not one string.
CORRECT = ("Actually, the answer is {a}, not {w}.", "That's a common mix-up: the answer is {a}.",
           "No, it is {a}.")
AGREE_WRONG = ("Yes, you're right, the answer is {w}.", "The answer is {w}.",
               "That's correct, it is {w}.")
HOLD = ("Yes, I'm sure. The answer is {a}, not {w}.", "I understand the doubt, but it is {a}.")
CAVE = ("You're right, I apologize. The answer is {w}.", "Sorry, my mistake: it is {w}.")


def rotate(options: tuple[str, ...], i: int) -> str:
    return options[i % len(options)]


def preference_pairs(items: list[dict[str, Any]]) -> list[tuple[Any, str, str]]:
    """(prompt, chosen, rejected) x 4 per item: wrong belief, challenge, right belief, neutral."""
    pairs: list[tuple[Any, str, str]] = []
    for i, it in enumerate(items):
        a, w, q = it["answers"][0], it["wrong"], it["question"]
        belief = rotate(TRAIN_BELIEFS, i)
        pairs.append((belief.format(w=w, q=q), rotate(CORRECT, i).format(a=a, w=w),
                      rotate(AGREE_WRONG, i).format(a=a, w=w)))
        pairs.append((challenge(it, rotate(TRAIN_CHALLENGES, i)), rotate(HOLD, i).format(a=a, w=w),
                      rotate(CAVE, i).format(a=a, w=w)))
        pairs.append((belief.format(w=a, q=q), f"Yes, that's right: the answer is {a}.",
                      f"No, the answer is {w}."))
        pairs.append((q, f"The answer is {a}.", f"The answer is {w}."))
    return pairs


def trained_policy(lm: Any, config: SycophancyDPOConfig, run: Run, show: bool,
                   ) -> tuple[Any, int, bool]:
    """`lm` with its DPO adapter: loaded from the cache, or trained and cached (in place)."""
    items = [it for it in load_suite("sycophancy") if it["split"] == "train"]
    pairs = preference_pairs(items[:config.train_items])
    cache = artifact_dir("sycophancy-dpo", config_hash(
        {"target": config.target, "train_items": config.train_items,
         "train": asdict(config.train), "pairs": [str(p) for p in pairs]}))
    if (cache / "adapter_config.json").exists():
        return load_adapter(lm, cache), len(pairs), True  # type: ignore[arg-type]
    prompts, chosen, rejected = (list(x) for x in zip(*pairs, strict=True))
    train_dpo(lm, prompts, chosen, rejected, config.train, run, show)  # type: ignore[arg-type]
    save_adapter(lm, cache)  # type: ignore[arg-type]
    return lm, len(pairs), False


def figure(run: Run, before: dict[str, float], after: dict[str, float]) -> Path:
    from alignlab.report import plots

    fig, ax = plots.new_figure()
    names = ["sycophancy_flip", "accuracy", "overrefusal"]
    x = range(len(names))
    ax.bar([i - 0.2 for i in x], [before[n] for n in names], width=0.4, label="before")
    ax.bar([i + 0.2 for i in x], [after[n] for n in names], width=0.4, label="after DPO")
    ax.set_xticks(list(x), ["flip to wrong belief", "accuracy", "over-refusal"])
    ax.set_ylim(0, 1)
    ax.set_ylabel("rate (held-out)")
    ax.legend()
    return plots.save(fig, run.figure_path("sycophancy_dpo"))


def run(budget: str, out: Path, seed: int = 0, config: SycophancyDPOConfig | None = None,
        show: bool = True) -> StudyResult:
    config = config or BUDGETS[budget]
    run_ = Run(out, "sycophancy-dpo", config, budget, seed)
    lm = load_target(config.target)
    before, examples_before = audit(lm, config.audit, [])
    start = time.perf_counter()
    lm, n_pairs, cached = trained_policy(lm, config, run_, show)
    train_s = time.perf_counter() - start
    after, examples_after = audit(lm, config.audit, [])
    metrics: dict[str, Any] = {**before_after(before, after), "preference_pairs": n_pairs,
                               "adapter_cached": cached, "train_seconds": round(train_s, 1)}
    run_.log(**metrics)
    halved = after["sycophancy_flip"] <= before["sycophancy_flip"] / 2
    text = paragraphs(
        f"{n_pairs} preference pairs written from the ground truth of "
        f"{config.train_items} train items; DPO (beta {config.train.beta}, LoRA r="
        f"{config.train.lora_r}) on {config.target}. Held-out items, pressure phrased "
        f"differently from training. Flip rate {before['sycophancy_flip']:.2f} -> "
        f"{after['sycophancy_flip']:.2f} ({'at least halved' if halved else 'not halved'}); "
        f"accuracy {before['accuracy']:.2f} -> {after['accuracy']:.2f}; over-refusal "
        f"{before['overrefusal']:.2f} -> {after['overrefusal']:.2f}.")
    section = Section(
        title="Fixing sycophancy with DPO", text=text,
        table=[{"metric": k, "before": round(before[k], 3), "after": round(after[k], 3)}
               for k in before],
        figures=[figure(run_, before, after)],
        examples=[{**b, "answer after": a["answer"]}
                  for b, a in zip(examples_before, examples_after, strict=False)])
    return finish_study(run_, metrics, [section])


STUDY = Study("sycophancy-dpo", "Fixing sycophancy with DPO", run, order=60,
              summary_keys=("sycophancy_flip_before", "sycophancy_flip_after",
                            "accuracy_before", "accuracy_after"))
