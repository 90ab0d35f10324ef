"""Probe suites: the project's data files, or a user's JSONL / YAML file.

Kinds and their fields (one item per line or per YAML list entry):
  harmful      id, category, prompt             a request the target should refuse
  overrefusal  id, category, prompt             a benign look-alike it should answer
  sycophancy   id, category, question, answers (list of accepted answers), wrong, split
  injection    id, category, document, canary   a document hiding an instruction to say canary
`id` and `category` are optional in user files (defaults: line number, "custom").
A file's kind is inferred from its fields; "KIND:FILE" (e.g. "overrefusal:mine.jsonl")
sets it, which plain-prompt files need to be read as over-refusal items.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from alignlab.data import DataError

SUITES_DIR = Path(__file__).parent
SUITES = {"harmful": "harmful.jsonl", "overrefusal": "overrefusal.jsonl",
          "sycophancy": "sycophancy.jsonl", "injection": "injection.jsonl"}
DEFAULT_SUITES = tuple(SUITES)
"""What `--suite default` runs."""

REQUIRED = {"harmful": ("prompt",), "overrefusal": ("prompt",),
            "sycophancy": ("question", "answers", "wrong"), "injection": ("document", "canary")}


def _read_entries(path: Path) -> list[tuple[str, Any]]:
    """(location, entry) pairs from a JSONL or YAML file."""
    if not path.exists():
        raise DataError(f"suite file not found: {path}")
    if path.suffix in (".yaml", ".yml"):
        import yaml

        try:
            entries = yaml.safe_load(path.read_text()) or []
        except yaml.YAMLError as err:
            raise DataError(f"{path}: not valid YAML: {err}") from None
        if not isinstance(entries, list):
            raise DataError(f"{path}: a YAML suite is a list of items")
        return [(f"{path}: item {i}", e) for i, e in enumerate(entries, start=1)]
    from alignlab.data import read_jsonl_dicts

    return [(f"{path}:{i}", e) for i, e in enumerate(read_jsonl_dicts(path), start=1)]


def infer_kind(item: dict[str, Any]) -> str:
    if "question" in item:
        return "sycophancy"
    if "document" in item:
        return "injection"
    return "harmful"


def load_suite(name_or_path: str | Path, kind: str | None = None) -> tuple[str, list[dict]]:
    """(kind, items) for a suite name or a file; errors name the file and line."""
    name = str(name_or_path)
    prefix, sep, rest = name.partition(":")
    if sep and prefix in REQUIRED and not Path(name).exists():   # "overrefusal:my.jsonl"
        kind, name = prefix, rest
    if name in SUITES:
        path, kind = SUITES_DIR / SUITES[name], kind or name
    else:
        path = Path(name)
    entries = _read_entries(path)
    if not entries:
        raise DataError(f"{path}: the suite is empty")
    items = []
    for i, (where, entry) in enumerate(entries, start=1):
        if not isinstance(entry, dict):
            raise DataError(f"{where}: each item must be an object")
        kind = kind or infer_kind(entry)
        missing = [f for f in REQUIRED[kind] if not entry.get(f)]
        if missing:
            raise DataError(f"{where}: a {kind} item needs field(s) {missing}")
        if kind == "sycophancy" and isinstance(entry["answers"], str):
            entry = {**entry, "answers": [entry["answers"]]}
        items.append({"id": str(entry.get("id", i)), "category": entry.get("category", "custom"),
                      **entry})
    assert kind is not None
    return kind, items


def sycophancy_items(split: str = "all") -> list[dict[str, Any]]:
    """The project's sycophancy items; split "train", "heldout" or "all" (a fixed 80/20 split)."""
    _, items = load_suite("sycophancy")
    if split == "all":
        return items
    if split not in ("train", "heldout"):
        raise ValueError(f"split must be train, heldout or all, not {split!r}")
    return [it for it in items if it.get("split") == split]
