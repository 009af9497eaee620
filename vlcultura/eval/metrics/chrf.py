"""chrF and chrF++ through sacrebleu, with its signature (tokenizer-free, morphology-robust).

AmericasNLP ranks captioning systems by chrF++. Text is NFC-normalised first: sacrebleu does not
do it, and an NFD caption scores chrF 72.6 against its own NFC form. Corpus scores come from
summed character/word n-gram statistics (as sacrebleu computes them), kept per image so a
bootstrap resamples images and re-aggregates.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
from sacrebleu.metrics import CHRF

from vlcultura.eval.metrics.base import MetricResult
from vlcultura.eval.metrics.tokenizers import nfc


class _ChrfAggregate:
    """Summed sacrebleu statistics -> corpus chrF (sacrebleu's own formula)."""

    def __init__(self, metric: CHRF) -> None:
        self.metric = metric

    def __call__(self, stats: np.ndarray) -> float:
        if not len(stats):
            return 0.0
        return float(self.metric._compute_score_from_stats(list(stats.sum(axis=0))).score)


def chrf(hyps: Sequence[str], refs: Sequence[Sequence[str]], word_order: int = 0) -> MetricResult:
    """chrF (word_order=0) or chrF++ (word_order=2) with per-image statistics."""
    metric = CHRF(word_order=word_order)
    width = max((len(r) for r in refs), default=1)
    streams = [[nfc(r[i]) if i < len(r) else None for r in refs] for i in range(width)]
    hyps = [nfc(h) for h in hyps]
    metric._check_corpus_score_args(hyps, streams)
    stats = np.array(metric._extract_corpus_statistics(hyps, streams), dtype=float)  # also sets nrefs
    stats = stats.reshape(len(hyps), -1)
    agg = _ChrfAggregate(metric)
    per = np.array([agg(row[None, :]) for row in stats])
    name = "chrF++" if word_order else "chrF"
    return MetricResult(name, stats, agg, per, str(metric.get_signature()))
