"""The real recipe's data stages through `vlcultura run`, with the real cohere client talking to a
loopback Cohere server: generation and the judge are paid through one ledger, nothing twice."""
from __future__ import annotations

import json

from arena_helpers import rows as arena_rows
from arena_helpers import write as write_arena
from cohere_server import cohere_server_factory  # noqa: F401  (a pytest fixture)
from pipeline_helpers import ROOT, offline_env, vlcultura

from vlcultura.data.samples import make_sample_images
from vlcultura.run_layout import RunLayout
from vlcultura.stages import DATASET_STAGES

RECIPE = ROOT / "configs" / "smolvlm-256m-cohere.yaml"
FAST = ["--set", "generate.cohere.requests_per_minute=60000", "--set", "generate.cohere.backoff_s=0.01",
        "--set", "review.api_url=null"]  # no Argilla here: review is auto-accepted (tested elsewhere)


def test_real_recipe_data_stages_pay_once_through_the_ledger(tmp_path, cohere_server_factory):  # noqa: F811
    server = cohere_server_factory(latency_s=0.0)
    photos = make_sample_images(tmp_path / "photos", n_per_class=1, seed=5)
    out = tmp_path / "run"
    env = offline_env(CO_API_KEY=server.key, VLCULTURA_COHERE_BASE_URL=server.url)
    arena_file = write_arena(arena_rows("raw"), tmp_path / "arena.jsonl")  # README step 3, offline
    assert vlcultura("arena", "--source", str(arena_file), "--out", str(tmp_path / "arena"), env=env).returncode == 0
    stages = [arg for stage in DATASET_STAGES for arg in ("--stage", stage)]
    args = ["run", str(RECIPE), "--output", str(out), "--images", str(photos), *stages, *FAST,
            "--set", f"export.include_arena={tmp_path / 'arena' / 'kto'}"]
    first = vlcultura(*args, env=env)
    assert first.returncode == 0, first.output[-4000:]
    assert server.key not in first.output and "template backend" not in first.output
    layout = RunLayout.at(out)
    assert "backend cohere" in layout.done_record("generate")["summary"]["note"]
    judge = json.loads(layout.output("judge", "report").read_text(encoding="utf-8"))
    assert judge["stats"]["backend"] == "cohere"
    billed = [e for e in server.log if e.billed]
    assert billed and all(e.auth_ok and not e.exif_seen for e in server.log)
    assert layout.done_record("export")["summary"]["repo_id"] == "somosnlp-hackathon-2026/comida_bolivia_images_kto"
    from datasets import load_from_disk

    kto = load_from_disk(str(layout.output("export", "dataset")))
    n_text_only = sum(len(images) == 0 for split in kto.values() for images in split["images"])
    assert n_text_only > 0  # the Arena rows were mixed in, text-only

    again = vlcultura(*args, env=env)
    assert again.returncode == 0 and again.output.count("skipped (done)") == len(DATASET_STAGES)
    assert [e for e in server.log if e.billed] == billed  # a re-run buys nothing
