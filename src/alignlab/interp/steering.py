"""Steering by contrastive activation addition (Rimsky/Panickssery et al. 2023).

A steering vector is the mean difference of residual-stream activations between
the two answers of contrast pairs (same prompt, answer showing the behaviour vs
answer not showing it), read at the answer token. During generation or scoring
`steering` adds `strength * vector` to the residual stream after the chosen
blocks at every position; a negative strength steers away from the behaviour.

The hooks sit on the HF decoder blocks, so anything that calls the model's
forward (`HFLM.generate`'s decode loop, `HFLM.logprobs`) is steered.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from torch import Tensor

from alignlab.interp.capture import intervene, prompt_activations, resid_name


@dataclass(frozen=True)
class ContrastPair:
    prompt: str
    positive: str
    """Answer that shows the behaviour (e.g. agreeing with the user against the facts)."""
    negative: str
    """Answer that does not."""


def caa_vectors(lm: Any, pairs: Sequence[ContrastPair], layers: Sequence[int],
                batch_size: int = 16) -> dict[int, Tensor]:
    """Mean (positive - negative) activation at the answer's last token, per layer, (D,)."""
    names = [resid_name(k) for k in layers]
    prompts = [p.prompt for p in pairs]
    pos = prompt_activations(lm, prompts, names, batch_size, [p.positive for p in pairs])
    neg = prompt_activations(lm, prompts, names, batch_size, [p.negative for p in pairs])
    return {k: (pos[n] - neg[n]).mean(0) for k, n in zip(layers, names, strict=True)}


@contextmanager
def steering(model: Any, vectors: dict[int, Tensor], strength: float) -> Iterator[None]:
    """Add `strength * vectors[layer]` after each listed block, at every position."""
    edits = {resid_name(k): (lambda act, v=v: act + strength * v.to(act.dtype))
             for k, v in vectors.items()}
    with intervene(model, edits):
        yield
