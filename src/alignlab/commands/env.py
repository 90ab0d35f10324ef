"""`alignlab env list` and `alignlab env play ID`: the gridworlds in the terminal."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator
from typing import Any

from rich.console import Console
from rich.table import Table

from alignlab.commands import add_command

KEYS = {"w": 0, "s": 1, "a": 2, "d": 3}
"""Keyboard letter -> action (up, down, left, right)."""


def register(sub: argparse._SubParsersAction) -> None:
    env = add_command(sub, "env")
    esub = env.add_subparsers(dest="action", required=True)
    esub.add_parser("list", help="the registered environments").set_defaults(func=cmd_list)
    play = esub.add_parser("play", help="play an environment in the terminal (w/a/s/d, q)")
    play.add_argument("id", help="environment id, e.g. alignlab/BoatRace-v0 or just BoatRace")
    play.add_argument("--seed", type=int, default=0)
    play.add_argument("--option", action="append", default=[], metavar="KEY=VALUE",
                      help="constructor argument (JSON value), e.g. --option test=true")
    play.add_argument("--moves", default=None,
                      help="play these w/a/s/d letters instead of reading the keyboard")
    play.set_defaults(func=cmd_play)


def cmd_list(args: argparse.Namespace) -> int:
    from alignlab.worlds.gridworlds import ENVIRONMENTS

    table = Table("id", "problem", title="alignlab gridworlds")
    for info in ENVIRONMENTS.values():
        table.add_row(info.id, info.problem)
    Console().print(table)
    return 0


def resolve_id(name: str) -> str:
    from alignlab.worlds.gridworlds import ENVIRONMENTS

    for candidate in (name, f"alignlab/{name}", f"alignlab/{name}-v0"):
        if candidate in ENVIRONMENTS:
            return candidate
    raise ValueError(f"unknown environment {name!r}; see `alignlab env list`")


def parse_options(options: list[str]) -> dict[str, Any]:
    kwargs = {}
    for option in options:
        key, sep, value = option.partition("=")
        if not sep or not key:
            raise ValueError(f"--option {option!r}: expected KEY=VALUE")
        try:
            kwargs[key] = json.loads(value)
        except json.JSONDecodeError:
            kwargs[key] = value
    return kwargs


def keyboard() -> Iterator[str]:
    while True:
        try:
            line = input("move (w/a/s/d, q to quit): ").strip().lower()
        except EOFError:
            return
        yield from line or " "


def cmd_play(args: argparse.Namespace) -> int:
    import gymnasium as gym

    import alignlab.worlds.gridworlds  # noqa: F401  (registers the environments)

    env_id = resolve_id(args.id)
    try:
        env = gym.make(env_id, render_mode="ansi", **parse_options(args.option))
    except TypeError as err:
        raise ValueError(f"{env_id}: bad --option: {err}") from err
    obs, info = env.reset(seed=args.seed)
    print(env.render())
    total, steps = 0.0, 0
    for key in (iter(args.moves) if args.moves is not None else keyboard()):
        if key == "q":
            break
        if key not in KEYS:
            continue
        obs, reward, terminated, truncated, info = env.step(KEYS[key])
        total += float(reward)
        steps += 1
        print(env.render() + f"step {steps}: reward {reward:+g}, return {total:+g}")
        if terminated or truncated:
            break
    print(f"episode over after {steps} steps: observed return {total:+g}, "
          f"hidden performance {info.get('hidden_performance', float('nan')):+g}")
    sys.stdout.flush()
    return 0
