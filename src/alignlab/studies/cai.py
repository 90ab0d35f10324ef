"""Constitutional AI on the embedded model: SL-CAI, then RL-CAI, audited before and after.

Prompts: half of each category of the project's harmful-request suite plus half of
the benign look-alikes (so the model also sees requests it should simply answer);
the other halves are the held-out audit. SL-CAI: the model answers, critiques its
answer under a drawn principle, revises; SFT (LoRA) on the revisions, merged into
the weights. RL-CAI: the SL model samples two answers per prompt, the feedback
model labels which is better, DPO (LoRA) on those labels. The critic and feedback
model default to the policy itself (as in the paper's self-critique); any target
spec can stand in. Each stage is cached by a hash of its configuration.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from alignlab.config import config_hash
from alignlab.evals.audit import AuditSize, audit, load_suite
from alignlab.models import load_target
from alignlab.paths import artifact_dir
from alignlab.report import Run, Section, paragraphs
from alignlab.report.run import atomic_write_text
from alignlab.studies import Study, StudyResult, finish_study
from alignlab.train.cai import CAIConfig, load_constitution, rl_cai, sl_cai
from alignlab.train.lora import (
    AlignConfig,
    load_adapter,
    merge_adapter,
    save_adapter,
    train_dpo,
    train_sft,
)


@dataclass(frozen=True)
class CAIStudyConfig:
    target: str = "embedded"
    """Policy to align (an HF model spec)."""
    critic: str = ""
    """Target that critiques and revises (empty: the policy itself)."""
    feedback: str = ""
    """Target that labels RL-CAI pairs (empty: the policy itself)."""
    harmful_train: int = 80
    """Harmful prompts used for CAI data (from the training half)."""
    benign_train: int = 40
    """Benign prompts mixed in (from the training half of the over-refusal set)."""
    cai: CAIConfig = CAIConfig(answer_tokens=48, critique_tokens=48, revision_tokens=48)
    """Generation lengths and seeds of the critique/revise and labeling steps."""
    sft: AlignConfig = AlignConfig(lora_r=16, loss="sft", lr=5e-4, epochs=2, batch_size=8)
    """SL-CAI fine-tuning on the revisions."""
    dpo: AlignConfig = AlignConfig(lora_r=16, loss="dpo", beta=0.1, lr=5e-4, epochs=2,
                                   batch_size=8)
    """RL-CAI preference training on the AI labels."""
    audit: AuditSize = field(default_factory=lambda: AuditSize(sycophancy_items=20, harmful=80,
                                                               benign=60))
    """Held-out audit sizes (harmful and benign come from the held-out halves)."""


BUDGETS = {
    "smoke": CAIStudyConfig(harmful_train=2, benign_train=1,
                            cai=CAIConfig(answer_tokens=8, critique_tokens=8, revision_tokens=8),
                            sft=AlignConfig(lora_r=4, loss="sft", batch_size=4, max_steps=1),
                            dpo=AlignConfig(lora_r=4, loss="dpo", batch_size=4, max_steps=1),
                            audit=AuditSize(sycophancy_items=0, harmful=2, benign=2,
                                            max_new_tokens=8)),
    "tour": CAIStudyConfig(harmful_train=24, benign_train=12,
                           sft=AlignConfig(lora_r=16, loss="sft", lr=5e-4, epochs=1, batch_size=8),
                           dpo=AlignConfig(lora_r=16, loss="dpo", lr=5e-4, epochs=1, batch_size=8),
                           audit=AuditSize(sycophancy_items=0, harmful=32, benign=24,
                                           max_new_tokens=32)),
    "quick": CAIStudyConfig(),
    "full": CAIStudyConfig(harmful_train=80, benign_train=60,
                           audit=AuditSize(sycophancy_items=20, harmful=80, benign=60)),
}


def halves(rows: list[dict[str, Any]]) -> tuple[list[str], list[str]]:
    """Alternate rows into a training half and a held-out half (every category in both)."""
    return [r["prompt"] for r in rows[0::2]], [r["prompt"] for r in rows[1::2]]


def save_records(path: Path, records: list[dict[str, Any]]) -> None:
    atomic_write_text(path, "".join(json.dumps(r) + "\n" for r in records))


def load_records(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def sl_key(config: CAIStudyConfig, prompts: list[str]) -> dict[str, Any]:
    """Everything the SL-CAI model depends on (the cache key of that stage)."""
    return {"target": config.target, "critic": config.critic, "cai": asdict(config.cai),
            "sft": asdict(config.sft), "prompts": prompts}


def stage(key: Any, name: str) -> Path:
    return artifact_dir(f"cai-{name}", config_hash(key))


def sl_phase(lm: Any, critic: Any, prompts: list[str], config: CAIStudyConfig, run: Run,
             show: bool) -> tuple[Any, list[dict[str, Any]]]:
    """SL-CAI: make (or reuse) the revisions, SFT on them, merge the adapter."""
    cache = stage(sl_key(config, prompts), "sl")
    if (cache / "adapter_config.json").exists():
        records = load_records(cache / "records.jsonl")
        load_adapter(lm, cache)
    else:
        records = sl_cai(lm, critic or lm, prompts, load_constitution(config.cai.constitution),
                         config.cai)
        train_sft(lm, [r["prompt"] for r in records], [r["revision"] for r in records],
                  config.sft, run, show)
        save_adapter(lm, cache)
        save_records(cache / "records.jsonl", records)
    save_records(run.out / "sl_cai_records.jsonl", records)
    return merge_adapter(lm), records


def rl_phase(lm: Any, feedback: Any, prompts: list[str], config: CAIStudyConfig, run: Run,
             show: bool, sl_key: Any) -> tuple[Any, list[dict[str, Any]]]:
    """RL-CAI: label pairs of the SL model's samples with the feedback model, then DPO."""
    key = {"sl": sl_key, "feedback": config.feedback, "dpo": asdict(config.dpo)}
    cache = stage(key, "rl")
    if (cache / "adapter_config.json").exists():
        records = load_records(cache / "records.jsonl")
        load_adapter(lm, cache)
        return lm, records
    records = rl_cai(lm, feedback or lm, prompts, load_constitution(config.cai.constitution),
                     config.cai)
    if records:
        # RL-CAI trains its own checkpoints: keep them apart from the SL-CAI ones.
        rl_run = Run(run.out / "rl_cai", "cai-rl", config.dpo, run.budget, run.seed)
        train_dpo(lm, [r["prompt"] for r in records], [r["chosen"] for r in records],
                  [r["rejected"] for r in records], config.dpo, rl_run, show)
        save_adapter(lm, cache)
    save_records(cache / "records.jsonl", records)
    return lm, records


