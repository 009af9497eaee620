"""The stages of `vlcultura run`, each a thin adapter over that stage's public Python function.

An adapter reads the previous stages' recorded outputs (`RunLayout.output`), calls the stage's
function, and returns a summary whose `outputs` name what it wrote (the run loop in
`vlcultura.pipeline` records it in the stage's `.done.json`). No stage logic lives here: only
the wiring, the loud notices about offline defaults, and the review step's two modes (people in
Argilla, or auto-accept with the pipeline named as the reviewer).

Base models: `model.name_or_path: tiny:<family>` (smolvlm, gemma3, qwen2_5_vl) builds a tiny
random-weight model from `vlcultura.testing` into `<output>/base_model/` so the whole run fits a
CPU in minutes; any other value is a Hub id or a local folder, passed on untouched.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vlcultura.config import PipelineConfig
from vlcultura.run_layout import RECIPE_IN_REPO, RunLayout

TINY_PREFIX = "tiny:"


@dataclass
class RunContext:
    """What every stage adapter gets: the recipe, the folders, the console, the overrides."""

    config: PipelineConfig
    layout: RunLayout
    console: Any  # rich.console.Console
    accelerate: Path | None = None  # --accelerate: train under `accelerate launch` with this config

    def out(self, stage: str) -> Path:
        path = self.layout.stage_dir(stage)
        path.mkdir(parents=True, exist_ok=True)
        return path

    def notice(self, text: str) -> None:
        """A loud notice about an offline default (or a problem) the user must not miss."""
        from rich.markup import escape

        self.console.print(f"[bold yellow]NOTICE[/] {escape(text)}")


StageFn = Callable[[RunContext], dict[str, Any]]


def _ingest(ctx: RunContext) -> dict[str, Any]:
    from vlcultura.data.ingest import SAMPLES_SOURCE, ingest

    source = ctx.config.ingest.source or SAMPLES_SOURCE
    if source == SAMPLES_SOURCE:
        ctx.notice("no photos given: vlcultura draws its own synthetic sample images "
                   "(use --images DIR or ingest.source for yours)")
    result = ingest(source, ctx.out("ingest"), ctx.config.ingest)
    if not result.records:
        raise RuntimeError(f"ingest kept no image from {source}: see {result.out_dir}/rejections.jsonl")
    return {"outputs": {"images": str(result.dataset_path)}, "rows": len(result.records),
            "note": f"{len(result.rejections)} rejected"}


def _generate(ctx: RunContext) -> dict[str, Any]:
    from vlcultura.data.generate import generate

    cfg = ctx.config.generate
    result = generate(ctx.layout.output("ingest", "images"), ctx.out("generate"), cfg, log=ctx.notice)
    if result.stopped:
        raise RuntimeError(f"generate stopped early ({result.stopped}); raise the budget or wait, then "
                           "run again: paid answers are in the ledger and are not bought twice")
    return {"outputs": {"candidates": str(result.dataset_path), "ledger": str(result.ledger_path)},
            "rows": result.rows,
            "note": f"backend {result.backend}, {len(result.errors)} image errors, ${result.spent_usd:.2f}"}


def _quality(ctx: RunContext, stage: str, source: tuple[str, str],
             run: Callable[[Any], tuple[Any, Any]]) -> dict[str, Any]:
    """filter and judge: rows in, kept rows + a drop report out."""
    from vlcultura.data.export import load_rows

    out = ctx.out(stage)
    kept, report = run(load_rows(ctx.layout.output(*source)))
    kept.save_to_disk(str(out / "candidates"))
    report_path = report.write(out / f"{stage}_report.json")
    if not len(kept):
        raise RuntimeError(f"{stage} kept no row: see {report_path}")
    return {"outputs": {"candidates": str(out / "candidates"), "report": str(report_path)},
            "rows": len(kept), "note": f"{report.n_in - report.n_out} dropped"}


def _filter(ctx: RunContext) -> dict[str, Any]:
    from vlcultura.data.filters import filter_dataset

    return _quality(ctx, "filter", ("generate", "candidates"),
                    lambda rows: filter_dataset(rows, ctx.config.filters))


def _judge(ctx: RunContext) -> dict[str, Any]:
    from vlcultura.data.judge import choose_backend, judge_dataset

    cfg = ctx.config.judge
    if not cfg.enabled:
        ctx.notice("judge.enabled is false: the filtered rows go on unjudged")
        return {**ctx.layout.done_record("filter")["summary"], "note": "disabled"}
    if cfg.backend == "auto" and choose_backend(cfg) == "rules":
        ctx.notice("no Cohere key (CO_API_KEY): the judge uses offline rules (heuristics, not a language model)")
    ledger = cfg.ledger_path or ctx.layout.output("generate", "ledger")
    budget = ctx.config.generate.budget_usd + cfg.budget_usd  # the ledger is shared: one cap for both
    return _quality(ctx, "judge", ("filter", "candidates"),
                    lambda rows: judge_dataset(rows, cfg, ctx.config.generate.cohere,
                                               ledger_path=ledger, budget_usd=budget))


AUTO_REVIEWER = "vlcultura-pipeline (auto-accepted: no Argilla server configured)"


def auto_accept(candidates: Path, out: Path) -> dict[str, Any]:
    """Keep every judged row as it is, marked as accepted by the pipeline with zero human votes.

    Same review columns as an Argilla pull (`review_votes` is 0 here), plus `review_by`, so the
    rows and the Dataset Card say plainly that no person reviewed them.
    """
    import datasets

    rows = datasets.load_from_disk(str(candidates))
    n = len(rows)
    columns = {"review_votes": [0] * n, "review_unanimous": [None] * n,
               "review_cultural_accuracy": [None] * n, "review_flags": [[]] * n, "review_by": [AUTO_REVIEWER] * n}
    for name, values in columns.items():
        rows = rows.add_column(name, values)
    rows.save_to_disk(str(out / "reviewed"))
    # card: None -> the Dataset Card says no human review was recorded and the rows are unreviewed
    return {"outputs": {"reviewed": str(out / "reviewed")}, "rows": n, "note": "auto-accepted", "card": None}


class ReviewPending(RuntimeError):
    """Rows are in Argilla and not all reviewed yet: the run stops here until they are."""


def human_review(candidates: Path, out: Path, config: Any) -> dict[str, Any]:
    """Push to Argilla (resumable), pull what was submitted; stop the run until all is reviewed."""
    from dataclasses import asdict

    from vlcultura.review.pull import pull
    from vlcultura.review.push import push

    pushed = push(candidates, config, out / "review_push.sqlite")
    report = pull(candidates, out, config)
    expected = pushed.total - len(pushed.rejected)
    if report.reviewed_records < expected:
        raise ReviewPending(f"{report.reviewed_records} of {expected} records reviewed in Argilla dataset "
                            f"{config.dataset_name!r} at {report.api_url}: review (Submit) the rest, then run "
                            "again; finished stages are skipped")
    card = {k: v for k, v in asdict(report).items() if k not in ("api_url", "message")}
    return {"outputs": {"reviewed": str(out / "reviewed")}, "rows": report.rows_written,
            "note": f"{report.reviewed_records} reviewed, {report.flipped} flipped", "card": card}


def _review(ctx: RunContext) -> dict[str, Any]:
    import os

    candidates = ctx.layout.output("judge", "candidates")
    if ctx.config.review.api_url or os.environ.get("ARGILLA_API_URL"):
        return human_review(candidates, ctx.out("review"), ctx.config.review)
    ctx.notice("no Argilla server configured (review.api_url or ARGILLA_API_URL): review auto-accepted; "
               "the rows say review_by=pipeline and the Dataset Card says no human review was recorded")
    return auto_accept(candidates, ctx.out("review"))


def _export(ctx: RunContext) -> dict[str, Any]:
    from vlcultura.data.export import export_dataset, load_rows
    from vlcultura.data.report import StageReport

    cfg = ctx.config.export
    reports = [StageReport.read(ctx.layout.output(stage, "report")) for stage in ("filter", "judge")]
    review = ctx.layout.done_record("review")["summary"].get("card")
    arena = load_rows(cfg.include_arena) if cfg.include_arena else None
    result = export_dataset(load_rows(ctx.layout.output("review", "reviewed")), ctx.out("export"), cfg,
                            arena_rows=arena, reports=reports, review=review)
    for warning in result.warnings:
        ctx.notice(warning)
    total = result.balance["total"]
    return {"outputs": {"dataset": str(result.out_dir / "kto"), "prompts": str(result.out_dir / "prompts"),
                        "kto_repo": str(result.kto_repo_dir), "prompts_repo": str(result.prompts_repo_dir)},
            "repo_id": result.repo_id, "prompts_repo_id": result.prompts_repo_id, "n_prompts": result.n_prompts,
            "rows": total["desirable"] + total["undesirable"],
            "note": f"{total['desirable']} desirable / {total['undesirable']} undesirable"}


def _base_model(ctx: RunContext) -> dict[str, Any]:
    name = ctx.config.model.name_or_path
    if not name.startswith(TINY_PREFIX):
        return {"outputs": {"model": name}, "note": "used as given"}
    from vlcultura.testing import FAMILIES, build_tiny_vlm

    family = name.removeprefix(TINY_PREFIX)
    if family not in FAMILIES:
        raise ValueError(f"model.name_or_path {name!r}: the tiny families are "
                         + ", ".join(TINY_PREFIX + f for f in FAMILIES))
    ctx.notice(f"tiny random-weight {family} model from vlcultura.testing: a demonstration, not a captioner")
    path = build_tiny_vlm(family, ctx.out("base_model") / "model", seed=ctx.config.train.seed)  # type: ignore[arg-type]
    return {"outputs": {"model": str(path)}, "note": f"tiny {family}"}


def base_model_config(ctx: RunContext) -> Any:
    """The recipe's model section pointing at the model the base_model stage settled on."""
    model = ctx.layout.output("base_model", "model")
    local = ctx.config.model.name_or_path.startswith(TINY_PREFIX)
    update = {"name_or_path": str(model)} | ({"local_files_only": True} if local else {})
    return ctx.config.model.model_copy(update=update)


