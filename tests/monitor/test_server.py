"""The proxy end to end in process: actions and verdicts, streaming windows, idempotent
ids, keys, rate limits, kill switch, shadow judges, and bad input over HTTP."""

from __future__ import annotations

import json
import time

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from monitor_helpers import chat

from alignlab.monitor.journal import Journal


def stream_text(client, body, headers=None):
    """(released content, events) of a streamed request."""
    with client.stream("POST", "/v1/chat/completions", json=body, headers=headers) as r:
        assert r.status_code == 200
        events = [json.loads(line[6:]) for line in r.iter_lines()
                  if line.startswith("data: ") and line != "data: [DONE]"]
    text = "".join(e["choices"][0]["delta"].get("content", "") for e in events if "choices" in e)
    return text, events


def test_allow_flag_redact_and_block_with_verdicts(make_client, files):
    c = make_client()
    r = c.post("/v1/chat/completions", json=chat("hello"))
    assert r.status_code == 200 and r.json()["alignlab"]["action"] == "allow"
    assert {v["check"] for v in r.json()["alignlab"]["verdicts"]} >= {"pii", "weapons"}
    assert c.post("/v1/chat/completions", json=chat("a watchword")).json()["alignlab"][
        "action"] == "flag"
    r = c.post("/v1/chat/completions", json=chat("contact?"))
    assert r.json()["choices"][0]["message"]["content"] == (
        "You can reach Bob at [REDACTED:EMAIL] or call [REDACTED:PHONE].")
    r = c.post("/v1/chat/completions", json=chat("how to make a pipe bomb"))
    assert r.status_code == 400 and r.json()["error"]["code"] == "content_blocked"
    assert "weapons" in r.json()["error"]["message"]
    r = c.post("/v1/chat/completions", json=chat("my key is sk-abcdefghijklmnopqrstuvwx1234"))
    assert r.status_code == 200
    journal = Journal(files["db"])
    assert journal.counts() == {"allow": 1, "flag": 1, "redact": 2, "block": 1, "total": 5}
    stored = journal.get(r.json()["alignlab"]["request_id"])
    assert "sk-abc" not in json.dumps(stored["request"])  # redacted before journal and upstream
    reasons = {row["reason"] for row in journal.review_queue()}
    assert {"blocked", "flagged"} <= reasons


def test_phrase_blocked_mid_stream_never_reaches_the_client(make_client, files):
    c = make_client()
    text, events = stream_text(c, chat("tell me the secret plan", stream=True))
    phrase = "secret plan"
    assert text.startswith("Sure, here it is.")  # earlier windows were released...
    # ...but not one character of the phrase: no prefix of it ends the released text.
    assert phrase not in text and not any(text.endswith(phrase[:k]) for k in range(1, 12))
    assert events[-1]["error"]["code"] == "content_blocked"
    row = Journal(files["db"]).get(events[-1]["alignlab"]["request_id"])
    assert row["action"] == "block" and row["response"] == text


def test_clean_stream_ends_with_verdicts_and_is_journaled_first(make_client, files):
    c = make_client()
    text, events = stream_text(c, chat("hello", stream=True))
    assert text == "Hello! I am a scripted model and I am happy to help with that question today."
    assert len([e for e in events if e["choices"][0]["delta"].get("content")]) > 2
    final = events[-1]
    assert final["choices"][0]["finish_reason"] == "stop"
    assert final["alignlab"]["action"] == "allow"
    row = Journal(files["db"]).get(final["alignlab"]["request_id"])
    assert row["status"] == "complete" and row["response"] == text


def test_request_ids_are_idempotent(make_client, files):
    c = make_client()
    h = {"X-Request-Id": "retry-1"}
    first = c.post("/v1/chat/completions", json=chat("hello"), headers=h)
    again = c.post("/v1/chat/completions", json=chat("something else"), headers=h)
    assert again.headers["x-alignlab-replay"] == "1"
    assert again.json()["choices"] == first.json()["choices"]
    assert Journal(files["db"]).counts()["total"] == 1
    bad = c.post("/v1/chat/completions", json=chat("x"), headers={"X-Request-Id": "a b"})
    assert bad.status_code == 400


def answering(workers, status: int, headers=None, within: float = 10.0) -> set[int]:
    """Indices of the workers seen answering `status` before the deadline (generous: the
    switch needs one 250 ms poll, but a shared CPU may stall)."""
    start, seen = time.monotonic(), set()
    while len(seen) < len(workers) and time.monotonic() - start < within:
        for i, w in enumerate(workers):
            if w.post("/v1/chat/completions", json=chat("hi"),
                      headers=headers).status_code == status:
                seen.add(i)
    return seen


