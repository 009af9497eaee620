"""`vlcultura generate | ledger`: thin typer wrappers over `generate.generate` and `ledger.Ledger`."""
from __future__ import annotations

from collections import Counter
from pathlib import Path

import typer

from vlcultura.config import PipelineConfig, load_config


def generate_command(
    input: Path = typer.Option(..., "--input", "-i", help="Ingest output folder (or its dataset/)."),
    out: Path = typer.Option(..., "--out", "-o", help="Output folder: candidates/, ledger.sqlite."),
    config: Path | None = typer.Option(None, "--config", "-c", help="YAML recipe; its generate section is used."),
    backend: str | None = typer.Option(None, help="auto | cohere | template | local (overrides the recipe)."),
    budget_usd: float | None = typer.Option(None, "--budget-usd", help="USD cap for paid requests."),
    progress: bool = typer.Option(True, help="Show the progress bar with live spend."),
) -> None:
    """Desirable and typed undesirable descriptions per image; resumable, budgeted, idempotent."""
    from rich.console import Console

    from vlcultura.data.generate import generate
    from vlcultura.data.ledger import StopRun

    recipe = load_config(config) if config else PipelineConfig()
    updates = {k: v for k, v in {"backend": backend, "budget_usd": budget_usd}.items() if v is not None}
    console = Console(stderr=True)
    try:
        result = generate(input, out, recipe.generate.model_copy(update=updates), progress=progress,
                          log=lambda m: console.print(m, markup=False, highlight=False))
    except StopRun as exc:  # before any work: a missing key, another process on this folder
        console.print(f"generate: {exc}", markup=False, highlight=False)
        raise typer.Exit(3) from None
    reasons = Counter(e["reason"] for e in result.errors)
    errors = f"{len(result.errors)} images with errors" + (f" {dict(reasons)}" if reasons else "")
    console.print(f"generate ({result.backend}): {result.rows} rows from {result.images_done} images, {errors}, "
                  f"{result.spent_usd:.4f} USD spent or held in the ledger; wrote {result.dataset_path}",
                  highlight=False)
    if result.stopped:
        raise typer.Exit(3)


def ledger_command(
    path: Path = typer.Argument(..., help="A ledger.sqlite file or the generate output folder."),
    errors: int = typer.Option(0, help="Also list this many of the latest failed keys."),
    as_json: bool = typer.Option(False, "--json", help="Print the report as JSON lines instead of a table."),
) -> None:
    """Cost, tokens and requests by stage, backend and model."""
    from rich.console import Console
    from rich.table import Table

    from vlcultura.data.ledger import Ledger

    file = path / "ledger.sqlite" if path.is_dir() else path
    if not file.is_file():
        raise typer.BadParameter(f"no ledger at {file}: give the generate output folder or the .sqlite file")
    with Ledger(file) as ledger:
        rows, failed = ledger.report(), ledger.errors(errors)
    if as_json:
        import json

        for row in rows:
            typer.echo(json.dumps(row))
        return
    table = Table(title=f"ledger {file}")
    for name in ("stage", "backend", "model", "done", "failed", "tok in", "tok out", "USD", "USD lost"):
        table.add_column(name, justify="left" if name in ("stage", "backend", "model") else "right")
    for r in rows:
        table.add_row(r["stage"], r["backend"], r["model"] or "-", f"{r['done']}/{r['keys']}", str(r["failed"]),
                      f"{r['input_tokens']:.0f}", f"{r['output_tokens']:.0f}", f"{r['cost_usd']:.4f}",
                      f"{r['interrupted_usd']:.4f}")
    console = Console()
    console.print(table)
    console.print(f"total: {sum(r['cost_usd'] for r in rows):.4f} USD settled, "
                  f"{sum(r['interrupted_usd'] for r in rows):.4f} USD possibly billed by interrupted requests "
                  "(USD lost)")
    for key, error in failed:
        console.print(f"  {key}: {error}", markup=False)


def register(app: typer.Typer) -> None:
    app.command("generate")(generate_command)
    app.command("ledger")(ledger_command)
