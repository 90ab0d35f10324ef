"""The guard proxy: an OpenAI-compatible ASGI app in front of any target.

A request goes: body size and key -> kill switch and rate limit -> parse -> input checks
-> upstream -> output checks (per window when streaming) -> journal commit -> response.
Nothing reaches the client before its checks have passed and its journal row is
committed; shadow judges run afterwards and may throw the kill switch.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import random
import re
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import asdict, dataclass
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from alignlab.monitor.audit import AuditConfig, audit_reason
from alignlab.monitor.control import RateLimiter, kill_reason
from alignlab.monitor.journal import Journal, JournalUnavailable, JournalWriter, hash_key
from alignlab.monitor.policy import RANK, Policy, StageResult, load_policy, run_check, run_stage
from alignlab.monitor.request import BadRequest, ChatRequest, parse_chat_request
from alignlab.monitor.stream import stream_exchange
from alignlab.monitor.upstream import UpstreamError, approx_tokens, make_upstream

REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")


@dataclass(frozen=True)
class ServeConfig:
    upstream: str = "embedded"
    """Target spec the proxy stands in front of (openai:URL#MODEL, embedded, mock:FILE...)."""
    policy: str | None = None
    """YAML policy file; none gives a bare proxy that only journals."""
    db: str = "monitor.db"
    """Journal: a SQLite path (sqlite:///PATH) or a postgresql:// URL."""
    host: str = "127.0.0.1"
    """Address to listen on."""
    port: int = 8787
    """Port to listen on."""
    auth: bool = True
    """Require an API key (create one with `alignlab monitor keys add`)."""
    max_body_kb: int = 1024
    """Larger request bodies get 413."""
    poll_ms: int = 250
    """How often each worker re-reads the kill switch and the key table."""
    journal_queue: int = 2048
    """Records waiting for commit at most; beyond it the proxy answers 503."""
    near_rate: float = 0.5
    """Share of near-threshold exchanges sent to human review."""
    random_rate: float = 0.02
    """Share of other exchanges sent to human review."""
    admin_token_env: str = "ALIGNLAB_ADMIN_TOKEN"
    """Environment variable with the dashboard/admin token (unset: no token needed)."""
    workers: int = 1
    """Server processes (they share the journal, keys and kill switch)."""
    seed: int = 0
    """Seed of the audit sampler."""


def error(status: int, message: str, code: str, etype: str = "invalid_request_error",
          headers: dict[str, str] | None = None, extra: dict[str, Any] | None = None,
          ) -> JSONResponse:
    body: dict[str, Any] = {"error": {"message": message, "type": etype, "param": None,
                                      "code": code}}
    body.update(extra or {})
    return JSONResponse(body, status, headers=headers)


def merge_verdicts(results: list[StageResult]) -> list[dict[str, Any]]:
    """One verdict per check across messages: the strongest action, then the highest score."""
    best: dict[str, Any] = {}
    for res in results:
        for v in res.verdicts:
            old = best.get(v.check)
            if old is None or (RANK[v.action], v.score) > (RANK[old.action], old.score):
                best[v.check] = v
    return [v.to_dict() for v in best.values()]


def overall(verdicts: list[dict[str, Any]]) -> str:
    return max((v["action"] for v in verdicts), key=RANK.__getitem__, default="allow")


def completion_body(rid: str, model: str, text: str, finish: str, verdicts: list[Any],
                    action: str, usage: tuple[int, int]) -> dict[str, Any]:
    return {"id": f"chatcmpl-{rid}", "object": "chat.completion", "created": int(time.time()),
            "model": model, "choices": [{"index": 0, "finish_reason": finish,
                                         "message": {"role": "assistant", "content": text}}],
            "usage": {"prompt_tokens": usage[0], "completion_tokens": usage[1],
                      "total_tokens": sum(usage)},
            "alignlab": {"request_id": rid, "action": action, "verdicts": verdicts}}


class Guard:
    """The proxy's state: policy, upstream, journal writer, limits, kill-switch view."""

    def __init__(self, cfg: ServeConfig) -> None:
        self.cfg = cfg
        self.policy: Policy = load_policy(cfg.policy)
        self.journal = Journal(cfg.db)
        self.upstream = make_upstream(cfg.upstream)
        self.writer = JournalWriter(self.journal, cfg.journal_queue)
        self.limiter = RateLimiter()
        self.audit = AuditConfig(near_rate=cfg.near_rate, random_rate=cfg.random_rate)
        self.rng = random.Random(cfg.seed)
        self.keys: dict[str, dict[str, Any]] = self.journal.keys()
        self.killed: dict[str, str] = self.journal.kill_state()
        self.admin_token = os.environ.get(cfg.admin_token_env) or None
        self.shadow_tasks: set[asyncio.Task[None]] = set()
        self.stats = {"shadow_skipped": 0, "journal_503": 0}

    # -- background: kill switch and keys, re-read from the journal ----------------------
    async def poll(self) -> None:
        while True:
            await asyncio.sleep(self.cfg.poll_ms / 1000)
            with contextlib.suppress(Exception):  # a DB hiccup keeps the last known state
                self.killed, self.keys = await asyncio.to_thread(self._read_control)

    def _read_control(self) -> tuple[dict[str, str], dict[str, dict[str, Any]]]:
        return self.journal.kill_state(), self.journal.keys()

    # -- admission -----------------------------------------------------------------------
    def authenticate(self, request: Request) -> tuple[str, dict[str, Any]]:
        if not self.cfg.auth:
            return "anonymous", {}
        header = request.headers.get("authorization", "")
        if not header.lower().startswith("bearer ") or not header[7:].strip():
            raise BadRequest("missing API key: send 'Authorization: Bearer <key>'",
                             status=401, code="missing_api_key")
        entry = self.keys.get(hash_key(header[7:].strip()))
        if entry is None:
            raise BadRequest("invalid API key", status=401, code="invalid_api_key")
        return entry["name"], entry

    async def read_body(self, request: Request) -> bytes:
        limit = self.cfg.max_body_kb * 1024
        declared = request.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > limit:
            raise BadRequest(f"body is {declared} bytes; the limit is {limit}", status=413,
                             code="body_too_large")
        chunks, size = [], 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise BadRequest(f"body is over the limit of {limit} bytes", status=413,
                                 code="body_too_large")
            chunks.append(chunk)
        return b"".join(chunks)

    # -- the endpoint --------------------------------------------------------------------
    async def chat(self, request: Request) -> Response:
        start = time.perf_counter()
        try:
            key_name, limits = self.authenticate(request)
            if reason := kill_reason(self.killed, key_name):
                return error(503, reason, "kill_switch", "service_unavailable")
            raw = await self.read_body(request)
            req = parse_chat_request(raw, self.cfg.max_body_kb * 1024)
            rid = request.headers.get("x-request-id") or uuid.uuid4().hex
            if not REQUEST_ID.match(rid):
                raise BadRequest("X-Request-Id must be 1-128 characters of A-Z a-z 0-9 . _ : -")
        except BadRequest as err:
            return JSONResponse(err.body(), err.status)
        if "x-request-id" in request.headers:
            stored = await asyncio.to_thread(self.journal.get, rid)
            if stored is not None and stored["status"] != "open":
                return self.replay(stored)
        if refused := self.limiter.admit(key_name, limits.get("rpm"), limits.get("tpm")):
            return error(429, refused, "rate_limited", "rate_limit_error",
                         {"Retry-After": str(self.limiter.retry_after(key_name))})
        # One message after another: the fast checks never wait, so tasks would only add
        # scheduling overhead to every request.
        inputs = [await run_stage(self.policy, "input", m["content"]) for m in req.messages]
        messages = [dict(m, content=r.text) for m, r in zip(req.messages, inputs, strict=True)]
        rec = {"request_id": rid, "created": time.time(), "key_name": key_name,
               "model": req.model, "stream": int(req.stream), "request": messages,
               "prompt_tokens": approx_tokens(" ".join(m["content"] for m in messages))}
        verdicts = merge_verdicts(inputs)
        if overall(verdicts) == "block":
            return await self.blocked(rec, verdicts, "input", start)
        if req.stream:
            return await stream_exchange(self, req, rec, verdicts, start)
        return await self.complete(req, rec, verdicts, start)

    async def complete(self, req: ChatRequest, rec: dict[str, Any],
                       in_verdicts: list[dict[str, Any]], start: float) -> Response:
        try:
            reply = await self.upstream.complete(req.upstream_body(rec["request"]))
        except UpstreamError as err:
            rec.update(status="complete", http_status=502, action="error", response=str(err),
                       verdicts=in_verdicts, completion_tokens=0)
            return await self.commit(rec, error(502, str(err), "upstream_error", "api_error"))
        out = await run_stage(self.policy, "output", reply.text)
        verdicts = in_verdicts + merge_verdicts([out])
        if out.action == "block":
            return await self.blocked(rec, verdicts, "output", start)
        action = overall(verdicts)
        rec.update(status="complete", http_status=200, action=action, response=out.text,
                   verdicts=verdicts, prompt_tokens=reply.prompt_tokens,
                   completion_tokens=reply.completion_tokens)
        body = completion_body(rec["request_id"], req.model, out.text, reply.finish_reason,
                               verdicts, action, (reply.prompt_tokens, reply.completion_tokens))
        resp = await self.commit(rec, JSONResponse(body, headers={"X-Alignlab-Action": action}),
                                 start)
        if resp.status_code == 200:
            self.shadow(rec, out.text)
        return resp

    async def blocked(self, rec: dict[str, Any], verdicts: list[dict[str, Any]], stage: str,
                      start: float) -> Response:
        names = [v["check"] for v in verdicts if v["action"] == "block"]
        message = f"the {stage} was blocked by policy check {', '.join(names)}"
        rec.update(status="complete", http_status=400, action="block", response="",
                   verdicts=verdicts, completion_tokens=0)
        resp = error(400, message, "content_blocked", "policy_violation",
                     {"X-Alignlab-Action": "block"},
                     {"alignlab": {"request_id": rec["request_id"], "action": "block",
                                   "verdicts": verdicts}})
        return await self.commit(rec, resp, start)

    async def commit(self, rec: dict[str, Any], resp: Response, start: float | None = None,
                     ) -> Response:
        """Journal the exchange, then release `resp`; 503 if the journal cannot take it."""
        if start is not None:
            rec["latency_ms"] = (time.perf_counter() - start) * 1000
        review = audit_reason(rec["action"], rec.get("verdicts", []), self.rng, self.audit)
        try:
            counts = await self.writer.write(Journal.exchange_statements(rec, review))
        except JournalUnavailable as err:
            self.stats["journal_503"] += 1
            return error(503, str(err), "journal_unavailable", "service_unavailable",
                         {"Retry-After": "1"})
        if counts[0] == 0:  # the same request id was answered meanwhile: give that answer
            stored = await asyncio.to_thread(self.journal.get, rec["request_id"])
            return self.replay(stored) if stored else resp
        self.limiter.spend(rec["key_name"], (rec.get("prompt_tokens") or 0)
                           + (rec.get("completion_tokens") or 0))
        return resp

    def replay(self, row: dict[str, Any]) -> Response:
        """The stored answer to a request id seen before (idempotent retries)."""
        headers = {"X-Alignlab-Replay": "1", "X-Alignlab-Action": row["action"] or "allow"}
        if row["http_status"] != 200:
            code = "content_blocked" if row["action"] == "block" else "replayed_error"
            return error(row["http_status"], row["response"] or f"request {code}", code,
                         headers=headers, extra={"alignlab": {
                             "request_id": row["request_id"], "action": row["action"],
                             "verdicts": row["verdicts"]}})
        body = completion_body(row["request_id"], row["model"], row["response"], "stop",
                               row["verdicts"], row["action"],
                               (row["prompt_tokens"] or 0, row["completion_tokens"] or 0))
        return JSONResponse(body, headers=headers)

    # -- shadow checks -------------------------------------------------------------------
    def shadow(self, rec: dict[str, Any], output: str) -> None:
        inputs = "\n".join(m["content"] for m in rec["request"])
        jobs = [(c, "input", inputs, "") for c in self.policy.shadow("input")]
        jobs += [(c, "output", output, inputs) for c in self.policy.shadow("output")]
        if not jobs:
            return
        if len(self.shadow_tasks) >= 256:  # a backlog of judge calls: skip, and count it
            self.stats["shadow_skipped"] += 1
            return
        task = asyncio.get_running_loop().create_task(self._shadow(rec["request_id"], jobs))
        self.shadow_tasks.add(task)
        task.add_done_callback(self.shadow_tasks.discard)

    async def _shadow(self, rid: str, jobs: list[Any]) -> None:
        results = [await run_check(check, stage, text, context)
                   for check, stage, text, context in jobs]
        rows = [v.to_dict() for v, _ in results]
        await asyncio.to_thread(self.journal.add_shadow, rid, rows)
        for (check, *_), (v, _) in zip(jobs, results, strict=True):
            if check.trip_kill_switch and v.action != "allow" and not v.error:
                reason = f"shadow check {check.name} fired on {rid}"
                await asyncio.to_thread(self.journal.set_kill, "global", True, reason)
                self.killed = dict(self.killed, **{"global": reason})

    # -- small endpoints -----------------------------------------------------------------
    async def models(self, request: Request) -> Response:
        data = [{"id": m, "object": "model", "owned_by": "alignlab"} for m in self.upstream.models]
        return JSONResponse({"object": "list", "data": data})

    async def health(self, request: Request) -> Response:
        return JSONResponse({"ok": True, "killed": sorted(self.killed)})


def create_app(cfg: ServeConfig) -> Starlette:
    from alignlab.monitor.dashboard import dashboard_routes

    guard = Guard(cfg)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        poller = asyncio.get_running_loop().create_task(guard.poll())
        yield
        poller.cancel()
        await asyncio.gather(*guard.shadow_tasks, return_exceptions=True)
        await guard.upstream.aclose()
        guard.writer.close()

    routes = [Route("/v1/chat/completions", guard.chat, methods=["POST"]),
              Route("/v1/models", guard.models, methods=["GET"]),
              Route("/healthz", guard.health, methods=["GET"]), *dashboard_routes(guard)]
    app = Starlette(routes=routes, lifespan=lifespan)
    app.state.guard = guard
    return app


SETTINGS_ENV = "ALIGNLAB_MONITOR_SETTINGS"


def app_from_env() -> Starlette:
    """Factory for uvicorn worker processes: the settings travel as JSON in the env."""
    return create_app(ServeConfig(**json.loads(os.environ[SETTINGS_ENV])))


def serve(cfg: ServeConfig) -> None:
    import uvicorn

    # Every exchange is in the journal already; an access log line would only add latency.
    common: dict[str, Any] = {"host": cfg.host, "port": cfg.port, "log_level": "warning",
                              "access_log": False, "timeout_graceful_shutdown": 5}
    if cfg.workers > 1:
        os.environ[SETTINGS_ENV] = json.dumps(asdict(cfg))
        uvicorn.run("alignlab.monitor.server:app_from_env", factory=True,
                    workers=cfg.workers, **common)
    else:
        uvicorn.run(create_app(cfg), **common)
