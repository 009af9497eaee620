"""The offline rules judge and the keep/drop decisions (labelled `rules`, never an LLM)."""
from __future__ import annotations

from quality_helpers import candidate_rows, candidates_dataset
from typer.testing import CliRunner

from vlcultura.cli import app
from vlcultura.config import JudgeConfig
from vlcultura.data.judge import Verdict, choose_backend, decide, judge_dataset, rules_verdict
from vlcultura.data.judge_rubric import CRITERIA, judge_schema, rubric_messages


def _row(text: str, label: bool = True, negative_type: str | None = None, **meta) -> dict:
    return {"id": "r", "completion": text, "label": label, "negative_type": negative_type,
            "country": meta.get("country", "BO"), "variety": meta.get("variety", "es-BO"),
            "labels": meta.get("labels", ["cuñapé"])}


def test_rules_scores_follow_the_lexicon():
    good = rules_verdict(_row("Unas masitas cruceñas: cuñapés dorados de almidón y queso, servidos calientes."))
    assert good.backend == "rules" and good.model is None
    assert good.scores["cultural_accuracy"] == 5 and good.scores["specificity"] == 5
    assert good.scores["variety_fidelity"] == 4 and "masitas" in good.reasons["variety_fidelity"]
    wrong = rules_verdict(_row("Unas chipas paraguayas de almidón con anís, como las de Asunción."))
    assert wrong.scores["cultural_accuracy"] == 1 and "Paraguay" in wrong.reasons["cultural_accuracy"]
    stereo = rules_verdict(_row("Una comida exótica y primitiva de los nativos del altiplano."))
    assert stereo.scores["respect"] == 1
    dated = rules_verdict(_row("Un pan inventado en la Fiesta del Sol de 1820 por los monjes."))
    assert dated.scores["hallucination"] == 2
    assert rules_verdict(_row("Un pan de queso.")).scores["hallucination"] is None  # rules cannot see


def test_decisions_keep_strong_rows_and_confirmed_negatives():
    config = JudgeConfig(min_desirable_score=3.5, max_undesirable_score=3.0)
    scores = dict.fromkeys(CRITERIA, 4.0)
    strong = Verdict(scores, {}, "rules")
    weak = Verdict({**scores, "specificity": 1.0, "cultural_accuracy": 1.0, "respect": 2.0}, {"cultural_accuracy": "x"}, "rules")
    assert decide(_row("t"), strong, config)[:2] == ("strong_desirable", None)
    code, reason, detail = decide(_row("t"), weak, config)
    assert (code, reason) == ("weak_desirable", "weak_desirable") and "cultural_accuracy=1.0" in detail
    neg = _row("t", label=False, negative_type="generic")
    assert decide(neg, Verdict({**scores, "specificity": 2.0}, {}, "rules"), config)[0] == "confirmed_negative"
    assert decide(neg, strong, config)[1] == "negative_not_confirmed"
    halluc = _row("t", label=False, negative_type="hallucination")
    assert decide(halluc, Verdict({**scores, "hallucination": None}, {}, "rules"), config)[0] == "unverified_negative"
    assert decide(neg, Verdict({}, {}, "cohere", error="RuntimeError: 500"), config)[1] == "judge_error"


def test_judge_dataset_rules_backend_drops_with_reasons():
    weak = {**candidate_rows(1)[0], "id": "weak-1",
            "completion": "Una cosa común sobre una mesa, parece un objeto normal de cualquier casa."}
    ds = candidates_dataset(copies=1, extra=[weak])
    kept, report = judge_dataset(ds, JudgeConfig(backend="rules", min_desirable_score=3.5))
    assert [(d.row_id, d.reason) for d in report.drops] == [("weak-1", "weak_desirable")]
    assert report.stats["backend"] == "rules" and any("not a language model" in n for n in report.notes)
    assert len(kept) + len(report.drops) == len(ds) == report.n_in
    assert set(kept["judge_backend"]) == {"rules"} and set(kept["judge_model"]) == {None}
    assert kept.features["judge_scores"]["hallucination"].dtype == "float64"
    verdicts = report.stats["verdicts"]
    assert verdicts.get("confirmed_negative", 0) + verdicts.get("unverified_negative", 0) >= 6


def test_backend_auto_and_rubric_language(monkeypatch):
    assert choose_backend(JudgeConfig()) == "rules"
    monkeypatch.setenv("CO_API_KEY", "k")
    assert choose_backend(JudgeConfig()) == "cohere"
    system, user = rubric_messages(_row("Pão de queijo", country="BR", variety="pt-BR", labels=["pão de queijo"]))
    assert "avaliador" in system and "Responda só com JSON" in user and "«Pão de queijo»" in user
    system, _ = rubric_messages(_row("Cuñapé"))
    assert "Eres un evaluador" in system and "Bolivia" in system
    schema = judge_schema()
    assert schema["required"] == list(CRITERIA)
    assert schema["properties"]["respect"]["properties"]["score"]["enum"] == [1, 2, 3, 4, 5]


def test_cli_judge_rules(tmp_path):
    candidates_dataset(copies=1).save_to_disk(str(tmp_path / "cands"))
    result = CliRunner().invoke(app, ["judge", "-i", str(tmp_path / "cands"), "-o", str(tmp_path / "j"),
                                      "--backend", "rules"])
    assert result.exit_code == 0, result.output
    assert "judge (rules)" in result.output and (tmp_path / "j" / "judge_report.json").is_file()
    bad = CliRunner().invoke(app, ["judge", "-i", str(tmp_path / "cands"), "-o", str(tmp_path / "j2"),
                                   "--backend", "gpt"])
    assert bad.exit_code != 0
