"""Reward-model overoptimization, measured against a known gold objective.

Gao, Schulman & Hilton (2022) in the assistant world: a tiny policy is SFT'd on
noisy demonstrations; a simulated labeler with biases (length, flattery, agreeing
with the user) compares pairs of its samples; proxy reward models of several sizes
are fit to 250–4000 of those comparisons; then the policy is optimised against a
proxy by best-of-n and by PPO, and DPO is trained on the same labels. Gold reward
(relative to the initial policy) is plotted against d = √KL and fit with Gao's
forms; hacking modes are tracked along the way; conservative ensembles (Coste et
al. 2023) are compared with a single reward model.
"""

from __future__ import annotations

import copy
import math
import random
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from alignlab.config import config_hash
from alignlab.models.hf import HFLM, sequence_logprobs
from alignlab.models.tiny import TinyConfig, tiny_lm
from alignlab.paths import artifact_dir
from alignlab.report import Run
from alignlab.studies import Study, StudyResult, finish_study
from alignlab.studies._overopt_report import MODES, average, plot_all, section
from alignlab.train.bon import bon_expectation, bon_kl
from alignlab.train.common import reference_logprobs, sample_ids, sequence_kl, texts
from alignlab.train.dpo import DPOConfig, train_dpo
from alignlab.train.fits import Fit, held_out_fit
from alignlab.train.ppo import PPOConfig, train_ppo
from alignlab.train.reward import (
    Ensemble,
    RewardConfig,
    RewardModel,
    tiny_reward_model,
    train_reward,
)
from alignlab.train.sft import SFTConfig, train_sft
from alignlab.worlds import assistant as world


@dataclass(frozen=True)
class OveroptConfig:
    policy_width: int = 32
    """Hidden width of the tiny Llama policy."""
    demos: int = 3000
    """Noisy demonstrations the initial policy is SFT'd on."""
    sft_epochs: int = 6
    """SFT passes over the demonstrations."""
    max_new_tokens: int = 12
    """Longest response."""
    labeler: world.LabelerConfig = field(default_factory=world.LabelerConfig)
    """The simulated labeler's biases and noise."""
    rm_widths: tuple[int, ...] = (16, 32, 64)
    """Hidden widths of the proxy reward models (the size sweep)."""
    pref_counts: tuple[int, ...] = (250, 1000, 4000)
    """Preference counts (the data sweep, at the smallest width)."""
    size_sweep_count: int = 1000
    """Preference count used for the size sweep."""
    rm_pair_passes: int = 16000
    """Pairs seen per RM in training (epochs = this / count, between 2 and 16)."""
    ensemble_k: int = 5
    """Members of the conservative ensemble: the main proxy's recipe with other seeds."""
    ensemble_lambda: float = 1.0
    """λ of the uncertainty-weighted score mean − λ·std."""
    bon_prompts: int = 64
    """Prompts per best-of-n pool."""
    bon_pool: int = 128
    """Samples per prompt in each pool (n runs over powers of 2 up to this)."""
    bon_seeds: int = 4
    """Independent pools; the first half fits Gao's form, the rest measures R²."""
    rl_seeds: int = 5
    """PPO runs against the main proxy; the larger half fits the RL form, the rest measures R²."""
    rl_steps: int = 40
    """PPO steps per run."""
    rl_eval_every: int = 4
    """Evaluate gold, proxy and KL every this many steps."""
    rl_eval_prompts: int = 512
    """Prompts per evaluation (one sample each)."""
    rl_ensemble: bool = True
    """Also run PPO against the worst-case ensemble."""
    ppo: PPOConfig = PPOConfig(lr=2e-4, batch_prompts=128, epochs=2, minibatch=64,
                               kl_coef=0.0, max_new_tokens=12)
    """PPO settings (steps come from rl_steps). A gentle learning rate over many prompts keeps
    the runs of different seeds on one gold-vs-KL path (at lr 2e-3 each seed jumped to its
    own collapse within a few steps)."""
    dpo_betas: tuple[float, ...] = (0.1, 0.5)
    """DPO β values tried on the main preference set."""
    dpo: DPOConfig = DPOConfig(lr=2e-3, epochs=4, batch_size=32, kl_rows=8)
    """DPO settings (β comes from dpo_betas)."""

    @property
    def main(self) -> tuple[int, int]:
        """(width, count) of the main proxy: the smallest RM, on the size sweep's count."""
        return min(self.rm_widths), self.size_sweep_count


