"""Tabular Q-learning and SARSA in NumPy, for the safety gridworlds.

The two differ in one line, the bootstrap target (`TARGETS`): Q-learning uses the
best next action, SARSA the next action actually taken. "Actually taken" matters
in two environments: when the environment forces the next action
(``info["forced_action"]``, e.g. an interruption) the agent takes that action and
SARSA bootstraps on it; when it imposes an exploration rate
(``info["exploration"]``, e.g. whisky) the agent's behaviour honours it. A state is
any hashable key of the observation (its bytes by default).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from typing import Any

import gymnasium as gym
import numpy as np


@dataclass(frozen=True)
class TabularConfig:
    algorithm: str = "q_learning"
    """One of TARGETS: q_learning (off-policy) or sarsa (on-policy)."""
    episodes: int = 2000
    """Training episodes."""
    alpha: float = 0.5
    """Step size of the update."""
    gamma: float = 0.99
    """Discount factor."""
    epsilon: float = 0.1
    """Exploration rate of the epsilon-greedy behaviour policy."""
    q_init: float = 0.0
    """Initial action value of every unseen state."""


def bytes_key(obs: np.ndarray) -> Hashable:
    return obs.tobytes()


def q_learning_target(q_next: np.ndarray, next_action: int) -> float:
    return float(q_next.max())


def sarsa_target(q_next: np.ndarray, next_action: int) -> float:
    return float(q_next[next_action])


TARGETS = {"q_learning": q_learning_target, "sarsa": sarsa_target}


@dataclass
class TabularAgent:
    """A Q-table (state key -> action values) and the policy it implies."""

    n_actions: int
    q_init: float = 0.0
    key: Callable[[np.ndarray], Hashable] = bytes_key
    table: dict[Hashable, np.ndarray] = field(default_factory=dict)

    def __post_init__(self) -> None:
        init = np.full(self.n_actions, self.q_init)
        self.table = defaultdict(init.copy, self.table)

    def values(self, obs: np.ndarray) -> np.ndarray:
        return self.table[self.key(obs)]

    def act(self, obs: np.ndarray, info: dict[str, Any], epsilon: float,
            rng: np.random.Generator) -> int:
        """Epsilon-greedy with random tie-breaking; forced actions and imposed
        exploration from the environment take precedence."""
        forced = int(info.get("forced_action", -1))
        if forced >= 0:
            return forced
        if rng.random() < max(epsilon, float(info.get("exploration", 0.0))):
            return int(rng.integers(self.n_actions))
        q = self.values(obs)
        # Tiny noise breaks exact ties at random (an unseen state must not always go up).
        return int((q + rng.random(self.n_actions) * 1e-9).argmax())


def train_tabular(env: gym.Env, config: TabularConfig, seed: int,
                  key: Callable[[np.ndarray], Hashable] = bytes_key,
                  on_episode: Callable[[int, dict[str, Any]], None] | None = None,
                  ) -> TabularAgent:
    """Train on `env` for `config.episodes` episodes; `on_episode(i, final_info)` sees
    each episode's last info (to count e.g. water entries while learning)."""
    if config.algorithm not in TARGETS:
        raise ValueError(f"unknown algorithm {config.algorithm!r}; one of {sorted(TARGETS)}")
    target = TARGETS[config.algorithm]
    agent = TabularAgent(int(env.action_space.n), config.q_init, key)
    rng = np.random.default_rng(seed)
    for episode in range(config.episodes):
        obs, info = env.reset(seed=seed * 1_000_003 + episode)
        q = agent.values(obs)
        action = agent.act(obs, info, config.epsilon, rng)
        done = False
        while not done:
            obs, reward, terminated, truncated, info = env.step(action)
            done = terminated or truncated
            q_next = agent.values(obs)
            next_action = agent.act(obs, info, config.epsilon, rng)
            # Truncation by the step limit is not a real end: bootstrap through it.
            bootstrap = 0.0 if terminated else config.gamma * target(q_next, next_action)
            taken = int(info.get("action_taken", action))
            q[taken] += config.alpha * (reward + bootstrap - q[taken])
            q, action = q_next, next_action
        if on_episode is not None:
            on_episode(episode, info)
    return agent


def run_episode(env: gym.Env, agent: TabularAgent, seed: int, epsilon: float = 0.0,
                ) -> tuple[float, dict[str, Any], list[np.ndarray]]:
    """One evaluation episode: (observed return, final info, observations seen)."""
    rng = np.random.default_rng(seed)
    obs, info = env.reset(seed=seed)
    frames, total, done = [obs], 0.0, False
    while not done:
        obs, reward, terminated, truncated, info = env.step(agent.act(obs, info, epsilon, rng))
        total += float(reward)
        frames.append(obs)
        done = terminated or truncated
    return total, info, frames
