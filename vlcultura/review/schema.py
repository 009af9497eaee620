"""What reviewers see in Argilla: the dataset's settings and one record per candidate.

Record ids are a stable hash of the candidate id, so pushing the same candidate twice updates one
record instead of adding a second. Images travel as data URIs of metadata-free bytes: whatever
EXIF/GPS/XMP a row still carries is dropped here again before anything leaves the machine.
"""
from __future__ import annotations

import base64
import io
import os
import uuid
from importlib import resources
from typing import Any, Iterable

import argilla as rg
from PIL import Image, ImageOps

from vlcultura.records import Candidate, NegativeType

LABEL, ACCURACY, CORRECTION, FLAGS = "label", "cultural_accuracy", "corrected_description", "flags"
DESIRABLE, UNDESIRABLE = "desirable", "undesirable"
FLAG_TYPES = (NegativeType.STEREOTYPE.value, NegativeType.WRONG_VARIETY.value, NegativeType.HALLUCINATION.value)
TERMS_METADATA = ("country", "variety", "negative_type")
JUDGE_PREFIX = "judge_"  # judge score columns (1-5) of the judged dataset
GUIDELINE_LANGUAGES = ("es", "pt")
MAX_DATA_URI_CHARS = 5_000_000  # Argilla's limit for an image field value
_RECORD_NAMESPACE = uuid.UUID("6f1c3c1e-6a43-4f1b-9a57-8f0f6bb1d7a2")  # never change: ids depend on it


def record_id(candidate_id: str) -> str:
    """The Argilla record id of a candidate: stable across runs, machines and servers."""
    return str(uuid.uuid5(_RECORD_NAMESPACE, candidate_id))


def guidelines(languages: Iterable[str] = GUIDELINE_LANGUAGES) -> str:
    """Reviewer guidelines shipped with the package, one section per language."""
    parts = []
    for lang in languages:
        if lang not in GUIDELINE_LANGUAGES:
            raise ValueError(f"no reviewer guidelines in {lang!r}: choose from {', '.join(GUIDELINE_LANGUAGES)}")
        parts.append(resources.files("vlcultura.review").joinpath(f"guidelines_{lang}.md").read_text("utf-8"))
    return "\n\n---\n\n".join(parts)


def load_candidates(candidates: Any) -> Any:
    """A candidates/judged dataset (path or `datasets.Dataset`) with its images as raw bytes."""
    import datasets

    rows = datasets.load_from_disk(str(candidates)) if not isinstance(candidates, datasets.Dataset) else candidates
    missing = {"id", "completion", "label", "image"} - set(rows.column_names)
    if missing:
        raise ValueError(f"{candidates if isinstance(candidates, (str, os.PathLike)) else 'the dataset'} lacks "
                         f"{', '.join(sorted(missing))}: review takes the candidates or judged dataset "
                         "(Candidate fields plus an `image` column)")
    return rows.cast_column("image", datasets.Image(decode=False))


def judge_columns(column_names: Iterable[str]) -> list[str]:
    return sorted(c for c in column_names if c.startswith(JUDGE_PREFIX))


def dataset_settings(judge_cols: Iterable[str], languages: Iterable[str] = GUIDELINE_LANGUAGES,
                     min_submitted: int = 1) -> rg.Settings:
    """Fields, questions (es / pt titles) and metadata of the review dataset.

    `min_submitted` is also Argilla's task distribution: a record leaves the reviewers' pending
    queues once that many have submitted, so 2 or more is what gives the agreement report data.
    """
    return rg.Settings(
        guidelines=guidelines(languages),
        distribution=rg.TaskDistribution(min_submitted=min_submitted),
        fields=[rg.ImageField(name="image", title="Imagen / Imagem"),
                rg.TextField(name="description", title="Descripción / Descrição", use_markdown=False)],
        questions=[
            rg.LabelQuestion(name=LABEL, title="¿Deseable? / Desejável?", labels={
                DESIRABLE: "deseable / desejável", UNDESIRABLE: "no deseable / indesejável"}),
            rg.RatingQuestion(name=ACCURACY, title="Exactitud cultural / Precisão cultural (1-5)",
                              values=[1, 2, 3, 4, 5]),
            rg.TextQuestion(name=CORRECTION, title="Descripción corregida / Descrição corrigida",
                            required=False, use_markdown=False),
            rg.MultiLabelQuestion(name=FLAGS, title="Problemas / Problemas", required=False, labels={
                NegativeType.STEREOTYPE.value: "estereotipo / estereótipo",
                NegativeType.WRONG_VARIETY.value: "variedad equivocada / variedade errada",
                NegativeType.HALLUCINATION.value: "alucinación / alucinação"}),
        ],
        metadata=[*(rg.TermsMetadataProperty(name=n) for n in TERMS_METADATA),
                  *(rg.FloatMetadataProperty(name=c, min=1.0, max=5.0) for c in judge_cols)],
    )


def metadata_free_data_uri(image: dict[str, Any] | Image.Image) -> str:
    """A data URI of the image without EXIF/GPS/XMP, shrunk when over Argilla's size limit."""
    if isinstance(image, Image.Image):
        img = image
    else:  # a datasets Image cell: bytes, or a path when the dataset stores files
        img = Image.open(io.BytesIO(image["bytes"]) if image.get("bytes") else image["path"])
    fmt = "PNG" if img.format == "PNG" or img.mode in ("RGBA", "LA", "P") else "JPEG"
    img = ImageOps.exif_transpose(img)  # keep what the photo shows, lose the tag
    img = img.convert("RGBA" if fmt == "PNG" and img.mode in ("RGBA", "LA", "P") else "RGB")
    while True:
        buffer = io.BytesIO()
        img.save(buffer, format=fmt, **({"quality": 90} if fmt == "JPEG" else {}))  # no exif= : none written
        uri = f"data:image/{fmt.lower()};base64,{base64.b64encode(buffer.getvalue()).decode('ascii')}"
        if len(uri) <= MAX_DATA_URI_CHARS:
            return uri
        img = img.resize((max(1, img.width * 3 // 4), max(1, img.height * 3 // 4)))


def _score(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def build_record(row: dict[str, Any], judge_cols: Iterable[str]) -> rg.Record:
    """One Argilla record from a candidates row: image, description, suggestions and metadata."""
    cand = Candidate.model_validate({k: v for k, v in row.items() if k in Candidate.model_fields})
    agent = f"vlcultura:{cand.strategy}"
    suggestions = [rg.Suggestion(LABEL, DESIRABLE if cand.label else UNDESIRABLE, agent=agent, type="model")]
    if cand.negative_type is not None and cand.negative_type.value in FLAG_TYPES:
        suggestions.append(rg.Suggestion(FLAGS, [cand.negative_type.value], agent=agent, type="model"))
    scores = {c: _score(row.get(c)) for c in judge_cols}
    accuracy = scores.get(f"{JUDGE_PREFIX}{ACCURACY}")
    if accuracy is not None:
        suggestions.append(rg.Suggestion(ACCURACY, min(5, max(1, round(accuracy))), agent="vlcultura:judge",
                                         type="model"))
    metadata = {"country": cand.country, "variety": cand.variety,
                "negative_type": cand.negative_type.value if cand.negative_type else None, **scores}
    return rg.Record(id=record_id(cand.id),
                     fields={"image": metadata_free_data_uri(row["image"]), "description": cand.completion},
                     metadata={k: v for k, v in metadata.items() if v is not None},
                     suggestions=suggestions)