BUDGETS = {
    "smoke": OveroptConfig(demos=200, sft_epochs=1, rm_widths=(4, 8, 16), pref_counts=(16, 32, 64),
                           size_sweep_count=32, rm_pair_passes=64, ensemble_k=2, bon_prompts=4,
                           bon_pool=8, bon_seeds=2, rl_seeds=2, rl_steps=2, rl_eval_every=1,
                           rl_eval_prompts=8, rl_ensemble=False, dpo_betas=(0.1,),
                           ppo=replace(OveroptConfig.ppo, batch_prompts=8, minibatch=8),
                           dpo=replace(OveroptConfig.dpo, epochs=1, batch_size=16, kl_rows=2)),
    "tour": OveroptConfig(ensemble_k=3, bon_prompts=32, rl_seeds=3, rl_steps=30,
                          rl_ensemble=False, dpo_betas=(0.1,)),
    "quick": OveroptConfig(),
    "full": OveroptConfig(rm_widths=(16, 24, 32, 64, 128), pref_counts=(250, 500, 1000, 2000, 4000),
                          bon_prompts=128, bon_pool=512, bon_seeds=6, rl_seeds=6, rl_steps=60,
                          rl_eval_prompts=512, dpo_betas=(0.05, 0.1, 0.3, 1.0)),
}


# ---- the initial policy and the labels ------------------------------------------------

def initial_policy(config: OveroptConfig, seed: int) -> HFLM:
    """The SFT'd tiny policy, cached by configuration."""
    tiny = TinyConfig(hidden_size=config.policy_width, layers=2, heads=2,
                      intermediate_size=2 * config.policy_width)
    lm = tiny_lm(world.VOCABULARY, tiny, seed=seed, name="assistant-policy")
    sft = SFTConfig(lr=1e-2, epochs=config.sft_epochs, batch_size=128, kl_rows=8, seed=seed)
    key = config_hash({"tiny": tiny, "sft": sft, "demos": config.demos, "seed": seed,
                       "world": world.WorldConfig(), "demo": world.DemoConfig(),
                       "vocabulary": world.VOCABULARY})
    path = artifact_dir("assistant-policy", key) / "policy.pt"
    if path.exists():
        lm.model.load_state_dict(torch.load(path, weights_only=True))
        return lm
    prompts = world.sample_prompts(config.demos, seed)
    rng = random.Random(seed)
    train_sft(lm, prompts, [world.demonstration(p, rng) for p in prompts], sft)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(lm.model.state_dict(), path)
    return lm


def with_eos(lm: HFLM, rows: list[list[int]]) -> list[list[int]]:
    eos = int(lm.tokenizer.eos_token_id)
    return [r if r and r[-1] == eos else [*r, eos] for r in rows]


@dataclass
class Pool:
    """Policy samples for some prompts: token rows (prompt + response) and their texts."""

    prompts: list[str]
    responses: list[str]
    completions: list[list[int]]
    rows: list[list[int]]


def sample_pool(lm: HFLM, prompts: list[str], per_prompt: int, max_new_tokens: int,
                seed: int) -> Pool:
    prompt_ids = lm.encode(prompts)
    expanded = [ids for ids in prompt_ids for _ in range(per_prompt)]
    completions = sample_ids(lm, expanded, max_new_tokens, 1.0,
                             torch.Generator().manual_seed(seed))
    rows = with_eos(lm, [p + c for p, c in zip(expanded, completions, strict=True)])
    return Pool([p for p in prompts for _ in range(per_prompt)], texts(lm, completions),
                completions, rows)


@dataclass
class Preferences:
    prompts: list[str]
    chosen: list[str]
    rejected: list[str]
    chosen_rows: list[list[int]]
    rejected_rows: list[list[int]]


