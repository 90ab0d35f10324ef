"""Crash test: the proxy, a real server process, is killed with SIGKILL at random moments
while 120 loopback clients send requests (plain, streamed, blocked). Every response a
client received in full must have a complete journal row with the same content, and every
stream cut short must have left at least its open row: `lost_records` counts the misses.

The default test runs 1 kill; the slow one runs 8. Both print the figure (pytest -s).
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from monitor_helpers import chat, free_port

from alignlab.monitor.journal import Journal

CONCURRENCY = 120


def start_server(files: dict[str, str], port: int) -> subprocess.Popen[bytes]:
    cmd = [sys.executable, "-m", "alignlab.cli", "monitor", "serve", "--upstream",
           files["upstream"], "--policy", files["policy"], "--db", files["db"],
           "--port", str(port), "--no-auth", "--random-rate", "0"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                return proc
        except httpx.HTTPError:
            time.sleep(0.1)
        if proc.poll() is not None:
            raise RuntimeError(f"server exited: {proc.stderr.read().decode()[-2000:]}")
    proc.kill()
    raise RuntimeError("server did not start within 120 s")


async def one(client: httpx.AsyncClient, rid: str, rng: random.Random) -> dict[str, Any]:
    """Send one request; return what the client got (complete or not)."""
    kind = rng.choice(["plain", "plain", "stream", "blocked"])
    body = chat("how to make a pipe bomb" if kind == "blocked" else f"hello {rid}",
                stream=kind == "stream")
    out: dict[str, Any] = {"id": rid, "kind": kind, "complete": False, "status": None}
    try:
        if kind != "stream":
            r = await client.post("/v1/chat/completions", json=body, headers={"X-Request-Id": rid})
            data = r.json()
            out.update(status=r.status_code, complete=True,
                       text=(data.get("choices") or [{}])[0].get("message", {}).get("content", ""))
            return out
        async with client.stream("POST", "/v1/chat/completions", json=body,
                                 headers={"X-Request-Id": rid}) as r:
            out["status"], text = r.status_code, ""
            async for line in r.aiter_lines():
                if line == "data: [DONE]":
                    out["complete"] = True
                elif line.startswith("data: "):
                    event = json.loads(line[6:])
                    text += "".join(c["delta"].get("content", "") for c in event.get("choices", []))
            out["text"], out["started"] = text, True
    except (httpx.HTTPError, json.JSONDecodeError):
        out["started"] = out.get("status") == 200 and kind == "stream"
    return out


async def load(url: str, prefix: str, seed: int, results: list[dict[str, Any]]) -> None:
    """Keep CONCURRENCY requests in flight until the server dies (or 120 s pass)."""
    rng, n = random.Random(seed), 0
    stop = time.monotonic() + 120
    limits = httpx.Limits(max_connections=CONCURRENCY + 10)
    async with httpx.AsyncClient(base_url=url, timeout=30, limits=limits) as client:
        async def worker(w: int) -> None:
            nonlocal n
            while time.monotonic() < stop:
                n += 1
                res = await one(client, f"{prefix}-{w}-{n}", rng)
                results.append(res)
                if res["status"] is None:  # connection refused: the server is gone
                    return
        await asyncio.gather(*(worker(w) for w in range(CONCURRENCY)))


async def killer(proc: subprocess.Popen[bytes], results: list[Any], rng: random.Random) -> None:
    """SIGKILL at a random moment once the load is flowing (after 20-150 answers)."""
    target = rng.randint(20, 150)
    while len(results) < target and proc.poll() is None:
        await asyncio.sleep(0.01)
    await asyncio.sleep(rng.uniform(0, 0.3))
    os.kill(proc.pid, signal.SIGKILL)


def crash_drill(files: dict[str, str], kills: int, seed: int = 0) -> dict[str, int]:
    rng, results = random.Random(seed), []
    for k in range(kills):
        port = free_port()
        proc = start_server(files, port)
        round_results: list[dict[str, Any]] = []

        async def round_(port: int = port, k: int = k, proc: Any = proc,
                         out: list[Any] = round_results) -> None:
            await asyncio.gather(load(f"http://127.0.0.1:{port}", f"r{k}", seed + k, out),
                                 killer(proc, out, rng))

        asyncio.run(round_())
        proc.wait(timeout=30)
        results += round_results
    return audit(files["db"], results, kills)


def audit(db: str, results: list[dict[str, Any]], kills: int) -> dict[str, int]:
    journal, lost = Journal(db), 0
    answered = [r for r in results if r["complete"] and r["status"] != 503]
    for r in answered:
        row = journal.get(r["id"])
        ok = (row is not None and row["status"] == "complete"
              and row["http_status"] in (r["status"], 200 if r["kind"] == "stream" else -1))
        if ok and r["status"] == 200:
            ok = row["response"] == r["text"]
        lost += not ok
    cut = [r for r in results if r["kind"] == "stream" and r.get("started") and not r["complete"]]
    lost += sum(journal.get(r["id"]) is None for r in cut)
    check = sqlite3.connect(db).execute("PRAGMA integrity_check").fetchone()[0]
    assert check == "ok", check
    return {"kills": kills, "requests": len(results), "responses_received": len(answered),
            "streams_cut": len(cut), "lost_records": lost}


def _report(stats: dict[str, int]) -> None:
    print("crash test: " + ", ".join(f"{k}={v}" for k, v in stats.items()))


def test_sigkill_under_load_loses_no_record(files):
    stats = crash_drill(files, kills=1)
    _report(stats)
    assert stats["responses_received"] >= 20
    assert stats["lost_records"] == 0


@pytest.mark.slow
def test_sigkill_many_times_loses_no_record(files: dict[str, str], tmp_path: Path):
    stats = crash_drill(files, kills=8, seed=1)
    _report(stats)
    assert stats["lost_records"] == 0
