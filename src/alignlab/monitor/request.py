"""Parse and validate an OpenAI chat-completions request body.

Every way a body can be wrong ends in `BadRequest` (a 4xx status, a message naming the
field, and the field's path), never in another exception: the proxy turns it into an
OpenAI-style error body, and the fuzz test holds it to that.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Any

ROLES = ("system", "developer", "user", "assistant", "tool")
MAX_MESSAGES = 1024


class BadRequest(ValueError):
    def __init__(self, message: str, param: str | None = None, status: int = 400,
                 code: str = "invalid_request") -> None:
        super().__init__(message)
        self.status, self.param, self.code = status, param, code

    def body(self) -> dict[str, Any]:
        return {"error": {"message": str(self), "type": "invalid_request_error",
                          "param": self.param, "code": self.code}}


@dataclass(frozen=True)
class ChatRequest:
    model: str
    messages: list[dict[str, str]]
    stream: bool = False
    max_tokens: int | None = None
    temperature: float | None = None
    top_p: float | None = None
    stop: tuple[str, ...] = ()
    seed: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    """Other top-level fields, passed to the upstream untouched."""

    def upstream_body(self, messages: list[dict[str, str]]) -> dict[str, Any]:
        body: dict[str, Any] = dict(self.extra, model=self.model, messages=messages)
        for name in ("max_tokens", "temperature", "top_p", "seed"):
            if getattr(self, name) is not None:
                body[name] = getattr(self, name)
        if self.stop:
            body["stop"] = list(self.stop)
        return body


def _reject_constant(name: str) -> Any:
    raise BadRequest(f"body is not valid JSON: {name} is not a JSON number")


def decode_json(raw: bytes, max_bytes: int) -> Any:
    if len(raw) > max_bytes:
        raise BadRequest(f"body is {len(raw)} bytes; the limit is {max_bytes}", status=413,
                         code="body_too_large")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as err:
        raise BadRequest(f"body is not valid UTF-8 (byte {err.start})") from None
    try:
        return json.loads(text, parse_constant=_reject_constant)
    except json.JSONDecodeError as err:
        raise BadRequest(f"body is not valid JSON: {err.msg} at line {err.lineno} "
                         f"column {err.colno}") from None
    except RecursionError:
        raise BadRequest("body is not valid JSON: nested too deeply") from None


def _text(value: Any, where: str) -> str:
    if not isinstance(value, str):
        raise BadRequest(f"{where} must be a string, got {type(value).__name__}", where)
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise BadRequest(f"{where} contains an unpaired surrogate escape", where) from None
    if "\x00" in value:
        raise BadRequest(f"{where} contains a NUL character", where)
    return value


def _content(value: Any, where: str) -> str:
    """A string, or a list of {"type": "text", "text": ...} parts (joined)."""
    if isinstance(value, list):
        parts = []
        for i, part in enumerate(value):
            if not isinstance(part, dict) or part.get("type") != "text":
                raise BadRequest(f"{where}[{i}] must be a text part "
                                 '({"type": "text", "text": ...})', f"{where}[{i}]")
            parts.append(_text(part.get("text"), f"{where}[{i}].text"))
        return "".join(parts)
    return _text(value, where)


def _messages(value: Any) -> list[dict[str, str]]:
    if not isinstance(value, list) or not value:
        raise BadRequest("'messages' must be a non-empty list", "messages")
    if len(value) > MAX_MESSAGES:
        raise BadRequest(f"'messages' has {len(value)} entries; the limit is {MAX_MESSAGES}",
                         "messages")
    out = []
    for i, msg in enumerate(value):
        where = f"messages[{i}]"
        if not isinstance(msg, dict):
            raise BadRequest(f"{where} must be an object", where)
        role = msg.get("role")
        if role not in ROLES:
            raise BadRequest(f"{where}.role must be one of {', '.join(ROLES)}", f"{where}.role")
        out.append({"role": role, "content": _content(msg.get("content"), f"{where}.content")})
    return out


def _number(body: dict[str, Any], name: str, lo: float, hi: float, integer: bool = False,
            ) -> Any:
    value = body.get(name)
    if value is None:
        return None
    kinds = (int,) if integer else (int, float)
    if isinstance(value, bool) or not isinstance(value, kinds) or not math.isfinite(value):
        raise BadRequest(f"'{name}' must be {'an integer' if integer else 'a number'}", name)
    if not lo <= value <= hi:
        raise BadRequest(f"'{name}' must be between {lo:g} and {hi:g}, got {value}", name)
    return value


def _stop(value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    stops = [value] if isinstance(value, str) else value
    if not isinstance(stops, list) or len(stops) > 4:
        raise BadRequest("'stop' must be a string or a list of at most 4 strings", "stop")
    return tuple(_text(s, f"stop[{i}]") for i, s in enumerate(stops))


def parse_chat_request(raw: bytes, max_bytes: int = 1 << 20) -> ChatRequest:
    """Validate a body; raise `BadRequest` (4xx) naming the first problem found."""
    body = decode_json(raw, max_bytes)
    if not isinstance(body, dict):
        raise BadRequest(f"body must be a JSON object, got {type(body).__name__}")
    model = _text(body.get("model"), "model") if "model" in body else None
    if not model:
        raise BadRequest("'model' is required", "model")
    stream = body.get("stream", False)
    if not isinstance(stream, bool):
        raise BadRequest("'stream' must be true or false", "stream")
    n = body.get("n", 1)
    if n != 1 or isinstance(n, bool):
        raise BadRequest("only n = 1 is supported", "n")
    max_tokens = _number(body, "max_tokens", 1, 1_000_000, integer=True)
    if max_tokens is None:
        max_tokens = _number(body, "max_completion_tokens", 1, 1_000_000, integer=True)
    known = {"model", "messages", "stream", "n", "max_tokens", "max_completion_tokens",
             "temperature", "top_p", "stop", "seed"}
    extra = {k: v for k, v in body.items() if k not in known}
    try:  # extra fields travel on to the upstream, so they must encode cleanly
        json.dumps(extra, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        raise BadRequest("a field contains an unpaired surrogate escape") from None
    return ChatRequest(
        model=model, messages=_messages(body.get("messages")), stream=stream,
        max_tokens=max_tokens, temperature=_number(body, "temperature", 0, 2),
        top_p=_number(body, "top_p", 0, 1), stop=_stop(body.get("stop")),
        seed=_number(body, "seed", -(2**63), 2**63 - 1, integer=True), extra=extra)