def stage_config(ctx: RunContext) -> PipelineConfig:
    """The recipe as the train and evaluate stages see it: this run's base model, dataset, repos."""
    from vlcultura.hub import model_repo_id

    export = ctx.layout.done_record("export")["summary"]
    publish = ctx.config.publish.model_copy(update={
        "dataset_repo": ctx.config.publish.dataset_repo or export["repo_id"],
        "model_repo": model_repo_id(ctx.config)})
    train = ctx.config.train.model_copy(update={"output_dir": str(ctx.layout.stage_dir("train")),
                                                "dataset": str(ctx.layout.output("export", "dataset"))})
    return ctx.config.model_copy(update={"model": base_model_config(ctx), "train": train, "publish": publish})


def _launch_accelerate(ctx: RunContext, config: PipelineConfig, out: Path, resume: bool) -> None:
    """`accelerate launch --config_file X scripts/train.py --config <this run's train recipe>`."""
    import shutil
    import subprocess
    import sys

    from vlcultura.config import dump_config
    from vlcultura.hub import PROJECT_ROOT

    script = PROJECT_ROOT / "scripts" / "train.py"
    launcher = shutil.which("accelerate", path=str(Path(sys.executable).parent)) or shutil.which("accelerate")
    if not script.is_file() or not launcher:
        raise FileNotFoundError(f"--accelerate needs {script} (install vlcultura from a clone) and the "
                                "`accelerate` launcher (installed with vlcultura)")
    recipe = out / "train_recipe.yaml"
    dump_config(config, recipe)
    command = [launcher, "launch", "--config_file", str(ctx.accelerate), str(script), "--config", str(recipe)]
    ctx.console.print(f"  {' '.join(command)}{' --resume' if resume else ''}", markup=False)
    subprocess.run(command + (["--resume"] if resume else []), check=True)


