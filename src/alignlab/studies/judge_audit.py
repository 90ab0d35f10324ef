"""Audited AI judges: how well does an LM judge agree with humans, and can a small audit
tell its error rate?

The judge labels every statement; we know the human labels of all of them, so the
judge's true error rate on the full set is known, and each audit strategy's estimate
and interval can be checked against it, once for the report's headline and over many
repeated audits for coverage.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from alignlab.models import load_target
from alignlab.oversight import judge_audit as J
from alignlab.oversight.stats import cohen_kappa, fmt_ci
from alignlab.report import Run, Section, paragraphs
from alignlab.report.plots import bar_chart
from alignlab.studies import Study, StudyResult, finish_study


@dataclass(frozen=True)
class JudgeAuditConfig:
    target: str = "embedded"
    """Target spec of the AI judge."""
    items: int = 240
    """Statements in the human-labelled set."""
    human_noise: float = 0.02
    """Chance a human label is wrong (the audit trusts humans all the same)."""
    audit_budget: int = 60
    """Human labels the auditor can afford."""
    repeats: int = 500
    """Repeated audits per strategy for coverage and mean width."""


BUDGETS = {
    "smoke": JudgeAuditConfig(items=16, audit_budget=8, repeats=20),
    "tour": JudgeAuditConfig(items=120, audit_budget=40, repeats=300),
    "quick": JudgeAuditConfig(),
    "full": JudgeAuditConfig(items=1000, audit_budget=150, repeats=2000),
}


def run(budget: str, out: Path, seed: int = 0, config: JudgeAuditConfig | None = None,
        ) -> StudyResult:
    cfg = config or BUDGETS[budget]
    run_ = Run(out, "judge-audit", cfg, budget, seed)
    statements, human, truth = J.make_items(cfg.items, seed, cfg.human_noise)
    lm = load_target(cfg.target)
    p_true = J.judge_probabilities(lm, statements, phrasing=0)
    p_alt = J.judge_probabilities(lm, statements, phrasing=1)
    threshold = J.calibrate_threshold(p_true)
    verdict = p_true > threshold
    alt_verdict = p_alt > J.calibrate_threshold(p_alt)
    errors = verdict != human
    true_error = float(errors.mean())
    weights = {s: J.draw_weights(s, p_true, verdict != alt_verdict, threshold)
               for s in J.STRATEGIES}
    once = J.audit_once(errors, weights["random"], cfg.audit_budget,
                        np.random.default_rng(seed))
    repeated = J.audit_study(errors, weights, cfg.audit_budget, cfg.repeats, seed)
    ci = (once["low"], once["high"])
    metrics = {
        "kappa": cohen_kappa(verdict.astype(int), human.astype(int)),
        "agreement": float((verdict == human).mean()),
        "true_error": true_error,
        "estimated_error": once["estimate"],
        "estimated_error_ci": ci,
        "ci_covers_true_error": bool(ci[0] <= true_error <= ci[1]),
        "threshold": threshold,
        "judges_disagree": float((verdict != alt_verdict).mean()),
        "error_by_kind": {k: float(errors[i::len(J.ITEM_KINDS)].mean())
                          for i, k in enumerate(J.ITEM_KINDS)},
        **{f"{s}_{k}": v for s, r in repeated.items() for k, v in r.items()},
    }
    run_.log(**{k: v for k, v in metrics.items() if not isinstance(v, dict)})
    examples = [{"statement": s, "human": str(bool(h)), "judge P(true)": f"{p:.2f}"}
                for s, h, p in list(zip(statements, human, p_true, strict=True))[:6]]
    return finish_study(run_, metrics, [section(run_, cfg, metrics, repeated, examples)])


def section(run_: Run, cfg: JudgeAuditConfig, m: dict, repeated: dict, examples: list) -> Section:
    chart = bar_chart(run_.figure_path("audit_coverage"), list(repeated),
                      [r["coverage"] for r in repeated.values()],
                      f"95% CI coverage of the true error over {cfg.repeats} audits", "coverage")
    text = paragraphs(
        f"Judge {cfg.target} on {cfg.items} statements (capitals, sums, animal legs, number "
        f"comparisons; human labels wrong {cfg.human_noise:.0%} of the time). Agreement with "
        f"humans {m['agreement']:.3f}, Cohen's kappa {m['kappa']:.3f}; true error on the full "
        f"set {m['true_error']:.3f}. One random audit of {cfg.audit_budget} items estimates "
        f"{fmt_ci(m['estimated_error'], m['estimated_error_ci'])} (Wilson), which "
        f"{'covers' if m['ci_covers_true_error'] else 'misses'} the true error.\n\n"
        "Targeted audits are reweighted by their drawing probabilities; 'naive' is the plain "
        "share of errors in the targeted sample, biased when the strategy favours errors.")
    table = [{"strategy": s, "mean estimate": round(r["mean_estimate"], 3),
              "mean naive": round(r["mean_naive"], 3), "coverage": round(r["coverage"], 3),
              "mean CI width": round(r["mean_width"], 3),
              "judge errors found": round(r["errors_found"], 1)} for s, r in repeated.items()]
    return Section("Audited AI judge", text, table, [chart], examples)


STUDY = Study("judge-audit", "Audited AI judges", run, order=74,
              summary_keys=("kappa", "true_error", "estimated_error", "ci_covers_true_error"))
