"""BLEU-1..4, ROUGE-L and CIDEr-D in pure Python, defined exactly as pycocoevalcap computes them.

Inputs are already tokenized (see `tokenizers`): one hypothesis token list per image and a list
of reference token lists per image. With the `coco` tokenizer the corpus values equal
pycocoevalcap's (tests/test_eval_parity.py checks all of them on the shared COCO set).
Definitions (../docs/evaluation.md): corpus BLEU with the "closest" reference length and
pycocoevalcap's 1e-15 / 1e-9 smoothing; ROUGE-L F with beta 1.2 over the best-precision and
best-recall references; CIDEr-D with clipped tf-idf n-grams, a Gaussian length penalty
(sigma 6) on the difference of bigram counts, x10.
"""
from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass
from typing import Iterable, Sequence

import numpy as np

from vlcultura.eval.metrics.base import MetricResult, mean_metric

Tokens = Sequence[str]
NGram = tuple[str, ...]
_TINY, _SMALL = 1e-15, 1e-9
MAX_N = 4


def ngram_counts(tokens: Tokens, n: int = MAX_N) -> Counter[NGram]:
    """All 1..n-grams of a token list with their counts."""
    counts: Counter[NGram] = Counter()
    for k in range(1, n + 1):
        counts.update(zip(*(tokens[i:] for i in range(k))))
    return counts


# ---------------------------------------------------------------- BLEU
def _bleu_stats(hyp: Tokens, refs: Sequence[Tokens]) -> list[float]:
    """[testlen, reflen(closest), guess_1..4, correct_1..4] for one image."""
    max_ref: Counter[NGram] = Counter()
    for ref in refs:
        max_ref |= ngram_counts(ref)
    counts = ngram_counts(hyp)
    correct = [0] * MAX_N
    for gram, count in counts.items():
        correct[len(gram) - 1] += min(max_ref.get(gram, 0), count)
    testlen = len(hyp)
    reflen = min((abs(len(r) - testlen), len(r)) for r in refs)[1]
    guess = [max(0, testlen - k + 1) for k in range(1, MAX_N + 1)]
    return [testlen, reflen, *guess, *correct]


def _bleu_from(stats: np.ndarray, order: int) -> float:
    """BLEU-`order` of summed stats rows (a 1-row array gives the sentence score)."""
    total = stats.sum(axis=0) if stats.ndim == 2 else stats
    testlen, reflen = total[0], total[1]
    score = 1.0
    for k in range(order):
        score *= (total[6 + k] + _TINY) / (total[2 + k] + _SMALL)
    score **= 1.0 / order
    ratio = (testlen + _TINY) / (reflen + _SMALL)
    return float(score * math.exp(1 - 1 / ratio)) if ratio < 1 else float(score)


@dataclass(frozen=True)
class _BleuAggregate:
    order: int

    def __call__(self, stats: np.ndarray) -> float:
        return _bleu_from(stats, self.order) if len(stats) else 0.0


def bleu(hyps: Sequence[Tokens], refs: Sequence[Sequence[Tokens]]) -> list[MetricResult]:
    """Corpus BLEU-1..4 (closest reference length) with pycocoevalcap's per-image scores."""
    stats = np.array([_bleu_stats(h, r) for h, r in zip(hyps, refs, strict=True)], dtype=float).reshape(-1, 10)
    out = []
    for order in range(1, MAX_N + 1):
        agg = _BleuAggregate(order)
        per = np.array([agg(row[None, :]) for row in stats])
        out.append(MetricResult(f"BLEU-{order}", stats, agg, per))
    return out


# ---------------------------------------------------------------- ROUGE-L
def lcs_length(a: Tokens, b: Tokens) -> int:
    """Length of the longest common subsequence (one rolling row of the DP table)."""
    if len(a) < len(b):
        a, b = b, a
    prev = [0] * (len(b) + 1)
    for x in a:
        cur = [0]
        for j, y in enumerate(b, 1):
            cur.append(prev[j - 1] + 1 if x == y else max(prev[j], cur[j - 1]))
        prev = cur
    return prev[-1]


