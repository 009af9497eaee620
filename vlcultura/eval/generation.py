"""Batched captioning with the training prompts, left padding, a resumable cache and a progress bar.

Each caption is appended to `<output>/captions/<system>.jsonl` with a key of everything that
decides it (model identity, prompt, decoding settings), so a killed run resumes where it stopped
and a changed setting never reuses a stale caption. A batch that fails is retried image by
image; an image that still fails is recorded with its reason and the run goes on.
"""
from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Sequence

from vlcultura.eval.eval_set import EvalImage

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Decoding:
    """Decoding settings, recorded in the report and in every cache key."""

    max_new_tokens: int = 96
    num_beams: int = 1
    do_sample: bool = False
    temperature: float | None = None
    repetition_penalty: float = 1.0
    seed: int = 0

    def generate_kwargs(self) -> dict[str, Any]:
        kwargs: dict[str, Any] = dict(max_new_tokens=self.max_new_tokens, num_beams=self.num_beams,
                                      do_sample=self.do_sample, repetition_penalty=self.repetition_penalty)
        if self.do_sample and self.temperature is not None:
            kwargs["temperature"] = self.temperature
        return kwargs


def cache_key(model_id: str, item: EvalImage, decoding: Decoding) -> str:
    """Hash of what decides a caption: a change in any of them means caption again."""
    blob = json.dumps([model_id, item.id, item.prompt, asdict(decoding)], sort_keys=True, ensure_ascii=False,
                      default=str)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()[:24]


class CaptionCache:
    """Append-only JSONL of finished captions; failures are logged but never reused."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.done: dict[str, str] = {}
        if self.path.is_file():
            text = self.path.read_text(encoding="utf-8")
            if text and not text.endswith("\n"):  # cut by a kill: never glue the next row onto it
                with self.path.open("a", encoding="utf-8") as fh:
                    fh.write("\n")
            for line in text.splitlines():
                try:
                    row = json.loads(line)
                except json.JSONDecodeError:  # a line cut by a kill: caption that image again
                    continue
                if row.get("error") is None and isinstance(row.get("caption"), str):
                    self.done[row["key"]] = row["caption"]

    def add(self, key: str, image_id: str, caption: str | None, error: str | None = None) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("a", encoding="utf-8") as fh:
            fh.write(json.dumps({"key": key, "id": image_id, "caption": caption, "error": error},
                                ensure_ascii=False) + "\n")
        if error is None and caption is not None:
            self.done[key] = caption


def _generate_batch(model: Any, processor: Any, items: Sequence[EvalImage], decoding: Decoding) -> list[str]:
    import torch

    texts = [processor.apply_chat_template(item.prompt, add_generation_prompt=True) for item in items]
    images = [[im.convert("RGB") for im in item.images] for item in items]
    inputs = processor(text=texts, images=images if any(images) else None,  # text-only prompts (a judge)
                       return_tensors="pt", padding=True, padding_side="left")
    inputs = inputs.to(model.device, dtype=model.dtype)  # casts only floating tensors (pixel values)
    torch.manual_seed(decoding.seed)
    with torch.inference_mode():
        out = model.generate(**inputs, **decoding.generate_kwargs())
    new = out[:, inputs["input_ids"].shape[1]:]
    return [t.strip() for t in processor.batch_decode(new, skip_special_tokens=True)]


def pending(items: Sequence[EvalImage], decoding: Decoding, cache: CaptionCache, model_id: str) -> list[EvalImage]:
    """Images this system has not captioned yet with these settings."""
    return [item for item in items if cache_key(model_id, item, decoding) not in cache.done]


def cached_captions(items: Sequence[EvalImage], decoding: Decoding, cache: CaptionCache,
                    model_id: str) -> dict[str, str]:
    """Image id -> caption for every image the cache holds."""
    keys = {item.id: cache_key(model_id, item, decoding) for item in items}
    return {i: cache.done[k] for i, k in keys.items() if k in cache.done}


def caption_images(model: Any, processor: Any, items: Sequence[EvalImage], decoding: Decoding,
                   cache: CaptionCache, model_id: str, batch_size: int = 8,
                   label: str = "captioning") -> tuple[dict[str, str], list[str]]:
    """Captions by image id (cached ones reused) and the reasons of images that failed."""
    from tqdm.auto import tqdm

    todo = pending(items, decoding, cache, model_id)
    problems: list[str] = []
    with tqdm(total=len(items), initial=len(items) - len(todo), desc=label, unit="img") as bar:
        for start in range(0, len(todo), batch_size):
            batch = todo[start:start + batch_size]
            try:
                captions: list[str | None] = list(_generate_batch(model, processor, batch, decoding))
            except Exception as err:  # noqa: BLE001 - retry one by one to isolate the bad image
                log.warning("batch failed (%s); retrying its %d images one by one", err, len(batch))
                captions = [_caption_one(model, processor, item, decoding, cache, model_id, problems)
                            for item in batch]
            for item, caption in zip(batch, captions):
                if caption is not None:
                    cache.add(cache_key(model_id, item, decoding), item.id, caption)
            bar.update(len(batch))
    return cached_captions(items, decoding, cache, model_id), problems


def _caption_one(model: Any, processor: Any, item: EvalImage, decoding: Decoding, cache: CaptionCache,
                 model_id: str, problems: list[str]) -> str | None:
    try:
        return _generate_batch(model, processor, [item], decoding)[0]
    except Exception as err:  # noqa: BLE001 - recorded with its reason; the run goes on
        reason = f"{type(err).__name__}: {err}"[:300]
        cache.add(cache_key(model_id, item, decoding), item.id, None, reason)
        problems.append(f"image {item.id}: captioning failed ({reason}); not scored")
        return None
