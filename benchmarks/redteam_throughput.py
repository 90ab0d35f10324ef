"""Red-team throughput: probes per minute against the embedded model.

alignlab: `run_probes` (batched generation, judging with the calibrated harm and
refusal judges, every transcript committed to SQLite and JSONL).
peer-style loop: one `transformers` `generate` call per prompt, the way a simple
probe harness drives a local model, with no judging or storage at all.

    python benchmarks/redteam_throughput.py [--probes 32] [--tokens 40]

Prints probes/minute for both and their ratio (higher is better for alignlab).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--probes", type=int, default=32)
    parser.add_argument("--tokens", type=int, default=40)
    args = parser.parse_args()

    import torch

    from alignlab.evals import harmful
    from alignlab.models import SamplingParams, load_target
    from alignlab.redteam.probe import run_probes
    from alignlab.redteam.store import TranscriptStore
    from alignlab.redteam.suites import load_suite

    _, items = load_suite("harmful")
    items = items[:: max(1, len(items) // args.probes)][:args.probes]
    lm = load_target("embedded")
    judges = harmful.default_judges()
    judges[0].predict(["warm up"], ["warm up"])          # load the embedding model first

    start = time.perf_counter()
    store = TranscriptStore(Path(tempfile.mkdtemp(prefix="rt-bench-")))
    run_probes(lm, harmful.probes(items), store, harmful.grader(*judges),
               SamplingParams(max_new_tokens=args.tokens))
    ours = len(items) / (time.perf_counter() - start) * 60

    tok, model = lm.tokenizer, lm.model
    start = time.perf_counter()
    with torch.inference_mode():
        for it in items:
            ids = tok.apply_chat_template([{"role": "user", "content": it["prompt"]}],
                                          add_generation_prompt=True, return_tensors="pt",
                                          return_dict=True)
            model.generate(**ids, max_new_tokens=args.tokens, do_sample=False,
                           pad_token_id=tok.pad_token_id)
    peer = len(items) / (time.perf_counter() - start) * 60

    print(f"probes: {len(items)}, new tokens each: {args.tokens}")
    print(f"alignlab run_probes (batched, judged, stored): {ours:8.1f} probes/min")
    print(f"per-prompt transformers generate (no judge):   {peer:8.1f} probes/min")
    print(f"ratio alignlab / per-prompt loop: {ours / peer:.2f}x")


if __name__ == "__main__":
    main()
