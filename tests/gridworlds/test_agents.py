"""Tabular Q-learning / SARSA and the small PPO: targets, updates, losses by hand."""

from __future__ import annotations

from dataclasses import replace

import gymnasium as gym
import numpy as np
import pytest
import torch
from gymnasium import spaces

from alignlab.train.agents.ppo import ActorCritic, PPOConfig, gae, ppo_loss, run_policy, train_ppo
from alignlab.train.agents.tabular import (
    TabularAgent,
    TabularConfig,
    q_learning_target,
    sarsa_target,
    train_tabular,
)
from alignlab.worlds.gridworlds import BrightRoom


class Chain(gym.Env):
    """s0 -> s1 (reward 0); at s1 action 0 pays +10 and action 1 pays -10, both end.
    With ``force`` the environment forces action 1 at s1 (an interruption)."""

    observation_space = spaces.Box(0, 1, (1,), np.uint8)
    action_space = spaces.Discrete(2)

    def __init__(self, force: bool) -> None:
        self.force = force

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.state = 0
        return np.array([0], np.uint8), {"forced_action": -1}

    def step(self, action):
        if self.state == 0:
            self.state = 1
            return np.array([1], np.uint8), 0.0, False, False, {
                "forced_action": 1 if self.force else -1}
        return np.array([1], np.uint8), (10.0 if action == 0 else -10.0), True, False, {}


def test_targets_by_hand():
    q = np.array([1.0, 3.0, 2.0])
    assert q_learning_target(q, 0) == 3.0
    assert sarsa_target(q, 0) == 1.0


def test_one_episode_update_by_hand():
    config = TabularConfig(algorithm="q_learning", episodes=1, alpha=0.5, gamma=0.9, epsilon=0.0)
    agent = train_tabular(Chain(force=True), config, seed=0)
    s0, s1 = np.array([0], np.uint8).tobytes(), np.array([1], np.uint8).tobytes()
    # s1: forced action 1 -> -10, terminal: 0.5 * -10. s0: bootstrapped from zeros: 0.
    assert agent.table[s1].tolist() == [0.0, -5.0]
    assert agent.table[s0].tolist() == [0.0, 0.0]


def test_sarsa_bootstraps_on_the_forced_action_q_learning_does_not():
    config = TabularConfig(episodes=2, alpha=0.5, gamma=0.9, epsilon=0.0)
    s0 = np.array([0], np.uint8).tobytes()
    sarsa = train_tabular(Chain(force=True), replace(config, algorithm="sarsa"), seed=0)
    qlearn = train_tabular(Chain(force=True), config, seed=0)
    # Episode 2 at s0: SARSA target 0.9 * Q(s1, forced=1) = 0.9 * -5; Q-learning 0.9 * max = 0.
    assert sarsa.table[s0].sum() == pytest.approx(0.5 * 0.9 * -5.0)
    assert qlearn.table[s0].sum() == 0.0


def test_act_honours_forced_action_and_imposed_exploration():
    agent = TabularAgent(4)
    obs = np.zeros(3, np.uint8)
    agent.table[agent.key(obs)][:] = [0.0, 0.0, 5.0, 0.0]
    rng = np.random.default_rng(0)
    assert agent.act(obs, {}, 0.0, rng) == 2
    assert agent.act(obs, {"forced_action": 1}, 0.0, rng) == 1
    drunk = {agent.act(obs, {"exploration": 1.0}, 0.0, rng) for _ in range(50)}
    assert drunk == {0, 1, 2, 3}


def test_unknown_algorithm():
    with pytest.raises(ValueError, match="unknown algorithm"):
        train_tabular(Chain(force=False), TabularConfig(algorithm="td9"), seed=0)


def test_gae_by_hand():
    rewards = torch.tensor([[1.0], [0.0], [1.0]])
    values = torch.full((3, 1), 0.5)
    dones = torch.tensor([[0.0], [1.0], [0.0]])
    adv = gae(rewards, values, dones, torch.tensor([2.0]), gamma=0.9, lam=0.5)
    # t=2: 1 + 0.9*2 - 0.5 = 2.3; t=1 (episode ends): 0 - 0.5; t=0: 0.95 + 0.45 * -0.5
    assert adv.squeeze(1).tolist() == pytest.approx([0.725, -0.5, 2.3])


def test_ppo_loss_by_hand():
    config = PPOConfig(clip=0.2, value_coef=0.5, entropy_coef=0.01)
    half, quarter = torch.log(torch.tensor([0.5, 0.5])), torch.log(torch.tensor([0.25, 0.25]))
    loss, stats = ppo_loss(half, quarter, torch.tensor([1.0, -1.0]), torch.tensor([1.0, 2.0]),
                           torch.zeros(2), torch.ones(2), config)
    # ratio 2: min(2, 1.2) = 1.2 and min(-2, -1.2) = -2 -> policy loss 0.4; value 0.5 * 5 / 2
    assert stats["policy_loss"] == pytest.approx(0.4)
    assert stats["value_loss"] == pytest.approx(1.25)
    assert loss.item() == pytest.approx(0.4 + 0.5 * 1.25 - 0.01)


def test_two_ppo_updates_change_every_parameter():
    config = PPOConfig(total_steps=32, num_envs=2, rollout=8, hidden=16, epochs=1, minibatches=2)
    assert config.updates == 2
    torch.manual_seed(0)
    before = ActorCritic(3 * 5 * 5, 4, 16)
    after = train_ppo(lambda: BrightRoom(size=5), config, seed=0)
    for (name, p0), p1 in zip(before.named_parameters(), after.parameters(), strict=True):
        assert not torch.equal(p0, p1), name
    infos = run_policy(after, [BrightRoom(size=5, test=True) for _ in range(3)], seed=0)
    assert len(infos) == 3 and all("reached_goal" in i for i in infos)


@pytest.mark.slow
def test_sarsa_presses_the_button_q_learning_does_not():
    from alignlab.train.agents.tabular import run_episode

    env = gym.make("alignlab/SafeInterruptibility-v0").unwrapped
    for algorithm, pressed in (("sarsa", True), ("q_learning", False)):
        agent = train_tabular(env, TabularConfig(algorithm=algorithm, episodes=2000), seed=0)
        _, info, _ = run_episode(env, agent, seed=99)
        assert info["button_pressed"] is pressed
