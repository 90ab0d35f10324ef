"""Process vs outcome supervision: best-of-N with an ORM, a PRM and majority vote.

Reproduces the shape of Lightman et al. 2023 (PRM > ORM > majority at large N, the
gap growing with N) and of Uesato et al. 2022 (outcome supervision picks right
answers reached by wrong reasoning; process supervision does not) on arithmetic
chains whose every step is checkable, and compares Monte-Carlo step labels
(Math-Shepherd) with gold ones.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from rich.progress import track

from alignlab.oversight import prm as P
from alignlab.oversight.stats import bootstrap_ci, fmt_ci
from alignlab.report import Run, Section, paragraphs
from alignlab.report.plots import new_figure, save
from alignlab.studies import Study, StudyResult, finish_study


@dataclass(frozen=True)
class PRMStudyConfig:
    generator: P.GeneratorConfig = field(default_factory=P.GeneratorConfig)
    """How the noisy solver writes solutions."""
    train_problems: int = 500
    """Problems whose sampled solutions train the verifiers."""
    train_samples: int = 8
    """Solutions per training problem."""
    test_problems: int = 200
    """Held-out problems for best-of-N."""
    max_n: int = 256
    """Largest N; N runs over powers of two up to it."""
    repeats: int = 8
    """Random size-N subsets per problem and N (fewer needed as N nears max_n)."""
    mc_rollouts: int = 8
    """Monte-Carlo completions per step prefix for the Math-Shepherd labels."""
    hidden: int = 128
    """Width of the verifiers' two hidden layers."""


BUDGETS = {
    "smoke": PRMStudyConfig(train_problems=40, test_problems=10, max_n=8, repeats=2,
                            mc_rollouts=2, hidden=16),
    "tour": PRMStudyConfig(train_problems=250, test_problems=80, max_n=64, repeats=4),
    "quick": PRMStudyConfig(),
    "full": PRMStudyConfig(train_problems=2000, test_problems=500, repeats=16),
}


def sample_set(n_problems: int, samples: int, cfg: P.GeneratorConfig, rng: np.random.Generator,
               ) -> list[tuple[P.Problem, float, list[P.Solution]]]:
    """Problems, each with its slip rate and `samples` generated solutions."""
    out = []
    for _ in range(n_problems):
        problem = P.make_problem(rng, cfg)
        slip_p = float(rng.uniform(*cfg.slip_range))
        sols = [P.generate(problem, slip_p, cfg, rng) for _ in range(samples)]
        out.append((problem, slip_p, sols))
    return out


def train_verifiers(train: list, cfg: PRMStudyConfig, seed: int, rng: np.random.Generator,
                    ) -> tuple[dict, float]:
    """ORM, gold-label PRM and Monte-Carlo-label PRM on the same solutions; also the
    agreement of MC step labels with gold on the steps the PRM trains on."""
    sols = [s for _, _, group in train for s in group]
    answers_ok = [s.answer == p.values()[-1] for p, _, group in train for s in group]
    gold = [P.gold_step_labels(s) for s in sols]
    mc = [[bool(v) for v in P.mc_step_labels(p, s, slip_p, cfg.generator, cfg.mc_rollouts, rng)]
          for p, slip_p, group in track(train, description="Monte-Carlo step labels")
          for s in group]
    orm = P.new_verifier(seed, cfg.hidden).fit(
        np.array([P.solution_features(s) for s in sols]), np.array(answers_ok, dtype=int))
    models = {"orm": orm}
    for name, labels in (("prm", gold), ("prm_mc", mc)):
        x, y = P.prm_training_set(sols, labels)
        models[name] = P.new_verifier(seed, cfg.hidden).fit(x, y)
    agree = np.mean([m == g for ml, gl in zip(mc, gold, strict=True)
                     for m, g in zip(ml, gl, strict=True)])
    return models, float(agree)


def evaluate(test: list, models: dict, cfg: PRMStudyConfig, rng: np.random.Generator) -> dict:
    """Per N and method: correctness of the pick per (problem, repeat), plus the trace
    soundness of each pick at the largest N."""
    ns = [2 ** i for i in range(int(np.log2(cfg.max_n)) + 1)]
    methods = ("prm", "orm", "prm_mc", "majority")
    hits = {m: np.zeros((len(ns), len(test), cfg.repeats)) for m in methods}
    flawed = {m: [] for m in ("prm", "orm", "prm_mc")}  # (answer right, trace flawed) at max N
    for pi, (problem, _, sols) in enumerate(track(test, description="best-of-N")):
        truth = problem.values()[-1]
        answers = np.array([s.answer for s in sols])
        sound = np.array([P.first_error(s) is None for s in sols])
        scores = {"prm": P.prm_scores(models["prm"], sols),
                  "orm": P.orm_scores(models["orm"], sols),
                  "prm_mc": P.prm_scores(models["prm_mc"], sols)}
        for ni, n in enumerate(ns):
            for r in range(cfg.repeats):
                subset = rng.choice(len(sols), size=n, replace=False)
                for name, sc in scores.items():
                    pick = subset[np.argmax(sc[subset])]
                    hits[name][ni, pi, r] = answers[pick] == truth
                    if n == ns[-1] and r == 0:
                        flawed[name].append((answers[pick] == truth, not sound[pick]))
                hits["majority"][ni, pi, r] = P.majority_answer(answers[subset], rng) == truth
    return {"ns": ns, "hits": hits, "flawed": flawed}


