import numpy as np

from alignlab.oversight import rrm as R


class GoldRM:
    def predict(self, feats):
        return (feats[:, :-1].sum(1) == feats[:, -1]).astype(int)


def test_direct_labels_exact_within_capacity_noisy_beyond():
    cfg = R.RRMConfig(capacity=2, noise=1.5)
    rng = np.random.default_rng(0)
    x, c, gold = R.make_tasks(1, 500, rng)
    assert np.array_equal(R.direct_labels(x, c, cfg, rng), gold)
    x, c, gold = R.make_tasks(4, 500, rng)
    assert (R.direct_labels(x, c, cfg, rng) == gold).mean() < 0.8


def test_assisted_labels_exact_with_perfect_helper_and_lower_rm():
    cfg = R.RRMConfig(helper_error=0.0)
    rng = np.random.default_rng(1)
    x, c, gold = R.make_tasks(3, 500, rng)
    assert np.array_equal(R.assisted_labels(x, c, cfg, rng, GoldRM()), gold)
    x, c, gold = R.make_tasks(1, 200, rng)
    assert np.array_equal(R.assisted_labels(x, c, cfg, rng, None), gold)


def test_recursion_reports_every_depth():
    cfg = R.RRMConfig(depths=(1, 2), train_size=100, test_size=50, hidden=4)
    out = R.run_recursion(cfg, seed=0)
    assert all(len(v) == 2 for v in out.values())
    assert out["label_acc_direct"][0] == 1.0
