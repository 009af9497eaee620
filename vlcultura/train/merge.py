"""Merge the adapter into the base model, and load a training output back for generation.

The base model comes from the resolved `config.yaml` the train stage wrote, so a result folder is
self-describing. Merging always uses an unquantized base: a LoRA trained on a 4-bit base merges
into the full-precision weights (merging into NF4 would round the update away).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from vlcultura.config import PipelineConfig, load_config
from vlcultura.train.models import build_user_message, load_model, load_processor, resolve_dtype, resolve_preset

MERGED_DIR = "merged"


def _resolved(output_dir: str | Path) -> PipelineConfig:
    path = Path(output_dir) / "config.yaml"
    if not path.is_file():
        raise FileNotFoundError(f"{output_dir} has no config.yaml: it is not a `vlcultura train` output")
    return load_config(path)


def _base(config: PipelineConfig) -> tuple[Any, Any]:
    """The unquantized base model in the training dtype, and its processor as trained."""
    import torch

    model_cfg = config.model.model_copy(update={"quantization": "none"})
    preset = resolve_preset(model_cfg)
    use_cpu = config.train.use_cpu or not torch.cuda.is_available()
    model, preset = load_model(model_cfg, preset, resolve_dtype(model_cfg, preset, use_cpu))
    return model, preset


def load_for_generation(output_dir: str | Path, merged: bool = False) -> tuple[Any, Any]:
    """(model, processor) of a training output: base + adapter, or the merged copy."""
    import torch
    from peft import PeftModel

    out = Path(output_dir)
    config = _resolved(out)
    source = out / MERGED_DIR if merged else out
    processor_cfg = config.model.model_copy(update={"name_or_path": str(source), "revision": None})
    preset = resolve_preset(config.model)
    processor = load_processor(processor_cfg, preset)
    if merged:
        model_cfg = processor_cfg.model_copy(update={"quantization": "none"})
        use_cpu = config.train.use_cpu or not torch.cuda.is_available()
        model, _ = load_model(model_cfg, preset, resolve_dtype(model_cfg, preset, use_cpu))
    else:
        base, _ = _base(config)
        model = PeftModel.from_pretrained(base, str(out))
    return model.eval(), processor


def merge_and_save(output_dir: str | Path) -> Path:
    """Fold the adapter into the base weights; writes `<output_dir>/merged/` with the processor."""
    from peft import PeftModel

    out = Path(output_dir)
    config = _resolved(out)
    base, preset = _base(config)
    merged = PeftModel.from_pretrained(base, str(out)).merge_and_unload()
    target = out / MERGED_DIR
    merged.save_pretrained(target)
    processor_cfg = config.model.model_copy(update={"name_or_path": str(out), "revision": None})
    load_processor(processor_cfg, preset).save_pretrained(target)
    return target


def generate(model: Any, processor: Any, images: list[Any], prompt: str, max_new_tokens: int = 64) -> list[str]:
    """Greedy captions, one per image, with the family's chat format."""
    import torch

    text = processor.apply_chat_template(build_user_message(prompt), add_generation_prompt=True)
    inputs = processor(text=[text] * len(images), images=[[im] for im in images], return_tensors="pt",
                       padding=True, padding_side="left").to(model.device)
    with torch.no_grad():
        ids = model.generate(**inputs, max_new_tokens=max_new_tokens, do_sample=False)
    return processor.batch_decode(ids[:, inputs["input_ids"].shape[1]:], skip_special_tokens=True)
