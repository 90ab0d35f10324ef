"""Reinforcement-learning agents for the gridworlds: tabular Q-learning and SARSA
(NumPy) and a small PPO (PyTorch) for procedurally generated levels."""

from alignlab.train.agents.ppo import ActorCritic, PPOConfig, run_policy, train_ppo
from alignlab.train.agents.tabular import (
    TabularAgent,
    TabularConfig,
    run_episode,
    train_tabular,
)

__all__ = ["ActorCritic", "PPOConfig", "TabularAgent", "TabularConfig", "run_episode",
           "run_policy", "train_ppo", "train_tabular"]
