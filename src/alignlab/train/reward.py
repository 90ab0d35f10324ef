"""Bradley–Terry reward models, and ensembles of them scored conservatively.

A reward model is any Hugging Face transformer body with a linear head read at the
last token (sequences are left-padded, so the last position is always real).
Training maximises log σ(r(chosen) − r(rejected)). An ensemble of k such models
scores by the mean, the worst case (min), or mean − λ·std (Coste et al. 2023's
uncertainty-weighted optimisation): the conservative scores stop an optimiser from
exploiting one model's idiosyncratic errors.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from alignlab.models.hf import left_pad, positions
from alignlab.train.common import minibatches, progress


@dataclass(frozen=True)
class RewardConfig:
    lr: float = 3e-3
    """AdamW learning rate."""
    epochs: int = 4
    """Passes over the preference pairs."""
    batch_size: int = 64
    """Pairs per optimizer step."""
    weight_decay: float = 0.01
    """AdamW weight decay."""
    seed: int = 0
    """Seed for shuffling (and the head's initialisation)."""


def bradley_terry_loss(chosen: Tensor, rejected: Tensor) -> Tensor:
    """−log σ(r_chosen − r_rejected), averaged over pairs; chosen, rejected: (B,)."""
    return -F.logsigmoid(chosen - rejected).mean()


class RewardModel(nn.Module):
    """A transformer body plus a scalar head on the last token's hidden state."""

    def __init__(self, body: Any, tokenizer: Any, chat: bool = False) -> None:
        super().__init__()
        self.body = body
        self.head = nn.Linear(body.config.hidden_size, 1)
        nn.init.zeros_(self.head.weight)  # start indifferent: every response scores 0
        nn.init.zeros_(self.head.bias)
        self.tokenizer = tokenizer
        self.chat = chat
        self.pad_id = int(tokenizer.pad_token_id if tokenizer.pad_token_id is not None
                          else tokenizer.eos_token_id)

    def encode(self, prompts: Sequence[str], responses: Sequence[str]) -> list[list[int]]:
        """Token ids of prompt (chat-formatted for chat models) + response + EOS."""
        eos = int(self.tokenizer.eos_token_id)
        rows = []
        for p, r in zip(prompts, responses, strict=True):
            if self.chat:
                text = self.tokenizer.apply_chat_template(
                    [{"role": "user", "content": p}], tokenize=False, add_generation_prompt=True)
                ids = self.tokenizer(text, add_special_tokens=False)["input_ids"]
            else:
                ids = self.tokenizer(p)["input_ids"]
            rows.append(ids + self.tokenizer(r, add_special_tokens=False)["input_ids"] + [eos])
        return rows

    def forward(self, rows: Sequence[Sequence[int]]) -> Tensor:
        """Rewards (B,) of token-id rows."""
        ids, mask = left_pad(rows, self.pad_id)
        hidden = self.body(input_ids=ids, attention_mask=mask, position_ids=positions(mask),
                           use_cache=False).last_hidden_state   # (B, T, H)
        return self.head(hidden[:, -1]).squeeze(-1)

    @torch.no_grad()
    def score_ids(self, rows: Sequence[Sequence[int]], batch_size: int = 2048) -> Tensor:
        self.eval()
        return torch.cat([self(rows[s:s + batch_size]) for s in range(0, len(rows), batch_size)])

    def score(self, prompts: Sequence[str], responses: Sequence[str]) -> Tensor:
        """Rewards (B,) of (prompt, response) texts: usable as an objective."""
        return self.score_ids(self.encode(prompts, responses))


def tiny_reward_model(tokenizer: Any, hidden_size: int, layers: int = 2, seed: int = 0,
                      ) -> RewardModel:
    """A fresh tiny Llama body (width `hidden_size`) with a reward head."""
    from transformers import LlamaConfig, LlamaModel

    torch.manual_seed(seed)
    heads = max(1, hidden_size // 16)
    body = LlamaModel(LlamaConfig(
        vocab_size=len(tokenizer), hidden_size=hidden_size, intermediate_size=2 * hidden_size,
        num_hidden_layers=layers, num_attention_heads=heads, num_key_value_heads=heads,
        max_position_embeddings=128, pad_token_id=tokenizer.pad_token_id))
    return RewardModel(body, tokenizer)


def reward_model_from_lm(lm: Any) -> RewardModel:
    """A reward model initialised from a causal LM's body (a copy: the LM stays as it was)."""
    import copy

    body = copy.deepcopy(getattr(lm.model, "base_model", lm.model))
    return RewardModel(body, lm.tokenizer, chat=lm.chat)


def train_reward(rm: RewardModel, chosen: Sequence[Sequence[int]],
                 rejected: Sequence[Sequence[int]], config: RewardConfig = RewardConfig(),
                 run: Any = None, show: bool = True) -> list[dict[str, float]]:
    """Fit `rm` in place to pairs of token-id rows; return the per-step log."""
    optimizer = torch.optim.AdamW(rm.parameters(), lr=config.lr,
                                  weight_decay=config.weight_decay)
    rng = random.Random(config.seed)
    rm.train()
    history: list[dict[str, float]] = []
    total = config.epochs * -(-len(chosen) // config.batch_size)
    with progress(show) as bar:
        task = bar.add_task("reward model", total=total, info="")
        for _ in range(config.epochs):
            for batch in minibatches(len(chosen), config.batch_size, rng):
                # chosen and rejected in one forward: (2B,) then split
                scores = rm([chosen[i] for i in batch] + [rejected[i] for i in batch])
                good, bad = scores[:len(batch)], scores[len(batch):]
                loss = bradley_terry_loss(good, bad)
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
                record = {"loss": float(loss.detach()),
                          "accuracy": float((good > bad).float().mean())}
                history.append(record)
                if run is not None:
                    run.log(len(history), **record)
                bar.update(task, advance=1, info=f"loss {record['loss']:.3f}")
    rm.eval()
    return history


def pair_accuracy(rm: RewardModel, chosen: Sequence[Sequence[int]],
                  rejected: Sequence[Sequence[int]]) -> float:
    """Fraction of pairs the model orders as labelled."""
    return float((rm.score_ids(chosen) > rm.score_ids(rejected)).float().mean())


def _uncertainty(scores: Tensor, lam: float) -> Tensor:
    return scores.mean(0) - lam * scores.std(0)


ENSEMBLE_SCORES: dict[str, Callable[[Tensor, float], Tensor]] = {
    "mean": lambda scores, lam: scores.mean(0),
    "worst": lambda scores, lam: scores.min(0).values,
    "uncertainty": _uncertainty,
}
"""How an ensemble combines its members' (k, B) scores into (B,)."""


class Ensemble:
    """k reward models scored together by one of ENSEMBLE_SCORES.

    Bradley–Terry fixes each member's reward only up to an additive constant, and its
    scale drifts with training, so the min or std of raw member scores mostly compares
    offsets. Given `reference` rows (e.g. the preference data), each member is first
    standardised to mean 0 and std 1 on them, which puts the members on one scale.
    """

    def __init__(self, members: Sequence[RewardModel], mode: str = "mean", lam: float = 1.0,
                 reference: Sequence[Sequence[int]] | None = None) -> None:
        if mode not in ENSEMBLE_SCORES:
            raise ValueError(f"unknown ensemble mode {mode!r}; use one of {list(ENSEMBLE_SCORES)}")
        self.members, self.mode, self.lam = list(members), mode, lam
        self.shift, self.scale = torch.zeros(len(self.members), 1), torch.ones(len(self.members), 1)
        if reference is not None:
            scores = self.member_scores(reference)
            self.shift, self.scale = scores.mean(1, keepdim=True), scores.std(1, keepdim=True)

    def member_scores(self, rows: Sequence[Sequence[int]]) -> Tensor:
        """(k, B) standardised scores of every member."""
        return self.standardise(torch.stack([m.score_ids(rows) for m in self.members]))

    def standardise(self, raw: Tensor) -> Tensor:
        """(k, B) raw member scores -> the same on the members' common scale."""
        return (raw - self.shift) / self.scale

    def combine(self, member_scores: Tensor) -> Tensor:
        """(k, B) member scores -> (B,)."""
        return ENSEMBLE_SCORES[self.mode](member_scores, self.lam)

    def score_ids(self, rows: Sequence[Sequence[int]]) -> Tensor:
        return self.combine(self.member_scores(rows))

    def score(self, prompts: Sequence[str], responses: Sequence[str]) -> Tensor:
        return self.score_ids(self.members[0].encode(prompts, responses))


def save_reward_model(rm: RewardModel, path: Any) -> None:
    """Body and tokenizer as a Hugging Face directory, plus head.pt for the scalar head."""
    from pathlib import Path

    path = Path(path)
    rm.body.save_pretrained(path)
    rm.tokenizer.save_pretrained(path)
    torch.save({"head": rm.head.state_dict(), "chat": rm.chat}, path / "head.pt")


def load_reward_model(path: Any) -> RewardModel:
    """A reward model saved by `save_reward_model` (e.g. by `alignlab train reward`)."""
    from pathlib import Path

    from transformers import AutoModel, AutoTokenizer

    path = Path(path)
    if not (path / "head.pt").exists():
        raise ValueError(f"{path} is not a reward model directory (no head.pt)")
    state = torch.load(path / "head.pt", weights_only=True)
    rm = RewardModel(AutoModel.from_pretrained(path), AutoTokenizer.from_pretrained(path),
                     chat=bool(state["chat"]))
    rm.head.load_state_dict(state["head"])
    return rm.eval()
