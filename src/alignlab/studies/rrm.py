"""Recursive reward modeling: does decomposition keep labels good as tasks get deeper?

Leike et al. (2018) propose training reward models for hard tasks with evaluators
assisted by agents trained on simpler ones. This study makes the agenda concrete
on summing lists whose true totals are known: direct labels degrade with depth,
assisted labels (halves checked by the reward model one level down) should not,
and each reward model inherits the quality of its labels.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from alignlab.oversight.rrm import RRMConfig, run_recursion
from alignlab.report import Run, Section, paragraphs
from alignlab.report.plots import new_figure, save
from alignlab.studies import Study, StudyResult, finish_study


@dataclass(frozen=True)
class RRMStudyConfig:
    rrm: RRMConfig = field(default_factory=RRMConfig)
    """Task, evaluator, helper and reward-model settings."""


BUDGETS = {
    "smoke": RRMStudyConfig(RRMConfig(depths=(1, 2), train_size=200, test_size=100, hidden=8)),
    "tour": RRMStudyConfig(RRMConfig(train_size=2000, test_size=1000)),
    "quick": RRMStudyConfig(),
    "full": RRMStudyConfig(RRMConfig(depths=(1, 2, 3, 4, 5), train_size=20000,
                                     test_size=5000, hidden=128)),
}


def run(budget: str, out: Path, seed: int = 0, config: RRMStudyConfig | None = None,
        ) -> StudyResult:
    cfg = config or BUDGETS[budget]
    run_ = Run(out, "rrm", cfg, budget, seed)
    res = run_recursion(cfg.rrm, seed)
    depths = list(cfg.rrm.depths)
    for i, d in enumerate(depths):
        run_.log(step=d, **{k: v[i] for k, v in res.items()})
    gap = [a - b for a, b in zip(res["rm_acc_assisted"], res["rm_acc_direct"], strict=True)]
    metrics = {
        "depths": depths,
        "rm_acc_direct_by_depth": res["rm_acc_direct"],
        "rm_acc_assisted_by_depth": res["rm_acc_assisted"],
        "rm_acc_gold_by_depth": res["rm_acc_gold"],
        "label_acc_direct_by_depth": res["label_acc_direct"],
        "label_acc_assisted_by_depth": res["label_acc_assisted"],
        "assisted_minus_direct_deepest": gap[-1],
    }
    return finish_study(run_, metrics, [section(run_, cfg, depths, res)])


def section(run_: Run, cfg: RRMStudyConfig, depths: list[int], res: dict) -> Section:
    fig, ax = new_figure()
    styles = {"rm_acc_direct": ("RM, direct labels", "-o"),
              "rm_acc_assisted": ("RM, assisted labels", "-o"),
              "rm_acc_gold": ("RM, gold labels (ceiling)", "--"),
              "label_acc_direct": ("direct labels", ":x"),
              "label_acc_assisted": ("assisted labels", ":x")}
    for key, (label, style) in styles.items():
        ax.plot(depths, res[key], style, label=label)
    ax.set_xlabel("task depth (list of 2^depth numbers)")
    ax.set_ylabel("accuracy vs gold")
    ax.set_xticks(depths)
    ax.legend(fontsize=8)
    ax.set_title("Recursive reward modeling")
    path = save(fig, run_.figure_path("rrm_by_depth"))
    c = cfg.rrm
    text = paragraphs(
        f"Task: is the claimed total of 2^depth digits right? The evaluator adds up to "
        f"{c.capacity} numbers exactly and estimates longer sums with noise sd {c.noise}"
        f"*sqrt(extra numbers). Assisted: a helper (wrong {c.helper_error:.0%} of the time per "
        f"half) states the two half totals; the evaluator checks they add up to the claim, and "
        f"the reward model trained one level down judges each half. Reward models: an MLP on "
        f"the raw numbers and claim, {c.train_size} labels per depth, accuracy on "
        f"{c.test_size} held-out tasks against gold.")
    table = [{"depth": d, **{label: round(res[k][i], 3) for k, (label, _) in styles.items()}}
             for i, d in enumerate(depths)]
    return Section("Recursive reward modeling", text, table, [path])


STUDY = Study("rrm", "Recursive reward modeling", run, order=72,
              summary_keys=("rm_acc_direct_by_depth", "rm_acc_assisted_by_depth"))
