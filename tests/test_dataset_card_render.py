"""The Dataset Card: rendered from the data and the reports, and valid for huggingface_hub."""
from __future__ import annotations

import datasets
import pytest
from arena_helpers import rows as arena_rows
from arena_helpers import write as write_arena
from quality_helpers import candidates_dataset

from vlcultura.cards.dataset_card import CardError, render_dataset_card, validate_card
from vlcultura.config import FilterConfig, JudgeConfig
from vlcultura.data.arena import convert_arena
from vlcultura.data.filters import filter_dataset
from vlcultura.data.judge import judge_dataset
from vlcultura.data.kto import recommend_kto_weights, split_by_group, to_kto

REVIEW = {"dataset": "vlcultura-review", "reviewed_records": 12, "flipped": 2, "corrections": 3,
          "unresolved_excluded": 1, "unresolved_to_undesirable": 0,
          "reviews_per_reviewer": {"ana.gomez": 8, "luis.p": 6},
          "agreement": {"records_with_several_reviews": 4, "percent_agreement": 75.0, "fleiss_kappa": 0.512}}


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory):
    """Filter -> rules judge -> KTO rows split by image, plus the Arena report."""
    tmp = tmp_path_factory.mktemp("card")
    kept, filter_report = filter_dataset(candidates_dataset(copies=3), FilterConfig())
    judged, judge_report = judge_dataset(kept, JudgeConfig(backend="rules"))
    splits = split_by_group(to_kto(judged), 0.25, seed=0)
    arena_report = convert_arena(str(write_arena(arena_rows("raw"), tmp / "a.csv")), tmp / "arena")
    n_d = sum(splits["train"]["label"])
    weights = recommend_kto_weights(n_d, len(splits["train"]) - n_d)
    return tmp, splits, [filter_report, judge_report, arena_report], weights


def _render(pipeline, plots=False, **kw):
    tmp, splits, reports, weights = pipeline
    return render_dataset_card(splits, repo_id="somosnlp-hackathon-2026/comida_bolivia_images_kto",
                               weights=weights, reports=reports, plots_dir=tmp / "plots" if plots else None, **kw)


def test_card_renders_validates_and_counts_come_from_the_data(pipeline):
    tmp, splits, _, weights = pipeline
    text = _render(pipeline, plots=True, review=REVIEW, code_url="https://github.com/example/vlcultura")
    card = validate_card(text)
    assert card.data.license == "apache-2.0" and card.data.language == ["es", "pt"]
    assert card.data.configs[0]["data_files"] == [{"split": "train", "path": "data/train-*"},
                                                  {"split": "test", "path": "data/test-*"}]
    rows = datasets.concatenate_datasets(list(splits.values()))
    bo = rows.filter(lambda r: r["country"] == "BO")
    n_bo_d = sum(bo["label"])
    assert f"| BO | {n_bo_d} | {len(bo) - n_bo_d} |" in card.text
    assert f"{len(rows)} rows (train: {len(splits['train'])}, test: {len(splits['test'])})" in card.text
    assert f"`desirable_weight={weights['desirable_weight']}`" in card.text
    assert "(deterministic heuristics, not a language model)" in card.text
    assert "| records reviewed | 12 |" in card.text and "| Fleiss' kappa | 0.512 |" in card.text
    assert "ana.gomez" not in card.text  # reviewer names are not statistics
    assert "**Share-alike:**" in card.text and "CC BY-SA 4.0" in card.text
    assert "Arena votes: chosen answers average" in card.text and "tie 1" in card.text
    assert "es-AR" in card.text.split("Language varieties with no rows:")[1].splitlines()[0]
    assert "(https://github.com/example/vlcultura)" in card.text
    assert "| [datasets](https://github.com/huggingface/datasets) | " in card.text
    for png in ("labels_by_country.png", "judge_scores.png"):
        assert (tmp / "plots" / png).read_bytes()[:4] == b"\x89PNG" and f"plots/{png}" in card.text


def test_without_review_the_card_says_so_and_license_is_configurable(pipeline):
    text = _render(pipeline, license="cc-by-sa-4.0")
    card = validate_card(text)
    assert card.data.license == "cc-by-sa-4.0"
    assert "no human review was recorded" in card.text


def test_no_share_alike_note_without_share_alike_rows(pipeline):
    tmp, splits, reports, weights = pipeline
    mit = splits.map(lambda r: {"license": "MIT"})
    text = render_dataset_card(mit, repo_id="x/comida_bolivia_images_kto", reports=reports)
    assert "Share-alike" not in text and "| MIT |" in text


def test_validate_card_rejects_broken_cards(pipeline):
    text = _render(pipeline)
    with pytest.raises(CardError, match="license"):
        validate_card(text.replace("license: apache-2.0\n", ""))
    with pytest.raises(CardError, match="## Bias"):
        validate_card(text.replace("## Bias", "## Sesgos"))
    with pytest.raises(CardError, match="does not parse"):
        validate_card("---\n- just\n- a list\n---\n# x\n")


def test_real_landmark_photos_keep_their_licenses_and_share_alike(shared_data, tmp_path):
    """Shared Wikimedia photos (CC BY-SA 4.0 and CC0) -> ingest -> generate -> export -> card."""
    from vlcultura.config import ExportConfig, GenerateConfig, IngestConfig
    from vlcultura.data.export import export_dataset, load_rows
    from vlcultura.data.generate import generate
    from vlcultura.data.ingest import ingest

    ingest(str(shared_data / "images" / "landmarks" / "metadata.json"), tmp_path / "ing",
           IngestConfig(columns={"attribution": "author"}, default_topic="arquitectura"))
    gen = generate(tmp_path / "ing", tmp_path / "gen", GenerateConfig(backend="template"),
                   progress=False, log=lambda m: None)
    result = export_dataset(load_rows(gen.dataset_path), tmp_path / "e",
                            ExportConfig(name="arquitectura_latam_images_kto", test_fraction=0.5))
    rows = datasets.concatenate_datasets(list(datasets.load_from_disk(str(tmp_path / "e" / "kto")).values()))
    by_author = {r["attribution"]: r["license"] for r in rows.select_columns(["attribution", "license"])}
    assert by_author["Daniel Schwen"] == "CC BY-SA 4.0" and by_author["Guillaume Pascal"] == "CC0-1.0"
    card = validate_card((result.kto_repo_dir / "README.md").read_text())
    n_sa = sum(lic == "CC BY-SA 4.0" for lic in rows["license"])
    assert n_sa and f"**Share-alike:** {n_sa} rows carry a share-alike license" in " ".join(card.text.split())
