"""alignlab's batched generation vs plain `transformers` `generate`, same model, same run.

Embedded SmolLM2-135M-Instruct, batch 32 distinct chat prompts, 48 new tokens,
sampling at temperature 0.7. Each repeat times both sides back to back (in
alternating order, so a load change on a shared machine hits both alike) and the
ratio is taken per repeat; the median and the spread are printed. Both sides get
a warm-up and run with the same torch thread count. Then a greedy check set must
give identical token ids on both sides.

    python benchmarks/generate.py [--batch 32] [--tokens 48] [--repeats 3] [--threads N]
        [--standard]   # time alignlab's standard (hook-friendly) path instead of the fast one
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time

import torch

from alignlab.models import SamplingParams, fast_llama, load_target
from alignlab.models.hf import HFLM, left_pad

TOPICS = ("cat", "river", "robot", "baker", "storm", "violin", "garden", "comet", "lighthouse",
          "dragon", "teacher", "train", "volcano", "library", "pirate", "snowman", "owl",
          "desert", "clockmaker", "submarine", "fox", "painter", "island", "kite", "mountain",
          "astronaut", "bakery", "whale", "castle", "farmer", "forest", "detective")
TEMPERATURE = 0.7


def prompts(batch: int) -> list[str]:
    topics = [TOPICS[i % len(TOPICS)] for i in range(batch)]
    return [f"Tell me a short story about a {t}." for t in topics]


def until_eos(row: list[int], eos_ids: set[int]) -> list[int]:
    """New tokens up to and including the first end-of-sequence token."""
    cut = next((i for i, t in enumerate(row) if t in eos_ids), len(row) - 1)
    return row[:cut + 1]


def hf_generate(lm: HFLM, batch: list[str], tokens: int, sample: bool, seed: int,
                ) -> tuple[list[list[int]], float]:
    """Plain `model.generate` on the same left-padded prompts; (new ids per row, seconds)."""
    ids, mask = left_pad(lm.encode(batch), lm.pad_id)
    torch.manual_seed(seed)
    start = time.perf_counter()
    with torch.inference_mode():
        out = lm.model.generate(input_ids=ids, attention_mask=mask, max_new_tokens=tokens,
                                do_sample=sample, temperature=TEMPERATURE if sample else None,
                                top_p=None, top_k=None, pad_token_id=lm.pad_id)
    seconds = time.perf_counter() - start
    return [until_eos(row, lm.eos_ids) for row in out[:, ids.shape[1]:].tolist()], seconds


def alignlab_generate(lm: HFLM, batch: list[str], tokens: int, sample: bool, seed: int,
                      ) -> tuple[list[list[int]], float]:
    """`HFLM.generate` (tokenizing included); (new ids per row, end-of-sequence kept, seconds)."""
    params = SamplingParams(max_new_tokens=tokens, temperature=TEMPERATURE if sample else 0.0,
                            seed=seed)
    start = time.perf_counter()
    out = lm.generate(batch, params)
    seconds = time.perf_counter() - start
    eos = min(lm.eos_ids)
    # token_ids leave out the end-of-sequence token; count it back in, as generate's rows hold it.
    return [c.token_ids + ([eos] if len(c.token_ids) < tokens and c.finish_reason == "stop"
                           else []) for c in out], seconds


SIDES = {"transformers.generate": hf_generate, "alignlab": alignlab_generate}


def time_sides(lm: HFLM, batch: list[str], tokens: int, repeats: int) -> list[dict[str, float]]:
    """Tokens/s of each side per repeat, the two sides back to back in alternating order."""
    rates = []
    for r in range(repeats):
        names = list(SIDES) if r % 2 == 0 else list(reversed(SIDES))
        rate = {}
        for name in names:
            rows, seconds = SIDES[name](lm, batch, tokens, True, r)
            rate[name] = sum(len(x) for x in rows) / seconds
        rate["ratio"] = rate["alignlab"] / rate["transformers.generate"]
        print(f"  repeat {r}: transformers.generate {rate['transformers.generate']:6.1f} tok/s, "
              f"alignlab {rate['alignlab']:6.1f} tok/s, ratio {rate['ratio']:.2f}x", flush=True)
        rates.append(rate)
    return rates


def greedy_check(lm: HFLM, check: list[str], tokens: int) -> int:
    """Number of check prompts whose greedy token ids are identical on both sides."""
    ref, _ = hf_generate(lm, check, tokens, False, 0)
    ours, _ = alignlab_generate(lm, check, tokens, False, 0)
    for i, (a, b) in enumerate(zip(ref, ours, strict=True)):
        if a != b:
            print(f"  greedy mismatch on {check[i]!r}:\n    {a}\n    {b}")
    return sum(a == b for a, b in zip(ref, ours, strict=True))


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--tokens", type=int, default=48)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--check", type=int, default=8, help="prompts in the greedy check set")
    parser.add_argument("--threads", type=int, default=0,
                        help="torch threads for both sides (0: torch's default)")
    parser.add_argument("--standard", action="store_true",
                        help="time alignlab's standard path (transformers forward) instead")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    fast_llama.ENABLED = not args.standard
    lm = load_target("embedded")
    assert isinstance(lm, HFLM)
    lm.batch_size = args.batch
    batch = prompts(args.batch)
    encoded = lm.encode(batch)
    print(f"batch {args.batch}, {args.tokens} new tokens, sampling at T={TEMPERATURE}, "
          f"{torch.get_num_threads()} threads; prompts of {min(map(len, encoded))}-"
          f"{max(map(len, encoded))} tokens, {fast_llama.shared_prefix(encoded)} shared; "
          f"alignlab path: {'fast' if fast_llama.supports(lm.model) else 'standard'}", flush=True)
    for side in SIDES.values():  # warm-up: first-call allocations and lazy imports
        side(lm, batch[:4], 4, True, 0)
    rates = time_sides(lm, batch, args.tokens, args.repeats)
    same = greedy_check(lm, prompts(args.check), args.tokens)
    for name in ("transformers.generate", "alignlab"):
        values = [r[name] for r in rates]
        print(f"{name + ':':<23}{statistics.median(values):6.1f} tokens/s (median of "
              f"{len(values)}, range {min(values):.1f}-{max(values):.1f})")
    ratios = [r["ratio"] for r in rates]
    print(f"ratio alignlab / transformers.generate: {statistics.median(ratios):.2f}x "
          f"(median; per repeat {', '.join(f'{x:.2f}' for x in ratios)})")
    print(f"greedy outputs identical: {same}/{args.check}")
    if same != args.check:
        sys.exit(1)


if __name__ == "__main__":
    main()
