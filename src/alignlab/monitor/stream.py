"""Streaming through the guard: output is released window by window, only once checked.

The upstream's pieces accumulate in a buffer. Every `window_chars` new characters the
output checks run on the whole buffer (so a phrase split across pieces is still seen),
and the checked text is released except its last `holdback_chars` characters, which
wait for the next check: a blocked phrase up to that length never half-reaches the
client. The journal row is opened before the first byte and completed before the last
held-back text, the final verdicts and `[DONE]` are released.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

from starlette.responses import Response, StreamingResponse

from alignlab.monitor.journal import Journal, JournalUnavailable
from alignlab.monitor.policy import run_stage
from alignlab.monitor.upstream import UpstreamError, approx_tokens

if TYPE_CHECKING:
    from alignlab.monitor.request import ChatRequest
    from alignlab.monitor.server import Guard


def sse(obj: Any) -> bytes:
    return f"data: {json.dumps(obj)}\n\n".encode()


def chunk(rid: str, model: str, delta: dict[str, str], finish: str | None = None,
          extra: dict[str, Any] | None = None) -> bytes:
    body = {"id": f"chatcmpl-{rid}", "object": "chat.completion.chunk",
            "created": int(time.time()), "model": model,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}
    return sse(dict(body, **(extra or {})))


def error_event(message: str, code: str, extra: dict[str, Any]) -> bytes:
    return sse({"error": {"message": message, "type": "policy_violation"
                          if code == "content_blocked" else "api_error", "param": None,
                          "code": code}, **extra}) + b"data: [DONE]\n\n"


async def stream_exchange(guard: Guard, req: ChatRequest, rec: dict[str, Any],
                          in_verdicts: list[dict[str, Any]], start: float) -> Response:
    from alignlab.monitor.server import error

    try:  # the open row: even a stream cut short leaves its trace
        await guard.writer.write(Journal.exchange_statements(
            dict(rec, status="open", http_status=200, action="open", verdicts=in_verdicts)))
    except JournalUnavailable as err:
        guard.stats["journal_503"] += 1
        return error(503, str(err), "journal_unavailable", "service_unavailable",
                     {"Retry-After": "1"})
    return StreamingResponse(_events(guard, req, rec, in_verdicts, start),
                             media_type="text/event-stream",
                             headers={"X-Alignlab-Request-Id": rec["request_id"]})


class _Window:
    """What has been checked and released so far."""

    def __init__(self) -> None:
        self.text = ""      # everything the upstream sent
        self.released = ""  # the (possibly redacted) prefix the client has
        self.checked_at = 0
        self.verdicts: list[dict[str, Any]] = []


async def _check(guard: Guard, w: _Window, final: bool) -> str | None:
    """Run the output checks on the buffer; return newly releasable text, None if blocked."""
    from alignlab.monitor.server import merge_verdicts

    w.checked_at = len(w.text)
    res = await run_stage(guard.policy, "output", w.text)
    w.verdicts = merge_verdicts([res])
    # A redaction reaching back into released text cannot be undone: treat it as a block.
    if res.action == "block" or not res.text.startswith(w.released):
        return None
    end = len(res.text) if final else max(len(w.released),
                                          len(res.text) - guard.policy.holdback_chars)
    new = res.text[len(w.released):end]
    w.released += new
    return new


async def _events(guard: Guard, req: ChatRequest, rec: dict[str, Any],
                  in_verdicts: list[dict[str, Any]], start: float) -> AsyncIterator[bytes]:
    from alignlab.monitor.server import overall

    rid, w, done = rec["request_id"], _Window(), False
    meta = lambda verdicts, action: {"alignlab": {  # noqa: E731
        "request_id": rid, "action": action, "verdicts": verdicts}}
    yield chunk(rid, req.model, {"role": "assistant", "content": ""})
    try:
        try:
            new: str | None = ""
            async with contextlib.aclosing(guard.upstream.stream(
                    req.upstream_body(rec["request"]))) as pieces:
                async for piece in pieces:
                    w.text += piece
                    if len(w.text) - w.checked_at < guard.policy.window_chars:
                        continue
                    new = await _check(guard, w, final=False)
                    if new is None:
                        break
                    if new:
                        yield chunk(rid, req.model, {"content": new})
            if new is not None:
                new = await _check(guard, w, final=True)
        except UpstreamError as err:
            rec.update(status="complete", action="error", http_status=502,
                       response=w.released, verdicts=in_verdicts + w.verdicts)
            await _journal(guard, rec, start)
            done = True
            yield error_event(str(err), "upstream_error", meta(rec["verdicts"], "error"))
            return
        verdicts = in_verdicts + w.verdicts
        action = "block" if new is None else overall(verdicts)
        rec.update(status="complete", http_status=200, action=action, response=w.released,
                   verdicts=verdicts, completion_tokens=approx_tokens(w.text))
        if not await _journal(guard, rec, start):
            done = True
            yield error_event("the journal cannot keep up; retry shortly",
                              "journal_unavailable", {})
            return
        done = True
        if new is None:
            names = [v["check"] for v in verdicts if v["action"] == "block"]
            yield error_event(f"the output was blocked by policy check {', '.join(names)}",
                              "content_blocked", meta(verdicts, "block"))
            return
        if new:
            yield chunk(rid, req.model, {"content": new})
        yield chunk(rid, req.model, {}, "stop", meta(verdicts, action))
        yield b"data: [DONE]\n\n"
        guard.shadow(rec, w.released)
    finally:
        if not done:  # the client went away: record what it had been sent
            rec.update(status="aborted", http_status=499, action="aborted",
                       response=w.released, verdicts=in_verdicts + w.verdicts)
            task = asyncio.get_running_loop().create_task(_journal(guard, rec, start))
            guard.shadow_tasks.add(task)  # type: ignore[arg-type]
            task.add_done_callback(guard.shadow_tasks.discard)  # type: ignore[arg-type]


async def _journal(guard: Guard, rec: dict[str, Any], start: float) -> bool:
    from alignlab.monitor.audit import audit_reason

    rec["latency_ms"] = (time.perf_counter() - start) * 1000
    review = audit_reason(rec["action"], rec.get("verdicts", []), guard.rng, guard.audit)
    try:
        await guard.writer.write(Journal.exchange_statements(rec, review))
    except JournalUnavailable:
        guard.stats["journal_503"] += 1
        return False
    guard.limiter.spend(rec["key_name"], rec.get("prompt_tokens", 0)
                        + rec.get("completion_tokens", 0))
    return True
