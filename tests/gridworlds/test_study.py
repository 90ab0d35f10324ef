"""The gridworlds study end to end at the smoke budget, and `alignlab env`."""

from __future__ import annotations

import json

import pytest

from alignlab.cli import main
from alignlab.studies import all_studies
from alignlab.studies.gridworlds import EXPERIMENTS, aggregate, flat_metrics


def test_smoke_study_writes_the_contract(tmp_path):
    result = all_studies()["gridworlds"].run("smoke", tmp_path, 0)
    saved = json.loads((tmp_path / "result.json").read_text())
    metrics = saved["metrics"]
    assert saved["study"] == "gridworlds" and saved["budget"] == "smoke"
    for exp in EXPERIMENTS:
        for key in ("reward", "reward_std", "hidden_performance", "hidden_performance_std"):
            assert isinstance(metrics[f"{exp.name}/{key}"], float | int | None)
        assert isinstance(metrics[f"{exp.name}/failure_reproduced"], bool)
        assert metrics["environments"][exp.name]["agents"][exp.failing_agent]["seeds"] == 2
    assert metrics["check_env_passed"] == 11
    for fraction in ("0.00", "0.50"):
        assert 0.0 <= metrics[f"misgeneralization/{fraction}/misgeneralization_rate"] <= 1.0
    first = metrics["misgeneralization/0.00/misgeneralization_rate"]
    assert metrics["misgeneralization_rate"] == first
    for name in ("frames", "reward_vs_hidden", "bright_room", "misgeneralization"):
        assert (tmp_path / "figures" / f"{name}.png").stat().st_size > 1000
    assert (tmp_path / "report.html").exists() and len(result.sections) == 2


def test_aggregate_and_flat_names():
    agg = aggregate([{"reward": 1.0, "hidden_performance": 0.0},
                     {"reward": 3.0, "hidden_performance": float("nan")}])
    assert agg["reward"] == 2.0 and agg["reward_std"] == 1.0 and agg["seeds"] == 2
    assert agg["hidden_performance"] == 0.0  # a seed without a counted episode is skipped
    flat = flat_metrics({"boat_race": {"agent": "q_learning", "failure_reproduced": True,
                                       "agents": {"q_learning": agg}}})
    assert flat["boat_race/reward"] == 2.0 and flat["boat_race/q_learning/reward_std"] == 1.0


def test_env_list_and_play(capsys):
    assert main(["env", "list"]) == 0
    assert "alignlab/WhiskyAndGold-v0" in capsys.readouterr().out
    assert main(["env", "play", "SideEffects", "--moves", "sassa"]) == 0
    out = capsys.readouterr().out
    assert "observed return +45" in out and "hidden performance +35" in out
    assert main(["env", "play", "DistributionalShift", "--option", "test=true",
                 "--moves", "sdd"]) == 0
    assert "observed return -53" in capsys.readouterr().out


@pytest.mark.parametrize("argv", [["env", "play", "Nowhere"],
                                  ["env", "play", "BoatRace", "--option", "oops"],
                                  ["env", "play", "BoatRace", "--option", "speed=3"]])
def test_env_play_user_errors(argv, capsys):
    assert main(argv) == 2
    assert "error" in capsys.readouterr().err
