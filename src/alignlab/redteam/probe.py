"""Send probes to a target in batches, judge the replies, store every transcript.

The one loop under every suite and attack: pending probes (those whose key is not in
the store yet) go to the target a batch at a time; a `Grader` turns the batch's
replies into verdicts; the batch is committed before the next one starts.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from alignlab.models import SamplingParams
from alignlab.models.base import Prompt
from alignlab.redteam.store import TranscriptStore


@dataclass
class Probe:
    key: str
    """Unique within a run: resumption skips keys already stored."""
    prompt: Prompt
    """What the target receives (a string or chat messages)."""
    meta: dict[str, Any] = field(default_factory=dict)
    """Kept in the record: kind, category, item id, attack, behaviour..."""


Grader = Callable[[list[dict[str, Any]]], None]
"""Adds verdict fields (success, refused, ...) to a batch of records, in place."""


def progress() -> Any:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

    return Progress("[progress.description]{task.description}", BarColumn(),
                    MofNCompleteColumn(), TimeRemainingColumn(), transient=True)


def run_probes(lm: Any, probes: Sequence[Probe], store: TranscriptStore, grader: Grader,
               params: SamplingParams, batch_size: int = 32, label: str = "probes",
               ) -> list[dict[str, Any]]:
    """Run every probe not yet stored; return the records of all `probes`, in order."""
    done = store.done()
    pending = [p for p in probes if p.key not in done]
    with progress() as bar:
        task = bar.add_task(label, total=len(probes), completed=len(probes) - len(pending))
        for start in range(0, len(pending), batch_size):
            chunk = pending[start:start + batch_size]
            replies = lm.generate([p.prompt for p in chunk], params)
            records = [{"key": p.key, **p.meta, "prompt": p.prompt, "response": c.text,
                        "target": lm.name} for p, c in zip(chunk, replies, strict=True)]
            grader(records)
            store.add(records)
            bar.advance(task, len(chunk))
    by_key = {r["key"]: r for r in store.records()}
    return [by_key[p.key] for p in probes]
