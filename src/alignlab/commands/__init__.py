"""CLI subcommands, one module per command group; each defines `register(subparsers)`.

`COMMANDS` names every command, the module that registers it and its one-line help.
The CLI imports only the module of the command being run: the others pull in torch,
scikit-learn or transformers, which would make `alignlab --help` take seconds.
"""

from __future__ import annotations

import argparse
from typing import Any

COMMANDS: dict[str, tuple[str, str]] = {
    "models": ("models", "list target forms, or describe one target"),
    "generate": ("models", "generate from a target"),
    "chat": ("models", "talk to a target interactively (Ctrl-D to quit)"),
    "study": ("study", "run every study section and write one report"),
    "repro": ("study", "run one study (reproduction) by name"),
    "train": ("train", "train a model: sft, reward, dpo, ppo, grpo"),
    "align": ("align", "LoRA SFT or DPO of any HF model (adapters, resume)"),
    "cai": ("align", "Constitutional AI data: revisions (SL) and AI labels (RL)"),
    "redteam": ("redteam", "red-team a target: suites, converters, adaptive attacks"),
    "eval": ("redteam", "one behavioural eval: sycophancy, harmful, overrefusal, injection"),
    "judge": ("redteam", "measure a judge on a labeled JSONL of prompt, response, label"),
    "probe": ("interp", "linear probe sweep over layers (cross-validated AUROC)"),
    "steer": ("interp", "generate with a contrastive activation addition vector"),
    "sae": ("interp", "sparse autoencoders on captured activations"),
    "oversight": ("oversight", "oversight protocols on any target"),
    "monitor": ("monitor", "guard proxy: serve, keys, kill switch, review"),
    "env": ("env", "list the gridworld environments, or play one"),
}
"""command -> (module in alignlab.commands, one-line help)."""


def add_command(sub: Any, name: str, **kwargs: Any) -> argparse.ArgumentParser:
    """Add command `name` to the subparsers `sub`, with its help from `COMMANDS`."""
    parser: argparse.ArgumentParser = sub.add_parser(name, help=COMMANDS[name][1], **kwargs)
    return parser
