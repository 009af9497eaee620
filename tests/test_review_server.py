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
from vlcultura.review.pull import pull
from vlcultura.review.push import push
from vlcultura.review.schema import record_id


def server_records(config):
    client = connect(config)
    dataset = client.datasets(config.dataset_name, workspace=config.workspace)
    return list(dataset.records(with_responses=True, with_suggestions=True))


def test_push_sends_metadata_free_images_suggestions_and_metadata(review_config, tmp_path):
    rows = make_candidates(6)
    report = push(rows, review_config, tmp_path / "journal.sqlite")
    assert (report.total, report.sent, report.already_sent, report.rejected) == (6, 6, 0, [])
    records = {r.id: r for r in server_records(review_config)}
    assert set(records) == {record_id(c) for c in rows["id"]}
    first, second = records[record_id("cand-000")], records[record_id("cand-001")]
    client = connect(review_config)
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
