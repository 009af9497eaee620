"""What the fast path saves (vision passes, preprocessing), and when it steps aside."""
from __future__ import annotations

import logging

import pytest
from peft import LoraConfig, get_peft_model
from trl import KTOTrainer

from fast_kto_helpers import kto_args, kto_dataset, lora_config, make_trainer
from vlcultura.testing import build_tiny_vlm_in_memory
from vlcultura.train.fast.image_features import image_entry
from vlcultura.train.fast_kto import FastKTOTrainer, fast_path_blockers


def _count_vision_calls(trainer) -> list[int]:
    """Counts real forwards of the vision tower (a hook on the module, not on our code)."""
    calls = [0]
    vision = image_entry(trainer.model).vision_model

    def hook(*_):
        calls[0] += 1

    vision.register_forward_hook(hook)
    return calls


def test_vision_tower_runs_once_per_batch_not_four_times_per_step(tmp_path):
    # 8 rows, batch 4, 4 steps = 2 epochs
    stock = make_trainer(KTOTrainer, "smolvlm", tmp_path / "stock", steps=4)
    fast = make_trainer(FastKTOTrainer, "smolvlm", tmp_path / "fast", steps=4)
    stock_calls, fast_calls = _count_vision_calls(stock), _count_vision_calls(fast)
    stock.train()
    fast.train()
    assert stock_calls[0] == 4 * 4  # policy, policy KL, reference, reference KL per step
    assert fast_calls[0] == fast.fast_vision_calls == 2  # once per batch, for the whole run
    assert fast.fast_precompute_seconds is not None


def test_cached_batches_hold_no_pixels(tmp_path):
    fast = make_trainer(FastKTOTrainer, "gemma3", tmp_path)
    batches = fast.get_train_dataloader().dataset.batches
    assert len(batches) == 2
    for batch in batches:
        assert batch["pixel_values"].numel() == 0  # placeholder: the features replace the pixels
        assert {"ref_logps", "ref_KL_logps", "fast_image_features", "token_type_ids"} <= set(batch)


@pytest.mark.parametrize("family", ["smolvlm", "gemma3", "qwen2_5_vl"])
def test_lora_anchored_on_the_language_model_is_exact(family, tmp_path):
    model, _ = build_tiny_vlm_in_memory(family)
    assert fast_path_blockers(model, kto_args(tmp_path), kto_dataset(), lora_config(family)) == []


def test_lora_on_the_vision_tower_blocks_and_falls_back_to_stock(tmp_path, caplog):
    model, processor = build_tiny_vlm_in_memory("smolvlm")
    reasons = fast_path_blockers(model, kto_args(tmp_path), kto_dataset(), lora_config("smolvlm", vision_too=True))
    assert len(reasons) == 1 and "vision" in reasons[0] and "vision_model" in reasons[0]
    with caplog.at_level(logging.WARNING, logger="vlcultura.train.fast_kto"):
        trainer = FastKTOTrainer(model=model, args=kto_args(tmp_path), train_dataset=kto_dataset(),
                                 processing_class=processor, peft_config=lora_config("smolvlm", vision_too=True))
    assert not trainer.fast_path and "running stock TRL" in caplog.text
    trainer.train()  # stock behaviour: its own collator every step, no cache
    assert trainer._fast_batches is None


def test_blockers_name_each_inexact_setting(tmp_path):
    model, _ = build_tiny_vlm_in_memory("gemma3")
    text_only = kto_dataset().remove_columns("images")
    assert "text-only" in fast_path_blockers(model, kto_args(tmp_path), text_only, lora_config("gemma3"))[0]
    assert "full fine-tuning" in fast_path_blockers(model, kto_args(tmp_path), kto_dataset(), None)[0]
    dropout = fast_path_blockers(model, kto_args(tmp_path, disable_dropout=False), kto_dataset(), lora_config("gemma3"))
    assert "dropout" in dropout[0]
    shuffled = kto_args(tmp_path, loss_type="apo_zero_unpaired", train_sampling_strategy="random")
    assert "between epochs" in fast_path_blockers(model, shuffled, kto_dataset(), lora_config("gemma3"))[0]
    all_linear = LoraConfig(r=4, target_modules="all-linear")
    assert "all-linear" in fast_path_blockers(model, kto_args(tmp_path), kto_dataset(), all_linear)[0]


def test_wrapped_model_with_trainable_vision_is_refused(tmp_path):
    model, _ = build_tiny_vlm_in_memory("qwen2_5_vl")
    peft_model = get_peft_model(model, LoraConfig(r=4, target_modules=r".*visual.*qkv"))
    reasons = fast_path_blockers(peft_model, kto_args(tmp_path), kto_dataset(), None)
    assert reasons and "trainable parameters sit in the vision tower" in reasons[0]


def test_explicit_reference_model_falls_back(tmp_path):
    model, processor = build_tiny_vlm_in_memory("smolvlm")
    ref, _ = build_tiny_vlm_in_memory("smolvlm")
    trainer = FastKTOTrainer(model=model, ref_model=ref, args=kto_args(tmp_path), train_dataset=kto_dataset(),
                             processing_class=processor, peft_config=lora_config("smolvlm"))
    assert not trainer.fast_path and "ref_model" in trainer.fast_path_reasons[0]
