"""`vlcultura score` on JSONL and COCO files: bad rows are skipped with a reason, bad files say why."""
from __future__ import annotations

import json

from typer.testing import CliRunner

from vlcultura.cli import app

RUNNER = CliRunner()


def _write_jsonl(path, rows, extra_lines=()):
    path.write_text("\n".join([json.dumps(r, ensure_ascii=False) for r in rows] + list(extra_lines)) + "\n",
                    encoding="utf-8")
    return path


def _files(tmp_path):
    refs = _write_jsonl(tmp_path / "refs.jsonl", [
        {"id": "a", "references": ["Un cuñapé dorado sobre la mesa"], "labels": ["cuñapé"], "country": "BO",
         "variety": "es-BO"},
        {"id": "b", "references": ["Una salteña jugosa en un plato", "Salteña de Potosí"], "labels": ["salteña"],
         "country": "BO", "variety": "es-BO"},
        {"id": "c", "references": ["Pão de queijo mineiro"], "labels": ["pão de queijo"], "country": "BR",
         "variety": "pt-BR"},
    ], extra_lines=["{not json"])
    preds = _write_jsonl(tmp_path / "preds.jsonl", [
        {"id": "a", "prediction": "¿Un cuñapé? ¡Sí, dorado!"},
        {"id": "b", "prediction": "Un pastel en un plato"},
        {"id": "c", "prediction": "Um pão de queijo"},
        {"id": "zz", "prediction": "sin referencias"},
    ])
    return refs, preds


def test_score_jsonl_spanish_json_output(tmp_path):
    refs, preds = _files(tmp_path)
    result = RUNNER.invoke(app, ["score", "-r", str(refs), "-p", str(preds), "--tokenizer", "es", "--json",
                                 "--bootstrap", "100", "--no-meteor"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    system = summary["systems"]["system"]
    assert {"BLEU-4", "ROUGE-L", "CIDEr-D", "chrF", "chrF++", "label coverage", "variety fidelity"} <= set(system)
    assert system["label coverage"]["value"] == round(2 / 3, 6)
    assert any("refs.jsonl:4: not JSON" in p for p in summary["problems"])
    assert any("image zz has no references" in p for p in summary["problems"])
    assert set(summary["breakdowns"]["country"]) == {"BO", "BR"}
    assert any("IDF comes from only 3 images" in n for n in summary["notes"]["system"])


def test_score_table_output_and_report(tmp_path):
    refs, preds = _files(tmp_path)
    result = RUNNER.invoke(app, ["score", "-r", str(refs), "-p", str(preds), "--tokenizer", "es",
                                 "--bootstrap", "50", "--no-meteor", "--output", str(tmp_path / "rep")])
    assert result.exit_code == 0, result.output
    assert "chrF++" in result.stdout and "warning:" in result.stdout
    assert (tmp_path / "rep" / "report.html").is_file()


def test_score_coco_format_with_fixed_idf(tmp_path):
    refs = tmp_path / "ann.json"
    refs.write_text(json.dumps({"annotations": [
        {"image_id": 1, "caption": "una salteña jugosa"}, {"image_id": 2, "caption": "un api morado"},
        {"image_id": 3, "caption": "un cuñapé dorado"}]}), encoding="utf-8")
    preds = tmp_path / "res.json"
    preds.write_text(json.dumps([{"image_id": 1, "caption": "una salteña"}, {"image_id": 2, "caption": "un api"}]))
    result = RUNNER.invoke(app, ["score", "-r", str(refs), "-p", str(preds), "--tokenizer", "es", "--json",
                                 "--bootstrap", "0", "--no-meteor", "--cider-idf", str(refs)])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["info"]["images"] == 2
    assert any("IDF: fixed, from ann.json (3 images)" in n for n in summary["notes"]["system"])
    assert summary["systems"]["system"]["CIDEr-D"]["value"] > 0


def test_score_errors_say_what_to_do(tmp_path):
    refs, _ = _files(tmp_path)
    missing = RUNNER.invoke(app, ["score", "-r", str(refs), "-p", str(tmp_path / "nope.jsonl"), "--tokenizer", "es"])
    assert missing.exit_code == 2 and "file not found" in missing.output
    other = _write_jsonl(tmp_path / "other.jsonl", [{"id": "q", "prediction": "x"}])
    disjoint = RUNNER.invoke(app, ["score", "-r", str(refs), "-p", str(other), "--tokenizer", "es"])
    assert disjoint.exit_code == 2 and "same image ids" in disjoint.output
    bad = tmp_path / "bad.json"
    bad.write_text("{", encoding="utf-8")
    broken = RUNNER.invoke(app, ["score", "-r", str(bad), "-p", str(other), "--tokenizer", "es"])
    assert broken.exit_code == 2 and "not valid JSON" in broken.output
    unknown = RUNNER.invoke(app, ["score", "-r", str(refs), "-p", str(tmp_path / "preds.jsonl"), "--tokenizer", "ptb"])
    assert unknown.exit_code == 2 and "unknown tokenizer" in unknown.output


def test_coco_tokenizer_without_java_says_how_to_fix(tmp_path, monkeypatch):
    refs, preds = _files(tmp_path)
    monkeypatch.setenv("PATH", str(tmp_path / "no-java-here"))
    result = RUNNER.invoke(app, ["score", "-r", str(refs), "-p", str(preds), "--tokenizer", "coco"])
    assert result.exit_code == 2 and "needs a Java runtime" in result.output and "--tokenizer es|pt" in result.output