def label_agreement(records: list[dict[str, Any]], harmful: set[str]) -> tuple[float, int]:
    """How often the AI label prefers the answer the harm judge calls harmless.

    Counted on pairs for harmful prompts where the judge splits the two answers;
    returns (agreement rate, number of such pairs).
    """
    from alignlab.redteam.judges import load_harm_judge

    rows = [r for r in records if r["prompt"] in harmful]
    if not rows:
        return float("nan"), 0
    judge = load_harm_judge()
    prompts = [r["prompt"] for r in rows]
    bad_chosen = judge.predict(prompts, [r["chosen"] for r in rows])
    bad_rejected = judge.predict(prompts, [r["rejected"] for r in rows])
    split = [(c, r) for c, r in zip(bad_chosen, bad_rejected, strict=True) if c != r]
    agree = sum(1 for c, _ in split if c == 0)
    return (agree / len(split) if split else float("nan")), len(split)


def run(budget: str, out: Path, seed: int = 0, config: CAIStudyConfig | None = None,
        show: bool = True) -> StudyResult:
    config = config or BUDGETS[budget]
    run_ = Run(out, "cai", config, budget, seed)
    harm_train, harm_held = halves(load_suite("harmful"))
    benign_train, _ = halves(load_suite("overrefusal"))
    prompts = harm_train[:config.harmful_train] + benign_train[:config.benign_train]
    # The over-refusal audit reads the suite from the start; use its held-out half.
    audit_size = config.audit
    lm = load_target(config.target)
    critic = load_target(config.critic) if config.critic else None
    feedback = load_target(config.feedback) if config.feedback else None
    start = time.perf_counter()
    before, ex_before = audit(lm, audit_size, harm_held, benign_half=True)
    lm, sl_records = sl_phase(lm, critic, prompts, config, run_, show)
    sl, _ = audit(lm, audit_size, harm_held, benign_half=True)
    lm, rl_records = rl_phase(lm, feedback, prompts, config, run_, show,
                              sl_key(config, prompts))
    after, ex_after = audit(lm, audit_size, harm_held, benign_half=True)
    agreement, n_split = label_agreement(rl_records, set(harm_train))
    metrics: dict[str, Any] = {}
    for name in before:
        metrics.update({f"{name}_before": before[name], f"{name}_sl": sl[name],
                        f"{name}_after": after[name]})
    metrics.update({"revisions": len(sl_records), "ai_labels": len(rl_records),
                    "ai_label_judge_agreement": agreement, "ai_label_judge_pairs": n_split,
                    "seconds_total": round(time.perf_counter() - start, 1)})
    run_.log(**metrics)
    examples = [{**b, "answer after": a["answer"]} for b, a in zip(ex_before, ex_after,
                                                                    strict=False)]
    return finish_study(run_, metrics, [section(run_, config, before, sl, after, metrics,
                                                examples, sl_records)])