def _train(ctx: RunContext) -> dict[str, Any]:
    """In this process (one device), or under `accelerate launch` with `--accelerate CONFIG`."""
    import json

    from transformers.trainer_utils import get_last_checkpoint

    from vlcultura.cards.model_card import write_model_card
    from vlcultura.train.merge import MERGED_DIR
    from vlcultura.train.trainer import FACTS_FILE, train

    out = ctx.out("train")
    config, resume = stage_config(ctx), get_last_checkpoint(str(out)) is not None
    if ctx.accelerate:
        _launch_accelerate(ctx, config, out, resume)
    else:
        train(config, resume=resume)
    write_model_card(out, recipe=RECIPE_IN_REPO)  # links the recipe where publish puts it
    result = json.loads((out / FACTS_FILE).read_text(encoding="utf-8"))["result"]
    outputs = {"adapter": str(out), "model_card": str(out / "README.md")}
    if (out / "emissions.csv").is_file():
        outputs["emissions"] = str(out / "emissions.csv")
    if config.train.merge_adapter and (out / MERGED_DIR).is_dir():
        outputs["merged"] = str(out / MERGED_DIR)
    loss = f"loss {result['train_loss']:.3f}, " if result.get("train_loss") is not None else ""
    return {"outputs": outputs, "rows": result["global_step"],
            "note": f"{result['global_step']} steps, {loss}{result['trainer_class']}"}


