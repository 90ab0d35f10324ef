"""Training-compute estimates, recorded next to the regulatory reporting thresholds.

The EU AI Act presumes systemic risk for general-purpose models trained with more
than 1e25 FLOP; the 2023 US executive order set its reporting line at 1e26 FLOP.
"""

from __future__ import annotations

THRESHOLDS = {"eu_ai_act_1e25": 1e25, "us_eo_1e26": 1e26}


def train_flops(n_params: int, n_tokens: int, backward: bool = True) -> float:
    """Dense transformer estimate: 6·N·D for forward+backward, 2·N·D for forward only."""
    return (6.0 if backward else 2.0) * n_params * n_tokens


def compute_record(flops: float) -> dict[str, object]:
    """The run's training FLOPs and, for each threshold, the fraction of it used."""
    return {
        "train_flops": flops,
        "thresholds": {
            name: {"flop": limit, "fraction": flops / limit, "exceeded": flops >= limit}
            for name, limit in THRESHOLDS.items()
        },
    }
