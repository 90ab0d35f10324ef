"""The journal on SQLite and on a real PostgreSQL server: rows, idempotent ids, reviews,
hashed keys, kill switch, and 503 (never a dropped record) when it cannot keep up."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

from alignlab.monitor.journal import Journal, JournalUnavailable, JournalWriter, hash_key


@pytest.fixture(params=["sqlite", "postgres"])
def journal(request, tmp_path):
    if request.param == "sqlite":
        return Journal(str(tmp_path / "j.db"))
    url = request.getfixturevalue("pg_url")
    j = Journal(url)
    j.execute([(f"DELETE FROM {t}", ()) for t in
               ("exchanges", "reviews", "shadow", "api_keys", "control")])
    return j


def rec(rid, **kw):
    base = {"request_id": rid, "created": time.time(), "key_name": "k", "model": "m",
            "stream": 0, "status": "complete", "http_status": 200, "action": "allow",
            "request": [{"role": "user", "content": "hi ünïcode"}], "response": "hello",
            "verdicts": [{"check": "pii", "action": "allow"}], "prompt_tokens": 1,
            "completion_tokens": 2, "latency_ms": 1.5}
    return {**base, **kw}


async def write_all(journal, records, review=None):
    writer = JournalWriter(journal)
    try:
        return await asyncio.gather(*(writer.write(Journal.exchange_statements(r, review))
                                      for r in records))
    finally:
        writer.close()


def test_rows_round_trip_and_ids_are_idempotent(journal):
    counts = asyncio.run(write_all(journal, [rec("a"), rec("b"), rec("a", response="other")]))
    assert [c[0] for c in counts] == [1, 1, 0]
    row = journal.get("a")
    assert row["response"] == "hello" and row["request"][0]["content"] == "hi ünïcode"
    assert journal.counts() == {"allow": 2, "total": 2}


def test_a_stream_row_opens_then_completes_once(journal):
    asyncio.run(write_all(journal, [rec("s", stream=1, status="open", action="open")]))
    asyncio.run(write_all(journal, [rec("s", stream=1, response="done")]))
    asyncio.run(write_all(journal, [rec("s", stream=1, response="late duplicate")]))
    assert journal.get("s")["response"] == "done"


def test_review_queue_and_decisions(journal):
    asyncio.run(write_all(journal, [rec("x", action="block", response="")], review="blocked"))
    (item,) = journal.review_queue()
    assert item["request_id"] == "x" and item["reason"] == "blocked"
    assert journal.review("x", "overturned", "false positive")
    assert journal.review_queue() == [] and len(journal.review_queue("overturned")) == 1
    with pytest.raises(ValueError, match="review status"):
        journal.review("x", "maybe")


def test_keys_are_stored_hashed_and_kill_switch_scopes(journal):
    key = journal.add_key("team-a", rpm=5, tpm=100)
    stored = journal.query("SELECT * FROM api_keys")
    assert key not in repr(stored) and stored[0]["key_hash"] == hash_key(key)
    assert journal.keys()[hash_key(key)] == {"name": "team-a", "rpm": 5, "tpm": 100}
    with pytest.raises(ValueError, match="exists already"):
        journal.add_key("team-a")
    journal.set_kill("key:team-a", True, "abuse")
    journal.set_kill("global", True)
    journal.set_kill("global", False)
    assert journal.kill_state() == {"key:team-a": "abuse"}


def test_full_queue_answers_unavailable_instead_of_dropping(tmp_path):
    journal = Journal(str(tmp_path / "j.db"))
    gate = threading.Event()
    real = journal.execute
    journal.execute = lambda stmts: (gate.wait(10), real(stmts))[1]  # a stalled database
    writer = JournalWriter(journal, max_pending=2, batch=1)

    async def flood():
        tasks = [asyncio.ensure_future(writer.write(Journal.exchange_statements(rec(f"r{i}"))))
                 for i in range(8)]
        await asyncio.sleep(0.2)
        gate.set()
        return await asyncio.gather(*tasks, return_exceptions=True)

    results = asyncio.run(flood())
    writer.close()
    refused = [r for r in results if isinstance(r, JournalUnavailable)]
    written = [r for r in results if not isinstance(r, BaseException)]
    assert refused and written and len(refused) + len(written) == 8
    assert journal.counts()["total"] == len(written)  # every accepted record is there


def test_database_errors_surface_as_unavailable(tmp_path):
    journal = Journal(str(tmp_path / "j.db"))
    journal.execute = lambda stmts: (_ for _ in ()).throw(OSError("disk full"))
    writer = JournalWriter(journal)
    with pytest.raises(JournalUnavailable, match="disk full"):
        asyncio.run(writer.write(Journal.exchange_statements(rec("z"))))
    writer.close()
