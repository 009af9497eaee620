"""The two entry points: `accelerate launch scripts/train.py` (two CPU processes over gloo, the
real script) and `vlcultura train` / `vlcultura model-card`."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from train_helpers import save_kto_dataset, tiny_recipe
from vlcultura.cli import app
from vlcultura.config import dump_config
from vlcultura.testing import build_tiny_vlm

ROOT = Path(__file__).resolve().parents[1]


def _recipe(tmp_path, **train):
    model = build_tiny_vlm("smolvlm", tmp_path / "model")
    data = save_kto_dataset(tmp_path, rows=train.pop("rows", None))
    path = tmp_path / "recipe.yaml"
    dump_config(tiny_recipe(model, data, tmp_path / "out", **train), path)
    return path


def test_accelerate_launch_two_cpu_processes(tmp_path):
    accelerate = shutil.which("accelerate", path=str(Path(sys.executable).parent))
    assert accelerate, "accelerate's launcher is installed with the package"
    recipe = _recipe(tmp_path, max_steps=2, save_steps=2)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(
        [accelerate, "launch", "--config_file", str(ROOT / "configs/accelerate/cpu_2proc.yaml"),
         "--main_process_port", "0", str(ROOT / "scripts/train.py"), "--config", str(recipe)],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=240)
    assert proc.returncode == 0, proc.stderr[-3000:]
    facts = json.loads((tmp_path / "out" / "train_facts.json").read_text())
    assert facts["result"]["world_size"] == 2 and facts["result"]["global_step"] == 2
    state = json.loads((tmp_path / "out" / "trainer_state.json").read_text())
    assert state["log_history"][0]["epoch"] == 0.5  # 8 rows, 2 per process per step
    assert (tmp_path / "out" / "adapter_model.safetensors").is_file()


def test_cli_train_reports_preflight_errors(tmp_path):
    recipe = _recipe(tmp_path, per_device_train_batch_size=1)
    result = CliRunner().invoke(app, ["train", "--config", str(recipe)])
    assert result.exit_code == 2
    assert "per_device_train_batch_size must be > 1" in result.output


def test_cli_set_overrides_and_bad_override(tmp_path):
    recipe = _recipe(tmp_path, per_device_train_batch_size=1)
    result = CliRunner().invoke(app, ["train", "--config", str(recipe), "--set", "train.max_steps"])
    assert result.exit_code == 2 and "KEY=VALUE" in result.output
    result = CliRunner().invoke(app, ["train", "--config", str(recipe), "--set",
                                      "train.per_device_train_batch_size=2", "--set", "train.max_steps=1"])
    assert result.exit_code == 0, result.output
    assert "trained 1 steps" in result.output


def test_cli_missing_dataset_is_a_clear_error(tmp_path):
    recipe = _recipe(tmp_path)
    result = CliRunner().invoke(app, ["train", "--config", str(recipe), "--set", f"train.dataset={tmp_path / 'nope'}"])
    assert result.exit_code == 2 and "cannot load dataset" in result.output


def test_unknown_or_reserved_extra_args_are_errors(tmp_path):
    import torch

    from vlcultura.train.trainer import TrainSetupError, build_training_args

    with pytest.raises(TrainSetupError, match="warmup_ratio"):
        build_training_args(tiny_recipe(tmp_path, tmp_path, tmp_path / "o", extra_args={"warmup_ratio": 0.1}),
                            torch.float32, use_cpu=True)
    with pytest.raises(TrainSetupError, match="train.output_dir"):
        build_training_args(tiny_recipe(tmp_path, tmp_path, tmp_path / "o", extra_args={"output_dir": "x"}),
                            torch.float32, use_cpu=True)
