"""Family presets on tiny fixtures: load -> LoRA -> loss -> generate -> steps move only LoRA.

Each family is run in full precision and with 4-bit QLoRA (bitsandbytes on CPU). Wrong inputs
(unknown family, unresolvable id, tokenizer instead of processor, fp16 Gemma, bare module
names) each give a clear error.
"""
from __future__ import annotations

import dataclasses
import json
import shutil

import pytest
import torch

from train_helpers import FAMILIES
from vlcultura.config import LoraSettings, ModelConfig
from vlcultura.testing import build_tiny_vlm, tiny_image
from vlcultura.train.models import (PRESETS, ModelLoadError, build_user_message, check_trainable,
                                    load_model, load_processor, lora_config, resolve_dtype,
                                    resolve_preset)


@pytest.fixture(scope="module")
def model_dirs(tmp_path_factory):
    root = tmp_path_factory.mktemp("tiny")
    return {f: build_tiny_vlm(f, root / f) for f in FAMILIES}


def _batch(processor, n: int = 2):
    text = processor.apply_chat_template(build_user_message("Describe esta imagen."),
                                         add_generation_prompt=True)
    answers = ["una salteña jugosa", "un cuñapé de queso"][:n]
    texts = [text + a for a in answers]
    batch = processor(text=texts, images=[[tiny_image(i)] for i in range(n)], return_tensors="pt",
                      padding=True)
    batch["labels"] = batch["input_ids"].masked_fill(batch["attention_mask"] == 0, -100)
    return batch


@pytest.mark.parametrize("quantization", ["none", "4bit"])
@pytest.mark.parametrize("family", FAMILIES)
def test_preset_lora_trains_only_language_model(model_dirs, family, quantization):
    from peft import get_peft_model

    cfg = ModelConfig(name_or_path=str(model_dirs[family]), quantization=quantization)
    preset = resolve_preset(cfg)
    assert preset.family == family
    processor = load_processor(cfg, preset)
    model, preset = load_model(cfg, preset, resolve_dtype(cfg, preset, use_cpu=True))
    if quantization == "4bit":
        from bitsandbytes.nn import Linear4bit

        kinds = {n: type(m) for n, m in model.named_modules()}
        assert any(k is Linear4bit for n, k in kinds.items() if n.startswith(preset.language_model))
        assert not any(k is Linear4bit for n, k in kinds.items()
                       if n.startswith(preset.unquantized) or n == "lm_head")
    model = get_peft_model(model, lora_config(LoraSettings(r=4, alpha=8, dropout=0.0), preset))
    trainable = check_trainable(model, preset)
    assert trainable and all(".lora_" in n and preset.language_model in n for n in trainable)

    frozen = {n: p.detach().clone() for n, p in model.named_parameters()
              if any(f".{f}." in f".{n.removeprefix('base_model.model.')}" for f in preset.frozen)}
    assert frozen, "the vision tower must be found to be checked"
    lora = {n: p.detach().clone() for n, p in model.named_parameters() if p.requires_grad}
    batch = _batch(processor)
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-2)
    model.train()
    for _ in range(3):
        loss = model(**batch).loss
        assert torch.isfinite(loss)
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
    params = dict(model.named_parameters())
    assert any(not torch.equal(lora[n], params[n]) for n in lora if "lora_B" in n)
    assert all(torch.equal(frozen[n], params[n]) for n in frozen)

    model.eval()
    gen_inputs = {k: v[:1] for k, v in batch.items() if k != "labels"}
    if "image_grid_thw" in batch:  # Qwen: pixel rows belong to images, not to text rows
        gen_inputs["pixel_values"] = batch["pixel_values"][: int(batch["image_grid_thw"][0].prod())]
        gen_inputs["image_grid_thw"] = batch["image_grid_thw"][:1]
    out = model.generate(**gen_inputs, max_new_tokens=4, do_sample=False)
    assert out.shape[1] > gen_inputs["input_ids"].shape[1]


def test_image_settings_are_explicit(model_dirs):
    smol = ModelConfig(name_or_path=str(model_dirs["smolvlm"]))
    ip = load_processor(smol, resolve_preset(smol)).image_processor
    assert ip.do_image_splitting is False and ip.size == {"longest_edge": ip.max_image_size["longest_edge"]}
    split = smol.model_copy(update={"do_image_splitting": True, "image_longest_edge": 128})
    ip = load_processor(split, resolve_preset(split)).image_processor
    assert ip.do_image_splitting is True and ip.size == {"longest_edge": 128}

    big = tiny_image(0, size=224)
    grids = {}
    for max_pixels in (56 * 56, 112 * 112):
        qwen = ModelConfig(name_or_path=str(model_dirs["qwen2_5_vl"]), max_pixels=max_pixels)
        ip = load_processor(qwen, resolve_preset(qwen)).image_processor
        grids[max_pixels] = int(ip(images=[big], return_tensors="pt")["image_grid_thw"].prod())
    assert grids[56 * 56] == 16 and grids[112 * 112] == 64  # patches: the cap is what applies

    gemma = ModelConfig(name_or_path=str(model_dirs["gemma3"]), pan_and_scan=True)
    assert load_processor(gemma, resolve_preset(gemma)).image_processor.do_pan_and_scan is True


