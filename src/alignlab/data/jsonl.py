"""JSONL and Hugging Face `datasets` I/O with validation.

Reading is all-or-nothing: the first bad line raises `DataError` naming the file,
the line and the field. Writing goes through a temporary file and a rename, so a
reader never sees half a file.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any, TypeVar

from alignlab.data.records import RecordError
from alignlab.report.run import atomic_write_text

T = TypeVar("T")


class DataError(ValueError):
    """A data file could not be read; the message names the file, line and field."""


def _rows(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """Yield (line number, object) for each non-blank line; raise on the first bad one."""
    if not path.exists():
        raise DataError(f"{path}: no such file")
    with open(path, encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as err:
                raise DataError(f"{path}:{lineno}: invalid JSON ({err.msg})") from None
            if not isinstance(row, dict):
                raise DataError(f"{path}:{lineno}: expected a JSON object per line")
            yield lineno, row


def read_jsonl_dicts(path: str | Path) -> list[dict[str, Any]]:
    """Read a JSONL file into dicts; blank lines are skipped, anything else must parse."""
    return [row for _, row in _rows(Path(path))]


def read_jsonl(path: str | Path, record_type: type[T]) -> list[T]:
    """Read and validate a JSONL file of `record_type` (Sample, PreferencePair, ...)."""
    out = []
    for lineno, row in _rows(Path(path)):
        try:
            out.append(record_type.from_dict(row))  # type: ignore[attr-defined]
        except RecordError as err:
            raise DataError(f"{path}:{lineno}: {err}") from None
    return out


def record_to_dict(record: Any) -> dict[str, Any]:
    if hasattr(record, "to_dict"):
        return record.to_dict()
    if dataclasses.is_dataclass(record) and not isinstance(record, type):
        return {k: list(v) if isinstance(v, tuple) else v
                for k, v in dataclasses.asdict(record).items()}
    return dict(record)


def write_jsonl(path: str | Path, records: Iterable[Any]) -> Path:
    """Write records (dataclasses or dicts) as JSONL, atomically."""
    lines = [json.dumps(record_to_dict(r), ensure_ascii=False) for r in records]
    atomic_write_text(Path(path), "\n".join(lines) + ("\n" if lines else ""))
    return Path(path)


def to_hf_dataset(records: Sequence[Any]) -> Any:
    """Records to a `datasets.Dataset` (needs the `data` extra)."""
    from datasets import Dataset

    return Dataset.from_list([record_to_dict(r) for r in records])


def from_hf_dataset(dataset: Any, record_type: type[T]) -> list[T]:
    """A `datasets.Dataset` (or any iterable of dicts) to validated records."""
    out = []
    for i, row in enumerate(dataset):
        try:
            out.append(record_type.from_dict(dict(row)))  # type: ignore[attr-defined]
        except RecordError as err:
            raise DataError(f"dataset row {i}: {err}") from None
    return out
