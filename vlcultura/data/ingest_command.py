"""`vlcultura ingest SOURCE --out DIR`: the command-line face of `vlcultura.data.ingest.ingest`."""
from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any, Optional

import typer

from vlcultura.config import IngestConfig


def ingest_command(
    source: Optional[str] = typer.Argument(None, help=(
        "A folder (sub-folders = labels; metadata.jsonl/csv = imagefolder), a CSV/JSONL/JSON "
        "manifest, a Hub dataset id, or vlcultura:samples. Default: the recipe's ingest.source.")),
    out: Path = typer.Option(..., "--out", "-o", help="Output folder (dataset/, rejections.jsonl, report)."),
    config: Optional[Path] = typer.Option(None, "--config", "-c", help="Recipe YAML: its ingest section is used."),
    country: Optional[str] = typer.Option(None, help="Default country (ISO code or name) for rows without one."),
    variety: Optional[str] = typer.Option(None, help="Default BCP-47 variety (else the country's default)."),
    topic: Optional[str] = typer.Option(None, help="Default topic, e.g. comida."),
    license: Optional[str] = typer.Option(None, "--license", help="Default license, e.g. MIT or CC-BY-4.0."),
    attribution: Optional[str] = typer.Option(None, help="Default attribution (author, collection)."),
    column: list[str] = typer.Option([], "--map", help="FIELD=COLUMN, e.g. --map topic=category (repeatable)."),
    max_side: Optional[int] = typer.Option(None, help="Longest edge after normalisation."),
    animated: Optional[str] = typer.Option(None, help="Animated images: reject (default) or first_frame."),
) -> None:
    """Validate, normalise and strip metadata from photos; attach country, variety, topic, labels."""
    from vlcultura.config import load_config
    from vlcultura.data.ingest import REPORT_FILE, ingest
    from vlcultura.data.manifest import SourceError

    base = load_config(config).ingest if config else IngestConfig()
    updates: dict[str, Any] = {
        "default_country": country, "default_variety": variety, "default_topic": topic,
        "default_license": license, "default_attribution": attribution, "max_side": max_side,
        "animated": animated}
    updates = {k: v for k, v in updates.items() if v is not None}
    if column:
        updates["columns"] = {**base.columns, **_parse_map(column)}
    try:
        settings = IngestConfig.model_validate({**base.model_dump(), **updates})
    except ValueError as err:
        raise typer.BadParameter(str(err)) from err
    chosen = source or settings.source
    if not chosen:
        raise typer.BadParameter("give a SOURCE, or a --config whose ingest.source is set")
    try:
        result = ingest(chosen, out, settings)
    except SourceError as err:
        typer.echo(f"error: {err}", err=True)
        raise typer.Exit(2) from err
    reasons = Counter(r.reason for r in result.rejections)
    summary = ", ".join(f"{reason} {n}" for reason, n in reasons.most_common()) or "none"
    typer.echo(f"kept {len(result.records)} images, rejected {len(result.rejections)} ({summary})")
    typer.echo(f"dataset: {result.dataset_path}\nreport:  {Path(out) / REPORT_FILE}")


def _parse_map(pairs: list[str]) -> dict[str, str]:
    mapping = {}
    for pair in pairs:
        field, sep, name = pair.partition("=")
        if not sep or not field.strip() or not name.strip():
            raise typer.BadParameter(f"--map {pair!r}: expected FIELD=COLUMN, e.g. topic=category")
        mapping[field.strip()] = name.strip()
    return mapping
