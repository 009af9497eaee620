"""Bootstrap sanity: identical systems tie (win rate 0.5, delta CI covers 0); a better system wins."""
from __future__ import annotations

import numpy as np
import pytest

from vlcultura.eval.metrics.base import mean_metric
from vlcultura.eval.metrics.chrf import chrf
from vlcultura.eval.metrics.lexical import bleu
from vlcultura.eval.metrics.tokenizers import iberian_tokenize
from vlcultura.eval.stats import bootstrap_ci, group_indices, paired_bootstrap, win_counts

REFS = [["un cuñapé dorado sobre la mesa"], ["una salteña jugosa en un plato"], ["un api morado con pastel"],
        ["masitas bolivianas en una bandeja"], ["una cholita vende tawa-tawa"], ["empanadas de lacayote"]] * 5
GOOD = [r[0] for r in REFS]
BAD = ["un pastel", "una empanada", "una bebida", "galletas", "una mujer", "comida"] * 5


def test_identical_systems_win_rate_half_and_ci_covers_zero():
    a = chrf(GOOD[:-3] + BAD[-3:], REFS, word_order=2)
    same = chrf(GOOD[:-3] + BAD[-3:], REFS, word_order=2)
    c = paired_bootstrap(a, same, samples=300, seed=1)
    assert c.win_rate == 0.5 and c.ties == len(REFS)
    assert c.delta.low <= 0 <= c.delta.high and c.p_value == 1.0


def test_better_system_wins_with_ci_above_zero():
    base = chrf(BAD, REFS, word_order=2)
    tuned = chrf(GOOD, REFS, word_order=2)
    c = paired_bootstrap(base, tuned, samples=300, seed=1)
    assert c.delta.low > 0 and c.win_rate == 1.0 and c.p_value < 0.01


def test_corpus_bleu_is_reaggregated_not_averaged():
    hyps = iberian_tokenize(GOOD[:3] + BAD[3:6])
    refs = [iberian_tokenize(r) for r in REFS[:6]]
    b4 = bleu(hyps, refs)[3]
    ci = bootstrap_ci(b4, samples=400, seed=0)
    assert ci.value == pytest.approx(b4.value)
    assert b4.value != pytest.approx(float(b4.per_item.mean()))
    assert ci.low <= ci.value <= ci.high


def test_mean_metric_ci_and_subset_and_nan_skipping():
    m = mean_metric("x", [0.0, 1.0, np.nan, 1.0])
    assert m.value == pytest.approx(2 / 3)
    ci = bootstrap_ci(m, samples=500, seed=3)
    assert 0.0 <= ci.low <= ci.value <= ci.high <= 1.0
    assert bootstrap_ci(m, samples=50, seed=3, subset=[1, 3]).value == 1.0


def test_group_indices_put_missing_in_unknown():
    assert group_indices(["BO", None, "MX", "BO"]) == {"BO": [0, 3], "MX": [2], "unknown": [1]}


def test_paired_bootstrap_refuses_different_image_sets():
    with pytest.raises(ValueError, match="different image sets"):
        paired_bootstrap(mean_metric("x", [1.0, 2.0]), mean_metric("x", [1.0]))


def test_differences_below_a_millionth_are_ties():
    base = np.array([0.5, 1e-7, 0.2, np.nan])
    tuned = np.array([0.5 + 1e-9, 3e-7, 0.3, 0.9])
    assert win_counts(base, tuned) == (1, 2, 0)