def preferences(lm: HFLM, count: int, labeler: world.LabelerConfig, max_new_tokens: int,
                seed: int) -> Preferences:
    """Pairs of policy samples labelled by the simulated labeler (smaller sets are prefixes)."""
    pool = sample_pool(lm, world.sample_prompts(count, seed + 1000), 2, max_new_tokens, seed)
    a, b = pool.responses[0::2], pool.responses[1::2]
    first = world.label_pairs(pool.prompts[0::2], a, b, labeler, seed)
    pick = [(2 * i, 2 * i + 1) if f else (2 * i + 1, 2 * i) for i, f in enumerate(first)]
    return Preferences(pool.prompts[0::2], [pool.responses[w] for w, _ in pick],
                       [pool.responses[l_] for _, l_ in pick], [pool.rows[w] for w, _ in pick],
                       [pool.rows[l_] for _, l_ in pick])


def fit_rm(lm: HFLM, prefs: Preferences, width: int, count: int, passes: int, seed: int,
           ) -> RewardModel:
    """A proxy RM on the first `count` pairs; fewer pairs get more epochs (same step count)."""
    rm = tiny_reward_model(lm.tokenizer, width, seed=seed)
    epochs = min(16, max(2, math.ceil(passes / count)))
    train_reward(rm, prefs.chosen_rows[:count], prefs.rejected_rows[:count],
                 RewardConfig(epochs=epochs, batch_size=128, seed=seed), show=False)
    return rm


# ---- measurements -----------------------------------------------------------------------

def statistics(prompts: list[str], responses: list[str]) -> torch.Tensor:
    """(B, 1 + len(MODES)) per-sample gold and hacking-mode indicators."""
    tasks = [world.parse_prompt(p) for p in prompts]
    replies = [world.parse_response(r) for r in responses]
    rows = []
    for t, r in zip(tasks, replies, strict=True):
        rows.append([world.gold_of(t, r), r.words, float(r.flattery > 0),
                     float(world.agrees(t, r)) if t.belief is not None else float("nan"),
                     float(r.complied) if t.harmful else float("nan")])
    return torch.tensor(rows, dtype=torch.float64)


def nan_mean(x: torch.Tensor) -> torch.Tensor:
    """Column means ignoring NaN (rates defined only on some prompt kinds)."""
    ok = ~torch.isnan(x)
    return torch.where(ok, x, 0).sum(0) / ok.sum(0).clamp(min=1)


def bon_curves(scores: torch.Tensor, stats: torch.Tensor, prompts: int, pool: int,
               ) -> dict[str, list[float]]:
    """Best-of-n curve of one scorer on one pool: d, gold gain, proxy gain, modes per n."""
    s = scores.view(prompts, pool).double()
    st = stats.view(prompts, pool, -1)
    ns = [2 ** i for i in range(int(math.log2(pool)) + 1)]
    base_gold, base_proxy = float(st[..., 0].mean()), float(s.mean())
    out: dict[str, list[float]] = {"n": ns, "d": [], "gold": [], "proxy": []}
    for n in ns:
        out["d"].append(math.sqrt(bon_kl(n)))
        out["gold"].append(float(bon_expectation(s, st[..., 0], n).mean()) - base_gold)
        out["proxy"].append(float(bon_expectation(s, s, n).mean()) - base_proxy)
        # Modes: NaN marks prompts where a rate is undefined; average over the others.
        modes = bon_expectation(s, torch.nan_to_num(st[..., 1:], nan=0.0), n)
        defined = (~torch.isnan(st[:, 0, 1:])).double()
        rates = (modes * defined).sum(0) / defined.sum(0).clamp(min=1)
        for name, v in zip(MODES, rates.tolist(), strict=True):
            out.setdefault(name, []).append(v)
    return out


