"""Helpers for the generate/ledger tests: ingested inputs and a Cohere-backed config."""
from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import datasets
import numpy as np
from PIL import Image

from vlcultura.config import CohereConfig, GenerateConfig, IngestConfig
from vlcultura.data.ingest import image_features, ingest

SAMPLES = "vlcultura:samples"


def ingested(tmp_path: Path, source: str = SAMPLES, **ingest_config: Any) -> Path:
    """Run the real ingest stage into tmp_path/ingest and return that folder."""
    out = tmp_path / "ingest"
    ingest(source, out, IngestConfig(**ingest_config))
    return out


def cohere_config(**overrides: Any) -> GenerateConfig:
    """A generate config for the loopback server: fast backoff, no rate limit, small retries."""
    cohere = {"requests_per_minute": 60_000, "concurrency": 8, "backoff_s": 0.01, "backoff_max_s": 0.05,
              "timeout_s": 5.0, **overrides.pop("cohere", {})}
    return GenerateConfig(**{"backend": "cohere", **overrides}, cohere=CohereConfig(**cohere))


def use_server(monkeypatch: Any, server: Any) -> None:
    """Point the stage at a loopback server through the environment, as a user would."""
    monkeypatch.setenv("CO_API_KEY", server.key)
    monkeypatch.setenv("VLCULTURA_COHERE_BASE_URL", server.url)


def photo(seed: int = 0, mode: str = "RGB") -> Image.Image:
    """A small textured picture (flat colours would all be perceptual duplicates of each other)."""
    pixels = np.random.default_rng(seed).integers(0, 256, (6, 8, 3), dtype=np.uint8)
    return Image.fromarray(pixels, "RGB").resize((64, 48), Image.NEAREST).convert(mode)


def jpeg(seed: int = 0, exif: bool = False) -> bytes:
    """A small JPEG, optionally carrying EXIF with GPS tags (what ingest must have removed)."""
    img = photo(seed)
    buf = io.BytesIO()
    if exif:
        meta = Image.Exif()
        meta[0x010F] = "SecretCam"  # Make
        meta.get_ifd(0x8825)[2] = (40.0, 26.0, 46.0)  # GPSLatitude
        img.save(buf, "JPEG", exif=meta.tobytes())
    else:
        img.save(buf, "JPEG")
    return buf.getvalue()


def handmade_dataset(path: Path, rows: list[dict[str, Any]]) -> Path:
    """An ingest-shaped dataset written directly (to feed rows ingest would never produce)."""
    base = {"phash": "0" * 16, "width": 64, "height": 48, "format": "JPEG", "country": None, "variety": None,
            "topic": "comida", "labels": ["salteña"], "license": "cc0", "attribution": None, "source": None}
    full = [{**base, "original_name": f"{r['id']}.jpg", "sha256": r["id"] * 4, **r} for r in rows]
    datasets.Dataset.from_list(full, features=image_features()).save_to_disk(str(path))
    return path
