"""`vlcultura publish` on the quickstart's output: staged repos, dry run, token guard, real push.

The push goes through huggingface_hub's real `create_repo` / `upload_folder` to a loopback HTTP
server that implements the Hub endpoints they call (tests/hub_server.py); only the LFS/Xet
upload path is not exercised (the server asks for every file inline).
"""
from __future__ import annotations

import os
import subprocess
import sys

import nbformat
import pytest
import yaml
from hub_server import LoopbackHub
from pipeline_helpers import QUICKSTART, offline_env, quickstart_run, vlcultura

pytestmark = pytest.mark.timeout(900)
TOKEN = "hf_loopback_SENTINEL_0123456789"

DATASET_FILES = {"README.md", "data/train-00000-of-00001.parquet", "data/test-00000-of-00001.parquet",
                 "kto_weights.json", "configs/recipe.yaml", "configs/resolved.yaml",
                 "notebooks/reproduce_dataset.ipynb", "scripts/run.py"}
MODEL_FILES = {"README.md", "adapter_config.json", "adapter_model.safetensors", "emissions.csv",
               "configs/recipe.yaml", "configs/resolved.yaml", "notebooks/reproduce_model.ipynb",
               "scripts/run.py", "train_facts.json"}


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    out, run = quickstart_run(tmp_path_factory.getbasetemp())
    assert run.returncode == 0, run.output[-6000:]
    return out


def _files(folder):
    return {p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()}


def _publish(run_dir, *args, recipe=QUICKSTART, env=None):
    return vlcultura("publish", str(recipe), "--output", str(run_dir), *args, env=env)


def test_dry_run_lists_every_file_and_the_repo_ids(run_dir):
    result = _publish(run_dir, "--dry-run")
    assert result.returncode == 0, result.output[-4000:]
    export = yaml.safe_load((run_dir / "recipe.yaml").read_text())["export"]
    kto_id = f"somosnlp-hackathon-2026/{export['name']}"
    model_id = "somosnlp-hackathon-2026/tiny-smolvlm-muestras_iberoamerica-kto"
    assert f"would push: dataset:{kto_id}, model:{model_id}" in " ".join(result.output.split())
    dataset, model = run_dir / "publish" / "dataset", run_dir / "publish" / "model"
    assert DATASET_FILES <= _files(dataset) and MODEL_FILES <= _files(model)
    for name in _files(dataset) | _files(model):
        assert name in result.output  # every staged file is listed
        assert "checkpoint-" not in name and not name.endswith((".bin", ".pt", ".pth")) and "/." not in name
    assert "tiny random-weight demonstration model" in result.output
    assert "not pushed: only" in result.output  # the prompts dataset is under the challenge's 100


def test_staged_parquet_loads_and_matches_the_export(run_dir):
    from datasets import load_dataset, load_from_disk

    _publish(run_dir, "--dry-run")
    data = run_dir / "publish" / "dataset" / "data"
    staged = load_dataset("parquet", data_files={s: str(data / f"{s}-00000-of-00001.parquet")
                                                 for s in ("train", "test")})
    exported = load_from_disk(str(run_dir / "export" / "kto"))
    assert {s: len(staged[s]) for s in staged} == {s: len(exported[s]) for s in exported}
    assert staged["train"][0]["images"][0].size[0] > 0  # image bytes are embedded, not paths
    import pyarrow.parquet as pq

    from vlcultura.data.images import metadata_markers

    for split in ("train", "test"):  # nothing leaves with EXIF/GPS/XMP
        rows = pq.read_table(data / f"{split}-00000-of-00001.parquet").to_pylist()
        assert not [m for row in rows for image in row["images"] if (m := metadata_markers(image["bytes"]))]


def test_model_notebook_reproduces_from_the_repo_folder(run_dir):
    """The shipped notebook's code, run where a user would run it (the repo, outputs beside it)."""
    _publish(run_dir, "--dry-run")
    model = run_dir / "publish" / "model"
    notebook = nbformat.read(model / "notebooks" / "reproduce_model.ipynb", as_version=4)
    nbformat.validate(notebook)
    code = [c.source for c in notebook.cells if c.cell_type == "code"]
    assert code[0].startswith("%pip install")
    (model / "outputs").symlink_to(run_dir)
    try:
        proc = subprocess.run([sys.executable, "-c", "\n\n".join(code[1:])], cwd=model, env=offline_env(),
                              capture_output=True, text=True, timeout=600)
    finally:
        (model / "outputs").unlink()
    assert proc.returncode == 0, proc.stderr[-4000:]
    assert "->" in proc.stdout  # the caption line of the last cell


def test_push_without_token_fails_before_any_request(run_dir):
    with LoopbackHub(TOKEN) as hub:
        result = _publish(run_dir, env=offline_env(HF_ENDPOINT=hub.endpoint, HF_HUB_OFFLINE="0"))
    assert result.returncode == 1
    assert "HF_TOKEN" in result.output and "nothing was uploaded" in result.output
    assert hub.state.requests == []


def test_bad_dataset_name_blocks_the_whole_push(run_dir, tmp_path):
    recipe = yaml.safe_load(QUICKSTART.read_text())
    recipe["publish"] = {"dataset_repo": "somosnlp-hackathon-2026/fotos_bolivia"}
    (tmp_path / "bad.yaml").write_text(yaml.safe_dump(recipe))
    with LoopbackHub(TOKEN) as hub:
        env = offline_env(HF_ENDPOINT=hub.endpoint, HF_HUB_OFFLINE="0", HF_TOKEN=TOKEN)
        result = _publish(run_dir, recipe=tmp_path / "bad.yaml", env=env)
    assert result.returncode == 1
    assert "fotos_bolivia" in result.output and "'kto'" in result.output and "nothing pushed" in result.output
    assert hub.state.requests == []


def test_push_uploads_exactly_the_staged_repos(run_dir):
    with LoopbackHub(TOKEN) as hub:
        env = offline_env(HF_ENDPOINT=hub.endpoint, HF_HUB_OFFLINE="0", HF_TOKEN=TOKEN)
        result = _publish(run_dir, env=env)
    assert result.returncode == 0, result.output[-4000:]
    assert TOKEN not in result.output
    staged = {kind: run_dir / "publish" / kind for kind in ("dataset", "model")}
    pushed = {repo_type: repo for (repo_type, _), repo in hub.state.repos.items()}
    assert set(pushed) == {"dataset", "model"}  # the prompts dataset is under 100 prompts: skipped
    for kind, folder in staged.items():
        files = pushed[kind]["files"]
        assert set(files) == _files(folder)
        assert all(files[name] == (folder / name).read_bytes() for name in files)
        assert pushed[kind]["private"] is False
    assert not os.environ.get("HF_TOKEN")


def test_publish_before_the_run_says_what_to_run(tmp_path):
    result = _publish(tmp_path, "--dry-run")
    assert result.returncode == 1
    assert "stage 'export' has not finished" in result.output and "vlcultura run" in result.output
