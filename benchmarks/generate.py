"""alignlab's batched generation vs plain `transformers` `generate`, same model, same run.

Embedded SmolLM2-135M-Instruct, batch 32, 48 new tokens, sampling (temperature 0.7)
for the speed figures; greedy outputs on a check set must be identical.

    python benchmarks/generate.py [--batch 32] [--tokens 48] [--repeats 2]
"""

from __future__ import annotations

import argparse
import time

import torch

from alignlab.models import SamplingParams, load_target
from alignlab.models.hf import left_pad

TOPICS = ("cat", "river", "robot", "baker", "storm", "violin", "garden", "comet", "lighthouse",
          "dragon", "teacher", "train", "volcano", "library", "pirate", "snowman")


def prompts(batch: int) -> list[str]:
    base = [f"Tell me a short story about a {t}." for t in TOPICS]
    return (base * (batch // len(base) + 1))[:batch]


def hf_generate(lm, batch_prompts, tokens: int, sample: bool, seed: int) -> tuple[list, float]:
    """Plain `model.generate` on the same left-padded batch; returns (new ids, seconds)."""
    ids, mask = left_pad(lm.encode(batch_prompts), lm.pad_id)
    torch.manual_seed(seed)
    start = time.perf_counter()
    with torch.inference_mode():
        out = lm.model.generate(input_ids=ids, attention_mask=mask, max_new_tokens=tokens,
                                do_sample=sample, temperature=0.7 if sample else None,
                                top_p=None, top_k=None, pad_token_id=lm.pad_id)
    seconds = time.perf_counter() - start
    new = out[:, ids.shape[1]:].tolist()
    # Count tokens up to and including the first end-of-sequence, as alignlab does.
    trimmed = []
    for row in new:
        cut = next((i for i, t in enumerate(row) if t in lm.eos_ids), len(row) - 1)
        trimmed.append(row[:cut + 1])
    return trimmed, seconds


def alignlab_generate(lm, batch_prompts, tokens: int, sample: bool, seed: int):
    params = SamplingParams(max_new_tokens=tokens, temperature=0.7 if sample else 0.0, seed=seed)
    start = time.perf_counter()
    out = lm.generate(batch_prompts, params)
    seconds = time.perf_counter() - start
    # token_ids exclude the end-of-sequence token; count it back in, as generate's rows hold it.
    return [c.token_ids + ([0] if c.finish_reason == "stop" else []) for c in out], seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--tokens", type=int, default=48)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--check", type=int, default=8, help="prompts in the greedy check set")
    args = parser.parse_args()
    lm = load_target("embedded")
    lm.batch_size = args.batch
    batch = prompts(args.batch)
    alignlab_generate(lm, batch[:4], 4, True, 0)  # warm-up, both paths share the model
    rates = {"transformers.generate": [], "alignlab": []}
    for r in range(args.repeats):
        for name, fn in (("transformers.generate", hf_generate), ("alignlab", alignlab_generate)):
            rows, seconds = fn(lm, batch, args.tokens, True, r)
            rates[name].append(sum(len(x) for x in rows) / seconds)
            print(f"  {name:<22} repeat {r}: {rates[name][-1]:6.1f} tokens/s")
    check = prompts(args.check)
    ref, _ = hf_generate(lm, check, args.tokens, False, 0)
    ours, _ = alignlab_generate(lm, check, args.tokens, False, 0)
    ours_ids = [c for c in (lm.generate(check, SamplingParams(max_new_tokens=args.tokens)))]
    same = sum(a[:len(o.token_ids)] == o.token_ids for a, o in zip(ref, ours_ids, strict=True))
    hf_rate = max(rates["transformers.generate"])
    our_rate = max(rates["alignlab"])
    print(f"batch {args.batch}, {args.tokens} new tokens, sampling, best of {args.repeats}")
    print(f"transformers.generate: {hf_rate:.1f} tokens/s")
    print(f"alignlab:              {our_rate:.1f} tokens/s")
    print(f"ratio alignlab / transformers.generate: {our_rate / hf_rate:.2f}x")
    print(f"greedy outputs identical: {same}/{len(check)}")
    del ours


if __name__ == "__main__":
    main()
