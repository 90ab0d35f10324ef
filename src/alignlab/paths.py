"""Where alignlab keeps converted models and cached trained artifacts."""

from __future__ import annotations

import os
from pathlib import Path


def cache_dir() -> Path:
    """``$ALIGNLAB_CACHE``, else ``$XDG_CACHE_HOME/alignlab``, else ``~/.cache/alignlab``."""
    root = os.environ.get("ALIGNLAB_CACHE")
    if root:
        path = Path(root)
    else:
        path = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "alignlab"
    path.mkdir(parents=True, exist_ok=True)
    return path


def artifact_dir(kind: str, key: str) -> Path:
    """Directory for a trained artifact keyed by a hash of its configuration."""
    return cache_dir() / "artifacts" / f"{kind}-{key}"
