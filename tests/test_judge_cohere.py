"""The cohere judge: real `cohere` client, loopback server, the generation stage's real ledger."""
from __future__ import annotations

import json
from collections import deque

import pytest
from cohere_server import cohere_server_factory  # noqa: F401  (fixture)
from generate_helpers import cohere_config, use_server
from quality_helpers import candidates_dataset

from vlcultura.config import JudgeConfig
from vlcultura.data.judge import Verdict, decide, judge_dataset
from vlcultura.data.judge_rubric import CRITERIA
from vlcultura.data.ledger import BudgetExceeded, Ledger, StopRun


def _judge(ds, tmp_path, **kw):
    config = JudgeConfig(backend="cohere", **kw.pop("judge", {}))
    return judge_dataset(ds, config, cohere_config().cohere, ledger_path=tmp_path / "ledger.sqlite", **kw)


def test_scores_are_paid_once_and_stored_with_reasons(tmp_path, monkeypatch, cohere_server_factory):
    server = cohere_server_factory()
    use_server(monkeypatch, server)
    ds = candidates_dataset(copies=1)
    kept, report = _judge(ds, tmp_path)
    assert report.stats["backend"] == "cohere" and report.stats["spent_usd"] > 0
    assert len(server.log) == len(ds) and all(e.billed and e.images == 1 for e in server.log)
    assert not any(e.exif_seen for e in server.log)
    assert not any(server.key.encode() in b for b in server.bodies)
    bodies = [json.loads(b) for b in server.bodies]
    assert {(b["temperature"], b["seed"]) for b in bodies} == {(0.0, 7)}
    assert all(b["response_format"]["json_schema"]["required"] == list(CRITERIA) for b in bodies)
    assert any("Eres un evaluador" in b["messages"][0]["content"] for b in bodies)
    assert any("Você é um avaliador" in b["messages"][0]["content"] for b in bodies)
    # every stored score is the server's answer from the ledger, and the decision follows it
    with Ledger(tmp_path / "ledger.sqlite") as ledger:
        for row in kept:
            answer = ledger.get(row["judge_ledger_key"]).response
            assert row["judge_scores"] == {c: float(answer[c]["score"]) for c in CRITERIA}
            assert row["judge_reasons"]["respect"] == answer["respect"]["reason"]
        assert {r["stage"] for r in ledger.report()} == {"judge"}
    assert len(kept) + len(report.drops) == len(ds)
    for d in report.drops:
        assert d.reason in ("weak_desirable", "negative_not_confirmed") and d.detail
    # a re-run (resume) pays nothing and decides the same
    again, report2 = _judge(ds, tmp_path)
    assert len(server.log) == len(ds) and report2.stats["spent_usd"] == 0
    assert again["id"] == kept["id"]


def test_malformed_answers_are_asked_again_then_recorded(tmp_path, monkeypatch, cohere_server_factory):
    server = cohere_server_factory(script=deque(["malformed", "invalid_schema", "malformed", "malformed", "500"]))
    use_server(monkeypatch, server)
    ds = candidates_dataset(copies=1).select(range(2))
    kept, report = _judge(ds, tmp_path, judge={"parse_retries": 1})
    reasons = {d.reason for d in report.drops}
    errors = [d for d in report.drops if d.reason == "judge_error"]
    assert errors and all("BilledInvalid" in e.detail for e in errors)  # two bad answers for a row
    assert len(kept) + len(report.drops) == 2 and reasons <= {"judge_error", "weak_desirable",
                                                              "negative_not_confirmed"}
    # a re-run pays again only for the failed rows (the 500 left in the script is retried for free)
    before = len(server.log)
    again, report2 = _judge(ds, tmp_path, judge={"parse_retries": 1})
    assert sum(e.billed for e in server.log[before:]) == len(errors)
    assert any(e.status == 500 for e in server.log[before:])
    assert not [d for d in report2.drops if d.reason == "judge_error"]


def test_budget_and_missing_key_stop_clearly(tmp_path, monkeypatch, cohere_server_factory):
    server = cohere_server_factory()
    use_server(monkeypatch, server)
    with pytest.raises(BudgetExceeded, match="budget"):
        _judge(candidates_dataset(copies=1), tmp_path, budget_usd=0.0001)
    assert not [e for e in server.log if e.billed]
    monkeypatch.delenv("CO_API_KEY")
    with pytest.raises(StopRun, match="CO_API_KEY"):
        _judge(candidates_dataset(copies=1), tmp_path)


def test_decide_uses_the_intended_criterion():
    row = {"label": False, "negative_type": "wrong_variety"}
    low = Verdict({c: 5.0 for c in CRITERIA} | {"variety_fidelity": 1.0}, {}, "cohere")
    assert decide(row, low, JudgeConfig())[0] == "confirmed_negative"


def test_cli_cohere_judge_needs_the_generation_ledger(tmp_path, monkeypatch, cohere_server_factory):
    from typer.testing import CliRunner

    from vlcultura.cli import app

    server = cohere_server_factory()
    use_server(monkeypatch, server)
    candidates_dataset(copies=1).select(range(3)).save_to_disk(str(tmp_path / "f" / "candidates"))
    recipe = tmp_path / "recipe.yaml"  # the loopback server has no trial-key rate limit to respect
    recipe.write_text("generate:\n  cohere:\n    requests_per_minute: 60000\n")
    args = ["judge", "-i", str(tmp_path / "f" / "candidates"), "-o", str(tmp_path / "j"), "--backend", "cohere",
            "--config", str(recipe)]
    missing = CliRunner().invoke(app, args)
    assert missing.exit_code == 1 and "--ledger" in missing.output and not server.log
    ok = CliRunner().invoke(app, args + ["--ledger", str(tmp_path / "gen" / "ledger.sqlite")])
    assert ok.exit_code == 0, ok.output
    assert "judge (cohere)" in ok.output and len(server.log) == 3
    assert server.key not in ok.output
    with Ledger(tmp_path / "gen" / "ledger.sqlite") as ledger:
        assert ledger.report()[0]["done"] == 3
