"""Shared fixtures. Tests run offline; the embedded model is used only where marked."""

from __future__ import annotations

import os

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


@pytest.fixture(scope="session")
def embedded_lm():
    """The embedded SmolLM2 model, loaded once per test session."""
    from alignlab.models import load_target

    return load_target("embedded")


@pytest.fixture
def toy_lm():
    from alignlab.models import load_target

    return load_target("tiny:toy")
