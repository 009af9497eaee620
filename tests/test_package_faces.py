"""Each stage sub-package has a small public face: documented, lazy, and true to its submodules."""
from __future__ import annotations

import importlib
import pkgutil
import subprocess
import sys

import pytest

FACES = ("vlcultura.data", "vlcultura.review", "vlcultura.train", "vlcultura.eval", "vlcultura.cards")


@pytest.mark.parametrize("name", FACES)
def test_every_public_name_is_the_submodules_own_object(name: str) -> None:
    package = importlib.import_module(name)
    assert package.__doc__ and len(package.__doc__.split()) > 20  # says what the stage does
    submodules = {m.name for m in pkgutil.iter_modules(package.__path__)}
    assert package.__all__ and not set(package.__all__) & submodules  # a name that a module import would rebind
    for public in package.__all__:
        value = getattr(package, public)
        home = importlib.import_module(value.__module__)
        assert getattr(home, public) is value and home.__name__.startswith(f"{name}.")
        assert public in dir(package)
    with pytest.raises(AttributeError, match="no attribute 'not_a_name'"):
        getattr(package, "not_a_name")


def test_the_command_line_loads_no_stage_library() -> None:
    # vlcultura.train.trainer: run, publish and evaluate read `--set` overrides through it
    code = ("import sys, vlcultura.cli, vlcultura.data, vlcultura.review, vlcultura.train, vlcultura.eval, "
            "vlcultura.cards, vlcultura.train.trainer; print(sorted(m for m in ('torch', 'datasets', 'argilla', "
            "'matplotlib', 'transformers') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
