"""Export: KTO row format, split by image without leakage, weights, EXIF, Hub folders, push guard."""
from __future__ import annotations

import io
import json
import random

import datasets
import pytest
from arena_helpers import rows as arena_rows
from arena_helpers import write as write_arena
from PIL import Image
from quality_helpers import candidates_dataset
from typer.testing import CliRunner

from vlcultura.cards.dataset_card import validate_card
from vlcultura.cli import app
from vlcultura.config import ExportConfig
from vlcultura.data.arena import convert_arena
from vlcultura.data.dataset_repo import MissingTokenError, push_dataset_repo, split_parquet_path
from vlcultura.data.export import export_dataset
from vlcultura.data.kto import (KTO_HIGH, KTO_LOW, LeakageError, assert_no_leakage, recommend_kto_weights,
                                split_by_group, to_kto)


def test_kto_rows_are_conversational_with_image_placeholders():
    kto = to_kto(candidates_dataset(copies=1))
    row = kto[0]
    assert row["prompt"] == [{"role": "user", "content": [
        {"type": "image", "text": None},
        {"type": "text", "text": "Describe la imagen como lo haría una persona del lugar."}]}]
    assert row["completion"][0]["role"] == "assistant"
    assert row["completion"][0]["content"][0]["text"].startswith("Unos cuñapés dorados")
    assert row["label"] is True and isinstance(row["images"][0], Image.Image)
    assert {"country", "variety", "topic", "negative_type", "license", "attribution", "image_id"} <= set(kto.column_names)
    assert "image" not in kto.column_names


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_split_by_image_no_leakage_and_stratified(seed):
    kto = to_kto(candidates_dataset(copies=5))
    splits = split_by_group(kto, test_fraction=0.2, seed=seed)
    train_imgs, test_imgs = set(splits["train"]["image_id"]), set(splits["test"]["image_id"])
    assert not train_imgs & test_imgs
    assert len(splits["train"]) + len(splits["test"]) == len(kto)
    for country in ("BO", "MX", "PE", "BR"):  # 5 images each: 1 to test, 4 to train, in every stratum
        assert sum(i.startswith(f"img-{country.lower()}") for i in test_imgs) == 1
        assert sum(i.startswith(f"img-{country.lower()}") for i in train_imgs) == 4


def test_leakage_is_detected():
    kto = to_kto(candidates_dataset(copies=1))
    leaky = datasets.DatasetDict(train=kto.select([0, 1]), test=kto.select([2]))  # same image
    with pytest.raises(LeakageError, match="img-bo-0"):
        assert_no_leakage(leaky)


def test_arena_text_rows_mix_in_and_split_by_question(tmp_path):
    convert_arena(str(write_arena(arena_rows("raw"), tmp_path / "a.csv")), tmp_path / "arena")
    arena = datasets.load_from_disk(str(tmp_path / "arena" / "kto"))
    result = export_dataset(candidates_dataset(copies=2), tmp_path / "out", ExportConfig(),
                            arena_rows=arena)
    splits = datasets.load_from_disk(str(tmp_path / "out" / "kto"))
    text_rows = [r for s in splits.values() for r in s if not r["images"]]
    assert len(text_rows) == 8 and {r["source"] for r in text_rows} == {"arena"}
    sides = {}
    for name, split in splits.items():
        for r in split:
            if not r["images"]:
                sides.setdefault(r["pair_id"], set()).add(name)
    assert all(len(v) == 1 for v in sides.values())  # both rows of a question stay together
    assert result.balance["total"] == {"desirable": 16 + 4, "undesirable": 16 + 4}


def test_recommended_weights_always_inside_the_kto_interval():
    rng = random.Random(0)
    cases = [(1, 1), (1, 6), (6, 1), (4, 3), (3, 4), (100, 75), (2, 700), (999, 1)]
    cases += [(rng.randint(1, 5000), rng.randint(1, 5000)) for _ in range(200)]
    for n_d, n_u in cases:
        w = recommend_kto_weights(n_d, n_u)
        ratio = w["desirable_weight"] * n_d / (w["undesirable_weight"] * n_u)
        assert KTO_LOW <= ratio <= KTO_HIGH, (n_d, n_u, w)
        assert min(w["desirable_weight"], w["undesirable_weight"]) == 1.0
    assert recommend_kto_weights(10, 30)["desirable_weight"] == 3.0
    assert recommend_kto_weights(40, 10)["undesirable_weight"] == 3.0
    with pytest.raises(ValueError, match="both classes"):
        recommend_kto_weights(0, 5)


def test_export_writes_datasets_weights_and_hub_folders(tmp_path):
    out = tmp_path / "out"
    result = export_dataset(candidates_dataset(copies=3, exif_first=True), out, ExportConfig())
    assert result.repo_id == "somosnlp-hackathon-2026/comida_bolivia_images_kto"
    weights = json.loads((out / "kto_weights.json").read_text())
    assert weights == result.weights and weights["weighted_ratio"] == 1.0
    on_disk = datasets.load_from_disk(str(out / "kto"))
    repo = result.kto_repo_dir
    assert json.loads((repo / "kto_weights.json").read_text()) == weights
    assert (repo / "plots" / "labels_by_country.png").read_bytes()[:4] == b"\x89PNG"
    for split in ("train", "test"):
        pq = datasets.load_dataset("parquet", data_files=str(repo / split_parquet_path(split)), split="train")
        assert len(pq) == len(on_disk[split]) and pq.column_names == on_disk[split].column_names
        for row in pq.cast_column("images", datasets.List(datasets.Image(decode=False))):
            with Image.open(io.BytesIO(row["images"][0]["bytes"])) as img:
                assert not img.getexif() and "exif" not in img.info  # GPS/EXIF never leaves
    card = validate_card((repo / "README.md").read_text())
    assert card.data.license == "apache-2.0"
    prompts = datasets.load_from_disk(str(out / "prompts"))
    assert len(prompts) == result.n_prompts == 12 and "prompt" in prompts.column_names
    assert (result.prompts_repo_dir / split_parquet_path("train")).is_file()
    assert result.warnings and "fewer than the 100" in result.warnings[0]


