"""Language varieties, countries and topics: the cultural coordinates every record carries.

Varieties are BCP-47 tags. The registry is a plain dict so users add their own with
`register_variety` (for example `es-UY`, `pt-AO`, `ay`) without touching the library.
Lexical markers are small, hand-checked lists used by rule filters and cultural metrics; they
are hints, not a language identifier.
"""
from __future__ import annotations

import unicodedata
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Variety:
    """One language variety: what a description must sound like."""

    tag: str  # BCP-47, e.g. "es-MX"
    language: str  # ISO 639-1/3, e.g. "es"
    country: str | None  # ISO 3166-1 alpha-2, None for regional languages (ca, gl, eu)
    name: str  # endonym used in prompts, e.g. "español de México"
    markers: tuple[str, ...] = field(default=())  # words typical of this variety
    avoid: tuple[str, ...] = field(default=())  # words that betray another variety


COUNTRIES: dict[str, str] = {
    "AR": "Argentina", "BO": "Bolivia", "BR": "Brasil", "CL": "Chile", "CO": "Colombia",
    "CR": "Costa Rica", "CU": "Cuba", "DO": "República Dominicana", "EC": "Ecuador",
    "ES": "España", "GT": "Guatemala", "HN": "Honduras", "MX": "México", "NI": "Nicaragua",
    "PA": "Panamá", "PE": "Perú", "PR": "Puerto Rico", "PT": "Portugal", "PY": "Paraguay",
    "SV": "El Salvador", "UY": "Uruguay", "VE": "Venezuela", "AD": "Andorra",
}

# English and Spanish spellings users put in manifests, mapped to ISO codes.
_COUNTRY_ALIASES: dict[str, str] = {
    "argentina": "AR", "bolivia": "BO", "brazil": "BR", "brasil": "BR", "chile": "CL",
    "colombia": "CO", "costa rica": "CR", "cuba": "CU", "dominican republic": "DO",
    "republica dominicana": "DO", "ecuador": "EC", "spain": "ES", "espana": "ES",
    "guatemala": "GT", "honduras": "HN", "mexico": "MX", "nicaragua": "NI", "panama": "PA",
    "peru": "PE", "puerto rico": "PR", "portugal": "PT", "paraguay": "PY", "el salvador": "SV",
    "uruguay": "UY", "venezuela": "VE", "andorra": "AD",
}

_SPANISH_AVOID_PT = ("você", "não", "também", "muito", "ção", "ões", "obrigado")
_PORTUGUESE_AVOID_ES = ("usted", "también", "muy", "ción", "gracias", "pero", "ñ")

VARIETIES: dict[str, Variety] = {}


def register_variety(variety: Variety) -> None:
    """Add or replace a variety; the tag is the key."""
    VARIETIES[variety.tag] = variety


for _v in (
    Variety("es-ES", "es", "ES", "español de España",
            markers=("vosotros", "coger", "ordenador", "zumo", "móvil", "patatas", "vale"),
            avoid=("ustedes pueden", "computadora", "celular", "jugo")),
    Variety("es-MX", "es", "MX", "español de México",
            markers=("chido", "platillo", "antojitos", "elote", "mandado", "güero", "padre"),
            avoid=("vosotros", "ordenador", "zumo", "coger", "vale")),
    Variety("es-AR", "es", "AR", "español rioplatense de Argentina",
            markers=("vos", "tenés", "querés", "sos", "che", "laburo", "pibe", "factura"),
            avoid=("vosotros", "tú eres", "ordenador")),
    Variety("es-CO", "es", "CO", "español de Colombia",
            markers=("parcero", "chévere", "bacano", "tinto", "arepa", "sumercé"),
            avoid=("vosotros", "ordenador", "zumo")),
    Variety("es-CL", "es", "CL", "español de Chile",
            markers=("po", "cachai", "once", "completo", "pololo", "fome", "bacán"),
            avoid=("vosotros", "ordenador")),
    Variety("es-PE", "es", "PE", "español del Perú",
            markers=("chamba", "causa", "jato", "pata", "chela", "bacán"),
            avoid=("vosotros", "ordenador")),
    Variety("es-BO", "es", "BO", "español de Bolivia",
            markers=("salteña", "api", "cuñapé", "ch'uta", "cholita", "masitas", "chairo"),
            avoid=("vosotros", "ordenador", "empanada argentina")),
    Variety("es-UY", "es", "UY", "español rioplatense de Uruguay",
            markers=("vos", "tenés", "bo", "gurí", "mate", "botija"),
            avoid=("vosotros",)),
    Variety("es-EC", "es", "EC", "español de Ecuador",
            markers=("chuta", "ñaño", "bacán", "guagua", "mijo"), avoid=("vosotros",)),
    Variety("es-VE", "es", "VE", "español de Venezuela",
            markers=("chamo", "pana", "arepa", "chévere", "vaina"), avoid=("vosotros",)),
    Variety("es-PY", "es", "PY", "español del Paraguay",
            markers=("chipa", "tereré", "vos", "luego", "nde"), avoid=("vosotros",)),
    Variety("pt-BR", "pt", "BR", "português do Brasil",
            markers=("você", "ônibus", "trem", "celular", "geladeira", "legal", "a gente"),
            avoid=("autocarro", "comboio", "telemóvel", "frigorífico", "estás a")),
    Variety("pt-PT", "pt", "PT", "português europeu",
            markers=("autocarro", "comboio", "telemóvel", "frigorífico", "pequeno-almoço", "estás a"),
            avoid=("ônibus", "trem", "celular", "geladeira", "café da manhã")),
    Variety("ca", "ca", None, "català", markers=("amb", "però", "molt", "també", "els")),
    Variety("gl", "gl", None, "galego", markers=("moi", "tamén", "unha", "coa", "nós")),
    Variety("eu", "eu", None, "euskara", markers=("eta", "da", "bat", "dira", "ere")),
    Variety("gn", "gn", "PY", "avañe'ẽ (guaraní)", markers=("ha", "ñande", "ko", "pe", "peteĩ")),
    Variety("qu", "qu", "PE", "runa simi (quechua)", markers=("kay", "chay", "wasi", "mikhuy", "allin")),
):
    register_variety(_v)

