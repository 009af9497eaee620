"""The eval judge (CLAIR + vision rubric): real `cohere` client against the loopback server,
the project's real ledger: paid once, retried on bad answers, stopped by budget or missing key."""
from __future__ import annotations

import json
import math
from collections import deque

import pytest
from PIL import Image

from cohere_server import cohere_server_factory  # noqa: F401  (fixture)
from generate_helpers import cohere_config, use_server
from vlcultura.config import JudgeConfig
from vlcultura.data.ledger import BudgetExceeded, Ledger, StopRun
from vlcultura.eval.judge import JudgeItem, judge_captions, png_bytes

CAPTIONS = ("Un cuñapé dorado sobre la mesa", "Un pastel", "Una salteña jugosa en un plato")


def _items() -> list[JudgeItem]:
    image = Image.new("RGB", (48, 40), (200, 150, 60))
    exif = Image.Exif()
    exif[0x8825] = {2: (16.0, 30.0, 0.0)}  # GPS latitude: must never reach the server
    image.info["exif"] = exif.tobytes()
    return [JudgeItem(f"img{i}", caption, ["Un cuñapé recién horneado", "Cuñapé de Santa Cruz"], png_bytes(image),
                      "BO", "es-BO", ["cuñapé"]) for i, caption in enumerate(CAPTIONS)]


def _judge(tmp_path, mode="both", budget=5.0, **judge):
    return judge_captions(_items(), mode, "es", JudgeConfig(backend="cohere", **judge), cohere_config().cohere,
                          tmp_path / "judge.sqlite", budget)


def test_clair_and_rubric_paid_once_without_exif_or_key(tmp_path, monkeypatch, cohere_server_factory):
    server = cohere_server_factory()
    use_server(monkeypatch, server)
    result = _judge(tmp_path)
    by_name = {m.name: m for m in result.metrics}
    assert {"judge CLAIR", "judge cultural_accuracy", "judge specificity", "judge mean"} <= set(by_name)
    assert all(0.0 <= v <= 1.0 for v in by_name["judge CLAIR"].per_item)
    assert all(1.0 <= v <= 5.0 for v in by_name["judge mean"].per_item)
    assert result.spent_usd > 0 and not result.problems
    bodies = [json.loads(b) for b in server.bodies]
    clair = [b for b in bodies if "0 a 100" in json.dumps(b, ensure_ascii=False)]
    assert len(clair) == 3 and all(e.images in (0, 1) for e in server.log)
    assert sum(e.images for e in server.log) == 3  # only the rubric sends the image
    assert all(b["temperature"] == 0.0 and b["seed"] == 7 for b in bodies)
    assert not any(e.exif_seen for e in server.log)
    assert not any(server.key.encode() in b for b in server.bodies)
    with Ledger(tmp_path / "judge.sqlite") as ledger:
        stored = [r for r in ledger.report() if r["stage"] == "eval-judge"]
        assert stored  # CLAIR answers live in the ledger
    again = _judge(tmp_path)  # resume: everything from the ledger, nothing paid twice
    assert len(server.log) == 6 and again.spent_usd == 0
    assert list(again.metrics[0].per_item) == list(by_name["judge CLAIR"].per_item)


def test_bad_answers_are_retried_then_left_out_with_a_reason(tmp_path, monkeypatch, cohere_server_factory):
    server = cohere_server_factory(script=deque(["malformed", "invalid_schema"] * 3))
    use_server(monkeypatch, server)
    result = _judge(tmp_path, mode="clair", parse_retries=1)  # two answers per item, both unusable
    assert all(math.isnan(v) for v in result.metrics[0].per_item) and math.isnan(result.metrics[0].value)
    assert len(result.problems) == 3 and all("BilledInvalid" in p for p in result.problems)
    assert len(server.log) == 6
    again = _judge(tmp_path, mode="clair", parse_retries=1)  # a re-run asks only what failed
    assert not again.problems and all(0 <= v <= 1 for v in again.metrics[0].per_item)
    assert len(server.log) == 9


def test_budget_and_missing_key_stop_clearly(tmp_path, monkeypatch, cohere_server_factory):
    server = cohere_server_factory()
    use_server(monkeypatch, server)
    with pytest.raises(BudgetExceeded):
        _judge(tmp_path, budget=1e-7)
    assert not [e for e in server.log if e.billed]
    monkeypatch.delenv("CO_API_KEY")
    with pytest.raises(StopRun, match="CO_API_KEY"):
        _judge(tmp_path)
