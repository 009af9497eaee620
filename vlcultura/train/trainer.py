"""The train stage: a recipe in, an adapter + processor + facts + Model Card out.

`train(config)` is what both `vlcultura train --config ...` and
`accelerate launch scripts/train.py --config ...` call. It checks everything it can before the
first step (`preflight`), builds the trainer in one place (`build_trainer`, where the fast KTO
path plugs in), tracks emissions offline, stops on a non-finite loss without touching the last
good checkpoint, and writes the output folder:

    adapter_model.safetensors, adapter_config.json, processor files   (the result)
    config.yaml        the resolved recipe (weights actually used included)
    train_facts.json   base model, preset, hyperparameters, hardware, wall time, throughput
    preflight.json     every check and what it found
    trainer_state.json, logs.jsonl, checkpoint-*/                      (resumable)
    emissions.csv, emissions.json                                      (CodeCarbon, offline)
    README.md          the Model Card
"""
from __future__ import annotations

import json
import logging
import os
import platform
import time
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from vlcultura.config import PipelineConfig, dump_config
from vlcultura.train import preflight
from vlcultura.train.data import load_training_dataset, recommended_weights, to_dpo_pairs
from vlcultura.train.models import (FamilyPreset, apply_image_settings, check_trainable, load_model,
                                    load_processor, lora_config, resolve_dtype, resolve_preset)

log = logging.getLogger(__name__)

FACTS_FILE = "train_facts.json"
PREFLIGHT_FILE = "preflight.json"


class TrainSetupError(ValueError):
    """The recipe cannot start training as written; the message says what to change."""


class NonFiniteLossError(RuntimeError):
    """Training produced a non-finite loss or weight; the message names the last good checkpoint."""


@dataclass
class TrainResult:
    output_dir: str
    global_step: int
    train_loss: float | None
    wall_time_s: float
    samples_per_second: float | None
    trainer_class: str
    fast_path_reasons: list[str] = field(default_factory=list)
    fast_step: str | None = None  # FastKTOTrainer: "cuda-graphs", "fixed-shape" (eager) or "eager"
    merged_dir: str | None = None
    world_size: int = 1
    steady_samples_per_second: float | None = None  # after warm-up steps, all processes
    peak_gpu_memory_gib: float | None = None  # main process


def effective_weights(config: PipelineConfig) -> tuple[float, float, str]:
    """Weights set in the recipe win; otherwise the export stage's `kto_weights.json`."""
    tc = config.train
    if {"desirable_weight", "undesirable_weight"} & tc.model_fields_set or not tc.dataset:
        return tc.desirable_weight, tc.undesirable_weight, "recipe"
    rec = recommended_weights(tc.dataset)
    if rec is None:
        return tc.desirable_weight, tc.undesirable_weight, "default"
    return rec["desirable_weight"], rec["undesirable_weight"], rec["file"]


def _checkpointing_field(cls: type) -> str:
    """transformers 5.2x renamed `gradient_checkpointing` to `activation_checkpointing` (the old
    name is a deprecated alias there, and the new one does not exist in earlier 5.x)."""
    names = {f.name for f in fields(cls)}
    return "activation_checkpointing" if "activation_checkpointing" in names else "gradient_checkpointing"


def build_training_args(config: PipelineConfig, dtype: Any, use_cpu: bool) -> Any:
    """KTOConfig or DPOConfig from the typed recipe; `train.extra_args` passes anything else."""
    import torch
    from trl import DPOConfig, KTOConfig

    tc = config.train
    args: dict[str, Any] = dict(
        output_dir=tc.output_dir, per_device_train_batch_size=tc.per_device_train_batch_size,
        gradient_accumulation_steps=tc.gradient_accumulation_steps, learning_rate=tc.learning_rate,
        num_train_epochs=tc.num_train_epochs, max_steps=tc.max_steps, logging_steps=tc.logging_steps,
        save_strategy="steps", save_steps=tc.save_steps, save_total_limit=tc.save_total_limit,
        seed=tc.seed, beta=tc.beta, max_length=tc.max_length, use_cpu=use_cpu,
        bf16=dtype == torch.bfloat16 and not use_cpu, fp16=dtype == torch.float16 and not use_cpu,
        report_to="none",
        remove_unused_columns=False, logging_nan_inf_filter=False)
    if tc.algorithm == "kto":
        d, u, _ = effective_weights(config)
        args.update(desirable_weight=d, undesirable_weight=u)
    reserved = {"output_dir"} & set(tc.extra_args)
    if reserved:
        raise TrainSetupError(f"train.extra_args may not set {sorted(reserved)}: use train.output_dir")
    args.update(tc.extra_args)
    cls = KTOConfig if tc.algorithm == "kto" else DPOConfig
    args[_checkpointing_field(cls)] = tc.gradient_checkpointing
    try:
        return cls(**args)
    except TypeError as exc:
        raise TrainSetupError(f"train.extra_args: {exc} (see {cls.__name__}'s fields)") from exc


