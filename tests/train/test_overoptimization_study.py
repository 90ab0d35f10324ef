"""The overoptimization study end to end at the smoke budget."""

from __future__ import annotations

import json

from alignlab.studies.overoptimization import STUDY

CONTRACT = ("bon_fit_r2", "rl_fit_r2", "gold_peak_drop", "sycophancy_rate_initial",
            "sycophancy_rate_max_kl", "ensemble_drop_reduction", "dpo_gold_gain", "dpo_kl")


def test_smoke_run_writes_the_contract(tmp_path, monkeypatch):
    monkeypatch.setenv("ALIGNLAB_CACHE", str(tmp_path / "cache"))
    result = STUDY.run("smoke", tmp_path / "run", 0)
    written = json.loads((tmp_path / "run" / "result.json").read_text())
    assert written["study"] == "overoptimization" and written["budget"] == "smoke"
    for key in CONTRACT:
        assert key in written["metrics"], key
    assert 0.0 <= written["metrics"]["sycophancy_rate_initial"] <= 1.0
    # the ensemble is judged against each of its members as a single RM
    assert len(written["metrics"]["single_rm_drops"]) == 2   # smoke: ensemble_k=2
    for name in ("gold_proxy_vs_kl", "hacking_modes_vs_kl", "ensembles", "coefficients_vs_scale"):
        assert (tmp_path / "run" / "figures" / f"{name}.png").exists()
    assert result.sections and (tmp_path / "run" / "report.html").exists()
