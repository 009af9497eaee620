"""The shared real photos go through ingest end to end, through the general manifest mechanisms."""
from __future__ import annotations

import csv
from pathlib import Path

import datasets

from vlcultura.config import IngestConfig
from vlcultura.data.images import metadata_markers
from vlcultura.data.ingest import ingest, load_images


def test_bolivia_masitas_csv(shared_data: Path, tmp_path: Path) -> None:
    folder = shared_data / "images" / "bolivia_masitas"
    manifest = list(csv.DictReader((folder / "labels.csv").open(encoding="utf-8")))
    config = IngestConfig(default_country="Bolivia", default_topic="comida", default_license="MIT",
                          default_attribution="upds-estudiantes/datasets-bolivia",
                          columns={"source": "source_path"})
    result = ingest(folder / "labels.csv", tmp_path, config)
    near = [r for r in result.rejections if r.reason == "near_duplicate"]
    assert len(result.records) + len(near) == len(manifest) and len(result.rejections) == len(near)
    assert len(result.records) >= 100  # a handful of real near-copies are allowed, no more
    dataset = load_images(tmp_path)
    rows = dataset.remove_columns("image")
    assert set(rows["country"]) == {"BO"} and set(rows["variety"]) == {"es-BO"}
    labels = {row["file"]: row["label"] for row in manifest}
    for row in rows:
        assert row["labels"] == [labels[row["original_name"]]]
        assert row["source"].startswith("bolivia-masitas-dataset/")
    for row in dataset.cast_column("image", datasets.Image(decode=False)):
        assert metadata_markers(row["image"]["bytes"]) == []
    # the originals do carry EXIF/XMP/ICC (and rotated photos): all of it was removed
    assert result.notes["exif"] > 0 and result.notes["orientation"] > 0 and result.notes["icc"] > 0


def test_landmarks_json_with_column_mapping(shared_data: Path, tmp_path: Path) -> None:
    config = IngestConfig(columns={"topic": "category"}, max_side=512)
    result = ingest(shared_data / "images" / "landmarks" / "metadata.json", tmp_path, config)
    assert result.rejections == []
    by_name = {r.original_name: r for r in result.records}
    assert (by_name["chichenItza.webp"].country, by_name["chichenItza.webp"].variety) == ("MX", "es-MX")
    assert (by_name["christTheRedeemer.webp"].country, by_name["christTheRedeemer.webp"].variety) == ("BR", "pt-BR")
    assert by_name["machuPicchu.webp"].license == "CC0-1.0"
    assert by_name["chichenItza.webp"].attribution == "Daniel Schwen"
    assert by_name["chichenItza.webp"].source.startswith("https://commons.wikimedia.org/")
    assert all(r.format == "JPEG" and max(r.width, r.height) == 512 for r in result.records)
