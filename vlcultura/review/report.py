"""The pull's report, as JSON (for scripts and the Dataset Card) and Markdown (for people)."""
from __future__ import annotations

import json
from importlib import resources
from pathlib import Path
from typing import Any

import jinja2


def write_report(report: dict[str, Any], output_dir: str | Path) -> tuple[Path, Path]:
    """Write `review_report.json` and `review_report.md` into `output_dir`."""
    out = Path(output_dir)
    out.mkdir(parents=True, exist_ok=True)
    json_path, md_path = out / "review_report.json", out / "review_report.md"
    json_path.write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    template = resources.files("vlcultura.review").joinpath("report_template.md").read_text("utf-8")
    env = jinja2.Environment(autoescape=False, keep_trailing_newline=True, undefined=jinja2.StrictUndefined)
    md_path.write_text(env.from_string(template).render(r=report), encoding="utf-8")
    return json_path, md_path
