"""Run the real quickstart once per test session and share its output folder.

The quickstart is the product's first promise (two commands, offline, minutes), so the tests run
it exactly as a newcomer does: `vlcultura run configs/quickstart.yaml` in a subprocess with no
keys and no network, then read what it wrote.
"""
from __future__ import annotations

import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
QUICKSTART = ROOT / "configs" / "quickstart.yaml"
SECRETS = ("CO_API_KEY", "COHERE_API_KEY", "HF_TOKEN", "HUGGING_FACE_HUB_TOKEN", "ARGILLA_API_KEY",
           "ARGILLA_API_URL")


@dataclass
class CliRun:
    returncode: int
    output: str
    seconds: float


def offline_env(**extra: str) -> dict[str, str]:
    """The environment of a fresh offline machine: no keys, Hub libraries offline."""
    env = {k: v for k, v in os.environ.items() if k not in SECRETS}
    env.update({"HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1",
                "TQDM_DISABLE": "1", "COLUMNS": "200", **extra})
    return env


def vlcultura(*args: str, env: dict[str, str] | None = None, timeout: int = 600) -> CliRun:
    """`vlcultura ARGS` in a subprocess (the installed entry point's module), from the repo root."""
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "vlcultura.cli", *args], cwd=ROOT, env=env or offline_env(),
                          capture_output=True, text=True, timeout=timeout)
    return CliRun(proc.returncode, proc.stdout + proc.stderr, time.perf_counter() - start)


_RUNS: dict[Path, CliRun] = {}


def quickstart_run(base: Path) -> tuple[Path, CliRun]:
    """The quickstart's output folder under `base`, run once per session."""
    out = base / "quickstart"
    if out not in _RUNS:
        _RUNS[out] = vlcultura("run", str(QUICKSTART), "--output", str(out))
    return out, _RUNS[out]
