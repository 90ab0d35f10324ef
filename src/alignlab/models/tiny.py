"""Tiny Llama models with word-level tokenizers, for synthetic worlds and tests.

The same `LlamaForCausalLM` class as real models, so every trainer and hook that
works here works on SmolLM2 or any Llama-family checkpoint.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch

SPECIAL_TOKENS = ("<pad>", "<unk>", "<bos>", "<eos>")


@dataclass(frozen=True)
class TinyConfig:
    hidden_size: int = 64
    """Width of the residual stream."""
    layers: int = 2
    """Number of transformer blocks."""
    heads: int = 4
    """Attention heads."""
    intermediate_size: int = 128
    """MLP width."""
    max_positions: int = 128
    """Longest sequence the model accepts."""


def word_tokenizer(vocabulary: Sequence[str]) -> Any:
    """A whitespace word-level tokenizer over `vocabulary` (plus <pad>, <unk>, <bos>, <eos>)."""
    from tokenizers import Tokenizer, models, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    words = list(SPECIAL_TOKENS) + [w for w in dict.fromkeys(vocabulary) if w not in SPECIAL_TOKENS]
    vocab = {w: i for i, w in enumerate(words)}
    core = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<unk>"))
    core.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    core.post_processor = processors.TemplateProcessing(
        single="<bos> $A", special_tokens=[("<bos>", vocab["<bos>"])])
    from tokenizers import decoders

    core.decoder = decoders.WordPiece(prefix="##", cleanup=False)  # joins words with spaces
    return PreTrainedTokenizerFast(tokenizer_object=core, pad_token="<pad>", unk_token="<unk>",
                                   bos_token="<bos>", eos_token="<eos>")


def tiny_model(vocab_size: int, config: TinyConfig = TinyConfig(), seed: int = 0) -> Any:
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(seed)
    llama = LlamaConfig(
        vocab_size=vocab_size, hidden_size=config.hidden_size,
        intermediate_size=config.intermediate_size, num_hidden_layers=config.layers,
        num_attention_heads=config.heads, num_key_value_heads=config.heads,
        max_position_embeddings=config.max_positions, pad_token_id=0, bos_token_id=2,
        eos_token_id=3, tie_word_embeddings=True)
    return LlamaForCausalLM(llama)


def tiny_lm(vocabulary: Sequence[str], config: TinyConfig = TinyConfig(), seed: int = 0,
            name: str = "tiny") -> Any:
    """A fresh (untrained) tiny LM behind the `LM` interface, raw-text prompts."""
    from alignlab.models.hf import HFLM

    tokenizer = word_tokenizer(vocabulary)
    model = tiny_model(len(tokenizer), config, seed)
    return HFLM(model, tokenizer, name=name, chat=False)