@torch.no_grad()
def evaluate(lm: HFLM, ref: Any, prompts: list[str], proxy: Any, max_new_tokens: int,
             seed: int) -> dict[str, float]:
    """Gold, proxy, KL(π‖π₀) and hacking modes of one sample per prompt."""
    prompt_ids = lm.encode(prompts)
    completions = sample_ids(lm, prompt_ids, max_new_tokens, 1.0,
                             torch.Generator().manual_seed(seed))
    policy = sequence_logprobs(lm.model, prompt_ids, completions, lm.pad_id)
    reference = reference_logprobs(lm, ref, prompt_ids, completions)
    responses = texts(lm, completions)
    stats = nan_mean(statistics(prompts, responses))
    rows = with_eos(lm, [p + c for p, c in zip(prompt_ids, completions, strict=True)])
    return {"kl": float(sequence_kl(policy, reference).mean()), "gold": float(stats[0]),
            "proxy": float(proxy.score_ids(rows).mean()),
            **{m: float(v) for m, v in zip(MODES, stats[1:].tolist(), strict=True)}}


def as_curve(evals: list[dict[str, float]]) -> dict[str, list[float]]:
    """Evaluations -> a curve with d = √KL and gold/proxy gains over the first evaluation."""
    first = evals[0]
    curve = {"d": [math.sqrt(max(e["kl"], 0.0)) for e in evals],
             "gold": [e["gold"] - first["gold"] for e in evals],
             "proxy": [e["proxy"] - first["proxy"] for e in evals]}
    curve.update({m: [e[m] for e in evals] for m in MODES})
    return curve


def rl_run(lm0: HFLM, proxy: Any, config: OveroptConfig, seed: int) -> dict[str, list[float]]:
    """PPO from the initial policy against `proxy`, evaluated along the way."""
    lm = copy.deepcopy(lm0)
    eval_prompts = world.sample_prompts(config.rl_eval_prompts, 5000 + seed)
    train_prompts = world.sample_prompts(2000, 6000 + seed)
    evaluation = {"n": 0}

    def measure(step: int) -> dict[str, float]:
        evaluation["n"] += 1
        return evaluate(lm, lm0.model, eval_prompts, proxy, config.max_new_tokens,
                        seed * 1000 + evaluation["n"])

    evals = [measure(0)]

    def on_step(step: int) -> dict[str, float]:
        if step % config.rl_eval_every:
            return {}
        evals.append(measure(step))
        return {f"eval_{k}": v for k, v in evals[-1].items()}

    ppo = replace(config.ppo, steps=config.rl_steps, seed=seed,
                  max_new_tokens=config.max_new_tokens)
    train_ppo(lm, train_prompts, lambda p, r: proxy.score(p, r), ppo, on_step=on_step,
              show=False)
    return as_curve(evals)


