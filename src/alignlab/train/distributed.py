"""Multi-process training on CPU or GPU: the same step under torchrun or accelerate launch.

Both launchers start one process per worker with RANK, WORLD_SIZE, MASTER_ADDR and
MASTER_PORT in the environment. `init_from_env` joins the process group (gloo on
CPU, nccl on GPU); the training loop then wraps its model in
DistributedDataParallel, gives each rank a slice of every global batch and lets
DDP average the gradients, so all ranks hold identical weights after each step.
A single process needs none of this: every helper here is a no-op there.

    torchrun --nproc-per-node 2 -m alignlab.train.distributed --model tiny:toy \\
        --data pairs.jsonl --out runs/ddp
    accelerate launch --num_processes 2 -m alignlab.train.distributed ...
"""

from __future__ import annotations

import argparse
import hashlib
import os
from collections.abc import Mapping
from typing import Any

import torch
import torch.distributed as dist


def active() -> bool:
    return dist.is_available() and dist.is_initialized()


def init_from_env() -> tuple[int, int]:
    """Join the process group the launcher described; return (rank, world size)."""
    if "WORLD_SIZE" in os.environ and int(os.environ["WORLD_SIZE"]) > 1 and not active():
        backend = "nccl" if torch.cuda.is_available() else "gloo"
        dist.init_process_group(backend)
    return rank_and_world()


def rank_and_world() -> tuple[int, int]:
    return (dist.get_rank(), dist.get_world_size()) if active() else (0, 1)


def wrap(model: Any) -> Any:
    """DistributedDataParallel around `model` when several processes train, else `model`."""
    if not active() or dist.get_world_size() == 1:
        return model
    from torch.nn.parallel import DistributedDataParallel

    return DistributedDataParallel(model)


def mean_over_ranks(record: Mapping[str, float]) -> dict[str, float]:
    """Average logged scalars over ranks, so rank 0 logs the global batch's numbers."""
    if not active():
        return dict(record)
    keys = sorted(record)
    values = torch.tensor([float(record[k]) for k in keys], dtype=torch.float64)
    dist.all_reduce(values)
    values /= dist.get_world_size()
    return dict(zip(keys, values.tolist(), strict=True))


def barrier() -> None:
    if active():
        dist.barrier()


def weights_digest(model: Any) -> str:
    """A hash of the trainable weights: equal on every rank when training kept them in sync."""
    digest = hashlib.sha256()
    for name, p in sorted(model.named_parameters()):
        if p.requires_grad:
            digest.update(name.encode())
            digest.update(p.detach().float().cpu().numpy().tobytes())
    return digest.hexdigest()


def all_digests(model: Any) -> list[str]:
    """Every rank's `weights_digest`, gathered on every rank."""
    mine = weights_digest(model)
    if not active():
        return [mine]
    gathered: list[Any] = [None] * dist.get_world_size()
    dist.all_gather_object(gathered, mine)
    return [str(g) for g in gathered]


def main(argv: list[str] | None = None) -> int:
    """Train SFT or DPO from a JSONL file in every process of the launch."""
    from alignlab.config import add_config_args, config_from_args
    from alignlab.data import PreferencePair, Sample, read_jsonl
    from alignlab.models import load_target
    from alignlab.report import Run
    from alignlab.train.dpo import encode
    from alignlab.train.lora import AlignConfig, train

    parser = argparse.ArgumentParser(prog="python -m alignlab.train.distributed")
    parser.add_argument("--model", required=True, help="target spec of an HF model")
    parser.add_argument("--data", required=True, help="JSONL of preference pairs or samples")
    parser.add_argument("--out", default=None, help="run directory (rank 0 writes it)")
    parser.add_argument("--digests", default=None, help="file to write every rank's weights hash")
    add_config_args(parser, AlignConfig)
    args = parser.parse_args(argv)
    config = config_from_args(AlignConfig, args)
    rank, world = init_from_env()
    lm = load_target(args.model)
    if config.loss == "sft":
        samples = read_jsonl(args.data, Sample)
        data = encode(lm, [s.prompt for s in samples],  # type: ignore[arg-type]
                      [s.target or "" for s in samples])
    else:
        pairs = read_jsonl(args.data, PreferencePair)
        data = encode(lm, [p.prompt for p in pairs], [p.chosen for p in pairs],  # type: ignore[arg-type]
                      [p.rejected for p in pairs])
    # Every rank opens the run so all resume from the same checkpoint; rank 0 alone writes.
    run = Run(args.out, "distributed", config, seed=config.seed) if args.out else None
    history = train(lm, data, config, run, show=rank == 0)  # type: ignore[arg-type]
    digests = all_digests(lm.model)  # type: ignore[attr-defined]
    if rank == 0:
        if run is not None:
            run.finish({"final_loss": history[-1]["loss"] if history else None,
                        "world_size": world, "ranks_agree": len(set(digests)) == 1})
        if args.digests:
            with open(args.digests, "w", encoding="utf-8") as fh:
                fh.write("\n".join(digests) + "\n")
        print(f"world size {world}; ranks agree: {len(set(digests)) == 1}")
    if active():
        dist.destroy_process_group()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
