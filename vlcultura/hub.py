"""`vlcultura publish`: the run's Hub repositories, staged on disk, checked, then pushed.

Publishing is two steps so nothing surprising leaves the machine: `assemble` writes each repo
exactly as it will be uploaded into `<output>/publish/<kind>/` (data as Parquet, the card as
README.md, the scripts, configs and a notebook that reproduces the run), and `push` uploads
those folders unchanged with huggingface_hub. `--dry-run` stops after the checks and lists
every file. Names follow the challenge's rules (vlcultura.data.names), cards must parse with
huggingface_hub's `DatasetCard` / `ModelCard` and carry the sections the challenge asks for.
"""
from __future__ import annotations

import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import typer

from vlcultura.config import PipelineConfig
from vlcultura.pipeline import SET_OPTION, read_recipe
from vlcultura.run_layout import RECIPE_IN_REPO, RESOLVED_IN_REPO, RunLayout

RepoType = Literal["dataset", "model"]
PROJECT_ROOT = Path(__file__).resolve().parents[1]  # a clone: scripts/ and configs/ live here


class PublishError(ValueError):
    """A repo that must not be pushed as it is (the message lists every problem)."""


@dataclass
class RepoPlan:
    """One Hub repo, staged in `folder`, with what was found wrong or worth saying."""

    kind: str  # "dataset", "prompts", "model"
    repo_id: str
    repo_type: RepoType
    folder: Path
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    skip: str | None = None  # why this repo is staged but not pushed

    @property
    def files(self) -> list[str]:
        return sorted(p.relative_to(self.folder).as_posix() for p in self.folder.rglob("*") if p.is_file())


# Never uploaded from a training folder: resumable state, pickles, markers, the merged copy.
_NOT_PUBLISHED = ("checkpoint-*", "__pycache__", ".*", "*.bin", "*.pt", "*.pth", "merged")


def _copy_tree(src: Path, dest: Path, pattern: str = "*") -> int:
    """Copy the files under `src` matching `pattern`, minus `_NOT_PUBLISHED`; returns the count."""
    n = 0
    for path in sorted(src.rglob(pattern)):
        parts = path.relative_to(src).parts
        if path.is_file() and not any(Path(p).match(skip) for p in parts for skip in _NOT_PUBLISHED):
            n += 1
            target = dest / path.relative_to(src)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, target)
    return n


def _add_provenance(folder: Path, layout: RunLayout, config: PipelineConfig,
                    plan: RepoPlan) -> None:
    """scripts/, configs/ (the recipe as written and as resolved) and the reproducing notebook."""
    from vlcultura.notebooks import write_notebook

    scripts = PROJECT_ROOT / "scripts"
    if not (scripts.is_dir() and _copy_tree(scripts, folder / "scripts", "*.py")):
        plan.warnings.append(f"no scripts/ folder next to the package ({scripts}): install vlcultura from a "
                             "clone (pip install -e .) so the repo carries the scripts used")
    configs = folder / "configs"
    configs.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(layout.recipe_path, folder / RECIPE_IN_REPO)  # as written
    shutil.copyfile(layout.resolved_config_path, folder / RESOLVED_IN_REPO)  # as it ran (--set included)
    if plan.repo_type == "model" and (PROJECT_ROOT / "configs" / "accelerate").is_dir():
        _copy_tree(PROJECT_ROOT / "configs" / "accelerate", configs / "accelerate")
    write_notebook(plan.kind, config, RESOLVED_IN_REPO, folder / "notebooks")


def card_problems(text: str, kind: str) -> list[str]:
    """Why a card is not ready for the Hub, by the card modules' own validators (offline).

    `kind` is "dataset", "prompts" (the short companion card: metadata only) or "model".
    """
    from vlcultura.cards.dataset_card import CardError, validate_card
    from vlcultura.cards.model_card import validate_model_card

    try:
        if kind == "model":
            validate_model_card(text)
        elif kind == "prompts":
            validate_card(text, sections=())
        else:
            validate_card(text)
    except CardError as err:
        return [str(err)]
    return []


