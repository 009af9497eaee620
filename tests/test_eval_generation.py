"""Captioning for evaluation on tiny real VLMs: base vs adapter end to end, left-padded batches,
resume after a kill, recorded failures."""
from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from cohere_server import cohere_server_factory  # noqa: F401  (fixture)
from generate_helpers import use_server
from train_helpers import kto_rows, tiny_recipe
from vlcultura.cards.model_card import load_eval_results
from vlcultura.cli import app
from vlcultura.config import ModelConfig, dump_config, load_config
from vlcultura.eval.eval_set import EvalImage, load_eval_images
from vlcultura.eval.evaluate import evaluate
from vlcultura.eval.generation import CaptionCache, Decoding, caption_images
from vlcultura.eval.systems import load_system, system_id
from vlcultura.testing import build_tiny_vlm
from vlcultura.train.trainer import train


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    """A tiny SmolVLM, a KTO DatasetDict with cultural metadata, and a 1-step adapter."""
    from datasets import Dataset, DatasetDict

    root = tmp_path_factory.mktemp("evalgen")
    model_dir = build_tiny_vlm("smolvlm", root / "base", seed=0)
    rows = kto_rows(8)
    rows["country"] = ["BO"] * 8
    rows["labels"] = [["salteña"] if i % 4 < 2 else ["cuñapé"] for i in range(8)]
    data = Dataset.from_dict(rows)
    DatasetDict(train=data, test=data).save_to_disk(str(root / "kto"))
    config = tiny_recipe(model_dir, root / "kto", root / "adapter", max_steps=1, emissions={"enabled": False})
    train(config)
    config = config.model_copy(update={"eval": config.eval.model_copy(update=dict(
        output_dir=str(root / "eval"), max_new_tokens=8, batch_size=3, bootstrap_samples=50, meteor=False))})
    recipe = root / "recipe.yaml"
    dump_config(config, recipe)
    return root, recipe


def test_evaluate_base_vs_adapter_from_the_cli(setup):
    root, recipe = setup
    result = CliRunner().invoke(app, ["evaluate", "--config", str(recipe)])
    assert result.exit_code == 0, result.output
    out = root / "eval"
    summary = json.loads((out / "scores.json").read_text(encoding="utf-8"))
    assert set(summary["systems"]) == {"base", "tuned"} and summary["info"]["images"] == 4
    assert "tuned" in summary["comparisons"] and "label coverage" in summary["systems"]["tuned"]
    assert summary["info"]["tuned"].startswith("adapter: ")
    assert any("IDF: fixed, from the train split" in n for n in summary["notes"]["tuned"])
    for name in ("base", "tuned"):
        lines = (out / "captions" / f"{name}.jsonl").read_text(encoding="utf-8").splitlines()
        assert len(lines) == 4 and all(json.loads(line)["error"] is None for line in lines)
    assert load_eval_results(out / "model_index.json")  # the Model Card reads it
    assert (out / "report.html").is_file() and (out / "plots" / "win_rate_tuned.png").is_file()


def test_resume_after_a_kill_captions_only_what_is_missing(setup, tmp_path):
    root, recipe = setup
    config = load_config(recipe, {"eval.output_dir": str(tmp_path / "ev"), "eval.include_base": False})
    first = evaluate(config)
    cache = tmp_path / "ev" / "captions" / "tuned.jsonl"
    lines = cache.read_text(encoding="utf-8").splitlines()
    cache.write_text("\n".join(lines[:2]) + "\n" + lines[2][:15], encoding="utf-8")  # killed mid-write
    second = evaluate(config)
    after = cache.read_text(encoding="utf-8").splitlines()
    assert len(after) == 5  # 2 kept + the cut line + the 2 missing captions, nothing duplicated
    rows = [json.loads(x) for x in first.files["per_image"].read_text().splitlines()]
    rows2 = [json.loads(x) for x in second.files["per_image"].read_text().splitlines()]
    assert [r["tuned"]["caption"] for r in rows] == [r["tuned"]["caption"] for r in rows2]
    changed = evaluate(load_config(recipe, {"eval.output_dir": str(tmp_path / "ev"), "eval.include_base": False,
                                            "eval.max_new_tokens": 4}))
    assert len(cache.read_text(encoding="utf-8").splitlines()) == 9  # new settings: all 4 again
    assert changed.summary["info"]["decoding"] != first.summary["info"]["decoding"]


@pytest.mark.parametrize("family", ["smolvlm", "gemma3", "qwen2_5_vl"])
def test_left_padded_batches_match_one_by_one(setup, tmp_path, family):
    root, _ = setup
    model_cfg = ModelConfig(name_or_path=str(build_tiny_vlm(family, tmp_path / family, seed=0)))
    items, _ = load_eval_images(root / "kto", "test")
    model, processor = load_system("model", model_cfg, model_cfg.name_or_path)
    model_id = system_id("model", model_cfg, model_cfg.name_or_path)
    decoding = Decoding(max_new_tokens=6)
    batched, _ = caption_images(model, processor, items, decoding, CaptionCache(tmp_path / "a.jsonl"), model_id, 4)
    single, _ = caption_images(model, processor, items, decoding, CaptionCache(tmp_path / "b.jsonl"), model_id, 1)
    assert batched == single and len(batched) == 4


