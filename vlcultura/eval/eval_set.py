"""The held-out images to caption, read from the exported KTO dataset.

The references of an image are the desirable completions of its rows in the eval split
(grouped by `image_id`); its prompt is the training prompt of those rows, so base and tuned
models are asked exactly what training asked. Text-only rows (Arena) have no image: skipped
and counted.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vlcultura.eval.metrics.cultural import ImageMeta


class EvalDataError(ValueError):
    """The dataset cannot be evaluated as asked; the message says what to do."""


@dataclass
class EvalImage:
    """One held-out image: what to ask, what it shows, what a good answer says."""

    id: str
    prompt: list[dict[str, Any]]
    images: list[Any]
    references: list[str]
    meta: ImageMeta = field(default_factory=ImageMeta)


def completion_text(completion: Any) -> str:
    """The text of a conversational completion (list of assistant messages) or a plain string."""
    if isinstance(completion, str):
        return completion
    parts = []
    for message in completion or []:
        content = message.get("content")
        if isinstance(content, str):
            parts.append(content)
        else:
            parts.extend(p.get("text") or "" for p in content or [] if p.get("type") == "text")
    return " ".join(p.strip() for p in parts if p and p.strip())


def load_split(dataset_dir: str | Path, split: str) -> Any:
    """One split of a saved DatasetDict (what `vlcultura export` writes under `<out>/kto`)."""
    import datasets

    path = Path(dataset_dir)
    if not path.exists():
        raise EvalDataError(f"{path} does not exist: set eval.dataset to the exported KTO folder (<export>/kto)")
    loaded = datasets.load_from_disk(str(path))
    if isinstance(loaded, datasets.DatasetDict):
        if split not in loaded:
            raise EvalDataError(f"{path} has splits {sorted(loaded)}, not {split!r}: set eval.split")
        return loaded[split]
    return loaded


def references_by_image(rows: Any) -> tuple[dict[str, list[str]], dict[str, int], int]:
    """image_id -> desirable texts, image_id -> first desirable row index, text-only rows skipped."""
    light = rows.select_columns([c for c in ("image_id", "completion", "label") if c in rows.column_names])
    refs: dict[str, list[str]] = {}
    first: dict[str, int] = {}
    skipped = 0
    for i, row in enumerate(light):
        if not row.get("image_id"):
            skipped += 1
            continue
        if row.get("label"):
            text = completion_text(row["completion"])
            if text:
                refs.setdefault(str(row["image_id"]), []).append(text)
                first.setdefault(str(row["image_id"]), i)
    return refs, first, skipped


def load_eval_images(dataset_dir: str | Path, split: str = "test",
                     max_images: int | None = None) -> tuple[list[EvalImage], list[str]]:
    """The images of `split` with at least one desirable reference, and notes on what was skipped."""
    rows = load_split(dataset_dir, split)
    missing = {"prompt", "completion", "label", "images", "image_id"} - set(rows.column_names)
    if missing:
        raise EvalDataError(f"{dataset_dir} split {split!r} lacks columns {sorted(missing)}: "
                            "evaluate reads the KTO dataset `vlcultura export` writes")
    refs, first, skipped = references_by_image(rows)
    notes = []
    if skipped:
        notes.append(f"{skipped} text-only rows (no image_id) are not captioned")
    ids = sorted(first, key=first.__getitem__)[: max_images or None]
    if not ids:
        raise EvalDataError(f"{dataset_dir} split {split!r} has no image with a desirable description")
    items = []
    for image_id in ids:
        row = rows[first[image_id]]
        meta = ImageMeta(labels=list(row.get("labels") or []), country=row.get("country"),
                         variety=row.get("variety"))
        items.append(EvalImage(image_id, row["prompt"], list(row["images"] or []), refs[image_id], meta))
    return items, notes


def train_references(dataset_dir: str | Path, split: str = "train") -> list[list[str]]:
    """Desirable texts per image of another split: a fixed CIDEr-D IDF corpus."""
    import datasets

    if not isinstance(datasets.load_from_disk(str(dataset_dir)), datasets.DatasetDict):
        raise EvalDataError(f"{dataset_dir} has no {split!r} split to take a fixed CIDEr-D IDF from")
    refs, _, _ = references_by_image(load_split(dataset_dir, split))
    return list(refs.values())
