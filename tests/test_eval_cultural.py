"""Cultural metrics: gold-label coverage, generic-term penalty, variety fidelity, stereotypes."""
from __future__ import annotations

import math

from vlcultura.eval.metrics.cultural import ImageMeta, cultural_metrics, detect_language, score_caption
from vlcultura.eval.metrics.lexicons import COUNTRY_LEXICONS, register_lexicon


def test_gold_label_found_through_plural_case_and_missing_accent():
    assert score_caption("Unos CUÑAPÉS recién horneados", ["cuñapé"], "BO", "es-BO").label_coverage == 1.0
    assert score_caption("Cuñape de queso", ["cuñapé"], "BO", "es-BO").label_coverage == 1.0


def test_generic_pastel_for_a_cunape_is_penalised():
    generic = score_caption("Un pastel redondo sobre la mesa", ["cuñapé"], "BO", "es-BO")
    assert generic.generic and generic.generic_terms == ["pastel"] and generic.label_coverage == 0.0
    specific = score_caption("Un cuñapé, un pan de queso redondo", ["cuñapé"], "BO", "es-BO")
    assert not specific.generic


def test_man_with_cloth_for_a_torero_is_generic_even_in_a_bullring():
    s = score_caption("Un hombre con una tela roja en la plaza de toros", ["torero", "capote"], "ES", "es-ES")
    assert s.generic and s.label_coverage == 0.0 and "plaza de toros" in s.lexicon_terms
    good = score_caption("Un torero da una verónica con el capote", ["torero", "capote"], "ES", "es-ES")
    assert good.label_coverage == 1.0 and not good.generic and "verónica" in good.lexicon_terms


def test_variety_fidelity_spanish_vs_portuguese_and_foreign_words():
    assert detect_language("Um pão de queijo quentinho na mesa da cozinha") == "pt"
    assert detect_language("Una salteña jugosa sobre la mesa") == "es"
    assert score_caption("Um pão de queijo na mesa", ["cuñapé"], "BO", "es-BO").variety_fidelity == 0.0
    mixed = score_caption("Unos elotes junto al ordenador", [], "MX", "es-MX")
    assert mixed.variety_fidelity == 0.5 and mixed.other_variety_terms == ["ordenador"]
    assert "elote" in mixed.variety_markers
    assert score_caption("Um pão de queijo na mesa", [], "BR", "pt-BR").variety_fidelity == 1.0


def test_stereotype_terms_are_flagged():
    s = score_caption("Una escena exótica y primitiva del mercado", [], "BO", "es-BO")
    assert {"exótico", "primitivo"} <= set(s.stereotype_terms)
    assert not score_caption("Una cholita vende api en el mercado", [], "BO", "es-BO").stereotype_terms


def test_corpus_cultural_metrics_skip_images_without_labels():
    metas = [ImageMeta(["cuñapé"], "BO", "es-BO"), ImageMeta([], "BO", "es-BO")]
    metrics, per = cultural_metrics(["Un cuñapé", "Un pastel y una salteña"], metas)
    by_name = {m.name: m for m in metrics}
    assert by_name["label coverage"].value == 1.0 and math.isnan(per[1].label_coverage)
    assert by_name["generic rate"].value == 0.0  # image 2 names a lexicon term (salteña)
    assert by_name["lexicon terms"].value == 1.0


def test_register_lexicon_extends_a_country():
    register_lexicon("uy", ["garrapiñada"])
    try:
        assert score_caption("Garrapiñadas en la rambla", [], "UY", "es-UY").lexicon_terms == ["garrapiñada", "rambla"]
    finally:
        COUNTRY_LEXICONS["UY"].discard("garrapiñada")


def test_each_image_is_read_in_its_own_variety_language():
    metas = [ImageMeta(["cuñapé"], "BO", "es-BO"), ImageMeta(["pão de queijo"], "BR", "pt-BR")]
    metrics, per = cultural_metrics(["Un cuñapé dorado", "Um pão de queijo quentinho"], metas, language="es")
    assert [s.variety_fidelity for s in per] == [1.0, 1.0]
    assert [s.label_coverage for s in per] == [1.0, 1.0]


def test_portuguese_varieties_and_folder_style_labels():
    br = score_caption("Um pão de queijo no autocarro", ["pão de queijo"], "BR", "pt-BR")
    assert br.variety_fidelity == 0.5 and br.other_variety_terms == ["autocarro"]
    pt = score_caption("Pastéis de nata no elétrico de Lisboa", ["pastel de nata"], "PT", "pt-PT")
    assert pt.label_coverage == 1.0 and pt.variety_fidelity == 1.0 and "elétrico" in pt.lexicon_terms
    plural = score_caption("Uns acarajés baianos e pães de queijo", ["acarajé", "pão de queijo"], "BR", "pt-BR")
    assert plural.label_coverage == 1.0
    folder = score_caption("Conitos rellenos de crema en una bandeja", ["Conitos_rellenos_de_crema"], "BO", "es-BO")
    assert folder.label_coverage == 1.0