def rouge_l_sentence(hyp: Tokens, refs: Sequence[Tokens], beta: float = 1.2) -> float:
    """ROUGE-L F-measure from the best precision and best recall over the references."""
    if not hyp:
        return 0.0
    lcs = [lcs_length(r, hyp) for r in refs]
    prec = max(v / len(hyp) for v in lcs)
    rec = max(v / len(r) if r else 0.0 for v, r in zip(lcs, refs))
    if prec == 0 or rec == 0:
        return 0.0
    return (1 + beta ** 2) * prec * rec / (rec + beta ** 2 * prec)


def rouge_l(hyps: Sequence[Tokens], refs: Sequence[Sequence[Tokens]]) -> MetricResult:
    """Mean ROUGE-L (beta 1.2) over images."""
    return mean_metric("ROUGE-L", [rouge_l_sentence(h, r) for h, r in zip(hyps, refs, strict=True)])


# ---------------------------------------------------------------- CIDEr-D
@dataclass(frozen=True)
class DocumentFrequency:
    """N-gram document frequencies (one document = one image's references) and corpus size."""

    df: dict[NGram, int]
    n_docs: int
    source: str  # said in reports: "the scored images" or the fixed corpus it came from

    @classmethod
    def from_references(cls, refs: Iterable[Sequence[Tokens]], source: str) -> "DocumentFrequency":
        return cls.from_counts(([ngram_counts(r) for r in image_refs] for image_refs in refs), source)

    @classmethod
    def from_counts(cls, refs: Iterable[Sequence[Counter[NGram]]], source: str) -> "DocumentFrequency":
        df: Counter[NGram] = Counter()
        n_docs = 0
        for image_refs in refs:
            n_docs += 1
            df.update(set().union(*image_refs))
        return cls(dict(df), n_docs, source)


class _Weights:
    """Per-n-gram idf weight `log(N) - log(max(1, df))`, computed once per n-gram."""

    def __init__(self, idf: DocumentFrequency) -> None:
        self.df = idf.df
        self.log_n = math.log(float(idf.n_docs)) if idf.n_docs else 0.0
        self.cache: dict[NGram, float] = {}

    def vector(self, counts: Counter[NGram]) -> tuple[dict[NGram, float], list[float], int]:
        """tf-idf weights, per-order norms and the bigram count (the length CIDEr-D penalises)."""
        vec: dict[NGram, float] = {}
        norm = [0.0] * MAX_N
        bigrams = 0
        for gram, tf in counts.items():
            w = self.cache.get(gram)
            if w is None:
                w = self.cache[gram] = self.log_n - math.log(max(1.0, self.df.get(gram, 0)))
            vec[gram] = tf * w
            norm[len(gram) - 1] += (tf * w) ** 2
            if len(gram) == 2:
                bigrams += tf
        return vec, [math.sqrt(v) for v in norm], bigrams


def _cider_sentence(hyp: Counter[NGram], refs: Sequence[Counter[NGram]], weights: _Weights,
                    sigma: float) -> float:
    vh, nh, lh = weights.vector(hyp)
    total = 0.0
    for ref in refs:
        vr, nr, lr = weights.vector(ref)
        val = [0.0] * MAX_N
        for gram, w in vh.items():
            r = vr.get(gram)
            if r:
                val[len(gram) - 1] += min(w, r) * r
        penalty = math.exp(-((lh - lr) ** 2) / (2 * sigma ** 2))
        total += penalty * sum(v / (nh[k] * nr[k]) if nh[k] and nr[k] else v for k, v in enumerate(val))
    return total / MAX_N / len(refs) * 10.0


def cider_d(hyps: Sequence[Tokens], refs: Sequence[Sequence[Tokens]],
            idf: DocumentFrequency | None = None, sigma: float = 6.0) -> MetricResult:
    """Mean CIDEr-D. Without `idf`, frequencies come from these images' references (as in
    pycocoevalcap: scores then depend on the image set); pass a fixed corpus for small sets."""
    ref_counts = [[ngram_counts(r) for r in image_refs] for image_refs in refs]
    idf = idf or DocumentFrequency.from_counts(ref_counts, "the scored images' references")
    weights = _Weights(idf)
    scores = [_cider_sentence(ngram_counts(h), r, weights, sigma) for h, r in zip(hyps, ref_counts, strict=True)]
    return mean_metric("CIDEr-D", scores, f"IDF: {idf.source} ({idf.n_docs} images)")
