"""A toy world for tests and examples: count up from a number.

Prompt ``count 3`` , gold answer ``4 5 6``. Small enough that a tiny model learns
it in seconds, so trainers can be checked end to end.
"""

from __future__ import annotations

import random

DIGITS = [str(i) for i in range(20)]
VOCABULARY = ["count", *DIGITS]


def sample_prompt(rng: random.Random) -> str:
    return f"count {rng.randrange(0, 12)}"


def gold_answer(prompt: str) -> str:
    start = int(prompt.split()[1])
    return " ".join(str(start + i) for i in range(1, 4))


def gold_score(prompt: str, response: str) -> float:
    """Fraction of the three expected numbers in the right place."""
    want = gold_answer(prompt).split()
    got = response.split()
    return sum(a == b for a, b in zip(want, got, strict=False)) / len(want)
