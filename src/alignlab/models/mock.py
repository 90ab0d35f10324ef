"""Scripted replies from a file, for offline tests of everything above the model.

File format (JSONL or YAML list), one rule per entry:
  {"match": "capital of France", "reply": "Paris."}   # substring, case-insensitive
  {"regex": "^\\d+ \\+ \\d+", "reply": "I think 4."}  # regular expression
  {"reply": "I cannot help with that."}              # no condition: a default
Rules are tried in order; defaults are used in turn when nothing matches.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from alignlab.models.base import Completion, Prompt, SamplingParams, TargetError, cut_at_stop


@dataclass(frozen=True)
class Rule:
    reply: str
    match: str | None = None
    regex: str | None = None

    def applies(self, text: str) -> bool:
        if self.match is not None:
            return self.match.lower() in text.lower()
        if self.regex is not None:
            return re.search(self.regex, text) is not None
        return False


def _prompt_text(prompt: Prompt) -> str:
    return prompt if isinstance(prompt, str) else "\n".join(m["content"] for m in prompt)


class MockLM:
    """Answers from rules; records every prompt it saw (handy in tests)."""

    def __init__(self, rules: Sequence[Rule], name: str = "mock") -> None:
        self.rules = [r for r in rules if r.match is not None or r.regex is not None]
        defaults = [r.reply for r in rules if r.match is None and r.regex is None]
        self._defaults = itertools.cycle(defaults or ["OK."])
        self.name = name
        self.seen: list[Prompt] = []

    def reply(self, prompt: Prompt) -> str:
        text = _prompt_text(prompt)
        self.seen.append(prompt)
        for rule in self.rules:
            if rule.applies(text):
                return rule.reply
        return next(self._defaults)

    def generate(self, prompts: Sequence[Prompt], params: SamplingParams | None = None,
                 ) -> list[Completion]:
        params = params or SamplingParams()
        out = []
        for p in prompts:
            for _ in range(params.n):
                text, _ = cut_at_stop(self.reply(p), params.stop)
                out.append(Completion(p, text))
        return out

    def logprobs(self, prompts: Sequence[Prompt], completions: Sequence[str]) -> list[list[float]]:
        raise NotImplementedError("mock targets have no log-probabilities")


def load_mock(path: str | Path) -> MockLM:
    """Read rules from a .jsonl, .yaml or .yml file; errors name the file and entry."""
    path = Path(path)
    if not path.exists():
        raise TargetError(f"mock target file not found: {path}")
    entries: list[Any]
    if path.suffix in (".yaml", ".yml"):
        import yaml

        entries = yaml.safe_load(path.read_text()) or []
        where = [f"{path}: entry {i + 1}" for i in range(len(entries))]
    else:
        from alignlab.data import DataError, read_jsonl_dicts

        try:
            entries = read_jsonl_dicts(path)
        except DataError as err:
            raise TargetError(str(err)) from None
        where = [f"{path}: rule {i + 1}" for i in range(len(entries))]
    rules = []
    for entry, loc in zip(entries, where, strict=True):
        if not isinstance(entry, dict) or not isinstance(entry.get("reply"), str):
            raise TargetError(f"{loc}: each rule needs a string 'reply'")
        rules.append(Rule(entry["reply"], entry.get("match"), entry.get("regex")))
    return MockLM(rules, name=f"mock:{path.name}")
