"""A stage that fails stops the run; fixing the recipe and running again resumes at that stage."""
from __future__ import annotations

import yaml
from pipeline_helpers import QUICKSTART, ROOT, vlcultura

from vlcultura.data.samples import make_sample_images
from vlcultura.stages import DATASET_STAGES
from vlcultura.run_layout import RunLayout


def _recipe(path, **export):
    data = yaml.safe_load(QUICKSTART.read_text())
    data["export"].update(export)
    path.write_text(yaml.safe_dump(data))
    return path


def test_bad_export_name_fails_at_export_then_resumes_there_then_trains_under_accelerate(tmp_path):
    photos = make_sample_images(tmp_path / "my_photos", n_per_class=1, seed=3)
    n_photos = len(list(photos.glob("**/*.jpg")))
    out = tmp_path / "run"
    stages = [arg for stage in DATASET_STAGES for arg in ("--stage", stage)]
    recipe = _recipe(tmp_path / "recipe.yaml", name="muestras_sin_algoritmo")
    failed = vlcultura("run", str(recipe), "--output", str(out), "--images", str(photos), *stages)
    assert failed.returncode == 1
    assert "stage 'export' failed: NameRuleError" in failed.output and "run the same command again" in failed.output
    layout = RunLayout.at(out)
    assert [s for s in DATASET_STAGES if layout.is_done(s)] == list(DATASET_STAGES[:-1])
    assert layout.done_record("ingest")["summary"]["rows"] == n_photos  # --images replaced the samples
    assert "synthetic sample images" not in failed.output

    _recipe(recipe, name="mis_fotos_images_kto")
    resumed = vlcultura("run", str(recipe), "--output", str(out), "--images", str(photos), *stages)
    assert resumed.returncode == 0, resumed.output[-3000:]
    assert resumed.output.count("skipped (done)") == len(DATASET_STAGES) - 1
    assert layout.done_record("export")["summary"]["repo_id"].endswith("/mis_fotos_images_kto")
    assert not layout.is_done("train")  # --stage limited the run

    accelerate = ROOT / "configs" / "accelerate" / "cpu_2proc.yaml"  # two processes over gloo
    trained = vlcultura("run", str(recipe), "--output", str(out), "--stage", "base_model", "--stage", "train",
                        "--accelerate", str(accelerate), "--set", "train.max_steps=2",
                        "--set", "train.merge_adapter=true", "--images", str(photos))
    assert trained.returncode == 0, trained.output[-3000:]
    assert "accelerate launch --config_file" in trained.output and "2 steps" in trained.output
    assert (layout.output("train", "adapter") / "adapter_model.safetensors").is_file()
    assert "configs/recipe.yaml" in layout.output("train", "model_card").read_text(encoding="utf-8")

    staged = vlcultura("publish", str(recipe), "--output", str(out), "--dry-run",
                       "--set", "train.merge_adapter=true")  # merged weights on top
    assert staged.returncode == 0, staged.output[-3000:]
    model_repo = out / "publish" / "model"
    resolved = yaml.safe_load((model_repo / "configs" / "resolved.yaml").read_text())
    assert resolved["train"]["max_steps"] == 2 and resolved["ingest"]["source"] == str(photos.resolve())
    assert (model_repo / "model.safetensors").is_file() and (model_repo / "config.json").is_file()
    assert (model_repo / "adapter" / "adapter_model.safetensors").is_file()
    assert not (model_repo / "evaluation").exists()  # evaluate did not run: nothing pretends it did
    assert "the evaluate stage has not run" in staged.output

    other = vlcultura("run", str(recipe), "--output", str(out), "--stage", "ingest")  # no --images now
    assert other.returncode == 0 and "ingest finished with other settings" in other.output
    assert layout.done_record("ingest")["summary"]["rows"] == n_photos  # kept, not silently redone


def test_unknown_stage_and_bad_recipe_are_refused_clearly(tmp_path):
    from typer.testing import CliRunner

    from vlcultura.cli import app

    runner = CliRunner()
    run = runner.invoke(app, ["run", str(QUICKSTART), "--output", str(tmp_path), "--stage", "trian"])
    assert run.exit_code == 2 and "unknown stage(s) trian" in run.output
    typo = tmp_path / "typo.yaml"
    typo.write_text("train:\n  learnin_rate: 0.1\n")
    for command in ("run", "publish"):
        result = runner.invoke(app, [command, str(typo), "--output", str(tmp_path)])
        assert result.exit_code == 2 and "not a valid recipe" in result.output and "learnin_rate" in result.output
        assert result.exception is None or isinstance(result.exception, SystemExit)
    bad_set = runner.invoke(app, ["run", str(QUICKSTART), "--output", str(tmp_path), "--set", "train.max_steps"])
    assert bad_set.exit_code == 2 and "KEY=VALUE" in bad_set.output


def test_killed_run_resumes_to_the_same_dataset(tmp_path, tmp_path_factory):
    """SIGKILL right after the review stage finished, run again: same KTO rows as an unbroken run."""
    import signal
    import subprocess
    import sys
    import time

    from datasets import load_from_disk
    from pipeline_helpers import offline_env, quickstart_run

    reference, run = quickstart_run(tmp_path_factory.getbasetemp())
    assert run.returncode == 0, run.output[-3000:]
    out = tmp_path / "killed"
    stages = [arg for stage in DATASET_STAGES for arg in ("--stage", stage)]
    proc = subprocess.Popen([sys.executable, "-m", "vlcultura.cli", "run", str(QUICKSTART), "--output", str(out),
                             *stages], cwd=ROOT, env=offline_env(), stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 300
    while not RunLayout.at(out).is_done("review") and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    layout = RunLayout.at(out)
    assert layout.is_done("review")
    resumed = vlcultura("run", str(QUICKSTART), "--output", str(out), *stages)
    assert resumed.returncode == 0, resumed.output[-3000:]
    assert resumed.output.count("skipped (done)") >= DATASET_STAGES.index("review") + 1
    got, want = (load_from_disk(str(RunLayout.at(d).output("export", "dataset"))) for d in (out, reference))
    for split in ("train", "test"):
        assert sorted(got[split]["id"]) == sorted(want[split]["id"])
