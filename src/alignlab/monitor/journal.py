"""The journal: every exchange, review, API key and kill-switch state, in one database.

One class speaks to SQLite (WAL; the default) and PostgreSQL with the same SQL: the few
differences are the connection and the placeholder. Writes from the proxy go through
`JournalWriter`, a single thread that commits whatever is waiting as one transaction
(group commit). A request's response is released only after its row is committed; when
the queue is full or the database fails, the writer raises `JournalUnavailable` and the
proxy answers 503 instead of dropping the record.

URLs: `sqlite:///path/to/journal.db` (or a bare path), `postgresql://user@host:port/db`.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import queue
import secrets
import sqlite3
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

SCHEMA = [
    """CREATE TABLE IF NOT EXISTS exchanges (
        request_id TEXT PRIMARY KEY, created DOUBLE PRECISION, key_name TEXT, model TEXT,
        stream INTEGER, status TEXT, http_status INTEGER, action TEXT, request TEXT,
        response TEXT, verdicts TEXT, prompt_tokens INTEGER, completion_tokens INTEGER,
        latency_ms DOUBLE PRECISION)""",
    "CREATE INDEX IF NOT EXISTS exchanges_created ON exchanges (created)",
    """CREATE TABLE IF NOT EXISTS reviews (
        request_id TEXT PRIMARY KEY, reason TEXT, status TEXT, note TEXT,
        reviewed_at DOUBLE PRECISION)""",
    """CREATE TABLE IF NOT EXISTS shadow (
        request_id TEXT, check_name TEXT, stage TEXT, score DOUBLE PRECISION, verdict TEXT,
        detail TEXT, at DOUBLE PRECISION, PRIMARY KEY (request_id, check_name, stage))""",
    """CREATE TABLE IF NOT EXISTS api_keys (
        name TEXT PRIMARY KEY, key_hash TEXT UNIQUE, rpm INTEGER, tpm INTEGER,
        created DOUBLE PRECISION)""",
    """CREATE TABLE IF NOT EXISTS control (
        scope TEXT PRIMARY KEY, killed INTEGER, reason TEXT, at DOUBLE PRECISION)""",
]

COLUMNS = ("request_id", "created", "key_name", "model", "stream", "status", "http_status",
           "action", "request", "response", "verdicts", "prompt_tokens", "completion_tokens",
           "latency_ms")
_INSERT = (f"INSERT INTO exchanges ({', '.join(COLUMNS)}) VALUES "
           f"({', '.join('?' * len(COLUMNS))}) ON CONFLICT (request_id) DO NOTHING")
# A streamed exchange is first written 'open' and completed at the end; a completed row
# is never overwritten, which is what makes request ids idempotent.
_COMPLETE = (_INSERT.removesuffix("DO NOTHING") + "DO UPDATE SET " +
             ", ".join(f"{c} = excluded.{c}" for c in COLUMNS[1:]) +
             " WHERE exchanges.status = 'open'")
REVIEW_STATUSES = ("pending", "upheld", "overturned")


class JournalUnavailable(RuntimeError):
    """The journal cannot take the record now (full queue or database error): answer 503."""


def hash_key(key: str) -> str:
    # API keys are 32 random bytes, so a plain SHA-256 cannot be brute-forced; a slow
    # password hash would only add milliseconds to every request.
    return hashlib.sha256(key.encode()).hexdigest()


@dataclass
class Journal:
    url: str
    _local: threading.local = field(default_factory=threading.local, repr=False)

    def __post_init__(self) -> None:
        self.postgres = self.url.startswith(("postgresql://", "postgres://"))
        if not self.postgres:
            self.path = Path(self.url.removeprefix("sqlite:///").removeprefix("sqlite://"))
            self.path.parent.mkdir(parents=True, exist_ok=True)
        conn = self.conn()
        for stmt in SCHEMA:
            self._run(conn, [(stmt, ())])

    # -- connections: one per thread, reused ---------------------------------------------
    def conn(self) -> Any:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._connect()
            self._local.conn = conn
        return conn

    def _connect(self) -> Any:
        if self.postgres:
            import psycopg

            try:
                return psycopg.connect(self.url, connect_timeout=5)
            except psycopg.OperationalError as err:
                raise ValueError(f"cannot reach the journal database {self.url}: {err}") from None
        conn = sqlite3.connect(self.path, timeout=10)
        # WAL lets readers (dashboard, review) run beside the writer; synchronous=NORMAL
        # survives a killed process (the OS keeps the pages) though not a power cut.
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        return conn

    def reset(self) -> None:
        """Drop this thread's connection (after an error it may be unusable)."""
        conn = getattr(self._local, "conn", None)
        self._local.conn = None
        if conn is not None:
            try:
                conn.close()
            except Exception:
                pass

    def _sql(self, stmt: str) -> str:
        return stmt.replace("?", "%s") if self.postgres else stmt

    def _run(self, conn: Any, stmts: list[tuple[str, tuple[Any, ...]]]) -> list[int]:
        """Execute statements in one transaction; return each one's row count."""
        try:
            cur = conn.cursor()
            counts = []
            for stmt, args in stmts:
                cur.execute(self._sql(stmt), args)
                counts.append(cur.rowcount)
            conn.commit()
            return counts
        except Exception:
            conn.rollback()
            raise

    def execute(self, stmts: list[tuple[str, tuple[Any, ...]]]) -> list[int]:
        return self._run(self.conn(), stmts)

    def query(self, stmt: str, args: tuple[Any, ...] = ()) -> list[dict[str, Any]]:
        conn = self.conn()
        try:
            cur = conn.cursor()
            cur.execute(self._sql(stmt), args)
            names = [d[0] for d in cur.description]
            rows = [dict(zip(names, row, strict=True)) for row in cur.fetchall()]
            conn.commit()  # end the read transaction so the next read sees new rows
            return rows
        except Exception:
            conn.rollback()
            raise

    # -- exchanges ---------------------------------------------------------------------
    @staticmethod
    def exchange_statements(rec: dict[str, Any], review: str | None = None,
                            ) -> list[tuple[str, tuple[Any, ...]]]:
        values = tuple(_encode(rec.get(c)) for c in COLUMNS)
        stmts = [(_COMPLETE if rec.get("stream") else _INSERT, values)]
        if review and rec.get("status") == "complete":
            stmts.append(("INSERT INTO reviews (request_id, reason, status) VALUES (?, ?, ?) "
                          "ON CONFLICT (request_id) DO NOTHING",
                          (rec["request_id"], review, "pending")))
        return stmts

    def get(self, request_id: str) -> dict[str, Any] | None:
        rows = self.query("SELECT * FROM exchanges WHERE request_id = ?", (request_id,))
        return _decode(rows[0]) if rows else None

    def recent(self, limit: int = 50) -> list[dict[str, Any]]:
        rows = self.query("SELECT * FROM exchanges ORDER BY created DESC LIMIT ?", (limit,))
        return [_decode(r) for r in rows]

    def counts(self) -> dict[str, int]:
        rows = self.query("SELECT action, COUNT(*) AS n FROM exchanges "
                          "WHERE status = 'complete' GROUP BY action")
        out = {r["action"] or "allow": int(r["n"]) for r in rows}
        out["total"] = sum(out.values())
        return out

    def verdict_history(self, limit: int) -> list[list[dict[str, Any]]]:
        """The verdict lists of the last `limit` complete exchanges, oldest first."""
        rows = self.query("SELECT verdicts FROM exchanges WHERE status = 'complete' "
                          "ORDER BY created DESC LIMIT ?", (limit,))
        return [json.loads(r["verdicts"] or "[]") for r in reversed(rows)]

    # -- audit ------------------------------------------------------------------------
    def review_queue(self, status: str = "pending", limit: int = 50) -> list[dict[str, Any]]:
        rows = self.query(
            "SELECT r.reason, r.status AS review_status, r.note, e.* FROM reviews r "
            "JOIN exchanges e ON e.request_id = r.request_id WHERE r.status = ? "
            "ORDER BY e.created DESC LIMIT ?", (status, limit))
        return [_decode(r) for r in rows]

    def review(self, request_id: str, status: str, note: str = "") -> bool:
        if status not in REVIEW_STATUSES[1:]:
            raise ValueError(f"review status must be one of {REVIEW_STATUSES[1:]}, got {status!r}")
        n = self.execute([("UPDATE reviews SET status = ?, note = ?, reviewed_at = ? "
                           "WHERE request_id = ?", (status, note, time.time(), request_id))])
        return n[0] > 0

    def add_shadow(self, request_id: str, rows: list[dict[str, Any]]) -> None:
        self.execute([("INSERT INTO shadow VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT "
                       "(request_id, check_name, stage) DO NOTHING",
                       (request_id, r["check"], r["stage"], r["score"], r["action"],
                        r.get("detail", ""), time.time())) for r in rows])

    # -- keys and kill switch ------------------------------------------------------------
    def add_key(self, name: str, rpm: int = 60, tpm: int = 100_000) -> str:
        """Create a key; the plain key is returned once and only its hash is stored."""
        key = "al-" + secrets.token_urlsafe(32)
        try:
            self.execute([("INSERT INTO api_keys VALUES (?, ?, ?, ?, ?)",
                           (name, hash_key(key), rpm, tpm, time.time()))])
        except Exception as err:
            if "unique" in str(err).lower() or "duplicate" in str(err).lower():
                raise ValueError(f"an API key named {name!r} exists already") from None
            raise
        return key

    def remove_key(self, name: str) -> bool:
        return self.execute([("DELETE FROM api_keys WHERE name = ?", (name,))])[0] > 0

    def keys(self) -> dict[str, dict[str, Any]]:
        """key hash -> {name, rpm, tpm}."""
        rows = self.query("SELECT name, key_hash, rpm, tpm FROM api_keys")
        return {r["key_hash"]: {"name": r["name"], "rpm": r["rpm"], "tpm": r["tpm"]}
                for r in rows}

    def set_kill(self, scope: str, killed: bool, reason: str = "") -> None:
        """scope: 'global' or 'key:NAME'."""
        self.execute([("INSERT INTO control VALUES (?, ?, ?, ?) ON CONFLICT (scope) DO UPDATE "
                       "SET killed = excluded.killed, reason = excluded.reason, at = excluded.at",
                       (scope, int(killed), reason, time.time()))])

    def kill_state(self) -> dict[str, str]:
        """Scopes that are switched off -> the reason given."""
        rows = self.query("SELECT scope, reason FROM control WHERE killed = 1")
        return {r["scope"]: r["reason"] or "" for r in rows}