# A country's default variety when a manifest gives only the country.
DEFAULT_VARIETY_BY_COUNTRY: dict[str, str] = {
    v.country: v.tag for v in VARIETIES.values() if v.country and v.language in ("es", "pt")
}
DEFAULT_VARIETY_BY_COUNTRY.setdefault("AD", "ca")
for _iso in COUNTRIES:
    DEFAULT_VARIETY_BY_COUNTRY.setdefault(_iso, "pt-BR" if _iso == "BR" else "es-419")

register_variety(Variety("es-419", "es", None, "español de América Latina",
                         avoid=("vosotros", "ordenador", "zumo")))

SPANISH_AVOID_PORTUGUESE = _SPANISH_AVOID_PT
PORTUGUESE_AVOID_SPANISH = _PORTUGUESE_AVOID_ES

TOPICS: tuple[str, ...] = (
    "comida", "fiestas", "arquitectura", "paisaje", "vestimenta", "artesania", "musica",
    "deporte", "religion", "mercado", "transporte", "familia", "educacion", "trabajo", "otro",
)


def fold(text: str) -> str:
    """NFC, lowercase, accents removed (ñ kept): the form used for lexicon matching."""
    text = unicodedata.normalize("NFD", text.lower())
    out = []
    for i, ch in enumerate(text):
        if unicodedata.combining(ch) and not (ch == "\u0303" and i and text[i - 1] == "n"):
            continue
        out.append(ch)
    return unicodedata.normalize("NFC", "".join(out))


def normalize_country(value: str | None) -> str | None:
    """ISO code from an ISO code or a country name in English or Spanish; None if unknown."""
    if not value:
        return None
    raw = value.strip()
    if raw.upper() in COUNTRIES:
        return raw.upper()
    return _COUNTRY_ALIASES.get(fold(raw).replace("ñ", "n"))


def normalize_variety(tag: str | None) -> str | None:
    """Canonical casing of a BCP-47 tag (es-mx -> es-MX, pt_br -> pt-BR); None if unknown."""
    if not tag:
        return None
    parts = tag.strip().replace("_", "-").split("-")
    canon = "-".join([parts[0].lower(), *[p.upper() if len(p) == 2 else p for p in parts[1:]]])
    return canon if canon in VARIETIES else None


def get_variety(tag: str) -> Variety:
    """The registered variety, or a ValueError that lists the known tags."""
    canon = normalize_variety(tag)
    if canon is None:
        known = ", ".join(sorted(VARIETIES))
        raise ValueError(f"unknown language variety {tag!r}; known: {known}. "
                         "Add one with vlcultura.cultures.register_variety(Variety(...)).")
    return VARIETIES[canon]


def variety_for_country(country: str | None) -> str | None:
    """The default variety of a country (ISO code or name), or None."""
    iso = normalize_country(country)
    return DEFAULT_VARIETY_BY_COUNTRY.get(iso) if iso else None


def language_of(tag: str) -> str:
    """The language subtag of a variety tag ("es-MX" -> "es")."""
    return tag.split("-")[0].lower()
