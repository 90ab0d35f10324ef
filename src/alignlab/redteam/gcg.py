"""GCG-style white-box suffix search on a local Hugging Face model (Zou et al. 2023).

Find a suffix that, appended to the request, makes the target start its answer with
an affirmative target string ("Sure, here is"). Each step:
  1. gradient of the target-string loss w.r.t. the one-hot suffix tokens;
  2. per position, the top-k tokens with the most negative gradient;
  3. a batch of candidates, each one random position swapped to one of its top-k;
  4. keep the candidate with the lowest loss.
Then the target generates from the exact token ids (prompt + best suffix), so the
reply is what the optimised sequence produces, with no re-tokenisation drift.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from alignlab.models import SamplingParams


@dataclass(frozen=True)
class GCGConfig:
    steps: int = 20
    """Optimisation steps per behaviour."""
    suffix_len: int = 12
    """Suffix length in tokens."""
    top_k: int = 64
    """Candidate tokens per position, from the gradient."""
    batch: int = 48
    """Candidate suffixes evaluated per step."""
    target: str = "Sure, here is"
    """The reply opening the search makes likely."""
    max_new_tokens: int = 48
    """Reply length when the final suffix is tried."""


@dataclass
class Segments:
    """Token ids of one attack sequence: before | suffix | after | target."""

    before: Tensor
    suffix: Tensor
    after: Tensor
    target: Tensor


MARK = "\x00SUFFIX\x00"


def segments(lm: Any, request: str, suffix_ids: Tensor, target: str) -> Segments:
    """Split the chat-formatted prompt around the suffix slot."""
    text = lm.format(f"{request} {MARK}")
    before, after = text.split(MARK)
    enc = lm.tokenizer

    def ids(t: str) -> Tensor:
        return torch.tensor(enc(t, add_special_tokens=False)["input_ids"], dtype=torch.long)

    return Segments(ids(before), suffix_ids, ids(after), ids(target))


def allowed_tokens(tokenizer: Any) -> Tensor:
    """Plain ASCII, printable, non-special tokens (keeps the suffix text readable)."""
    special = set(tokenizer.all_special_ids)
    ok = []
    for i in range(len(tokenizer)):
        piece = tokenizer.decode([i])
        if i not in special and piece.isascii() and piece.isprintable() and piece.strip():
            ok.append(i)
    return torch.tensor(ok, dtype=torch.long)


Prefix = list[tuple[Tensor, Tensor]]
"""Per layer, the keys and values of a sequence's constant opening, batch size 1."""


def prefix_cache(model: Any, before: Tensor) -> Prefix:
    """Keys and values of the `before` segment, computed once per attack.

    It never changes during the search and is ~2/3 of each candidate sequence, so every
    later forward starts from these instead of recomputing them.
    """
    from transformers import DynamicCache

    cache = DynamicCache()
    with torch.no_grad():
        model(input_ids=before[None], cache=cache, use_cache=True)
    return [(layer.keys, layer.values) for layer in cache.layers]


def batch_cache(prefix: Prefix, b: int) -> Any:
    """A fresh cache holding `prefix` for b rows (a forward appends to it, so one per call)."""
    from transformers import DynamicCache

    cache = DynamicCache()
    for i, (k, v) in enumerate(prefix):
        cache.update(k.expand(b, -1, -1, -1), v.expand(b, -1, -1, -1), i)
    return cache


def target_loss(model: Any, seg: Segments, suffixes: Tensor, prefix: Prefix | None = None,
                ) -> Tensor:
    """Mean cross-entropy of the target tokens for each suffix in `suffixes` (B, L) -> (B,)."""
    b = suffixes.shape[0]
    prefix = prefix if prefix is not None else prefix_cache(model, seg.before)
    ids = torch.cat([suffixes, seg.after.expand(b, -1), seg.target.expand(b, -1)], dim=1)
    n_t = len(seg.target)
    logits = model(input_ids=ids, cache=batch_cache(prefix, b), use_cache=True,
                   logits_to_keep=n_t + 1).logits[:, :-1]                   # (B, n_t, V)
    return F.cross_entropy(logits.transpose(1, 2).float(), seg.target.expand(b, -1),
                           reduction="none").mean(-1)


