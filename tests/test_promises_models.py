"""Promise: a model id never silently falls back to something else, and a processor that is not a
processor is an error, in every stage that loads a model (train, evaluate, the local generator).

test_models_presets.py checks the loader's own errors; here each stage is driven as a user
drives it (the CLI, `generate(...)`) with a model it cannot use, and must stop with the loader's
message before producing anything. Real tiny models, real datasets, offline.
"""
from __future__ import annotations

import shutil

import pytest
from generate_helpers import ingested
from train_helpers import save_kto_dataset, tiny_recipe
from typer.testing import CliRunner

from vlcultura.cli import app
from vlcultura.config import GenerateConfig, dump_config
from vlcultura.data.generate import generate
from vlcultura.testing import build_tiny_vlm

MISSING = "vlcultura-test/no-such-model"
BAD = {"missing": (f"cannot resolve model '{MISSING}' offline", "hf download"),
       "no_processor": ("cannot load the processor of", "preprocessor_config.json")}


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    """A good tiny model, the same folder without its image processor, and a KTO dataset."""
    root = tmp_path_factory.mktemp("models")
    good = build_tiny_vlm("smolvlm", root / "good")
    bare = shutil.copytree(good, root / "no_processor")
    (bare / "processor_config.json").unlink()  # tokenizer and chat template stay: not a processor
    assert not list(bare.glob("pre*processor_config.json"))
    return {"good": good, "missing": MISSING, "no_processor": bare, "data": save_kto_dataset(root), "root": root}


@pytest.mark.parametrize("bad", sorted(BAD))
@pytest.mark.parametrize("command", ["train", "evaluate"])
def test_train_and_evaluate_stop_on_a_model_they_cannot_use(models, tmp_path, bad, command):
    out = tmp_path / "adapter"
    config = tiny_recipe(models[bad], models["data"], out, max_steps=1, emissions={"enabled": False})
    evaluation = dict(output_dir=str(tmp_path / "eval"), tuned=str(models["good"]), tuned_kind="model")
    dump_config(config.model_copy(update={"eval": config.eval.model_copy(update=evaluation)}), tmp_path / "r.yaml")
    result = CliRunner().invoke(app, [command, "--config", str(tmp_path / "r.yaml")])
    assert result.exit_code != 0
    for words in BAD[bad]:
        assert words in result.output
    assert not out.exists() and not list((tmp_path / "eval").rglob("*.jsonl"))  # nothing made with another model


@pytest.mark.parametrize("bad", sorted(BAD))
def test_the_local_generator_records_the_loader_error_for_each_image(models, tmp_path, bad):
    inp = ingested(tmp_path)
    config = GenerateConfig(backend="local", local_model=str(models[bad]), negative_strategy="rule")
    result = generate(inp, tmp_path / "gen", config, progress=False, log=lambda m: None)
    assert result.rows == 0 and result.images_done == 0 and result.errors
    for error in result.errors:
        assert error["reason"] == "request_failed" and BAD[bad][0] in error["detail"]
