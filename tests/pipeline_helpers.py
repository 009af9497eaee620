"""Run the README's quickstart once per test session and share its output folder.

The quickstart is the product's first promise (two commands, offline, minutes), so the tests run
it exactly as a newcomer does: the README's `ci:quickstart` block, extracted with the same
function `.ci/run` uses, executed as written by bash (no keys, no network) in a fresh folder
holding only `configs/`, then they read what it wrote.
"""
from __future__ import annotations

import os
import re
import shlex
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


def readme_block(name: str) -> str:
    """The `<!-- ci:NAME -->` block of README.md, extracted by `.ci/run`'s own `readme_block`."""
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    function = re.search(r"^readme_block\(\) \{\n.*?^\}\n", ci, re.S | re.M)
    assert function, ".ci/run no longer defines readme_block()"
    proc = subprocess.run(["bash", "-c", f"{function.group(0)}\nreadme_block {shlex.quote(name)}"], cwd=ROOT,
                          capture_output=True, text=True, check=True)
    return proc.stdout


def output_dir_of(block: str) -> str:
    """The `--output` of the block's `vlcultura run` line."""
    run = next(shlex.split(line) for line in block.splitlines() if line.startswith("vlcultura run "))
    return run[run.index("--output") + 1]


_RUNS: dict[Path, tuple[Path, CliRun]] = {}


def quickstart_run(base: Path) -> tuple[Path, CliRun]:
    """(output folder, the run) of the README's quickstart block, executed once per session."""
    cwd = base / "newcomer"
    if cwd not in _RUNS:
        cwd.mkdir(parents=True, exist_ok=True)
        (cwd / "configs").symlink_to(ROOT / "configs")
        block = readme_block("quickstart")
        env = offline_env(PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}")
        start = time.perf_counter()
        proc = subprocess.run(["bash", "-euo", "pipefail", "-c", block], cwd=cwd, env=env,
                              capture_output=True, text=True, timeout=900)
        run = CliRun(proc.returncode, proc.stdout + proc.stderr, time.perf_counter() - start)
        _RUNS[cwd] = (cwd / output_dir_of(block), run)
    return _RUNS[cwd]
