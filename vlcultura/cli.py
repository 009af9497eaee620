"""The `vlcultura` command: one sub-command per stage of the data flow.

Each stage's sub-package owns its commands (`<stage>/commands.py` with `register(app)`), so the
command line mirrors the package and stays a thin layer over Python functions a notebook can
call. Heavy imports (torch, transformers, datasets) happen inside commands, keeping `--help` fast.
"""
from __future__ import annotations

import importlib

import typer

app = typer.Typer(
    name="vlcultura",
    help="From a folder of photos to a culturally grounded captioning model.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,  # locals may hold secrets
)

COMMAND_MODULES = (
    "vlcultura.doctor",
    "vlcultura.testing",
    "vlcultura.data.commands",
    "vlcultura.data.quality_commands",
    "vlcultura.review.commands",
    "vlcultura.train.commands",
    "vlcultura.eval.commands",
    "vlcultura.pipeline",
    "vlcultura.hub",
)


@app.callback()
def _root(version: bool = typer.Option(False, "--version", help="Print the version and exit.")) -> None:
    """From a folder of photos to a culturally grounded captioning model."""
    if version:
        from vlcultura import __version__

        typer.echo(__version__)
        raise typer.Exit()


for _name in COMMAND_MODULES:
    importlib.import_module(_name).register(app)


def main() -> None:
    """Console entry point."""
    app()


if __name__ == "__main__":
    main()
