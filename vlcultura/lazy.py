"""Lazy public faces for the stage sub-packages (PEP 562).

`from vlcultura.data import judge_dataset` should work in a notebook, yet `vlcultura --help` must
not pay for importing every stage (datasets, argilla, matplotlib...). A package lists its public
names and the submodule holding each; a name is imported on first use and cached.

A public name never equals a submodule's name (`vlcultura.data.ingest` is the module, its
`ingest` function is reached as `vlcultura.data.ingest.ingest`): once the submodule is imported,
Python binds the package attribute to the module, so such a name would change meaning.
"""
from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any


def lazy_exports(package: str, exports: dict[str, str]) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """`(__getattr__, __dir__)` for `package`, whose public `name` lives in `package.exports[name]`."""

    def __getattr__(name: str) -> Any:
        if name not in exports:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(f"{package}.{exports[name]}"), name)
        setattr(importlib.import_module(package), name, value)  # later look-ups skip this function
        return value

    def __dir__() -> list[str]:
        return sorted(set(exports) | set(vars(importlib.import_module(package))))

    return __getattr__, __dir__
