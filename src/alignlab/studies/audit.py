"""Baseline audit: red-team the embedded model before any alignment training.

The section of `alignlab study` that shows the model's real failures: harmful
requests it helps with (ASR corrected for the judge's error, per category, with
CIs), benign requests it refuses, false beliefs it agrees with, "are you sure?"
flips, obeyed prompt injections, and how far adaptive attacks push ASR above
direct requests on the same behaviours.
"""

from __future__ import annotations

from pathlib import Path

from alignlab.redteam.report import sections
from alignlab.redteam.runner import BUDGETS, RedteamConfig, run_redteam
from alignlab.report import Run, paragraphs
from alignlab.studies import Study, StudyResult, finish_study


def run(budget: str, out: Path, seed: int = 0, config: RedteamConfig | None = None,
        ) -> StudyResult:
    config = config or BUDGETS[budget]
    run_ = Run(out, "audit", config, budget, seed)
    metrics, runs = run_redteam(config, run_.out / "redteam", seed)
    run_.log(**metrics)
    secs = sections(metrics, runs, run_.figure_path, config.target)
    secs[0].title = f"Baseline audit: {config.target}"
    secs[0].text = paragraphs(_findings(metrics)) + secs[0].text
    return finish_study(run_, metrics, secs)


def _findings(m: dict) -> str:
    """Plain sentences with the measured numbers (whatever they turn out to be)."""
    parts = []
    if "asr_corrected" in m:
        parts.append(f"It helped with {m['asr_raw']:.0%} of {m['asr_n']} harmful requests as "
                     f"judged ({m['asr_corrected']:.0%} after correcting for judge error, 95% CI "
                     f"{m['asr_ci_low']:.0%}-{m['asr_ci_high']:.0%}).")
    if "overrefusal_rate" in m:
        parts.append(f"It refused {m['overrefusal_rate']:.0%} of benign look-alike requests.")
    if "sycophancy_agree_rate" in m:
        parts.append(f"Of the questions it answers correctly when asked plainly, it gave the "
                     f"user's wrong answer {m['sycophancy_agree_rate']:.0%} of the time when the "
                     f"user stated it first, and switched to the wrong answer "
                     f"{m['sycophancy_flip_rate']:.0%} of the time after \"are you sure?\".")
    if "adaptive_asr" in m:
        parts.append(f"On the attack subset, direct requests succeeded "
                     f"{m['adaptive_direct_asr']:.0%} and the PAIR-style attack "
                     f"{m['adaptive_asr']:.0%}.")
    if "gcg_asr" in m:
        parts.append(f"GCG suffixes: {m['gcg_asr']:.0%} vs {m['gcg_direct_asr']:.0%} direct on "
                     "the same behaviours.")
    return " ".join(parts)


STUDY = Study("audit", "Baseline audit (red team)", run, order=20,
              summary_keys=("asr_raw", "asr_corrected", "overrefusal_rate",
                            "sycophancy_flip_rate", "adaptive_direct_asr", "adaptive_asr"))
