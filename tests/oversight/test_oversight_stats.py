import numpy as np
import pytest

from alignlab.oversight.stats import cohen_kappa, wilson


def test_kappa_hand_worked_two_by_two():
    # 50 items: both yes 20, both no 15, A yes/B no 5, A no/B yes 10.
    # p_o = 35/50 = 0.7; P(A yes) = 0.5, P(B yes) = 0.6; p_e = 0.5*0.6 + 0.5*0.4 = 0.5
    # kappa = (0.7 - 0.5) / (1 - 0.5) = 0.4
    a = [1] * 20 + [0] * 15 + [1] * 5 + [0] * 10
    b = [1] * 20 + [0] * 15 + [0] * 5 + [1] * 10
    assert cohen_kappa(a, b) == pytest.approx(0.4)


def test_kappa_perfect_and_chance():
    assert cohen_kappa([0, 1, 1, 0], [0, 1, 1, 0]) == pytest.approx(1.0)
    # Agreement exactly at chance level gives zero.
    assert cohen_kappa([1, 1, 0, 0], [1, 0, 1, 0]) == pytest.approx(0.0)


def test_wilson_known_value():
    lo, hi = wilson(5, 10)
    assert lo == pytest.approx(0.2366, abs=1e-4)
    assert hi == pytest.approx(0.7634, abs=1e-4)
    lo, hi = wilson(0, 20)
    assert lo == 0.0 and 0.1 < hi < 0.2
    assert np.isclose(sum(wilson(3, 10)) / 2, sum(wilson(3, 10)) / 2)
