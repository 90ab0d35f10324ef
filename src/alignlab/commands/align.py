"""`alignlab align sft|dpo` (LoRA, adapters as safetensors) and `alignlab cai revise|label`.

    alignlab align dpo --model embedded --data pairs.jsonl --out runs/dpo --lora-r 16
    alignlab align dpo ... --out runs/dpo --resume          # continue an interrupted run
    alignlab cai revise --model embedded --prompts prompts.jsonl --out runs/sl
    alignlab cai label --model embedded --feedback hf:PATH --prompts prompts.jsonl --out runs/rl

`cai revise` writes SL-CAI demonstrations (`revisions.jsonl`, samples for
`align sft`); `cai label` writes RL-CAI preference pairs (`labels.jsonl`, for
`align dpo`). The same training runs multi-process with
`torchrun --nproc-per-node N -m alignlab.train.distributed ...`.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from alignlab.commands import add_command
from alignlab.config import add_config_args, config_from_args


def register(sub: argparse._SubParsersAction) -> None:
    from alignlab.train.cai import CAIConfig
    from alignlab.train.lora import AlignConfig

    align = add_command(sub, "align")
    methods = align.add_subparsers(dest="method", required=True)
    for method in ("sft", "dpo"):
        p = methods.add_parser(method, help=f"{method} with a LoRA adapter (--lora-r 0: full)")
        p.add_argument("--model", required=True, help="target spec (embedded, hf:PATH, tiny:W)")
        p.add_argument("--data", required=True, type=Path,
                       help="JSONL: samples with a target (sft) or preference pairs (dpo)")
        p.add_argument("--out", required=True, type=Path, help="run directory")
        p.add_argument("--resume", action="store_true",
                       help="continue from the run directory's latest checkpoint")
        p.add_argument("--merge", action="store_true",
                       help="also save the merged model under OUT/model")
        add_config_args(p, AlignConfig)
        p.set_defaults(func=cmd_align)

    cai = add_command(sub, "cai")
    steps = cai.add_subparsers(dest="step", required=True)
    for step, role in (("revise", "critic"), ("label", "feedback")):
        p = steps.add_parser(step, help="critique and revise answers" if step == "revise"
                             else "label pairs of sampled answers with a feedback model")
        p.add_argument("--model", required=True, help="target spec of the policy")
        p.add_argument(f"--{role}", default=None,
                       help=f"target spec of the {role} model (default: the policy itself)")
        p.add_argument("--prompts", required=True, type=Path, help="JSONL of samples (prompt)")
        p.add_argument("--out", required=True, type=Path, help="run directory")
        add_config_args(p, CAIConfig)
        p.set_defaults(func=cmd_cai, role=role)


def _policy(spec: str) -> Any:
    from alignlab.models import load_target
    from alignlab.models.hf import HFLM

    lm = load_target(spec)
    if not isinstance(lm, HFLM):
        raise ValueError(f"--model {spec!r}: training needs a local model (embedded, hf:, tiny:)")
    return lm


def cmd_align(args: argparse.Namespace) -> int:
    from alignlab.data import PreferencePair, Sample, read_jsonl
    from alignlab.report import Run
    from alignlab.train.lora import AlignConfig, merge_adapter, save_adapter, train_dpo, train_sft

    loss = "dpo" if args.method == "dpo" else "sft"
    config = config_from_args(AlignConfig, args, loss=loss if args.method == "sft" else None)
    if (args.out / "checkpoints" / "latest.pt").exists() and not args.resume:
        raise ValueError(f"{args.out} already has a checkpoint: pass --resume to continue it, "
                         "or choose another --out")
    lm = _policy(args.model)
    run = Run(args.out, f"align-{args.method}", config, budget="custom", seed=config.seed)
    if args.method == "dpo":
        pairs = read_jsonl(args.data, PreferencePair)
        history = train_dpo(lm, [p.prompt for p in pairs], [p.chosen for p in pairs],
                            [p.rejected for p in pairs], config, run)
    else:
        samples = read_jsonl(args.data, Sample)
        missing = [i + 1 for i, s in enumerate(samples) if s.target is None]
        if missing:
            raise ValueError(f"{args.data}:{missing[0]}: sft needs a 'target' on every line")
        history = train_sft(lm, [s.prompt for s in samples], [s.target or "" for s in samples],
                            config, run)
    metrics: dict[str, Any] = {**(history[-1] if history else {}), "steps_run": len(history)}
    if config.lora_r > 0:
        metrics["adapter"] = str(save_adapter(lm, args.out / "adapter"))
    if args.merge or config.lora_r == 0:
        merge_adapter(lm).model.save_pretrained(args.out / "model")
        lm.tokenizer.save_pretrained(args.out / "model")
        metrics["model"] = str(args.out / "model")
    run.finish(metrics)
    print(f"wrote {args.out}/result.json")
    return 0


def cmd_cai(args: argparse.Namespace) -> int:
    from alignlab.data import PreferencePair, Sample, read_jsonl, write_jsonl
    from alignlab.models import load_target
    from alignlab.report import Run
    from alignlab.train.cai import CAIConfig, load_constitution, rl_cai, sl_cai

    config = config_from_args(CAIConfig, args)
    principles = load_constitution(config.constitution)
    prompts = [s.prompt for s in read_jsonl(args.prompts, Sample)]
    policy = load_target(args.model)
    helper_spec = getattr(args, args.role)
    helper = load_target(helper_spec) if helper_spec else policy
    run = Run(args.out, f"cai-{args.step}", config, budget="custom", seed=config.seed)
    if args.step == "revise":
        records = sl_cai(policy, helper, prompts, principles, config)
        path = write_jsonl(args.out / "revisions.jsonl", [
            Sample(r["prompt"], r["revision"], {k: r[k] for k in ("answer", "principle",
                                                                  "critique")})
            for r in records])
        metrics: dict[str, Any] = {"revisions": len(records)}
    else:
        records = rl_cai(policy, helper, prompts, principles, config)
        path = write_jsonl(args.out / "labels.jsonl", [
            PreferencePair(r["prompt"], r["chosen"], r["rejected"],
                           {"principle": r["principle"], "p_chosen": r["p_chosen"]})
            for r in records])
        metrics = {"ai_labels": len(records)}
    run.finish({**metrics, "records": str(path)})
    print(f"wrote {path} ({len(records)} records)")
    return 0
