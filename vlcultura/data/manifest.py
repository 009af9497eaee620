"""Where images come from and what is known about them: folders, manifests, Hub datasets.

Every source becomes a list of `SourceItem`s: a way to read the bytes plus the raw metadata row.
Metadata columns are found by common names (`file_name`, `label`, `author`...) or by an explicit
mapping (`IngestConfig.columns`), and missing values fall back to the `default_*` settings, so the
Bolivia `labels.csv` and the landmarks `metadata.json` are read by the same code. A row that
cannot be used (no file column, a file that is not there, bad JSON) is reported, never fatal.
"""
from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vlcultura.config import IngestConfig
from vlcultura.cultures import (COUNTRIES, VARIETIES, normalize_country, normalize_variety,
                                variety_for_country)
from vlcultura.records import ImageMeta, Rejection

IMAGE_EXTENSIONS = {".jpg", ".jpeg", ".jfif", ".png", ".webp", ".avif", ".gif", ".bmp", ".tif",
                    ".tiff", ".heic", ".heif"}
MANIFEST_SUFFIXES = {".csv", ".jsonl", ".json"}
# imagefolder's metadata files, looked for at the top of a folder source
FOLDER_MANIFESTS = ("metadata.jsonl", "metadata.csv", "metadata.json")
FIELD_ALIASES: dict[str, tuple[str, ...]] = {
    "file": ("file_name", "file", "filename", "path", "image", "image_path"),
    "labels": ("labels", "label"),
    "country": ("country",),
    "variety": ("variety", "language"),
    "topic": ("topic",),
    "license": ("license",),
    "attribution": ("attribution", "author"),
    "source": ("source", "url"),
}
LABEL_SEPARATOR = "|"  # several labels in one CSV cell: "cuñapé|pan de queso"


class SourceError(ValueError):
    """The source itself cannot be read: nothing to ingest, so the run stops with this message."""


class MetadataError(ValueError):
    """One row's metadata is unusable; the image is rejected with reason `bad_metadata`."""


@dataclass
class SourceItem:
    """One image to ingest: `name` is shown in reports and is the default `source` value."""

    name: str
    path: Path | None = None
    data: bytes | None = None
    row: dict[str, Any] = field(default_factory=dict)

    def size(self) -> int:
        return len(self.data) if self.data is not None else self.path.stat().st_size  # type: ignore[union-attr]

    def read(self) -> bytes:
        return self.data if self.data is not None else self.path.read_bytes()  # type: ignore[union-attr]


def collect(source: str, config: IngestConfig) -> tuple[list[SourceItem], list[Rejection]]:
    """Items and row-level rejections of a folder, manifest file or Hub dataset id."""
    path = Path(source).expanduser()
    if path.is_dir():
        manifest = next((path / m for m in FOLDER_MANIFESTS if (path / m).is_file()), None)
        if manifest is not None:
            return from_manifest(manifest, config)
        return from_folder(path, config), []
    if path.is_file():
        if path.suffix.lower() not in MANIFEST_SUFFIXES:
            raise SourceError(f"{source}: a manifest must be .csv, .jsonl or .json; for images, "
                              "pass their folder")
        return from_manifest(path, config)
    if source.startswith(("/", ".", "~")) or path.suffix.lower() in MANIFEST_SUFFIXES | IMAGE_EXTENSIONS:
        raise SourceError(f"{source}: no such folder or manifest file")
    return from_hub(source, config), []


def from_folder(root: Path, config: IngestConfig) -> list[SourceItem]:
    """Image files under `root` in sorted order; sub-folder names are labels (imagefolder)."""
    items = []
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        if path.suffix.lower() not in IMAGE_EXTENSIONS or path.name.startswith("."):
            continue
        rel = path.relative_to(root)
        row = {"labels": [rel.parent.name]} if config.folder_labels and len(rel.parts) > 1 else {}
        items.append(SourceItem(name=rel.as_posix(), path=path, row=row))
    return items


def from_manifest(manifest: Path, config: IngestConfig) -> tuple[list[SourceItem], list[Rejection]]:
    """Rows of a CSV/JSONL/JSON manifest; files are relative to the manifest's folder."""
    base = manifest.parent
    file_column = config.columns.get("file")
    items: list[SourceItem] = []
    rejections: list[Rejection] = []
    for where, row in _read_rows(manifest, rejections):
        column = file_column or next((c for c in FIELD_ALIASES["file"] if row.get(c)), None)
        if not column or not row.get(column):
            rejections.append(Rejection(source=where, reason="bad_metadata", detail=(
                f"no image file column (looked for {file_column or FIELD_ALIASES['file']}): "
                "name it file_name or set ingest.columns.file")))
            continue
        relative = str(row[column])
        path = (base / relative).resolve()
        if not path.is_file():
            rejections.append(Rejection(source=relative, reason="missing_file", detail=(
                f"{where} names {relative!r}, which is not a file under {base}: fix the path or "
                "remove the row")))
            continue
        items.append(SourceItem(name=Path(relative).as_posix(), path=path, row=row))
    return items, rejections


