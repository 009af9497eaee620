"""The cohere backend end to end: real `cohere` client, loopback server, real SQLite and datasets."""
from __future__ import annotations

import json
import logging
from collections import Counter, deque
from pathlib import Path

import datasets
import pytest
from cohere_server import cohere_server_factory  # noqa: F401  (fixture)
from generate_helpers import cohere_config, handmade_dataset, ingested, jpeg, photo, use_server
from PIL import Image

from vlcultura.data.generate import generate
from vlcultura.data.ledger import Ledger
from vlcultura.records import NegativeType

N_TYPES = len(NegativeType)


def _all_bytes(folder: Path) -> bytes:
    return b"".join(p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file())


def test_cohere_end_to_end_no_key_or_exif_leaves_and_rerun_pays_nothing(tmp_path, monkeypatch, caplog,
                                                                        cohere_server_factory):
    server = cohere_server_factory()
    use_server(monkeypatch, server)
    inp = ingested(tmp_path)
    n_images = datasets.load_from_disk(str(inp / "dataset")).num_rows
    said: list[str] = []
    with caplog.at_level(logging.DEBUG):  # httpx/httpcore/cohere debug logs included
        result = generate(inp, tmp_path / "gen", cohere_config(), progress=False, log=said.append)
    assert caplog.records and server.key not in caplog.text and server.key not in " ".join(said)

    assert result.backend == "cohere" and result.errors == [] and result.stopped is None
    ds = datasets.load_from_disk(str(result.dataset_path))
    assert ds.num_rows == n_images * (2 + N_TYPES) == result.rows
    assert Counter(ds["label"]) == {True: 2 * n_images, False: N_TYPES * n_images}
    neg = ds.filter(lambda r: not r["label"])
    assert Counter(neg["negative_type"]) == {t.value: n_images for t in NegativeType}
    assert set(neg["strategy"]) == {f"rewrite:{t.value}" for t in NegativeType}
    assert set(ds["model"]) == {"command-a-vision-07-2025"} and set(ds["backend"]) == {"cohere"}
    # answers are the server's (derived from each request), not local fallbacks
    assert all(c.startswith("[description_") for c in ds.filter(lambda r: r["label"])["completion"])
    for row in ds.select(range(0, ds.num_rows, 7)):
        assert row["prompt"] and not any(lbl.lower() in row["prompt"].lower() for lbl in row["labels"])
        assert row["country"] and row["variety"] and row["ledger_key"]
    # two requests per image, each paid once, all authenticated, no EXIF and no key in any body
    log = server.log
    assert len(log) == 2 * n_images and all(e.auth_ok and e.billed for e in log)
    assert len(set(server.billed_keys())) == len(log)
    assert not any(e.exif_seen for e in log)
    assert sum(e.images for e in log) == n_images  # rewrites are text-only
    assert not any(server.key.encode() in body for body in server.bodies)
    # the key is nowhere on disk: ledger, dataset, config, errors
    assert server.key.encode() not in _all_bytes(tmp_path / "gen")
    for img in ds.select(range(0, ds.num_rows, 8))["image"]:
        assert not len(img.getexif()) and "exif" not in img.info
    with Ledger(result.ledger_path) as ledger:
        report = ledger.report()
    assert report[0]["done"] == 2 * n_images and report[0]["cost_usd"] > 0

    # a re-run rebuilds the same dataset from the ledger without a single new request
    again = generate(inp, tmp_path / "gen", cohere_config(), progress=False, log=lambda m: None)
    assert len(server.log) == len(log)
    assert datasets.load_from_disk(str(again.dataset_path))["completion"] == ds["completion"]


