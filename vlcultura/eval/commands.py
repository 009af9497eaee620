"""Command-line commands of the eval stage: `evaluate` (caption + score + report) and `score`
(score existing prediction files). Heavy imports stay inside the commands."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer


def score(
    references: Path = typer.Option(..., "--references", "-r", help="COCO annotations .json or JSONL {id, references}"),
    predictions: Path = typer.Option(..., "--predictions", "-p", help="COCO results .json or JSONL {id, prediction}"),
    tokenizer: str = typer.Option("coco", help="coco (PTB jar, exact pycocoevalcap parity), es or pt (pure Python)"),
    as_json: bool = typer.Option(False, "--json", help="Print the full summary as JSON."),
    cider_idf: Optional[Path] = typer.Option(None, help="References file whose images give CIDEr-D a fixed IDF."),
    meteor: bool = typer.Option(True, help="METEOR through the pycocoevalcap jar when Java is present."),
    bootstrap: int = typer.Option(1000, help="Bootstrap resamples for the 95% intervals (0: none)."),
    seed: int = typer.Option(0),
    output: Optional[Path] = typer.Option(None, help="Also write the report (Markdown, HTML, plots) here."),
) -> None:
    """Score prediction files against references with every metric, 95% bootstrap CIs included."""
    from vlcultura.eval.api import score_files

    try:
        summary = score_files(references, predictions, tokenizer=tokenizer, cider_idf=cider_idf,
                              use_meteor=meteor, samples=bootstrap, seed=seed, output=output)
    except (ValueError, RuntimeError) as err:  # EvalInputError, TokenizerUnavailable: say what to do
        typer.echo(f"error: {err}", err=True)
        raise typer.Exit(2) from None
    if as_json:
        typer.echo(json.dumps(summary, indent=2, ensure_ascii=False))
        return
    _print_summary(summary)


def evaluate(
    config: Path = typer.Option(..., "--config", "-c", exists=True, dir_okay=False, help="recipe YAML"),
    set_: Optional[list[str]] = typer.Option(None, "--set", help="override a key: eval.max_images=20"),
) -> None:
    """Caption held-out images with base and tuned models, score them and write the report."""
    from vlcultura.config import load_config
    from vlcultura.eval.evaluate import evaluate as run_evaluation
    from vlcultura.train.models import ModelLoadError
    from vlcultura.train.trainer import parse_overrides

    try:
        run = run_evaluation(load_config(config, parse_overrides(set_ or [])))
    except (ValueError, RuntimeError, FileNotFoundError, ModelLoadError) as err:
        typer.echo(f"error: {err}", err=True)
        raise typer.Exit(2) from None
    _print_summary(run.summary)
    typer.echo(f"report: {run.files['html']}")


def _print_summary(summary: dict) -> None:
    from rich.console import Console
    from rich.table import Table

    from vlcultura.eval.report import format_cell
    from vlcultura.eval.summary import merged_notes

    console = Console()
    for problem in summary.get("problems", []):
        console.print(f"[yellow]warning:[/] {problem}", markup=True, highlight=False)
    table = Table(title=f"{summary['info']['images']} images, 95% bootstrap CI")
    table.add_column("metric")
    for name in summary["systems"]:
        table.add_column(name)
    first = next(iter(summary["systems"].values()))
    for metric in first:
        table.add_row(metric, *[format_cell(s[metric]) for s in summary["systems"].values()])
    console.print(table)
    for name, comparison in summary["comparisons"].items():
        compared = Table(title=f"{name} vs base: paired bootstrap")
        for column in ("metric", "delta [95% CI]", "p", "win rate"):
            compared.add_column(column)
        for metric, c in comparison.items():
            d = c["delta"]
            compared.add_row(metric + (" (lower is better)" if c["lower_is_better"] else ""),
                             format_cell({"value": d["value"], "ci_low": d["low"], "ci_high": d["high"]}),
                             format_cell({"value": c["p_value"]}), format_cell({"value": c["win_rate"]}))
        console.print(compared)
    for note in merged_notes(summary):
        console.print(note, markup=False, highlight=False)


def register(app: typer.Typer) -> None:
    """Add this stage's commands to the `vlcultura` app."""
    app.command("evaluate")(evaluate)
    app.command("score")(score)
