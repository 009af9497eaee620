"""The shape every corpus metric returns, so statistics and reports treat them alike.

A metric keeps per-image *sufficient statistics* and the function that turns any set of rows
into the corpus score. Corpus BLEU and chrF are not means of sentence scores: bootstrapping
them means resampling those rows and re-aggregating, which this shape makes uniform.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np


@dataclass
class MetricResult:
    """One metric over one system's captions: corpus value, per-image scores, resampling stats."""

    name: str
    stats: np.ndarray  # (n_images, k) rows that `aggregate` sums or averages
    aggregate: Callable[[np.ndarray], float]
    per_item: np.ndarray  # sentence-level score per image (win rates, distributions, gallery)
    note: str = ""  # signature or how it was computed (e.g. sacrebleu signature, IDF source)
    corpus_value: float | None = None  # set when an external tool computes the corpus score

    @property
    def value(self) -> float:
        """The corpus-level score over all images."""
        return self.corpus_value if self.corpus_value is not None else self.aggregate(self.stats)


def mean_metric(name: str, scores: np.ndarray | list[float], note: str = "") -> MetricResult:
    """A metric whose corpus value is the mean of its per-image scores."""
    arr = np.asarray(scores, dtype=float)
    return MetricResult(name, arr.reshape(-1, 1), column_mean, arr, note)


def column_mean(stats: np.ndarray) -> float:
    """Mean that skips NaN (an image a metric does not apply to); NaN when none applies."""
    column = stats[:, 0]
    return float(np.nanmean(column)) if np.isfinite(column).any() else float("nan")