def _in_org(name: str, config: PipelineConfig) -> str:
    return name if "/" in name else f"{config.publish.organization}/{name}"


def model_repo_id(config: PipelineConfig) -> str:
    """`publish.model_repo`, else `<org>/<base model>-<dataset stem>-<algorithm>`."""
    if config.publish.model_repo:
        name = config.publish.model_repo
    else:
        from vlcultura.data.names import prompts_name_for

        base = re.sub(r"[^a-z0-9._-]+", "-", Path(config.model.name_or_path.rstrip("/")).name.lower())
        stem = prompts_name_for(config.export.name).removesuffix("_prompts")
        name = f"{base}-{stem}-{config.train.algorithm}"
    return _in_org(name, config)


def _stage_dataset_repo(layout: RunLayout, config: PipelineConfig, kind: str, folder: Path) -> RepoPlan:
    """Copy the repo the export stage laid out (Parquet, card, weights, plots), add provenance."""
    from vlcultura.data.names import MIN_PROMPTS, check_dataset_name

    export = layout.done_record("export")["summary"]
    repo_id = export["repo_id" if kind == "dataset" else "prompts_repo_id"]
    if kind == "dataset" and config.publish.dataset_repo:
        repo_id = _in_org(config.publish.dataset_repo, config)
    if folder.exists():
        shutil.rmtree(folder)
    _copy_tree(layout.output("export", "kto_repo" if kind == "dataset" else "prompts_repo"), folder)
    plan = RepoPlan(kind, repo_id, "dataset", folder)
    n_prompts = export["n_prompts"] if kind == "prompts" else None
    check = check_dataset_name(repo_id, "images_kto" if kind == "dataset" else "prompts", n_prompts=n_prompts)
    plan.errors += check.errors
    plan.warnings += check.warnings
    if kind == "prompts" and n_prompts < MIN_PROMPTS:
        plan.skip = (f"only {n_prompts} prompts: the challenge publishes a prompts dataset from "
                     f"{MIN_PROMPTS} up; add images and run again")
    plan.errors += card_problems((folder / "README.md").read_text(encoding="utf-8"), kind)
    _add_provenance(folder, layout, config, plan)
    return plan


def _stage_model_repo(layout: RunLayout, config: PipelineConfig, folder: Path) -> RepoPlan:
    from huggingface_hub.errors import HFValidationError
    from huggingface_hub.utils import validate_repo_id

    from vlcultura.stages import TINY_PREFIX

    plan = RepoPlan("model", model_repo_id(config), "model", folder)
    if config.model.name_or_path.startswith(TINY_PREFIX):
        plan.warnings.append(f"{config.model.name_or_path} is a tiny random-weight demonstration model: "
                             "check the repos with --dry-run, but publish a run on a real base model")
    if folder.exists():
        shutil.rmtree(folder)
    adapter = layout.output("train", "adapter")
    if config.train.merge_adapter:  # merged weights at the top, the adapter beside them
        _copy_tree(layout.output("train", "merged"), folder)
        _copy_tree(adapter, folder / "adapter")
    else:
        _copy_tree(adapter, folder)
    card = layout.output("train", "model_card").read_text(encoding="utf-8")
    (folder / "README.md").write_text(card, encoding="utf-8")
    emissions = layout.outputs("train").get("emissions")
    if emissions and Path(emissions).is_file():
        shutil.copyfile(emissions, folder / "emissions.csv")
    elif config.emissions.enabled:
        plan.errors.append("no emissions.csv from training: the Model Card's environmental impact needs it")
    if layout.is_done("evaluate"):
        report = layout.output("evaluate", "report")
        _copy_tree(report if report.is_dir() else report.parent, folder / "evaluation")
    else:
        plan.warnings.append("the evaluate stage has not run: the Model Card carries no results "
                             "(run `vlcultura run` again to finish it)")
    try:
        validate_repo_id(plan.repo_id)
    except HFValidationError as err:
        plan.errors.append(f"not a valid Hub repo id: {err}")
    plan.errors += card_problems(card, "model")
    _add_provenance(folder, layout, config, plan)
    return plan


