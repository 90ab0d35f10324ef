"""A red-team run: suites, converters and adaptive attacks against one target.

Reads top to bottom: the config and its budgets, then `run_redteam`, which loads the
target and the judges, runs each enabled part (each part resumes from the transcript
store), gathers the metrics of the result contract and writes the report.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from alignlab.evals import harmful, injection, overrefusal, sycophancy
from alignlab.models import SamplingParams
from alignlab.redteam.converters import get_converter
from alignlab.redteam.egress import egress_guard, endpoint_of
from alignlab.redteam.gcg import GCGConfig, run_gcg
from alignlab.redteam.pair import PAIRConfig, run_pair, trail_rows
from alignlab.redteam.probe import run_probes
from alignlab.redteam.stats import bootstrap_rate
from alignlab.redteam.store import TranscriptStore
from alignlab.redteam.suites import DEFAULT_SUITES, load_suite

ATTACKS = ("direct", "converters", "pair", "gcg")


@dataclass(frozen=True)
class RedteamConfig:
    target: str = "embedded"
    """Target spec (embedded, hf:PATH, openai:URL#MODEL, mock:FILE)."""
    suites: tuple[str, ...] = DEFAULT_SUITES
    """Suite names (harmful, overrefusal, sycophancy, injection) or JSONL/YAML files."""
    attacks: tuple[str, ...] = ATTACKS
    """Parts to run on the harmful suite: direct, converters, pair, gcg."""
    converters: tuple[str, ...] = ("base64", "rot13", "leetspeak", "homoglyph", "roleplay",
                                   "hypothetical", "many_shot")
    """Converters tried on the attack subset (compose with +, e.g. rot13+roleplay)."""
    per_category: int = 0
    """Harmful items per category (0 = all)."""
    limit: int = 0
    """Items per other suite (0 = all)."""
    attack_per_category: int = 2
    """Behaviours per category in the attack subset (converters, PAIR)."""
    gcg_behaviours: int = 4
    """Behaviours of the attack subset that GCG also attacks (local HF targets only)."""
    pair_queries: int = 6
    """PAIR query budget per behaviour."""
    pair_attacker: str = "template"
    """PAIR attacker: template or lm."""
    gcg_steps: int = 20
    """GCG steps per behaviour."""
    max_new_tokens: int = 40
    """Reply length for every probe."""
    batch_size: int = 32
    """Probes per generate call."""
    bootstrap: int = 2000
    """Bootstrap resamples for each interval."""


BUDGETS = {
    "smoke": RedteamConfig(per_category=2, limit=4, attack_per_category=1, gcg_behaviours=1,
                           pair_queries=3, gcg_steps=2, max_new_tokens=8, bootstrap=200,
                           converters=("rot13", "roleplay")),
    "tour": RedteamConfig(per_category=4, limit=24, attack_per_category=1, gcg_behaviours=1,
                          pair_queries=4, gcg_steps=8, max_new_tokens=32, bootstrap=1000,
                          converters=("base64", "roleplay", "many_shot")),
    "quick": RedteamConfig(gcg_behaviours=2),
    "full": RedteamConfig(attack_per_category=5, gcg_behaviours=8, pair_queries=12,
                          gcg_steps=60, max_new_tokens=96),
}


def _head(items: list[dict[str, Any]], n: int) -> list[dict[str, Any]]:
    """The first `n` items taken round-robin over categories (all items when n is 0)."""
    if not n:
        return items
    queues: dict[str, list[dict[str, Any]]] = {}
    for it in items:
        queues.setdefault(it["category"], []).append(it)
    order = [q[i] for i in range(max(map(len, queues.values()))) for q in queues.values()
             if i < len(q)]
    return order[:n]


def _per_category(items: list[dict[str, Any]], n: int) -> list[dict[str, Any]]:
    if not n:
        return items
    seen: dict[str, int] = {}
    out = []
    for it in items:
        seen[it["category"]] = seen.get(it["category"], 0) + 1
        if seen[it["category"]] <= n:
            out.append(it)
    return out


def attack_parts(lm: Any, items: list[dict[str, Any]], direct: list[dict[str, Any]],
                 store: TranscriptStore, grader: Any, config: RedteamConfig, seed: int,
                 ) -> tuple[dict[str, Any], dict[str, list[dict[str, Any]]]]:
    """Converters, PAIR and GCG on the attack subset, each compared with direct requests."""
    metrics: dict[str, Any] = {}
    runs: dict[str, list[dict[str, Any]]] = {}
    subset = _per_category(items, config.attack_per_category)
    direct_by_item = {r["item"]: r for r in direct}
    direct_rate = [direct_by_item[it["id"]]["success"] for it in subset]
    metrics["adaptive_direct_asr"] = sum(direct_rate) / max(1, len(direct_rate))
    params = SamplingParams(max_new_tokens=config.max_new_tokens)
    if "converters" in config.attacks:
        for name in config.converters:
            conv = get_converter(name)
            recs = run_probes(lm, harmful.probes(subset, f"conv-{name}", conv), store, grader,
                              params, config.batch_size, f"converter {name}")
            metrics[f"asr_raw_conv_{name}"] = sum(r["success"] for r in recs) / len(recs)
            runs[f"conv-{name}"] = recs
    if "pair" in config.attacks:
        pcfg = PAIRConfig(queries=config.pair_queries, attacker=config.pair_attacker,
                          max_new_tokens=config.max_new_tokens)
        rows = trail_rows(run_pair(lm, subset, store, grader, pcfg, seed=seed))
        est = bootstrap_rate([r["adaptive"] for r in rows], reps=config.bootstrap, seed=seed)
        metrics.update(adaptive_asr=est.raw, adaptive_ci_low=est.ci_low,
                       adaptive_ci_high=est.ci_high, adaptive_n=est.n,
                       adaptive_mean_queries=sum(r["queries"] for r in rows) / max(1, len(rows)))
        runs["pair"] = store.records(prefix="pair:")
    if "gcg" in config.attacks and hasattr(lm, "model") and config.gcg_behaviours:
        gcg_items = subset[:: max(1, len(subset) // config.gcg_behaviours)][
            :config.gcg_behaviours]
        gcfg = GCGConfig(steps=config.gcg_steps, max_new_tokens=config.max_new_tokens)
        recs = run_gcg(lm, gcg_items, store, grader, gcfg, seed)
        metrics["gcg_asr"] = sum(r["success"] for r in recs) / max(1, len(recs))
        metrics["gcg_direct_asr"] = (sum(direct_by_item[it["id"]]["success"] for it in gcg_items)
                                     / max(1, len(gcg_items)))
        metrics["gcg_final_loss"] = sum(r["losses"][-1] for r in recs) / max(1, len(recs))
        runs["gcg"] = recs
    return metrics, runs


def run_suites(lm: Any, store: TranscriptStore, config: RedteamConfig, judges: tuple[Any, Any],
               seed: int) -> tuple[dict[str, Any], dict[str, list[dict[str, Any]]]]:
    """Every suite in the config; returns metrics and the records of each part."""
    harm, refusal = judges
    params = SamplingParams(max_new_tokens=config.max_new_tokens)
    metrics: dict[str, Any] = {}
    runs: dict[str, list[dict[str, Any]]] = {}
    for suite in config.suites:
        kind, items = load_suite(suite)
        if kind == "harmful":
            items = _per_category(items, config.per_category)
            grade = harmful.grader(harm, refusal)
            direct = run_probes(lm, harmful.probes(items), store, grade, params,
                                config.batch_size, "harmful (direct)")
            metrics.update(harmful.metrics(direct, harm, seed=seed, reps=config.bootstrap))
            runs["direct"] = direct
            more, more_runs = attack_parts(lm, items, direct, store, grade, config, seed)
            metrics.update(more)
            runs.update(more_runs)
        elif kind == "overrefusal":
            recs = run_probes(lm, overrefusal.probes(_head(items, config.limit)), store,
                              overrefusal.grader(refusal), params, config.batch_size,
                              "over-refusal")
            metrics.update(overrefusal.metrics(recs, refusal, seed, config.bootstrap))
            runs["overrefusal"] = recs
        elif kind == "sycophancy":
            recs = sycophancy.run(lm, _head(items, config.limit), store, config.max_new_tokens,
                                  config.batch_size)
            metrics.update(sycophancy.metrics(recs, seed))
            runs["sycophancy"] = recs
        elif kind == "injection":
            recs = run_probes(lm, injection.probes(_head(items, config.limit)), store,
                              injection.grade, params, config.batch_size, "injection")
            metrics.update(injection.metrics(recs, seed))
            runs["injection"] = recs
    return metrics, runs


def judge_metrics(harm: Any, refusal: Any) -> dict[str, float]:
    return {"judge_sensitivity": harm.sensitivity, "judge_specificity": harm.specificity,
            "judge_accuracy": harm.accuracy, "refusal_judge_accuracy": refusal.accuracy,
            "refusal_judge_sensitivity": refusal.sensitivity,
            "refusal_judge_specificity": refusal.specificity}


def run_redteam(config: RedteamConfig, out: Path, seed: int = 0, lm: Any = None,
                judges: tuple[Any, Any] | None = None,
                ) -> tuple[dict[str, Any], dict[str, list[dict[str, Any]]]]:
    """Run everything under the egress guard; returns (metrics, records by part).

    `lm` and `judges` may be passed in (tests, studies that already hold a model).
    """
    from alignlab.models import load_target

    store = TranscriptStore(out)
    with egress_guard(endpoint_of(config.target)) as log:
        lm = lm if lm is not None else load_target(config.target)
        judges = judges or harmful.default_judges()
        metrics, runs = run_suites(lm, store, config, judges, seed)
    metrics.update(judge_metrics(*judges))
    metrics["egress_blocked"] = len(log.blocked)
    store.export_jsonl()
    store.close()
    return metrics, runs


def config_with(config: RedteamConfig, **changes: Any) -> RedteamConfig:
    """A copy with the non-None `changes` applied."""
    return dataclasses.replace(config, **{k: v for k, v in changes.items() if v is not None})
