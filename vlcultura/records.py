"""The records that flow between stages.

Each stage writes a `datasets.Dataset` whose rows are these models dumped to dicts, so a notebook
can pick up any stage with `datasets.load_from_disk` and validate rows back with
`Model.model_validate(row)`.
"""
from __future__ import annotations

from enum import Enum

from pydantic import BaseModel, Field


class NegativeType(str, Enum):
    """Why an undesirable description is undesirable (DESIGN.md)."""

    GENERIC = "generic"  # true but culture-blind: "un pastel" for a cuñapé
    WRONG_CULTURE = "wrong_culture"  # right object, wrong place
    STEREOTYPE = "stereotype"  # exoticising or demeaning framing
    HALLUCINATION = "hallucination"  # invented festival, date, ingredient
    WRONG_VARIETY = "wrong_variety"  # vocabulary of another variety or language
    REGISTER = "register"  # tourist-brochure or condescending tone


class ImageMeta(BaseModel):
    """Cultural metadata attached to an image at ingest and carried by every later row."""

    country: str | None = None  # ISO 3166-1 alpha-2
    variety: str | None = None  # BCP-47
    topic: str | None = None
    labels: list[str] = Field(default_factory=list)  # gold names: "cuñapé", "Machu Picchu"
    license: str | None = None
    attribution: str | None = None
    source: str | None = None  # URL or original path


class ImageRecord(ImageMeta):
    """One accepted, normalised, metadata-free image."""

    id: str  # stable: derived from the content hash
    sha256: str  # of the normalised bytes that leave the machine
    phash: str  # perceptual hash (hex) for near-duplicate detection
    width: int
    height: int
    format: str  # format of the stored bytes (JPEG or PNG)
    original_name: str


class Rejection(BaseModel):
    """An input that did not make it, and why: nothing is dropped silently."""

    source: str
    reason: str  # short machine-readable code: "truncated", "animated", "decompression_bomb"...
    detail: str  # human-readable explanation with what to do


class Candidate(ImageMeta):
    """A description of an image, desirable or typed undesirable, with its provenance."""

    id: str
    image_id: str
    completion: str
    label: bool  # True = desirable
    negative_type: NegativeType | None = None
    strategy: str  # "cohere", "template", "local", "rule:<name>", "rewrite:<type>", "review"
    backend: str
    model: str | None = None
    prompt_version: str | None = None
    ledger_key: str | None = None
