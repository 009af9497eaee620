"""Where a run keeps each stage's output: one folder per stage, a marker when it finished.

`vlcultura run` writes, and `vlcultura publish` and the notebooks read, through this one class,
so the folder layout is stated once. A stage counts as finished only when its `.done` marker
exists (written last, after the stage's own files), which is what makes a re-run resumable.
"""
from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

DONE_MARKER = ".done.json"
RECIPE_IN_REPO = "configs/recipe.yaml"  # where publish puts the recipe in each repo; cards link it
RESOLVED_IN_REPO = "configs/resolved.yaml"  # the run's resolved recipe; the notebooks load it


@dataclass(frozen=True)
class RunLayout:
    """The folders of one run under `root`."""

    root: Path

    @classmethod
    def at(cls, root: str | Path) -> "RunLayout":
        return cls(Path(root).resolve())

    def stage_dir(self, stage: str) -> Path:
        return self.root / stage

    @property
    def recipe_path(self) -> Path:
        """The recipe as the user wrote it (copied at the start of the run)."""
        return self.root / "recipe.yaml"

    @property
    def resolved_config_path(self) -> Path:
        """The recipe with every default filled in: what actually ran."""
        return self.root / "config.yaml"

    def is_done(self, stage: str) -> bool:
        return (self.stage_dir(stage) / DONE_MARKER).is_file()

    def mark_done(self, stage: str, summary: dict[str, Any], seconds: float) -> None:
        """Write the marker last, so a stage killed half-way is redone, never half-trusted."""
        path = self.stage_dir(stage) / DONE_MARKER
        path.parent.mkdir(parents=True, exist_ok=True)
        record = {"stage": stage, "seconds": round(seconds, 2), "finished_at": time.time(),
                  "summary": summary}
        path.write_text(json.dumps(record, ensure_ascii=False, indent=2, default=str), encoding="utf-8")

    def done_record(self, stage: str) -> dict[str, Any]:
        """The marker of a finished stage, or a clear error saying which command finishes it."""
        if not self.is_done(stage):
            raise FileNotFoundError(f"stage {stage!r} has not finished in {self.root}: run "
                                    f"`vlcultura run <recipe> --output {self.root}` first")
        return json.loads((self.stage_dir(stage) / DONE_MARKER).read_text(encoding="utf-8"))

    def outputs(self, stage: str) -> dict[str, str]:
        """The named outputs a finished stage recorded (paths, absolute)."""
        return dict(self.done_record(stage)["summary"].get("outputs", {}))

    def output(self, stage: str, name: str) -> Path:
        """One named output of a finished stage, or a clear error saying what is missing."""
        outputs = self.outputs(stage)
        if name not in outputs:
            raise FileNotFoundError(f"stage {stage!r} in {self.root} recorded no {name!r} output "
                                    f"(it has: {', '.join(outputs) or 'none'})")
        return Path(outputs[name])
