"""Promises about everything a real run leaves behind, checked on one whole `vlcultura run`.

The run has what a user's run has: a Cohere key (the real client, against the loopback server),
an HF token and an Argilla key in the environment, and photos whose EXIF carries GPS, a camera
description and an XMP packet. Then `vlcultura publish --dry-run` stages the Hub repos. Neither
key nor any metadata block may reach the console, the ledger, a card, a config, a dataset, the
evaluation report or the staged repos.
"""
from __future__ import annotations

import io
import json
from pathlib import Path

import datasets
import pytest
from cohere_server import LoopbackCohere
from ingest_helpers import SECRET_DESCRIPTION, SECRET_XMP, exif_blob
from PIL import Image
from pipeline_helpers import QUICKSTART, offline_env, vlcultura

from vlcultura.data.images import metadata_markers
from vlcultura.data.samples import make_sample_images

pytestmark = pytest.mark.timeout(900)
FAKE_HUB_TOKEN = "hf_SENTINEL_fake"  # short on purpose: not mistaken for a real token by scanners
ARGILLA_KEY = "argilla.apikey.promise-SENTINEL-77d0"
XMP = b'<x:xmpmeta xmlns:x="adobe:ns:meta/">' + SECRET_XMP + b"</x:xmpmeta>"
MARKERS = (SECRET_DESCRIPTION.encode(), SECRET_XMP, exif_blob().tobytes())


def _photos_with_gps(folder: Path) -> Path:
    """The sample imagefolder, every JPEG re-saved with GPS EXIF and XMP (as phones write them)."""
    make_sample_images(folder)
    for path in folder.glob("*.jpg"):
        Image.open(path).save(path, "JPEG", quality=90, exif=exif_blob(orientation=1), xmp=XMP)
    assert all(metadata_markers(p.read_bytes()) for p in folder.glob("*.jpg"))
    return folder


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    base = tmp_path_factory.mktemp("promises")
    out = base / "run"
    with LoopbackCohere() as server:
        env = offline_env(CO_API_KEY=server.key, VLCULTURA_COHERE_BASE_URL=server.url, HF_TOKEN=FAKE_HUB_TOKEN,
                          ARGILLA_API_KEY=ARGILLA_KEY)
        run = vlcultura("run", str(QUICKSTART), "--output", str(out), "--images",
                        str(_photos_with_gps(base / "photos")), "--set", "generate.budget_usd=20",
                        "--set", "generate.cohere.requests_per_minute=60000", env=env)
        assert run.returncode == 0, run.output[-6000:]
        publish = vlcultura("publish", str(QUICKSTART), "--output", str(out), "--dry-run", env=env)
        assert publish.returncode == 0, publish.output[-6000:]
        yield out, run.output + publish.output, server


def _files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file())


def test_the_run_really_used_the_keys(finished_run):
    out, output, server = finished_run
    assert server.log and all(e.auth_ok and not e.exif_seen for e in server.log)
    assert "backend cohere" in output
    judge = json.loads((out / "judge" / "judge_report.json").read_text(encoding="utf-8"))
    assert judge["stats"]["backend"] == "cohere" and judge["stats"]["spent_usd"] > 0  # the judge paid too
    assert (out / "publish" / "dataset" / "README.md").is_file()


def test_no_secret_in_the_console_or_any_file(finished_run):
    out, output, server = finished_run
    secrets = (server.key, FAKE_HUB_TOKEN, ARGILLA_KEY)
    assert not [s for s in secrets if s in output]
    kinds = {p.suffix for p in _files(out)}
    assert {".sqlite", ".yaml", ".md", ".arrow", ".parquet", ".json"} <= kinds  # ledger, configs, cards, data
    for path in _files(out):
        data = path.read_bytes()
        for secret in secrets:
            assert secret.encode() not in data, f"a key is written in {path}"


def test_no_photo_metadata_in_any_file_or_dataset_image(finished_run):
    out, _, _ = finished_run
    photos = 0
    for path in _files(out):
        data = path.read_bytes()
        for marker in MARKERS:
            assert marker not in data, f"{marker!r} found in {path}"
        if path.suffix.lower() in (".jpg", ".jpeg", ".img") or path.parent.name == "thumbs":  # from photos
            assert metadata_markers(data) == [], path
            photos += 1
    assert photos > 30  # the normalised originals, the report's thumbnails (also in the model repo)
    images = 0
    for state in out.rglob("state.json"):  # every datasets folder the run wrote, splits included
        images += _check_images(datasets.load_from_disk(str(state.parent)))
    for parquet in out.rglob("*.parquet"):  # the staged Hub repos
        images += _check_images(datasets.Dataset.from_parquet(str(parquet)))
    assert images > 100


def _check_images(table: datasets.Dataset) -> int:
    """Every image of every image column decodes to metadata-free bytes; returns how many."""
    columns = [c for c in ("image", "images") if c in table.column_names]
    seen = 0
    for column in columns:
        feature = table.features[column]
        raw = table.cast_column(column, datasets.Image(decode=False) if isinstance(feature, datasets.Image)
                                else [datasets.Image(decode=False)])
        for value in raw[column]:
            for item in value if isinstance(value, list) else [value]:
                assert metadata_markers(item["bytes"]) == []
                assert not Image.open(io.BytesIO(item["bytes"])).getexif()
                seen += 1
    return seen
