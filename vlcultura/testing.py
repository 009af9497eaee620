"""Tiny offline VLM builders (being written)."""
from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    """Add `tiny-model`."""