def _encode(value: Any) -> Any:
    return json.dumps(value) if isinstance(value, (list, dict)) else value


def _decode(row: dict[str, Any]) -> dict[str, Any]:
    row = dict(row)
    for col in ("request", "verdicts"):
        if isinstance(row.get(col), str):
            row[col] = json.loads(row[col])
    return row


class JournalWriter:
    """One thread that commits waiting records together; callers await their commit."""

    def __init__(self, journal: Journal, max_pending: int = 2048, batch: int = 256) -> None:
        self.journal = journal
        self.batch = batch
        self._queue: queue.Queue[Any] = queue.Queue(max_pending)
        self._thread = threading.Thread(target=self._loop, name="journal-writer", daemon=True)
        self._thread.start()

    async def write(self, stmts: list[tuple[str, tuple[Any, ...]]]) -> list[int]:
        """Commit the statements; raises `JournalUnavailable` rather than lose them."""
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[list[int]] = loop.create_future()
        try:
            self._queue.put_nowait((stmts, loop, fut))
        except queue.Full:
            raise JournalUnavailable("the journal cannot keep up; retry shortly") from None
        return await fut

    def _loop(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            items = [item]
            while len(items) < self.batch:
                try:
                    nxt = self._queue.get_nowait()
                except queue.Empty:
                    break
                if nxt is None:
                    self._queue.put(None)
                    break
                items.append(nxt)
            self._commit(items)

    def _commit(self, items: list[Any]) -> None:
        stmts = [s for stmts, _, _ in items for s in stmts]
        try:
            counts = self.journal.execute(stmts)
        except Exception as err:
            self.journal.reset()
            error = JournalUnavailable(f"journal write failed: {err}")
            for _, loop, fut in items:
                loop.call_soon_threadsafe(_set, fut, None, error)
            return
        pos = 0
        for stmts_i, loop, fut in items:
            loop.call_soon_threadsafe(_set, fut, counts[pos:pos + len(stmts_i)], None)
            pos += len(stmts_i)

    def close(self) -> None:
        self._queue.put(None)
        self._thread.join(timeout=10)


def _set(fut: asyncio.Future[Any], result: Any, error: BaseException | None) -> None:
    if fut.done():
        return
    if error is not None:
        fut.set_exception(error)
    else:
        fut.set_result(result)
