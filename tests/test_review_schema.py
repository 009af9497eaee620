"""What reviewers get: stable record ids, metadata-free images, guidelines in es and pt."""
from __future__ import annotations

import base64
import io
import os

import pytest
from argilla_server import jpeg_with_gps, make_candidates
from PIL import Image

from vlcultura.review.schema import MAX_DATA_URI_CHARS, build_record, guidelines, metadata_free_data_uri, record_id


def decode(uri: str) -> Image.Image:
    return Image.open(io.BytesIO(base64.b64decode(uri.split(",", 1)[1])))


def test_record_ids_are_stable_and_distinct():
    import uuid

    assert record_id("cand-001") == record_id("cand-001") != record_id("cand-002")
    assert uuid.UUID(record_id("cand-001")).version == 5  # a name-based hash: same id on every machine


def test_gps_and_exif_never_reach_the_data_uri():
    raw = jpeg_with_gps((200, 30, 30))
    assert Image.open(io.BytesIO(raw)).getexif().get_ifd(0x8825)  # the input does carry GPS
    uri = metadata_free_data_uri({"bytes": raw, "path": None})
    image = decode(uri)
    assert uri.startswith("data:image/jpeg;base64,") and not image.getexif() and image.size == (24, 16)


def test_an_image_over_argillas_limit_is_shrunk_to_fit():
    noise = Image.frombytes("RGB", (1400, 1400), os.urandom(1400 * 1400 * 3))
    buffer = io.BytesIO()
    noise.save(buffer, format="PNG")
    uri = metadata_free_data_uri({"bytes": buffer.getvalue(), "path": None})
    assert len(uri) <= MAX_DATA_URI_CHARS and decode(uri).width < 1400 and uri.startswith("data:image/png")


def test_guidelines_ship_in_spanish_and_portuguese():
    both = guidelines()
    assert "Guía para revisores" in both and "Guia para revisores" in both
    assert "Guia para revisores" not in guidelines(["es"])
    with pytest.raises(ValueError, match="choose from es, pt"):
        guidelines(["fr"])


def test_a_record_carries_the_suggestions_and_metadata():
    row = make_candidates(4)[3]
    record = build_record(row, ["judge_cultural_accuracy", "judge_respect"])
    assert record.id == record_id("cand-003")
    assert record.metadata == {"country": "BO", "variety": "es-BO", "negative_type": "stereotype",
                               "judge_cultural_accuracy": 1.8, "judge_respect": 3.0}
    assert record.suggestions["label"].value == "undesirable"
    assert record.suggestions["flags"].value == ["stereotype"]
    assert record.suggestions["cultural_accuracy"].value == 2
    assert not decode(record.fields["image"]).getexif()


def test_a_dataset_without_images_is_refused_with_what_to_push_instead():
    from vlcultura.review.schema import load_candidates

    rows = make_candidates(2).remove_columns("image")
    with pytest.raises(ValueError, match="lacks image: review takes the candidates or judged dataset"):
        load_candidates(rows)
