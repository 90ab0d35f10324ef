"""End to end at the smoke budget: each study writes result.json with its contract metrics."""

import json

import pytest

from alignlab.studies import all_studies

CONTRACT = {
    "debate": ["judge_acc_random_k2", "judge_acc_debate_k2", "judge_acc_precommit_k2"],
    "prm": ["prm_bon_acc", "orm_bon_acc", "majority_acc", "prm_minus_orm",
            "trace_error_outcome", "trace_error_process"],
    "rrm": ["rm_acc_direct_by_depth", "rm_acc_assisted_by_depth"],
    "debate-lm": ["acc_naive", "acc_consultancy", "acc_debate"],
    "judge-audit": ["kappa", "estimated_error", "estimated_error_ci", "ci_covers_true_error"],
}


def check(name, tmp_path):
    result = all_studies()[name].run("smoke", tmp_path / name, 0)
    written = json.loads((tmp_path / name / "result.json").read_text())
    for key in CONTRACT[name]:
        assert key in result.metrics and key in written["metrics"]
    assert (tmp_path / name / "report.html").exists()
    return result.metrics


@pytest.mark.parametrize("name", ["debate", "prm", "rrm"])
def test_study_smoke(name, tmp_path):
    metrics = check(name, tmp_path)
    if name == "rrm":
        assert len(metrics["rm_acc_direct_by_depth"]) == 2


@pytest.mark.embedded
def test_debate_lm_smoke_on_embedded(tmp_path):
    metrics = check("debate-lm", tmp_path)
    assert 0.0 <= metrics["acc_debate"] <= 1.0


@pytest.mark.embedded
def test_judge_audit_smoke_on_embedded(tmp_path):
    metrics = check("judge-audit", tmp_path)
    lo, hi = metrics["estimated_error_ci"]
    assert lo <= metrics["estimated_error"] <= hi
