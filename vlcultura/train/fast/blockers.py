"""When the fast KTO path would not compute stock TRL's function, and why.

The fast path precomputes three things that stock TRL recomputes every step: the collated
batches (exact because KTO's sampler is sequential, so every epoch sees the same batches), the
vision tower + connector output (exact only while nothing in them trains), and the reference
log-probabilities (exact only while the reference is fixed: the base model with adapters
disabled, no dropout). Each function returns human-readable reasons; empty means exact.
"""
from __future__ import annotations

from typing import Any

from torch import nn

from .image_features import image_entry

_SHOWN = 3  # module names quoted in a reason


def _vision_prefixes(model: nn.Module) -> list[str]:
    """Qualified names of the inner model's children that are not the language model.

    The language model is the child holding the input embeddings (`text_model` in Idefics3,
    `language_model` in Gemma 3 and Qwen2.5-VL); the others (vision tower, connector or
    projector) are what `get_image_features` runs.
    """
    entry = image_entry(model)
    if entry is None:
        return []
    embeddings = model.get_input_embeddings()
    prefix = {id(m): name for name, m in model.named_modules()}[id(entry)]
    out = []
    for name, child in entry.named_children():
        if not any(m is embeddings for m in child.modules()):
            out.append(f"{prefix}.{name}" if prefix else name)
    return out


def _under(name: str, prefixes: list[str]) -> bool:
    return any(name == p or name.startswith(p + ".") for p in prefixes)


def trainable_outside_language_model(model: nn.Module) -> list[str]:
    """Reasons if any trainable parameter sits in the vision tower or connector (wrapped model)."""
    if image_entry(model) is None:
        return [f"{type(model).__name__} has no `get_image_features` to cache"]
    prefixes = _vision_prefixes(model)
    names = [n for n, p in model.named_parameters() if p.requires_grad and _under(n, prefixes)]
    if not names:
        return []
    return [f"{len(names)} trainable parameters sit in the vision tower/connector (e.g. "
            f"{', '.join(names[:_SHOWN])}): their output cannot be cached. Anchor the LoRA "
            "target_modules regex on the language model"]


def _lora_targets_outside_language_model(model: nn.Module, peft_config: Any) -> list[str]:
    """Reasons if `peft_config` would adapt (or fully train) a vision-tower/connector module."""
    from peft.tuners.tuners_utils import check_target_module_exists

    if getattr(peft_config, "target_modules", None) == "all-linear":
        return ["LoRA target_modules='all-linear' also adapts the vision tower: its output cannot "
                "be cached. Anchor target_modules on the language model"]
    prefixes = _vision_prefixes(model)
    hits = []
    for name, _ in model.named_modules():
        if name and _under(name, prefixes):
            found = getattr(peft_config, "target_modules", None) and check_target_module_exists(peft_config, name)
            saved = any(name.endswith(m) for m in (getattr(peft_config, "modules_to_save", None) or []))
            if (found and type(found).__name__ != "_ExcludedModule") or saved:
                hits.append(name)
    if not hits:
        return []
    return [f"the PEFT config adapts {len(hits)} vision-tower/connector modules (e.g. "
            f"{', '.join(hits[:_SHOWN])}): their output cannot be cached. Anchor the LoRA "
            "target_modules regex on the language model"]


def fast_path_blockers(model: Any, args: Any, train_dataset: Any, peft_config: Any) -> list[str]:
    """Why the fast path would not be exact here; an empty list means it is exact and usable.

    `model` may be a model id (then the module placement is checked after loading, inside
    `FastKTOTrainer`), a `PreTrainedModel` or a `PeftModel`.
    """
    from datasets import Dataset
    from peft import PeftModel

    reasons: list[str] = []
    if not isinstance(train_dataset, Dataset):
        reasons.append(f"train_dataset is a {type(train_dataset).__name__}, not a map-style "
                       "datasets.Dataset: batches cannot be precomputed")
    elif not {"image", "images"} & set(train_dataset.column_names):
        reasons.append("text-only dataset (no image/images column): stock TRL already tokenizes "
                       "it once; the fast path is for vision data")
    if getattr(args, "train_sampling_strategy", "sequential") != "sequential":
        reasons.append(f"train_sampling_strategy={args.train_sampling_strategy!r}: batches change "
                       "between epochs, so they cannot be precomputed")
    if getattr(args, "world_size", 1) > 1 or getattr(args, "deepspeed", None) or getattr(args, "fsdp", None):
        reasons.append("distributed training (several processes, DeepSpeed or FSDP): precomputed "
                       "batches are not sharded across processes yet")
    if not getattr(args, "disable_dropout", True):
        reasons.append("disable_dropout=False: a stochastic reference cannot be precomputed")
    if getattr(args, "sync_ref_model", False):
        reasons.append("sync_ref_model=True: the reference changes during training")
    is_peft = isinstance(model, PeftModel)
    if peft_config is None and not is_peft:
        reasons.append("full fine-tuning (no PEFT adapter): the reference would be a second model "
                       "copy; the fast path needs LoRA (reference = base with adapters disabled)")
    config = peft_config or (model.peft_config.get("default") if is_peft else None)
    if config is not None and getattr(config, "is_prompt_learning", False):
        reasons.append(f"{type(config).__name__} is a prompt-learning adapter: not supported by the fast path")
    if isinstance(model, nn.Module):
        if is_peft:
            reasons += trainable_outside_language_model(model)
        elif image_entry(model) is None:
            reasons.append(f"{type(model).__name__} has no `get_image_features` to cache")
        elif peft_config is not None:
            reasons += _lora_targets_outside_language_model(model, peft_config)
    return reasons
