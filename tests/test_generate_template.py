"""Offline generation: the template backend, prompt sets per variety, rule negatives, the CLI."""
from __future__ import annotations

import fcntl

import datasets
import pytest
from generate_helpers import ingested
from typer.testing import CliRunner

from vlcultura.cli import app
from vlcultura.config import GenerateConfig
from vlcultura.data.generate import generate
from vlcultura.data.generators.negatives import rule_negative
from vlcultura.data.prompts import generation_messages, kto_prompt, load_prompts, rewrite_messages
from vlcultura.records import ImageMeta, NegativeType

REQUIRED = ("es-ES", "es-MX", "es-AR", "es-CO", "es-CL", "es-PE", "es-BO", "pt-BR", "pt-PT")


@pytest.mark.parametrize("tag", REQUIRED)
def test_every_required_variety_has_prompts_and_distinct_typed_negatives(tag):
    ps = load_prompts(tag)
    meta = ImageMeta(country=tag.split("-")[1], variety=tag, topic="comida", labels=["salteña"])
    system, user = generation_messages(ps, meta, n=2, seed="s")
    assert "salteña" in user and "JSON" in user and system  # generation may use the metadata
    for seed in map(str, range(6)):
        assert "salteña" not in kto_prompt(ps, seed)  # the inference prompt never does
    desirable = "En la foto se ve salteña, un plato típico. Se ve la masa dorada."
    texts = {t: rule_negative(ps, meta, desirable, t, "seed") for t in NegativeType}
    assert all(text and text != desirable for text in texts.values())
    assert len(set(texts.values())) == len(NegativeType)
    _, rewrite = rewrite_messages(ps, meta, desirable, [t.value for t in NegativeType])
    assert desirable in rewrite and all(t.value in rewrite for t in NegativeType)


def test_a_new_variety_is_one_yaml_file(tmp_path):
    (tmp_path / "es-UY.yaml").write_text('extends: _es\nkto_prompts: ["Contame qué hay en la foto."]\n'
                                         'foreign_phrases: ["Vale, tío."]\n', encoding="utf-8")
    ps = load_prompts("es-uy", str(tmp_path))
    assert ps.tag == "es-UY" and kto_prompt(ps, "x") == "Contame qué hay en la foto."
    assert ps.texts("persona") == load_prompts("es-BO").texts("persona")  # inherited from _es
    with pytest.raises(KeyError, match="extends: _es"):
        load_prompts("qu")


def test_offline_default_is_deterministic_and_says_so(tmp_path, monkeypatch):
    monkeypatch.delenv("CO_API_KEY", raising=False)
    inp = ingested(tmp_path)
    n_images = datasets.load_from_disk(str(inp / "dataset")).num_rows
    said: list[str] = []
    first = generate(inp, tmp_path / "a", GenerateConfig(), progress=False, log=said.append)
    second = generate(inp, tmp_path / "b", GenerateConfig(), progress=False, log=lambda m: None)
    assert first.backend == "template" and any("template" in m and "CO_API_KEY" in m for m in said)
    a, b = (datasets.load_from_disk(str(r.dataset_path)) for r in (first, second))
    assert a["completion"] == b["completion"] and a["id"] == b["id"]
    assert a.num_rows == n_images * (2 + len(NegativeType)) and first.errors == []
    neg = a.filter(lambda r: not r["label"])
    assert set(neg["strategy"]) == {f"rule:{t.value}" for t in NegativeType}
    for row in a.filter(lambda r: r["label"]).select(range(0, 2 * n_images, 5)):
        assert row["labels"][0] in row["completion"]  # template text names the gold label
        assert row["labels"][0] not in row["prompt"]
    assert set(a["variety"]) >= {"es-BO", "pt-BR", "es-MX", "es-AR", "es-PE", "es-ES"}


def test_cli_generate_template_and_ledger(tmp_path, monkeypatch):
    monkeypatch.delenv("CO_API_KEY", raising=False)
    inp = ingested(tmp_path)
    out = tmp_path / "gen"
    out.mkdir()
    with open(out / ".generate.lock", "w") as held:  # another generate writing to the same folder
        fcntl.flock(held, fcntl.LOCK_EX)
        busy = CliRunner().invoke(app, ["generate", "-i", str(inp), "-o", str(out), "--no-progress"])
    assert busy.exit_code == 3 and "another `vlcultura generate`" in busy.output
    result = CliRunner().invoke(app, ["generate", "-i", str(inp), "-o", str(out), "--no-progress"])
    assert result.exit_code == 0, result.output
    assert (out / "candidates").is_dir() and (out / "generate_config.yaml").is_file()
    report = CliRunner().invoke(app, ["ledger", str(out), "--json"])
    assert '"backend": "template"' in report.output and '"cost_usd": 0.0' in report.output
