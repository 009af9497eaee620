"""Shared test settings: offline, deterministic, and strict in CI.

`VLCULTURA_REQUIRE_<NAME>=1` turns a skip for a missing resource (a server, the shared data, a
tool) into a failure: CI sets these so that nothing it can provide is silently skipped.
"""
from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("TQDM_DISABLE", "1")
for _secret in ("CO_API_KEY", "COHERE_API_KEY", "HF_TOKEN", "HUGGING_FACE_HUB_TOKEN", "ARGILLA_API_KEY"):
    os.environ.pop(_secret, None)  # tests set the keys they need explicitly

ROOT = Path(__file__).resolve().parents[1]


def require(name: str, available: bool, why: str) -> None:
    """Skip when a resource is missing, or fail when VLCULTURA_REQUIRE_<NAME> is set."""
    if available:
        return
    if os.environ.get(f"VLCULTURA_REQUIRE_{name.upper()}") == "1":
        pytest.fail(f"VLCULTURA_REQUIRE_{name.upper()}=1 but {why}")
    pytest.skip(why)


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The read-only shared data folder (VLCULTURA_SHARED_DATA, default ../shared/data)."""
    path = Path(os.environ.get("VLCULTURA_SHARED_DATA", ROOT.parent / "shared" / "data"))
    require("shared_data", path.is_dir(), f"shared data not found at {path}")
    return path


@pytest.fixture(autouse=True, scope="session")
def _single_thread_torch() -> None:
    """One CPU thread: stable, fast steps for tiny models on 2 cores."""
    try:
        import torch
    except ImportError:  # pragma: no cover
        return
    torch.set_num_threads(1)
