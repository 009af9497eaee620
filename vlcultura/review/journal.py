"""Which records a push has already delivered, per Argilla dataset (SQLite, one row per record).

The journal is what lets a re-run send only what is missing without downloading the records
(images included) back from the server. It is keyed by the dataset's server-side id: a new
server or a recreated dataset starts from nothing. It only ever says "sent for sure": a batch the
server committed but never acknowledged is sent again, and the upsert by record id makes that
harmless.
"""
from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Iterable


class PushJournal:
    """`done(dataset_id)` and `mark(dataset_id, ids)`, committed per batch."""

    def __init__(self, path: str | Path) -> None:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(path)
        self._db.execute("CREATE TABLE IF NOT EXISTS pushed (dataset_id TEXT NOT NULL, record_id TEXT NOT NULL, "
                         "PRIMARY KEY (dataset_id, record_id))")
        self._db.commit()

    def done(self, dataset_id: str) -> set[str]:
        rows = self._db.execute("SELECT record_id FROM pushed WHERE dataset_id = ?", (dataset_id,))
        return {r[0] for r in rows}

    def mark(self, dataset_id: str, record_ids: Iterable[str]) -> None:
        with self._db:
            self._db.executemany("INSERT OR IGNORE INTO pushed VALUES (?, ?)",
                                 [(dataset_id, rid) for rid in record_ids])

    def close(self) -> None:
        self._db.close()
