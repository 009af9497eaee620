"""Per-variety prompt sets: persona, instruction variants, KTO prompts, offline templates.

Each variety is one YAML file (`vlcultura/data/prompts/<tag>.yaml`) that `extends` a language
base (`_es.yaml`, `_pt.yaml`) and overrides what differs. To add a variety, drop `<tag>.yaml`
into a folder and point `generate.prompts_dir` at it (or send a pull request with the file);
register the variety itself with `vlcultura.cultures.register_variety`.

Two kinds of prompt, kept apart on purpose:
- the GENERATION prompt (to Cohere) may use the image's metadata (labels, country, topic);
- the KTO prompt (what the tuned model sees at inference) never does: it is a plain request in
  the variety, so no label leaks into training.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import jinja2
import yaml

from vlcultura.cultures import COUNTRIES, get_variety
from vlcultura.records import ImageMeta

PACKAGE_DIR = Path(__file__).with_name("prompts")
_ENV = jinja2.Environment(undefined=jinja2.StrictUndefined, autoescape=False, keep_trailing_newline=False)


@dataclass(frozen=True)
class PromptSet:
    """All the text of one variety, merged from its YAML file and the ones it extends."""

    tag: str
    data: dict[str, Any]

    @property
    def digest(self) -> str:
        """Changes whenever any text changes, so the ledger never reuses a stale answer."""
        return hashlib.sha256(json.dumps(self.data, sort_keys=True).encode()).hexdigest()[:8]

    def texts(self, field: str) -> list[str]:
        value = self.data.get(field)
        if not value:
            raise KeyError(f"prompt set {self.tag!r} has no {field!r}: add it to {self.tag}.yaml")
        return list(value) if isinstance(value, list) else [value]

    def pick(self, field: str, seed: str) -> str:
        """A deterministic choice among a field's variants."""
        return seeded_choice(self.texts(field), seed)


def seeded_choice(options: list[str], seed: str) -> str:
    """The same option for the same seed on every machine and run (no global RNG state)."""
    return options[int(hashlib.sha256(seed.encode()).hexdigest(), 16) % len(options)]


def render(template: str, **context: Any) -> str:
    """Render one Jinja2 template; missing variables are errors, whitespace is collapsed."""
    return " ".join(_ENV.from_string(template).render(**context).split())


def _read(name: str, dirs: tuple[Path, ...]) -> dict[str, Any]:
    for folder in dirs:
        path = folder / f"{name}.yaml"
        if path.is_file():
            data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
            parent = data.pop("extends", None)
            return {**_read(parent, dirs), **data} if parent else data
    raise FileNotFoundError(name)


@lru_cache(maxsize=None)
def load_prompts(tag: str, prompts_dir: str | None = None) -> PromptSet:
    """The prompt set of a variety; files in `prompts_dir` win over the packaged ones."""
    canon = get_variety(tag).tag
    dirs = ((Path(prompts_dir),) if prompts_dir else ()) + (PACKAGE_DIR,)
    try:
        return PromptSet(canon, _read(canon, dirs))
    except FileNotFoundError as exc:
        known = ", ".join(sorted(available_varieties(prompts_dir)))
        raise KeyError(f"no prompt file {exc}.yaml for variety {canon} (known: {known}); add one "
                       "under generate.prompts_dir that `extends: _es` or `extends: _pt`") from None


def available_varieties(prompts_dir: str | Path | None = None) -> set[str]:
    """Variety tags with a prompt file (packaged plus `prompts_dir`)."""
    dirs = [PACKAGE_DIR, *([Path(prompts_dir)] if prompts_dir else [])]
    return {p.stem for d in dirs for p in d.glob("*.yaml") if not p.stem.startswith("_")}


def context(meta: ImageMeta, tag: str) -> dict[str, Any]:
    """Template variables from an image's metadata (for generation prompts and templates)."""
    variety = get_variety(tag)
    country = meta.country or variety.country
    return {
        "variety_name": variety.name,
        "country_name": COUNTRIES.get(country or "", country or variety.name),
        "labels": list(meta.labels),
        "label": meta.labels[0] if meta.labels else None,
        "topic": meta.topic,
    }


def generation_messages(ps: PromptSet, meta: ImageMeta, *, n: int, seed: str) -> tuple[str, str]:
    """(system, user text) asking for `n` desirable descriptions; may use the metadata."""
    ctx = {**context(meta, ps.tag), "n": n, "sentences": ps.texts("sentences")[0]}
    return render(ps.texts("persona")[0], **ctx), render(ps.pick("instructions", seed), **ctx)


def rewrite_messages(ps: PromptSet, meta: ImageMeta, text: str, types: list[str]) -> tuple[str, str]:
    """(system, user text) asking for one rewrite of `text` per negative type, each with its defect."""
    ctx = {**context(meta, ps.tag), "foreign_variety": ps.data.get("foreign_variety", "otra variedad")}
    lines = [f"- {t}: {render(ps.data['rewrite'][t], **ctx)}" for t in types]
    user = render(ps.texts("rewrite_user")[0], text=text, lines=" ".join(lines), **ctx)
    return render(ps.texts("rewrite_system")[0], **ctx), user


def kto_prompt(ps: PromptSet, seed: str) -> str:
    """The inference-time prompt: a plain request in the variety, with no metadata at all."""
    return ps.pick("kto_prompts", seed)