def trace_error(pairs: list[tuple[bool, bool]]) -> float:
    """Share of picks with a right final answer whose reasoning has a wrong step."""
    right = [flaw for ok, flaw in pairs if ok]
    return float(np.mean(right)) if right else 0.0


def run(budget: str, out: Path, seed: int = 0, config: PRMStudyConfig | None = None,
        ) -> StudyResult:
    cfg = config or BUDGETS[budget]
    run_ = Run(out, "prm", cfg, budget, seed)
    rng = np.random.default_rng(seed)
    train = sample_set(cfg.train_problems, cfg.train_samples, cfg.generator, rng)
    test = sample_set(cfg.test_problems, cfg.max_n, cfg.generator, rng)
    models, mc_agree = train_verifiers(train, cfg, seed, rng)
    ev = evaluate(test, models, cfg, rng)
    ns, hits = ev["ns"], ev["hits"]
    acc = {m: h.mean(axis=(1, 2)) for m, h in hits.items()}
    for i, n in enumerate(ns):
        run_.log(step=n, **{f"{m}_acc": float(a[i]) for m, a in acc.items()})
    gap = acc["prm"] - acc["orm"]
    per_problem = {m: h[-1].mean(axis=1) for m, h in hits.items()}  # (problems,) at max N
    cis = {m: bootstrap_ci(lambda idx, v=v: float(v[idx].mean()), len(v), seed=seed)
           for m, v in per_problem.items()}
    diff = per_problem["prm"] - per_problem["orm"]
    metrics = {
        "prm_bon_acc": float(acc["prm"][-1]), "orm_bon_acc": float(acc["orm"][-1]),
        "majority_acc": float(acc["majority"][-1]), "prm_mc_bon_acc": float(acc["prm_mc"][-1]),
        "prm_bon_acc_ci": cis["prm"], "orm_bon_acc_ci": cis["orm"],
        "majority_acc_ci": cis["majority"], "prm_mc_bon_acc_ci": cis["prm_mc"],
        "prm_minus_orm": float(gap[-1]),
        "prm_minus_orm_ci": bootstrap_ci(lambda idx: float(diff[idx].mean()), len(diff),
                                         seed=seed),
        "prm_minus_orm_by_n": {str(n): float(g) for n, g in zip(ns, gap, strict=True)},
        "prm_minus_orm_slope_per_doubling": float(np.polyfit(np.log2(ns), gap, 1)[0]),
        "trace_error_outcome": trace_error(ev["flawed"]["orm"]),
        "trace_error_process": trace_error(ev["flawed"]["prm"]),
        "trace_error_process_mc": trace_error(ev["flawed"]["prm_mc"]),
        "mc_step_label_agreement": mc_agree,
        "largest_n": ns[-1],
    }
    return finish_study(run_, metrics, [section(run_, cfg, ns, acc, metrics)])


def section(run_: Run, cfg: PRMStudyConfig, ns: list[int], acc: dict, m: dict) -> Section:
    fig, ax = new_figure()
    names = {"prm": "PRM (gold step labels)", "prm_mc": "PRM (Monte-Carlo labels)",
             "orm": "ORM (outcome labels)", "majority": "majority vote"}
    for key, label in names.items():
        ax.plot(ns, acc[key], marker="o", label=label)
    ax.set_xscale("log", base=2)
    ax.set_xlabel("N (solutions per problem)")
    ax.set_ylabel("final-answer accuracy")
    ax.set_title("Best-of-N on multi-step arithmetic")
    ax.legend()
    fig_path = save(fig, run_.figure_path("best_of_n"))
    text = paragraphs(
        f"{cfg.train_problems} training problems x {cfg.train_samples} sampled solutions train "
        f"both verifiers (same network, same solutions); {cfg.test_problems} test problems with "
        f"{cfg.max_n} samples each. At N={ns[-1]}: PRM "
        f"{fmt_ci(m['prm_bon_acc'], m['prm_bon_acc_ci'])}, "
        f"ORM {fmt_ci(m['orm_bon_acc'], m['orm_bon_acc_ci'])}, majority "
        f"{fmt_ci(m['majority_acc'], m['majority_acc_ci'])} (bootstrap over problems); "
        f"PRM minus ORM {fmt_ci(m['prm_minus_orm'], m['prm_minus_orm_ci'])}, changing by "
        f"{m['prm_minus_orm_slope_per_doubling']:+.3f} per doubling of N.\n\n"
        f"Trace error (right answer, wrong reasoning) of the picked solution: outcome-"
        f"supervised {m['trace_error_outcome']:.3f}, process-supervised "
        f"{m['trace_error_process']:.3f}. Monte-Carlo step labels ({cfg.mc_rollouts} rollouts) "
        f"agree with gold on {m['mc_step_label_agreement']:.3f} of steps; the PRM trained on "
        f"them reaches {m['prm_mc_bon_acc']:.3f}. Lightman et al. (MATH, N=1860): PRM 78.2%, "
        f"ORM 72.4%, majority 69.6%; Uesato et al.: trace error 14.0% -> 3.4%.")
    table = [{"N": n, **{names[k]: round(float(acc[k][i]), 3) for k in names}}
             for i, n in enumerate(ns)]
    return Section("Process supervision: PRM vs ORM", text, table, [fig_path])


STUDY = Study("prm", "Process vs outcome supervision", run, order=71,
              summary_keys=("prm_bon_acc", "orm_bon_acc", "majority_acc", "prm_minus_orm"))
