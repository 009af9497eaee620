"""Dataset naming rules of the SomosNLP 2026 challenge, in one place.

The challenge (docs: challenge.md) judges names: a prompts dataset contains `prompt`
(`normas_culturales_colombia_prompts`, at least 100 prompts), a preference dataset contains its
algorithm (`dpo` or `kto`), a multimodal one contains `image` (`utensilios_ecuador_images_kto`).
Export checks its names here before writing anything, and publishing (vlcultura.hub) imports the
same rules, so a name is judged the same way everywhere.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Literal

from huggingface_hub.errors import HFValidationError
from huggingface_hub.utils import validate_repo_id

from vlcultura.cultures import COUNTRIES, fold, normalize_country

DatasetKind = Literal["images_kto", "images_dpo", "kto", "dpo", "prompts"]

CHALLENGE_ORGANIZATION = "somosnlp-hackathon-2026"
MIN_PROMPTS = 100
ALGORITHMS = ("dpo", "kto")
_SUFFIX: dict[str, str] = {
    "images_kto": "_images_kto", "images_dpo": "_images_dpo", "kto": "_kto", "dpo": "_dpo",
    "prompts": "_prompts",
}


class NameRuleError(ValueError):
    """A dataset name or size that breaks the challenge's rules (the message says the fix)."""


@dataclass
class NameCheck:
    """The verdict on one name: errors block publishing, warnings are said aloud."""

    name: str
    kind: str
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors

    def raise_for_errors(self) -> None:
        """Raise a `NameRuleError` listing every broken rule."""
        if self.errors:
            raise NameRuleError(f"dataset name {self.name!r} ({self.kind}): " + "; ".join(self.errors))


def _tokens(name: str) -> list[str]:
    return [t for t in re.split(r"[_\-.]+", name.lower()) if t]


def check_dataset_name(repo_id: str, kind: DatasetKind, n_prompts: int | None = None) -> NameCheck:
    """Judge `name` or `org/name` against the rules for `kind`.

    `n_prompts` (for kind "prompts") checks the challenge's minimum of 100 prompts.
    """
    check = NameCheck(repo_id, kind)
    try:
        validate_repo_id(repo_id)
    except HFValidationError as err:
        check.errors.append(f"not a valid Hub repo id: {err}")
        return check
    org, _, name = repo_id.rpartition("/")
    tokens = _tokens(name)
    if name != name.lower():
        check.errors.append("use lowercase (the challenge's examples are snake_case)")
    multimodal = kind.startswith("images_")
    algorithm = kind.rsplit("_", 1)[-1] if kind != "prompts" else None
    found_algorithms = [a for a in ALGORITHMS if a in tokens]
    if kind == "prompts":
        if not any(t.startswith("prompt") for t in tokens):
            check.errors.append("a prompts dataset must contain 'prompt' (e.g. normas_culturales_colombia_prompts)")
        if n_prompts is not None and n_prompts < MIN_PROMPTS:
            check.errors.append(f"a prompts dataset needs at least {MIN_PROMPTS} prompts; it has {n_prompts}")
    else:
        if found_algorithms != [algorithm]:
            check.errors.append(f"a {algorithm.upper()} preference dataset must contain '{algorithm}' "
                                f"and no other algorithm (found: {found_algorithms or 'none'})")
        has_image = any(t.startswith("image") for t in tokens)
        if multimodal and not has_image:
            check.errors.append("a multimodal dataset must contain 'image' (e.g. utensilios_ecuador_images_kto)")
        if not multimodal and has_image:
            check.errors.append("'image' in the name of a text-only dataset misleads users")
    if check.ok and not name.endswith(_SUFFIX[kind]):
        check.warnings.append(f"the challenge's examples end in '{_SUFFIX[kind]}'")
    if org and org != CHALLENGE_ORGANIZATION:
        check.warnings.append(f"the challenge publishes under '{CHALLENGE_ORGANIZATION}', not '{org}'")
    return check


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9ñ]+", "_", fold(text)).replace("ñ", "n").strip("_")


def country_slug(country: str | None) -> str:
    """'BO' or 'Bolivia' -> 'bolivia'; an unknown value is slugged as written."""
    iso = normalize_country(country)
    return _slug(COUNTRIES[iso] if iso else (country or "multi"))


def suggest_name(topic: str | None, country: str | None, kind: DatasetKind,
                 organization: str | None = None) -> str:
    """`<topic>_<country><suffix>`, e.g. ('comida', 'BO', 'images_kto') -> comida_bolivia_images_kto."""
    name = f"{_slug(topic or 'cultura')}_{country_slug(country)}{_SUFFIX[kind]}"
    return f"{organization}/{name}" if organization else name


def prompts_name_for(kto_name: str) -> str:
    """The companion prompts dataset of a `*_images_kto` name (same org, same stem)."""
    org, _, name = kto_name.rpartition("/")
    stem = re.sub(r"(_images)?_(kto|dpo)$", "", name)
    return f"{org}/{stem}_prompts" if org else f"{stem}_prompts"
