"""The train stage end to end on tiny fixtures: KTO with LoRA and QLoRA for each family, DPO,
resume, a non-finite loss, merge-and-load-back, emissions in the output and the card."""
from __future__ import annotations

import json
import logging
import math

import pytest

from train_helpers import FAMILIES, Snapshot, save_kto_dataset, tiny_recipe
from vlcultura.testing import build_tiny_vlm, tiny_image
from vlcultura.train.models import PRESETS
from vlcultura.train.trainer import NonFiniteLossError, TrainSetupError, train


@pytest.fixture(scope="module")
def fixtures(tmp_path_factory):
    root = tmp_path_factory.mktemp("train")
    data = save_kto_dataset(root)
    return {f: build_tiny_vlm(f, root / f) for f in FAMILIES}, data


def _logs(out):
    return [json.loads(line) for line in (out / "logs.jsonl").read_text().splitlines()]


@pytest.mark.parametrize("quantization", ["none", "4bit"])
@pytest.mark.parametrize("family", FAMILIES)
def test_kto_trains_lora_only(tmp_path, fixtures, family, quantization):
    models, data = fixtures
    snap = Snapshot(PRESETS[family].frozen)
    out = tmp_path / "out"
    cfg = tiny_recipe(models[family], data, out, model={"quantization": quantization})
    result = train(cfg, callbacks=[snap.callback])
    assert result.global_step == 3 and result.trainer_class == "KTOTrainer"
    losses = [r["loss"] for r in _logs(out) if "loss" in r]
    assert len(losses) == 3 and all(math.isfinite(x) for x in losses)
    assert snap.changed("lora_B"), "LoRA weights must move"
    vision = [n for n in snap.begin if "lora_" not in n]
    assert vision and not [n for n in vision if n in snap.changed("")], "vision tower must not move"
    for name in ("adapter_model.safetensors", "config.yaml", "train_facts.json", "trainer_state.json",
                 "emissions.csv", "README.md", "preflight.json", "processor_config.json"):
        assert (out / name).is_file(), name
    facts = json.loads((out / "train_facts.json").read_text())
    assert facts["family"] == family and facts["quantization"] == quantization


@pytest.mark.parametrize("family", FAMILIES)
def test_dpo_runs(tmp_path, fixtures, family):
    models, data = fixtures
    out = tmp_path / "out"
    result = train(tiny_recipe(models[family], data, out, algorithm="dpo", max_steps=2))
    assert result.global_step == 2 and result.trainer_class == "DPOTrainer"
    assert all(math.isfinite(r["loss"]) for r in _logs(out) if "loss" in r)


def test_resume_continues_from_saved_step(tmp_path, fixtures):
    models, data = fixtures
    out = tmp_path / "out"
    train(tiny_recipe(models["smolvlm"], data, out, max_steps=2, save_steps=2))
    with pytest.raises(TrainSetupError, match="--resume"):
        train(tiny_recipe(models["smolvlm"], data, out, max_steps=4, save_steps=2))
    result = train(tiny_recipe(models["smolvlm"], data, out, max_steps=4, save_steps=2), resume=True)
    assert result.global_step == 4
    steps = [r["step"] for r in _logs(out) if "loss" in r]
    assert steps == [1, 2, 3, 4]  # the second run started at step 3, not at 1
    emissions = json.loads((out / "emissions.json").read_text())
    assert emissions["runs"] == 2
    with pytest.raises(TrainSetupError, match="nothing to resume"):
        train(tiny_recipe(models["smolvlm"], data, tmp_path / "fresh"), resume=True)


def test_non_finite_loss_stops_and_keeps_last_good_checkpoint(tmp_path, fixtures):
    import torch
    from transformers import TrainerCallback

    class PoisonAtStep3(TrainerCallback):  # a real NaN in a LoRA weight, as a diverging step makes
        def on_step_begin(self, args, state, control, model=None, **kwargs):
            if state.global_step == 2:
                with torch.no_grad():
                    next(p for n, p in model.named_parameters() if "lora_A" in n).fill_(float("nan"))

    models, data = fixtures
    out = tmp_path / "out"
    with pytest.raises(NonFiniteLossError, match="step 3.*checkpoint-2"):
        train(tiny_recipe(models["gemma3"], data, out, max_steps=4, save_steps=1),
              callbacks=[PoisonAtStep3()])
    assert (out / "checkpoint-2").is_dir() and not (out / "checkpoint-3").exists()
    assert not (out / "adapter_model.safetensors").exists()


