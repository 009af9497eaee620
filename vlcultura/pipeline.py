"""`vlcultura run`: every stage of the data flow, in order, into one output folder.

Each stage is a thin adapter over that stage's public Python function: it reads the previous
stages' recorded outputs (`RunLayout.output`), calls the function, and records what it wrote.
A stage whose `.done.json` marker exists is skipped, so a killed or failed run resumes where it
stopped. Offline defaults are said aloud: no Cohere key means the template backend, no Argilla
server means review is auto-accepted (and the Dataset Card says the pipeline, not a person,
accepted the rows).

Base models: `model.name_or_path: tiny:<family>` (smolvlm, gemma3, qwen2_5_vl) builds a tiny
random-weight model from `vlcultura.testing` into `<output>/base_model/` so the whole run fits a
CPU in minutes; any other value is a Hub id or a local folder, passed on untouched.
"""
from __future__ import annotations

import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import typer

from vlcultura.config import PipelineConfig, dump_config, load_config, secrets_from_env
from vlcultura.run_layout import RunLayout

TINY_PREFIX = "tiny:"
SAMPLES_SOURCE = "vlcultura:samples"


class StageUnavailable(RuntimeError):
    """A stage's code is not there (or not importable): the run stops at that stage, clearly."""


@dataclass
class RunContext:
    """What every stage adapter gets: the recipe, the folders, the console, the overrides."""

    config: PipelineConfig
    layout: RunLayout
    console: Any  # rich.console.Console
    images: Path | None = None

    def out(self, stage: str) -> Path:
        path = self.layout.stage_dir(stage)
        path.mkdir(parents=True, exist_ok=True)
        return path

    def notice(self, text: str) -> None:
        """A loud, one-line notice about an offline default the user must not miss."""
        self.console.print(f"[bold yellow]NOTICE[/] {text}")


StageFn = Callable[[RunContext], dict[str, Any]]


def _import(module: str, stage: str) -> Any:
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as err:
        raise StageUnavailable(f"stage {stage!r} cannot run: {module} is not importable ({err})") from err


# --- stages -----------------------------------------------------------------------------------


def _ingest(ctx: RunContext) -> dict[str, Any]:
    ingest = _import("vlcultura.data.ingest", "ingest")
    source = str(ctx.images) if ctx.images else (ctx.config.ingest.source or SAMPLES_SOURCE)
    if source == SAMPLES_SOURCE:
        from vlcultura.data.samples import make_sample_images

        ctx.notice(f"no photos given: using vlcultura's synthetic sample images (--images DIR for yours)")
        source = str(make_sample_images(ctx.out("ingest") / "samples"))
    result = ingest.ingest(source, ctx.out("ingest") / "images", ctx.config.ingest)
    return {"outputs": {"images": str(result.out_dir)}, "rows": result.n_accepted,
            "note": f"{result.n_rejected} rejected"}


def _generate(ctx: RunContext) -> dict[str, Any]:
    generate = _import("vlcultura.data.generate", "generate")
    cfg = ctx.config.generate
    if cfg.backend in ("auto", "cohere") and not secrets_from_env().cohere_api_key:
        if cfg.backend == "cohere":
            raise RuntimeError("generate.backend is 'cohere' but no key is set: export CO_API_KEY "
                               "(or set generate.backend: template for an offline run)")
        ctx.notice("no Cohere key (CO_API_KEY): template backend, offline descriptions from metadata")
    result = generate.generate(ctx.layout.output("ingest", "images"), ctx.out("generate"), cfg)
    return {"outputs": {"candidates": str(result.out_dir)}, "rows": result.n_rows,
            "note": f"backend {result.backend}"}


STAGE_FUNCS: dict[str, StageFn] = {
    "ingest": _ingest,
    "generate": _generate,
}
STAGES: tuple[str, ...] = ("ingest", "generate", "judge", "review", "export", "base_model", "train", "evaluate")
DATASET_STAGES: tuple[str, ...] = STAGES[: STAGES.index("export") + 1]


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
                 recipe: str | Path | None = None, console: Any = None) -> list[StageResult]:
    """Run `stages` (default: all, in order) into `output_dir`; finished stages are skipped.

    A stage that fails raises after the stages before it were recorded, so running again
    resumes at the failed stage.
    """
    from rich.console import Console

    unknown = [s for s in stages or () if s not in STAGES]
    if unknown:
        raise ValueError(f"unknown stage(s) {unknown}; the stages are: {', '.join(STAGES)}")
    layout = RunLayout.at(output_dir or config.output_dir)
    ctx = RunContext(config, layout, console or Console(), Path(images) if images else None)
    _prepare(config, layout, Path(recipe) if recipe else None)
    results = []
    for stage in (s for s in STAGES if stages is None or s in stages):
        if layout.is_done(stage):
            record = layout.done_record(stage)
            results.append(StageResult(stage, "skipped (done)", record["seconds"], record["summary"]))
            continue
        func = STAGE_FUNCS.get(stage)
        if func is None:
            raise StageUnavailable(f"stage {stage!r} is not wired into the pipeline yet")
        ctx.console.rule(f"[bold]{stage}")
        start = time.perf_counter()
        summary = func(ctx)
        seconds = time.perf_counter() - start
        layout.mark_done(stage, summary, seconds)
        results.append(StageResult(stage, "ran", seconds, summary))
    return results


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
) -> None:
    """Run every stage of a recipe into one folder; a re-run skips finished stages."""
    from rich.console import Console

    console = Console()
    config = load_config(config_path)
    layout = RunLayout.at(output or config.output_dir)
    start = time.perf_counter()
    try:
        results = run_pipeline(config, layout.root, stages=stage or None, images=images,
                               recipe=config_path, console=console)
    except StageUnavailable as err:
        console.print(f"[bold red]error[/]: {err}")
        raise typer.Exit(1) from None
    console.print(summary_table(results, layout))
    console.print(f"done in {time.perf_counter() - start:.1f} s; outputs in {layout.root}")


def register(app: typer.Typer) -> None:
    app.command("run")(run_command)