def test_push_without_token_is_a_clear_error_before_any_network(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")  # would refuse a connection if reached
    result = export_dataset(candidates_dataset(copies=2), tmp_path / "out", ExportConfig())
    with pytest.raises(MissingTokenError, match="HF_TOKEN"):
        push_dataset_repo(result.kto_repo_dir, result.repo_id)
    cli = CliRunner().invoke(app, ["export", "--input", str(tmp_path / "out" / "kto"), "--out",
                                   str(tmp_path / "again"), "--push"])
    assert cli.exit_code != 0 and "HF_TOKEN" in str(cli.exception)
    assert not (tmp_path / "again").exists()  # refused before doing any work


def test_cli_export_rejects_bad_names_and_writes_good_ones(tmp_path):
    candidates_dataset(copies=2).save_to_disk(str(tmp_path / "cands"))
    bad = CliRunner().invoke(app, ["export", "-i", str(tmp_path / "cands"), "-o", str(tmp_path / "bad"),
                                   "--name", "comida_bolivia_kto"])
    assert bad.exit_code == 1 and "must contain 'image'" in bad.output
    assert not (tmp_path / "bad").exists()
    good = CliRunner().invoke(app, ["export", "-i", str(tmp_path / "cands"), "-o", str(tmp_path / "good"),
                                    "--name", "utensilios_ecuador_images_kto"])
    assert good.exit_code == 0, good.output
    assert "KTO weights" in good.output and (tmp_path / "good" / "hub" / "utensilios_ecuador_images_kto").is_dir()


def test_push_uploads_exactly_the_assembled_folder(tmp_path, monkeypatch):
    import huggingface_hub.constants
    from hub_server import LoopbackHub

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", False)  # the loopback is allowed
    result = export_dataset(candidates_dataset(copies=2), tmp_path / "out", ExportConfig())
    local = {p.relative_to(result.kto_repo_dir).as_posix(): p.read_bytes()
             for p in result.kto_repo_dir.rglob("*") if p.is_file()}
    with LoopbackHub("hf_test_token_do_not_leak") as hub:
        monkeypatch.setenv("HF_TOKEN", "hf_test_token_do_not_leak")
        url = push_dataset_repo(result.kto_repo_dir, result.repo_id, endpoint=hub.endpoint)
        repo = hub.state.repos[("dataset", result.repo_id)]
    assert "/commit/" in url and repo["private"] is False
    assert repo["files"] == local
    assert {"README.md", "kto_weights.json", "data/train-00000-of-00001.parquet",
            "data/test-00000-of-00001.parquet"} <= set(local)
    assert not any(b"hf_test_token_do_not_leak" in data for data in local.values())


def test_strip_exif_removes_exif_and_xmp_and_keeps_pixels():
    from vlcultura.data.kto import strip_exif

    img = Image.new("RGB", (16, 16), (90, 40, 10))
    exif = Image.Exif()
    exif[0x8825] = {2: (19.0, 25.0, 0.0)}
    buf = io.BytesIO()
    img.save(buf, "JPEG", exif=exif.tobytes(), xmp=b"<x:xmpmeta>gps</x:xmpmeta>")
    clean = strip_exif({"bytes": buf.getvalue(), "path": None})["bytes"]
    with Image.open(io.BytesIO(clean)) as out:
        assert not len(out.getexif()) and "xmp" not in out.info and out.format == "JPEG"
        assert max(abs(a - b) for a, b in zip(out.getpixel((8, 8)), (90, 40, 10))) <= 3
    already_clean = io.BytesIO()
    img.save(already_clean, "PNG")
    assert strip_exif({"bytes": already_clean.getvalue()})["bytes"] == already_clean.getvalue()


def test_cli_push_refuses_a_prompts_dataset_under_100(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_TOKEN", "hf_test_token")
    candidates_dataset(copies=1).save_to_disk(str(tmp_path / "cands"))
    result = CliRunner().invoke(app, ["export", "-i", str(tmp_path / "cands"), "-o", str(tmp_path / "e"), "--push"])
    assert result.exit_code == 1
    assert "not pushed" in result.output and "at least 100 prompts; it has 4" in result.output
    assert "hf_test_token" not in result.output


def test_export_report_lists_groups_per_stratum(tmp_path):
    export_dataset(candidates_dataset(copies=3), tmp_path / "out", ExportConfig(test_fraction=0.34))
    report = json.loads((tmp_path / "out" / "export_report.json").read_text())
    assert report["stats"]["groups_per_stratum"] == {
        f"{c}|{v}": {"train": 2, "test": 1} for c, v in (("BO", "es-BO"), ("BR", "pt-BR"), ("MX", "es-MX"), ("PE", "es-PE"))}