def test_lora_and_skip_paths_are_full_module_paths(model_dirs):
    cfg = ModelConfig(name_or_path=str(model_dirs["smolvlm"]))
    regex = PRESETS["smolvlm"].lora_target_regex()
    assert regex.startswith(r"model\.text_model\.layers")
    assert PRESETS["smolvlm"].unquantized == ("model.vision_model", "model.connector", "lm_head")
    bare = dataclasses.replace(PRESETS["smolvlm"], unquantized=("vision_model", "connector", "lm_head"))
    with pytest.raises(ModelLoadError, match="vision_model"):
        load_model(cfg.model_copy(update={"quantization": "4bit"}), bare, torch.float32)


def test_bare_q_proj_target_is_refused(model_dirs):
    from peft import get_peft_model

    cfg = ModelConfig(name_or_path=str(model_dirs["smolvlm"]))
    model, preset = load_model(cfg, resolve_preset(cfg), torch.float32)
    peft_model = get_peft_model(model, lora_config(LoraSettings(target_modules=["q_proj"]), preset))
    with pytest.raises(ModelLoadError, match="vision tower"):
        check_trainable(peft_model, preset)


def test_generic_path_only_when_asked(model_dirs):
    cfg = ModelConfig(name_or_path=str(model_dirs["smolvlm"]), family="generic")
    assert resolve_preset(cfg) is None
    model, preset = load_model(cfg, None, torch.float32)
    assert preset.family == "generic" and preset.language_model == "model.text_model"
    assert set(preset.unquantized) == {"model.vision_model", "model.connector", "lm_head"}
    # 4-bit needs the skip list before loading: it is read from an empty (meta) model
    quantized, preset = load_model(cfg.model_copy(update={"quantization": "4bit"}), None, torch.float32)
    assert type(quantized.model.text_model.layers[0].mlp.up_proj).__name__ == "Linear4bit"
    assert type(quantized.model.connector.modality_projection.proj).__name__ == "Linear"


def test_unknown_family_says_use_generic(tmp_path, model_dirs):
    other = tmp_path / "llava"
    other.mkdir()
    (other / "config.json").write_text(json.dumps({"model_type": "llava"}))
    with pytest.raises(ModelLoadError, match="family: generic"):
        resolve_preset(ModelConfig(name_or_path=str(other)))
    with pytest.raises(ModelLoadError, match="'gemma3' model"):
        resolve_preset(ModelConfig(name_or_path=str(model_dirs["gemma3"]), family="smolvlm"))


def test_unresolvable_id_offline_says_what_to_do(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ModelLoadError, match="offline.*hf download"):
        resolve_preset(ModelConfig(name_or_path="vlcultura-test/no-such-model"))


def test_tokenizer_where_processor_expected(tmp_path, model_dirs):
    from transformers import AutoProcessor

    # Qwen2.5-VL without torchvision: AutoProcessor silently returns only the tokenizer.
    qwen = AutoProcessor.from_pretrained(model_dirs["qwen2_5_vl"])
    from vlcultura.train.models import ensure_processor

    with pytest.raises(ModelLoadError, match="tokenizer.*where a processor was expected"):
        ensure_processor(qwen, "qwen")
    cfg = ModelConfig(name_or_path=str(model_dirs["qwen2_5_vl"]))
    assert load_processor(cfg, resolve_preset(cfg)).image_processor is not None  # the project's way

    # A folder whose processor files are missing (only tokenizer + model config).
    bare = tmp_path / "no_processor"
    bare.mkdir()
    shutil.copy(model_dirs["smolvlm"] / "config.json", bare / "config.json")
    load_processor(ModelConfig(name_or_path=str(model_dirs["smolvlm"])), PRESETS["smolvlm"]).tokenizer.save_pretrained(bare)
    with pytest.raises(ModelLoadError, match="preprocessor_config.json"):
        load_processor(ModelConfig(name_or_path=str(bare)), PRESETS["smolvlm"])


def test_dtype_rules():
    gemma = PRESETS["gemma3"]
    with pytest.raises(ModelLoadError, match="NaN"):
        resolve_dtype(ModelConfig(dtype="float16"), gemma, use_cpu=True)
    with pytest.raises(ModelLoadError, match="CPU"):
        resolve_dtype(ModelConfig(dtype="float16"), PRESETS["smolvlm"], use_cpu=True)
    assert resolve_dtype(ModelConfig(), gemma, use_cpu=True) == torch.float32


def test_processor_without_chat_template_is_refused(model_dirs):
    from vlcultura.train.models import ensure_processor

    cfg = ModelConfig(name_or_path=str(model_dirs["gemma3"]))
    processor = load_processor(cfg, resolve_preset(cfg))
    processor.chat_template = None
    with pytest.raises(ModelLoadError, match="no chat template"):
        ensure_processor(processor, "gemma3")