def test_faults_are_retried_and_billed_invalid_answers_are_recorded(tmp_path, monkeypatch, cohere_server_factory):
    faults_seen = ("429", "500", "503", "422", "malformed", "drop", "slow", "invalid_schema", "blank")
    faults = deque(faults_seen)
    server = cohere_server_factory(script=faults, slow_s=1.5)
    use_server(monkeypatch, server)
    inp = ingested(tmp_path)
    config = cohere_config(cohere={"timeout_s": 0.5, "concurrency": 2, "invalid_answer_retries": 5})
    result = generate(inp, tmp_path / "gen", config, progress=False, log=lambda m: None)

    assert result.errors == [] and result.stopped is None
    seen = Counter(e.fault for e in server.log)
    assert all(seen[f] == 1 for f in faults_seen)
    billed = Counter(server.billed_keys())
    assert sum(billed.values()) == len(billed) + 3  # malformed, off-schema and blank answers: paid, asked again
    assert all(c.strip() for c in datasets.load_from_disk(str(result.dataset_path))["completion"])
    with Ledger(result.ledger_path) as ledger:
        rows = ledger.report()[0]
        settled = rows["cost_usd"]
    prices = config.cohere.prices[config.cohere.model]
    server_cost = sum(e.input_tokens * prices.input_per_mtok + e.output_tokens * prices.output_per_mtok
                      for e in server.log if e.billed) / 1e6
    assert settled == pytest.approx(server_cost)  # every billed answer is in the ledger, invalid ones too


def test_monthly_quota_stops_cleanly_and_a_rerun_finishes(tmp_path, monkeypatch, cohere_server_factory):
    server = cohere_server_factory(monthly_limit=10)
    use_server(monkeypatch, server)
    inp = ingested(tmp_path)
    messages: list[str] = []
    first = generate(inp, tmp_path / "gen", cohere_config(), progress=False, log=messages.append)
    assert first.stopped and "monthly quota" in first.stopped
    assert any("stopped early" in m for m in messages)
    assert sum(e.billed for e in server.log) == 10
    partial = datasets.load_from_disk(str(first.dataset_path)).num_rows
    assert 0 < partial < first.rows + 1_000  # what was paid is written

    server.faults.monthly_limit = None
    second = generate(inp, tmp_path / "gen", cohere_config(), progress=False, log=lambda m: None)
    assert second.stopped is None and second.errors == []
    assert datasets.load_from_disk(str(second.dataset_path)).num_rows > partial
    assert max(Counter(server.billed_keys()).values()) == 1  # nothing paid twice across the two runs


def test_budget_cap_stops_the_stage_and_a_bigger_budget_resumes(tmp_path, monkeypatch, cohere_server_factory):
    server = cohere_server_factory(latency_s=0.05)
    use_server(monkeypatch, server)
    inp = ingested(tmp_path)
    prices = {"command-a-vision-07-2025": {"input_per_mtok": 5000.0, "output_per_mtok": 5000.0}}
    config = cohere_config(budget_usd=40.0, cohere={"prices": prices})
    first = generate(inp, tmp_path / "gen", config, progress=False, log=lambda m: None)
    assert first.stopped and "budget" in first.stopped and first.spent_usd <= 40.0
    charged = sum(e.input_tokens + e.output_tokens for e in server.log if e.billed) * 5000.0 / 1e6
    assert 0 < charged <= 40.0  # what the server billed stayed under the cap
    bigger = generate(inp, tmp_path / "gen", config.model_copy(update={"budget_usd": 1000.0}),
                      progress=False, log=lambda m: None)
    assert bigger.stopped is None and bigger.errors == []
    assert max(Counter(server.billed_keys()).values()) == 1


@pytest.mark.parametrize("backend", ["cohere", "template"])
def test_bad_rows_get_their_reason_and_the_rest_goes_on(tmp_path, monkeypatch, cohere_server_factory, backend):
    server = cohere_server_factory()
    use_server(monkeypatch, server)
    rows = [
        {"id": "a" * 16, "country": "BO", "image": {"bytes": jpeg(), "path": None}},
        {"id": "b" * 16, "country": "BO", "image": {"bytes": jpeg(exif=True), "path": None}},
        {"id": "c" * 16, "country": "BO", "image": {"bytes": b"\xff\xd8 not a jpeg", "path": None}},
        {"id": "d" * 16, "country": None, "image": {"bytes": jpeg(), "path": None}},
        {"id": "e" * 16, "variety": "qu", "image": {"bytes": jpeg(), "path": None}},
    ]
    inp = handmade_dataset(tmp_path / "in", rows)
    result = generate(inp, tmp_path / "gen", cohere_config(backend=backend), progress=False, log=lambda m: None)

    reasons = {e["image_id"]: e["reason"] for e in result.errors}
    assert reasons == {"b" * 16: "image_metadata", "c" * 16: "undecodable_image", "d" * 16: "no_variety",
                       "e" * 16: "no_prompts"}
    assert all(e["detail"] for e in result.errors)
    assert (tmp_path / "gen" / "generate_errors.jsonl").read_text().count("\n") == 4
    ds = datasets.load_from_disk(str(result.dataset_path))
    assert set(ds["image_id"]) == {"a" * 16} and ds.num_rows == 2 + N_TYPES
    assert not any(e.exif_seen for e in server.log)
    assert b"SecretCam" not in b"".join(p.read_bytes() for p in (tmp_path / "gen").rglob("*") if p.is_file())


