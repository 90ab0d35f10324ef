"""`alignlab probe`, `alignlab steer`, `alignlab sae train`: the interp toolkit on any HF target.

Inputs are JSONL records (`Sample` for prompts and texts, `PreferencePair` for
steering pairs) or plain text files with one item per line.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from alignlab.commands import add_command
from alignlab.config import add_config_args, config_from_args
from alignlab.data import DataError, PreferencePair, Sample, read_jsonl
from alignlab.interp.capture import load_shards, prompt_activations, resid_name, stream_to_disk
from alignlab.interp.probes import PROBES, layer_sweep, plot_sweep
from alignlab.interp.sae import SAEConfig, ce_loss_recovered, sae_stats, train_sae
from alignlab.interp.steering import ContrastPair, caa_vectors, steering
from alignlab.models import SamplingParams, TargetError, load_target
from alignlab.report import Run


def _add_target(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--target", default="embedded",
                        help="an HF target: embedded or hf:PATH (default: embedded)")


def register(sub: argparse._SubParsersAction) -> None:
    probe = add_command(sub, "probe")
    _add_target(probe)
    probe.add_argument("--positive", type=Path, required=True, help="prompts of class 1")
    probe.add_argument("--negative", type=Path, required=True, help="prompts of class 0")
    probe.add_argument("--layers", type=int, nargs="+", default=None,
                       help="layers to sweep (default: every layer)")
    probe.add_argument("--probe", choices=sorted(PROBES), default="mean_diff")
    probe.add_argument("--folds", type=int, default=5)
    probe.add_argument("--out", type=Path, default=Path("runs/probe"))
    probe.set_defaults(func=cmd_probe)

    steer = add_command(sub, "steer")
    _add_target(steer)
    steer.add_argument("--pairs", type=Path, required=True,
                       help="JSONL PreferencePair: chosen = the behaviour to steer toward")
    steer.add_argument("--layer", type=int, nargs="+", required=True)
    steer.add_argument("--strength", type=float, default=4.0,
                       help="multiplier of the vector (negative steers away)")
    steer.add_argument("--prompt", action="append", required=True, help="prompt(s) to answer")
    steer.add_argument("--max-new-tokens", type=int, default=64)
    steer.add_argument("--out", type=Path, default=None, help="write result.json here")
    steer.set_defaults(func=cmd_steer)

    sae = add_command(sub, "sae")
    ssub = sae.add_subparsers(dest="action", required=True)
    train = ssub.add_parser("train", help="capture activations to disk, train an SAE, score it")
    _add_target(train)
    train.add_argument("--texts", type=Path, required=True, help="texts (Sample JSONL or lines)")
    train.add_argument("--layer", type=int, required=True, help="residual stream after block")
    train.add_argument("--out", type=Path, default=Path("runs/sae"))
    add_config_args(train, SAEConfig)
    train.set_defaults(func=cmd_sae_train)


def read_prompts(path: Path) -> list[str]:
    """Prompts from a `Sample` JSONL file or a text file with one prompt per line."""
    if path.suffix == ".jsonl":
        prompts = [s.prompt for s in read_jsonl(path, Sample)]
    elif path.exists():
        prompts = [line.strip() for line in path.read_text().splitlines() if line.strip()]
    else:
        raise DataError(f"{path}: no such file")
    if not prompts:
        raise DataError(f"{path}: no prompts in the file")
    return prompts


def _hf_target(spec: str) -> Any:
    lm = load_target(spec)
    if not hasattr(lm, "model"):
        raise TargetError(f"target {spec!r} exposes no activations; use embedded or hf:PATH")
    return lm


def cmd_probe(args: argparse.Namespace) -> int:
    pos, neg = read_prompts(args.positive), read_prompts(args.negative)
    lm = _hf_target(args.target)
    n_layers = lm.model.config.num_hidden_layers
    layers = args.layers or list(range(n_layers))
    if bad := [k for k in layers if not 0 <= k < n_layers]:
        raise ValueError(f"--layers {bad}: the model has layers 0..{n_layers - 1}")
    run = Run(args.out, "probe", vars(args) | {"func": None}, "quick")
    names = [resid_name(k) for k in layers]
    acts = prompt_activations(lm, pos + neg, names)
    labels = [1] * len(pos) + [0] * len(neg)
    curve = layer_sweep({k: acts[n] for k, n in zip(layers, names, strict=True)}, labels,
                        args.probe, args.folds)
    plot_sweep(run.figure_path("auroc_by_layer"), {args.probe: curve},
               f"{args.probe} probe, {len(pos)} vs {len(neg)} prompts")
    best = max(curve, key=lambda k: curve[k])
    run.finish({"auroc_by_layer": curve, "best_layer": best, "best_auroc": curve[best]})
    table = Table("layer", "cv AUROC", title=f"{args.probe} probe ({args.folds}-fold)")
    for k, v in curve.items():
        table.add_row(str(k), f"{v:.3f}")
    Console().print(table)
    print(f"best layer {best}: AUROC {curve[best]:.3f}; wrote {args.out}/result.json")
    return 0


def cmd_steer(args: argparse.Namespace) -> int:
    pairs = [ContrastPair(p.prompt, p.chosen, p.rejected) for p in read_jsonl(args.pairs,
                                                                               PreferencePair)]
    lm = _hf_target(args.target)
    vectors = caa_vectors(lm, pairs, args.layer)
    params = SamplingParams(max_new_tokens=args.max_new_tokens)
    plain = lm.generate(args.prompt, params)
    with steering(lm.model, vectors, args.strength):
        steered = lm.generate(args.prompt, params)
    rows = [{"prompt": p, "plain": a.text, "steered": b.text}
            for p, a, b in zip(args.prompt, plain, steered, strict=True)]
    for row in rows:
        print(json.dumps(row, ensure_ascii=False))
    if args.out:
        run = Run(args.out, "steer", vars(args) | {"func": None}, "quick")
        run.finish({"examples": rows, "vector_norms": {k: float(v.norm())
                                                       for k, v in vectors.items()}})
    return 0


def cmd_sae_train(args: argparse.Namespace) -> int:
    import torch

    cfg = config_from_args(SAEConfig, args)
    texts = read_prompts(args.texts)
    if len(texts) < 2:
        raise DataError(f"{args.texts}: need at least 2 texts (train and test)")
    lm = _hf_target(args.target)
    name = resid_name(args.layer)
    run = Run(args.out, "sae-train", {"sae": cfg, "layer": args.layer, "target": args.target},
              "quick", cfg.seed)
    cut = max(1, int(0.9 * len(texts)))
    # Activations stream to disk batch by batch, so the corpus can exceed memory at capture.
    stream_to_disk(lm, texts[:cut], [name], args.out / "activations" / "train")
    stream_to_disk(lm, texts[cut:], [name], args.out / "activations" / "test")
    train_acts = load_shards(args.out / "activations" / "train", name)
    test_acts = load_shards(args.out / "activations" / "test", name)
    sae, losses = train_sae(train_acts, cfg)
    for step in range(0, len(losses), max(1, len(losses) // 50)):
        run.log(step, loss=losses[step])
    torch.save(sae.state_dict(), args.out / "sae.pt")
    metrics = {**sae_stats(sae, test_acts), **ce_loss_recovered(lm, sae, name, texts[cut:][:32]),
               "train_tokens": len(train_acts), "test_tokens": len(test_acts)}
    run.finish(metrics)
    print(json.dumps(metrics, indent=2))
    return 0
