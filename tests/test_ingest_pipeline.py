"""The ingest stage end to end on generated folders and manifests: real Arrow output, no mocks."""
from __future__ import annotations

import io
import json
from pathlib import Path

import datasets
import numpy as np
import pytest
import typer
import yaml
from ingest_helpers import (SECRET_DESCRIPTION, SECRET_XMP, bad_and_odd_files, encode, exif_blob,
                            photo, write_files)
from PIL import Image
from typer.testing import CliRunner

from vlcultura.config import IngestConfig
from vlcultura.data import commands
from vlcultura.data.images import metadata_markers
from vlcultura.data.ingest import REJECTIONS_FILE, REPORT_FILE, ingest, load_images
from vlcultura.data.manifest import SourceError, collect, from_dataset
from vlcultura.records import ImageRecord, Rejection


def _rejections(out: Path) -> dict[str, str]:
    lines = (out / REJECTIONS_FILE).read_text(encoding="utf-8").splitlines()
    return {r.source: r.reason for r in (Rejection.model_validate_json(line) for line in lines)}


def _tree_bytes(folder: Path) -> list[tuple[Path, bytes]]:
    return [(p, p.read_bytes()) for p in sorted(folder.rglob("*")) if p.is_file()]


@pytest.fixture(scope="module")
def messy(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, dict]:
    """A folder with every bad kind, odd modes, and exact/near duplicates, ingested once."""
    files = bad_and_odd_files()
    original = encode(photo(30, (160, 120)), "JPEG", quality=95)
    files["dup_a.jpg"] = (original, None)
    files["dup_b_copy.jpg"] = (original, "duplicate")  # same bytes
    with_exif = encode(photo(30, (160, 120)), "JPEG", quality=95, exif=exif_blob(orientation=1))
    files["dup_c_exif.jpg"] = (with_exif, "duplicate")  # same pixels, extra metadata
    smaller = encode(photo(30, (160, 120)).resize((120, 90)), "JPEG", quality=70)
    files["dup_d_resized.jpg"] = (smaller, "near_duplicate")
    grain = np.random.default_rng(31).integers(0, 256, (300, 300, 3), dtype=np.uint8)
    files["huge.jpg"] = (encode(Image.fromarray(grain), "JPEG", quality=95), "oversize_encoded")
    folder = write_files(tmp_path_factory.mktemp("messy") / "photos", files)
    # a limit far above every small test image but below pure grain re-encoded at quality 92
    config = IngestConfig(default_country="MX", max_encoded_bytes=60_000, folder_labels=False)
    out = folder.parent / "out"
    ingest(folder, out, config)
    return folder, out, files


def test_every_bad_kind_is_recorded_and_the_rest_kept(messy: tuple[Path, Path, dict]) -> None:
    _, out, files = messy
    expected = {name: reason for name, (_, reason) in files.items() if reason}
    assert _rejections(out) == expected
    dataset = load_images(out)
    kept = {row["original_name"] for row in dataset}
    assert kept == {name for name, (_, reason) in files.items() if reason is None}
    for row in dataset.remove_columns("image"):
        record = ImageRecord.model_validate(row)
        assert record.country == "MX" and record.variety == "es-MX"
    report = (out / REPORT_FILE).read_text(encoding="utf-8")
    for reason in set(expected.values()):
        assert f"`{reason}`" in report
    assert "dup_a.jpg" in report and "GPS location removed | 1" in report
    assert "extension did not match the bytes | 2" in report  # the WebP and the AVIF named .jpg
    assert "colour mode converted (CMYK->RGB) | 1" in report


def test_no_metadata_byte_reaches_any_output(messy: tuple[Path, Path, dict]) -> None:
    _, out, _ = messy
    forbidden = (b"Exif\x00\x00", SECRET_XMP, SECRET_DESCRIPTION.encode(), b"<x:xmpmeta",
                 b"http://ns.adobe.com/xap", exif_blob().tobytes(), exif_blob(orientation=1).tobytes())
    tree = _tree_bytes(out)
    assert any(p.suffix == ".arrow" for p, _ in tree)
    for path, data in tree:
        for marker in forbidden:
            assert marker not in data, f"{marker!r} found in {path}"
    for row in load_images(out).cast_column("image", datasets.Image(decode=False)):
        data = row["image"]["bytes"]
        assert metadata_markers(data) == []
        assert not Image.open(io.BytesIO(data)).getexif()