def _evaluate(ctx: RunContext) -> dict[str, Any]:
    from vlcultura.cards.model_card import write_model_card
    from vlcultura.eval.evaluate import evaluate

    config = stage_config(ctx)
    ev = config.eval.model_copy(update={"dataset": config.train.dataset, "output_dir": str(ctx.out("evaluate")),
                                        "tuned": str(ctx.layout.output("train", "adapter"))})
    run = evaluate(config.model_copy(update={"eval": ev}))
    for problem in run.problems:
        ctx.notice(f"evaluate: {problem}")
    if "model_index" in run.files:  # the Model Card gains the results
        write_model_card(ctx.layout.output("train", "adapter"), eval_results=run.files["model_index"],
                         recipe=RECIPE_IN_REPO)
    return {"outputs": {"report": str(run.files["markdown"]), "scores": str(run.files["scores"])},
            "note": _headline(run.summary)}


def _headline(summary: dict[str, Any]) -> str:
    """'chrF++ base 12.3 -> tuned 14.1' when both systems were scored."""
    systems = summary.get("systems", {})
    if {"base", "tuned"} <= set(systems):
        base, tuned = (systems[name]["chrF++"]["value"] for name in ("base", "tuned"))
        return f"chrF++ base {base:.1f} -> tuned {tuned:.1f}"
    return ", ".join(systems)


STAGE_FUNCS: dict[str, StageFn] = {
    "ingest": _ingest, "generate": _generate, "filter": _filter, "judge": _judge, "review": _review,
    "export": _export, "base_model": _base_model, "train": _train, "evaluate": _evaluate,
}
STAGES: tuple[str, ...] = tuple(STAGE_FUNCS)  # the run order is the order above
# The recipe sections each stage reads: a finished stage whose sections changed is pointed out.
STAGE_SECTIONS: dict[str, tuple[str, ...]] = {
    "ingest": ("ingest",), "generate": ("generate",), "filter": ("filters",), "judge": ("judge",),
    "review": ("review",), "export": ("export",), "base_model": ("model",),
    "train": ("model", "train", "emissions"), "evaluate": ("eval",),
}


def recipe_fingerprint(ctx: RunContext, stage: str) -> dict[str, Any]:
    """What a stage's result depends on in the recipe."""
    return {name: getattr(ctx.config, name).model_dump(mode="json") for name in STAGE_SECTIONS[stage]}


DATASET_STAGES: tuple[str, ...] = STAGES[: STAGES.index("export") + 1]
