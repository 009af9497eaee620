"""Push, review and pull against a REAL argilla-server on loopback (fixtures: tests/argilla_server.py)."""
from __future__ import annotations

import base64
import io
import json
import threading

import pytest
from argilla_server import argilla_local, make_candidates, review_config, reviewers  # noqa: F401
from PIL import Image

from vlcultura.review.client import ArgillaUnreachable, connect
from vlcultura.review.pull import pull, review_progress
from vlcultura.review.push import push
from vlcultura.review.schema import record_id

pytestmark = pytest.mark.argilla


def server_records(config):
    client = connect(config)
    dataset = client.datasets(config.dataset_name, workspace=config.workspace)
    return list(dataset.records(with_responses=False, with_suggestions=True))


def test_push_sends_metadata_free_images_suggestions_and_metadata(review_config, tmp_path):
    rows = make_candidates(6)
    report = push(rows, review_config, tmp_path / "journal.sqlite")
    assert (report.total, report.sent, report.already_sent, report.rejected) == (6, 6, 0, [])
    client = connect(review_config)
    settings = client.datasets(review_config.dataset_name, workspace=review_config.workspace).settings
    assert [q.name for q in settings.questions] == ["label", "cultural_accuracy", "corrected_description", "flags"]
    assert [q.required for q in settings.questions] == [True, True, False, False]
    assert {m.name for m in settings.metadata} == {"country", "variety", "negative_type", "judge_cultural_accuracy",
                                                   "judge_respect"}
    assert "Guía para revisores" in settings.guidelines and "Guia para revisores" in settings.guidelines
    records = {r.id: r for r in server_records(review_config)}
    assert set(records) == {record_id(c) for c in rows["id"]}
    first, second = records[record_id("cand-000")], records[record_id("cand-001")]
    raw = client.http_client.get(f"/api/v1/records/{first.to_dict()['_server_id']}").json()["fields"]["image"]
    header, payload = raw.split(",", 1)
    assert header == "data:image/jpeg;base64"
    image = Image.open(io.BytesIO(base64.b64decode(payload)))
    assert image.size == (24, 16) and not image.getexif() and "exif" not in image.info
    assert b"CameraMaker" not in base64.b64decode(payload)
    assert first.fields["description"] == rows[0]["completion"]
    assert first.metadata["country"] == "BO" and first.metadata["variety"] == "es-BO"
    assert second.metadata["negative_type"] == "wrong_culture"
    assert first.metadata["judge_cultural_accuracy"] == pytest.approx(4.6)
    assert first.suggestions["label"].value == "desirable"
    assert second.suggestions["label"].value == "undesirable"
    assert first.suggestions["cultural_accuracy"].value == 5
    assert records[record_id("cand-003")].suggestions["flags"].value == ["stereotype"]


CORRECTION = "Una salteña boliviana recién horneada, jugosa, con el repulgue típico."


def review_as_ui(reviewers, config):
    """alice and bob review the 8 pushed candidates: agreement, a conflict, a flip, a correction."""
    alice, bob = reviewers["alice"], reviewers["bob"]
    ids = alice.queue(config.dataset_name)
    assert len(ids) == 8 and bob.queue(config.dataset_name) == ids
    sid = {c: ids[record_id(f"cand-{c:03d}")] for c in range(8)}
    alice.answer(sid[0], {"label": "undesirable", "cultural_accuracy": 2}, status="draft")
    alice.answer(sid[0], {"label": "desirable", "cultural_accuracy": 5})  # the draft, then submitted
    bob.answer(sid[0], {"label": "desirable", "cultural_accuracy": 4})
    alice.answer(sid[1], {"label": "undesirable", "cultural_accuracy": 1, "flags": ["wrong_variety"]})
    bob.answer(sid[1], {"label": "undesirable", "cultural_accuracy": 2, "corrected_description": CORRECTION})
    alice.answer(sid[2], {"label": "desirable", "cultural_accuracy": 4})
    bob.answer(sid[2], {"label": "undesirable", "cultural_accuracy": 2, "flags": ["stereotype"]})
    alice.answer(sid[3], {"label": "desirable", "cultural_accuracy": 4})
    bob.answer(sid[3], {"label": "desirable", "cultural_accuracy": 5})
    alice.answer(sid[4], {"label": "desirable"}, status="draft")  # never submitted
    alice.answer(sid[5], {}, status="discarded")
    bob.answer(sid[6], {"label": "desirable", "cultural_accuracy": 3})
    # reviewer-scoped queues (the emulated index must scope nested responses per user)
    assert set(alice.queue(config.dataset_name)) == {record_id(f"cand-{c:03d}") for c in (6, 7)}
    assert set(alice.queue(config.dataset_name, "submitted")) == {record_id(f"cand-{c:03d}") for c in range(4)}
    assert set(bob.queue(config.dataset_name)) == {record_id(f"cand-{c:03d}") for c in (4, 5, 7)}