def token_gradients(model: Any, seg: Segments, prefix: Prefix | None = None) -> Tensor:
    """d loss / d one-hot(suffix), shape (L, V)."""
    prefix = prefix if prefix is not None else prefix_cache(model, seg.before)
    embed = model.get_input_embeddings().weight                             # (V, D)
    one_hot = F.one_hot(seg.suffix, embed.shape[0]).to(embed.dtype).requires_grad_(True)
    parts = [one_hot @ embed, embed[seg.after], embed[seg.target]]
    inputs = torch.cat(parts).unsqueeze(0)                                  # (1, T, D)
    n_t = len(seg.target)
    logits = model(inputs_embeds=inputs, cache=batch_cache(prefix, 1), use_cache=True,
                   logits_to_keep=n_t + 1).logits[0, :-1]
    loss = F.cross_entropy(logits.float(), seg.target)
    (grad,) = torch.autograd.grad(loss, one_hot)
    return grad


def step(model: Any, seg: Segments, allowed: Tensor, config: GCGConfig,
         generator: torch.Generator, prefix: Prefix) -> tuple[Tensor, float]:
    """One GCG step: the best of `config.batch` single-token swaps and its loss."""
    grad = token_gradients(model, seg, prefix)                              # (L, V)
    masked = torch.full_like(grad, float("inf"))
    masked[:, allowed] = grad[:, allowed]
    top = (-masked).topk(config.top_k, dim=-1).indices                      # (L, k)
    pos = torch.randint(0, len(seg.suffix), (config.batch,), generator=generator)
    pick = torch.randint(0, config.top_k, (config.batch,), generator=generator)
    cands = seg.suffix.repeat(config.batch, 1)
    cands[torch.arange(config.batch), pos] = top[pos, pick]
    with torch.no_grad():
        losses = target_loss(model, seg, cands, prefix)
    best = int(losses.argmin())
    return cands[best], float(losses[best])


def attack(lm: Any, request: str, config: GCGConfig, seed: int = 0,
           allowed: Tensor | None = None) -> dict[str, Any]:
    """Search a suffix for one request; returns the suffix, loss curve and the reply."""
    from alignlab.models.hf import decode

    model = lm.model
    allowed = allowed if allowed is not None else allowed_tokens(lm.tokenizer)
    generator = torch.Generator().manual_seed(seed)
    init = allowed[torch.randint(0, len(allowed), (config.suffix_len,), generator=generator)]
    seg = segments(lm, request, init, config.target)
    prefix = prefix_cache(model, seg.before)
    with torch.no_grad():
        losses = [float(target_loss(model, seg, seg.suffix[None], prefix)[0])]
    # Gradients flow to the one-hot suffix only; restore the caller's flags afterwards.
    flags = [p.requires_grad for p in model.parameters()]
    for p in model.parameters():
        p.requires_grad_(False)
    try:
        for _ in range(config.steps):
            suffix, loss = step(model, seg, allowed, config, generator, prefix)
            if loss < losses[-1]:
                seg.suffix = suffix
            losses.append(min(loss, losses[-1]))
    finally:
        for p, flag in zip(model.parameters(), flags, strict=True):
            p.requires_grad_(flag)
    prompt_ids = torch.cat([seg.before, seg.suffix, seg.after]).tolist()
    (ids, _), = decode(model, [prompt_ids], SamplingParams(max_new_tokens=config.max_new_tokens),
                       lm.eos_ids, lm.pad_id)
    reply = lm.tokenizer.decode([i for i in ids if i not in lm.eos_ids], skip_special_tokens=True)
    return {"suffix": lm.tokenizer.decode(seg.suffix.tolist()), "losses": losses,
            "response": reply, "prompt": f"{request} {lm.tokenizer.decode(seg.suffix.tolist())}"}


def run_gcg(lm: Any, items: Sequence[dict[str, Any]], store: Any, grader: Any,
            config: GCGConfig, seed: int = 0) -> list[dict[str, Any]]:
    """GCG on each item (skipping those already stored); returns their records."""
    if not hasattr(lm, "model") or not hasattr(lm, "format"):
        raise ValueError(f"GCG needs a local Hugging Face target (embedded or hf:), not {lm.name}")
    allowed = allowed_tokens(lm.tokenizer)
    done = store.done()
    for it in items:
        key = f"gcg:{it['id']}"
        if key in done:
            continue
        out = attack(lm, it["prompt"], config, seed, allowed)
        record = {"key": key, "kind": "harmful", "category": it["category"], "item": it["id"],
                  "attack": "gcg", "behaviour": it["prompt"], "target": lm.name, **out}
        grader([record])
        store.add([record])
    return [r for it in items if (r := store.get(f"gcg:{it['id']}")) is not None]
