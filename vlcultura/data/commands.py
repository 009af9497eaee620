"""Command-line commands of the data stage (registered by vlcultura.cli)."""
from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    """Add this stage's commands to the `vlcultura` app."""
    from vlcultura.data.ingest_command import ingest_command

    app.command("ingest")(ingest_command)

    from vlcultura.data import generate_commands

    generate_commands.register(app)
