"""Each preflight check fires on data (or a recipe) built to break it, with a message that helps."""
from __future__ import annotations

import pytest

from train_helpers import kto_rows, save_kto_dataset, tiny_recipe
from vlcultura.config import ModelConfig
from vlcultura.testing import build_tiny_vlm
from vlcultura.train import preflight
from vlcultura.train.models import PRESETS, load_processor, resolve_preset
from vlcultura.train.trainer import build_training_args, train


@pytest.fixture(scope="module")
def smol(tmp_path_factory):
    path = build_tiny_vlm("smolvlm", tmp_path_factory.mktemp("smol") / "m")
    cfg = ModelConfig(name_or_path=str(path))
    return path, load_processor(cfg, resolve_preset(cfg))


def _dataset(**changes):
    from datasets import Dataset

    rows = kto_rows(4)
    rows.update(changes)
    return Dataset.from_dict(rows)


def _levels(findings, check):
    return [f.level for f in findings if f.check == check]


def test_schema_missing_column_and_paired_hint():
    from datasets import Dataset

    rows = kto_rows(4)
    del rows["label"]
    found = preflight.check_schema(Dataset.from_dict(rows))
    assert _levels(found, "schema") == ["error"] and "label" in found[0].message
    paired = {"prompt": rows["prompt"], "chosen": rows["completion"], "rejected": rows["completion"],
              "images": rows["images"]}
    found = preflight.check_schema(Dataset.from_dict(paired))
    assert "unpair_preference_dataset" in found[0].message
    assert preflight.check_schema(Dataset.from_dict(paired), "dpo") == []


def test_schema_standard_format_labels_and_image_count():
    rows = kto_rows(4)
    found = preflight.check_schema(_dataset(completion=["texto plano"] * 4))
    assert any("not conversational" in f.message and "EOS" in f.message for f in found)
    found = preflight.check_schema(_dataset(label=[1, 0, 1, 0]))
    assert any("non-bool label" in f.message for f in found)
    found = preflight.check_schema(_dataset(images=[imgs * 2 for imgs in rows["images"]]))
    assert any("placeholders" in f.message for f in found)
    assert preflight.check_schema(_dataset()) == []


def test_token_budget_never_truncates_image_tokens(smol):
    _, processor = smol
    lengths = preflight.measure_lengths(_dataset(), processor)
    prompt, total = max(p for p, _ in lengths), max(t for _, t in lengths)
    assert 4 < prompt < total  # 4 image tokens per 64 px tile plus the instruction
    error = preflight.check_token_budget(lengths, prompt - 1)
    assert _levels(error, "token_budget") == ["error"]
    assert "image tokens" in error[0].message and f"at least {total}" in error[0].message
    assert _levels(preflight.check_token_budget(lengths, total - 1), "token_budget") == ["warning"]
    assert _levels(preflight.check_token_budget(lengths, total), "token_budget") == ["info"]


def test_token_budget_grows_with_image_splitting(tmp_path):
    from vlcultura.testing import tiny_image

    path = build_tiny_vlm("smolvlm", tmp_path / "m")
    split_cfg = ModelConfig(name_or_path=str(path), do_image_splitting=True, image_longest_edge=128)
    plain = load_processor(ModelConfig(name_or_path=str(path)), PRESETS["smolvlm"])
    split = load_processor(split_cfg, PRESETS["smolvlm"])
    big = _dataset(images=[[tiny_image(0, size=128)]] * 4)
    plain_len = max(p for p, _ in preflight.measure_lengths(big, plain))
    split_len = max(p for p, _ in preflight.measure_lengths(big, split))
    assert split_len - plain_len >= 4 * 4  # 4 tiles of 4 image tokens on top of the global image


