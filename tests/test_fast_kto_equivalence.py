"""The fast KTO path computes stock TRL's function: same loss, rewards, KL and weights (CPU, fp32)."""
from __future__ import annotations

import pytest
import torch
from trl import KTOTrainer

from fast_kto_helpers import make_trainer
from vlcultura.train.fast_kto import FastKTOTrainer

FAMILIES = ("smolvlm", "gemma3", "qwen2_5_vl")
COMPARED = ("loss", "kl", "rewards/chosen", "rewards/rejected", "logps/chosen", "logps/rejected")


def _train(cls, family: str, out_dir, **overrides):
    trainer = make_trainer(cls, family, out_dir, **overrides)
    trainer.train()
    logged = [h for h in trainer.state.log_history if "loss" in h and "train_runtime" not in h]
    lora = {n: p.detach().clone() for n, p in trainer.model.named_parameters() if "lora_" in n}
    return trainer, logged, lora


def _rel(a: float, b: float) -> float:
    return abs(a - b) / max(abs(a), abs(b), 1e-12)


@pytest.mark.parametrize("family", FAMILIES)
def test_same_losses_rewards_kl_and_weights_as_stock(family, tmp_path):
    # 3 steps over 2 batches of 4: the third step is epoch 2, served from the cache
    _, stock_log, stock_lora = _train(KTOTrainer, family, tmp_path / "stock")
    fast, fast_log, fast_lora = _train(FastKTOTrainer, family, tmp_path / "fast")
    assert fast.fast_path, fast.fast_path_reasons
    assert len(stock_log) == len(fast_log) == 3
    assert any(step["kl"] > 0 for step in stock_log), "fixture must give a KL above the clamp"
    for step_stock, step_fast in zip(stock_log, fast_log):
        for key in COMPARED:
            assert step_stock[key] != 0.0 or key == "kl"
            assert _rel(step_stock[key], step_fast[key]) <= 1e-5, (key, step_stock[key], step_fast[key])
    for name, weight in stock_lora.items():  # same updates: training followed the same function
        torch.testing.assert_close(fast_lora[name], weight, rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("family", FAMILIES)
def test_bf16_autocast_is_bit_identical_to_stock(family, tmp_path):
    # bf16 weights, float32 adapters, bf16 autocast (CPU): the GPU benchmark's precision setting,
    # where the fast path also skips PEFT's exact float32 round trip of each LoRA input
    _, stock_log, _ = _train(KTOTrainer, family, tmp_path / "stock", dtype=torch.bfloat16, bf16=True)
    fast, fast_log, _ = _train(FastKTOTrainer, family, tmp_path / "fast", dtype=torch.bfloat16, bf16=True)
    assert fast.accelerator.mixed_precision == "bf16" and fast._lora_layers
    assert all(layer.cast_input_dtype_enabled for layer in fast._lora_layers)  # restored after each step
    for step_stock, step_fast in zip(stock_log, fast_log, strict=True):
        assert {k: step_stock[k] for k in COMPARED} == {k: step_fast[k] for k in COMPARED}


def test_apo_zero_unpaired_without_kl_sequences(tmp_path):
    _, stock_log, _ = _train(KTOTrainer, "smolvlm", tmp_path / "stock", loss_type="apo_zero_unpaired")
    fast, fast_log, _ = _train(FastKTOTrainer, "smolvlm", tmp_path / "fast", loss_type="apo_zero_unpaired")
    assert fast.fast_path
    assert all("ref_KL_logps" not in b for b in fast._fast_batches.batches)
    for step_stock, step_fast in zip(stock_log, fast_log):
        assert _rel(step_stock["loss"], step_fast["loss"]) <= 1e-5
