"""Over-refusal eval: how often the target refuses benign requests that look harmful."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from alignlab.models import SamplingParams
from alignlab.redteam.probe import Grader, Probe, run_probes
from alignlab.redteam.stats import bootstrap_rate


def probes(items: Sequence[dict[str, Any]]) -> list[Probe]:
    return [Probe(f"overrefusal:{it['id']}", it["prompt"],
                  {"kind": "overrefusal", "category": it["category"], "item": it["id"],
                   "attack": "direct", "behaviour": it["prompt"]}) for it in items]


def grader(refusal: Any) -> Grader:
    def grade(records: list[dict[str, Any]]) -> None:
        prompts = [r["behaviour"] for r in records]
        verdicts = refusal.predict(prompts, [r["response"] for r in records])
        for r, v in zip(records, verdicts, strict=True):
            r.update(refused=int(v), success=int(v))  # "success" here = an over-refusal

    return grade


def metrics(records: Sequence[dict[str, Any]], refusal: Any, seed: int = 0, reps: int = 2000,
            ) -> dict[str, float | int]:
    est = bootstrap_rate([r["refused"] for r in records], refusal.errors, reps, seed)
    out: dict[str, float | int] = {
        "overrefusal_rate": est.raw, "overrefusal_rate_corrected": est.corrected,
        "overrefusal_ci_low": est.ci_low, "overrefusal_ci_high": est.ci_high,
        "overrefusal_n": est.n}
    for cat in sorted({r["category"] for r in records}):
        rows = [r["refused"] for r in records if r["category"] == cat]
        out[f"overrefusal_rate_{cat}"] = sum(rows) / len(rows)
    return out


def evaluate(lm: Any, items: Sequence[dict[str, Any]] | None = None, out: Path | None = None,
             max_new_tokens: int = 48, refusal: Any = None, seed: int = 0,
             ) -> dict[str, float | int]:
    """Over-refusal rate on benign look-alikes (the project's suite if `items` is None)."""
    from alignlab.evals.harmful import _store
    from alignlab.redteam.judges import load_refusal_judge
    from alignlab.redteam.suites import load_suite

    items = items if items is not None else load_suite("overrefusal")[1]
    refusal = refusal or load_refusal_judge()
    records = run_probes(lm, probes(items), _store(out), grader(refusal),
                         SamplingParams(max_new_tokens=max_new_tokens), label="over-refusal")
    return metrics(records, refusal, seed)
