"""`vlcultura run`: every stage of the data flow, in order, into one output folder.

The stages (vlcultura.stages) run in order; each records its outputs and a `.done.json` marker
last, so a re-run skips finished stages and a killed or failed run resumes where it stopped.
Offline defaults are said aloud: no Cohere key means the template backend, no Argilla server
means review is auto-accepted (and the Dataset Card says no human review was recorded).
"""
from __future__ import annotations

import shutil
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import typer

from vlcultura.config import PipelineConfig, dump_config, load_config
from vlcultura.run_layout import RunLayout
from vlcultura.stages import STAGE_FUNCS, STAGES, RunContext, recipe_fingerprint


class StageFailed(RuntimeError):
    """A stage raised: the stages before it are recorded, so running again resumes here."""

    def __init__(self, stage: str, error: BaseException) -> None:
        super().__init__(f"stage {stage!r} failed: {type(error).__name__}: {error}")
        self.stage = stage


# --- the run ----------------------------------------------------------------------------------


@dataclass
class StageResult:
    stage: str
    status: str  # "ran" | "skipped (done)"
    seconds: float
    summary: dict[str, Any]


def _prepare(config: PipelineConfig, layout: RunLayout, recipe: Path | None) -> None:
    layout.root.mkdir(parents=True, exist_ok=True)
    if recipe is not None:
        shutil.copyfile(recipe, layout.recipe_path)
    elif not layout.recipe_path.exists():
        dump_config(config, layout.recipe_path)
    dump_config(config, layout.resolved_config_path)


def run_pipeline(config: PipelineConfig, output_dir: str | Path | None = None, *,
                 stages: Sequence[str] | None = None, images: str | Path | None = None,
                 recipe: str | Path | None = None, accelerate: str | Path | None = None,
                 console: Any = None) -> list[StageResult]:
    """Run `stages` (default: all, in order) into `output_dir`; finished stages are skipped.

    `images` replaces `ingest.source`; `accelerate` (an accelerate config file) runs the train
    stage under `accelerate launch` (several GPUs). A stage that fails raises `StageFailed` after
    the stages before it were recorded, so running again resumes at the failed stage.
    """
    from rich.console import Console

    unknown = [s for s in stages or () if s not in STAGES]
    if unknown:
        raise ValueError(f"unknown stage(s) {unknown}; the stages are: {', '.join(STAGES)}")
    if images:  # the same as --set ingest.source=DIR, so the resolved recipe records it
        config = config.model_copy(update={"ingest": config.ingest.model_copy(
            update={"source": str(Path(images).resolve())})})
    layout = RunLayout.at(output_dir or config.output_dir)
    ctx = RunContext(config, layout, console or Console(), Path(accelerate).resolve() if accelerate else None)
    _prepare(config, layout, Path(recipe) if recipe else None)
    results = []
    for stage in (s for s in STAGES if stages is None or s in stages):
        if layout.is_done(stage):
            record = layout.done_record(stage)
            if record["summary"].get("recipe") != recipe_fingerprint(ctx, stage):
                ctx.notice(f"{stage} finished with other settings than this recipe's; its result is kept. "
                           f"Delete {layout.stage_dir(stage)} (and the stages after it) to redo it")
            results.append(StageResult(stage, "skipped (done)", record["seconds"], record["summary"]))
            continue
        ctx.console.rule(f"[bold]{stage}")
        start = time.perf_counter()
        try:
            summary = {**STAGE_FUNCS[stage](ctx), "recipe": recipe_fingerprint(ctx, stage)}
        except Exception as err:
            raise StageFailed(stage, err) from err
        seconds = time.perf_counter() - start
        layout.mark_done(stage, summary, seconds)
        results.append(StageResult(stage, "ran", seconds, summary))
    return results


SET_OPTION = typer.Option(None, "--set", help="override a recipe key: train.max_steps=10 (repeatable)")


def read_recipe(path: Path, overrides: list[str] | None = None) -> PipelineConfig:
    """The recipe with `--set KEY=VALUE` overrides, or a clear error naming the bad key."""
    import yaml

    from vlcultura.train.trainer import parse_overrides

    try:
        return load_config(path, parse_overrides(overrides or []))
    except (ValueError, yaml.YAMLError) as err:  # pydantic's ValidationError, YAML syntax or shape
        typer.secho(f"error: {path} is not a valid recipe:\n{err}", fg="red", err=True)
        raise typer.Exit(2) from None


def summary_table(results: Sequence[StageResult], layout: RunLayout):
    """The short table printed at the end of a run."""
    from rich.table import Table

    table = Table(title=f"vlcultura run: {layout.root}", title_justify="left")
    for col in ("stage", "status", "seconds", "rows", "note"):
        table.add_column(col, justify="right" if col in ("seconds", "rows") else "left")
    for r in results:
        table.add_row(r.stage, r.status, f"{r.seconds:.1f}", str(r.summary.get("rows", "")),
                      str(r.summary.get("note", "")))
    return table


def run_command(
    config_path: Path = typer.Argument(..., exists=True, dir_okay=False, help="a recipe, e.g. configs/quickstart.yaml"),
    output: Path | None = typer.Option(None, "--output", "-o", help="output folder (default: the recipe's output_dir)"),
    images: Path | None = typer.Option(None, "--images", exists=True, file_okay=False,
                                       help="a folder of your photos instead of the recipe's ingest.source"),
    stage: list[str] | None = typer.Option(None, "--stage", help="run only this stage (repeatable)"),
    accelerate: Path | None = typer.Option(None, "--accelerate", exists=True, dir_okay=False,
                                           help="train under `accelerate launch` with this config "
                                                "(configs/accelerate/*.yaml): several GPUs"),
    set_: list[str] | None = SET_OPTION,
    traceback: bool = typer.Option(False, "--traceback", help="show the full traceback when a stage fails"),
) -> None:
    """Run every stage of a recipe into one folder; a re-run skips finished stages."""
    from rich.console import Console

    bad = [s for s in stage or () if s not in STAGES]
    if bad:
        raise typer.BadParameter(f"unknown stage(s) {', '.join(bad)}; the stages are: {', '.join(STAGES)}",
                                 param_hint="--stage")
    console = Console()
    config = read_recipe(config_path, set_)
    layout = RunLayout.at(output or config.output_dir)
    start = time.perf_counter()
    try:
        results = run_pipeline(config, layout.root, stages=stage or None, images=images,
                               recipe=config_path, accelerate=accelerate, console=console)
    except StageFailed as err:
        if traceback:
            raise
        from rich.markup import escape

        console.print(f"[bold red]error[/]: {escape(str(err))}\nFix it and run the same command again: "
                      "finished stages are skipped (--traceback shows where it failed).")
        raise typer.Exit(1) from None
    console.print(summary_table(results, layout))
    console.print(f"done in {time.perf_counter() - start:.1f} s; outputs in {layout.root}")
    if all(layout.is_done(s) for s in STAGES):
        console.print(f"next: vlcultura publish {config_path} --output {layout.root} --dry-run", markup=False)


def register(app: typer.Typer) -> None:
    app.command("run")(run_command)
