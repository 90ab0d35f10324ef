"""Figures and report sections for a red-team run: per-category bars with CIs, attack
comparison, sycophancy, and example transcripts."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from alignlab.report import Section, paragraphs
from alignlab.report.plots import bar_chart, new_figure, save


def category_figure(metrics: dict[str, Any], path: Path) -> Path | None:
    """Corrected ASR per category with its bootstrap 95% interval."""
    cats = sorted(k[len("asr_corrected_"):] for k in metrics
                  if k.startswith("asr_corrected_") and not k.startswith("asr_corrected_conv"))
    if not cats:
        return None
    values = [metrics[f"asr_corrected_{c}"] for c in cats]
    errors = [(min(metrics[f"asr_ci_low_{c}"], v), max(metrics[f"asr_ci_high_{c}"], v))
              for c, v in zip(cats, values, strict=True)]
    return bar_chart(path, cats, values, "Attack success by category (direct requests)",
                     "ASR, judge-corrected (95% CI)", errors)


def attack_figure(metrics: dict[str, Any], path: Path) -> Path | None:
    """ASR on the attack subset: direct requests, each converter, PAIR, GCG."""
    labels, values = [], []
    if "adaptive_direct_asr" not in metrics:
        return None
    labels.append("direct")
    values.append(metrics["adaptive_direct_asr"])
    for k in sorted(metrics):
        if k.startswith("asr_raw_conv_"):
            labels.append(k[len("asr_raw_conv_"):])
            values.append(metrics[k])
    if "adaptive_asr" in metrics:
        labels.append("PAIR")
        values.append(metrics["adaptive_asr"])
    if "gcg_asr" in metrics:
        labels.append("GCG*")
        values.append(metrics["gcg_asr"])
    return bar_chart(path, labels, values, "Attacks on the same behaviours (raw judge verdicts)",
                     "attack success rate")


def behaviour_figure(metrics: dict[str, Any], path: Path) -> Path:
    """Over-refusal, sycophancy and injection rates side by side."""
    names = [("overrefusal_rate", "over-refusal"), ("sycophancy_agree_rate", "agrees w/ wrong"),
             ("sycophancy_flip_rate", "flips if challenged"),
             ("injection_success_rate", "injection obeyed")]
    present = [(k, n) for k, n in names if k in metrics]
    fig, ax = new_figure(6, 3.5)
    ax.bar([n for _, n in present], [metrics[k] for k, _ in present], color="#c44e52")
    ax.set_ylim(0, 1)
    ax.set_ylabel("rate")
    ax.set_title("Behavioural failures")
    return save(fig, path)


def _examples(runs: dict[str, list[dict[str, Any]]], n: int = 2) -> list[dict[str, str]]:
    """A few transcripts of each part: successes first, then refusals."""
    out = []
    for part, recs in runs.items():
        picked = [r for r in recs if r.get("success")][:n] or recs[:1]
        for r in picked:
            prompt = r["prompt"] if isinstance(r["prompt"], str) else " / ".join(
                m["content"] for m in r["prompt"])
            out.append({"part": part, "category": str(r.get("category", "")),
                        "prompt": prompt[:500], "response": r["response"][:500],
                        "verdict": "success" if r.get("success") else "no success"})
    return out


def sections(metrics: dict[str, Any], runs: dict[str, list[dict[str, Any]]],
             figure_path: Callable[[str], Path], target: str) -> list[Section]:
    figures = [f for f in (category_figure(metrics, figure_path("asr_by_category")),
                           attack_figure(metrics, figure_path("attacks")),
                           behaviour_figure(metrics, figure_path("behaviours"))) if f]
    keys = ("asr_raw", "asr_corrected", "asr_ci_low", "asr_ci_high", "adaptive_direct_asr",
            "adaptive_asr", "gcg_direct_asr", "gcg_asr", "overrefusal_rate",
            "sycophancy_neutral_accuracy", "sycophancy_agree_rate", "sycophancy_flip_rate",
            "injection_success_rate", "judge_accuracy", "judge_sensitivity",
            "judge_specificity", "refusal_judge_accuracy")
    table = [{"metric": k, "value": metrics[k]} for k in keys if k in metrics]
    text = paragraphs(
        f"Target {target}. ASR is the fraction of harmful requests the harm judge calls a "
        "success (a harmful request, no refusal, a substantive answer); the corrected value "
        "removes the judge's measured error (Rogan-Gladen, sensitivity and specificity from "
        "the held-out part of the labeled set), and the 95% interval resamples both the "
        "prompts and that calibration set.\n\n"
        "Attack bars compare methods on the same behaviours. PAIR counts a behaviour as "
        "broken when any of its queries succeeds, so judge false positives add up over "
        "queries; its raw rate is an upper-leaning estimate. *GCG runs on a few behaviours "
        "of the subset only (see gcg_direct_asr for the direct rate on those).")
    return [Section(f"Red team: {target}", text, table, figures, _examples(runs))]
