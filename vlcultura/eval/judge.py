"""LLM-as-judge scores for captions, paid through the project's Cohere client and ledger.

Two judges (../docs/evaluation.md), both schema-checked JSON at the judge's temperature (0) and
seed, asked again on an unusable answer (`judge.parse_retries`), every call idempotent,
resumable and inside `eval.judge_budget_usd` through `vlcultura.data.ledger`:
- CLAIR (reference-based, text only): "how likely is it that the candidate describes the same
  image as the references", 0-100, reported as 0-1. Localised to es / pt / en.
- Rubric (reference-free, with the image): the data stage's five-criterion cultural rubric
  (`vlcultura.data.judge_rubric`), 1-5 each, and their mean, through the data stage's own
  paid path (`vlcultura.data.judge.cohere_verdicts`).
A caption the judge could not score is NaN (left out of means) and its reason is reported.
This module is the Cohere judge; the same questions put to a model on disk are in `local_judge`.
"""
from __future__ import annotations

import asyncio
import hashlib
import io
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from vlcultura.config import CohereConfig, JudgeConfig
from vlcultura.eval.metrics.base import MetricResult, mean_metric

CLAIR_PROMPT_VERSION = "clair-v1"
CLAIR: dict[str, str] = {
    "es": ("Debes decidir si una descripción candidata describe la misma imagen que un conjunto de "
           "descripciones de referencia.\n\nCandidata:\n«{candidate}»\n\nReferencias:\n{references}\n\n"
           "En una escala precisa de 0 a 100, ¿qué probabilidad hay de que la candidata describa la misma "
           "imagen que las referencias? Responde solo con JSON: \"score\" (0-100) y \"reason\" (breve, en español)."),
    "pt": ("Você deve decidir se uma descrição candidata descreve a mesma imagem que um conjunto de "
           "descrições de referência.\n\nCandidata:\n«{candidate}»\n\nReferências:\n{references}\n\n"
           "Numa escala precisa de 0 a 100, qual a probabilidade de a candidata descrever a mesma imagem "
           "que as referências? Responda só com JSON: \"score\" (0-100) e \"reason\" (breve, em português)."),
    "en": ("You are trying to tell whether a candidate caption describes the same image as a set of "
           "reference captions.\n\nCandidate:\n\"{candidate}\"\n\nReferences:\n{references}\n\n"
           "On a precise scale from 0 to 100, how likely is it that the candidate describes the same image "
           "as the references? Answer only with JSON: \"score\" (0-100) and \"reason\" (short)."),
}


def clair_schema() -> dict[str, Any]:
    """Score as an integer enum 0-100: Cohere's structured output ignores minimum/maximum."""
    return {"type": "object", "required": ["score", "reason"],
            "properties": {"score": {"type": "integer", "enum": list(range(101))}, "reason": {"type": "string"}}}


def clair_prompt(candidate: str, references: Sequence[str], language: str | None) -> str:
    """The CLAIR question in the captions' language."""
    refs = "\n".join(f"- {r}" for r in references)
    return CLAIR.get(language or "en", CLAIR["en"]).format(candidate=candidate, references=refs)


@dataclass
class JudgeItem:
    """One caption to judge, with what both judges need."""

    id: str
    caption: str
    references: list[str]
    image_png: bytes | None
    country: str | None = None
    variety: str | None = None
    labels: list[str] = field(default_factory=list)


@dataclass
class JudgeResult:
    """Per-image judge scores of one system and what went wrong."""

    metrics: list[MetricResult]
    problems: list[str]
    spent_usd: float


def png_bytes(image: Any, max_side: int = 1024) -> bytes:
    """PNG re-encoded from pixels only: no EXIF/GPS leaves the machine."""
    from PIL import Image

    rgb = image.convert("RGB")
    rgb.thumbnail((max_side, max_side))
    clean = Image.new("RGB", rgb.size)
    clean.paste(rgb)
    buf = io.BytesIO()
    clean.save(buf, format="PNG")
    return buf.getvalue()


