"""An interrupted run resumes where it stopped: nothing lost, nothing sent twice."""

from __future__ import annotations

import json

import pytest

from alignlab.models.mock import load_mock
from alignlab.redteam.runner import RedteamConfig, run_redteam

CONFIG = RedteamConfig(suites=("harmful", "overrefusal", "sycophancy"),
                       attacks=("direct", "converters"), per_category=2, limit=6,
                       attack_per_category=1, converters=("roleplay",), batch_size=4,
                       bootstrap=200)


class Crashing:
    """Wraps a target and raises after `calls` generate calls (a crash mid-run)."""

    def __init__(self, lm, calls):
        self.lm, self.calls, self.name = lm, calls, lm.name

    def generate(self, prompts, params=None):
        if self.calls == 0:
            raise KeyboardInterrupt
        self.calls -= 1
        return self.lm.generate(prompts, params)


def test_resumed_run_matches_an_uninterrupted_one(tmp_path, mock_file, rule_judges):
    full, _ = run_redteam(CONFIG, tmp_path / "full", lm=load_mock(mock_file), judges=rule_judges)

    out = tmp_path / "resumed"
    with pytest.raises(KeyboardInterrupt):
        run_redteam(CONFIG, out, lm=Crashing(load_mock(mock_file), 3), judges=rule_judges)
    stored = (out / "transcripts.jsonl").read_text().splitlines()
    assert len(stored) == 12                              # three batches of four, committed

    lm = load_mock(mock_file)
    resumed, _ = run_redteam(CONFIG, out, lm=lm, judges=rule_judges)
    total = len((tmp_path / "full" / "transcripts.jsonl").read_text().splitlines())
    assert len(lm.seen) == total - 12                     # only the missing probes were sent
    lines = (out / "transcripts.jsonl").read_text().splitlines()
    keys = [json.loads(line)["key"] for line in lines]
    assert len(keys) == len(set(keys)) == total
    for k in ("asr_raw", "asr_corrected", "overrefusal_rate", "sycophancy_flip_rate"):
        assert resumed[k] == pytest.approx(full[k])