def _kto_trainer_class(config: PipelineConfig, model: Any, args: Any, train_dataset: Any,
                       peft_config: Any) -> tuple[type, list[str]]:
    """FastKTOTrainer where it is exact, stock KTOTrainer otherwise (with the reasons)."""
    from trl import KTOTrainer

    if not config.train.fast_path:
        return KTOTrainer, ["train.fast_path is false"]
    try:
        from vlcultura.train.fast_kto import FastKTOTrainer, fast_path_blockers
    except ImportError as exc:
        return KTOTrainer, [f"fast path unavailable: {exc}"]
    blockers = fast_path_blockers(model, args, train_dataset, peft_config)
    if blockers:
        log.warning("KTO fast path off, using stock TRL KTOTrainer: %s", "; ".join(blockers))
        return KTOTrainer, blockers
    return FastKTOTrainer, []


def build_trainer(config: PipelineConfig, model: Any, processor: Any, train_dataset: Any,
                  args: Any, peft_config: Any, callbacks: list[Any] | None = None) -> Any:
    """The one place a trainer is constructed (KTO: fast or stock; DPO: stock TRL)."""
    if config.train.algorithm == "dpo":
        from trl import DPOTrainer

        cls, reasons = DPOTrainer, ["algorithm is dpo"]
    else:
        cls, reasons = _kto_trainer_class(config, model, args, train_dataset, peft_config)
    trainer = cls(model=model, args=args, train_dataset=train_dataset, processing_class=processor,
                  peft_config=peft_config, callbacks=callbacks)
    trainer.vlcultura_fast_path_reasons = list(getattr(trainer, "fast_path_reasons", reasons) or [])
    return trainer


def _fast_step(trainer: Any) -> str | None:
    """How FastKTOTrainer ran its steps (None for the stock trainers)."""
    if not getattr(trainer, "fast_path", False):
        return None
    if trainer.fast_cuda_graphs:
        return "cuda-graphs"
    return "fixed-shape" if trainer.fast_static_step else "eager"


def _checkpoint_to_resume(output_dir: Path, resume: bool) -> str | None:
    from transformers.trainer_utils import get_last_checkpoint

    last = get_last_checkpoint(str(output_dir)) if output_dir.is_dir() else None
    if resume and last is None:
        raise TrainSetupError(f"--resume but {output_dir} holds no checkpoint-* folder: nothing to "
                              "resume. Run without --resume to start fresh.")
    if not resume and last is not None:
        raise TrainSetupError(f"{output_dir} already holds {Path(last).name}: pass --resume to "
                              "continue that run, or choose another train.output_dir.")
    return last


def _device_map(quantized: bool, args: Any) -> Any:
    """4-bit weights must be placed at load time: each process on its own GPU."""
    if not quantized or args.use_cpu:
        return None
    return {"": args.local_process_index}


def _cpu_name() -> str:
    """The CPU model ('x86_64' says little on a card); /proc/cpuinfo where there is one."""
    try:
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8").splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _hardware(use_cpu: bool) -> dict[str, Any]:
    import torch

    hw: dict[str, Any] = {"cpu": _cpu_name(), "cpu_count": os.cpu_count(), "torch": torch.__version__}
    if torch.cuda.is_available() and not use_cpu:
        hw.update(gpu=torch.cuda.get_device_name(0), gpu_count=torch.cuda.device_count(),
                  gpu_memory_gib=round(torch.cuda.get_device_properties(0).total_memory / 2**30, 1))
    return hw


def _prepare_data(config: PipelineConfig) -> tuple[Any, Any]:
    """The training split (DPO: paired) and the raw (unpaired) split."""
    tc = config.train
    if not tc.dataset:
        raise TrainSetupError("train.dataset is not set: give the path of `vlcultura export`'s "
                              "output (its `kto/` folder) or a Hub dataset id.")
    splits = load_training_dataset(tc.dataset)
    if "train" not in splits:
        raise TrainSetupError(f"dataset {tc.dataset!r} has no 'train' split (has {list(splits)})")
    raw = splits["train"]
    if tc.algorithm == "kto":
        return raw, raw
    found = preflight.check_schema(raw, "kto")
    preflight.raise_on_errors(found)
    return to_dpo_pairs(raw), raw


