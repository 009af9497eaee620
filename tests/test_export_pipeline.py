"""End to end on the real upstream stages: ingest -> generate (template) -> filter -> judge
(rules) -> export with Arena rows, through the CLI, then one epoch of stock TRL KTO on it."""
from __future__ import annotations

import json

import datasets
from arena_helpers import rows as arena_rows
from arena_helpers import write as write_arena
from generate_helpers import ingested
from typer.testing import CliRunner

from vlcultura.cards.dataset_card import validate_card
from vlcultura.cli import app
from vlcultura.config import GenerateConfig
from vlcultura.data.generate import generate
from vlcultura.data.kto import KTO_HIGH, KTO_LOW


def _run(*args: str) -> str:
    result = CliRunner().invoke(app, list(args))
    assert result.exit_code == 0, result.output
    return result.output


def test_cli_chain_on_generated_candidates_then_trl_kto(tmp_path):
    gen = generate(ingested(tmp_path), tmp_path / "gen", GenerateConfig(backend="template"),
                   progress=False, log=lambda m: None)
    n_images = len(set(datasets.load_from_disk(str(gen.dataset_path))["image_id"]))
    _run("filter", "-i", str(gen.dataset_path), "-o", str(tmp_path / "f"))
    _run("judge", "-i", str(tmp_path / "f" / "candidates"), "-o", str(tmp_path / "j"), "--backend", "rules")
    _run("arena", "--source", str(write_arena(arena_rows("raw"), tmp_path / "arena.parquet")),
         "--out", str(tmp_path / "arena"))
    out = _run("export", "-i", str(tmp_path / "j" / "candidates"), "-o", str(tmp_path / "e"),
               "--arena", str(tmp_path / "arena" / "kto"),
               "--report", str(tmp_path / "f" / "filter_report.json"),
               "--report", str(tmp_path / "j" / "judge_report.json"),
               "--report", str(tmp_path / "arena" / "arena_report.json"))
    assert "warning" in out and "fewer than the 100" in out  # the samples are < 100 images

    splits = datasets.load_from_disk(str(tmp_path / "e" / "kto"))
    train_ids = {i for i in splits["train"]["image_id"] if i}
    test_ids = {i for i in splits["test"]["image_id"] if i}
    assert train_ids and test_ids and not train_ids & test_ids
    assert len(train_ids | test_ids) == n_images
    weights = json.loads((tmp_path / "e" / "kto_weights.json").read_text())
    n_d = sum(splits["train"]["label"])
    ratio = weights["desirable_weight"] * n_d / (weights["undesirable_weight"] * (len(splits["train"]) - n_d))
    assert KTO_LOW <= ratio <= KTO_HIGH
    card = validate_card((tmp_path / "e" / "hub" / "comida_bolivia_images_kto" / "README.md").read_text())
    assert "Backend: `rules`" in card.text and "Arena preference data" in card.text
    assert len(datasets.load_from_disk(str(tmp_path / "e" / "prompts"))) == n_images

    # the exported rows are what stock TRL's KTOTrainer reads (images and text-only rows alike)
    from transformers import AutoModelForImageTextToText
    from trl import KTOConfig, KTOTrainer

    from vlcultura.testing import build_tiny_vlm, load_tiny_processor

    path = build_tiny_vlm("smolvlm", tmp_path / "tiny", seed=0)
    args = KTOConfig(output_dir=str(tmp_path / "kto"), num_train_epochs=1, per_device_train_batch_size=4,
                     use_cpu=True, bf16=False, max_length=None, report_to=[], save_strategy="no",
                     desirable_weight=weights["desirable_weight"], undesirable_weight=weights["undesirable_weight"])
    trainer = KTOTrainer(model=AutoModelForImageTextToText.from_pretrained(path), args=args,
                         processing_class=load_tiny_processor(path), train_dataset=splits["train"])
    result = trainer.train()
    assert result.global_step == -(-len(splits["train"]) // 4)
