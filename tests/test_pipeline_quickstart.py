"""`vlcultura run configs/quickstart.yaml`: offline, end to end, and everything it wrote loads."""
from __future__ import annotations

import pytest
from pipeline_helpers import QUICKSTART, quickstart_run, vlcultura

from vlcultura.stages import AUTO_REVIEWER, STAGES
from vlcultura.run_layout import RunLayout

pytestmark = pytest.mark.timeout(900)


@pytest.fixture(scope="module")
def quickstart(tmp_path_factory):
    out, run = quickstart_run(tmp_path_factory.getbasetemp())
    assert run.returncode == 0, run.output[-6000:]
    return RunLayout.at(out), run


def test_quickstart_runs_every_stage_offline_and_says_its_defaults(quickstart):
    layout, run = quickstart
    print(f"quickstart wall time: {run.seconds:.1f} s")
    assert all(layout.is_done(stage) for stage in STAGES)
    assert "no Cohere key" in run.output and "template" in run.output and "offline rules" in run.output
    assert "no Argilla server configured" in run.output and "auto-accepted" in run.output
    assert "tiny random-weight smolvlm" in run.output
    for stage in STAGES:  # the closing summary table names every stage
        assert stage in run.output.rsplit("vlcultura run:", 1)[-1]
    assert (layout.recipe_path.read_text() == QUICKSTART.read_text())


def test_kto_dataset_loads_with_the_challenge_columns_and_honest_review(quickstart):
    from datasets import load_from_disk

    layout, _ = quickstart
    kto = load_from_disk(str(layout.output("export", "dataset")))
    assert set(kto) == {"train", "test"}
    assert layout.output("export", "dataset").parent.name == "export"
    name = layout.done_record("export")["summary"]["repo_id"]
    assert name.endswith("_images_kto")
    train = kto["train"]
    assert {"prompt", "completion", "label", "images"} <= set(train.column_names)
    assert set(train["label"]) == {True, False}
    assert set(train["review_by"]) == {AUTO_REVIEWER} and set(train["review_votes"]) == {0}
    train_images = set(train["image_id"])
    assert train_images and not train_images & set(kto["test"]["image_id"])  # split by image


def test_both_cards_validate_and_say_what_happened(quickstart):
    from vlcultura.cards.dataset_card import validate_card
    from vlcultura.cards.model_card import validate_model_card

    layout, _ = quickstart
    dataset_card = (layout.output("export", "kto_repo") / "README.md").read_text(encoding="utf-8")
    validate_card(dataset_card)
    assert "no human review was recorded" in dataset_card  # auto-accepted rows are not passed off as reviewed
    model_card = layout.output("train", "model_card").read_text(encoding="utf-8")
    card = validate_model_card(model_card)
    assert card.data.library_name == "peft"


def test_adapter_loads_and_generates(quickstart):
    from datasets import load_from_disk

    from vlcultura.train.merge import generate, load_for_generation

    layout, _ = quickstart
    model, processor = load_for_generation(layout.output("train", "adapter"))
    assert type(model).__name__.startswith("Peft")
    test = load_from_disk(str(layout.output("export", "dataset")))["test"]
    captions = generate(model, processor, [test[0]["images"][0], test[1]["images"][0]], "Describe la imagen.",
                        max_new_tokens=8)
    assert len(captions) == 2 and all(isinstance(c, str) for c in captions)


def test_evaluation_report_exists(quickstart):
    layout, _ = quickstart
    import json

    report = layout.output("evaluate", "report")
    assert report.is_file() and "tuned" in report.read_text(encoding="utf-8")
    scores = json.loads(layout.output("evaluate", "scores").read_text(encoding="utf-8"))
    assert {"base", "tuned"} <= set(scores["systems"])  # base vs tuned
    model_card = layout.output("train", "model_card").read_text(encoding="utf-8")
    assert "model-index" in model_card  # the Model Card carries the evaluation


def test_emissions_were_measured(quickstart):
    layout, _ = quickstart
    emissions = layout.output("train", "emissions")
    header = emissions.read_text(encoding="utf-8").splitlines()[0]
    assert "emissions" in header and "duration" in header


def test_rerun_skips_every_finished_stage(quickstart):
    layout, _ = quickstart
    before = {s: layout.done_record(s)["finished_at"] for s in STAGES}
    rerun = vlcultura("run", str(QUICKSTART), "--output", str(layout.root))
    assert rerun.returncode == 0, rerun.output[-3000:]
    assert rerun.output.count("skipped (done)") == len(STAGES)
    assert {s: layout.done_record(s)["finished_at"] for s in STAGES} == before


def test_the_python_in_docs_quickstart_runs_on_the_output(quickstart, tmp_path):
    import re
    import subprocess
    import sys

    from pipeline_helpers import ROOT, offline_env

    layout, _ = quickstart
    doc = (ROOT / "docs" / "quickstart.md").read_text(encoding="utf-8")
    code = "\n".join(re.findall(r"```python\n(.*?)```", doc, re.S))
    (tmp_path / "outputs").mkdir()
    (tmp_path / "outputs" / "quickstart").symlink_to(layout.root)
    proc = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=offline_env(), capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "tuned" in proc.stdout  # the start of the evaluation report
