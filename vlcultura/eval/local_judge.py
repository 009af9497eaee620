"""A local VLM judge: the same CLAIR question and cultural rubric, answered by a model on disk.

For teams without API credit, or to cross-check the Cohere judge. The judge model is loaded
like any evaluated model (`vlcultura.eval.systems`), prompts go through the captioning path
(batched, left-padded, cached in `<output>/captions/judge-*.jsonl`, so a re-run pays no GPU
time twice), and answers are read as JSON, or, failing that, as `name: number` text. An answer
with no readable score is NaN with its reason. Small models are weak judges: say which model
judged (the report's notes do).
"""
from __future__ import annotations

import json
import math
import re
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from vlcultura.eval.eval_set import EvalImage
from vlcultura.eval.generation import CaptionCache, Decoding, caption_images
from vlcultura.eval.judge import JudgeItem, JudgeResult, clair_prompt
from vlcultura.eval.metrics.base import mean_metric

_JSON_BLOCK = re.compile(r"\{.*\}", re.DOTALL)


def parse_scores(text: str, names: Sequence[str], low: float, high: float) -> dict[str, float]:
    """Scores by name from a JSON answer (`{"x": {"score": 4}}` or `{"x": 4}`), else from
    `x: 4` / `"x": {"score": 4` text; values outside [low, high] are dropped."""
    found: dict[str, float] = {}
    block = _JSON_BLOCK.search(text)
    if block:
        try:
            data = json.loads(block.group(0))
        except json.JSONDecodeError:
            data = None
        if isinstance(data, dict):
            for name in names:
                value = data.get(name)
                value = value.get("score") if isinstance(value, dict) else value
                if isinstance(value, (int, float)) and not isinstance(value, bool):
                    found[name] = float(value)
    for name in names:
        if name not in found:
            match = re.search(rf'"?{re.escape(name)}"?\s*[:=]\s*\{{?\s*(?:"?score"?\s*[:=]\s*)?(\d+(?:\.\d+)?)', text)
            if match:
                found[name] = float(match.group(1))
    return {k: v for k, v in found.items() if low <= v <= high}


def _ask(model: Any, processor: Any, prompts: list[EvalImage], model_id: str, cache_path: Path,
         batch_size: int) -> tuple[dict[str, str], list[str]]:
    return caption_images(model, processor, prompts, Decoding(max_new_tokens=300), CaptionCache(cache_path),
                          model_id, batch_size, label="judging (local)")


def local_judge(items: Sequence[JudgeItem], images: dict[str, Any], mode: str, language: str | None,
                model: Any, processor: Any, model_id: str, cache_dir: Path, batch_size: int = 4) -> JudgeResult:
    """CLAIR (0-1) and/or the five-criterion rubric (1-5) from a local VLM."""
    from vlcultura.data.judge_rubric import CRITERIA, rubric_messages

    metrics, problems = [], []
    if mode in ("clair", "both"):
        prompts = [EvalImage(f"clair:{i.id}", [{"role": "user", "content": [
            {"type": "text", "text": clair_prompt(i.caption, i.references, language)}]}], [], []) for i in items]
        answers, failed = _ask(model, processor, prompts, model_id, cache_dir / "judge-clair.jsonl", batch_size)
        scores = []
        for i, p in zip(items, prompts):
            got = parse_scores(answers.get(p.id, ""), ["score"], 0, 100)
            scores.append(got["score"] / 100 if "score" in got else math.nan)
            if "score" not in got and p.id in answers:
                problems.append(f"local CLAIR for image {i.id}: no score in the answer {answers[p.id][:80]!r}")
        metrics.append(mean_metric("judge CLAIR", np.array(scores), f"local VLM CLAIR ({model_id}), 0-1"))
        problems += failed
    if mode in ("rubric", "both"):
        prompts = []
        for i in items:
            system, user = rubric_messages({"completion": i.caption, "variety": i.variety, "country": i.country,
                                            "labels": i.labels})
            text = f"{system}\n\n{user}\nJSON: {{\"{CRITERIA[0]}\": {{\"score\": 1-5, \"reason\": \"...\"}}, ...}}"
            prompts.append(EvalImage(f"rubric:{i.id}", [{"role": "user", "content": [
                {"type": "image"}, {"type": "text", "text": text}]}], [images[i.id]] if i.id in images else [], []))
        answers, failed = _ask(model, processor, prompts, model_id, cache_dir / "judge-rubric.jsonl", batch_size)
        parsed = [parse_scores(answers.get(p.id, ""), CRITERIA, 1, 5) for p in prompts]
        for i, p, got in zip(items, prompts, parsed):
            if p.id in answers and not got:
                problems.append(f"local rubric for image {i.id}: no score in the answer {answers[p.id][:80]!r}")
        for criterion in CRITERIA:
            metrics.append(mean_metric(f"judge {criterion}", np.array([g.get(criterion, math.nan) for g in parsed]),
                                       f"local VLM rubric ({model_id}), 1-5"))
        means = [float(np.mean(list(g.values()))) if g else math.nan for g in parsed]
        metrics.append(mean_metric("judge mean", np.array(means), "mean of the rubric criteria answered, 1-5"))
        problems += failed
    return JudgeResult(metrics, problems, 0.0)
