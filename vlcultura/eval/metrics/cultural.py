"""Cultural metrics: does a caption name what a local would name, in the right variety?

Matching is NFC + accent-folded + stemmed (Snowball), on words with hyphens split, so
"Cuñapés", "cunape" and "cuñapé" all name the gold label "cuñapé", and "tawa tawa" names
"tawa-tawa". Per image:
- label coverage: share of the image's gold labels named (NaN when it has none);
- lexicon terms: distinct terms of the country's lexicon named (MosAIC-style cultural words);
- generic: a culture-blind stand-in ("pastel", "hombre con tela") and no gold label named
  (no lexicon term, for an image without gold labels);
- variety fidelity: 1 right language and no word of another variety, 0.5 right language with
  such a word ("ordenador" in es-MX), 0 wrong language (Portuguese for a Spanish variety);
- stereotype: an exoticising or demeaning term is present (flag for review, not a verdict).
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Iterable, Sequence

import numpy as np
import snowballstemmer

from vlcultura.cultures import VARIETIES, fold, language_of, normalize_variety
from vlcultura.eval.metrics.base import MetricResult, mean_metric
from vlcultura.eval.metrics.lexicons import (COUNTRY_LEXICONS, GENERIC_TERMS, LANGUAGE_FRAGMENTS,
                                             LANGUAGE_WORDS, STEREOTYPE_TERMS)
from vlcultura.eval.metrics.tokenizers import nfc

_STEMMERS = {"es": "spanish", "pt": "portuguese", "en": "english", "ca": "catalan", "eu": "basque"}
_WORDS = re.compile(r"\w+(?:'\w+)*")


@lru_cache(maxsize=16)
def _stemmer(language: str):
    name = _STEMMERS.get(language)
    return snowballstemmer.stemmer(name) if name else None


@lru_cache(maxsize=200_000)
def _stem(word: str, language: str) -> str:
    stemmer = _stemmer(language)
    return stemmer.stemWord(word) if stemmer else word


# Portuguese plurals Snowball leaves apart (pastéis/pastel, feijões/feijão), singularised first.
_PT_PLURALS = (("ões", "ão"), ("ães", "ão"), ("ãos", "ão"), ("éis", "el"), ("eis", "el"), ("óis", "ol"),
               ("ais", "al"))


def _pt_singular(word: str) -> str:
    for plural, singular in _PT_PLURALS:
        if word.endswith(plural) and len(word) >= len(plural) + 2:
            return word[: -len(plural)] + singular
    return word


@lru_cache(maxsize=50_000)
def match_variants(text: str, language: str) -> tuple[tuple[str, ...], ...]:
    """The folded, stemmed word sequences a term may match in (one per normalisation).

    Spanish folds then stems (cuñapés, cuñape -> cuñap). Portuguese also singularises, stems,
    then folds, because its stemmer needs the accents (pães, pão -> pa); either form may match
    (acarajés only matches folded first).
    """
    text = nfc(text).lower().replace("’", "'").replace("-", " ").replace("_", " ")
    folded_first = tuple(_stem(w, language) for w in _WORDS.findall(fold(text)))
    if language != "pt":
        return (folded_first,)
    return (tuple(fold(_stem(_pt_singular(w), language)) for w in _WORDS.findall(text)), folded_first)


def match_keys(text: str, language: str) -> tuple[str, ...]:
    """The main matching form of `text` (see `match_variants`)."""
    return match_variants(text, language)[0]


def _contains(haystack: Sequence[str], needle: Sequence[str]) -> bool:
    n = len(needle)
    return bool(n) and any(tuple(haystack[i:i + n]) == tuple(needle) for i in range(len(haystack) - n + 1))


def find_terms(caption: Sequence[Sequence[str]], terms: Iterable[str], language: str) -> list[str]:
    """Terms (one or more words) whose stem sequence occurs contiguously in the caption's
    `match_variants` (compared form by form)."""
    return sorted(t for t in terms
                  if any(_contains(c, k) for c, k in zip(caption, match_variants(t, language))))


def detect_language(caption: str) -> str | None:
    """es or pt from function words and spelling; None when it cannot tell."""
    text = nfc(caption).lower()
    words = set(_WORDS.findall(text))
    hits = {lang: len(words & LANGUAGE_WORDS[lang]) + sum(text.count(f) for f in LANGUAGE_FRAGMENTS[lang])
            for lang in LANGUAGE_WORDS}
    best = max(hits, key=hits.__getitem__)
    return best if hits[best] > min(hits.values()) else None


@dataclass
class CulturalScore:
    """One caption's cultural reading, with the words behind every number (for the gallery)."""

    label_coverage: float
    labels_found: list[str] = field(default_factory=list)
    lexicon_terms: list[str] = field(default_factory=list)
    generic_terms: list[str] = field(default_factory=list)
    generic: bool = False
    language: str | None = None
    variety_fidelity: float = 1.0
    variety_markers: list[str] = field(default_factory=list)
    other_variety_terms: list[str] = field(default_factory=list)
    stereotype_terms: list[str] = field(default_factory=list)


