"""The README is executable: CI runs its blocks as written, and what it names exists."""
from __future__ import annotations

import re
import shlex

import pytest
import typer
from pipeline_helpers import ROOT, readme_block

from vlcultura.cli import app
from vlcultura.config import load_config

README = (ROOT / "README.md").read_text(encoding="utf-8")
CI = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
BLOCKS = ("install", "test", "quickstart")


def test_ci_executes_every_readme_block_and_only_those():
    assert set(re.findall(r'readme_block (\w+)\)"', CI)) == set(BLOCKS)
    for name in BLOCKS:
        assert README.count(f"<!-- ci:{name} -->") == 1
        assert readme_block(name).strip(), name


def test_the_newcomer_path_is_two_commands_then_tests():
    assert "pip install -e" in readme_block("install")
    assert readme_block("test").strip() == "python -m pytest -q"
    lines = readme_block("quickstart").strip().splitlines()
    assert lines[0].startswith("vlcultura run configs/quickstart.yaml")
    assert README.index("<!-- ci:install -->") < README.index("<!-- ci:quickstart -->")


@pytest.mark.parametrize("line", readme_block("quickstart").strip().splitlines())
def test_quickstart_lines_parse_as_vlcultura_commands(line):
    """Each line is parsed by the real command line (paths must exist), without running it."""
    import os

    args = shlex.split(line)
    assert args[0] == "vlcultura"
    command = typer.main.get_command(app)
    cwd = os.getcwd()
    os.chdir(ROOT)
    try:
        with command.make_context("vlcultura", args[1:], resilient_parsing=False) as ctx:
            sub = command.get_command(ctx, args[1])
            sub.make_context(args[1], args[2:], parent=ctx)
    finally:
        os.chdir(cwd)


def test_commands_the_readme_mentions_exist():
    command = typer.main.get_command(app)
    mentioned = set(re.findall(r"`vlcultura ([a-z-]+)(?: ([a-z-]+))?", README))
    assert mentioned
    for name, sub in mentioned:
        found = command.commands.get(name)
        assert found is not None, f"README mentions `vlcultura {name}`, which does not exist"
        if sub and hasattr(found, "commands"):
            assert sub in found.commands, f"README mentions `vlcultura {name} {sub}`"


def test_files_the_readme_links_or_names_exist():
    named = set(re.findall(r"\]\(((?:docs|configs|scripts)/[^)#]+)\)", README))
    named |= set(re.findall(r"\b((?:configs|scripts)/[\w./-]+\.(?:yaml|py))", README))
    named.discard("configs/your-recipe.yaml")
    assert {"docs/configuration.md", "docs/troubleshooting.md", "docs/quickstart.md",
            "configs/smolvlm-256m-cohere.yaml"} <= named
    for path in named:
        assert (ROOT / path).exists(), f"README names {path}, which does not exist"


@pytest.mark.parametrize("recipe", sorted(p.name for p in (ROOT / "configs").glob("*.yaml")))
def test_every_shipped_recipe_loads_and_names_valid_repos(recipe):
    from vlcultura.data.names import check_dataset_name
    from vlcultura.hub import model_repo_id

    config = load_config(ROOT / "configs" / recipe)
    name = config.export.name
    check_dataset_name(name if "/" in name else f"{config.publish.organization}/{name}",
                       "images_kto").raise_for_errors()
    from huggingface_hub.utils import validate_repo_id

    validate_repo_id(model_repo_id(config))


def test_configuration_reference_covers_every_recipe_key():
    from pydantic import BaseModel

    from vlcultura.config import PipelineConfig
    from vlcultura.config_reference import render

    def keys(model, prefix=""):
        for name, field in model.model_fields.items():
            sub = field.annotation
            if isinstance(sub, type) and issubclass(sub, BaseModel):
                yield from keys(sub, f"{prefix}{name}.")
            else:
                yield prefix + name

    reference = render()
    assert all(f"| `{key}` |" in reference for key in keys(PipelineConfig))
    shipped = (ROOT / "docs" / "configuration.md").read_text(encoding="utf-8")
    for section in PipelineConfig.model_fields:  # regenerate with python -m vlcultura.config_reference
        assert f"| `{section}" in shipped, f"docs/configuration.md lacks {section}"
    assert shipped == reference, "docs/configuration.md is stale: python -m vlcultura.config_reference > docs/configuration.md"
