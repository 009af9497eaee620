"""Rule filters: every check drops what it should, keeps what it should, and says why."""
from __future__ import annotations

from quality_helpers import candidate_rows, candidates_dataset

from vlcultura.config import FilterConfig
from vlcultura.data.dedup import near_duplicates
from vlcultura.data.filters import (detect_language, filter_dataset, filter_rows, refusal,
                                    variety_conflicts, variety_markers)


def _row(i: int, text: str, label: bool = True, variety: str = "es-AR", image: str = "img-1",
         negative_type: str | None = None) -> dict:
    return {"id": f"r{i}", "image_id": image, "completion": text, "label": label, "variety": variety,
            "negative_type": negative_type}


def test_language_detection_separates_spanish_portuguese_english():
    assert detect_language("Unos panes de queso que se comen con café en la tarde y son muy ricos") == "es"
    assert detect_language("Uns pães de queijo que são comidos com café, não são caros e são muito bons") == "pt"
    assert detect_language("A basket of bread rolls on the table with a cup of coffee") == "en"
    assert detect_language("Cuñapé") is None


def test_variety_markers_and_conflicts_use_the_registry():
    assert variety_conflicts("Vosotros podéis probar este zumo", "es-MX") == ["vosotros", "zumo"]
    assert variety_markers("Che, vos tenés que probar esta factura", "es-AR") == ["vos", "tenés", "che", "factura"]
    assert variety_conflicts("Un autobús", None) == []
    assert variety_conflicts("Si tú quieres, puedes probar el mate amargo", "es-AR") == ["puedes", "quieres", "tú"]
    assert variety_conflicts("Si vos querés, probá el mate amargo", "es-AR") == []
    assert variety_conflicts("Vos sabés que este mole es de Puebla", "es-MX") == ["sabés", "vos"]
    assert variety_conflicts("Si tú quieres, pruébalo", "es-CO") == []


def test_refusals_in_spanish_portuguese_english():
    assert refusal("Lo siento, pero no puedo describir esta imagen.")
    assert refusal("Como modelo de lenguaje, no tengo opiniones.")
    assert refusal("Desculpe, mas não posso ajudar com isso.")
    assert refusal("I'm sorry, I can't help with that.")
    assert refusal("Lo siento por la espera: aquí está la salteña, jugosa y dulce.") is None


def test_each_rule_drops_with_its_reason():
    config = FilterConfig(min_words=5, max_words=30)
    good = "Che, mirá estas facturas de manteca recién hechas en la panadería del barrio, qué ricas."
    rows = [
        _row(0, good),
        _row(1, "Lo siento, no puedo describir imágenes de personas."),
        _row(2, "Medialunas."),
        _row(3, " ".join(["palabra"] * 31)),
        _row(4, "Vosotros tenéis aquí unas facturas de manteca recién hechas en la panadería."),
        _row(5, "Umas medialunas de manteiga feitas na padaria do bairro, não são caras e são muito boas."),
        _row(6, good, image="img-1"),
        _row(7, "Otra descripción distinta de la panadería del barrio con medialunas y café con leche."),
        _row(8, "Otra descripción distinta de la panadería del barrio con medialunas y café con leche.", label=False),
        _row(9, "Vale, vosotros podéis coger estas facturas recién hechas de la panadería.", label=False,
             negative_type="wrong_variety"),
        _row(10, ""),
    ]
    keep, report = filter_rows(rows, config)
    reasons = {d.row_id: d.reason for d in report.drops}
    assert reasons == {"r1": "refusal", "r2": "too_short", "r3": "too_long", "r4": "variety_mismatch",
                       "r5": "wrong_language", "r6": "exact_duplicate", "r7": "label_collision",
                       "r8": "label_collision", "r10": "empty"}
    assert keep == [0, 9]  # the typed wrong_variety negative is meant to break the variety rule
    assert report.n_in == 11 and report.n_out == 2
    assert all(d.detail for d in report.drops)
    assert report.counts_by_reason["label_collision"] == 2


def test_near_duplicates_minhash_scope_image_vs_dataset():
    base = ("Una ofrenda de Día de Muertos con pan de muerto, flores de cempasúchil, papel picado "
            "y veladoras encendidas para recibir a los difuntos de la familia")
    rows = [_row(0, base, variety="es-MX", image="a"),
            _row(1, base + " queridos", variety="es-MX", image="a"),
            _row(2, base, variety="es-MX", image="b")]
    keep, report = filter_rows(rows, FilterConfig(max_words=60))
    assert keep == [0, 2] and report.drops[0].reason == "near_duplicate"
    assert "Jaccard" in report.drops[0].detail and "r0" in report.drops[0].detail
    assert report.stats["kept_texts_shared_across_images"] == 2  # rows 0 and 2: same text, two images
    keep, report = filter_rows(rows, FilterConfig(max_words=60, near_duplicate_scope="dataset"))
    assert keep == [0] and report.stats["kept_texts_shared_across_images"] == 0


def test_near_duplicates_respects_groups_and_threshold():
    texts = ["el mate amargo se comparte en ronda entre amigos en la plaza del pueblo",
             "el mate amargo se comparte en ronda entre amigos en la plaza del pueblo hoy",
             "una cholita con pollera y sombrero bombín vende api morado en el mercado de la paz"]
    assert near_duplicates(texts, threshold=0.8) == {1: (0, 12 / 13)}
    assert near_duplicates(texts, groups=["x", "y", "x"], threshold=0.8) == {}


def test_filter_dataset_keeps_images_and_clean_rows():
    extra = [{**candidate_rows(1)[0], "id": "refusal-1",
              "completion": "Lo siento, no puedo identificar la comida de esta imagen."}]
    ds = candidates_dataset(copies=1, extra=extra)
    kept, report = filter_dataset(ds, FilterConfig())
    assert len(kept) == len(ds) - 1
    assert [d.row_id for d in report.drops] == ["refusal-1"]
    assert kept[0]["image"].size == (32, 32)
