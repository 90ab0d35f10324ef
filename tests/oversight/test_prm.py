import math

import numpy as np
import pytest
import torch

from alignlab.oversight import prm as P


class FixedStepNet:
    """Returns fixed step logits (B, S), whatever the batch."""

    def __init__(self, logits):
        self.logits = torch.tensor(logits)

    def __call__(self, batch):
        return self.logits


def logit(p):
    return math.log(p / (1 - p))


def test_score_is_product_of_step_probabilities_over_real_steps():
    sols = [P.Solution([(2, "+", 3, 5), (5, "*", 2, 10)]),
            P.Solution([(2, "+", 3, 5), (5, "*", 2, 11), (11, "-", 1, 10)])]
    batch = P.encode(sols)
    net = FixedStepNet([[logit(0.9), logit(0.5), logit(0.1), 0, 0, 0],    # third: padding
                        [logit(0.8), logit(0.25), logit(0.5), 0, 0, 0]])
    scores = np.exp(P.solution_scores(net, batch))
    assert scores == pytest.approx([0.9 * 0.5, 0.8 * 0.25 * 0.5], rel=1e-5)


def test_losses_by_hand():
    logits = torch.tensor([[logit(0.8), logit(0.5)]])
    mask = torch.tensor([[1.0, 1.0]])
    # ORM: P(solution right) = 0.4; a wrong answer costs -log(0.6).
    assert P.orm_loss(logits, mask, torch.tensor([0.0])).item() == pytest.approx(-math.log(0.6))
    assert P.orm_loss(logits, mask, torch.tensor([1.0])).item() == pytest.approx(-math.log(0.4))
    # PRM: only the labelled first step counts.
    loss = P.prm_loss(logits, torch.tensor([[1.0, 0.0]]), torch.tensor([[1.0, 0.0]]))
    assert loss.item() == pytest.approx(-math.log(0.8))


def test_prm_labels_stop_after_first_error():
    sol = P.Solution([(2, "+", 3, 5), (5, "*", 2, 11), (11, "-", 1, 10)])
    labels = P.gold_step_labels(sol)
    assert labels == [1.0, 0.0, 1.0]
    y, used = P.prm_targets([sol], [labels])
    assert used[0].tolist() == [1, 1, 0, 0, 0, 0] and y[0, :2].tolist() == [1, 0]
    assert P.first_error(sol) == 1


def test_dropped_carry():
    assert P.dropped_carry(47, "+", 38) == -10   # 7 + 8 carries
    assert P.dropped_carry(41, "+", 38) == 0
    assert P.dropped_carry(52, "-", 7) == 10     # 2 - 7 borrows
    assert P.dropped_carry(47, "*", 3) == -20    # 7 * 3 = 21 carries 2


def test_habit_repeats_one_wrong_answer_so_majority_fails():
    cfg = P.GeneratorConfig(compensate=0.0)
    problem = P.Problem(47, [("+", 38), ("-", 9), ("*", 2)])
    rng = np.random.default_rng(0)
    sols = [P.generate(problem, P.Solver(habit=0.8, slip=0.0), cfg, rng) for _ in range(64)]
    answers = np.array([s.answer for s in sols])
    assert P.majority_answer(answers, rng) != problem.values()[-1]
    assert (answers == problem.values()[-1]).any()  # the right answer is there to be found
    clean = P.generate(problem, P.Solver(0.0, 0.0), cfg, rng)
    assert clean.answer == problem.values()[-1] and P.first_error(clean) is None


def test_generator_makes_compensating_errors():
    cfg = P.GeneratorConfig(compensate=1.0)
    rng = np.random.default_rng(0)
    problem = P.Problem(47, [("+", 38), ("*", 2), ("-", 4), ("+", 7)])
    truth = problem.values()[-1]
    sols = [P.generate(problem, P.Solver(0.5, 0.2), cfg, rng) for _ in range(200)]
    compensated = [s for s in sols if s.answer == truth and P.first_error(s) is not None]
    assert compensated, "a wrong step followed by a jump back to the true value"


def test_monte_carlo_labels_without_mistakes_match_gold_and_stop():
    cfg = P.GeneratorConfig(compensate=0.0)
    problem = P.Problem(5, [("+", 3), ("*", 2), ("-", 4)])
    # Step 2 slips (16 -> 17); rollouts that never err cannot recover.
    sol = P.Solution([(5, "+", 3, 8), (8, "*", 2, 17), (17, "-", 4, 13)])
    labels = P.mc_step_labels(problem, sol, P.Solver(0.0, 0.0), cfg, rollouts=3,
                              rng=np.random.default_rng(0))
    assert labels == [1.0, 0.0]


def test_monte_carlo_labels_are_fooled_by_compensation():
    cfg = P.GeneratorConfig(compensate=1.0)
    problem = P.Problem(5, [("+", 3), ("*", 2), ("-", 4)])
    sol = P.Solution([(5, "+", 3, 8), (8, "*", 2, 17), (17, "-", 4, 13)])
    labels = P.mc_step_labels(problem, sol, P.Solver(0.0, 0.0), cfg, rollouts=1,
                              rng=np.random.default_rng(0))
    assert labels == [1.0, 1.0, 0.0]  # the wrong step 2 looks good: the rollout recovers


def test_trained_prm_separates_right_from_wrong_steps():
    cfg = P.GeneratorConfig()
    rng = np.random.default_rng(0)

    def sample(n):
        out = []
        for _ in range(n):
            problem = P.make_problem(rng, cfg)
            out += [P.generate(problem, P.Solver(0.5, 0.1), cfg, rng) for _ in range(4)]
        return out

    train, test = sample(400), sample(100)
    batch = P.encode(train)
    net = P.train_prm(batch, P.prm_targets(train, [P.gold_step_labels(s) for s in train]),
                      P.VerifierConfig(hidden=64, epochs=6, batch_size=32), seed=0)
    test_batch = P.encode(test)
    with torch.no_grad():
        p = torch.sigmoid(net(test_batch))[test_batch.mask.bool()]
    gold = torch.tensor([P.step_correct(s) for sol in test for s in sol.steps])
    balanced = 0.5 * ((p[gold] > 0.5).float().mean() + (p[~gold] < 0.5).float().mean())
    assert balanced > 0.7  # chance is 0.5


def test_majority_answer():
    assert P.majority_answer(np.array([3, 5, 5, 7]), np.random.default_rng(0)) == 5
