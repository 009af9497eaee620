"""Every shipped recipe and accelerate config parses and builds real trainer arguments."""
from __future__ import annotations

from pathlib import Path

import pytest

from vlcultura.config import load_config
from vlcultura.train.models import PRESETS
from vlcultura.train.trainer import build_training_args

CONFIGS = Path(__file__).resolve().parents[1] / "configs"
RECIPES = sorted(CONFIGS.glob("*.yaml"))
ACCELERATE = sorted((CONFIGS / "accelerate").glob("*.yaml"))


@pytest.mark.parametrize("path", RECIPES, ids=lambda p: p.name)
def test_recipe_builds_trainer_arguments(path):
    import torch

    config = load_config(path)
    args = build_training_args(config, torch.bfloat16, use_cpu=True)
    assert args.per_device_train_batch_size > 1 or config.train.algorithm == "dpo"
    if config.model.family not in ("auto", "generic"):
        preset = PRESETS[config.model.family]
        assert config.model.dtype not in preset.forbidden_dtypes


def test_required_recipes_exist():
    names = {p.stem for p in RECIPES}
    for size in ("256m", "500m", "2.2b"):
        assert {f"smolvlm-{size}-lora", f"smolvlm-{size}-qlora"} <= names
    assert {"gemma3-4b-qlora", "qwen2.5-vl-3b-lora", "smolvlm-256m-dpo"} <= names
    assert load_config(CONFIGS / "gemma3-4b-qlora.yaml").model.quantization == "4bit"


@pytest.mark.parametrize("path", ACCELERATE, ids=lambda p: p.name)
def test_accelerate_config_parses(path):
    from accelerate.commands.config.config_args import load_config_from_file

    cfg = load_config_from_file(str(path))
    assert cfg.num_processes >= 1 and cfg.distributed_type


def test_accelerate_configs_cover_the_layouts():
    assert {p.stem for p in ACCELERATE} >= {"single_gpu", "ddp", "fsdp", "deepspeed_zero2",
                                            "deepspeed_zero3", "cpu_2proc"}
