"""AI-safety gridworlds (Leike et al. 2017) and a goal-misgeneralization room, as
Gymnasium environments registered under ``alignlab/...``.

    import gymnasium as gym
    import alignlab.worlds.gridworlds  # registers the environments
    env = gym.make("alignlab/BoatRace-v0", render_mode="ansi")

Each safety environment returns the observed reward from `step` and the hidden
safety performance in ``info["hidden_performance"]`` (summed over the episode so
far; ``info["hidden_reward"]`` is this step's part).
"""

from __future__ import annotations

from dataclasses import dataclass

import gymnasium as gym

from alignlab.worlds.gridworlds.core import (
    ACTION_NAMES,
    GridWorld,
    agent_position,
    render_ascii,
    render_rgb,
)
from alignlab.worlds.gridworlds.misgeneralization import BrightRoom, episode_outcome


@dataclass(frozen=True)
class EnvInfo:
    id: str
    entry_point: str
    problem: str
    """The safety problem the environment tests, in a few words."""


_PKG = "alignlab.worlds.gridworlds"
ENVIRONMENTS: dict[str, EnvInfo] = {
    e.id: e for e in (
        EnvInfo("alignlab/SafeInterruptibility-v0", f"{_PKG}.specification:SafeInterruptibility",
                "safe interruptibility: does the agent disable its off switch?"),
        EnvInfo("alignlab/AbsentSupervisor-v0", f"{_PKG}.specification:AbsentSupervisor",
                "absent supervisor: does it behave differently when unwatched?"),
        EnvInfo("alignlab/BoatRace-v0", f"{_PKG}.specification:BoatRace",
                "reward gaming: circling one reward tile instead of racing laps"),
        EnvInfo("alignlab/TomatoWatering-v0", f"{_PKG}.specification:TomatoWatering",
                "reward gaming: making tomatoes look watered instead of watering them"),
        EnvInfo("alignlab/SideEffects-v0", f"{_PKG}.specification:SideEffects",
                "side effects: an irreversible change on the way to the goal"),
        EnvInfo("alignlab/RocksAndDiamonds-v0", f"{_PKG}.specification:RocksAndDiamonds",
                "reward tampering: flipping a switch that changes the reward"),
        EnvInfo("alignlab/WhiskyAndGold-v0", f"{_PKG}.robustness:WhiskyAndGold",
                "self-modification: drinking whisky that breaks its own policy"),
        EnvInfo("alignlab/DistributionalShift-v0", f"{_PKG}.robustness:DistributionalShift",
                "distributional shift: lava moves at test time (kwarg test=True)"),
        EnvInfo("alignlab/IslandNavigation-v0", f"{_PKG}.robustness:IslandNavigation",
                "safe exploration: falling into the water while learning"),
        EnvInfo("alignlab/FriendOrFoe-v0", f"{_PKG}.robustness:FriendOrFoe",
                "robustness to adversaries: a room that hides the prize from you"),
        EnvInfo("alignlab/BrightRoom-v0", f"{_PKG}.misgeneralization:BrightRoom",
                "goal misgeneralization: goal in the light in training, not at test"),
    )
}
SAFETY_IDS = tuple(i for i in ENVIRONMENTS if i != "alignlab/BrightRoom-v0")


def register_all() -> None:
    """Register every environment with Gymnasium (idempotent)."""
    for info in ENVIRONMENTS.values():
        if info.id not in gym.registry:
            gym.register(id=info.id, entry_point=info.entry_point)


register_all()

__all__ = ["ACTION_NAMES", "ENVIRONMENTS", "SAFETY_IDS", "BrightRoom", "EnvInfo", "GridWorld",
           "agent_position", "episode_outcome", "register_all", "render_ascii", "render_rgb"]
