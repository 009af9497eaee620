"""A fast-path run resumed mid-epoch from a checkpoint logs what an unbroken run logs."""
from __future__ import annotations

from peft import LoraConfig

import fast_kto_helpers
from fast_kto_helpers import make_trainer
from vlcultura.train.fast_kto import FastKTOTrainer


def _losses(trainer) -> list[float]:
    return [h["loss"] for h in trainer.state.log_history if "loss" in h and "train_runtime" not in h]


def test_resume_mid_epoch_matches_unbroken_run(tmp_path, monkeypatch):
    anchored = fast_kto_helpers.lora_config("smolvlm").target_modules
    # task_type as the training stage sets it (PeftModelForCausalLM wrapper)
    monkeypatch.setattr(fast_kto_helpers, "lora_config", lambda family, vision_too=False: LoraConfig(
        r=4, lora_alpha=8, target_modules=anchored, task_type="CAUSAL_LM"))
    unbroken = make_trainer(FastKTOTrainer, "smolvlm", tmp_path / "unbroken", steps=4)
    unbroken.train()
    first = make_trainer(FastKTOTrainer, "smolvlm", tmp_path / "run", steps=4, save_strategy="steps", save_steps=1)
    first.train()
    resumed = make_trainer(FastKTOTrainer, "smolvlm", tmp_path / "run", steps=4, save_strategy="steps", save_steps=1)
    resumed.train(resume_from_checkpoint=str(tmp_path / "run" / "checkpoint-1"))  # 1 of 2 batches done
    assert resumed.fast_path and len(_losses(unbroken)) == 4
    assert _losses(resumed) == _losses(unbroken)
