"""Lexical metric definitions on small cases whose answers follow from the definitions."""
from __future__ import annotations

import math

import pytest

from conftest import require
from eval_helpers import JAVA_WHY, has_java
from vlcultura.eval.metrics.chrf import chrf
from vlcultura.eval.metrics.lexical import DocumentFrequency, bleu, cider_d, lcs_length, rouge_l
from vlcultura.eval.metrics.meteor import meteor
from vlcultura.eval.metrics.tokenizers import iberian_tokenize, get_tokenizer

CAT = "un gato negro duerme sobre el sofá".split()
DOG = "un perro marrón corre por el parque".split()


def test_bleu_identical_is_one_and_disjoint_is_zero():
    assert [round(m.value, 6) for m in bleu([CAT], [[CAT]])] == [1.0] * 4
    assert bleu([["x", "y", "z", "w"]], [[CAT]])[0].value < 1e-9


def test_bleu_brevity_penalty_uses_closest_reference():
    short = CAT[:4]
    b1 = bleu([short], [[CAT, short + ["hoy", "sí"]]])[0].value
    assert b1 == pytest.approx(math.exp(1 - 6 / 4), rel=1e-6)  # closest ref has 6 tokens


def test_rouge_l_lcs_and_beta():
    assert lcs_length(list("abcbdab"), list("bdcaba")) == 4
    assert rouge_l([CAT], [[CAT]]).value == pytest.approx(1.0)
    assert rouge_l([[]], [[CAT]]).value == 0.0


def test_cider_d_single_image_is_zero_and_fixed_idf_changes_that():
    assert cider_d([CAT], [[CAT]]).value == 0.0  # every n-gram is in every document: idf 0
    idf = DocumentFrequency.from_references([[CAT], [DOG], [DOG]], "three-image corpus")
    fixed = cider_d([CAT], [[CAT]], idf)
    assert fixed.value > 0 and "three-image corpus (3 images)" in fixed.note


def test_cider_d_penalises_length_difference():
    refs = [[CAT], [DOG]]
    exact = cider_d([CAT, DOG], refs).per_item[0]
    padded = cider_d([CAT + ["muy", "muy", "muy", "tranquilo"], DOG], refs).per_item[0]
    assert exact > padded > 0


def test_chrf_signature_and_corpus_from_stats():
    result = chrf(["un pão de queijo", "hola"], [["um pão de queijo", "hola amigo"], ["hola"]], word_order=2)
    assert result.name == "chrF++" and "nw:2" in result.note and "nrefs:var" in result.note
    assert result.per_item[1] == 100.0
    assert 0 < result.value < 100


def test_unknown_tokenizer_lists_choices():
    with pytest.raises(ValueError, match="coco, es, pt"):
        get_tokenizer("ptb")


def test_meteor_spanish_is_labelled_exact_stem():
    require("java", has_java(), JAVA_WHY)
    hyp, ref = iberian_tokenize(["Unos cuñapés dorados sobre la mesa", "Cuñapé dorado en una mesa"])
    result = meteor([hyp], [[ref]], "es")
    assert result.name == "METEOR-es (exact+stem)"
    assert 0 < result.value < 1
    assert meteor([ref], [[ref]], "pt").value == pytest.approx(1.0, abs=0.02)