def score_caption(caption: str, labels: Sequence[str] = (), country: str | None = None,
                  variety: str | None = None, language: str | None = None) -> CulturalScore:
    """All cultural signals for one caption of one image."""
    tag = normalize_variety(variety)
    language = (language_of(tag) if tag else None) or language or "es"  # the image's own variety first
    keys = match_variants(caption, language)
    labels_found = find_terms(keys, labels, language)
    lexicon = find_terms(keys, COUNTRY_LEXICONS.get((country or "").upper(), ()), language)
    generic_terms = find_terms(keys, GENERIC_TERMS.get(language, ()), language)
    detected = detect_language(caption)
    markers = find_terms(keys, VARIETIES[tag].markers, language) if tag else []
    others = find_terms(keys, VARIETIES[tag].avoid, language) if tag else []
    if detected and language in LANGUAGE_WORDS and detected != language:
        fidelity = 0.0
    else:
        fidelity = 0.5 if others else 1.0
    return CulturalScore(
        label_coverage=len(labels_found) / len(labels) if labels else float("nan"),
        labels_found=labels_found, lexicon_terms=lexicon, generic_terms=generic_terms,
        generic=bool(generic_terms) and not (labels_found if labels else lexicon),
        language=detected, variety_fidelity=fidelity, variety_markers=markers,
        other_variety_terms=others,
        stereotype_terms=find_terms(keys, STEREOTYPE_TERMS.get(language, ()), language))


@dataclass
class ImageMeta:
    """What the cultural metrics know about an image."""

    labels: list[str] = field(default_factory=list)
    country: str | None = None
    variety: str | None = None


def cultural_metrics(captions: Sequence[str], metas: Sequence[ImageMeta],
                     language: str | None = None) -> tuple[list[MetricResult], list[CulturalScore]]:
    """Corpus cultural metrics (means over images) and the per-image readings."""
    scores = [score_caption(c, m.labels, m.country, m.variety, language)
              for c, m in zip(captions, metas, strict=True)]
    column = lambda attr: np.array([float(getattr(s, attr)) for s in scores])  # noqa: E731
    metrics = [
        mean_metric("label coverage", column("label_coverage"), "share of gold labels named"),
        mean_metric("lexicon terms", np.array([len(s.lexicon_terms) for s in scores], dtype=float),
                    "distinct country-lexicon terms per caption"),
        mean_metric("generic rate", column("generic"), "generic stand-in, nothing specific (lower is better)"),
        mean_metric("variety fidelity", column("variety_fidelity"), "1 right variety, 0.5 foreign word, 0 wrong language"),
        mean_metric("stereotype rate", np.array([float(bool(s.stereotype_terms)) for s in scores]),
                    "captions with a stereotype term (lower is better)"),
    ]
    return metrics, scores
