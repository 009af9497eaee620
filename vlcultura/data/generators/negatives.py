"""Rule-based typed undesirable descriptions: deterministic perturbations of a desirable one.

Each `NegativeType` has one rule, driven by the variety's prompt set (YAML), so the wording lives
with the other texts of the variety. The LLM alternative (an explicit rewrite instruction per
type) is `Generator.rewrite`; both record the type and the strategy on the row.
"""
from __future__ import annotations

import re

from vlcultura.cultures import COUNTRIES, DEFAULT_VARIETY_BY_COUNTRY, language_of
from vlcultura.data.prompts import PromptSet, context, render, seeded_choice
from vlcultura.records import ImageMeta, NegativeType


def other_country(meta: ImageMeta, tag: str, seed: str) -> str:
    """A different country that speaks the same language: the 'wrong place' for wrong_culture."""
    own = meta.country
    lang = language_of(tag)
    same = sorted(iso for iso, v in DEFAULT_VARIETY_BY_COUNTRY.items()
                  if iso != own and iso in COUNTRIES and language_of(v) == lang)
    return COUNTRIES[seeded_choice(same or sorted(set(COUNTRIES) - {own}), seed)]


def _swap_words(text: str, swaps: dict[str, str]) -> str:
    for word, foreign in swaps.items():
        text = re.sub(rf"(?<!\w){re.escape(word)}(?!\w)", foreign, text, flags=re.IGNORECASE)
    return text


def rule_negative(ps: PromptSet, meta: ImageMeta, text: str, kind: NegativeType, seed: str) -> str:
    """The undesirable version of `text` of type `kind` (never equal to `text`)."""
    ctx = context(meta, ps.tag)
    seed = f"{seed}:{kind.value}"
    if kind is NegativeType.GENERIC:
        nouns = ps.data["generic_nouns"]
        noun = nouns.get(meta.topic or "otro", nouns["otro"])
        return render(ps.pick("generic", seed), generic_noun=noun, detail=ps.pick("details", seed))
    if kind is NegativeType.WRONG_CULTURE:
        wrong = other_country(meta, ps.tag, seed)
        if ctx["country_name"] in text:
            return text.replace(ctx["country_name"], wrong)
        return render(ps.pick("wrong_culture", seed), text=text, wrong_country=wrong)
    if kind is NegativeType.WRONG_VARIETY:
        swapped = _swap_words(text, ps.data.get("foreign_swaps") or {})
        phrases = ps.data.get("foreign_phrases") or []
        out = f"{swapped} {seeded_choice(phrases, seed)}" if phrases else swapped
        if out == text:
            raise ValueError(f"prompt set {ps.tag} has no foreign_swaps/foreign_phrases for wrong_variety")
        return out
    return render(ps.pick(kind.value, seed), text=text, **ctx)
