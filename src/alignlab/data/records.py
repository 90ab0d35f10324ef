"""The record types that flow between alignlab's parts.

Each is a plain dataclass with a `from_dict` that validates, so a malformed file
can be rejected with the exact field that is wrong.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar


class RecordError(ValueError):
    """A record is missing a field or has one of the wrong type."""

    def __init__(self, field_name: str, message: str) -> None:
        super().__init__(f"field '{field_name}': {message}")
        self.field_name = field_name


def _need(d: dict[str, Any], name: str, kind: type | tuple[type, ...]) -> Any:
    if name not in d:
        raise RecordError(name, "missing")
    value = d[name]
    if not isinstance(value, kind) or isinstance(value, bool) and kind is not bool:
        names = kind.__name__ if isinstance(kind, type) else " or ".join(k.__name__ for k in kind)
        raise RecordError(name, f"expected {names}, got {type(value).__name__}")
    return value


def _meta(d: dict[str, Any]) -> dict[str, Any]:
    meta = d.get("meta", {})
    if not isinstance(meta, dict):
        raise RecordError("meta", f"expected object, got {type(meta).__name__}")
    return meta


@dataclass(frozen=True)
class Sample:
    """A prompt, optionally with a reference answer and free-form metadata."""

    prompt: str
    target: str | None = None
    meta: dict[str, Any] = field(default_factory=dict)
    kind: ClassVar[str] = "sample"

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Sample:
        target = d.get("target")
        if target is not None and not isinstance(target, str):
            raise RecordError("target", f"expected string, got {type(target).__name__}")
        return cls(_need(d, "prompt", str), target, _meta(d))


@dataclass(frozen=True)
class Message:
    role: str
    content: str


ROLES = ("system", "user", "assistant")


@dataclass(frozen=True)
class Conversation:
    """A chat: messages with roles system, user, assistant."""

    messages: tuple[Message, ...]
    meta: dict[str, Any] = field(default_factory=dict)
    kind: ClassVar[str] = "conversation"

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Conversation:
        raw = _need(d, "messages", list)
        messages = []
        for i, m in enumerate(raw):
            if not isinstance(m, dict):
                raise RecordError(f"messages[{i}]", "expected object")
            role = m.get("role")
            if role not in ROLES:
                raise RecordError(f"messages[{i}].role", f"expected one of {ROLES}, got {role!r}")
            if not isinstance(m.get("content"), str):
                raise RecordError(f"messages[{i}].content", "expected string")
            messages.append(Message(role, m["content"]))
        return cls(tuple(messages), _meta(d))

    def to_dict(self) -> dict[str, Any]:
        return {"messages": [m.__dict__ for m in self.messages], "meta": self.meta}


@dataclass(frozen=True)
class PreferencePair:
    """A prompt with a preferred (chosen) and a dispreferred (rejected) response."""

    prompt: str
    chosen: str
    rejected: str
    meta: dict[str, Any] = field(default_factory=dict)
    kind: ClassVar[str] = "preference"

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> PreferencePair:
        return cls(_need(d, "prompt", str), _need(d, "chosen", str), _need(d, "rejected", str),
                   _meta(d))


@dataclass(frozen=True)
class StepTrace:
    """A multi-step solution with per-step labels (1 good, 0 bad, None unlabelled)."""

    prompt: str
    steps: tuple[str, ...]
    step_labels: tuple[int | None, ...]
    answer: str
    correct: bool
    meta: dict[str, Any] = field(default_factory=dict)
    kind: ClassVar[str] = "trace"

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> StepTrace:
        steps = _need(d, "steps", list)
        labels = d.get("step_labels", [None] * len(steps))
        if not isinstance(labels, list) or len(labels) != len(steps):
            raise RecordError("step_labels", "expected a list as long as 'steps'")
        if any(lab not in (0, 1, None) for lab in labels):
            raise RecordError("step_labels", "each label must be 0, 1 or null")
        if any(not isinstance(s, str) for s in steps):
            raise RecordError("steps", "each step must be a string")
        return cls(_need(d, "prompt", str), tuple(steps), tuple(labels),
                   str(_need(d, "answer", (str, int, float))), _need(d, "correct", bool), _meta(d))


RECORD_TYPES: dict[str, type] = {
    "sample": Sample, "conversation": Conversation, "preference": PreferencePair,
    "trace": StepTrace,
}
