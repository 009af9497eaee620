"""The fast KTO path computes stock TRL's function: same loss, rewards, KL and gradients (CPU, fp32).

SmolVLM runs the fixed-shape step (what the GPU captures as CUDA graphs): other kernel shapes than
stock, so float32 rounding differs at ~1e-8 of the log-prob sums. Gemma 3 and Qwen2.5-VL run the
eager fast path, which is bit-identical to stock in bf16 too.
"""
from __future__ import annotations

import pytest
import torch
from trl import KTOTrainer

from fast_kto_helpers import logged_step, make_trainer
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


def _step(trainer, batch) -> tuple[dict[str, float], dict[str, torch.Tensor]]:
    """Loss, logged metrics and LoRA gradients of one batch on the trainer's current weights."""
    logged, loss = logged_step(trainer, batch)
    loss.backward()
    grads = {n: p.grad.clone() for n, p in trainer.model.named_parameters() if p.grad is not None}
    trainer.model.zero_grad()
    return logged, grads


@pytest.mark.parametrize("family", FAMILIES)
def test_same_loss_rewards_kl_and_gradients_on_the_same_weights_and_batch(family, tmp_path):
    # LoRA seed 7 moves the policy far enough from the reference for KL above the clamp
    stock = make_trainer(KTOTrainer, family, tmp_path / "stock", lora_seed=7, lora_scale=1.0)
    fast = make_trainer(FastKTOTrainer, family, tmp_path / "fast", lora_seed=7, lora_scale=1.0)
    assert fast.fast_path, fast.fast_path_reasons
    assert fast.fast_static_step == (family == "smolvlm"), fast.fast_static_reasons
    pairs = list(zip(stock.get_train_dataloader(), fast.get_train_dataloader(), strict=True))
    assert len(pairs) == 2
    kls = []
    for stock_batch, fast_batch in pairs:
        (stock_logged, stock_grads), (fast_logged, fast_grads) = _step(stock, stock_batch), _step(fast, fast_batch)
        kls.append(stock_logged["kl"])
        for key in COMPARED:
            assert _rel(stock_logged[key], fast_logged[key]) <= 1e-5, (key, stock_logged[key], fast_logged[key])
        scale = max(g.abs().max().item() for g in stock_grads.values())
        for name, grad in stock_grads.items():
            torch.testing.assert_close(fast_grads[name], grad, rtol=1e-5, atol=1e-5 * scale)
    assert all(kl > 0.3 for kl in kls[1:]), f"fixture must give a KL well above the clamp: {kls}"


@pytest.mark.parametrize("family", FAMILIES)
def test_training_follows_stock(family, tmp_path):
    # 3 SGD steps over 2 batches of 4: the third step is epoch 2, served from the cache. (Adam would
    # turn rounding-level gradient differences of near-zero entries into whole-step updates.)
    _, stock_log, stock_lora = _train(KTOTrainer, family, tmp_path / "stock", optim="sgd")
    fast, fast_log, fast_lora = _train(FastKTOTrainer, family, tmp_path / "fast", optim="sgd")
    assert len(stock_log) == len(fast_log) == 3
    for step_stock, step_fast in zip(stock_log, fast_log):
        # rewards and KL are differences of log-prob sums: their rounding scales with those sums
        resolution = 1e-6 * max(abs(step_stock["logps/chosen"]), abs(step_stock["logps/rejected"]))
        for key in COMPARED:
            assert abs(step_stock[key] - step_fast[key]) <= max(1e-5 * abs(step_stock[key]), resolution), key
    for name, weight in stock_lora.items():
        torch.testing.assert_close(fast_lora[name], weight, rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("family", ["gemma3", "qwen2_5_vl"])
def test_eager_fast_path_is_bit_identical_to_stock_in_bf16(family, tmp_path):
    # bf16 weights, float32 adapters, bf16 autocast (CPU): the GPU benchmark's precision setting,
    # where the fast path also skips PEFT's exact float32 round trip of each LoRA input
    _, stock_log, _ = _train(KTOTrainer, family, tmp_path / "stock", dtype=torch.bfloat16, bf16=True)
    fast, fast_log, _ = _train(FastKTOTrainer, family, tmp_path / "fast", dtype=torch.bfloat16, bf16=True)
    assert fast.accelerator.mixed_precision == "bf16" and fast._lora_layers
    assert all(layer.cast_input_dtype_enabled for layer in fast._lora_layers)  # restored after each step
    for step_stock, step_fast in zip(stock_log, fast_log, strict=True):
        assert {k: step_stock[k] for k in COMPARED} == {k: step_fast[k] for k in COMPARED}


def test_fixed_shape_step_in_bf16_is_within_1e_2_of_stock(tmp_path):
    # The GPU benchmark's precision on CPU; same weights and batch, the bf16 tolerance
    stock = make_trainer(KTOTrainer, "smolvlm", tmp_path / "stock", dtype=torch.bfloat16, bf16=True,
                         lora_seed=7, lora_scale=1.0)
    fast = make_trainer(FastKTOTrainer, "smolvlm", tmp_path / "fast", dtype=torch.bfloat16, bf16=True,
                        lora_seed=7, lora_scale=1.0)
    assert fast.fast_static_step
    for stock_batch, fast_batch in zip(stock.get_train_dataloader(), fast.get_train_dataloader(), strict=True):
        with torch.no_grad(), stock.accelerator.autocast():
            (stock_logged, _), (fast_logged, _) = logged_step(stock, stock_batch), logged_step(fast, fast_batch)
        for key in COMPARED:
            assert _rel(stock_logged[key], fast_logged[key]) <= 1e-2, (key, stock_logged[key], fast_logged[key])