def assemble(config: PipelineConfig, output_dir: str | Path) -> list[RepoPlan]:
    """Stage every repo of the run under `<output>/publish/` and check names and cards.

    A prompts dataset under the challenge's minimum is staged but marked `skip` (said aloud):
    the KTO dataset and the model are still worth publishing.
    """
    layout = RunLayout.at(output_dir)
    staging = layout.root / "publish"
    return [_stage_dataset_repo(layout, config, "dataset", staging / "dataset"),
            _stage_dataset_repo(layout, config, "prompts", staging / "prompts"),
            _stage_model_repo(layout, config, staging / "model")]


def push_folder(folder: Path, repo_id: str, repo_type: RepoType, *, private: bool, token: str,
                commit_message: str = "Upload with vlcultura publish",
                endpoint: str | None = None) -> str:
    """Create the repo if needed and upload the staged folder as it is; returns the commit URL.

    `endpoint` points at another Hub deployment (default: huggingface.co or HF_ENDPOINT).
    """
    from huggingface_hub import HfApi

    api = HfApi(endpoint=endpoint, token=token)
    api.create_repo(repo_id, repo_type=repo_type, private=private, exist_ok=True)
    info = api.upload_folder(repo_id=repo_id, repo_type=repo_type, folder_path=str(folder),
                             commit_message=commit_message)
    return str(info.commit_url)


def publish(config: PipelineConfig, output_dir: str | Path, *, dry_run: bool = False) -> list[RepoPlan]:
    """Assemble, check and (unless `dry_run`) push every repo of a finished run.

    The token is checked first, so a push without HF_TOKEN fails before any work or network call.
    """
    from vlcultura.data.dataset_repo import hf_token

    token = None if dry_run else hf_token()
    plans = assemble(config, output_dir)
    problems = [f"{p.repo_id}: {e}" for p in plans if not p.skip for e in p.errors]
    if problems and not dry_run:
        raise PublishError("nothing pushed:\n  " + "\n  ".join(problems))
    if not dry_run:
        for plan in (p for p in plans if not p.skip):
            push_folder(plan.folder, plan.repo_id, plan.repo_type, private=config.publish.private,
                        token=token)  # type: ignore[arg-type]
    return plans


def _print_plans(plans: list[RepoPlan], dry_run: bool) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    for plan in plans:
        table = Table(title=f"{plan.repo_type} repo {plan.repo_id}", title_justify="left")
        table.add_column("file")
        table.add_column("bytes", justify="right")
        for name in plan.files:
            table.add_row(name, f"{(plan.folder / name).stat().st_size:,}")
        console.print(table)
        for w in plan.warnings:
            console.print(f"[yellow]warning[/]: {w}")
        if plan.skip:
            console.print(f"[yellow]not pushed[/]: {plan.skip}")
        else:
            for e in plan.errors:
                console.print(f"[red]error[/]: {e}")
    verb = "would push" if dry_run else "pushed"
    console.print(f"{verb}: " + ", ".join(f"{p.repo_type}:{p.repo_id}" for p in plans if not p.skip))


def publish_command(
    config_path: Path = typer.Argument(..., exists=True, dir_okay=False, help="the recipe the run used"),
    output: Path | None = typer.Option(None, "--output", "-o", help="the run's folder (default: the recipe's output_dir)"),
    dry_run: bool = typer.Option(False, "--dry-run", help="stage and check the repos, list every file, push nothing"),
    set_: list[str] | None = SET_OPTION,
) -> None:
    """Assemble the dataset and model repos of a finished run and push them to the Hub."""
    from vlcultura.data.dataset_repo import MissingTokenError

    config = read_recipe(config_path, set_)
    try:
        plans = publish(config, output or config.output_dir, dry_run=dry_run)
    except (MissingTokenError, PublishError, FileNotFoundError) as err:
        typer.secho(f"error: {err}", fg="red", err=True)
        raise typer.Exit(1) from None
    _print_plans(plans, dry_run)
    if any(p.errors for p in plans if not p.skip):
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    app.command("publish")(publish_command)
