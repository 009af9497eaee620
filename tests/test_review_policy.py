"""Conflict policy and agreement statistics (pure functions, checked against published examples)."""
from __future__ import annotations

import pytest

from vlcultura.review.policy import agreement, cohen_kappa, fleiss_kappa, resolve

D, U = "desirable", "undesirable"


@pytest.mark.parametrize(("labels", "policy", "unresolved", "expected"), [
    ([D], "majority", "exclude", (D, True)),
    ([D, D, U], "majority", "exclude", (D, True)),
    ([D, U], "majority", "undesirable", (U, False)),
    ([D, U], "majority", "exclude", (None, False)),
    ([D, D, U], "unanimous", "exclude", (None, False)),
    ([D, D, U], "unanimous", "undesirable", (U, False)),
    ([U, U], "unanimous", "exclude", (U, True)),
])
def test_resolve(labels, policy, unresolved, expected):
    assert resolve(labels, policy, unresolved) == expected


def test_cohen_kappa_matches_the_textbook_example():
    # Wikipedia "Cohen's kappa": 50 proposals, 20 yes/yes, 5 yes/no, 10 no/yes, 15 no/no -> 0.4
    pairs = [("y", "y")] * 20 + [("y", "n")] * 5 + [("n", "y")] * 10 + [("n", "n")] * 15
    assert cohen_kappa(pairs) == pytest.approx(0.4)


def test_fleiss_kappa_matches_the_textbook_example():
    # Wikipedia "Fleiss' kappa": 10 subjects, 14 raters, 5 categories -> P = 0.378, kappa = 0.210
    table = [[0, 0, 0, 0, 14], [0, 2, 6, 4, 2], [0, 0, 3, 5, 6], [0, 3, 9, 2, 0], [2, 2, 8, 1, 1],
             [7, 7, 0, 0, 0], [3, 2, 6, 3, 0], [2, 5, 3, 2, 2], [6, 5, 2, 1, 0], [0, 2, 2, 3, 7]]
    items = [{f"r{k}": str(cat) for k, cat in enumerate(c for c, n in enumerate(row) for _ in range(n))}
             for row in table]
    observed, kappa = fleiss_kappa(items)
    assert observed == pytest.approx(0.378, abs=5e-4) and kappa == pytest.approx(0.210, abs=5e-4)


def test_kappa_is_undefined_not_perfect_when_one_label_is_used_throughout():
    report = agreement([{"a": D, "b": D}, {"a": D, "b": D}, {"a": D}])
    assert report["records_with_several_reviews"] == 2 and report["percent_agreement"] == 100.0
    assert report["fleiss_kappa"] is None and report["cohen_kappa"]["a | b"] == {"records": 2, "kappa": None}


def test_agreement_with_single_reviews_only_reports_nothing_to_measure():
    report = agreement([{"a": D}, {"b": U}])
    assert report["records_with_several_reviews"] == 0 and report["percent_agreement"] is None


def test_pairs_of_reviewers_only_over_shared_records():
    report = agreement([{"a": D, "b": U, "c": U}, {"a": D, "b": D}, {"b": U, "c": U}])
    assert set(report["cohen_kappa"]) == {"a | b", "a | c", "b | c"}
    assert report["cohen_kappa"]["a | c"]["records"] == 1 and report["cohen_kappa"]["b | c"]["records"] == 2
    assert report["percent_agreement"] == pytest.approx(200 / 3)
