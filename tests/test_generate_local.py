"""The local backend on a tiny random VLM built offline: batched on-policy captions, labelled provisionally."""
from __future__ import annotations

import shutil

import datasets
from generate_helpers import ingested

from vlcultura.config import GenerateConfig
from vlcultura.data.generate import generate
from vlcultura.data.generators.local import provisional_label
from vlcultura.data.ledger import Ledger
from vlcultura.records import ImageMeta, NegativeType
from vlcultura.testing import build_tiny_vlm


def test_provisional_label_names_the_gold_label_or_is_generic():
    meta = ImageMeta(labels=["Cuñapé"])
    assert provisional_label(meta, "Unos cuñapés recién horneados") == (True, None)
    assert provisional_label(meta, "Unos panes en una mesa") == (False, NegativeType.GENERIC)


def test_local_backend_captions_in_batches_and_reuses_the_ledger(tmp_path):
    model = build_tiny_vlm("smolvlm", tmp_path / "tiny")
    inp = ingested(tmp_path)
    n_images = datasets.load_from_disk(str(inp / "dataset")).num_rows
    config = GenerateConfig(backend="local", local_model=str(model), local_batch_size=4,
                            local_max_new_tokens=6, desirable_per_image=1)
    result = generate(inp, tmp_path / "gen", config, progress=False, log=lambda m: None)
    assert result.errors == [] and result.backend == "local"
    ds = datasets.load_from_disk(str(result.dataset_path))
    assert ds.num_rows == n_images
    assert set(ds["strategy"]) == {"local:on_policy"} and set(ds["model"]) == {str(model)}
    for row in ds:
        assert (row["label"], row["negative_type"]) in {(True, None), (False, "generic")}
        assert not any(lbl in row["prompt"] for lbl in row["labels"])  # the inference prompt, no metadata
    with Ledger(result.ledger_path) as ledger:
        assert ledger.report()[0]["done"] == n_images and ledger.report()[0]["cost_usd"] == 0

    # a re-run reads every caption back from the ledger: the model is not even loaded
    shutil.rmtree(model)
    again = generate(inp, tmp_path / "gen", config, progress=False, log=lambda m: None)
    assert again.errors == []
    assert datasets.load_from_disk(str(again.dataset_path))["completion"] == ds["completion"]