def test_two_reviewers_conflict_correction_and_repush(review_config, reviewers, tmp_path):
    import datasets

    rows = make_candidates(8)
    push(rows, review_config, tmp_path / "journal.sqlite")
    review_as_ui(reviewers, review_config)

    # a re-push (fresh journal: every record is upserted again) neither duplicates nor loses reviews
    again = push(rows, review_config, tmp_path / "other-journal.sqlite")
    assert again.sent == 8
    records = server_records(review_config)
    assert sorted(r.id for r in records) == sorted(record_id(c) for c in rows["id"])
    assert push(rows, review_config, tmp_path / "journal.sqlite").sent == 0

    assert review_progress(review_config) == {"total": 8, "completed": 5, "pending": 3}
    report = pull(rows, tmp_path / "majority", review_config)
    out = datasets.load_from_disk(str(tmp_path / "majority" / "reviewed"))
    by_id = {r["id"]: r for r in out}
    assert sorted(by_id) == sorted(["cand-000", "cand-001", "cand-002", "cand-003", "cand-006",
                                    next(i for i in by_id if i.startswith("cand-001~review~"))])
    assert by_id["cand-000"]["label"] and by_id["cand-000"]["review_cultural_accuracy"] == 4.5
    assert not by_id["cand-001"]["label"] and by_id["cand-001"]["negative_type"] == "wrong_culture"
    fix = next(r for i, r in by_id.items() if "~review~" in i)
    assert (fix["completion"], fix["label"], fix["strategy"]) == (CORRECTION, True, "review")
    assert fix["negative_type"] is None
    assert fix["image_id"] == "img-000" and fix["image"].size == (24, 16)
    # the conflict on cand-002 is a tie: undesirable, typed by bob's flag
    assert not by_id["cand-002"]["label"] and by_id["cand-002"]["negative_type"] == "stereotype"
    assert not by_id["cand-002"]["review_unanimous"]
    assert by_id["cand-003"]["label"] and by_id["cand-003"]["negative_type"] is None  # flipped by both
    assert (report.reviewed_records, report.flipped, report.corrections) == (5, 2, 1)
    assert report.unresolved_to_undesirable == 1
    assert report.reviews_per_reviewer == {"alice": 4, "bob": 5}
    agree = report.agreement
    assert agree["records_with_several_reviews"] == 4 and agree["percent_agreement"] == 75.0
    assert agree["cohen_kappa"]["alice | bob"] == {"records": 4, "kappa": pytest.approx(0.5)}
    assert agree["fleiss_kappa"] == pytest.approx((0.75 - 34 / 64) / (1 - 34 / 64))
    saved = json.loads((tmp_path / "majority" / "review_report.json").read_text())
    assert saved["agreement"]["percent_agreement"] == 75.0
    markdown = (tmp_path / "majority" / "review_report.md").read_text()
    assert "| Cohen's kappa, alice | bob (4 records) | 0.500 |" in markdown

    strict = review_config.model_copy(update={"conflict_policy": "unanimous", "unresolved": "exclude"})
    report = pull(rows, tmp_path / "strict", strict)
    out = datasets.load_from_disk(str(tmp_path / "strict" / "reviewed"))
    assert "cand-002" not in out["id"] and len(out) == 5 and report.unresolved_excluded == 1
    assert pull(rows.select(range(6)), tmp_path / "part", review_config).unknown_records == 1  # cand-006
    two = review_config.model_copy(update={"min_submitted": 2})
    assert pull(rows, tmp_path / "two", two).too_few_reviews == 1  # cand-006 had one review


def test_pull_with_nothing_reviewed_says_so(review_config, tmp_path):
    import datasets

    rows = make_candidates(2)
    push(rows, review_config, tmp_path / "journal.sqlite")
    report = pull(rows, tmp_path / "out", review_config)
    assert report.rows_written == 0 and "nothing reviewed yet" in report.message
    assert len(datasets.load_from_disk(str(tmp_path / "out" / "reviewed"))) == 0
    assert "nothing reviewed yet" in (tmp_path / "out" / "review_report.md").read_text()


def assert_exactly_once(config, rows):
    ids = [r.id for r in server_records(config)]
    assert len(ids) == len(set(ids)) and set(ids) == {record_id(c) for c in rows["id"]}


