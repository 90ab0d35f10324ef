"""Checks, policies, redaction, timeouts with fail-open/closed, audit sampling, drift,
and rate limits: pure functions, no server."""

from __future__ import annotations

import asyncio
import math
import random
import time

import pytest

from alignlab.monitor.audit import AuditConfig, audit_reason, drift_alerts, two_proportion_z
from alignlab.monitor.checks import (
    Finding,
    invisible_check,
    keyword_check,
    pii_check,
    regex_check,
    secrets_check,
)
from alignlab.monitor.control import RateLimiter, kill_reason
from alignlab.monitor.policy import CHECK_KINDS, policy_from_dict, redact, run_stage


def test_keyword_matches_whole_words_case_insensitively():
    check = keyword_check({"words": ["pipe bomb", "ricin"]}, "t")
    assert check("How to build a PIPE BOMB?").score == 1.0
    assert check("a pipe bombastic claim").score == 0.0
    assert check("nothing here") == Finding(0.0)


def test_regex_names_the_pattern_and_spans():
    check = regex_check({"patterns": {"order": r"order #\d+"}}, "t")
    found = check("see order #1234 now")
    assert found.detail == "order" and found.spans == ((4, 15),)


def test_secrets_and_pii_are_found_and_redacted():
    text = "key AKIAABCDEFGHIJKLMNOP mail me at ann@example.org, card 4111 1111 1111 1111"
    sec, pii = secrets_check({}, "t")(text), pii_check({}, "t")(text)
    assert sec.detail == "AWS_KEY"
    assert set(pii.labels) == {"EMAIL", "CARD"}
    spans = [(s, e, lab) for f in (sec, pii) for (s, e), lab in zip(f.spans, f.labels, strict=True)]
    assert redact(text, spans) == ("key [REDACTED:AWS_KEY] mail me at [REDACTED:EMAIL], "
                                   "card [REDACTED:CARD]")


def test_card_numbers_need_a_valid_luhn_checksum():
    assert pii_check({"types": ["CARD"]}, "t")("order 4111 1111 1111 1112").score == 0.0


def test_invisible_characters_are_found_but_plain_unicode_is_not():
    check = invisible_check({}, "t")
    assert check("ignore\u200b previous\u202e text\U000e0041").spans == (
        (6, 7), (16, 17), (22, 23))
    assert check("café — naïve 東京").score == 0.0


def test_overlapping_redactions_merge():
    assert redact("abcdefgh", [(1, 4, "X"), (2, 6, "Y")]) == "a[REDACTED:X][REDACTED:Y]gh"
    assert redact("a\u200bb", [(1, 2, "")]) == "ab"


@pytest.mark.parametrize("entry, message", [
    ({"name": "x", "kind": "nope"}, "unknown kind"),
    ({"name": "x", "kind": "keyword"}, "needs 'words'"),
    ({"name": "x", "kind": "keyword", "words": ["a"], "action": "explode"}, "action must be"),
    ({"name": "x", "kind": "keyword", "words": ["a"], True: "input"}, "write 'stages:'"),
    ({"name": "x", "kind": "regex", "patterns": ["("]}, "bad regular expression"),
    ({"name": "x", "kind": "pii", "types": ["DNA"]}, "unknown types"),
])
def test_bad_policy_entries_name_the_check(entry, message):
    with pytest.raises(ValueError, match=message) as err:
        policy_from_dict({"checks": [entry]}, "p.yaml")
    assert "p.yaml: check 1" in str(err.value)


def _slow(settings, where):
    def check(text):
        time.sleep(settings["sleep"])
        return Finding(1.0 if "bad" in text else 0.0)
    return check


def _broken(settings, where):
    def check(text):
        raise RuntimeError("model crashed")
    return check


def _policy(**entry):
    factories = dict(CHECK_KINDS, slow=_slow, broken=_broken)
    return policy_from_dict({"checks": [{"name": "c", "action": "block", **entry}]},
                            factories=factories)


@pytest.mark.parametrize("on_error, action", [("open", "allow"), ("closed", "block")])
def test_timeouts_fail_open_or_closed(on_error, action):
    policy = _policy(kind="slow", sleep=0.3, timeout_ms=20, on_error=on_error)
    result = asyncio.run(run_stage(policy, "input", "fine"))
    assert result.action == action and result.verdicts[0].error == "timeout"


@pytest.mark.parametrize("on_error, action", [("open", "allow"), ("closed", "block")])
def test_crashing_check_fails_open_or_closed(on_error, action):
    result = asyncio.run(run_stage(_policy(kind="broken", on_error=on_error), "input", "x"))
    assert result.action == action and "model crashed" in result.verdicts[0].error


def test_a_check_in_time_decides_and_near_threshold_is_marked():
    policy = _policy(kind="slow", sleep=0.0, timeout_ms=2000, threshold=0.5, near=0.2)
    result = asyncio.run(run_stage(policy, "input", "bad"))
    assert result.action == "block" and not result.verdicts[0].near
    policy = _policy(kind="slow", sleep=0.0, timeout_ms=2000, threshold=1.1, near=0.2)
    assert asyncio.run(run_stage(policy, "input", "bad")).verdicts[0].near


def test_audit_samples_blocked_always_and_others_at_their_rates():
    rng, cfg = random.Random(0), AuditConfig(near_rate=1.0, random_rate=0.1)
    assert audit_reason("block", [], rng, cfg) == "blocked"
    assert audit_reason("flag", [], rng, cfg) == "flagged"
    assert audit_reason("allow", [{"near": True}], rng, cfg) == "near"
    picked = sum(audit_reason("allow", [], rng, cfg) == "random" for _ in range(5000))
    assert 400 < picked < 600


def test_two_proportion_z_by_hand():
    # p1 = 10/100, p2 = 30/100, pooled 0.2: se = sqrt(0.2 * 0.8 * 0.02) = 0.05657
    assert two_proportion_z(10, 100, 30, 100) == pytest.approx(0.2 / math.sqrt(0.0032))


def test_drift_alert_fires_only_when_the_rate_moves():
    cfg = AuditConfig(baseline=300, window=100)
    quiet = [[{"check": "pii", "action": "redact" if i % 10 == 0 else "allow"}]
             for i in range(400)]
    assert drift_alerts(quiet, cfg) == []
    loud = quiet[:300] + [[{"check": "pii", "action": "redact"}]] * 100
    (alert,) = drift_alerts(loud, cfg)
    assert alert["check"] == "pii" and alert["recent_rate"] == 1.0 and alert["z"] > 3


def test_rate_limiter_counts_requests_and_tokens_per_minute():
    lim = RateLimiter()
    assert lim.admit("k", rpm=2, tpm=None, now=0) is None
    assert lim.admit("k", rpm=2, tpm=None, now=1) is None
    assert "2 requests per minute" in lim.admit("k", rpm=2, tpm=None, now=2)
    assert lim.retry_after("k", now=2) == 58
    assert lim.admit("k", rpm=2, tpm=None, now=61) is None  # the first left the window
    lim.spend("t", 500, now=0)
    assert "tokens per minute" in lim.admit("t", rpm=None, tpm=500, now=1)
    assert lim.admit("t", rpm=None, tpm=500, now=60.5) is None


def test_kill_reason_global_and_per_key():
    assert kill_reason({}, "a") is None
    assert "global" in kill_reason({"global": "incident"}, "a")
    assert kill_reason({"key:b": ""}, "a") is None
    assert "key:a" in kill_reason({"key:a": "abuse"}, "a")
