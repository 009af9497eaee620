"""Confidence intervals and base-vs-tuned comparisons that a reviewer can trust.

Bootstrap over images: each resample draws images with replacement and recomputes the corpus
metric from their per-image statistics (so corpus BLEU and chrF are re-aggregated, not
averaged). CIDEr-D keeps the IDF of the full set fixed across resamples and subsets. The paired
bootstrap uses the SAME resampled images for both systems; the win rate counts images where the
tuned caption scores higher, ties counting half.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import warnings

import numpy as np

from vlcultura.eval.metrics.base import MetricResult, column_mean


# Differences below this are ties: BLEU's 1e-15/1e-9 smoothing leaves ~1e-6 sentence scores that
# vary with caption length alone, and no metric here is read to six decimals.
TIE = 1e-6


@dataclass(frozen=True)
class Interval:
    """A point estimate with a percentile bootstrap interval."""

    value: float
    low: float
    high: float


@dataclass(frozen=True)
class Comparison:
    """Tuned minus base on one metric."""

    metric: str
    base: float
    tuned: float
    delta: Interval
    p_value: float  # two-sided, from the paired bootstrap
    win_rate: float  # share of images where tuned > base, ties half
    wins: int
    ties: int
    losses: int


def resample_indices(n: int, samples: int, seed: int) -> np.ndarray:
    """(samples, n) image indices drawn with replacement; one seed, reproducible."""
    return np.random.default_rng(seed).integers(0, n, size=(samples, n))


def _replicates(metric: MetricResult, indices: np.ndarray) -> np.ndarray:
    """Metric over each resample. When an external tool gave the corpus value (METEOR), the
    resampled aggregate is shifted onto it: the interval keeps its width around that value."""
    if metric.aggregate is column_mean:
        with np.errstate(all="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # an all-NaN resample is dropped later
            reps = np.nanmean(metric.stats[indices, 0], axis=1)  # fast path for mean metrics
    else:
        reps = np.array([metric.aggregate(metric.stats[row]) for row in indices])
    offset = metric.value - metric.aggregate(metric.stats) if metric.corpus_value is not None else 0.0
    return reps + offset


def _interval(point: float, reps: np.ndarray, alpha: float) -> Interval:
    reps = reps[np.isfinite(reps)]
    if not len(reps):
        return Interval(point, float("nan"), float("nan"))
    low, high = np.quantile(reps, [alpha / 2, 1 - alpha / 2])
    return Interval(point, float(low), float(high))


def bootstrap_ci(metric: MetricResult, samples: int = 1000, seed: int = 0, alpha: float = 0.05,
                 subset: Sequence[int] | None = None) -> Interval:
    """95% (by default) percentile interval of a metric, optionally over a subset of images."""
    if subset is not None:
        sub = np.asarray(subset)
        metric = MetricResult(metric.name, metric.stats[sub], metric.aggregate, metric.per_item[sub])
    return _interval(metric.value, _replicates(metric, resample_indices(len(metric.stats), samples, seed)), alpha)


def paired_bootstrap(base: MetricResult, tuned: MetricResult, samples: int = 1000, seed: int = 0,
                     alpha: float = 0.05) -> Comparison:
    """Delta (tuned - base) with a paired interval, a two-sided p-value and the win rate."""
    if len(base.stats) != len(tuned.stats):
        raise ValueError(f"{base.name}: base and tuned were scored on different image sets")
    idx = resample_indices(len(base.stats), samples, seed)
    deltas = _replicates(tuned, idx) - _replicates(base, idx)
    deltas = deltas[np.isfinite(deltas)]
    delta = tuned.value - base.value
    if len(deltas):
        p = float(min(1.0, 2 * min(np.mean(deltas <= TIE), np.mean(deltas >= -TIE))))
    else:
        p = float("nan")
    wins, ties, losses = win_counts(base.per_item, tuned.per_item)
    decided = wins + ties + losses
    rate = (wins + 0.5 * ties) / decided if decided else float("nan")
    return Comparison(base.name, base.value, tuned.value, _interval(delta, deltas, alpha), p, rate,
                      wins, ties, losses)


def win_counts(base: np.ndarray, tuned: np.ndarray, tolerance: float = TIE) -> tuple[int, int, int]:
    """Images where tuned beats, ties or loses to base (NaN images are left out)."""
    ok = np.isfinite(base) & np.isfinite(tuned)
    diff = tuned[ok] - base[ok]
    return int((diff > tolerance).sum()), int((np.abs(diff) <= tolerance).sum()), int((diff < -tolerance).sum())


def group_indices(keys: Sequence[str | None]) -> dict[str, list[int]]:
    """Image positions per group value (country, variety); missing values go to "unknown"."""
    groups: dict[str, list[int]] = {}
    for i, key in enumerate(keys):
        groups.setdefault(key or "unknown", []).append(i)
    return dict(sorted(groups.items()))
