"""The configuration reference (docs/configuration.md), written from the config models themselves.

Every recipe key, its type and default come from `vlcultura.config`, and the explanation is the
comment written next to the field there, so the reference cannot drift from the code:

    python -m vlcultura.config_reference > docs/configuration.md
"""
from __future__ import annotations

import inspect
import json
import re

from pydantic import BaseModel

from vlcultura.config import PipelineConfig

HEADER = """# Configuration reference

A recipe (`configs/*.yaml`) is one YAML mapping with a section per stage. Unknown keys are errors
(a typo must not silently do nothing) and keys that look like secrets are refused: keys come from
the environment (`CO_API_KEY`, `ARGILLA_API_URL`/`ARGILLA_API_KEY`, `HF_TOKEN`).
`model.name_or_path: tiny:<family>` (smolvlm, gemma3, qwen2_5_vl) builds a tiny offline model in
`<output>/base_model/` instead of loading one.

This page is generated from `vlcultura/config.py` (`python -m vlcultura.config_reference`).
"""


TABLE = "| key | type | default | notes |\n|---|---|---|---|"


def _comments(model: type[BaseModel]) -> dict[str, str]:
    """`name: type = default  # comment` lines of the class source -> {name: comment}."""
    try:
        source = inspect.getsource(model)
    except (OSError, TypeError):
        return {}
    return dict(re.findall(r"^\s+(\w+):[^\n#]*#\s*(.+)$", source, re.M))


def _default(field) -> str:
    if field.is_required():
        return "required"
    value = field.get_default(call_default_factory=True)
    if isinstance(value, BaseModel):
        return "(section)"
    return f"`{json.dumps(value, default=str, ensure_ascii=False)}`"


def _section(field) -> type[BaseModel] | None:
    """The model of a field that is itself a section (a nested config), else None."""
    annotation = field.annotation
    return annotation if isinstance(annotation, type) and issubclass(annotation, BaseModel) else None


def _rows(model: type[BaseModel], prefix: str, nested: bool = True) -> list[str]:
    """One table row per key; `nested=False` leaves the sub-sections out."""
    rows, notes = [], _comments(model)
    for name, field in model.model_fields.items():
        annotation = field.annotation
        if section := _section(field):
            rows += _rows(section, f"{prefix}{name}.") if nested else []
            continue
        kind = str(annotation).replace("typing.", "").replace("<class '", "").replace("'>", "")
        note = notes.get(name, "").replace("<", "&lt;").replace("|", "/")
        rows.append(f"| `{prefix}{name}` | {kind.replace('|', 'or')} | {_default(field)} | {note} |")
    return rows


def render() -> str:
    """The whole reference as Markdown, one table per recipe section."""
    parts = [HEADER, "\n".join(["## top level", "", TABLE, *_rows(PipelineConfig, "", nested=False)])]
    for name, field in PipelineConfig.model_fields.items():
        if section := _section(field):
            doc = (inspect.getdoc(section) or "").splitlines()
            intro = [doc[0], ""] if doc and not doc[0].startswith(("Forbid", "A whole")) else []
            parts.append("\n".join([f"## {name}", "", *intro, TABLE, *_rows(section, f"{name}.")]))
    return "\n\n".join(parts) + "\n"


if __name__ == "__main__":
    print(render(), end="")
