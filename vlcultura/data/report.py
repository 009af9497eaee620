"""Drop reports: every row a stage removes is listed with a machine code and a human reason.

Filters, the judge and the Arena loader all write one of these next to their output, so a user
can see why the dataset shrank and the Dataset Card can count it.
"""
from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field


class Drop(BaseModel):
    """One removed row: which, and why."""

    row_id: str
    reason: str  # machine code: "refusal", "too_short", "near_duplicate", "tie"...
    detail: str  # what was found, in words
    image_id: str | None = None
    label: bool | None = None


class StageReport(BaseModel):
    """What a stage read, kept and dropped, plus numbers it measured."""

    stage: str
    n_in: int = 0
    n_out: int = 0
    drops: list[Drop] = Field(default_factory=list)
    notes: list[str] = Field(default_factory=list)  # honest remarks: "no tie column in this schema"
    stats: dict[str, Any] = Field(default_factory=dict)

    @property
    def counts_by_reason(self) -> dict[str, int]:
        return dict(Counter(d.reason for d in self.drops).most_common())

    def drop(self, row_id: str, reason: str, detail: str, **extra: Any) -> None:
        """Record one removed row."""
        self.drops.append(Drop(row_id=row_id, reason=reason, detail=detail, **extra))

    def write(self, path: str | Path) -> Path:
        """Write the report as JSON (with the per-reason counts up front)."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        data = {"counts_by_reason": self.counts_by_reason, **self.model_dump(mode="json")}
        path.write_text(json.dumps(data, ensure_ascii=False, indent=2), encoding="utf-8")
        return path

    @classmethod
    def read(cls, path: str | Path) -> "StageReport":
        data = json.loads(Path(path).read_text(encoding="utf-8"))
        data.pop("counts_by_reason", None)
        return cls.model_validate(data)
