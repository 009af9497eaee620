"""The one async interface every generation backend speaks.

A backend turns an `ImageItem` into desirable descriptions (`describe`) and, when it can, rewrites
a desirable description into typed undesirable ones (`rewrite`). Paid backends go through the
ledger inside these methods, so the stage never needs to know which backend costs money.
"""
from __future__ import annotations

import io
from abc import ABC, abstractmethod
from dataclasses import dataclass

from PIL import Image

from vlcultura.data.prompts import PromptSet
from vlcultura.records import ImageRecord


@dataclass(frozen=True)
class ImageItem:
    """One ingested image with its prompt set: what a backend needs to describe it."""

    record: ImageRecord
    image_bytes: bytes  # normalised, metadata-free JPEG/PNG from ingest
    prompts: PromptSet
    prompt_version: str  # config version + prompt-set digest: part of every ledger key


@dataclass(frozen=True)
class Generated:
    """Texts from one request and where they came from."""

    texts: dict[str, str]  # "0", "1"... for descriptions; negative type names for rewrites
    ledger_key: str
    model: str | None


class ItemError(Exception):
    """This image cannot be processed (a recorded reason, the run goes on)."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


def check_image(data: bytes) -> tuple[str, tuple[int, int]]:
    """(format, size) of image bytes that decode and carry no metadata; else an ItemError.

    Ingest already strips EXIF/GPS/XMP; this is the last check before bytes are sent anywhere or
    copied into the candidates dataset, for datasets that did not come from `vlcultura ingest`.
    """
    from vlcultura.data.images import metadata_markers

    try:
        with Image.open(io.BytesIO(data)) as img:
            img.load()
            fmt, size = img.format or "", img.size
    except Exception as exc:  # PIL raises many types for bad bytes
        raise ItemError("undecodable_image", f"the stored image cannot be decoded ({exc}); re-run ingest") from None
    markers = metadata_markers(data)
    if markers:
        raise ItemError("image_metadata", f"the image still carries metadata ({', '.join(markers)}) and is "
                        "neither sent nor copied; run it through `vlcultura ingest`, which strips it")
    return fmt, size


class Generator(ABC):
    """A generation backend. `name` and `model` end up on every row it produces."""

    name: str
    model: str | None = None
    paid: bool = False  # True: rewrites via the LLM are the default negative strategy
    on_policy: bool = False  # True: its texts are the tuned model's own, labelled provisionally

    @abstractmethod
    async def describe(self, item: ImageItem, n: int) -> Generated:
        """`n` desirable descriptions of the image."""

    async def rewrite(self, item: ImageItem, text: str, types: list[str]) -> Generated:
        """One undesirable rewrite of `text` per type; backends without an LLM cannot."""
        raise NotImplementedError(f"the {self.name} backend cannot rewrite; use rule negatives")

    async def aclose(self) -> None:
        """Release clients, threads or models."""
