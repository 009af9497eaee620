"""The run's review stage against a real local Argilla server: it waits for people, then goes on."""
from __future__ import annotations

import datasets
import pytest
from argilla_server import argilla_local, make_candidates, review_config, reviewers  # noqa: F401

from vlcultura.stages import ReviewPending, human_review
from vlcultura.review.schema import ACCURACY, CORRECTION, LABEL


def test_review_stage_stops_until_every_record_is_submitted_then_pulls(tmp_path, review_config, reviewers):
    candidates = tmp_path / "judged"
    make_candidates(4).save_to_disk(str(candidates))
    out = tmp_path / "review"
    with pytest.raises(ReviewPending, match="0 of 4 records reviewed"):
        human_review(candidates, out, review_config)

    alice = reviewers["alice"]
    queue = alice.queue(review_config.dataset_name)
    assert len(queue) == 4
    for i, (record, server_id) in enumerate(sorted(queue.items())):
        values = {LABEL: "undesirable" if i == 0 else "desirable", ACCURACY: 2 if i == 0 else 5}
        if i == 1:
            values[CORRECTION] = "Salteñas bolivianas recién horneadas, jugosas, sobre una mesa."
        alice.answer(server_id, values)

    summary = human_review(candidates, out, review_config)  # the re-run pushes nothing new, pulls all
    rows = datasets.load_from_disk(summary["outputs"]["reviewed"])
    assert summary["rows"] == len(rows) == 5  # 4 reviewed + 1 correction as a new desirable row
    assert set(rows["review_votes"]) == {1}
    card = summary["card"]
    assert card["reviewed_records"] == 4 and card["corrections"] == 1 and "api_url" not in card