async def _clair(items: Sequence[JudgeItem], language: str | None, judge: JudgeConfig, cohere_config: CohereConfig,
                 ledger_path: Path, budget_usd: float) -> tuple[list[float], list[str], float]:
    """CLAIR score (0-1) per item, NaN when unscored, through the ledger."""
    import cohere

    from vlcultura.data.generators.cohere import CohereChat
    from vlcultura.data.ledger import BilledInvalid, Ledger, MaybeBilled, StopRun, request_key

    model = cohere_config.judge_model or cohere_config.model
    chat = CohereChat.from_env(cohere_config)
    schema = clair_schema()
    ledger = Ledger(ledger_path, budget_usd=budget_usd, prices=cohere_config.prices)
    before = ledger.committed_usd()
    problems: list[str] = []

    async def one(item: JudgeItem) -> float:
        text = clair_prompt(item.caption, item.references, language)
        key = request_key(backend="cohere", model=model, prompt_version=CLAIR_PROMPT_VERSION, image_sha256="",
                          strategy=f"clair:{hashlib.sha256(text.encode()).hexdigest()[:16]}", seed=judge.seed)
        messages = [cohere.UserChatMessageV2(content=text)]
        try:
            entry = await ledger.run(
                key, stage="eval-judge", backend="cohere", model=model,
                estimate=chat.estimate([text], [], schema, judge.max_tokens),
                call=lambda: chat.complete(messages, schema, model=model, idempotency_key=key,
                                           max_tokens=judge.max_tokens, seed=judge.seed,
                                           temperature=judge.temperature),
                billed_attempts=judge.parse_retries + 1, meta={"image_id": item.id})
        except StopRun:
            raise
        except (BilledInvalid, MaybeBilled, RuntimeError) as err:
            problems.append(f"CLAIR for image {item.id}: {type(err).__name__}: {err}")
            return math.nan
        return float(entry.response["score"]) / 100.0

    try:
        scores = list(await asyncio.gather(*(one(item) for item in items)))
    finally:
        spent = ledger.committed_usd() - before
        ledger.close()
        await chat.aclose()
    return scores, problems, spent


def _rubric(items: Sequence[JudgeItem], judge: JudgeConfig, cohere_config: CohereConfig, ledger_path: Path,
            budget_usd: float) -> tuple[dict[str, list[float]], list[str], float]:
    """The data stage's vision rubric on each caption (its client, ledger and retries)."""
    from vlcultura.data.judge import cohere_verdicts
    from vlcultura.data.judge_rubric import CRITERIA

    judged = [i for i in items if i.image_png is not None]
    rows = [{"id": f"eval:{i.id}", "completion": i.caption, "variety": i.variety, "country": i.country,
             "labels": i.labels} for i in judged]
    run = cohere_verdicts(rows, lambda k: judged[k].image_png, judge, cohere_config, ledger_path, budget_usd)
    by_id = {i.id: v for i, v in zip(judged, run.verdicts)}
    problems = [f"rubric for image {i.id}: {by_id[i.id].error}" for i in judged if by_id[i.id].error]
    problems += [f"rubric for image {i.id}: no image" for i in items if i.image_png is None]
    scores = {c: [_score(by_id.get(i.id), c) for i in items] for c in CRITERIA}
    return scores, problems, run.spent_usd


def _score(verdict: Any, criterion: str) -> float:
    value = verdict.scores.get(criterion) if verdict is not None else None
    return math.nan if value is None else float(value)


def judge_captions(items: Sequence[JudgeItem], mode: str, language: str | None, judge: JudgeConfig,
                   cohere_config: CohereConfig, ledger_path: str | Path, budget_usd: float) -> JudgeResult:
    """Judge one system's captions; `mode` is clair, rubric or both. Needs CO_API_KEY."""
    ledger_path = Path(ledger_path)
    ledger_path.parent.mkdir(parents=True, exist_ok=True)
    metrics: list[MetricResult] = []
    problems: list[str] = []
    spent = 0.0
    if mode in ("clair", "both"):
        scores, found, cost = asyncio.run(_clair(items, language, judge, cohere_config, ledger_path, budget_usd))
        metrics.append(mean_metric("judge CLAIR", np.array(scores), "Cohere CLAIR, 0-1 (reference-based)"))
        problems += found
        spent += cost
    if mode in ("rubric", "both"):
        per_criterion, found, cost = _rubric(items, judge, cohere_config, ledger_path, budget_usd)
        for criterion, values in per_criterion.items():
            metrics.append(mean_metric(f"judge {criterion}", np.array(values), "Cohere vision rubric, 1-5"))
        matrix = np.array(list(per_criterion.values()))  # (criteria, images)
        finite = np.isfinite(matrix)
        counts = finite.sum(axis=0)
        mean = np.where(counts > 0, np.where(finite, matrix, 0.0).sum(axis=0) / np.maximum(counts, 1), np.nan)
        metrics.append(mean_metric("judge mean", mean, "mean of the five rubric criteria, 1-5"))
        problems += found
        spent += cost
    return JudgeResult(metrics, problems, round(spent, 6))
