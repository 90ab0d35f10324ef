"""DPO step time: alignlab's LoRA DPO loop against TRL's DPOTrainer, same run, same data.

Both train the embedded SmolLM2-135M with LoRA r=16 (alpha 32) on q, k, v, o, 4
preference pairs per step, beta 0.1, lr 5e-4, on the same chat-formatted pairs
(~45 tokens each). The first step of each is a warm-up and not timed. alignlab
computes reference log-probs once before training; that pass is charged to its
steps (spread over one epoch of the timed pairs), so the ratio is conservative.

    .venv/bin/pip install trl      # the peer; not a dependency of alignlab
    python benchmarks/dpo_vs_trl.py [--steps 4]

TRL runs twice, both in fp32 like alignlab: with DPOConfig's default gradient
checkpointing, and with it off (TRL's fastest setting here). Prints seconds per step
of each, the ratios, and the first-step loss and mean log-probs (they must agree:
same sequences, same model, same adapter start).
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from typing import Any

import torch

from alignlab.evals.audit import load_suite
from alignlab.models import load_target
from alignlab.studies.sycophancy_dpo import preference_pairs
from alignlab.train.common import trainable
from alignlab.train.dpo import encode, seeded_lora
from alignlab.train.lora import AlignConfig, batch_loss

CONFIG = AlignConfig(lora_r=16, lora_alpha=32, loss="dpo", beta=0.1, lr=5e-4, batch_size=4)


def pairs(n: int) -> list[tuple[str, str, str]]:
    """n single-turn pairs from the sycophancy train items (strings only, as TRL needs)."""
    items = [it for it in load_suite("sycophancy") if it["split"] == "train"]
    single = [p for p in preference_pairs(items) if isinstance(p[0], str)]
    return single[:n]


def time_alignlab(rows: list[tuple[str, str, str]], steps: int) -> dict[str, Any]:
    lm: Any = load_target("embedded")
    seeded_lora(lm, CONFIG)
    start = time.perf_counter()
    data = encode(lm, [r[0] for r in rows], [r[1] for r in rows], [r[2] for r in rows])
    reference_s = time.perf_counter() - start
    model = lm.model.train()
    optimizer = torch.optim.AdamW(trainable(model), lr=CONFIG.lr, weight_decay=0.0)
    times, first = [], {}
    for step in range(steps):
        idx = list(range(step * 4, step * 4 + 4))
        t0 = time.perf_counter()
        loss, record = batch_loss(model, data, idx, CONFIG)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        times.append(time.perf_counter() - t0)
        if step == 0:
            assert data.ref_chosen is not None and data.ref_rejected is not None
            first = {"loss": record["loss"],
                     "logps_chosen": float(data.ref_chosen[idx].mean()),  # policy == ref at step 1
                     "logps_rejected": float(data.ref_rejected[idx].mean())}
    tokens = [len(p) + len(c) for p, c in zip(data.prompts, data.chosen, strict=True)]
    step_s = statistics.median(times[1:])
    return {"step_s": step_s, "with_reference_s": step_s + reference_s / steps,
            "reference_s": reference_s, "first": first, "mean_tokens": statistics.mean(tokens),
            "ids": (data.prompts, data.chosen, data.rejected)}


def time_trl(rows: list[tuple[str, str, str]], steps: int, checkpointing: bool,
             ) -> dict[str, Any]:
    """TRL's seconds per step, in fp32 like alignlab. DPOConfig turns gradient
    checkpointing on by default (memory for speed); `checkpointing=False` turns it off,
    the strictest like-for-like comparison."""
    from datasets import Dataset
    from peft import LoraConfig
    from transformers import TrainerCallback
    from trl import DPOConfig, DPOTrainer

    lm: Any = load_target("embedded")
    dataset = Dataset.from_list([{"prompt": lm.format(p), "chosen": c, "rejected": r}
                                 for p, c, r in rows])
    times: list[float] = []
    records: list[dict[str, float]] = []

    class Clock(TrainerCallback):  # type: ignore[misc]
        def on_step_begin(self, *args: Any, **kwargs: Any) -> None:
            self.t0 = time.perf_counter()

        def on_step_end(self, *args: Any, **kwargs: Any) -> None:
            times.append(time.perf_counter() - self.t0)

        def on_log(self, args: Any, state: Any, control: Any, logs: Any = None, **kw: Any,
                   ) -> None:
            records.append(dict(logs or {}))

    with tempfile.TemporaryDirectory() as tmp:
        args = DPOConfig(output_dir=tmp, per_device_train_batch_size=4, max_steps=steps,
                         learning_rate=CONFIG.lr, beta=CONFIG.beta, lr_scheduler_type="constant",
                         logging_steps=1, report_to="none", save_strategy="no", use_cpu=True,
                         seed=0, disable_tqdm=True, train_sampling_strategy="sequential",
                         # TRL's default bf16 autocast is emulated on these cores (no native
                         # bf16): 88.8 s a step here. Nobody would train so; fp32 like alignlab.
                         bf16=False, gradient_checkpointing=checkpointing)
        lora = LoraConfig(r=16, lora_alpha=32, lora_dropout=0.0, task_type="CAUSAL_LM",
                          target_modules=["q_proj", "k_proj", "v_proj", "o_proj"])
        torch.manual_seed(CONFIG.seed)
        trainer = DPOTrainer(model=lm.model, args=args, train_dataset=dataset,
                             processing_class=lm.tokenizer, peft_config=lora,
                             callbacks=[Clock()])
        tokenized = trainer.train_dataset
        trainer.train()
    step_logs = [entry for entry in records if "loss" in entry]
    first = step_logs[0] if step_logs else {}
    return {"step_s": statistics.median(times[1:]), "first": first,
            "ids": ([list(x) for x in tokenized["prompt_ids"]],
                    [list(x) for x in tokenized["chosen_ids"]],
                    [list(x) for x in tokenized["rejected_ids"]])}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=4, help="steps of each (first untimed)")
    args = parser.parse_args()
    rows = pairs(4 * args.steps)
    ours = time_alignlab(rows, args.steps)
    print(f"alignlab done: {ours['step_s']:.2f} s/step; now TRL", flush=True)
    peers = {"TRL, its default gradient checkpointing": time_trl(rows, args.steps, True),
             "TRL, checkpointing off": time_trl(rows, args.steps, False)}
    print(f"threads {torch.get_num_threads()}; {len(rows)} pairs, mean sequence "
          f"{ours['mean_tokens']:.0f} tokens; all fp32")
    print(f"alignlab   {ours['step_s']:.2f} s/step (step only), {ours['with_reference_s']:.2f} "
          f"s/step with its one-off reference pass ({ours['reference_s']:.1f} s) spread over "
          f"{args.steps} steps")
    for name, peer in peers.items():
        first = peer["first"]
        print(f"{name}: {peer['step_s']:.2f} s/step; same token ids: {ours['ids'] == peer['ids']}")
        print(f"  ratio      {peer['step_s'] / ours['with_reference_s']:.2f}x faster (reference "
              f"pass included), {peer['step_s'] / ours['step_s']:.2f}x (step only)")
        print(f"  first-step loss   alignlab {ours['first']['loss']:.6f}  TRL "
              f"{first.get('loss', float('nan')):.6f}  |diff| "
              f"{abs(ours['first']['loss'] - first.get('loss', float('nan'))):.2e}")
        print(f"  first-step logps  chosen {ours['first']['logps_chosen']:.4f} vs TRL "
              f"{first.get('logps/chosen', float('nan')):.4f}; rejected "
              f"{ours['first']['logps_rejected']:.4f} vs TRL "
              f"{first.get('logps/rejected', float('nan')):.4f}")


if __name__ == "__main__":
    main()
