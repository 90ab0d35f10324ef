"""Curves, figures and the report section of the overoptimization study.

Kept apart from `overoptimization.py` so that file reads as the experiment alone.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from alignlab.report import Run, Section, paragraphs
from alignlab.report.plots import new_figure, save
from alignlab.train.fits import Fit

if TYPE_CHECKING:
    from alignlab.studies.overoptimization import OveroptConfig

MODES = ("length", "flattery_rate", "sycophancy_rate", "harmful_compliance")
"""Hacking modes tracked along every curve, next to gold and proxy reward."""


def average(curves: list[dict[str, list[float]]]) -> dict[str, list[float]]:
    """Point-wise mean of curves sampled at the same points."""
    return {k: np.mean([c[k] for c in curves], axis=0).tolist() for k in curves[0]}


def _fit_line(ax: Any, fit: Fit, d_max: float, color: str) -> None:
    d = np.linspace(0, d_max, 60)
    ax.plot(d, fit.predict(d), ":", color=color, label=f"fit α={fit.alpha:.2f} β={fit.beta:.2f}")


def plot_all(run_: Run, config: OveroptConfig, main: str, bon_mean: dict[str, Any],
             bon_fits: dict[str, tuple[Fit, float]], rl: list[dict[str, list[float]]],
             rl_fit: Fit, rl_ens: list[dict[str, list[float]]],
             dpo: dict[float, dict[str, list[float]]]) -> list[Path]:
    import matplotlib.pyplot as plt

    rl_mean = average(rl)
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2), dpi=110)
    for ax, curve, fit, title in ((axes[0], bon_mean[main], bon_fits[main][0], "best-of-n"),
                                  (axes[1], rl_mean, rl_fit, "PPO")):
        ax.plot(curve["d"], curve["gold"], "o-", color="#c44e52", label="gold")
        ax.plot(curve["d"], curve["proxy"], "s--", color="#4c72b0", label="proxy")
        _fit_line(ax, fit, max(curve["d"]), "#c44e52")
        ax.set(title=f"{title} against proxy {main}", xlabel="d = √KL (nats^½)",
               ylabel="reward gain over the initial policy")
    for beta, curve in dpo.items():
        axes[1].plot(curve["d"], curve["gold"], "^-", label=f"DPO β={beta} gold")
    for ax in axes:
        ax.axhline(0, color="#999", lw=0.8)
        ax.legend(fontsize=7)
    paths = [save(fig, run_.figure_path("gold_proxy_vs_kl"))]

    fig, axes = plt.subplots(1, len(MODES), figsize=(13, 3.4), dpi=110)
    for ax, mode in zip(axes, MODES, strict=True):
        ax.plot(bon_mean[main]["d"], bon_mean[main][mode], "o-", label="best-of-n")
        ax.plot(rl_mean["d"], rl_mean[mode], "s-", label="PPO")
        ax.set(title=mode.replace("_", " "), xlabel="d = √KL")
    axes[0].legend(fontsize=7)
    paths.append(save(fig, run_.figure_path("hacking_modes_vs_kl")))

    fig, ax = new_figure(6.5, 4.2)
    for name in [main, "ensemble-mean", "ensemble-worst", "ensemble-uncertainty"]:
        ax.plot(bon_mean[name]["d"], bon_mean[name]["gold"], "o-", label=name)
    for curve in rl_ens:
        ax.plot(curve["d"], curve["gold"], "s--", label="PPO vs ensemble-worst")
    ax.plot(rl_mean["d"], rl_mean["gold"], "s--", label=f"PPO vs {main}")
    ax.set(title="gold reward: single RM vs ensembles", xlabel="d = √KL",
           ylabel="gold gain over the initial policy")
    ax.legend(fontsize=7)
    paths.append(save(fig, run_.figure_path("ensembles")))

    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8), dpi=110)
    width, _ = config.main
    for ax, keys, xlabel in (
            (axes[0], [f"w{w}-n{config.size_sweep_count}" for w in config.rm_widths], "RM width"),
            (axes[1], [f"w{width}-n{n}" for n in config.pref_counts], "preferences")):
        xs = [int(k.split("-")[0 if "width" in xlabel else 1][1:]) for k in keys]
        ax.plot(xs, [bon_fits[k][0].alpha for k in keys], "o-", label="α (best-of-n)")
        ax.plot(xs, [bon_fits[k][0].beta for k in keys], "s-", label="β (best-of-n)")
        ax.set(xscale="log", xlabel=xlabel, title=f"Gao coefficients vs {xlabel}")
        ax.legend(fontsize=7)
    paths.append(save(fig, run_.figure_path("coefficients_vs_scale")))
    return paths


def section(config: OveroptConfig, metrics: dict[str, Any], figures: list[Path],
            bon_fits: dict[str, tuple[Fit, float]], main: str) -> Section:
    def fmt(v: Any) -> str:
        return f"{v:.3f}" if isinstance(v, float) else str(v)

    rows = [{"proxy": k, "params": f"{metrics['rm_params'].get(k, '')}",
             "α (BoN)": fmt(f.alpha), "β (BoN)": fmt(f.beta), "held-out R²": fmt(r2),
             "peak d": fmt(f.peak_d)} for k, (f, r2) in bon_fits.items()]
    text = f"""A tiny policy (width {config.policy_width}) is SFT'd on noisy demonstrations of the
assistant world, then optimised against proxy reward models fit to a biased simulated
labeler's comparisons. Gold reward is the world's closed-form objective, shown as the gain over
the initial policy against d = √KL. The main proxy is {main} (the smallest RM, on
{config.size_sweep_count} preferences).

Best-of-n: gold peaks at d = {fmt(metrics['gold_peak_d'])} with a gain of
{fmt(metrics['gold_peak_gain'])} and then falls by {fmt(metrics['gold_peak_drop'])} while the
proxy keeps rising ({metrics['proxy_rises_after_peak']}); Gao's form d(α − βd) fit on half the
pools predicts the other half with R² = {fmt(metrics['bon_fit_r2'])}. PPO ({config.rl_seeds} seeds):
d(α − β log d) fit on the larger half of the seeds predicts the rest with R² =
{fmt(metrics['rl_fit_r2'])}. Sycophancy under best-of-n goes from
{fmt(metrics['sycophancy_rate_initial'])} to {fmt(metrics['sycophancy_rate_max_kl'])} at the
highest pressure.

A worst-case ensemble of {config.ensemble_k} RMs (the main recipe with other seeds, each
standardised on the preference data) cuts the post-peak gold drop of a single RM (the mean over
its members, whose own drops are {', '.join(fmt(d) for d in metrics['single_rm_drops'])}) by
{fmt(metrics['ensemble_drop_reduction'])} (uncertainty-weighted:
{fmt(metrics['ensemble_drop_reduction_uncertainty'])}; plain mean:
{fmt(metrics['ensemble_drop_reduction_mean'])}); against the main proxy alone by
{fmt(metrics['ensemble_drop_reduction_vs_main'])}. DPO on the same labels, best β =
{metrics['dpo_beta']} (chosen by final gold), gains {fmt(metrics['dpo_gold_gain'])} gold at
KL {fmt(metrics['dpo_kl'])} nats."""
    return Section("Reward hacking, measured: overoptimization", paragraphs(text), rows,
                   figures)
