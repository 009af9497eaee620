"""Ingest: photos and their metadata in, a metadata-free `datasets.Dataset` of images out.

Layout of the output folder (see docs/ingest.md):
  DIR/dataset/            `datasets` save_to_disk: ImageRecord columns + `image` (normalised bytes)
  DIR/rejections.jsonl    one Rejection per input that did not make it
  DIR/ingest_report.md    counts, reasons, duplicate groups, what normalisation changed
  DIR/ingest_config.yaml  the settings used
  DIR/.cache/normalised/  per-image results keyed by source bytes + settings: a killed or repeated
                          run redoes only what is missing, and gives the same dataset

The image id is the first 16 hex digits of the SHA-256 of the source file's bytes: stable across
renames, settings and Pillow versions, so later stages (and their paid ledger) keep their keys.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import shutil
import tempfile
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import PIL
from tqdm import tqdm

from vlcultura.config import IngestConfig, dump_config
from vlcultura.data.image_dedup import DuplicateIndex, Fingerprint
from vlcultura.data.images import ImageRejected, NormalisedImage, extension_mismatch, normalise
from vlcultura.data.ingest_report import render_report
from vlcultura.data.manifest import MetadataError, SourceItem, collect, resolve_meta
from vlcultura.records import ImageRecord, Rejection

DATASET_DIR = "dataset"
REJECTIONS_FILE = "rejections.jsonl"
REPORT_FILE = "ingest_report.md"
CONFIG_FILE = "ingest_config.yaml"
CACHE_DIR = Path(".cache") / "normalised"
SAMPLES_SOURCE = "vlcultura:samples"  # the embedded synthetic images (vlcultura.data.samples)
_CACHE_VERSION = 1  # bump when normalisation changes what it writes


@dataclass
class Prepared:
    """An image that decoded and normalised; dedup decides whether it is kept."""

    name: str  # where it came from, as reports show it
    record: ImageRecord
    path: Path  # cached normalised bytes
    notes: tuple[str, ...]


@dataclass
class IngestResult:
    """What a run produced; `records` are in dataset order."""

    out_dir: Path
    source: str
    records: list[ImageRecord]
    rejections: list[Rejection]
    notes: Counter[str] = field(default_factory=Counter)  # normalisation changes, per image
    duplicate_groups: dict[str, list[Rejection]] = field(default_factory=dict)  # kept id -> copies

    @property
    def dataset_path(self) -> Path:
        return self.out_dir / DATASET_DIR


def ingest(source: str | os.PathLike[str], out_dir: str | os.PathLike[str],
           config: IngestConfig | None = None) -> IngestResult:
    """Read, normalise, deduplicate and save every image of `source`; bad input is recorded."""
    config = config or IngestConfig()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    given = str(source)
    source = given
    if given == SAMPLES_SOURCE:
        from vlcultura.data.samples import make_sample_images

        source = str(make_sample_images(out / "samples"))
    items, rejections = collect(source, config)
    cache = _Cache(out / CACHE_DIR, config)
    with ThreadPoolExecutor(config.workers) as pool:
        outcomes = list(tqdm(pool.map(lambda item: _prepare(item, config, cache), items),
                             total=len(items), desc="ingest", unit="image"))
    result = IngestResult(out_dir=out, source=source, records=[], rejections=rejections)
    kept = _deduplicate(outcomes, config, result)
    _write_dataset(out, kept)
    with (out / REJECTIONS_FILE).open("w", encoding="utf-8") as handle:
        for rejection in result.rejections:
            handle.write(rejection.model_dump_json() + "\n")
    (out / REPORT_FILE).write_text(render_report(result, config), encoding="utf-8")
    dump_config(config.model_copy(update={"source": given}), out / CONFIG_FILE)
    return result


def load_images(path: str | os.PathLike[str]) -> Any:
    """The ingested `datasets.Dataset`, from the ingest folder or its `dataset/` sub-folder."""
    from datasets import load_from_disk

    path = Path(path)
    return load_from_disk(str(path / DATASET_DIR if (path / DATASET_DIR).is_dir() else path))


def image_features() -> Any:
    """Explicit schema, so an all-rejected run still writes a well-typed (empty) dataset."""
    from datasets import Features, Image, List, Value

    text = Value("string")
    return Features({
        "id": text, "sha256": text, "phash": text, "width": Value("int32"), "height": Value("int32"),
        "format": text, "original_name": text, "country": text, "variety": text, "topic": text,
        "labels": List(text), "license": text, "attribution": text, "source": text, "image": Image(),
    })


def _prepare(item: SourceItem, config: IngestConfig, cache: "_Cache") -> Prepared | Rejection:
    """Metadata, bounds, normalisation: every failure is a Rejection, never an exception."""
    def reject(reason: str, detail: str) -> Rejection:
        return Rejection(source=item.name, reason=reason, detail=detail)

    try:
        meta = resolve_meta(item, config)
        size = item.size()
        if size > config.max_file_bytes:
            return reject("file_too_large", f"{size:,} bytes, over max_file_bytes="
                          f"{config.max_file_bytes:,}: downscale it or raise ingest.max_file_bytes")
        raw = item.read()
        source_sha = hashlib.sha256(raw).hexdigest()
        image = cache.get(source_sha) or cache.put(source_sha, raw)
    except MetadataError as err:
        return reject("bad_metadata", str(err))
    except ImageRejected as err:
        return reject(err.reason, err.detail)
    except OSError as err:
        return reject("io_error", f"could not read the file ({err}): check it exists and is readable")
    except Exception as err:  # a bug or an exotic file must not stop the other images
        return reject("processing_error", f"{type(err).__name__}: {err}. Please report this file")
    mismatch = extension_mismatch(item.name, image.source_format)
    notes = image.notes + (("extension_mismatch",) if mismatch else ())
    record = ImageRecord(**meta.model_dump(), id=source_sha[:16], sha256=image.sha256, phash=image.phash,
                         width=image.width, height=image.height, format=image.format,
                         original_name=Path(item.name).name)
    return Prepared(name=item.name, record=record, path=cache.image_path(source_sha), notes=notes)


def _deduplicate(outcomes: list[Prepared | Rejection], config: IngestConfig,
                 result: IngestResult) -> list[Prepared]:
    """Keep the first of each exact or near-duplicate group, in source order."""
    index = DuplicateIndex(config.near_duplicate_distance)
    names: dict[str, str] = {}
    kept: list[Prepared] = []
    for outcome in outcomes:
        if isinstance(outcome, Rejection):
            result.rejections.append(outcome)
            continue
        record = outcome.record
        verdict = index.check(Fingerprint(key=record.id, sha256=record.sha256, phash=record.phash))
        if verdict.kept_by is None:
            names[record.id] = outcome.name
            kept.append(outcome)
            result.records.append(record)
            result.notes.update(set(outcome.notes))
            continue
        if verdict.kind == "duplicate":
            detail = f"an exact copy of {names[verdict.kept_by]} (id {verdict.kept_by}), which is kept"
        else:
            detail = (f"looks like {names[verdict.kept_by]} (id {verdict.kept_by}): pHash distance "
                      f"{verdict.distance} <= near_duplicate_distance={config.near_duplicate_distance}"
                      "; set ingest.near_duplicate_distance: null to keep near duplicates")
        rejection = Rejection(source=outcome.name, reason=verdict.kind or "duplicate", detail=detail)
        result.rejections.append(rejection)
        result.duplicate_groups.setdefault(verdict.kept_by, []).append(rejection)
    return kept


def _write_dataset(out: Path, kept: list[Prepared]) -> None:
    """Build the Arrow dataset from cached bytes (streamed, not held in memory) and swap it in."""
    from datasets import Dataset

    features = image_features()
    rows = [(p.record.model_dump(), str(p.path)) for p in kept]
    with tempfile.TemporaryDirectory(dir=out, prefix=".build-") as tmp:
        if rows:
            dataset = Dataset.from_generator(_rows, features=features, gen_kwargs={"rows": rows},
                                             cache_dir=str(Path(tmp) / "cache"))
        else:
            dataset = Dataset.from_dict({name: [] for name in features}, features=features)
        staged = Path(tmp) / DATASET_DIR
        dataset.save_to_disk(str(staged), num_shards=1 if not rows else None)  # 0 shards won't load
        del dataset
        final = out / DATASET_DIR
        if final.exists():
            shutil.rmtree(final)
        os.replace(staged, final)


def _rows(rows: list[tuple[dict[str, Any], str]]) -> Any:
    for record, path in rows:
        extension = "png" if record["format"] == "PNG" else "jpg"
        yield {**record, "image": {"bytes": Path(path).read_bytes(), "path": f"{record['id']}.{extension}"}}


class _Cache:
    """Normalised results on disk, keyed by source bytes and every setting that changes them.

    Results come back without their bytes (`data=b""`): those stay on disk at `image_path` until
    the dataset is written, so a large folder is never held in memory.
    """

    def __init__(self, root: Path, config: IngestConfig) -> None:
        self.root = root
        root.mkdir(parents=True, exist_ok=True)
        settings = config.model_dump(include={"max_side", "max_pixels", "max_encoded_bytes",
                                              "jpeg_quality", "animated"})
        self.salt = json.dumps([settings, PIL.__version__, _CACHE_VERSION], sort_keys=True)
        self.config = config

    def _key(self, source_sha: str) -> str:
        return hashlib.sha256(f"{source_sha}|{self.salt}".encode()).hexdigest()[:32]

    def image_path(self, source_sha: str) -> Path:
        return self.root / f"{self._key(source_sha)}.img"

    def get(self, source_sha: str) -> NormalisedImage | None:
        """The cached result; a cached rejection is raised again as `ImageRejected`."""
        meta_path = self.root / f"{self._key(source_sha)}.json"
        if not meta_path.is_file():
            return None
        entry = json.loads(meta_path.read_text(encoding="utf-8"))
        if "reason" in entry:
            raise ImageRejected(entry["reason"], entry["detail"])
        if not self.image_path(source_sha).is_file():  # bytes deleted by hand: redo this one
            return None
        return NormalisedImage(data=b"", notes=tuple(entry.pop("notes")), **entry)

    def put(self, source_sha: str, raw: bytes) -> NormalisedImage:
        """Normalise and store; the JSON is written last, so its presence means complete."""
        try:
            image = normalise(raw, self.config)
        except ImageRejected as err:
            self._write_json(source_sha, {"reason": err.reason, "detail": err.detail})
            raise
        _atomic_write(self.image_path(source_sha), image.data)
        entry = {"format": image.format, "width": image.width, "height": image.height,
                 "sha256": image.sha256, "phash": image.phash, "source_format": image.source_format,
                 "notes": list(image.notes)}
        self._write_json(source_sha, entry)
        return dataclasses.replace(image, data=b"")

    def _write_json(self, source_sha: str, entry: dict[str, Any]) -> None:
        _atomic_write(self.root / f"{self._key(source_sha)}.json", json.dumps(entry).encode())


def _atomic_write(path: Path, data: bytes) -> None:
    """Write then rename: a killed run never leaves a half-written cache entry."""
    handle, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
    with os.fdopen(handle, "wb") as out:
        out.write(data)
    os.replace(tmp, path)
