"""`alignlab train sft|reward|dpo|ppo|grpo --model SPEC --data FILE --out DIR [flags]`.

Every method's flags come from its config dataclass. Data files are JSONL:
samples with a `target` for sft, preference pairs for reward and dpo, samples
(prompts only) for ppo and grpo. The trained model is saved under DIR/model (a
Hugging Face directory, loadable as ``hf:DIR/model``) or DIR/reward_model.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path
from typing import Any

from alignlab.commands import add_command
from alignlab.config import add_config_args, config_from_args

METHODS = ("sft", "reward", "dpo", "ppo", "grpo")


def _configs() -> dict[str, type]:
    from alignlab.train.dpo import DPOConfig
    from alignlab.train.grpo import GRPOConfig
    from alignlab.train.ppo import PPOConfig
    from alignlab.train.reward import RewardConfig
    from alignlab.train.sft import SFTConfig

    return {"sft": SFTConfig, "reward": RewardConfig, "dpo": DPOConfig, "ppo": PPOConfig,
            "grpo": GRPOConfig}


def register(sub: argparse._SubParsersAction) -> None:
    train = add_command(sub, "train")
    methods = train.add_subparsers(dest="method", required=True)
    for method, cls in _configs().items():
        p = methods.add_parser(method, help=f"{method} training")
        p.add_argument("--model", required=True, help="target spec of the model to train "
                       "(embedded, hf:PATH, tiny:WORLD)")
        p.add_argument("--data", required=True, type=Path, help="JSONL training data")
        p.add_argument("--out", required=True, type=Path, help="run directory")
        if method in ("ppo", "grpo"):
            p.add_argument("--reward", required=True,
                           help="a reward model directory (from `alignlab train reward`) or "
                                "world:NAME for a world's gold objective")
        add_config_args(p, cls)
        p.set_defaults(func=cmd_train, config_cls=cls)


def _load_policy(spec: str) -> Any:
    from alignlab.models import load_target
    from alignlab.models.hf import HFLM

    lm = load_target(spec)
    if not isinstance(lm, HFLM):
        raise ValueError(f"--model {spec!r}: training needs a local model (embedded, hf:, tiny:)")
    return lm


def _reward_fn(spec: str) -> Callable[[list[str], list[str]], Any]:
    if spec.startswith("world:"):
        import importlib

        name = spec.removeprefix("world:")
        try:
            world = importlib.import_module(f"alignlab.worlds.{name}")
        except ModuleNotFoundError as err:
            raise ValueError(f"--reward {spec!r}: no world named {name!r}") from err
        if not hasattr(world, "gold_score"):
            raise ValueError(f"--reward {spec!r}: world {name!r} has no gold objective")
        return world.gold_score  # type: ignore[no-any-return]
    from alignlab.train.reward import load_reward_model

    return load_reward_model(spec).score


def _save_policy(lm: Any, out: Path) -> Path:
    path = out / "model"
    model = lm.model.merge_and_unload() if hasattr(lm.model, "merge_and_unload") else lm.model
    model.save_pretrained(path)
    lm.tokenizer.save_pretrained(path)
    return path


def cmd_train(args: argparse.Namespace) -> int:
    from alignlab.data import PreferencePair, Sample, read_jsonl
    from alignlab.report import Run

    config = config_from_args(args.config_cls, args)
    run = Run(args.out, f"train-{args.method}", config, budget="custom",
              seed=getattr(config, "seed", 0))
    lm = _load_policy(args.model)
    metrics: dict[str, Any]
    if args.method in ("reward", "dpo"):
        pairs = read_jsonl(args.data, PreferencePair)
        metrics = _train_on_pairs(args.method, lm, pairs, config, run)
    else:
        samples = read_jsonl(args.data, Sample)
        prompts = [s.prompt for s in samples]
        if args.method == "sft":
            missing = [i + 1 for i, s in enumerate(samples) if s.target is None]
            if missing:
                raise ValueError(f"{args.data}:{missing[0]}: sft needs a 'target' on every line")
            from alignlab.train.sft import train_sft

            history = train_sft(lm, prompts, [s.target or "" for s in samples], config, run)
        else:
            from alignlab.train.grpo import train_grpo
            from alignlab.train.ppo import train_ppo

            trainer = train_ppo if args.method == "ppo" else train_grpo
            history = trainer(lm, prompts, _reward_fn(args.reward), config, run)
        metrics = {**history[-1], "steps": len(history), "model": str(_save_policy(lm, args.out))}
    run.finish(metrics)
    print(f"wrote {args.out}/result.json")
    return 0


def _train_on_pairs(method: str, lm: Any, pairs: list[Any], config: Any, run: Any,
                    ) -> dict[str, Any]:
    prompts = [p.prompt for p in pairs]
    chosen, rejected = [p.chosen for p in pairs], [p.rejected for p in pairs]
    if method == "dpo":
        from alignlab.train.dpo import train_dpo

        history = train_dpo(lm, prompts, chosen, rejected, config, run)
        return {**history[-1], "steps": len(history), "model": str(_save_policy(lm, run.out))}
    from alignlab.train.reward import (
        pair_accuracy,
        reward_model_from_lm,
        save_reward_model,
        train_reward,
    )

    rm = reward_model_from_lm(lm)
    win, lose = rm.encode(prompts, chosen), rm.encode(prompts, rejected)
    history = train_reward(rm, win, lose, config, run)
    save_reward_model(rm, run.out / "reward_model")
    return {**history[-1], "train_accuracy": pair_accuracy(rm, win, lose),
            "steps": len(history), "reward_model": str(run.out / "reward_model")}
