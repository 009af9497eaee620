"""Rule filters: cheap, explainable checks that run before any paid judging.

Language (Spanish vs Portuguese vs English), variety (a desirable es-AR text must not say
"vosotros"; pt-PT must not say "ônibus"), refusals, length bounds, the same text labelled both
desirable and undesirable, exact and near duplicates. Each drop is recorded with its reason in a
`StageReport`; nothing is removed silently.
"""
from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from vlcultura.config import FilterConfig
from vlcultura.cultures import VARIETIES, fold, language_of, normalize_variety
from vlcultura.data.dedup import near_duplicates
from vlcultura.data.report import StageReport

_FUNCTION_WORDS: dict[str, frozenset[str]] = {
    "es": frozenset("el la los las del al y es son una un con por para que se muy pero también este "
                    "esta estos estas hay su sus lo como en de".split()),
    "pt": frozenset("o os as da do das dos e é são uma um com por para que se muito mas também este "
                    "esta isso há seu sua como em no na nos nas de não você".split()),
    "en": frozenset("the a an and of is are with for this that these it in on to".split()),
}
# Characters that one language has and the other does not.
_CHAR_HINTS: dict[str, str] = {"es": "ñ¿¡", "pt": "ãõçâêô"}

REFUSAL_PATTERNS: tuple[re.Pattern[str], ...] = tuple(re.compile(p, re.IGNORECASE) for p in (
    r"\blo siento\b.{0,40}\bno (puedo|es posible)",
    r"\bno (puedo|podría|soy capaz de) (ver|describir|ayudar|identificar|proporcionar|analizar)",
    r"\bcomo (un |una )?(modelo de lenguaje|ia|inteligencia artificial|asistente)\b",
    r"\bno tengo (la )?(capacidad|acceso)\b",
    r"\b(desculpe|lamento)\b.{0,40}\bnão (posso|consigo)",
    r"\bnão (posso|consigo) (ver|descrever|ajudar|identificar)",
    r"\bcomo (um )?modelo de linguagem\b",
    r"\bi('m| am) sorry\b|\bi can(no|')t (help|describe|see)\b|\bas an ai\b",
))
_WORDS = re.compile(r"[^\W\d_]+(?:'[^\W\d_]+)?")


def words(text: str) -> list[str]:
    """Lowercase words (letters only, accents kept)."""
    return _WORDS.findall(text.lower())


def language_scores(text: str) -> dict[str, float]:
    """Share of function words of each language, plus a bonus for its telltale characters."""
    toks = words(text)
    if not toks:
        return {lang: 0.0 for lang in _FUNCTION_WORDS}
    lower = text.lower()
    scores = {}
    for lang, vocab in _FUNCTION_WORDS.items():
        score = sum(t in vocab for t in toks) / len(toks)
        score += 0.05 * sum(lower.count(c) for c in _CHAR_HINTS.get(lang, ""))
        scores[lang] = score
    return scores


def detect_language(text: str) -> str | None:
    """'es', 'pt' or 'en' when one clearly leads; None when the text gives too little evidence."""
    scores = language_scores(text)
    ranked = sorted(scores.items(), key=lambda kv: kv[1], reverse=True)
    (best, top), (_, second) = ranked[0], ranked[1]
    if top < 0.08 or top - second < 0.03:
        return None
    return best


def _phrase_in(phrase: str, text_folded: str) -> bool:
    return re.search(rf"(?<!\w){re.escape(fold(phrase))}(?!\w)", text_folded) is not None


# Voseo: rioplatense and Paraguayan Spanish say "vos tenés", never "tú tienes"; Peninsular and
# Mexican Spanish do not use voseo. (Accents matter here: "tenés" vs "tenes" is the marker.)
VOSEO_VARIETIES = frozenset({"es-AR", "es-UY", "es-PY"})
NO_VOSEO_VARIETIES = frozenset({"es-ES", "es-MX"})
_TUTEO_FORMS = frozenset({"tú", "tienes", "quieres", "puedes", "eres", "sabes", "vienes", "estás"})
_VOSEO_FORMS = frozenset({"vos", "tenés", "querés", "podés", "sos", "sabés", "venís", "mirá", "fijate"})


def variety_conflicts(text: str, variety: str | None) -> list[str]:
    """Words in `text` that betray another variety than `variety`: its `avoid` list, plus
    tuteo in a voseo variety and voseo where it is not used."""
    tag = normalize_variety(variety)
    if tag is None:
        return []
    found = variety_markers_of(text, VARIETIES[tag].avoid)
    forms = _TUTEO_FORMS if tag in VOSEO_VARIETIES else _VOSEO_FORMS if tag in NO_VOSEO_VARIETIES else frozenset()
    return found + sorted(set(words(text)) & forms)


def variety_markers(text: str, variety: str | None) -> list[str]:
    """Words in `text` typical of `variety` (its `markers` list): evidence of fidelity."""
    tag = normalize_variety(variety)
    return variety_markers_of(text, VARIETIES[tag].markers) if tag else []