def test_keys_rate_limits_and_kill_switch(make_client, files):
    journal = Journal(files["db"])
    key = journal.add_key("team", rpm=2, tpm=10_000)
    c = make_client(auth=True, poll_ms=50)
    assert c.post("/v1/chat/completions", json=chat("hi")).json()["error"]["code"] == \
        "missing_api_key"
    r = c.post("/v1/chat/completions", json=chat("hi"), headers={"Authorization": "Bearer no"})
    assert r.status_code == 401 and r.json()["error"]["code"] == "invalid_api_key"
    auth = {"Authorization": f"Bearer {key}"}
    assert [c.post("/v1/chat/completions", json=chat("hi"), headers=auth).status_code
            for _ in range(3)] == [200, 200, 429]
    journal.set_kill("key:team", True, "incident 7")
    assert answering([c], 503, headers=auth) == {0}
    r = c.post("/v1/chat/completions", json=chat("hi"), headers=auth)
    assert r.status_code == 503 and "incident 7" in r.json()["error"]["message"]


def test_kill_switch_reaches_every_worker(make_client):
    # The 1-second goal is timed by benchmarks/monitor_latency.py (about 250 ms, one poll);
    # a test on a shared CPU only checks that every worker follows the journal, both ways.
    workers = [make_client(poll_ms=250) for _ in range(3)]  # three apps, one journal
    workers[0].post("/admin/kill", json={"scope": "global", "on": True, "reason": "drill"})
    assert answering(workers, 503) == {0, 1, 2}
    workers[1].post("/admin/kill", json={"scope": "global", "on": False})
    assert answering(workers, 200) == {0, 1, 2}


def test_shadow_judge_is_logged_and_can_trip_the_kill_switch(make_client, files, tmp_path):
    (tmp_path / "judge.yaml").write_text('- match: "dislike"\n  reply: "unsafe"\n'
                                         '- reply: "safe"\n')
    (tmp_path / "shadow.yaml").write_text(
        "checks:\n  - name: judge\n    kind: judge\n    stages: output\n"
        f"    target: mock:{tmp_path / 'judge.yaml'}\n    trip_kill_switch: true\n")
    c = make_client(policy=str(tmp_path / "shadow.yaml"))
    r = c.post("/v1/chat/completions", json=chat("hello"))
    assert r.status_code == 200 and r.json()["alignlab"]["verdicts"] == []  # not in the way
    r = c.post("/v1/chat/completions", json=chat("judge me"))
    assert r.status_code == 200
    journal = Journal(files["db"])
    for _ in range(100):
        if journal.kill_state():
            break
        time.sleep(0.05)
    rows = journal.query("SELECT check_name, verdict FROM shadow ORDER BY at")
    assert rows == [{"check_name": "judge", "verdict": "allow"},
                    {"check_name": "judge", "verdict": "block"}]
    assert "judge" in journal.kill_state()["global"]
    assert c.post("/v1/chat/completions", json=chat("hello")).status_code == 503


def test_bad_input_over_http_gets_4xx_and_the_server_stays_up(make_client):
    c = make_client(max_body_kb=1)
    cases = [b"{oops", b"\xc3\x28", b'{"model": 1}', b"x" * 5000, b"",
             json.dumps(chat(5)).encode()]
    for raw in cases:
        r = c.post("/v1/chat/completions", content=raw)
        assert 400 <= r.status_code < 500 and r.json()["error"]["message"], raw[:20]
    assert c.post("/v1/chat/completions", json=chat("hello")).status_code == 200
    assert c.get("/v1/models").json()["data"][0]["object"] == "model"


HTTP_CASES = {"n": 0}


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(raw=st.binary(max_size=300) | st.dictionaries(
    st.sampled_from(["model", "messages", "stream", "max_tokens", "stop"]),
    st.none() | st.integers() | st.text(max_size=20) | st.lists(st.text(max_size=5),
                                                                  max_size=2)).map(
    lambda d: json.dumps(d).encode()))
def _fuzz_http(client, raw):
    HTTP_CASES["n"] += 1
    assert client.post("/v1/chat/completions", content=raw).status_code < 500


def test_fuzz_over_http_never_gives_5xx(make_client):
    c = make_client()
    _fuzz_http(c)
    print(f"HTTP fuzz: {HTTP_CASES['n']} bodies, no 5xx")
    assert c.post("/v1/chat/completions", json=chat("hello")).status_code == 200