def test_shared_real_images_end_to_end(tmp_path, monkeypatch, cohere_server_factory, shared_data):
    server = cohere_server_factory()
    use_server(monkeypatch, server)
    total = 0
    sources = {"landmarks": ("landmarks", {}),
               "masitas": ("bolivia_masitas/labels.csv", {"default_country": "BO", "default_topic": "comida"})}
    for name, (source, settings) in sources.items():
        inp = ingested(tmp_path / name, str(shared_data / "images" / source), **settings)
        n = datasets.load_from_disk(str(inp / "dataset")).num_rows
        result = generate(inp, tmp_path / name / "gen", cohere_config(cohere={"concurrency": 16}),
                          progress=False, log=lambda m: None)
        assert result.errors == [] and result.rows == n * (2 + N_TYPES)
        ds = datasets.load_from_disk(str(result.dataset_path))
        assert set(ds["image_id"]) == set(datasets.load_from_disk(str(inp / "dataset"))["id"])
        total += n
    assert total >= 100
    assert not any(e.exif_seen for e in server.log) and all(e.billed for e in server.log)


def test_bad_photos_are_rejected_with_reasons_and_the_good_ones_go_through(tmp_path, monkeypatch,
                                                                          cohere_server_factory):
    """A folder as users have it: truncated, corrupt, empty, animated, CMYK and EXIF/GPS photos."""
    server = cohere_server_factory()
    use_server(monkeypatch, server)
    photos = tmp_path / "photos"
    photos.mkdir()
    good = jpeg()
    (photos / "ok.jpg").write_bytes(good)
    (photos / "gps.jpg").write_bytes(jpeg(1, exif=True))  # kept, metadata stripped
    (photos / "truncated.jpg").write_bytes(good[: len(good) // 2])
    (photos / "corrupt.jpg").write_bytes(b"\xff\xd8\xff\xe0" + b"\x00garbage" * 50)
    (photos / "empty.jpg").write_bytes(b"")
    frames = [Image.new("RGB", (32, 32), c) for c in ((255, 0, 0), (0, 0, 255))]
    frames[0].save(photos / "anim.gif", save_all=True, append_images=frames[1:], duration=100)
    photo(2, "CMYK").save(photos / "cmyk.jpg", "JPEG")  # kept, made RGB
    photo(3).resize((200, 200)).save(photos / "huge.png")  # over max_pixels below: a "bomb"
    photo(4).save(photos / "mislabelled.jpg", "PNG")  # a PNG named .jpg: kept, read as what it is
    inp = ingested(tmp_path, str(photos), default_country="BO", default_topic="comida", max_pixels=10_000)
    rejected = {json.loads(line)["source"]: json.loads(line)["reason"]
                for line in (inp / "rejections.jsonl").read_text().splitlines()}
    assert rejected == {"truncated.jpg": "truncated", "corrupt.jpg": "unreadable", "empty.jpg": "empty",
                        "anim.gif": "animated", "huge.png": "decompression_bomb"}

    result = generate(inp, tmp_path / "gen", cohere_config(), progress=False, log=lambda m: None)
    ds = datasets.load_from_disk(str(result.dataset_path))
    assert result.errors == [] and result.images_done == 4 and ds.num_rows == 4 * (2 + N_TYPES)
    assert not any(e.exif_seen for e in server.log) and sum(e.images for e in server.log) == 4