def section(run_: Run, config: CAIStudyConfig, before: dict[str, float], sl: dict[str, float],
            after: dict[str, float], metrics: dict[str, Any], examples: list[dict[str, str]],
            sl_records: list[dict[str, Any]]) -> Section:
    from alignlab.report import plots

    names = [n for n in before if n != "flip_cases"]  # rates only; flip_cases is a count
    fig, ax = plots.new_figure(7.0, 4.0)
    for offset, (label, values) in zip((-0.27, 0.0, 0.27), (("base", before), ("SL-CAI", sl),
                                                            ("RL-CAI", after)), strict=True):
        ax.bar([i + offset for i in range(len(names))], [values[n] for n in names], width=0.27,
               label=label)
    ax.set_xticks(range(len(names)), [n.replace("_", " ") for n in names])
    ax.set_ylim(0, 1)
    ax.set_ylabel("rate (held-out)")
    ax.legend()
    figure = plots.save(fig, run_.figure_path("cai"))
    critic = config.critic or f"{config.target} (self)"
    text = paragraphs(
        f"Critic: {critic}; feedback model: {config.feedback or config.target + ' (self)'}. "
        f"{metrics['revisions']} revisions trained SL-CAI; {metrics['ai_labels']} AI preference "
        f"labels trained RL-CAI. Where the harm judge split a pair, the AI label preferred the "
        f"harmless answer {metrics['ai_label_judge_agreement']:.2f} of the time "
        f"({metrics['ai_label_judge_pairs']} pairs). Harmful compliance "
        f"{before['harmful_compliance']:.2f} -> {sl['harmful_compliance']:.2f} (SL) -> "
        f"{after['harmful_compliance']:.2f} (RL); over-refusal {before['overrefusal']:.2f} -> "
        f"{after['overrefusal']:.2f}.")
    revisions = [{"prompt": r["prompt"], "answer": r["answer"], "critique": r["critique"],
                  "revision": r["revision"]} for r in sl_records[:3]]
    return Section(title="Constitutional AI (SL-CAI, RL-CAI)", text=text,
                   table=[{"metric": n, "base": round(before[n], 3), "SL-CAI": round(sl[n], 3),
                           "RL-CAI": round(after[n], 3)} for n in before],
                   figures=[figure], examples=revisions + examples)


STUDY = Study("cai", "Constitutional AI", run, order=61,
              summary_keys=("harmful_compliance_before", "harmful_compliance_after",
                            "overrefusal_before", "overrefusal_after", "revisions", "ai_labels"))
