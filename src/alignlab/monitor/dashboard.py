"""A small dashboard served by the proxy: live counts, kill switch, drift alerts and the
review queue with uphold/overturn buttons. One static page that polls a JSON summary
every second; the admin endpoints take the token from `?token=` or `X-Admin-Token`."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route

from alignlab.monitor.audit import drift_alerts

if TYPE_CHECKING:
    from alignlab.monitor.server import Guard

PAGE = Path(__file__).parent / "dashboard.html"


def summary(guard: Guard) -> dict[str, Any]:
    """Everything the page shows, read from the journal (runs in a worker thread)."""
    j = guard.journal
    history = j.verdict_history(guard.audit.baseline + guard.audit.window)
    queue = [{"request_id": r["request_id"], "reason": r["reason"], "action": r["action"],
              "key": r["key_name"], "created": r["created"],
              "prompt": (r["request"] or [{}])[-1].get("content", "")[:300],
              "response": (r["response"] or "")[:300],
              "checks": [v["check"] for v in r["verdicts"] or [] if v["action"] != "allow"]}
             for r in j.review_queue("pending", 50)]
    return {"counts": j.counts(), "killed": j.kill_state(), "queue": queue,
            "drift": drift_alerts(history, guard.audit), "stats": guard.stats,
            "policy": guard.policy.name, "upstream": guard.upstream.name}


def dashboard_routes(guard: Guard) -> list[Route]:
    def allowed(request: Request) -> bool:
        token = request.query_params.get("token") or request.headers.get("x-admin-token")
        return guard.admin_token is None or token == guard.admin_token

    def forbidden() -> Response:
        return JSONResponse({"error": {"message": "admin token required", "type":
                                       "permission_error", "param": None, "code": "forbidden"}},
                            403)

    async def page(request: Request) -> Response:
        return HTMLResponse(PAGE.read_text()) if allowed(request) else forbidden()

    async def api_summary(request: Request) -> Response:
        if not allowed(request):
            return forbidden()
        return JSONResponse(await asyncio.to_thread(summary, guard))

    async def body(request: Request) -> dict[str, Any]:
        try:
            data = json.loads(await request.body())
        except (ValueError, UnicodeDecodeError):
            data = None
        if not isinstance(data, dict):
            raise ValueError("body must be a JSON object")
        return data

    async def api_review(request: Request) -> Response:
        if not allowed(request):
            return forbidden()
        try:
            data = await body(request)
            ok = await asyncio.to_thread(guard.journal.review, str(data.get("request_id")),
                                         str(data.get("status")), str(data.get("note", "")))
        except ValueError as err:
            return JSONResponse({"error": {"message": str(err), "code": "bad_review"}}, 400)
        return JSONResponse({"ok": ok}, 200 if ok else 404)

    async def api_kill(request: Request) -> Response:
        if not allowed(request):
            return forbidden()
        try:
            data = await body(request)
            scope = str(data.get("scope", "global"))
            if scope != "global" and not scope.startswith("key:"):
                raise ValueError("scope must be 'global' or 'key:NAME'")
        except ValueError as err:
            return JSONResponse({"error": {"message": str(err), "code": "bad_kill"}}, 400)
        on = bool(data.get("on", True))
        await asyncio.to_thread(guard.journal.set_kill, scope, on, str(data.get("reason", "")))
        guard.killed = await asyncio.to_thread(guard.journal.kill_state)
        return JSONResponse({"ok": True, "killed": guard.killed})

    return [Route("/dashboard", page, methods=["GET"]),
            Route("/dashboard/api/summary", api_summary, methods=["GET"]),
            Route("/dashboard/api/review", api_review, methods=["POST"]),
            Route("/admin/kill", api_kill, methods=["POST"])]
