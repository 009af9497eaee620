"""The embedded synthetic samples: deterministic, varied, and clean through ingest."""
from __future__ import annotations

import json
from pathlib import Path

from vlcultura.data.ingest import SAMPLES_SOURCE, ingest
from vlcultura.data.samples import SAMPLE_CLASSES, make_sample_images


def test_samples_are_deterministic_per_seed(tmp_path: Path) -> None:
    a = make_sample_images(tmp_path / "a", n_per_class=2, seed=1)
    b = make_sample_images(tmp_path / "b", n_per_class=2, seed=1)
    c = make_sample_images(tmp_path / "c", n_per_class=2, seed=2)
    names = sorted(p.name for p in a.iterdir())
    assert names == sorted(p.name for p in b.iterdir())
    assert all((a / n).read_bytes() == (b / n).read_bytes() for n in names)
    assert any((a / n).read_bytes() != (c / n).read_bytes() for n in names if n.endswith(".jpg"))


def test_samples_cover_countries_and_ingest_cleanly(tmp_path: Path) -> None:
    result = ingest(SAMPLES_SOURCE, tmp_path)
    assert result.rejections == []  # no sample is a near duplicate of another
    assert len(result.records) == 3 * len(SAMPLE_CLASSES)
    assert {"BO", "MX", "PE", "BR", "AR", "ES"} <= {r.country for r in result.records}
    labels = {label for r in result.records for label in r.labels}
    assert {"cuñapé", "salteña", "Chichén Itzá", "pão de queijo"} <= labels
    assert all(64 <= r.width <= 128 and r.license == "CC0-1.0" for r in result.records)
    assert all(r.attribution == "vlcultura synthetic sample" for r in result.records)
    rows = [json.loads(line) for line in (tmp_path / "samples" / "metadata.jsonl").read_text().splitlines()]
    assert {r["variety"] for r in rows} >= {"es-BO", "es-MX", "es-PE", "pt-BR", "es-AR", "es-ES"}
