"""One language-model interface, five backends: embedded, hf, tiny, openai, mock."""

from alignlab.models.base import (
    LM,
    Completion,
    Messages,
    Prompt,
    SamplingParams,
    TargetError,
    as_messages,
)
from alignlab.models.spec import FORMS, TargetSpec, load_target, parse_target, valid_forms

__all__ = [
    "FORMS", "LM", "Completion", "Messages", "Prompt", "SamplingParams", "TargetError",
    "TargetSpec", "as_messages", "load_target", "parse_target", "valid_forms",
]
