"""Worlds where the truth is known: gold objectives, simulated labelers, gridworlds.

`WORLDS` maps a world name (as in the target spec ``tiny:WORLD``) to a function
that returns its vocabulary, imported lazily so light commands stay fast.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable

from alignlab.models.base import TargetError

WORLDS: dict[str, str] = {
    "toy": "alignlab.worlds.toy:VOCABULARY",
    "assistant": "alignlab.worlds.assistant:VOCABULARY",
}
"""World name -> "module:attribute" of its vocabulary (a list or a function returning one)."""


def world_vocabulary(name: str) -> list[str]:
    if name not in WORLDS:
        raise TargetError(f"unknown world {name!r}; known worlds: {', '.join(sorted(WORLDS))}")
    module, _, attr = WORLDS[name].partition(":")
    vocab: list[str] | Callable[[], list[str]] = getattr(importlib.import_module(module), attr)
    return list(vocab() if callable(vocab) else vocab)
