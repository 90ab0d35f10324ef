"""The one language-model interface every backend implements."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

Messages = list[dict[str, str]]
"""A chat as OpenAI-style messages: [{"role": "user", "content": "..."}]."""

Prompt = str | Messages
"""A plain string is one user turn for chat models and raw text for base models."""


@dataclass(frozen=True)
class SamplingParams:
    max_new_tokens: int = 64
    """Tokens to generate at most per completion."""
    temperature: float = 0.0
    """0 means greedy decoding."""
    top_p: float = 1.0
    """Nucleus sampling: keep the smallest set of tokens whose probability reaches top_p."""
    n: int = 1
    """Completions per prompt (returned prompt-major: p0c0, p0c1, ..., p1c0, ...)."""
    seed: int | None = None
    """Seed for sampling; the same seed gives the same completions."""
    stop: tuple[str, ...] = ()
    """Strings that end a completion (not included in the text)."""


@dataclass
class Completion:
    prompt: Prompt
    text: str
    token_ids: list[int] = field(default_factory=list)
    logprobs: list[float] = field(default_factory=list)
    """Per-token log-probabilities under the model at temperature 1 (empty if unknown)."""
    finish_reason: str = "stop"
    """"stop" (end-of-sequence or a stop string) or "length"."""


@runtime_checkable
class LM(Protocol):
    """What every backend offers: batched generation and scoring."""

    name: str

    def generate(self, prompts: Sequence[Prompt], params: SamplingParams | None = None,
                 ) -> list[Completion]: ...

    def logprobs(self, prompts: Sequence[Prompt], completions: Sequence[str]) -> list[list[float]]:
        """Per-token log-probabilities of each completion given its prompt."""
        ...


class TargetError(ValueError):
    """A target spec could not be parsed or loaded."""


def as_messages(prompt: Prompt) -> Messages:
    return [{"role": "user", "content": prompt}] if isinstance(prompt, str) else list(prompt)


def cut_at_stop(text: str, stop: Sequence[str]) -> tuple[str, bool]:
    """Cut `text` at the first stop string; return (text, whether a stop was found)."""
    cut = min((i for s in stop if (i := text.find(s)) >= 0), default=-1)
    return (text[:cut], True) if cut >= 0 else (text, False)
