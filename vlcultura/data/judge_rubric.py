"""The judge's rubric, in the language of the descriptions it judges (es, pt; es otherwise).

Five criteria, each scored 1-5 where 5 is always best (so `hallucination` 5 means nothing
invented). Every undesirable type has the criterion on which it must score low: that is how the
judge confirms a negative is worse in its intended way.
"""
from __future__ import annotations

from typing import Any

from vlcultura.cultures import COUNTRIES, get_variety

CRITERIA = ("cultural_accuracy", "specificity", "variety_fidelity", "hallucination", "respect")
INTENDED_CRITERION = {
    "generic": "specificity", "wrong_culture": "cultural_accuracy", "stereotype": "respect",
    "hallucination": "hallucination", "wrong_variety": "variety_fidelity", "register": "respect",
}
RUBRIC: dict[str, dict[str, str]] = {
    "es": {
        "system": "Eres un evaluador experto en la cultura de {country} y en el {variety}. Evalúas "
                  "descripciones de fotos con rigor, sin dejarte llevar por la longitud del texto.",
        "task": "Evalúa la descripción de la imagen adjunta. País: {country}. Variedad esperada: "
                "{variety}. Nombres correctos de lo que aparece: {labels}.\n\nDescripción:\n«{text}»\n\n"
                "Puntúa cada criterio de 1 (muy mal) a 5 (excelente) y da una razón breve en español:\n"
                "- cultural_accuracy: nombra y sitúa lo que se ve como en {country}, sin confundirlo con otra cultura.\n"
                "- specificity: usa el nombre local y detalles concretos, no términos genéricos.\n"
                "- variety_fidelity: está escrita en {variety} (léxico, voseo o tuteo, giros), sin mezclar otra variedad o idioma.\n"
                "- hallucination: 5 si no inventa nada que no se vea (fechas, fiestas, ingredientes); 1 si inventa mucho.\n"
                "- respect: tono respetuoso y natural, sin estereotipos, exotismo ni tono de folleto turístico.\n"
                "Responde solo con JSON.",
    },
    "pt": {
        "system": "Você é um avaliador especialista na cultura de {country} e no {variety}. Avalia "
                  "descrições de fotos com rigor, sem se deixar levar pelo tamanho do texto.",
        "task": "Avalie a descrição da imagem anexa. País: {country}. Variedade esperada: {variety}. "
                "Nomes corretos do que aparece: {labels}.\n\nDescrição:\n«{text}»\n\n"
                "Dê a cada critério uma nota de 1 (muito mal) a 5 (excelente) e uma razão breve em português:\n"
                "- cultural_accuracy: nomeia e situa o que se vê como em {country}, sem confundir com outra cultura.\n"
                "- specificity: usa o nome local e detalhes concretos, não termos genéricos.\n"
                "- variety_fidelity: está escrita em {variety} (léxico, tratamento, expressões), sem misturar outra variedade ou língua.\n"
                "- hallucination: 5 se não inventa nada que não se veja (datas, festas, ingredientes); 1 se inventa muito.\n"
                "- respect: tom respeitoso e natural, sem estereótipos, exotismo nem tom de folheto turístico.\n"
                "Responda só com JSON.",
    },
}


def judge_schema() -> dict[str, Any]:
    """JSON schema of the answer: per criterion an integer score (enum 1-5) and a reason.

    Cohere's structured output ignores min/max, so the range is an `enum`.
    """
    item = {"type": "object", "properties": {"score": {"type": "integer", "enum": [1, 2, 3, 4, 5]},
                                             "reason": {"type": "string"}},
            "required": ["score", "reason"]}
    return {"type": "object", "properties": {c: item for c in CRITERIA}, "required": list(CRITERIA)}


def rubric_messages(row: dict[str, Any]) -> tuple[str, str]:
    """(system, user text) for one candidate row, in its variety's language."""
    tag = row.get("variety") or "es-419"
    try:
        variety = get_variety(tag)
        language, variety_name = variety.language, variety.name
    except ValueError:
        language, variety_name = tag.split("-")[0], tag
    rubric = RUBRIC.get(language, RUBRIC["es"])
    country = COUNTRIES.get(row.get("country") or "", row.get("country") or "—")
    labels = ", ".join(row.get("labels") or []) or "—"
    fields = {"country": country, "variety": variety_name, "labels": labels, "text": row["completion"]}
    return rubric["system"].format(**fields), rubric["task"].format(**fields)