def test_merge_and_load_back_for_generation(tmp_path, fixtures):
    from vlcultura.train.merge import generate, load_for_generation

    models, data = fixtures
    out = tmp_path / "out"
    result = train(tiny_recipe(models["qwen2_5_vl"], data, out, merge_adapter=True))
    assert result.merged_dir and (out / "merged" / "config.json").is_file()
    assert json.loads((out / "train_facts.json").read_text())["result"]["merged_dir"] == result.merged_dir
    adapter_model, processor = load_for_generation(out)
    merged_model, merged_processor = load_for_generation(out, merged=True)
    images = [tiny_image(1), tiny_image(2)]
    a = generate(adapter_model, processor, images, "Describe esta imagen.", max_new_tokens=5)
    b = generate(merged_model, merged_processor, images, "Describe esta imagen.", max_new_tokens=5)
    assert len(a) == 2 and a == b  # merged weights generate what base + adapter generate


def test_emissions_in_output_and_card(tmp_path, fixtures, caplog):
    from huggingface_hub import ModelCard

    models, data = fixtures
    out = tmp_path / "out"
    with caplog.at_level(logging.WARNING):
        train(tiny_recipe(models["smolvlm"], data, out, max_steps=2, emissions={"measure_power_secs": 1}))
    assert "country_iso_code is not set" in caplog.text and "WORLD AVERAGE" in caplog.text
    summary = json.loads((out / "emissions.json").read_text())
    assert summary["location_assumed"] is True
    import csv

    rows = list(csv.DictReader((out / "emissions.csv").open()))
    kg = sum(float(r["emissions"]) for r in rows)
    card = ModelCard.load(out / "README.md")
    assert card.data.co2_eq_emissions["emissions"] == pytest.approx(kg * 1000, abs=1e-3)
    assert "world average" in card.data.co2_eq_emissions["geographical_location"]


def test_weights_default_to_the_exported_recommendation(tmp_path, fixtures):
    models, data = fixtures
    (data.parent / "kto_weights.json").write_text(json.dumps(
        {"desirable_weight": 1.0, "undesirable_weight": 0.8}))
    try:
        out = tmp_path / "out"
        train(tiny_recipe(models["smolvlm"], data, out, max_steps=1))
        facts = json.loads((out / "train_facts.json").read_text())
        assert facts["hyperparameters"]["undesirable_weight"] == 0.8
        assert facts["hyperparameters"]["weights_source"].endswith("kto_weights.json")
        out2 = tmp_path / "out2"
        train(tiny_recipe(models["smolvlm"], data, out2, max_steps=1, undesirable_weight=1.0))
        assert json.loads((out2 / "train_facts.json").read_text())["hyperparameters"]["weights_source"] == "recipe"
    finally:
        (data.parent / "kto_weights.json").unlink()


def test_fast_path_choice_is_recorded(tmp_path, fixtures):
    models, data = fixtures
    out = tmp_path / "out"
    result = train(tiny_recipe(models["smolvlm"], data, out, max_steps=2, fast_path=True))
    assert (result.trainer_class, result.fast_path_reasons) == ("FastKTOTrainer", [])
    assert result.fast_step == "fixed-shape"  # SmolVLM on CPU: fixed shapes, no CUDA graphs
    assert all(math.isfinite(r["loss"]) for r in _logs(out) if "loss" in r)


def test_gradient_checkpointing_with_lora(tmp_path, fixtures):
    """Pitfall: checkpointing + PEFT needs inputs that require grad, or LoRA gets no gradient."""
    models, data = fixtures
    snap = Snapshot(PRESETS["gemma3"].frozen)
    out = tmp_path / "out"
    train(tiny_recipe(models["gemma3"], data, out, max_steps=2, gradient_checkpointing=True),
          callbacks=[snap.callback])
    assert snap.changed("lora_B") and all(math.isfinite(r["loss"]) for r in _logs(out) if "loss" in r)
