"""COCO parity: our pure-Python BLEU/ROUGE-L/CIDEr-D (+ METEOR through the jar) reproduce the
published pycocoevalcap numbers on the shared 1,000-image set to 4 decimals."""
from __future__ import annotations

import json

import pytest

from eval_helpers import PARITY_EXPECTED, JAVA_WHY, has_java, load_parity, parity_files
from conftest import require
from vlcultura.eval.scoring import score_system


@pytest.fixture(scope="module")
def parity_scores(shared_data):
    require("java", has_java(), JAVA_WHY)
    ids, preds, refs = load_parity(shared_data)
    return score_system(ids, preds, refs, tokenizer="coco", use_meteor=True)


@pytest.mark.parametrize("metric", sorted(PARITY_EXPECTED))
def test_all_seven_coco_numbers(parity_scores, metric):
    assert round(parity_scores.metrics[metric].value, 4) == PARITY_EXPECTED[metric]


def test_score_cli_json_matches_parity(shared_data, tmp_path):
    require("java", has_java(), JAVA_WHY)
    from typer.testing import CliRunner

    from vlcultura.cli import app

    refs, preds = parity_files(shared_data)
    result = CliRunner().invoke(app, ["score", "-r", str(refs), "-p", str(preds), "--json", "--no-meteor",
                                      "--bootstrap", "50"])
    assert result.exit_code == 0, result.output
    system = json.loads(result.stdout)["systems"]["system"]
    assert round(system["CIDEr-D"]["value"], 4) == PARITY_EXPECTED["CIDEr-D"]
    assert system["CIDEr-D"]["ci_low"] < system["CIDEr-D"]["value"] < system["CIDEr-D"]["ci_high"]
