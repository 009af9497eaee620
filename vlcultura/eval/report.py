"""Write the evaluation report: scores.json, per_image.jsonl, Markdown + HTML, PNG plots, a
thumbnail gallery and a model-index JSON for the Model Card.

Thumbnails are re-encoded from pixels only, so no EXIF/GPS metadata reaches the report.
"""
from __future__ import annotations

import json
import math
import re
from pathlib import Path
from typing import Any, Mapping

from huggingface_hub import EvalResult
from huggingface_hub.repocard_data import eval_results_to_model_index
from jinja2 import Environment
from PIL import Image

from vlcultura.eval import plots
from vlcultura.eval.summary import BREAKDOWN_METRICS, merged_notes
from vlcultura.eval.templates import HTML, MARKDOWN

GALLERY_METRIC = "chrF++"
THUMB_SIDE = 160


def _num(value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    if abs(value) < 5e-5:
        value = 0.0  # never print "-0.0000"
    return f"{value:.4f}" if abs(value) < 10 else f"{value:.2f}"


def format_cell(entry: Mapping[str, Any] | None) -> str:
    if not entry:
        return ""
    if entry.get("ci_low") is None:
        return _num(entry.get("value"))
    return f"{_num(entry['value'])} [{_num(entry['ci_low'])}, {_num(entry['ci_high'])}]"


def _md(text: str) -> str:
    """Text safe inside a Markdown table cell."""
    return str(text).replace("|", "\\|").replace("\n", " ")


def save_thumbnail(image: Image.Image, path: Path) -> Path:
    """A small PNG made from pixels only (no EXIF, GPS or ICC chunks)."""
    rgb = image.convert("RGB")
    rgb.thumbnail((THUMB_SIDE, THUMB_SIDE))
    clean = Image.new("RGB", rgb.size)
    clean.paste(rgb)
    path.parent.mkdir(parents=True, exist_ok=True)
    clean.save(path, format="PNG")
    return path


def _gallery(per_image: list[dict], systems: list[str], images: Mapping[str, Image.Image] | None,
             out_dir: Path, size: int) -> list[dict]:
    """The images where systems differ most on the gallery metric: best and worst for the last system."""
    def delta(row: dict) -> float:
        first, last = row[systems[0]]["scores"].get(GALLERY_METRIC), row[systems[-1]]["scores"].get(GALLERY_METRIC)
        return (last or 0.0) - (first or 0.0)

    ranked = sorted(per_image, key=delta, reverse=True)
    chosen = ranked if len(ranked) <= size else ranked[: size - size // 2] + ranked[len(ranked) - size // 2:]
    gallery = []
    for row in chosen:
        entry = dict(row)
        image = (images or {}).get(row["id"])
        entry["thumb"] = (save_thumbnail(image, out_dir / "thumbs" / f"{len(gallery):04d}.png")
                          .relative_to(out_dir).as_posix() if image is not None else None)
        gallery.append(entry)
    return gallery


def model_index(summary: dict, model_name: str, dataset_name: str, dataset_type: str,
                system: str = "tuned", split: str = "test") -> list[dict]:
    """`model-index` entries (Hugging Face card metadata) for one system's corpus metrics."""
    results = [EvalResult(task_type="image-to-text", task_name="Image captioning", dataset_type=dataset_type,
                          dataset_name=dataset_name, dataset_split=split,
                          metric_type=re.sub(r"[^a-z0-9]+", "_", metric.lower()).strip("_"), metric_name=metric,
                          metric_value=cell["value"])
               for metric, cell in summary["systems"][system].items() if cell["value"] is not None]
    return eval_results_to_model_index(model_name, results)


def write_report(summary: dict, per_image: list[dict], out_dir: str | Path,
                 images: Mapping[str, Image.Image] | None = None, baseline: str = "base",
                 gallery_size: int = 24, model_index_entry: list[dict] | None = None) -> dict[str, Path]:
    """Write every report file under `out_dir`; returns what was written, by kind."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    systems = list(summary["systems"])
    written: dict[str, Path] = {"scores": out / "scores.json", "per_image": out / "per_image.jsonl"}
    written["scores"].write_text(json.dumps(summary, indent=2, ensure_ascii=False), encoding="utf-8")
    with written["per_image"].open("w", encoding="utf-8") as fh:
        for row in per_image:
            fh.write(json.dumps(row, ensure_ascii=False) + "\n")
    figures = [("per-image score distributions", plots.distributions(per_image, systems, out / "plots" / "distributions.png"))]
    for metric in ("chrF++", "label coverage"):
        figures.append((f"{metric} by country", plots.country_bars(
            summary["breakdowns"].get("country", {}), systems, metric,
            out / "plots" / f"country_{metric.replace(' ', '_').replace('+', 'p')}.png")))
    for name, comparison in summary["comparisons"].items():
        figures.append((f"win rate of {name} over {baseline}",
                        plots.win_rates(comparison, name, out / "plots" / f"win_rate_{name}.png")))
    figures = [(title, p) for title, p in figures if p is not None]
    for i, (_, path) in enumerate(figures):
        written[f"plot_{i}"] = path
    context = dict(summary=summary, info=summary["info"], systems=systems, baseline=baseline,
                   metrics=list(summary["systems"][systems[0]]),
                   breakdown_metrics=[m for m in BREAKDOWN_METRICS if m in summary["systems"][systems[0]]],
                   plots=[(t, p.relative_to(out).as_posix()) for t, p in figures],
                   gallery=_gallery(per_image, systems, images, out, gallery_size),
                   gallery_metric=GALLERY_METRIC, num=_num, cell=format_cell, notes=merged_notes(summary))
    written["markdown"] = out / "report.md"
    markdown_env = Environment(autoescape=False)
    markdown_env.filters["md"] = _md
    written["markdown"].write_text(markdown_env.from_string(MARKDOWN).render(**context), encoding="utf-8")
    written["html"] = out / "report.html"
    written["html"].write_text(Environment(autoescape=True).from_string(HTML).render(**context), encoding="utf-8")
    if model_index_entry is not None:
        written["model_index"] = out / "model_index.json"
        written["model_index"].write_text(json.dumps({"model-index": model_index_entry}, indent=2,
                                                     ensure_ascii=False), encoding="utf-8")
    return written
