"""docs/promises.md stays true: every test it names exists, and every promise test file is in it."""
from __future__ import annotations

import ast
import re

from conftest import ROOT

DOC = (ROOT / "docs" / "promises.md").read_text(encoding="utf-8")
TESTS = ROOT / "tests"


def _tests_in(path):
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return {node.name for node in tree.body if isinstance(node, ast.FunctionDef) and node.name.startswith("test_")}


def test_every_named_test_exists():
    named, current = [], None
    for file, _, name in re.findall(r"(test_\w+\.py)?(::)(test_\w+)", DOC):
        current = file or current  # `a.py::x, ::y`: y is in a.py too
        named.append((current, name))
    files = set(re.findall(r"\b(test_\w+\.py)\b", DOC))
    assert len(named) > 40 and files
    for file in files:
        assert (TESTS / file).is_file(), f"{file} does not exist"
    missing = [f"{file}::{name}" for file, name in named if name not in _tests_in(TESTS / file)]
    assert not missing, f"docs/promises.md names tests that do not exist: {missing}"


def test_every_promise_test_file_is_in_the_table():
    for path in TESTS.glob("test_promises_*.py"):
        assert path.name in DOC, f"{path.name} is not in docs/promises.md"
