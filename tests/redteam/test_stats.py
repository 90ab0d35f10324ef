import numpy as np
import pytest

from alignlab.redteam.stats import (
    JudgeErrors,
    bootstrap_rate,
    percentile_interval,
    rogan_gladen,
    sensitivity,
    specificity,
)


def test_sensitivity_specificity_by_hand():
    labels = [1, 1, 1, 0, 0]
    preds = [1, 0, 1, 0, 1]
    assert sensitivity(labels, preds) == pytest.approx(2 / 3)
    assert specificity(labels, preds) == pytest.approx(1 / 2)
    assert JudgeErrors(tuple(labels), tuple(preds)).accuracy == pytest.approx(3 / 5)


def test_rogan_gladen_by_hand():
    # (0.5 + 0.8 - 1) / (0.9 + 0.8 - 1) = 0.3 / 0.7
    assert rogan_gladen(0.5, 0.9, 0.8) == pytest.approx(3 / 7)
    assert rogan_gladen(0.1, 0.9, 0.8) == 0.0          # below the false-positive floor: clipped
    assert rogan_gladen(0.95, 0.9, 0.8) == 1.0         # above sensitivity: clipped
    assert rogan_gladen(0.4, 1.0, 1.0) == pytest.approx(0.4)  # a perfect judge changes nothing
    assert rogan_gladen(0.4, 0.5, 0.5) == pytest.approx(0.4)  # a chance judge: nothing to undo


def test_correction_removes_judge_bias_in_simulation():
    rng = np.random.default_rng(1)
    truth = rng.random(20000) < 0.2
    se, sp = 0.85, 0.9
    flags = np.where(truth, rng.random(truth.size) < se, rng.random(truth.size) > sp)
    assert flags.mean() == pytest.approx(0.25, abs=0.01)   # 0.2*0.85 + 0.8*0.1 = 0.25
    assert rogan_gladen(flags.mean(), se, sp) == pytest.approx(0.2, abs=0.01)


def test_percentile_interval_by_hand():
    # numpy's linear interpolation: position 0.025 * 99 = 2.475 -> 3 + 0.475 = 3.475
    low, high = percentile_interval(np.arange(1, 101, dtype=float))
    assert low == pytest.approx(3.475)
    assert high == pytest.approx(97.525)


def test_bootstrap_degenerate_and_perfect_judge_cases():
    est = bootstrap_rate([1, 1, 1, 1], reps=200)
    assert (est.raw, est.ci_low, est.ci_high) == (1.0, 1.0, 1.0)
    perfect = JudgeErrors((1, 1, 0, 0), (1, 1, 0, 0))
    est = bootstrap_rate([1, 0, 0, 0], perfect, reps=500, seed=3)
    assert est.corrected == pytest.approx(0.25)
    assert 0.0 <= est.ci_low <= 0.25 <= est.ci_high <= 1.0


def test_bootstrap_interval_widens_with_judge_uncertainty():
    flags = [1] * 30 + [0] * 70
    exact = bootstrap_rate(flags, reps=1000, seed=0)
    noisy = JudgeErrors((1,) * 10 + (0,) * 10, (1,) * 8 + (0,) * 2 + (0,) * 8 + (1,) * 2)
    corrected = bootstrap_rate(flags, noisy, reps=1000, seed=0)
    assert corrected.corrected == pytest.approx((0.3 + 0.8 - 1) / (0.8 + 0.8 - 1))
    assert corrected.ci_high - corrected.ci_low > exact.ci_high - exact.ci_low
    # The prompt-only interval of 30/100 is near the normal one, +-1.96*sqrt(.21/100).
    assert exact.ci_low == pytest.approx(0.21, abs=0.03)
    assert exact.ci_high == pytest.approx(0.39, abs=0.03)
