"""The Model Card: rendered from the facts a real training run wrote, valid for huggingface_hub."""
from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from train_helpers import save_kto_dataset, tiny_recipe
from vlcultura.cards.dataset_card import CardError
from vlcultura.cards.model_card import load_eval_results, render_model_card, validate_model_card
from vlcultura.cli import app
from vlcultura.testing import build_tiny_vlm
from vlcultura.train.trainer import train


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    root = tmp_path_factory.mktemp("card")
    model = build_tiny_vlm("gemma3", root / "model")
    data = save_kto_dataset(root)
    cfg = tiny_recipe(model, data, root / "out", max_steps=2, model={"quantization": "4bit"})
    cfg.publish.dataset_repo = "somosnlp-hackathon-2026/comida_bolivia_images_kto"
    cfg.publish.model_repo = "somosnlp-hackathon-2026/gemma3-cultura-kto"
    train(cfg, recipe="configs/gemma3-4b-qlora.yaml")
    return root / "out"


def _model_index(tmp_path):
    from huggingface_hub import EvalResult
    from huggingface_hub.repocard_data import eval_results_to_model_index

    results = [EvalResult(task_type="image-to-text", dataset_type="somosnlp-hackathon-2026/comida_bolivia_images_kto",
                          dataset_name="comida_bolivia_images_kto", dataset_split="test",
                          metric_type="chrf", metric_name="chrF", metric_value=41.2)]
    path = tmp_path / "model_index.json"
    path.write_text(json.dumps({"model-index": eval_results_to_model_index("gemma3-cultura-kto", results)}))
    return path


def test_card_holds_the_real_facts(trained):
    card = validate_model_card((trained / "README.md").read_text())
    facts = json.loads((trained / "train_facts.json").read_text())
    meta = card.data.to_dict()
    assert meta["base_model"] == facts["base_model"] and meta["license"] == "gemma"
    assert meta["datasets"] == ["somosnlp-hackathon-2026/comida_bolivia_images_kto"]
    assert meta["language"] == ["es"] and "qlora" in meta["tags"]
    assert meta["co2_eq_emissions"]["emissions"] == json.loads((trained / "emissions.json").read_text())["emissions_g"]
    text = card.text
    assert "https://huggingface.co/datasets/somosnlp-hackathon-2026/comida_bolivia_images_kto" in text
    assert "configs/gemma3-4b-qlora.yaml" in text and "scripts/train.py" in text
    assert f"| learning_rate | {facts['hyperparameters']['learning_rate']} |" in text
    assert "QLoRA, 4-bit NF4 base" in text and "## Bias, risks" in text
    assert "No evaluation results" in text


def test_eval_results_become_model_index(trained, tmp_path):
    text = render_model_card(trained, eval_results=_model_index(tmp_path))
    card = validate_model_card(text)
    assert card.data.eval_results[0].metric_value == 41.2
    assert "| chrF | 41.2 |" in text


def test_cli_model_card_with_eval_results(trained, tmp_path):
    result = CliRunner().invoke(app, ["model-card", str(trained), "--eval-results", str(_model_index(tmp_path))])
    assert result.exit_code == 0, result.output
    assert "model-index" in (trained / "README.md").read_text()


def test_invalid_cards_and_inputs_are_refused(tmp_path):
    with pytest.raises(CardError, match="base_model"):
        validate_model_card("---\nlicense: mit\nlibrary_name: peft\n---\n# x\n")
    with pytest.raises(CardError, match="Environmental impact"):
        validate_model_card("---\nlicense: mit\nlibrary_name: peft\nbase_model: a/b\n---\n## Training data\n")
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"model-index": [{"name": "x"}]}))
    with pytest.raises(CardError, match="model-index"):
        load_eval_results(bad)
