"""The report: Markdown + HTML, PNG plots that open, an EXIF-free gallery, a model-index JSON."""
from __future__ import annotations

import csv
import json

from PIL import Image

from vlcultura.eval.metrics.cultural import ImageMeta
from vlcultura.eval.report import model_index, write_report
from vlcultura.eval.scoring import score_system
from vlcultura.eval.summary import per_image_rows, summarize


def _masitas(shared_data, n=8):
    folder = shared_data / "images" / "bolivia_masitas"
    with (folder / "labels.csv").open(encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))[::5][:n]
    return folder, rows


def test_report_files_plots_gallery_and_model_index(shared_data, tmp_path):
    folder, rows = _masitas(shared_data)
    ids = [r["file"] for r in rows]
    labels = [r["label"].replace("_", " ").lower() for r in rows]
    refs = [[f"Unos {lab} bolivianos recién horneados sobre una bandeja", f"Masitas de Bolivia: {lab}"]
            for lab in labels]
    base = ["Unos pasteles sobre una bandeja"] * len(ids)
    tuned = [f"Unos {lab} bolivianos sobre una bandeja" for lab in labels]
    metas = [ImageMeta([lab], "BO", "es-BO") for lab in labels]
    systems = {name: score_system(ids, preds, refs, "es", metas, "es", use_meteor=False)
               for name, preds in (("base", base), ("tuned", tuned))}
    countries, varieties = ["BO"] * len(ids), ["es-BO"] * len(ids)
    summary = summarize(systems, countries, varieties, samples=200, seed=0, info={"title": "masitas"})
    images = {i: Image.open(folder / i) for i in ids}
    exif = Image.Exif()
    exif[0x010F] = "CameraMaker"  # Make
    images[ids[0]].info["exif"] = exif.tobytes()
    entry = model_index(summary, "tiny-tuned", "masitas", "local/masitas")
    written = write_report(summary, per_image_rows(systems, refs, countries, varieties), tmp_path / "rep",
                           images=images, model_index_entry=entry)

    pngs = sorted((tmp_path / "rep").rglob("*.png"))
    assert {"distributions.png", "country_chrFpp.png", "win_rate_tuned.png"} <= {p.name for p in pngs}
    for png in pngs:
        with Image.open(png) as im:
            im.verify()
        with Image.open(png) as im:
            assert not im.getexif() and "exif" not in im.info
    assert len(list((tmp_path / "rep" / "thumbs").glob("*.png"))) == len(ids)

    comparison = summary["comparisons"]["tuned"]
    assert comparison["label coverage"]["win_rate"] == 1.0
    assert comparison["generic rate"]["lower_is_better"] and comparison["generic rate"]["win_rate"] == 1.0
    assert comparison["chrF++"]["delta"]["low"] > 0
    markdown = written["markdown"].read_text(encoding="utf-8")
    assert "## tuned vs base (paired bootstrap)" in markdown and "## By country" in markdown
    assert "thumbs/0000.png" in markdown and "plots/distributions.png" in markdown
    html = written["html"].read_text(encoding="utf-8")
    assert "<table>" in html and "Unos pasteles sobre una bandeja" in html
    index = json.loads(written["model_index"].read_text(encoding="utf-8"))["model-index"][0]
    metrics = {m["name"]: m["value"] for m in index["results"][0]["metrics"]}
    assert metrics["chrF++"] == summary["systems"]["tuned"]["chrF++"]["value"]
    assert index["results"][0]["task"]["type"] == "image-to-text"
    rows_back = [json.loads(line) for line in written["per_image"].read_text(encoding="utf-8").splitlines()]
    assert rows_back[0]["tuned"]["cultural"]["labels_found"] == [labels[0]]
