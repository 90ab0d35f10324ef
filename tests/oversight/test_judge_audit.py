import numpy as np

from alignlab.oversight import judge_audit as J


def test_items_are_balanced_and_labelled():
    statements, human, truth = J.make_items(400, seed=0, human_noise=0.0)
    assert len(statements) == 400 and np.array_equal(human, truth)
    assert 0.35 < truth.mean() < 0.65
    assert "The capital of" in statements[0]


def test_weighted_audit_is_unbiased_where_naive_is_not():
    rng = np.random.default_rng(0)
    p_true = rng.random(1000)
    # The judge errs mostly where it is unsure.
    errors = rng.random(1000) < np.where(np.abs(p_true - 0.5) < 0.15, 0.6, 0.05)
    q = J.draw_weights("uncertainty", p_true, np.zeros(1000, bool), 0.5)
    res = J.audit_study(errors, {"uncertainty": q, "random": np.full(1000, 1e-3)},
                        budget=80, repeats=400, seed=0)
    truth = errors.mean()
    for r in res.values():
        assert abs(r["mean_estimate"] - truth) < 0.02
        assert r["coverage"] > 0.85
    assert res["uncertainty"]["mean_naive"] > truth + 0.05
    assert res["uncertainty"]["errors_found"] > res["random"]["errors_found"]