def _read_rows(manifest: Path, rejections: list[Rejection]) -> Iterator[tuple[str, dict[str, Any]]]:
    """(where, row) pairs; a malformed JSON line is a rejection, the rest is still read."""
    suffix = manifest.suffix.lower()
    if suffix == ".csv":
        with manifest.open(encoding="utf-8-sig", newline="") as handle:
            for number, row in enumerate(csv.DictReader(handle), start=2):
                yield f"{manifest.name}:{number}", row
        return
    text = manifest.read_text(encoding="utf-8")
    if suffix == ".json":
        try:
            rows = json.loads(text)
        except json.JSONDecodeError as err:
            raise SourceError(f"{manifest}: not valid JSON ({err}); expected a list of objects") from err
        if not isinstance(rows, list):
            raise SourceError(f"{manifest}: expected a JSON list of objects, one per image")
        lines: list[tuple[int, Any]] = list(enumerate(rows, start=1))
    else:
        lines = []
        for number, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            try:
                lines.append((number, json.loads(line)))
            except json.JSONDecodeError as err:
                rejections.append(Rejection(source=f"{manifest.name}:{number}", reason="bad_metadata",
                                            detail=f"not valid JSON ({err}): fix or remove the line"))
    for number, row in lines:
        if isinstance(row, dict):
            yield f"{manifest.name}:{number}", row
        else:
            rejections.append(Rejection(source=f"{manifest.name}:{number}", reason="bad_metadata",
                                        detail="expected a JSON object per image"))


def from_hub(dataset_id: str, config: IngestConfig) -> list[SourceItem]:
    """All splits of a Hub dataset; fails with a clear message offline or when it is missing."""
    import datasets

    try:
        loaded = datasets.load_dataset(dataset_id)
    except Exception as err:  # offline, missing, private, gated: all end the run the same way
        raise SourceError(
            f"{dataset_id!r} is not a folder or manifest here, and loading it as a Hub dataset "
            f"failed ({type(err).__name__}: {err}). Check the path; for the Hub, go online "
            "(HF_HUB_OFFLINE unset) and set HF_TOKEN for private or gated datasets.") from err
    return from_dataset(loaded, dataset_id)


def from_dataset(loaded: Any, name: str) -> list[SourceItem]:
    """Rows of a `datasets.Dataset`/`DatasetDict` with an `Image` column, read as raw bytes."""
    import datasets

    splits = loaded.items() if isinstance(loaded, datasets.DatasetDict) else [("train", loaded)]
    items: list[SourceItem] = []
    for split, dataset in splits:
        image_column = next((c for c, f in dataset.features.items() if isinstance(f, datasets.Image)), None)
        if image_column is None:
            raise SourceError(f"{name} split {split!r} has no Image column: nothing to ingest")
        class_labels = {c: f for c, f in dataset.features.items() if isinstance(f, datasets.ClassLabel)}
        raw = dataset.cast_column(image_column, datasets.Image(decode=False))
        for index, row in enumerate(raw):
            image = row.pop(image_column)
            for column, feature in class_labels.items():
                if row.get(column) is not None:
                    row[column] = feature.int2str(row[column])
            path = Path(image["path"]) if image.get("path") and not image.get("bytes") else None
            items.append(SourceItem(name=f"{name}/{split}/{index}", path=path,
                                    data=image.get("bytes"), row=row))
    return items


def resolve_meta(item: SourceItem, config: IngestConfig) -> ImageMeta:
    """The row's metadata with defaults applied and countries/varieties normalised."""
    def value(field_name: str) -> Any:
        column = config.columns.get(field_name)  # type: ignore[call-overload]
        names = (column,) if column else FIELD_ALIASES[field_name]
        found = next((item.row[c] for c in names if item.row.get(c) not in (None, "", [])), None)
        return found if found is not None else getattr(config, f"default_{field_name}", None)

    raw_country = value("country")
    country = normalize_country(str(raw_country)) if raw_country else None
    if raw_country and country is None:
        raise MetadataError(f"unknown country {raw_country!r}: use an ISO 3166-1 alpha-2 code or "
                            f"name ({', '.join(sorted(COUNTRIES))}), or add it to "
                            "vlcultura.cultures.COUNTRIES")
    raw_variety = value("variety")
    variety = normalize_variety(str(raw_variety)) if raw_variety else variety_for_country(country)
    if raw_variety and variety is None:
        raise MetadataError(f"unknown language variety {raw_variety!r}; known: "
                            f"{', '.join(sorted(VARIETIES))}. Register one with "
                            "vlcultura.cultures.register_variety")
    return ImageMeta(country=country, variety=variety, topic=_text(value("topic")),
                     labels=_labels(value("labels")), license=_text(value("license")),
                     attribution=_text(value("attribution")),
                     source=_text(value("source")) or item.name)


def _text(value: Any) -> str | None:
    return str(value).strip() or None if value is not None else None


def _labels(value: Any) -> list[str]:
    if value is None:
        return []
    parts = value if isinstance(value, list) else str(value).split(LABEL_SEPARATOR)
    return [str(p).strip() for p in parts if str(p).strip()]
