"""The baseline audit section end to end on the embedded model, smoke budget."""

from __future__ import annotations

import json

import pytest


@pytest.mark.embedded
@pytest.mark.slow  # loads SmolLM2 and runs every part; the default suite stays fast
def test_audit_study_smoke(tmp_path):
    from alignlab.studies import all_studies

    study = all_studies()["audit"]
    result = study.run("smoke", tmp_path / "audit", 0)
    m = json.loads((tmp_path / "audit" / "result.json").read_text())["metrics"]
    for key in ("asr_raw", "asr_corrected", "asr_ci_low", "asr_ci_high", "overrefusal_rate",
                "sycophancy_flip_rate", "judge_sensitivity", "judge_specificity", "adaptive_asr",
                "gcg_asr"):
        assert key in m, key
    assert m["adaptive_asr"] >= m["adaptive_direct_asr"]   # round 0 of PAIR is the direct ask
    assert result.sections and (tmp_path / "audit" / "report.html").exists()
