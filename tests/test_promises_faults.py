"""Promise: a 429, a 5xx or a malformed answer that does not go away takes down one image (or one
judged row), never the run.

The retry tests (test_generate_cohere.py) show a passing fault is absorbed. Here the fault
outlasts every retry: the item gets a recorded reason naming the HTTP status, the other items are
finished, nothing is paid twice, and a re-run completes only what failed. Real `cohere` client,
loopback server, real ledger and datasets.
"""
from __future__ import annotations

import json
from collections import Counter, deque

import datasets
import pytest
from cohere_server import cohere_server_factory  # noqa: F401  (fixture)
from generate_helpers import cohere_config, handmade_dataset, jpeg, use_server
from quality_helpers import candidates_dataset

from vlcultura.config import JudgeConfig
from vlcultura.data.generate import generate
from vlcultura.data.judge import judge_dataset

RETRIES = 2  # every attempt of the first request fails: 1 + RETRIES answers of the same fault


def _three_images(tmp_path):
    rows = [{"id": c * 16, "country": "BO", "image": {"bytes": jpeg(i), "path": None}} for i, c in enumerate("abc")]
    return handmade_dataset(tmp_path / "in", rows)


@pytest.mark.parametrize("status", ["429", "500", "503"])
def test_generate_records_the_failed_image_and_finishes_the_rest(tmp_path, monkeypatch, cohere_server_factory,
                                                                 status):
    server = cohere_server_factory(script=deque([status] * (RETRIES + 1)))
    use_server(monkeypatch, server)
    config = cohere_config(cohere={"concurrency": 1, "max_retries": RETRIES})
    said: list[str] = []
    result = generate(_three_images(tmp_path), tmp_path / "gen", config, progress=False, log=said.append)

    assert result.stopped is None and result.images_done == 2
    [error] = result.errors
    assert error["reason"] == "request_failed" and f"HTTP {status}" in error["detail"]
    assert "re-run to retry" in error["detail"]
    recorded = [json.loads(line) for line in (tmp_path / "gen" / "generate_errors.jsonl").read_text().splitlines()]
    assert recorded == [error]
    assert any(error["image_id"] in m and f"HTTP {status}" in m for m in said)  # said aloud, too
    done = set(datasets.load_from_disk(str(result.dataset_path))["image_id"])
    assert len(done) == 2 and error["image_id"] not in done
    assert server.key not in json.dumps(result.errors)

    again = generate(_three_images(tmp_path), tmp_path / "gen", config, progress=False, log=lambda m: None)
    assert again.errors == [] and again.images_done == 3
    assert max(Counter(server.billed_keys()).values()) == 1  # the finished images were not bought again


def test_generate_records_an_image_whose_answers_stay_malformed(tmp_path, monkeypatch, cohere_server_factory):
    server = cohere_server_factory(script=deque(["malformed", "invalid_schema"]))
    use_server(monkeypatch, server)
    config = cohere_config(cohere={"concurrency": 1, "invalid_answer_retries": 1})
    result = generate(_three_images(tmp_path), tmp_path / "gen", config, progress=False, log=lambda m: None)

    assert result.stopped is None and result.images_done == 2
    [error] = result.errors
    assert error["reason"] == "invalid_answer" and "did not fit the expected JSON" in error["detail"]
    assert "is a required property" in error["detail"] and "re-run" in error["detail"]  # what was wrong, what to do
    assert sum(e.billed for e in server.log) == 2 + 2 * 2  # both bad answers were paid for, and recorded
    again = generate(_three_images(tmp_path), tmp_path / "gen", config, progress=False, log=lambda m: None)
    assert again.errors == [] and again.images_done == 3


def test_judge_drops_the_failed_row_with_its_reason_and_judges_the_rest(tmp_path, monkeypatch,
                                                                        cohere_server_factory):
    server = cohere_server_factory()
    use_server(monkeypatch, server)
    rows = candidates_dataset(copies=1).select(range(3))
    cohere = cohere_config(cohere={"max_retries": RETRIES}).cohere
    judge = JudgeConfig(backend="cohere")
    judge_dataset(rows.select([1]), judge, cohere, ledger_path=tmp_path / "probe.sqlite")
    [probe] = server.log
    unlucky = probe.idempotency_key  # row 1's request: from now on every attempt of it fails
    server.faults.rules[unlucky] = deque(["503"] * (RETRIES + 1))
    paid_before = sum(e.billed for e in server.log)

    kept, report = judge_dataset(rows, judge, cohere, ledger_path=tmp_path / "ledger.sqlite")
    [failed] = [d for d in report.drops if d.reason == "judge_error"]
    assert failed.row_id == rows[1]["id"] and "HTTP 503" in failed.detail
    assert len(kept) + len(report.drops) == 3 and sum(e.billed for e in server.log) == paid_before + 2
    again, report2 = judge_dataset(rows, judge, cohere, ledger_path=tmp_path / "ledger.sqlite")
    assert not [d for d in report2.drops if d.reason == "judge_error"]
    assert sum(e.billed for e in server.log) == paid_before + 3  # only the failed row was asked again
