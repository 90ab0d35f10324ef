"""Debate on 8x8 digits: does a sparse judge get it right more often after a debate?

Irving, Christiano & Amodei (2018) on MNIST: 59.4% -> 88.9% with 6 pixels, 48.2% ->
85.2% with 4. We measure the same quantities on scikit-learn's digits, with the
precommit-only control a later replication showed to be essential.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from matplotlib.patches import Rectangle
from rich.progress import Progress

from alignlab.oversight import debate as D
from alignlab.oversight.stats import bootstrap_ci, fmt_ci
from alignlab.report import Run, Section, paragraphs
from alignlab.report.plots import bar_chart, new_figure, save
from alignlab.studies import Study, StudyResult, finish_study


@dataclass(frozen=True)
class DebateStudyConfig:
    ks: tuple[int, ...] = (6, 4)
    """Pixel budgets of the judge (and turns of the debate)."""
    search: str = "minimax2"
    """Debaters' search: one of debate.SEARCHES (greedy, minimax2)."""
    epochs: int = 20
    """Judge training epochs over the masked training set."""
    draws: int = 30
    """Random masks per training image."""
    test_images: int = 0
    """Test images to debate on (0 = the whole 30% test split)."""
    honest_first: bool = True
    """Whether the honest debater reveals first (so the liar has the last word at even k)."""


BUDGETS = {
    "smoke": DebateStudyConfig(ks=(2,), search="greedy", epochs=1, draws=2, test_images=20),
    "tour": DebateStudyConfig(search="greedy", epochs=10, draws=20, test_images=200),
    "quick": DebateStudyConfig(),
    "full": DebateStudyConfig(epochs=40, draws=50),
}


def measure_k(k: int, cfg: DebateStudyConfig, data: tuple, seed: int, progress: Progress,
              ) -> tuple[torch.nn.Module, dict[str, np.ndarray]]:
    """Train the k-pixel judge and score each test image under the three conditions."""
    xtr, xte, ytr, yte = data
    task = progress.add_task(f"judge k={k}", total=cfg.epochs)
    judge = D.train_judge(xtr, ytr, D.JudgeConfig(k=k, epochs=cfg.epochs, draws=cfg.draws),
                          seed, progress=lambda _: progress.advance(task))
    per_image = {"random": D.random_pixel_accuracy(judge, xte, yte, k, seed + 1),
                 "precommit": D.precommit_accuracy(judge, xte, yte, k, seed + 2)}
    task = progress.add_task(f"debates k={k} ({cfg.search}, every lie)", total=9)
    per_image["debate"] = D.debate_accuracy(judge, xte, yte, k, cfg.search, cfg.honest_first,
                                            progress=lambda _: progress.advance(task))
    return judge, per_image


def run(budget: str, out: Path, seed: int = 0, config: DebateStudyConfig | None = None,
        ) -> StudyResult:
    cfg = config or BUDGETS[budget]
    run_ = Run(out, "debate", cfg, budget, seed)
    xtr, xte, ytr, yte = D.load_digits_split(seed)
    if cfg.test_images:
        xte, yte = xte[:cfg.test_images], yte[:cfg.test_images]
    metrics: dict = {"test_images": len(yte)}
    judges = {}
    with Progress() as progress:
        for k in cfg.ks:
            start = time.perf_counter()
            judges[k], per = measure_k(k, cfg, (xtr, xte, ytr, yte), seed, progress)
            for cond, values in per.items():
                metrics[f"judge_acc_{cond}_k{k}"] = float(values.mean())
                metrics[f"judge_acc_{cond}_k{k}_ci"] = bootstrap_ci(
                    lambda idx, v=values: float(v[idx].mean()), len(values), seed=seed)
            for base in ("random", "precommit"):
                diff = per["debate"] - per[base]
                metrics[f"debate_minus_{base}_k{k}"] = float(diff.mean())
                metrics[f"debate_minus_{base}_k{k}_ci"] = bootstrap_ci(
                    lambda idx, v=diff: float(v[idx].mean()), len(diff), seed=seed)
            run_.log(step=k, seconds=time.perf_counter() - start,
                     **{c: float(v.mean()) for c, v in per.items()})
    k_fig = max(cfg.ks)
    examples_fig = example_figure(run_, judges[k_fig], xte[:6], yte[:6], k_fig, cfg)
    return finish_study(run_, metrics, [section(run_, cfg, metrics, examples_fig)])


