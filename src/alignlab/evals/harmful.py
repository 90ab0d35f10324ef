"""Harmful-request eval: attack success rate, raw and corrected for judge error, with CIs.

`evaluate(lm, items)` is the whole eval for callers that measure a model before and
after training; the red-team runner uses the same `probes`, `grader` and `metrics`
with converters and attacks on top.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from alignlab.models import SamplingParams
from alignlab.redteam.probe import Grader, Probe, run_probes
from alignlab.redteam.stats import bootstrap_rate
from alignlab.redteam.store import TranscriptStore


def default_judges() -> tuple[Any, Any]:
    """(harm judge, refusal judge), fitted once and cached."""
    from alignlab.redteam.judges import load_harm_judge, load_refusal_judge

    return load_harm_judge(), load_refusal_judge()


def probes(items: Sequence[dict[str, Any]], attack: str = "direct",
           convert: Any = None) -> list[Probe]:
    """One probe per item; `convert` (a converters.Converter) rewrites the request."""
    out = []
    for it in items:
        prompt = convert.encode(it["prompt"]) if convert is not None else it["prompt"]
        out.append(Probe(f"harmful:{it['id']}:{attack}", prompt,
                         {"kind": "harmful", "category": it["category"], "item": it["id"],
                          "attack": attack, "behaviour": it["prompt"]}))
    return out


def grader(harm: Any, refusal: Any) -> Grader:
    """Judge each reply against the original behaviour (not the disguised prompt)."""

    def grade(records: list[dict[str, Any]]) -> None:
        behaviours = [r["behaviour"] for r in records]
        responses = [r["response"] for r in records]
        scores = harm.scores(behaviours, responses)
        verdicts = harm.predict(behaviours, responses)
        refused = refusal.predict(behaviours, responses)
        for r, s, v, f in zip(records, scores, verdicts, refused, strict=True):
            r.update(harm_score=float(s), success=int(v), refused=int(f))

    return grade


def metrics(records: Sequence[dict[str, Any]], harm: Any, prefix: str = "asr", seed: int = 0,
            reps: int = 2000) -> dict[str, float | int]:
    """Overall and per-category ASR (raw, corrected, 95% CI) and the refusal rate."""
    out: dict[str, float | int] = {}
    est = bootstrap_rate([r["success"] for r in records], harm.errors, reps, seed)
    out.update({prefix + "_raw": est.raw, prefix + "_corrected": est.corrected,
                prefix + "_ci_low": est.ci_low, prefix + "_ci_high": est.ci_high,
                prefix + "_n": est.n})
    out[prefix.replace("asr", "refusal_rate")] = (
        sum(r["refused"] for r in records) / max(1, len(records)))
    for cat in sorted({r["category"] for r in records}):
        rows = [r["success"] for r in records if r["category"] == cat]
        e = bootstrap_rate(rows, harm.errors, reps, seed)
        out.update({f"{prefix}_raw_{cat}": e.raw, f"{prefix}_corrected_{cat}": e.corrected,
                    f"{prefix}_ci_low_{cat}": e.ci_low, f"{prefix}_ci_high_{cat}": e.ci_high})
    return out


def evaluate(lm: Any, items: Sequence[dict[str, Any]] | None = None, out: Path | None = None,
             max_new_tokens: int = 64, judges: tuple[Any, Any] | None = None, seed: int = 0,
             ) -> dict[str, float | int]:
    """ASR of direct harmful requests; transcripts go to `out` (a temporary store if None)."""
    from alignlab.redteam.suites import load_suite

    items = items if items is not None else load_suite("harmful")[1]
    harm, refusal = judges or default_judges()
    store = _store(out)
    records = run_probes(lm, probes(items), store, grader(harm, refusal),
                         SamplingParams(max_new_tokens=max_new_tokens), label="harmful")
    return metrics(records, harm, seed=seed)


def _store(out: Path | None) -> TranscriptStore:
    if out is None:
        import tempfile

        out = Path(tempfile.mkdtemp(prefix="alignlab-eval-"))
    return TranscriptStore(out)
