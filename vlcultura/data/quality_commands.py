"""`vlcultura filter | judge | arena | export`: the quality and export commands.

Thin typer wrappers over `filters`, `judge`, `arena` and `export`; each prints what it kept,
dropped and why, and where it wrote. Heavy imports stay inside the functions.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from vlcultura.config import PipelineConfig, load_config
from vlcultura.data.arena import ARENA_HUB_ID  # light module: no datasets import at load

_CONFIG = typer.Option(None, "--config", "-c", help="YAML recipe; its stage section is used.")
_INPUT = typer.Option(..., "--input", "-i", help="Candidates dataset (save_to_disk folder or Parquet).")
_OUT = typer.Option(..., "--out", "-o", help="Output folder.")


def _recipe(path: Path | None) -> PipelineConfig:
    return load_config(path) if path else PipelineConfig()


def _console() -> Any:
    from rich.console import Console

    return Console(soft_wrap=True)  # no hard line breaks inside paths and messages


def _print_report(report: Any, what: str) -> None:
    console = _console()
    console.print(f"{what}: {report.n_in} in, {report.n_out} kept")
    for reason, n in report.counts_by_reason.items():
        console.print(f"  dropped {n:>5} {reason}")
    for note in report.notes:
        console.print(f"  [yellow]note[/]: {note}")


def _write_stage(kept: Any, report: Any, out: Path, stage: str, what: str | None = None) -> None:
    """Save the kept candidates and `<stage>_report.json` in `out`, then say what happened."""
    out.mkdir(parents=True, exist_ok=True)
    kept.save_to_disk(str(out / "candidates"))
    report.write(out / f"{stage}_report.json")
    _print_report(report, what or stage)
    _console().print(f"wrote {out / 'candidates'} and {out / f'{stage}_report.json'}")


def _column_map(pairs: list[str]) -> dict[str, str] | None:
    mapping = {}
    for pair in pairs:
        src, sep, dst = pair.partition("=")
        if not sep or not src or not dst:
            raise typer.BadParameter(f"{pair!r}: write each mapping as SRC=DST, e.g. pregunta=question",
                                     param_hint="--column-map")
        mapping[src] = dst
    return mapping or None


def filter_command(input: Path = _INPUT, out: Path = _OUT, config: Path | None = _CONFIG) -> None:
    """Rule filters: language/variety, refusals, length, label collisions, near-duplicates."""
    from vlcultura.data.export import load_rows
    from vlcultura.data.filters import filter_dataset

    kept, report = filter_dataset(load_rows(input), _recipe(config).filters)
    _write_stage(kept, report, out, "filter")


def judge_command(input: Path = _INPUT, out: Path = _OUT, config: Path | None = _CONFIG,
                  backend: str | None = typer.Option(None, help="rules | cohere | auto (overrides the recipe)"),
                  ledger: Path | None = typer.Option(None, help="The generation stage's ledger.sqlite (cohere backend).")) -> None:
    """Rubric judge (cohere vision model, or offline rules); keeps strong rows, confirms negatives."""
    from vlcultura.data.export import load_rows
    from vlcultura.config import JudgeConfig
    from vlcultura.data.judge import NoLedgerError, judge_dataset
    from vlcultura.data.ledger import StopRun

    recipe = _recipe(config)
    judge_config = recipe.judge
    if backend:
        judge_config = JudgeConfig.model_validate({**judge_config.model_dump(), "backend": backend})
    beside = input.parent / "ledger.sqlite"  # `generate -o gen` writes gen/candidates + gen/ledger.sqlite
    ledger = ledger or judge_config.ledger_path or recipe.generate.ledger_path or (beside if beside.exists() else None)
    try:  # the ledger's cap covers every paid stage that writes to it
        kept, report = judge_dataset(load_rows(input), judge_config, recipe.generate.cohere, ledger_path=ledger,
                                     budget_usd=recipe.generate.budget_usd + judge_config.budget_usd)
    except StopRun as err:  # budget, quota, missing key
        _console().print(f"[red]stopped[/]: {err}")
        raise typer.Exit(2) from err
    except NoLedgerError as err:
        _console().print(f"[red]error[/]: {err}")
        raise typer.Exit(1) from err
    _write_stage(kept, report, out, "judge", f"judge ({report.stats.get('backend')})")


def arena_command(source: str = typer.Option(ARENA_HUB_ID, "--source", "-s",
                                             help="Hub dataset id or a Parquet/CSV/JSON(L) file."),
                  out: Path = _OUT,
                  column_map: list[str] = typer.Option([], "--column-map", help="SRC=DST, repeatable."),
                  split: str = typer.Option("train", help="Split to load from the Hub.")) -> None:
    """Arena preference data -> text-only KTO rows, country x topic seeds, length-bias report."""
    from vlcultura.data.arena import ArenaError, convert_arena

    try:
        report = convert_arena(source, out, _column_map(column_map), split=split)
    except ArenaError as err:
        _console().print(f"[red]error[/]: {err}")
        raise typer.Exit(1) from err
    _print_report(report, f"arena ({report.stats['schema']} schema)")
    bias = report.stats["length_bias"].get("overall", {})
    _console().print(f"{report.n_out} clear preferences -> {report.stats['n_kto_rows']} KTO rows, "
                     f"{report.stats['n_seed_cells']} seed cells; chosen longer in "
                     f"{bias.get('share_chosen_longer', 0):.0%} of pairs (length bias)")


def export_command(input: Path = _INPUT, out: Path = _OUT, config: Path | None = _CONFIG,
                   name: str | None = typer.Option(None, help="Dataset name (must fit *_images_kto)."),
                   arena: Path | None = typer.Option(None, help="Arena KTO rows (`vlcultura arena` out/kto) to mix in."),
                   report: list[Path] = typer.Option([], "--report", help="Stage report JSON for the card, repeatable."),
                   review: Path | None = typer.Option(None, help="Review summary JSON for the card."),
                   push: bool = typer.Option(False, help="Push both repos to the Hub (needs HF_TOKEN)."),
                   private: bool = typer.Option(False, help="Create private repos when pushing.")) -> None:
    """The KTO dataset + prompts dataset, split by image, weights, Dataset Card, Hub folders."""
    import json

    from vlcultura.data.dataset_repo import hf_token, push_dataset_repo
    from vlcultura.data.export import export_dataset, load_rows
    from vlcultura.data.names import NameRuleError, check_dataset_name
    from vlcultura.data.report import StageReport

    export_config = _recipe(config).export
    if name:
        export_config = export_config.model_copy(update={"name": name})
    arena_path = arena or (Path(export_config.include_arena) if export_config.include_arena else None)
    console = _console()
    if push:
        hf_token()  # a missing token fails here, before any work or network
    try:
        result = export_dataset(load_rows(input), out, export_config,
                                arena_rows=load_rows(arena_path) if arena_path else None,
                                reports=[StageReport.read(p) for p in report],
                                review=json.loads(review.read_text(encoding="utf-8")) if review else None)
    except NameRuleError as err:
        console.print(f"[red]error[/]: {err}")
        raise typer.Exit(1) from err
    for warning in result.warnings:
        console.print(f"[yellow]warning[/]: {warning}")
    b, w = result.balance["total"], result.weights
    console.print(f"{result.repo_id}: {b['desirable']} desirable / {b['undesirable']} undesirable; "
                  f"KTO weights desirable={w['desirable_weight']} undesirable={w['undesirable_weight']}")
    console.print(f"wrote {out} (hub folders: {result.kto_repo_dir}, {result.prompts_repo_dir})")
    if push:
        check = check_dataset_name(result.prompts_repo_id, "prompts", n_prompts=result.n_prompts)
        if not check.ok:
            console.print(f"[red]not pushed[/]: {'; '.join(check.errors)}")
            raise typer.Exit(1)
        for folder, repo_id in ((result.kto_repo_dir, result.repo_id), (result.prompts_repo_dir, result.prompts_repo_id)):
            console.print(f"pushed {repo_id}: {push_dataset_repo(folder, repo_id, private=private)}")


def register(app: typer.Typer) -> None:
    """Add filter, judge, arena and export to the `vlcultura` app."""
    app.command("filter")(filter_command)
    app.command("judge")(judge_command)
    app.command("arena")(arena_command)
    app.command("export")(export_command)