def test_kto_batching(tmp_path):
    cfg = tiny_recipe(tmp_path, tmp_path, tmp_path / "o", per_device_train_batch_size=1)
    args = build_training_args(cfg, None, use_cpu=True)
    found = preflight.check_kto_batching(args, 8)
    assert _levels(found, "kto_batching") == ["error"] and "> 1" in found[0].message
    cfg = tiny_recipe(tmp_path, tmp_path, tmp_path / "o", extra_args={"train_sampling_strategy": "random"})
    found = preflight.check_kto_batching(build_training_args(cfg, None, use_cpu=True), 8)
    assert "sequential" in found[0].message
    args = build_training_args(tiny_recipe(tmp_path, tmp_path, tmp_path / "o"), None, use_cpu=True)
    assert preflight.check_kto_batching(args, 8) == []
    found = preflight.check_kto_batching(args, 7)
    assert _levels(found, "kto_batching") == ["warning"] and "dataloader_drop_last" in found[0].message


def test_launch_with_several_gpus_needs_accelerate():
    found = preflight.check_launch(2, 1, use_cpu=False)
    assert _levels(found, "launch") == ["error"] and "accelerate launch" in found[0].message
    assert preflight.check_launch(2, 2, use_cpu=False) == preflight.check_launch(1, 1, False) == []
    assert preflight.check_launch(4, 1, use_cpu=True) == []


def test_weight_balance_is_checked_for_vision_data():
    found = preflight.check_weight_balance([True] * 6 + [False] * 2, 1.0, 1.0)
    assert _levels(found, "weights") == ["warning"]
    assert "undesirable_weight: 2.25" in found[0].message
    assert _levels(preflight.check_weight_balance([True] * 6 + [False] * 2, 1.0, 2.25), "weights") == ["info"]
    assert _levels(preflight.check_weight_balance([True] * 4, 1.0, 1.0), "weights") == ["error"]


def test_dtype_vs_hardware():
    found = preflight.check_dtype(ModelConfig(dtype="float16"), PRESETS["gemma3"], use_cpu=True)
    assert _levels(found, "dtype") == ["error"] and "bfloat16" in found[0].message
    assert _levels(preflight.check_dtype(ModelConfig(), PRESETS["gemma3"], True), "dtype") == ["info"]


def test_template_boundary(smol):
    import copy

    _, processor = smol
    assert preflight.check_template_boundary(_dataset(), processor) == []
    broken = copy.deepcopy(processor)
    # The generation prompt says "Assistant:" but the rendered answer turn says "Respuesta: ".
    broken.chat_template = processor.chat_template.replace(
        "{{ message['role'] | capitalize }}",
        "{{ 'Respuesta' if message['role'] == 'assistant' else message['role'] | capitalize }}")
    found = preflight.check_template_boundary(_dataset(), broken)
    assert _levels(found, "template") == ["error"] and "prefix" in found[0].message


def test_memory_estimate_against_free(smol):
    from vlcultura.train.models import load_model

    path, _ = smol
    cfg = ModelConfig(name_or_path=str(path))
    import torch

    model, _ = load_model(cfg, PRESETS["smolvlm"], torch.float32)
    small = preflight.estimate_training_bytes(model, 2, 64, gradient_checkpointing=False)
    big = preflight.estimate_training_bytes(model, 8, 64, gradient_checkpointing=False)
    ckpt = preflight.estimate_training_bytes(model, 8, 64, gradient_checkpointing=True)
    assert 0 < small < big and ckpt < big
    assert _levels(preflight.check_memory(big, big // 2), "memory") == ["error"]
    assert _levels(preflight.check_memory(big, int(big * 1.1)), "memory") == ["warning"]
    assert _levels(preflight.check_memory(big, None), "memory") == ["info"]


def test_train_stops_before_loading_the_model(tmp_path, smol):
    path, _ = smol
    data = save_kto_dataset(tmp_path, rows={**kto_rows(8), "label": [True] * 7 + [False]})
    cfg = tiny_recipe(path, data, tmp_path / "out", per_device_train_batch_size=1)
    with pytest.raises(preflight.PreflightError) as info:
        train(cfg)
    assert "[kto_batching]" in str(info.value)
    assert not (tmp_path / "out" / "adapter_model.safetensors").exists()
