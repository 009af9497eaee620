"""`vlcultura doctor`: what this machine can do, before a long run finds out the hard way.

It reports versions, the accelerator, bf16 support, Java (COCO tokenization), whether the keys
are set (never their values), Argilla reachability and free disk.
"""
from __future__ import annotations

import importlib.metadata
import os
import shutil
import subprocess
from dataclasses import dataclass

import typer

PACKAGES = ("torch", "transformers", "trl", "peft", "accelerate", "datasets", "bitsandbytes",
            "cohere", "argilla", "codecarbon", "huggingface_hub", "sacrebleu", "pillow")


@dataclass
class Check:
    name: str
    ok: bool
    detail: str


def _version(package: str) -> str | None:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return None


def _java() -> Check:
    java = shutil.which("java")
    if not java:
        return Check("java", False, "not found: install a JRE (apt-get install default-jre-headless) "
                     "for COCO-exact tokenization; the es/pt tokenizers need no Java")
    proc = subprocess.run([java, "-version"], capture_output=True, text=True, timeout=30)
    first = (proc.stderr or proc.stdout).strip().splitlines()
    return Check("java", proc.returncode == 0, first[0] if first else java)


def _torch() -> list[Check]:
    import torch

    checks = [Check("torch", True, f"{torch.__version__} (CUDA build: {torch.version.cuda or 'no'})")]
    if torch.cuda.is_available():
        for i in range(torch.cuda.device_count()):
            free, total = torch.cuda.mem_get_info(i)
            checks.append(Check(f"gpu{i}", True, f"{torch.cuda.get_device_name(i)}, "
                                f"{free / 2**30:.1f}/{total / 2**30:.1f} GiB free"))
        checks.append(Check("bf16", torch.cuda.is_bf16_supported(), "bf16 on GPU"))
    else:
        checks.append(Check("gpu", False, "no CUDA device: training runs on CPU (tiny models only)"))
    return checks


def _argilla() -> Check:
    url = os.environ.get("ARGILLA_API_URL")
    if not url:
        return Check("argilla", False, "ARGILLA_API_URL unset: review is auto-accepted; "
                     "`vlcultura review serve` starts a local server")
    import httpx

    try:
        response = httpx.get(url.rstrip("/") + "/api/v1/status", timeout=5)
        return Check("argilla", response.status_code < 500, f"{url} answered {response.status_code}")
    except httpx.HTTPError as exc:
        return Check("argilla", False, f"{url} unreachable ({type(exc).__name__})")


def run_checks() -> list[Check]:
    """All checks; each says what to do when it fails."""
    from vlcultura.config import secrets_from_env

    checks = [Check(p, (version := _version(p)) is not None, version or "not installed") for p in PACKAGES
              if p != "torch"]  # torch: _torch() below also reports the CUDA build and the GPUs
    checks += _torch()
    checks.append(_java())
    secrets = secrets_from_env()
    checks.append(Check("cohere key", secrets.cohere_api_key is not None,
                        "set" if secrets.cohere_api_key else "unset: the template backend is used"))
    checks.append(Check("hf token", secrets.hf_token is not None,
                        "set" if secrets.hf_token else "unset: `publish` needs HF_TOKEN"))
    checks.append(_argilla())
    usage = shutil.disk_usage(os.getcwd())
    checks.append(Check("disk", usage.free > 5 * 2**30, f"{usage.free / 2**30:.1f} GiB free here"))
    return checks


def doctor() -> None:
    """Report versions, accelerator, Java, keys (set or not, never values), Argilla and disk."""
    from rich.console import Console
    from rich.table import Table

    table = Table(title="vlcultura doctor")
    for column in ("check", "", "detail"):
        table.add_column(column)
    for check in run_checks():
        table.add_row(check.name, "[green]ok[/]" if check.ok else "[yellow]--[/]", check.detail)
    Console().print(table)


def register(app: typer.Typer) -> None:
    app.command("doctor")(doctor)