def test_rerun_is_idempotent_and_resumes_from_cache(messy: tuple[Path, Path, dict]) -> None:
    folder, out, _ = messy
    config = IngestConfig.model_validate(yaml.safe_load((out / "ingest_config.yaml").read_text()))
    first = [(r["id"], r["sha256"]) for r in load_images(out).remove_columns("image")]
    cache = out / ".cache" / "normalised"
    entries = sorted(cache.glob("*.json"))
    entries[0].unlink()  # as if killed before this image finished
    again = folder.parent / "again"
    ingest(folder, out, config)
    assert [(r["id"], r["sha256"]) for r in load_images(out).remove_columns("image")] == first
    assert sorted(cache.glob("*.json")) == entries
    ingest(folder, again, config)  # a fresh folder gives the same rows too
    assert [(r["id"], r["sha256"]) for r in load_images(again / "dataset").remove_columns("image")] == first


def test_changed_settings_are_not_served_from_the_cache(tmp_path: Path) -> None:
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "a.jpg").write_bytes(encode(photo(90, (200, 100)), "JPEG"))
    for side in (64, 32, 64):
        ingest(tmp_path / "src", tmp_path / "out", IngestConfig(max_side=side))
        assert load_images(tmp_path / "out").remove_columns("image")[0]["width"] == side
    for image in (tmp_path / "out" / ".cache" / "normalised").glob("*.img"):
        image.unlink()  # bytes gone by hand: redone, not a crash
    assert len(ingest(tmp_path / "src", tmp_path / "out", IngestConfig(max_side=64)).records) == 1


def test_manifest_with_mapping_defaults_and_bad_rows(tmp_path: Path) -> None:
    for i in range(4):
        (tmp_path / f"p{i}.jpg").write_bytes(encode(photo(40 + i), "JPEG"))
    (tmp_path / "list.csv").write_text(
        "image_path,name,pais,cat,author\n"
        "p0.jpg,cuñapé|pan de queso,Bolivia,comida,Ana\n"
        "p1.jpg,Machu Picchu,PE,arquitectura,\n"
        "p2.jpg,x,Atlantis,comida,\n"
        "p3.jpg,y,,,\n"
        "gone.jpg,z,BO,comida,\n", encoding="utf-8")
    config = IngestConfig(columns={"file": "image_path", "labels": "name", "country": "pais", "topic": "cat"},
                          default_country="AR", default_license="CC-BY-4.0", default_topic="otro")
    result = ingest(tmp_path / "list.csv", tmp_path / "out", config)
    by_name = {r.original_name: r for r in result.records}
    assert by_name["p0.jpg"].labels == ["cuñapé", "pan de queso"]
    assert (by_name["p0.jpg"].country, by_name["p0.jpg"].variety) == ("BO", "es-BO")
    assert by_name["p0.jpg"].attribution == "Ana" and by_name["p0.jpg"].license == "CC-BY-4.0"
    assert (by_name["p1.jpg"].country, by_name["p1.jpg"].topic) == ("PE", "arquitectura")
    assert (by_name["p3.jpg"].country, by_name["p3.jpg"].variety, by_name["p3.jpg"].topic) == ("AR", "es-AR", "otro")
    assert by_name["p3.jpg"].source == "p3.jpg"  # relative: no local path leaks into the dataset
    assert _rejections(tmp_path / "out") == {"p2.jpg": "bad_metadata", "gone.jpg": "missing_file"}


