"""Scoring a few one-word answers per prompt, cheaply where the backend allows it."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from alignlab.models import LM, Prompt


def option_logprobs(lm: LM, prompts: Sequence[Prompt], options: Sequence[str],
                    batch_size: int = 16) -> np.ndarray:
    """(len(prompts), len(options)) log-probabilities of each one-word answer.

    A local Hugging Face model answers all options from one forward pass per prompt
    (the next-token distribution, at each option's first token); other backends score
    each option as a completion, which costs one pass per option."""
    if not (hasattr(lm, "model") and hasattr(lm, "encode") and hasattr(lm, "tokenizer")):
        cols = [[sum(lp) for lp in lm.logprobs(prompts, [o] * len(prompts))] for o in options]
        return np.array(cols).T
    from alignlab.models.hf import left_pad, positions

    first = [lm.tokenizer(o, add_special_tokens=False)["input_ids"][0] for o in options]
    encoded = lm.encode(prompts)  # type: ignore[attr-defined]
    out = []
    with torch.inference_mode():
        for s in range(0, len(encoded), batch_size):
            ids, mask = left_pad(encoded[s:s + batch_size], lm.pad_id)  # type: ignore
            logits = lm.model(input_ids=ids, attention_mask=mask,  # type: ignore[attr-defined]
                              position_ids=positions(mask), logits_to_keep=1).logits[:, -1]
            out.append(torch.log_softmax(logits.float(), -1)[:, first])
    return torch.cat(out).numpy()
