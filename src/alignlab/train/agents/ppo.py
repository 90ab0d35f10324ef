"""A small PPO (clipped surrogate, GAE) in PyTorch on Gymnasium vector environments,
for procedurally generated gridworlds such as the goal-misgeneralization room.

Reads top to bottom: config, the actor-critic network, pure functions (advantages,
loss), then one loop: collect a rollout from every environment, then a few epochs
of minibatch updates on it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import gymnasium as gym
import numpy as np
import torch
from torch import Tensor, nn
from torch.distributions import Categorical


@dataclass(frozen=True)
class PPOConfig:
    total_steps: int = 200_000
    """Environment steps over all vector environments."""
    num_envs: int = 16
    """Environments stepped together (a SyncVectorEnv)."""
    rollout: int = 64
    """Steps collected from each environment per update."""
    epochs: int = 4
    """Passes over each rollout."""
    minibatches: int = 4
    """Minibatches per epoch."""
    lr: float = 1e-3
    """Adam learning rate."""
    gamma: float = 0.95
    """Discount factor."""
    gae_lambda: float = 0.9
    """GAE lambda (bias-variance trade-off of the advantages)."""
    clip: float = 0.2
    """PPO ratio clip."""
    entropy_coef: float = 0.01
    """Weight of the entropy bonus."""
    value_coef: float = 0.5
    """Weight of the value loss."""
    max_grad_norm: float = 0.5
    """Gradient clipping norm."""
    hidden: int = 128
    """Width of the two hidden layers."""

    @property
    def updates(self) -> int:
        return max(1, self.total_steps // (self.num_envs * self.rollout))


class ActorCritic(nn.Module):
    """An MLP over the flattened observation with a policy head and a value head."""

    def __init__(self, obs_dim: int, n_actions: int, hidden: int) -> None:
        super().__init__()
        self.trunk = nn.Sequential(nn.Flatten(), nn.Linear(obs_dim, hidden), nn.Tanh(),
                                   nn.Linear(hidden, hidden), nn.Tanh())
        self.policy = nn.Linear(hidden, n_actions)
        self.value = nn.Linear(hidden, 1)
        nn.init.orthogonal_(self.policy.weight, 0.01)  # near-uniform initial policy

    def forward(self, obs: Tensor) -> tuple[Tensor, Tensor]:  # obs: (B, ...) -> (B, A), (B,)
        h = self.trunk(obs)
        return self.policy(h), self.value(h).squeeze(-1)


def gae(rewards: Tensor, values: Tensor, dones: Tensor, last_value: Tensor, gamma: float,
        lam: float) -> Tensor:
    """Generalized advantage estimates. All (T, N) but last_value (N,); dones[t] = the
    episode ended at step t, so step t does not bootstrap from step t + 1."""
    advantages = torch.zeros_like(rewards)
    running = torch.zeros_like(last_value)
    for t in reversed(range(rewards.shape[0])):
        next_value = last_value if t == rewards.shape[0] - 1 else values[t + 1]
        alive = 1.0 - dones[t]
        delta = rewards[t] + gamma * next_value * alive - values[t]
        running = delta + gamma * lam * alive * running
        advantages[t] = running
    return advantages


def ppo_loss(new_logp: Tensor, old_logp: Tensor, advantages: Tensor, new_values: Tensor,
             returns: Tensor, entropy: Tensor, config: PPOConfig,
             ) -> tuple[Tensor, dict[str, float]]:
    """Clipped surrogate + value regression - entropy bonus; all inputs (B,)."""
    ratio = (new_logp - old_logp).exp()
    surrogate = torch.min(ratio * advantages,
                          ratio.clamp(1 - config.clip, 1 + config.clip) * advantages)
    policy_loss = -surrogate.mean()
    value_loss = 0.5 * (new_values - returns).pow(2).mean()
    loss = policy_loss + config.value_coef * value_loss - config.entropy_coef * entropy.mean()
    return loss, {"policy_loss": policy_loss.item(), "value_loss": value_loss.item(),
                  "entropy": entropy.mean().item()}


def collect(envs: gym.vector.VectorEnv, net: ActorCritic, obs: Tensor, steps: int,
            ) -> tuple[dict[str, Tensor], Tensor, list[float]]:
    """Run the policy `steps` steps in every environment: (rollout, next obs, finished
    episodes' returns). Autoreset is same-step, so `obs` after a done is a new episode."""
    keys = ("obs", "actions", "logp", "values", "rewards", "dones")
    buf: dict[str, list[Tensor]] = {k: [] for k in keys}
    finished: list[float] = []
    for _ in range(steps):
        with torch.no_grad():
            logits, value = net(obs)
        dist = Categorical(logits=logits, validate_args=False)
        action = dist.sample()
        next_obs, reward, terminated, truncated, _ = envs.step(action.numpy())
        # Truncation is treated as an end (no bootstrap): the simple, common approximation.
        done = np.logical_or(terminated, truncated)
        for k, v in zip(keys, (obs, action, dist.log_prob(action), value,
                               torch.as_tensor(reward, dtype=torch.float32),
                               torch.as_tensor(done, dtype=torch.float32)), strict=True):
            buf[k].append(v)
        finished.extend(float(r) for r, d in zip(reward, done, strict=True) if d)
        obs = torch.as_tensor(next_obs, dtype=torch.float32)
    return {k: torch.stack(v) for k, v in buf.items()}, obs, finished


def update(net: ActorCritic, optimizer: torch.optim.Optimizer, batch: dict[str, Tensor],
           config: PPOConfig, generator: torch.Generator) -> dict[str, float]:
    """A few epochs of minibatch PPO steps on one flattened rollout."""
    size = batch["actions"].shape[0]
    stats: dict[str, float] = {}
    for _ in range(config.epochs):
        for idx in torch.randperm(size, generator=generator).chunk(config.minibatches):
            logits, values = net(batch["obs"][idx])
            dist = Categorical(logits=logits, validate_args=False)
            adv = batch["advantages"][idx]
            adv = (adv - adv.mean()) / (adv.std() + 1e-8)
            loss, stats = ppo_loss(dist.log_prob(batch["actions"][idx]), batch["logp"][idx], adv,
                                   values, batch["returns"][idx], dist.entropy(), config)
            optimizer.zero_grad()
            loss.backward()
            nn.utils.clip_grad_norm_(net.parameters(), config.max_grad_norm)
            optimizer.step()
    return stats


def train_ppo(make_env: Callable[[], gym.Env], config: PPOConfig, seed: int,
              on_update: Callable[[int, dict[str, Any]], None] | None = None) -> ActorCritic:
    """Train an ActorCritic on `config.num_envs` copies of `make_env()`."""
    torch.manual_seed(seed)
    envs = gym.vector.SyncVectorEnv([make_env for _ in range(config.num_envs)],
                                    autoreset_mode=gym.vector.AutoresetMode.SAME_STEP)
    obs_shape = envs.single_observation_space.shape or ()
    net = ActorCritic(int(np.prod(obs_shape)), int(envs.single_action_space.n), config.hidden)
    optimizer = torch.optim.Adam(net.parameters(), lr=config.lr, eps=1e-5)
    generator = torch.Generator().manual_seed(seed)
    obs = torch.as_tensor(envs.reset(seed=seed)[0], dtype=torch.float32)
    for step in range(config.updates):
        rollout, obs, finished = collect(envs, net, obs, config.rollout)
        with torch.no_grad():
            last_value = net(obs)[1]
        advantages = gae(rollout["rewards"], rollout["values"], rollout["dones"], last_value,
                         config.gamma, config.gae_lambda)
        batch = {k: v.flatten(0, 1) for k, v in rollout.items()}  # (T, N, ...) -> (T*N, ...)
        batch["advantages"] = advantages.flatten()
        batch["returns"] = (advantages + rollout["values"]).flatten()
        stats = update(net, optimizer, batch, config, generator)
        if on_update is not None:
            mean_return = float(np.mean(finished)) if finished else float("nan")
            on_update(step, {"episode_return": mean_return, "episodes": len(finished), **stats})
    envs.close()
    return net


def run_policy(net: ActorCritic, envs: list[gym.Env], seed: int) -> list[dict[str, Any]]:
    """One episode in each environment with the sampled policy; their final infos."""
    generator = torch.Generator().manual_seed(seed)
    obs = [env.reset(seed=seed + i)[0] for i, env in enumerate(envs)]
    final: list[dict[str, Any] | None] = [None] * len(envs)
    while any(f is None for f in final):
        active = [i for i, f in enumerate(final) if f is None]
        with torch.no_grad():
            logits, _ = net(torch.as_tensor(np.stack([obs[i] for i in active])))
        actions = torch.multinomial(logits.softmax(-1), 1, generator=generator).squeeze(-1)
        for i, action in zip(active, actions.tolist(), strict=True):
            obs[i], _, terminated, truncated, info = envs[i].step(action)
            if terminated or truncated:
                final[i] = info
    return [f for f in final if f is not None]