def test_jsonl_imagefolder_varieties_and_bad_lines(tmp_path: Path) -> None:
    for i in range(3):
        (tmp_path / f"q{i}.png").write_bytes(encode(photo(50 + i), "PNG"))
    rows = [{"file_name": "q0.png", "labels": ["pastel de nata"], "country": "PT", "variety": "pt_pt"},
            {"file_name": "q1.png", "country": "ES", "variety": "ca"},
            {"file_name": "q2.png", "variety": "xx-YY"}]
    lines = [json.dumps(r) for r in rows] + ["{not json"]
    (tmp_path / "metadata.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    result = ingest(tmp_path, tmp_path / "out", IngestConfig())
    assert {r.original_name: r.variety for r in result.records} == {"q0.png": "pt-PT", "q1.png": "ca"}
    assert _rejections(tmp_path / "out") == {"q2.png": "bad_metadata", "metadata.jsonl:4": "bad_metadata"}


def test_plain_folder_uses_subfolder_labels(tmp_path: Path) -> None:
    for label, seeds in (("salteña", (60, 61)), ("cuñapé", (62,))):
        (tmp_path / "src" / label).mkdir(parents=True)
        for seed in seeds:
            (tmp_path / "src" / label / f"{seed}.jpg").write_bytes(encode(photo(seed), "JPEG"))
    (tmp_path / "src" / "notes.txt").write_text("not an image")
    result = ingest(tmp_path / "src", tmp_path / "out", IngestConfig(default_country="BO"))
    assert sorted((r.labels[0], r.original_name) for r in result.records) == [
        ("cuñapé", "62.jpg"), ("salteña", "60.jpg"), ("salteña", "61.jpg")]
    assert result.rejections == []


def test_all_rejected_still_writes_a_typed_empty_dataset(tmp_path: Path) -> None:
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "a.jpg").write_bytes(b"")
    ingest(tmp_path / "src", tmp_path / "out")
    dataset = load_images(tmp_path / "out")
    assert len(dataset) == 0 and isinstance(dataset.features["image"], datasets.Image)
    assert _rejections(tmp_path / "out") == {"a.jpg": "empty"}


def test_datasets_image_column_source(tmp_path: Path) -> None:
    """The Hub path (`datasets.load_dataset`) through datasets' own imagefolder loader, offline."""
    for label, seed in (("paella", 70), ("mate", 71)):
        (tmp_path / "hub" / label).mkdir(parents=True)
        (tmp_path / "hub" / label / f"{seed}.jpg").write_bytes(encode(photo(seed), "JPEG", exif=exif_blob()))
    loaded = datasets.load_dataset("imagefolder", data_dir=str(tmp_path / "hub"),
                                   cache_dir=str(tmp_path / "hf-cache"))
    items = from_dataset(loaded, "local/imagefolder")
    assert sorted(i.row["label"] for i in items) == ["mate", "paella"]  # ClassLabel ids -> names
    assert all(i.read()[:2] == b"\xff\xd8" for i in items)


def test_hub_id_offline_fails_clearly(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(SourceError, match="Hub dataset failed"):
        collect("somosnlp-hackathon-2026/no-such-dataset", IngestConfig())
    with pytest.raises(SourceError, match="no such folder"):
        collect("./missing/photos", IngestConfig())


def test_cli_ingest(tmp_path: Path) -> None:
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "a.jpg").write_bytes(encode(photo(80), "JPEG"))
    (tmp_path / "src" / "b.gif").write_bytes(b"GIF89a broken")
    app = typer.Typer()
    app.callback()(lambda: None)
    commands.register(app)
    runner = CliRunner()
    done = runner.invoke(app, ["ingest", str(tmp_path / "src"), "--out", str(tmp_path / "out"),
                               "--country", "Perú", "--topic", "comida", "--license", "MIT"])
    assert done.exit_code == 0, done.output
    assert "kept 1 images, rejected 1" in done.output
    row = load_images(tmp_path / "out").remove_columns("image")[0]
    assert (row["country"], row["variety"], row["topic"], row["license"]) == ("PE", "es-PE", "comida", "MIT")
    missing = runner.invoke(app, ["ingest", str(tmp_path / "nope"), "--out", str(tmp_path / "o2")])
    assert missing.exit_code == 2 and "no such folder" in missing.output
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text(yaml.safe_dump({"ingest": {"source": str(tmp_path / "src"), "default_country": "BO",
                                                 "default_topic": "comida"}}), encoding="utf-8")
    from_recipe = runner.invoke(app, ["ingest", "--config", str(recipe), "--out", str(tmp_path / "o3"),
                                      "--topic", "mercado"])
    assert from_recipe.exit_code == 0, from_recipe.output
    row = load_images(tmp_path / "o3").remove_columns("image")[0]
    assert (row["country"], row["topic"]) == ("BO", "mercado")  # flags override the recipe
