"""Reading references and predictions: COCO-format JSON files or JSONL, into one aligned table.

References: a COCO annotations file (`{"annotations": [{"image_id", "caption"}, ...]}`) or JSONL
rows `{"id", "references": [...]}` that may also carry `labels`, `country`, `variety` (used by
the cultural metrics). Predictions: a COCO results file (`[{"image_id", "caption"}]`) or JSONL
rows `{"id", "prediction"}`. As in pycocoevalcap, the images scored are those with a
prediction. A malformed row is skipped with a recorded reason; the rest is scored.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vlcultura.eval.metrics.cultural import ImageMeta


class EvalInputError(ValueError):
    """Inputs that cannot be scored at all (unreadable file, nothing in common)."""


@dataclass
class EvalTable:
    """Aligned rows: one prediction and its references per image id."""

    ids: list[str]
    predictions: list[str]
    references: list[list[str]]
    metas: list[ImageMeta]
    problems: list[str] = field(default_factory=list)  # skipped rows and why


def _read_json_or_jsonl(path: Path, problems: list[str]) -> tuple[str, Any]:
    if not path.is_file():
        raise EvalInputError(f"{path}: file not found")
    text = path.read_text(encoding="utf-8")
    if path.suffix == ".jsonl":
        rows = []
        for n, line in enumerate(text.splitlines(), 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as err:
                problems.append(f"{path.name}:{n}: not JSON ({err.msg}); row skipped")
                continue
            if not isinstance(row, dict):
                problems.append(f"{path.name}:{n}: a row must be a JSON object; row skipped")
                continue
            rows.append((n, row))
        return "jsonl", rows
    try:
        return "coco", json.loads(text)
    except json.JSONDecodeError as err:
        raise EvalInputError(f"{path}: not valid JSON ({err.msg} at line {err.lineno}); "
                             "use a COCO .json file or a .jsonl file with one object per line") from err


def read_references(path: str | Path, problems: list[str]) -> dict[str, tuple[list[str], ImageMeta]]:
    """Image id -> (reference captions, metadata)."""
    path = Path(path)
    kind, data = _read_json_or_jsonl(path, problems)
    refs: dict[str, tuple[list[str], ImageMeta]] = {}
    if kind == "coco":
        if not isinstance(data, dict) or not isinstance(data.get("annotations"), list):
            raise EvalInputError(f"{path}: a COCO references file needs an 'annotations' list")
        for n, ann in enumerate(data["annotations"]):
            if not isinstance(ann, dict) or "image_id" not in ann or not isinstance(ann.get("caption"), str):
                problems.append(f"{path.name}: annotation #{n} lacks image_id/caption; skipped")
                continue
            refs.setdefault(str(ann["image_id"]), ([], ImageMeta()))[0].append(ann["caption"])
        return refs
    for n, row in data:
        captions = row.get("references")
        if "id" not in row or not isinstance(captions, list) or not all(isinstance(c, str) for c in captions):
            problems.append(f"{path.name}:{n}: needs 'id' and a 'references' list of strings; row skipped")
            continue
        meta = ImageMeta(labels=[str(x) for x in row.get("labels") or []], country=row.get("country"),
                         variety=row.get("variety"))
        entry = refs.setdefault(str(row["id"]), ([], meta))
        entry[0].extend(captions)
    return refs


def read_predictions(path: str | Path, problems: list[str]) -> dict[str, str]:
    """Image id -> predicted caption (a second prediction for an id is refused)."""
    path = Path(path)
    kind, data = _read_json_or_jsonl(path, problems)
    if kind == "coco":
        if not isinstance(data, list):
            raise EvalInputError(f"{path}: a COCO results file is a list of {{image_id, caption}}")
        rows = [(n, {"id": r.get("image_id"), "prediction": r.get("caption")}) if isinstance(r, dict)
                else (n, {}) for n, r in enumerate(data, 1)]
    else:
        rows = data
    preds: dict[str, str] = {}
    for n, row in rows:
        if row.get("id") is None or not isinstance(row.get("prediction"), str):
            problems.append(f"{path.name}:{n}: needs an id and a string prediction/caption; skipped")
        elif str(row["id"]) in preds:
            problems.append(f"{path.name}:{n}: second prediction for image {row['id']}; kept the first")
        else:
            preds[str(row["id"])] = row["prediction"]
    return preds


def align(references: dict[str, tuple[list[str], ImageMeta]], predictions: dict[str, str],
          problems: list[str] | None = None) -> EvalTable:
    """Pair every prediction with its references; ids without references are reported."""
    problems = problems if problems is not None else []
    ids = []
    for image_id in predictions:
        if image_id not in references or not references[image_id][0]:
            problems.append(f"prediction for image {image_id} has no references; not scored")
        else:
            ids.append(image_id)
    if not ids:
        raise EvalInputError("no prediction matches a reference id: check that both files use the same "
                             "image ids (COCO image_id / JSONL id)")
    unscored = len(references) - len(ids)
    if unscored > 0:
        problems.append(f"{unscored} referenced images have no prediction; scored only the {len(ids)} that do")
    return EvalTable(ids, [predictions[i] for i in ids], [references[i][0] for i in ids],
                     [references[i][1] for i in ids], problems)


def load_table(references: str | Path, predictions: str | Path) -> EvalTable:
    """Read and align a references file and a predictions file."""
    problems: list[str] = []
    return align(read_references(references, problems), read_predictions(predictions, problems), problems)
