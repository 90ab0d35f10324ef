import numpy as np
import pytest

from alignlab.oversight import prm as P


class FixedStepModel:
    """Returns a fixed P(correct) per step, in order of the rows it is given."""

    def __init__(self, probs):
        self.probs = np.array(probs)

    def predict_proba(self, x):
        assert len(x) == len(self.probs)
        return np.column_stack([1 - self.probs, self.probs])


def test_prm_score_is_product_of_step_probabilities():
    sols = [P.Solution([(2, "+", 3, 5), (5, "*", 2, 10)]),
            P.Solution([(2, "+", 3, 5), (5, "*", 2, 11), (11, "-", 1, 10)])]
    model = FixedStepModel([0.9, 0.5, 0.8, 0.25, 0.5])
    scores = P.prm_scores(model, sols)
    assert scores == pytest.approx([0.9 * 0.5, 0.8 * 0.25 * 0.5])


def test_prm_labels_stop_after_first_error():
    sol = P.Solution([(2, "+", 3, 5), (5, "*", 2, 11), (11, "-", 1, 10)])
    labels = P.gold_step_labels(sol)
    assert labels == [True, False, True]
    x, y = P.prm_training_set([sol], [labels])
    assert list(y) == [1, 0] and len(x) == 2
    assert P.first_error(sol) == 1


def test_generator_makes_compensating_errors():
    cfg = P.GeneratorConfig(compensate=1.0)
    rng = np.random.default_rng(0)
    problem = P.Problem(5, [("+", 3), ("*", 2), ("-", 4), ("+", 7)])
    truth = problem.values()[-1]
    sols = [P.generate(problem, 0.3, cfg, rng) for _ in range(300)]
    compensated = [s for s in sols if s.answer == truth and P.first_error(s) is not None]
    assert compensated, "a wrong step followed by a jump back to the true value"
    clean = P.generate(problem, 0.0, cfg, rng)
    assert clean.answer == truth and P.first_error(clean) is None


def test_monte_carlo_labels_without_slips_match_gold():
    cfg = P.GeneratorConfig(compensate=0.0)
    problem = P.Problem(5, [("+", 3), ("*", 2), ("-", 4)])
    # Step 2 slips (16 -> 17); rollouts that never slip cannot recover.
    sol = P.Solution([(5, "+", 3, 8), (8, "*", 2, 17), (17, "-", 4, 13)])
    labels = P.mc_step_labels(problem, sol, 0.0, cfg, rollouts=3,
                              rng=np.random.default_rng(0))
    assert labels == [1.0, 0.0, 0.0]


def test_majority_answer():
    assert P.majority_answer(np.array([3, 5, 5, 7]), np.random.default_rng(0)) == 5
