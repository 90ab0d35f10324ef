"""Human audit: which exchanges go to the review queue, and when a check's flag rate drifts.

The queue gets every blocked exchange, a share of those where some check scored near its
threshold (where the policy is least sure), and a share of everything else at random (so
that reviewers also see what the checks let through, and misses can be counted).
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class AuditConfig:
    near_rate: float = 0.5
    """Share of near-threshold exchanges sent to review."""
    random_rate: float = 0.02
    """Share of all other exchanges sent to review."""
    baseline: int = 500
    """Drift: the first this many exchanges of the history window are the baseline."""
    window: int = 200
    """Drift: the most recent this many exchanges are compared with the baseline."""
    z: float = 3.0
    """Drift: alert when the two-proportion z statistic exceeds this."""


def audit_reason(action: str, verdicts: Sequence[dict[str, Any]], rng: random.Random,
                 cfg: AuditConfig) -> str | None:
    """Why this exchange goes to the review queue: blocked, flagged, near, random, or None."""
    if action in ("block", "flag"):
        return "blocked" if action == "block" else "flagged"
    if any(v.get("near") for v in verdicts) and rng.random() < cfg.near_rate:
        return "near"
    if rng.random() < cfg.random_rate:
        return "random"
    return None


def _fired(verdicts: Sequence[dict[str, Any]], check: str) -> bool:
    return any(v["check"] == check and v["action"] != "allow" for v in verdicts)


def two_proportion_z(k1: int, n1: int, k2: int, n2: int) -> float:
    """z statistic of p2 - p1 with the pooled standard error (0 when undefined)."""
    if n1 == 0 or n2 == 0:
        return 0.0
    pooled = (k1 + k2) / (n1 + n2)
    se = math.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2))
    return 0.0 if se == 0 else (k2 / n2 - k1 / n1) / se


def drift_alerts(history: Sequence[Sequence[dict[str, Any]]], cfg: AuditConfig,
                 ) -> list[dict[str, Any]]:
    """Checks whose recent flag rate moved from the baseline; `history` is oldest first."""
    if len(history) < cfg.window + 20:
        return []
    recent = history[-cfg.window:]
    base = history[:-cfg.window][:cfg.baseline]
    checks = sorted({v["check"] for vs in history for v in vs})
    alerts = []
    for check in checks:
        k1 = sum(_fired(vs, check) for vs in base)
        k2 = sum(_fired(vs, check) for vs in recent)
        z = two_proportion_z(k1, len(base), k2, len(recent))
        if abs(z) > cfg.z:
            alerts.append({"check": check, "baseline_rate": round(k1 / len(base), 4),
                           "recent_rate": round(k2 / len(recent), 4), "z": round(z, 2)})
    return alerts