@pytest.mark.slow
def test_server_killed_mid_push_the_push_waits_and_resumes(argilla_local, review_config, reviewers, tmp_path):
    rows = make_candidates(10)
    restarted = []

    def crash_after_first_batch(sent: int) -> None:
        if sent == 4 and not restarted:
            argilla_local.kill_server()
            restarted.append(threading.Thread(target=argilla_local.start))
            restarted[0].start()

    config = review_config.model_copy(update={"retry_wait_s": 120.0})
    report = push(rows, config, tmp_path / "journal.sqlite", on_batch=crash_after_first_batch)
    restarted[0].join()
    assert (report.sent, report.already_sent) == (10, 0)
    assert_exactly_once(config, rows)
    assert set(reviewers["bob"].queue(config.dataset_name)) == {record_id(c) for c in rows["id"]}


@pytest.mark.slow
def test_server_killed_mid_push_a_rerun_sends_only_the_rest(argilla_local, review_config, reviewers, tmp_path):
    rows = make_candidates(10)
    journal = tmp_path / "journal.sqlite"
    with pytest.raises(ArgillaUnreachable, match=r"Argilla at http://127\.0\.0\.1:\d+ is unreachable: start it "
                                                 r"with `vlcultura review serve` or fix ARGILLA_API_URL"):
        push(rows, review_config, journal, on_batch=lambda sent: sent == 8 and argilla_local.kill_server())
    argilla_local.stop()  # the whole stack this time: the in-memory index is gone, the database stays
    argilla_local.start()
    assert len(reviewers["alice"].queue(review_config.dataset_name)) == 8  # index rebuilt from the database
    report = push(rows, review_config, journal)
    assert (report.sent, report.already_sent) == (2, 8)
    assert_exactly_once(review_config, rows)
    assert set(reviewers["alice"].queue(review_config.dataset_name)) == {record_id(c) for c in rows["id"]}


def test_a_broken_image_is_left_out_with_its_reason_and_big_batches_are_split(review_config, tmp_path,
                                                                               monkeypatch):
    import datasets

    import vlcultura.review.push as push_module

    rows = make_candidates(3).cast_column("image", datasets.Image(decode=False))
    rows = rows.map(lambda r, i: {"image": {"bytes": b"\xff\xd8 truncated", "path": None}} if i == 1 else {},
                    with_indices=True)
    monkeypatch.setattr(push_module, "MAX_BATCH_CHARS", 1)  # one image per request
    batches = []
    report = push(rows, review_config, tmp_path / "journal.sqlite", on_batch=batches.append)
    assert (report.sent, batches) == (2, [1, 2])
    assert [(r.source, r.reason) for r in report.rejected] == [("cand-001", "unreviewable_row")]
    assert "fix or re-ingest the image" in report.rejected[0].detail
    again = push(rows, review_config, tmp_path / "journal.sqlite")
    assert (again.sent, again.already_sent, len(again.rejected)) == (0, 2, 1)


def test_the_scriptless_engine_keeps_the_index_right_when_responses_and_suggestions_go(review_config, reviewers,
                                                                                     tmp_path):
    """The three updates osmem cannot script (response upsert/delete, suggestion delete), end to end."""
    rows = make_candidates(4)
    push(rows, review_config, tmp_path / "journal.sqlite")
    bob, name = reviewers["bob"], review_config.dataset_name
    target = bob.queue(name)[record_id("cand-000")]
    bob.answer(target, {"label": "desirable", "cultural_accuracy": 5})
    assert set(bob.queue(name, "submitted")) == {record_id("cand-000")}
    bob.client.http_client.delete(f"/api/v1/responses/{bob.responses.pop(target)}").raise_for_status()
    assert bob.queue(name, "submitted") == {} and record_id("cand-000") in bob.queue(name)

    owner = connect(review_config).http_client
    dataset_id = owner.get("/api/v1/me/datasets").json()["items"]
    dataset_id = next(d["id"] for d in dataset_id if d["name"] == name)
    body = {"filters": {"and": [{"type": "terms", "scope": {"entity": "suggestion", "question": "label",
                                                            "property": "value"}, "values": ["desirable"]}]}}

    def suggested_desirable() -> set[str]:
        found = owner.post(f"/api/v1/datasets/{dataset_id}/records/search", json=body).json()["items"]
        return {i["record"]["external_id"] for i in found}

    assert suggested_desirable() == {record_id("cand-000"), record_id("cand-002")}
    suggestion = next(s for s in owner.get(f"/api/v1/records/{target}/suggestions").json()["items"]
                      if s["value"] == "desirable")
    owner.delete(f"/api/v1/suggestions/{suggestion['id']}").raise_for_status()
    assert suggested_desirable() == {record_id("cand-002")}