def run_preflight(config: PipelineConfig, preset: FamilyPreset | None, processor: Any,
                  train_ds: Any, raw_ds: Any, args: Any, use_cpu: bool) -> tuple[list[preflight.Finding], int]:
    """All checks that need no model; returns the findings and the longest sequence."""
    import torch

    tc = config.train
    algo = tc.algorithm
    findings = preflight.check_schema(train_ds, algo)
    findings += preflight.check_dtype(config.model, preset, use_cpu)
    findings += preflight.check_launch(torch.cuda.device_count(), args.world_size, use_cpu)
    if algo == "kto":
        findings += preflight.check_kto_batching(args, len(train_ds), args.world_size)
        findings += preflight.check_weight_balance(list(raw_ds["label"]), args.desirable_weight,
                                                   args.undesirable_weight)
    if any(f.level == "error" for f in findings):
        return preflight.raise_on_errors(findings), 0
    answers = ("completion",) if algo == "kto" else ("chosen", "rejected")
    findings += preflight.check_template_boundary(train_ds, processor, answers[0])
    sample = train_ds if tc.preflight_rows is None else train_ds.select(range(min(tc.preflight_rows, len(train_ds))))
    lengths = preflight.measure_lengths(sample, processor, answers)
    findings += preflight.check_token_budget(lengths, tc.max_length)
    preflight.raise_on_errors(findings)
    longest = max(t for _, t in lengths) if lengths else 0
    return findings, min(longest, tc.max_length or longest)


def train(config: PipelineConfig, resume: bool = False, callbacks: list[Any] | None = None,
          recipe: str | None = None) -> TrainResult:
    """Run the train stage of `config` (KTO or DPO, LoRA or QLoRA); see the module docstring."""
    import torch

    from vlcultura.train.emissions import EmissionsCallback

    tc = config.train
    out = Path(tc.output_dir)
    last_checkpoint = _checkpoint_to_resume(out, resume)
    use_cpu = tc.use_cpu or not torch.cuda.is_available()
    preset = resolve_preset(config.model)
    preflight.raise_on_errors([f for f in preflight.check_dtype(config.model, preset, use_cpu)
                               if f.level == "error"])
    dtype = resolve_dtype(config.model, preset, use_cpu)
    processor = load_processor(config.model, preset)
    train_ds, raw_ds = _prepare_data(config)
    args = build_training_args(config, dtype, use_cpu)
    findings, seq_len = run_preflight(config, preset, processor, train_ds, raw_ds, args, use_cpu)

    model, preset = load_model(config.model, preset, dtype,
                               _device_map(config.model.quantization == "4bit", args))
    image_settings = apply_image_settings(processor, config.model, preset)
    peft_config = lora_config(tc.lora, preset)
    from vlcultura.train.callbacks import JsonlLogCallback, NonFiniteGuard, ThroughputCallback

    guard = NonFiniteGuard()
    speed = ThroughputCallback()
    cbs = [guard, JsonlLogCallback(out), speed]
    if config.emissions.enabled:
        cbs.append(EmissionsCallback(config.emissions, out))
    trainer = build_trainer(config, model, processor, train_ds, args, peft_config, cbs + list(callbacks or []))
    check_trainable(trainer.model, preset)
    needed = preflight.estimate_training_bytes(trainer.model, args.per_device_train_batch_size,
                                               seq_len, tc.gradient_checkpointing)
    findings += preflight.raise_on_errors(preflight.check_memory(needed, preflight.free_gpu_bytes()))

    start = time.perf_counter()
    output = trainer.train(resume_from_checkpoint=last_checkpoint)
    wall = time.perf_counter() - start
    if guard.bad_step is not None:
        from transformers.trainer_utils import get_last_checkpoint

        good = get_last_checkpoint(str(out)) if out.is_dir() else None
        raise NonFiniteLossError(
            f"training stopped at step {guard.bad_step}: {guard.reason}. Nothing was saved after "
            f"it; last good checkpoint: {good or 'none (no checkpoint was saved before)'}. Lower "
            "train.learning_rate, use bf16 rather than fp16, check the data, then run again "
            "with --resume to continue from that checkpoint.")
    result = TrainResult(output_dir=str(out), global_step=trainer.state.global_step,
                         train_loss=output.metrics.get("train_loss"), wall_time_s=round(wall, 2),
                         samples_per_second=output.metrics.get("train_samples_per_second"),
                         trainer_class=type(trainer).__name__,
                         fast_path_reasons=trainer.vlcultura_fast_path_reasons,
                         fast_step=_fast_step(trainer),
                         world_size=args.world_size,
                         steady_samples_per_second=speed.samples_per_second(),
                         peak_gpu_memory_gib=speed.peak_memory_gib())
    trainer.save_model(str(out))
    if trainer.is_world_process_zero():
        trainer.save_state()
        weights = effective_weights(config)  # read once for both files
        _write_resolved_config(config, out, weights)  # the merge reads the base model from it
        if tc.merge_adapter:
            from vlcultura.train.merge import merge_and_save

            result.merged_dir = str(merge_and_save(out))
        _write_outputs(config, out, preset, dtype, image_settings, findings, result, raw_ds, use_cpu,
                       recipe, weights)
        from vlcultura.cards.model_card import write_model_card

        write_model_card(out, recipe=recipe)
    return result