def variety_markers_of(text: str, words: tuple[str, ...]) -> list[str]:
    """Which of `words` occur in `text` as whole words or phrases (accent-insensitive)."""
    folded = fold(text)
    return [w for w in words if _phrase_in(w, folded)]


def refusal(text: str) -> str | None:
    """The matched refusal phrase, or None."""
    for pattern in REFUSAL_PATTERNS:
        match = pattern.search(text)
        if match:
            return match.group(0)
    return None


def _norm(text: str) -> str:
    return " ".join(words(fold(text)))


def row_problem(row: dict[str, Any], config: FilterConfig) -> tuple[str, str] | None:
    """The first rule one row breaks as (reason, detail), or None when it passes.

    Undesirable rows typed `wrong_variety` are meant to break the variety (or language) rule, so
    those two checks apply to them only in reverse: see `vlcultura.data.judge`.
    """
    text = row.get("completion") or ""
    n = len(words(text))
    if not text.strip():
        return "empty", "the completion is empty"
    hit = refusal(text)
    if hit:
        return "refusal", f"refusal phrase {hit!r}"
    if n < config.min_words:
        return "too_short", f"{n} words < min_words={config.min_words}"
    if n > config.max_words:
        return "too_long", f"{n} words > max_words={config.max_words}"
    if not config.check_variety or row.get("negative_type") == "wrong_variety":
        return None
    tag = normalize_variety(row.get("variety"))
    expected = language_of(tag) if tag else None
    if expected in ("es", "pt"):
        found = detect_language(text)
        if found is not None and found != expected:
            return "wrong_language", f"reads as {found!r}, expected {expected!r} for {tag}"
    if row.get("label"):
        conflicts = variety_conflicts(text, tag)
        if conflicts:
            return "variety_mismatch", f"{tag} text uses {', '.join(conflicts)}"
    return None


def filter_rows(rows: Iterable[dict[str, Any]], config: FilterConfig) -> tuple[list[int], StageReport]:
    """Indices of rows to keep, and the report of the others.

    Rows need `id`, `image_id`, `completion`, `label`; `variety` and `negative_type` are used when
    present. Images are never decoded here.
    """
    rows = list(rows)
    report = StageReport(stage="filter", n_in=len(rows))
    dropped: set[int] = set()

    def drop(i: int, reason: str, detail: str) -> None:
        dropped.add(i)
        report.drop(str(rows[i].get("id", i)), reason, detail, image_id=rows[i].get("image_id"),
                    label=rows[i].get("label"))

    for i, row in enumerate(rows):
        problem = row_problem(row, config)
        if problem:
            drop(i, *problem)

    # The same text (normalised) on one image: twice with one label is a duplicate; with both
    # labels it is a contradiction, and both copies go.
    seen: dict[tuple[str, str], dict[bool, int]] = {}
    for i, row in enumerate(rows):
        if i in dropped:
            continue
        labels = seen.setdefault((str(row.get("image_id")), _norm(row["completion"])), {})
        label = bool(row["label"])
        if label in labels:
            drop(i, "exact_duplicate", f"same text as row {rows[labels[label]].get('id')}")
        elif (not label) in labels:
            j = labels[not label]
            detail = "the same text is labelled both desirable and undesirable"
            drop(i, "label_collision", detail)
            if j not in dropped:
                drop(j, "label_collision", detail)
        else:
            labels[label] = i

    alive = [i for i in range(len(rows)) if i not in dropped]
    scope = (lambda r: f"{r.get('image_id')}|{bool(r['label'])}") if config.near_duplicate_scope == "image" \
        else (lambda r: str(bool(r["label"])))
    dups = near_duplicates([rows[i]["completion"] for i in alive], [scope(rows[i]) for i in alive],
                           threshold=config.near_duplicate_threshold)
    for k, (first, score) in sorted(dups.items()):
        drop(alive[k], "near_duplicate", f"Jaccard {score:.2f} with row {rows[alive[first]].get('id')}")

    keep = [i for i in range(len(rows)) if i not in dropped]
    report.n_out = len(keep)
    report.stats["near_duplicate_scope"] = config.near_duplicate_scope
    images_of: dict[str, set[str]] = {}
    for i in keep:
        images_of.setdefault(_norm(rows[i]["completion"]), set()).add(str(rows[i].get("image_id")))
    # kept rows whose exact text also describes another image (dropped only with scope "dataset")
    report.stats["kept_texts_shared_across_images"] = sum(
        1 for i in keep if len(images_of[_norm(rows[i]["completion"])]) > 1)
    return keep, report


def filter_dataset(dataset: Any, config: FilterConfig) -> tuple[Any, StageReport]:
    """Apply `filter_rows` to a `datasets.Dataset` without decoding its images."""
    columns = [c for c in ("id", "image_id", "completion", "label", "variety", "negative_type")
               if c in dataset.column_names]
    light = dataset.select_columns(columns)
    keep, report = filter_rows(light, config)
    return dataset.select(keep), report
