"""Human review in Argilla: push candidates, pull submitted reviews, run a local server.

Public face (imported lazily, so `vlcultura --help` does not load the Argilla SDK):
`push`, `pull`, `review_progress`, `LocalArgilla`, `ArgillaUnreachable`. See docs/review.md.
"""
from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {"push": "push", "pull": "pull", "review_progress": "pull", "LocalArgilla": "server",
            "ArgillaUnreachable": "client"}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'vlcultura.review' has no attribute {name!r}")
    return getattr(importlib.import_module(f"vlcultura.review.{_EXPORTS[name]}"), name)
