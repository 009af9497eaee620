"""Several reviewers, one label: the conflict policy and the agreement statistics.

Policies (ReviewConfig.conflict_policy), applied to the submitted labels of one record:
- `majority`: the label most reviewers gave wins; a tie is unresolved.
- `unanimous`: any disagreement is unresolved.
An unresolved record becomes `undesirable` (default: a description people disagree on is not
one to teach as good) or is left out (`unresolved: exclude`). A single review is always resolved.

Agreement is reported over records with two or more submitted labels: the share where everyone
agreed, mean pairwise agreement, Fleiss' kappa (the variable-raters form, so records may have
different numbers of reviewers) and Cohen's kappa for every pair of reviewers who shared records.
A kappa is None when chance agreement is 1 (everyone always gave the same single label): it is
undefined there, not perfect.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from itertools import combinations
from typing import Literal

from vlcultura.review.schema import UNDESIRABLE


@dataclass(frozen=True)
class Vote:
    """One reviewer's submitted answer to one record."""

    reviewer: str
    label: str
    rating: int | None = None
    correction: str | None = None
    flags: tuple[str, ...] = ()


def resolve(labels: list[str], policy: Literal["majority", "unanimous"],
            unresolved: Literal["undesirable", "exclude"]) -> tuple[str | None, bool]:
    """(label, settled): the record's label under `policy` (None: left out), and whether the
    policy settled it (False: a conflict it could not settle, so `unresolved` decided)."""
    ranked = Counter(labels).most_common()
    if len(ranked) == 1:
        return ranked[0][0], True
    if policy == "majority" and ranked[0][1] > ranked[1][1]:
        return ranked[0][0], True
    return (None if unresolved == "exclude" else UNDESIRABLE), False


def _kappa(observed: float, chance: float) -> float | None:
    return None if chance >= 1.0 - 1e-12 else (observed - chance) / (1.0 - chance)


def fleiss_kappa(items: list[dict[str, str]]) -> tuple[float, float | None]:
    """(mean pairwise agreement, Fleiss' kappa) over items rated by two or more reviewers."""
    per_item, totals, n_ratings = [], Counter(), 0
    for item in items:
        counts = Counter(item.values())
        n = sum(counts.values())
        per_item.append(sum(c * (c - 1) for c in counts.values()) / (n * (n - 1)))
        totals.update(counts)
        n_ratings += n
    observed = sum(per_item) / len(per_item)
    chance = sum((c / n_ratings) ** 2 for c in totals.values())
    return observed, _kappa(observed, chance)


def cohen_kappa(pairs: list[tuple[str, str]]) -> float | None:
    """Cohen's kappa of two reviewers' labels on the records they both reviewed."""
    n = len(pairs)
    observed = sum(a == b for a, b in pairs) / n
    first, second = Counter(a for a, _ in pairs), Counter(b for _, b in pairs)
    chance = sum(first[c] * second[c] for c in first) / (n * n)
    return _kappa(observed, chance)


def agreement(items: list[dict[str, str]]) -> dict:
    """Agreement statistics for `items` = one {reviewer: label} mapping per record."""
    multi = [i for i in items if len(i) >= 2]
    report: dict = {"records_with_several_reviews": len(multi), "percent_agreement": None,
                    "pairwise_agreement": None, "fleiss_kappa": None, "cohen_kappa": {}}
    if not multi:
        return report
    report["percent_agreement"] = 100.0 * sum(len(set(i.values())) == 1 for i in multi) / len(multi)
    report["pairwise_agreement"], report["fleiss_kappa"] = fleiss_kappa(multi)
    reviewers = sorted({r for i in multi for r in i})
    for a, b in combinations(reviewers, 2):
        shared = [(i[a], i[b]) for i in multi if a in i and b in i]
        if shared:
            report["cohen_kappa"][f"{a} | {b}"] = {"records": len(shared), "kappa": cohen_kappa(shared)}
    return report