def _write_resolved_config(config: PipelineConfig, out: Path, weights: tuple[float, float, str]) -> None:
    """The recipe as it ran, with the class weights actually used."""
    d, u, _ = weights
    resolved = config.model_copy(deep=True)
    resolved.train.desirable_weight, resolved.train.undesirable_weight = d, u
    dump_config(resolved, out / "config.yaml")


def _write_outputs(config: PipelineConfig, out: Path, preset: FamilyPreset, dtype: Any,
                   image_settings: dict[str, Any], findings: list[preflight.Finding],
                   result: TrainResult, raw_ds: Any, use_cpu: bool, recipe: str | None,
                   weights: tuple[float, float, str]) -> None:
    """The preflight report and the facts the Model Card is built from."""
    d, u, weights_source = weights
    (out / PREFLIGHT_FILE).write_text(json.dumps([asdict(f) for f in findings], indent=2), encoding="utf-8")
    labels = list(raw_ds["label"]) if "label" in raw_ds.column_names else []
    varieties = sorted({v for v in raw_ds["variety"] if v}) if "variety" in raw_ds.column_names else []
    tc = config.train
    facts = {
        "base_model": config.model.name_or_path, "family": preset.family,
        "license": tc.license or preset.license, "dtype": str(dtype).removeprefix("torch."),
        "quantization": config.model.quantization, "attn_implementation":
            config.model.attn_implementation or preset.attn_implementation,
        "image_settings": image_settings, "lora": {**tc.lora.model_dump(),
                                                   "target_modules": tc.lora.target_modules or preset.lora_target_regex()},
        "algorithm": tc.algorithm, "dataset": tc.dataset, "dataset_repo": config.publish.dataset_repo,
        "model_repo": config.publish.model_repo,
        "train_rows": len(raw_ds), "desirable_rows": sum(labels), "undesirable_rows": len(labels) - sum(labels),
        "languages": varieties,
        "hyperparameters": {"learning_rate": tc.learning_rate, "beta": tc.beta, "epochs": tc.num_train_epochs,
                            "max_steps": tc.max_steps, "per_device_train_batch_size": tc.per_device_train_batch_size,
                            "gradient_accumulation_steps": tc.gradient_accumulation_steps,
                            "max_length": tc.max_length, "desirable_weight": d, "undesirable_weight": u,
                            "weights_source": weights_source, "seed": tc.seed,
                            "gradient_checkpointing": tc.gradient_checkpointing},
        "hardware": _hardware(use_cpu), "result": asdict(result), "recipe": recipe,
    }
    (out / FACTS_FILE).write_text(json.dumps(facts, indent=2, default=str), encoding="utf-8")


def parse_overrides(items: list[str]) -> dict[str, Any]:
    """`train.max_steps=10` -> {"train.max_steps": 10} (values parsed as YAML)."""
    import yaml

    out: dict[str, Any] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise TrainSetupError(f"--set {item!r}: expected KEY=VALUE, e.g. train.max_steps=10")
        out[key.strip()] = yaml.safe_load(value)
    return out


def train_recipe(path: str, resume: bool = False, overrides: dict[str, Any] | None = None) -> TrainResult:
    """Load a recipe and train: what the CLI and scripts/train.py both call."""
    from vlcultura.config import load_config

    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    return train(load_config(path, overrides), resume=resume, recipe=path)


def _train_errors() -> tuple[type[Exception], ...]:
    from pydantic import ValidationError

    from vlcultura.train.data import DatasetLoadError
    from vlcultura.train.models import ModelLoadError

    return (TrainSetupError, ModelLoadError, DatasetLoadError, preflight.PreflightError,
            NonFiniteLossError, ValidationError, FileNotFoundError)


TRAIN_ERRORS = _train_errors()