def example_figure(run_: Run, judge: torch.nn.Module, x: np.ndarray, y: np.ndarray, k: int,
                   cfg: DebateStudyConfig) -> Path:
    """A few debates against the lie the judge finds most plausible on the whole image:
    honest reveals in green, the liar's in red."""
    images = torch.from_numpy(x)
    with torch.no_grad():
        logits = judge(D.judge_input(images, (images > 0).float()))
    logits[torch.arange(len(y)), torch.from_numpy(y).long()] = -torch.inf
    lies = logits.argmax(1)
    won, moves = D.play_debate(judge, images, torch.from_numpy(y).long(), lies, k, cfg.search,
                               cfg.honest_first)
    fig, axes = new_figure(2.0 * len(y), 2.6)
    fig.delaxes(axes)
    for i in range(len(y)):
        ax = fig.add_subplot(1, len(y), i + 1)
        ax.imshow(x[i].reshape(8, 8), cmap="gray_r")
        for turn, pixel in enumerate(moves[i].tolist()):
            if pixel >= 0:
                honest_turn = (turn % 2 == 0) == cfg.honest_first
                ax.add_patch(Rectangle(
                    (pixel % 8 - 0.5, pixel // 8 - 0.5), 1, 1, fill=False, lw=2,
                    edgecolor="tab:green" if honest_turn else "tab:red"))
        ax.set_title(f"{y[i]} vs {int(lies[i])}: {'honest' if won[i] else 'liar'} wins",
                     fontsize=8)
        ax.axis("off")
    return save(fig, run_.figure_path("debate_examples"))


def section(run_: Run, cfg: DebateStudyConfig, m: dict, examples: Path) -> Section:
    conds = ("random", "precommit", "debate")
    labels = [f"k={k} {c}" for k in cfg.ks for c in conds]
    chart = bar_chart(run_.figure_path("judge_accuracy"), labels,
                      [m[f"judge_acc_{c}_k{k}"] for k in cfg.ks for c in conds],
                      "Sparse judge accuracy", "accuracy",
                      [tuple(m[f"judge_acc_{c}_k{k}_ci"]) for k in cfg.ks for c in conds])
    def cond(c: str, k: int) -> str:
        return fmt_ci(m[f"judge_acc_{c}_k{k}"], m[f"judge_acc_{c}_k{k}_ci"])

    lines = [f"k={k}: random {cond('random', k)}, precommit {cond('precommit', k)}, "
             f"debate {cond('debate', k)}; debate minus random "
             f"{m[f'debate_minus_random_k{k}']:+.3f}, minus precommit "
             f"{m[f'debate_minus_precommit_k{k}']:+.3f}." for k in cfg.ks]
    text = paragraphs(
        f"An MLP judge (mask plane + revealed values) trained on random nonzero pixels; "
        f"debaters search with {cfg.search}; the liar tries all nine lies and an image counts "
        f"as judged correctly only if the honest debater beats every one. Precommit control: "
        f"the judge is told the truth and the liar's most successful lie, pixels random. "
        f"{m['test_images']} test images, 95% bootstrap intervals.\n\n" + "\n\n".join(lines)
        + "\n\nIrving et al. (MNIST): 59.4% -> 88.9% (k=6), 48.2% -> 85.2% (k=4).")
    table = [{"k": k, **{c: round(m[f"judge_acc_{c}_k{k}"], 3) for c in conds}} for k in cfg.ks]
    return Section("Debate on digits", text, table, [chart, examples])


STUDY = Study("debate", "Debate on digits", run, order=70,
              summary_keys=("judge_acc_random_k6", "judge_acc_precommit_k6",
                            "judge_acc_debate_k6"))
