"""Every transcript to SQLite (the source of truth, for resumption) and JSONL (for reading).

A record is a flat dict with a unique `key` (suite, item, attack, round...). Batches
are committed to SQLite as they finish, so an interrupted run loses at most the batch
in flight; the rerun skips every key already stored. The JSONL file is appended after
each commit and rewritten from SQLite by `export_jsonl`, so it always ends complete.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from alignlab.report import atomic_write_text


class TranscriptStore:
    def __init__(self, out: Path) -> None:
        self.out = Path(out)
        self.out.mkdir(parents=True, exist_ok=True)
        self.db_path = self.out / "transcripts.sqlite"
        self.jsonl_path = self.out / "transcripts.jsonl"
        self.db = sqlite3.connect(self.db_path)
        self.db.execute("CREATE TABLE IF NOT EXISTS transcripts (key TEXT PRIMARY KEY, "
                        "kind TEXT, category TEXT, attack TEXT, prompt TEXT, response TEXT, "
                        "success INTEGER, record TEXT)")
        self.db.commit()

    def done(self) -> set[str]:
        return {k for (k,) in self.db.execute("SELECT key FROM transcripts")}

    def get(self, key: str) -> dict[str, Any] | None:
        row = self.db.execute("SELECT record FROM transcripts WHERE key = ?", (key,)).fetchone()
        return json.loads(row[0]) if row else None

    def add(self, records: Iterable[dict[str, Any]]) -> None:
        records = list(records)
        self.db.executemany(
            "INSERT OR REPLACE INTO transcripts VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            [(r["key"], r.get("kind"), r.get("category"), r.get("attack"),
              json.dumps(r.get("prompt")), r.get("response"),
              None if r.get("success") is None else int(r["success"]), json.dumps(r))
             for r in records])
        self.db.commit()
        with open(self.jsonl_path, "a", encoding="utf-8") as fh:
            for r in records:
                fh.write(json.dumps(r, ensure_ascii=False) + "\n")

    def records(self, kind: str | None = None, prefix: str = "") -> list[dict[str, Any]]:
        """Stored records (optionally of one kind and key prefix), in insertion order."""
        query, args = "SELECT record FROM transcripts WHERE key LIKE ?", [prefix + "%"]
        if kind is not None:
            query += " AND kind = ?"
            args.append(kind)
        return [json.loads(r) for (r,) in self.db.execute(query + " ORDER BY rowid", args)]

    def export_jsonl(self) -> Path:
        """Rewrite the JSONL file from SQLite (drops duplicates a crash may have left)."""
        lines = [json.dumps(r, ensure_ascii=False) for r in self.records()]
        atomic_write_text(self.jsonl_path, "\n".join(lines) + ("\n" if lines else ""))
        return self.jsonl_path

    def close(self) -> None:
        self.db.close()