def test_a_failing_image_is_recorded_and_the_rest_captioned(setup, tmp_path):
    root, recipe = setup
    config = load_config(recipe)
    items, _ = load_eval_images(root / "kto", "test")
    model, processor = load_system("base", config.model)
    model_id = system_id("base", config.model)
    decoding = Decoding(max_new_tokens=6)
    broken = EvalImage("broken", items[0].prompt, [], ["x"])  # a placeholder without its image
    cache = CaptionCache(tmp_path / "c.jsonl")
    got, problems = caption_images(model, processor, [broken, items[1]], decoding, cache, model_id, 2)
    alone, _ = caption_images(model, processor, [items[1]], decoding, CaptionCache(tmp_path / "d.jsonl"), model_id, 1)
    assert list(got) == [items[1].id] and got == alone
    assert len(problems) == 1 and problems[0].startswith("image broken: captioning failed (")
    logged = [json.loads(x) for x in (tmp_path / "c.jsonl").read_text().splitlines()]
    assert any(r["id"] == "broken" and r["error"] for r in logged)
    assert "broken" not in caption_images(model, processor, [broken], decoding, CaptionCache(tmp_path / "c.jsonl"),
                                          model_id, 1)[0]  # retried on resume, still recorded, never cached


def test_evaluate_without_dataset_says_what_to_set(tmp_path):
    runner = CliRunner()
    recipe = tmp_path / "r.yaml"
    recipe.write_text("eval:\n  output_dir: " + str(tmp_path / "o") + "\n", encoding="utf-8")
    result = runner.invoke(app, ["evaluate", "--config", str(recipe)])
    assert result.exit_code == 2 and "set eval.dataset" in result.output


def test_evaluate_with_the_judge_and_a_judge_stop(setup, tmp_path, monkeypatch, cohere_server_factory):
    root, recipe = setup
    server = cohere_server_factory()
    use_server(monkeypatch, server)
    fast = {"eval.judge": True, "eval.output_dir": str(root / "eval"), "generate.cohere.requests_per_minute": 60000,
            "generate.cohere.backoff_s": 0.01}
    run = evaluate(load_config(recipe, fast))
    for name in ("base", "tuned"):
        assert {"judge CLAIR", "judge mean"} <= set(run.summary["systems"][name])
    assert "judge CLAIR" in run.summary["comparisons"]["tuned"]
    rows = [json.loads(x) for x in run.files["per_image"].read_text(encoding="utf-8").splitlines()]
    distinct = {(r["id"], r[name]["caption"]) for r in rows for name in ("base", "tuned")}
    assert sum(e.images for e in server.log) == len(distinct)  # same caption of same image: paid once
    assert not any(e.exif_seen for e in server.log)
    monkeypatch.delenv("CO_API_KEY")
    stopped = evaluate(load_config(recipe, {**fast, "eval.judge_ledger_path": str(tmp_path / "new.sqlite")}))
    assert any("judge stopped" in p and "CO_API_KEY" in p for p in stopped.problems)
    assert "judge CLAIR" not in stopped.summary["systems"]["tuned"]  # the rest of the report is there


def test_coco_without_java_fails_before_any_captioning(setup, tmp_path, monkeypatch):
    root, recipe = setup
    monkeypatch.setenv("PATH", str(tmp_path / "no-java-here"))
    config = load_config(recipe, {"eval.output_dir": str(tmp_path / "ev"), "eval.tokenizer": "coco"})
    with pytest.raises(RuntimeError, match="needs Java"):
        evaluate(config)
    assert not (tmp_path / "ev" / "captions").exists()


def test_merged_adapter_captions_like_base_plus_adapter(setup, tmp_path):
    from vlcultura.train.merge import merge_and_save

    root, recipe = setup
    merge_and_save(root / "adapter")
    runs = {kind: evaluate(load_config(recipe, {"eval.output_dir": str(tmp_path / kind), "eval.include_base": False,
                                                "eval.tuned_kind": kind}))
            for kind in ("adapter", "merged")}
    captions = {kind: [json.loads(x)["tuned"]["caption"] for x in run.files["per_image"].read_text().splitlines()]
                for kind, run in runs.items()}
    assert captions["merged"] == captions["adapter"]
    assert runs["merged"].summary["info"]["tuned"].startswith("merged: ")


def test_local_vlm_judge_is_cached_and_reports_unreadable_answers(setup, tmp_path):
    root, recipe = setup
    overrides = {"eval.output_dir": str(tmp_path / "ev"), "eval.judge": True, "eval.judge_backend": "local",
                 "eval.judge_model": str(root / "base"), "eval.include_base": False}
    run = evaluate(load_config(recipe, overrides))
    tuned = run.summary["systems"]["tuned"]
    assert {"judge CLAIR", "judge cultural_accuracy", "judge mean"} <= set(tuned)
    # a random tiny model writes no readable score: NaN, and every image says why
    assert tuned["judge CLAIR"]["value"] is None
    assert sum("local CLAIR for image" in p for p in run.problems) == 4
    assert any(n.startswith(f"judge: local {root / 'base'}") for n in run.summary["notes"]["tuned"])
    cache = tmp_path / "ev" / "captions" / "judge-rubric.jsonl"
    before = cache.read_text(encoding="utf-8")
    evaluate(load_config(recipe, overrides))
    assert cache.read_text(encoding="utf-8") == before  # judged once


def test_parse_scores_reads_json_fenced_json_and_plain_text():
    from vlcultura.eval.local_judge import parse_scores

    names = ("specificity", "respect")
    assert parse_scores('```json\n{"specificity": {"score": 4, "reason": "ok"}, "respect": 5}\n```', names, 1, 5) \
        == {"specificity": 4.0, "respect": 5.0}
    assert parse_scores("specificity: 3\nrespect = 9", names, 1, 5) == {"specificity": 3.0}  # 9 is out of range
    assert parse_scores('{"score": 85, "reason": "same dish"}', ["score"], 0, 100) == {"score": 85.0}
    assert parse_scores("no idea", names, 1, 5) == {}
