"""Load what gets captioned: the base model, base + adapter, a merged copy, or any model folder.

Loading goes through the train stage (`vlcultura.train.models` presets and checks,
`vlcultura.train.merge.load_for_generation`), so a model evaluates exactly as it trained and a
wrong id or processor is the same clear error. Each system has a fingerprint that enters the
caption cache key: retraining an adapter invalidates its cached captions.
"""
from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any, Literal

from vlcultura.config import ModelConfig

Kind = Literal["base", "adapter", "merged", "model"]
_WEIGHT_SUFFIXES = (".safetensors", ".bin", ".json")


def fingerprint(source: str, revision: str | None = None) -> str:
    """Hub id (+ revision) as is; a local folder by its weight and config files' names, sizes, mtimes."""
    path = Path(source)
    if not path.is_dir():
        return f"{source}@{revision or 'default'}"
    digest = hashlib.sha256()
    for f in sorted(p for p in path.rglob("*") if p.is_file() and p.suffix in _WEIGHT_SUFFIXES):
        stat = f.stat()
        digest.update(f"{f.relative_to(path)}:{stat.st_size}:{stat.st_mtime_ns}".encode())
    return f"{path.resolve()}#{digest.hexdigest()[:16]}"


def _place(model: Any) -> Any:
    """On the GPU when there is one (4-bit models are placed at load time already)."""
    import torch

    if torch.cuda.is_available() and not getattr(model, "is_loaded_in_4bit", False):
        model = model.to("cuda")
    return model.eval()


def _model_cfg(kind: Kind, model_cfg: ModelConfig, source: str | None) -> ModelConfig:
    if kind == "base":
        return model_cfg
    if not source:
        raise ValueError(f"eval.tuned must name a model or `vlcultura train` output folder for tuned_kind={kind}")
    return model_cfg.model_copy(update={"name_or_path": source, "revision": None})


def system_id(kind: Kind, model_cfg: ModelConfig, source: str | None = None) -> str:
    """The fingerprint of a system, known before loading it (cached captions skip the load)."""
    if kind in ("adapter", "merged"):
        cfg = _model_cfg(kind, model_cfg, source)
        target = Path(cfg.name_or_path) / "merged" if kind == "merged" else Path(cfg.name_or_path)
        return f"{kind}:{fingerprint(str(target))}"
    cfg = _model_cfg(kind, model_cfg, source)
    return f"{kind}:{fingerprint(cfg.name_or_path, cfg.revision)}"


def load_system(kind: Kind, model_cfg: ModelConfig, source: str | None = None) -> tuple[Any, Any]:
    """(model, processor) of one system to caption with."""
    import torch

    from vlcultura.train.merge import load_for_generation
    from vlcultura.train.models import load_model, load_processor, resolve_dtype, resolve_preset

    cfg = _model_cfg(kind, model_cfg, source)
    if kind in ("adapter", "merged"):
        model, processor = load_for_generation(cfg.name_or_path, merged=kind == "merged")
        return _place(model), processor
    preset = resolve_preset(cfg)
    model, preset = load_model(cfg, preset, resolve_dtype(cfg, preset, use_cpu=not torch.cuda.is_available()))
    return _place(model), load_processor(cfg, preset)
