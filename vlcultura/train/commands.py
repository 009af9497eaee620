"""Command-line commands of the train stage (registered by vlcultura.cli).

`vlcultura train --config configs/<recipe>.yaml [--resume]` runs the same function as
`accelerate launch scripts/train.py --config ...`: `vlcultura.train.trainer.train_recipe`.
"""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer


def _fail(exc: Exception) -> None:
    typer.secho(f"error: {exc}", fg=typer.colors.RED, err=True)
    raise typer.Exit(code=2)


def train_command(
    config: Path = typer.Option(..., "--config", "-c", exists=True, dir_okay=False,
                                help="recipe YAML (configs/*.yaml)"),
    resume: bool = typer.Option(False, "--resume", help="continue from the last checkpoint in the output folder"),
    set_: Optional[list[str]] = typer.Option(None, "--set", help="override a key: train.max_steps=10"),
) -> None:
    """Train a LoRA/QLoRA adapter with KTO (or DPO) on an exported *_images_kto dataset."""
    from vlcultura.train.trainer import TRAIN_ERRORS, parse_overrides, train_recipe

    try:
        result = train_recipe(str(config), resume=resume, overrides=parse_overrides(set_ or []))
    except TRAIN_ERRORS as exc:
        _fail(exc)
    typer.echo(f"trained {result.global_step} steps in {result.wall_time_s:.1f} s "
               f"({result.trainer_class}); output: {result.output_dir}")


def model_card_command(
    output: Path = typer.Argument(..., exists=True, file_okay=False, help="a `vlcultura train` output folder"),
    eval_results: Optional[Path] = typer.Option(None, "--eval-results", exists=True, dir_okay=False,
                                                help="model_index.json written by `vlcultura evaluate`"),
) -> None:
    """Render (again) the Model Card of a training output, e.g. after evaluation."""
    from vlcultura.cards.dataset_card import CardError
    from vlcultura.cards.model_card import write_model_card

    try:
        path = write_model_card(output, eval_results=eval_results)
    except (CardError, FileNotFoundError) as exc:
        _fail(exc)
    typer.echo(f"Model Card written to {path}")


def register(app: typer.Typer) -> None:
    """Add this stage's commands to the `vlcultura` app."""
    app.command("train")(train_command)
    app.command("model-card")(model_card_command)