def dpo_run(lm0: HFLM, prefs: Preferences, count: int, beta: float, config: OveroptConfig,
            seed: int) -> dict[str, list[float]]:
    """DPO from the initial policy on the main preference set, evaluated along the way."""
    lm = copy.deepcopy(lm0)
    eval_prompts = world.sample_prompts(config.rl_eval_prompts, 7000 + seed)
    gold_only = _GoldProxy()
    evals = [evaluate(lm, lm0.model, eval_prompts, gold_only, config.max_new_tokens, seed)]
    every = max(1, config.dpo.epochs * -(-count // config.dpo.batch_size) // 6)

    def on_step(step: int) -> dict[str, float]:
        if step % every:
            return {}
        evals.append(evaluate(lm, lm0.model, eval_prompts, gold_only, config.max_new_tokens,
                              seed + step))
        return {}

    train_dpo(lm, prefs.prompts[:count], prefs.chosen[:count], prefs.rejected[:count],
              replace(config.dpo, beta=beta, seed=seed), on_step=on_step, show=False)
    return as_curve(evals)


class _GoldProxy:
    """DPO has no reward model: its 'proxy' column is left at zero."""

    def score_ids(self, rows: list[list[int]]) -> torch.Tensor:
        return torch.zeros(len(rows))


# ---- the study --------------------------------------------------------------------------

def drop_after_peak(curve: dict[str, list[float]]) -> float:
    """Gold lost between its peak and the highest optimisation pressure (gold units)."""
    return max(curve["gold"]) - curve["gold"][-1]


def train_proxies(lm: HFLM, prefs: Preferences, config: OveroptConfig, seed: int,
                  ) -> dict[str, Any]:
    """Size sweep, count sweep and the ensemble members; keys like 'w16-n250', the main
    proxy's other seeds as 'w16-n1000-s1'."""
    width, count = config.main
    specs = {(w, config.size_sweep_count) for w in config.rm_widths}
    specs |= {(width, n) for n in config.pref_counts}
    passes = config.rm_pair_passes
    proxies: dict[str, Any] = {f"w{w}-n{n}": fit_rm(lm, prefs, w, n, passes, seed)
                               for w, n in sorted(specs)}
    # Members differ only in their initialisation and data order, as in Coste et al.
    members = [proxies[f"w{width}-n{count}"]]
    for k in range(1, config.ensemble_k):
        members.append(fit_rm(lm, prefs, width, count, passes, seed + k))
        proxies[f"w{width}-n{count}-s{k}"] = members[-1]
    reference = prefs.chosen_rows[:count] + prefs.rejected_rows[:count]
    for mode in ("mean", "worst", "uncertainty"):
        proxies[f"ensemble-{mode}"] = Ensemble(members, mode, config.ensemble_lambda, reference)
    return proxies


def best_of_n(lm: HFLM, proxies: dict[str, Any], config: OveroptConfig, seed: int,
              ) -> dict[str, list[dict[str, list[float]]]]:
    """Best-of-n curves of every proxy on `bon_seeds` independent pools."""
    curves: dict[str, list[dict[str, list[float]]]] = {name: [] for name in proxies}
    for s in range(config.bon_seeds):
        prompts = world.sample_prompts(config.bon_prompts, 9000 + 31 * s + seed)
        pool = sample_pool(lm, prompts, config.bon_pool, config.max_new_tokens, seed + s)
        stats = statistics(pool.prompts, pool.responses)
        for name, scores in pool_scores(proxies, pool.rows).items():
            curves[name].append(bon_curves(scores, stats, config.bon_prompts, config.bon_pool))
    return curves


def pool_scores(proxies: dict[str, Any], rows: list[list[int]]) -> dict[str, torch.Tensor]:
    """Every proxy's scores of `rows`. Each RM scores them once, however many ensembles
    share it (the main proxy and its seeds sit in three ensembles besides their own curves)."""
    raw: dict[int, torch.Tensor] = {}

    def scores_of(rm: RewardModel) -> torch.Tensor:
        if id(rm) not in raw:
            raw[id(rm)] = rm.score_ids(rows)
        return raw[id(rm)]

    return {name: proxy.combine(proxy.standardise(torch.stack([scores_of(m)
                                                               for m in proxy.members])))
            if isinstance(proxy, Ensemble) else scores_of(proxy)
            for name, proxy in proxies.items()}


def run(budget: str, out: Path, seed: int = 0, config: OveroptConfig | None = None,
        ) -> StudyResult:
    config = config or BUDGETS[budget]
    run_ = Run(out, "overoptimization", config, budget, seed)
    torch.set_num_threads(min(2, torch.get_num_threads()))
    lm = initial_policy(config, seed)
    width, count = config.main
    main = f"w{width}-n{count}"
    prefs = preferences(lm, max(config.pref_counts + (config.size_sweep_count,)),
                        config.labeler, config.max_new_tokens, seed)
    proxies = train_proxies(lm, prefs, config, seed)
    run_.log(stage="reward models", proxies=list(proxies))
    bon = best_of_n(lm, proxies, config, seed)
    n_fit = max(1, config.bon_seeds // 2)
    bon_fits = {name: held_out_fit("bon", [(c["d"], c["gold"]) for c in cs], n_fit)
                for name, cs in bon.items()}
    bon_mean = {name: average(cs) for name, cs in bon.items()}
    run_.log(None, stage="best-of-n", held_out_r2={k: v[1] for k, v in bon_fits.items()})
    rl = [rl_run(lm, proxies[main], config, seed + s) for s in range(config.rl_seeds)]
    rl_fit, rl_r2 = held_out_fit("rl", [(c["d"], c["gold"]) for c in rl],
                                 config.rl_seeds - config.rl_seeds // 2)
    rl_ens = ([rl_run(lm, proxies["ensemble-worst"], config, seed)] if config.rl_ensemble
              else [])
    run_.log(stage="rl", rl_fit_r2=rl_r2)
    dpo = {beta: dpo_run(lm, prefs, count, beta, config, seed) for beta in config.dpo_betas}
    metrics = summarize(config, main, bon_mean, bon_fits, rl, rl_fit, rl_r2, rl_ens, dpo)
    metrics["rm_params"] = {name: sum(p.numel() for p in proxy.parameters())
                            for name, proxy in proxies.items() if isinstance(proxy, RewardModel)}
    run_.log(stage="done", **{k: v for k, v in metrics.items() if not isinstance(v, dict)})
    figures = plot_all(run_, config, main, bon_mean, bon_fits, rl, rl_fit, rl_ens, dpo)
    return finish_study(run_, metrics, [section(config, metrics, figures, bon_fits, main)])


def summarize(config: OveroptConfig, main: str, bon_mean: dict[str, Any],
              bon_fits: dict[str, tuple[Fit, float]], rl: list[dict[str, list[float]]],
              rl_fit: Fit, rl_r2: float, rl_ens: list[dict[str, list[float]]],
              dpo: dict[float, dict[str, list[float]]]) -> dict[str, Any]:
    curve = bon_mean[main]
    peak = int(np.argmax(curve["gold"]))
    drop = drop_after_peak(curve)
    rl_mean = average(rl)
    best_beta = max(dpo, key=lambda b: dpo[b]["gold"][-1])
    metrics: dict[str, Any] = {
        "bon_fit_r2": bon_fits[main][1], "bon_alpha": bon_fits[main][0].alpha,
        "bon_beta": bon_fits[main][0].beta,
        "rl_fit_r2": rl_r2, "rl_alpha": rl_fit.alpha, "rl_beta": rl_fit.beta,
        "gold_peak_gain": curve["gold"][peak], "gold_peak_d": curve["d"][peak],
        "gold_peak_drop": drop,
        "gold_peak_drop_relative": drop / curve["gold"][peak] if curve["gold"][peak] > 0 else None,
        "proxy_rises_after_peak": curve["proxy"][-1] > curve["proxy"][peak],
        "sycophancy_rate_initial": curve["sycophancy_rate"][0],
        "sycophancy_rate_max_kl": curve["sycophancy_rate"][-1],
        "rl_sycophancy_rate_max_kl": rl_mean["sycophancy_rate"][-1],
        "rl_gold_peak_drop": drop_after_peak(rl_mean), "rl_max_d": rl_mean["d"][-1],
        "dpo_beta": best_beta, "dpo_gold_gain": dpo[best_beta]["gold"][-1],
        "dpo_kl": dpo[best_beta]["d"][-1] ** 2,
    }
    # A single RM's drop varies with its seed as much as with anything else, so the
    # ensemble is compared with the mean drop of its members, each a single RM of the main
    # recipe (and, for reference, with the main proxy alone).
    singles = [drop_after_peak(bon_mean[k]) for k in bon_mean if k == main
               or k.startswith(f"{main}-s")]
    single = float(np.mean(singles))
    metrics["single_rm_drops"] = singles
    for mode in ("worst", "uncertainty", "mean"):
        ens_drop = drop_after_peak(bon_mean[f"ensemble-{mode}"])
        suffix = "" if mode == "worst" else f"_{mode}"
        metrics[f"ensemble_drop_reduction{suffix}"] = 1 - ens_drop / single if single > 0 else None
        metrics[f"ensemble_drop_reduction{suffix}_vs_main"] = (1 - ens_drop / drop if drop > 0
                                                               else None)
    if rl_ens:
        rl_drop = drop_after_peak(rl_mean)
        metrics["rl_ensemble_drop_reduction"] = (1 - drop_after_peak(rl_ens[0]) / rl_drop
                                                 if rl_drop > 0 else None)
        metrics["rl_ensemble_gold_final"] = rl_ens[0]["gold"][-1]
    metrics["bon_fits"] = {k: {"alpha": f.alpha, "beta": f.beta, "r2": r2}
                           for k, (f, r2) in bon_fits.items()}
    return metrics


STUDY = Study("overoptimization", "Reward-model overoptimization", run, order=30,
              summary_keys=("bon_fit_r2", "rl_fit_r2", "gold_peak_drop",
                            "ensemble_drop_reduction", "dpo_gold_gain"))
