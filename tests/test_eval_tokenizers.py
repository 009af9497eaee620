"""Spanish/Portuguese traps: each one has a test (NFD input, ¿¡, parentheses, accents, compounds)."""
from __future__ import annotations

import unicodedata

from conftest import require
from eval_helpers import JAVA_WHY, has_java
from vlcultura.eval.metrics.chrf import chrf
from vlcultura.eval.metrics.cultural import match_keys
from vlcultura.eval.metrics.lexical import bleu
from vlcultura.eval.metrics.tokenizers import coco_tokenize, iberian_tokenize, resolve_tokenizer

NFC_REF = "Un cuñapé y una salteña de Potosí sobre la mesa de madera."


def test_nfd_hypothesis_scores_like_its_nfc_reference():
    nfd = unicodedata.normalize("NFD", NFC_REF)
    assert nfd != NFC_REF
    hyp, ref = iberian_tokenize([nfd, NFC_REF])
    assert hyp == ref
    assert bleu([hyp], [[ref]])[3].value > 0.999
    assert chrf([nfd], [[NFC_REF]], word_order=2).value == 100.0


def test_inverted_marks_and_spanish_punctuation_are_dropped():
    tokens = iberian_tokenize(["¿Qué es esto? ¡Un «pão-de-queijo» (típico) — “bueno”!"])[0]
    assert tokens == ["qué", "es", "esto", "un", "pão-de-queijo", "típico", "bueno"]


def test_parentheses_do_not_leak_as_tokens():
    assert iberian_tokenize(["una ofrenda (Día de Muertos)"])[0] == ["una", "ofrenda", "día", "de", "muertos"]


def test_elisions_and_compounds_stay_whole():
    assert iberian_tokenize(["Copo d’água e pão-de-queijo."])[0] == ["copo", "d'água", "e", "pão-de-queijo"]


def test_accent_folding_for_cultural_matching():
    assert match_keys("Cuñapés", "es") == match_keys("cuñapé", "es") == match_keys("CUÑAPE", "es")
    assert match_keys("Potosí", "es") == match_keys("potosi", "es")
    assert match_keys("tawa-tawa", "es") == match_keys("Tawa tawa", "es")
    assert match_keys("cuñapé", "es") != match_keys("cunape", "es")  # ñ is a letter, not an accent


def test_coco_tokenizer_keeps_ptb_quirks_and_normalises_nfc():
    require("java", has_java(), JAVA_WHY)
    tokens = coco_tokenize(["¿Qué es (esto)? Un pão-de-queijo d'água — “bueno”.",
                            unicodedata.normalize("NFD", "Cuñapé")])
    assert tokens[0] == ["¿", "qué", "es", "-lrb-", "esto", "-rrb-", "un", "pão-de-queijo", "d'água", "bueno"]
    assert tokens[1] == ["cuñapé"]


def test_coco_tokenizer_keeps_one_line_per_caption():
    require("java", has_java(), JAVA_WHY)
    assert coco_tokenize(["a\nb", "", "c\r\nd"]) == [["a", "b"], [], ["c", "d"]]


def test_auto_tokenizer_follows_the_language():
    assert resolve_tokenizer("auto", "es") == "es"
    assert resolve_tokenizer("auto", "pt") == "pt"
    assert resolve_tokenizer("auto", "en") == "coco"
    assert resolve_tokenizer("pt", "es") == "pt"
