"""The local backend: any transformers image-text-to-text model captions the images, batched.

Run with the BASE model you will tune, its captions are on-policy candidates: what the model says
today, with the exact prompt it will see at inference (the KTO prompt, no metadata). They are not
desirable by construction, so the stage labels them provisionally (`provisional_label`): a caption
that names a gold label is a desirable candidate, one that does not is `generic`; the judge and
the review confirm or flip them. Captions are recorded in the ledger at zero cost, so a re-run
reuses them instead of loading the model again.

Requests from the stage's concurrent workers are gathered into batches of `local_batch_size`
and run in a worker thread, so the event loop stays free and the GPU sees full batches.
"""
from __future__ import annotations

import asyncio
import io
from typing import Any

from vlcultura.config import GenerateConfig, ModelConfig
from vlcultura.cultures import fold
from vlcultura.data.generators.base import Generated, Generator, ImageItem
from vlcultura.data.ledger import Ledger, request_key
from vlcultura.data.prompts import kto_prompt
from vlcultura.records import ImageMeta, NegativeType


def provisional_label(meta: ImageMeta, caption: str) -> tuple[bool, NegativeType | None]:
    """Desirable if the caption names one of the image's gold labels, else a `generic` candidate."""
    text = fold(caption)
    named = any(fold(label) in text for label in meta.labels if label)
    return (True, None) if named else (False, NegativeType.GENERIC)


class LocalGenerator(Generator):
    """Batched captions from a local VLM (a path or a cached Hub id in `generate.local_model`)."""

    name = "local"
    on_policy = True

    def __init__(self, config: GenerateConfig, ledger: Ledger, model: Any = None, processor: Any = None) -> None:
        if not config.local_model and model is None:
            raise ValueError("the local backend needs generate.local_model (a folder or a Hub id in the cache)")
        self.config = config
        self.ledger = ledger
        self.model_name = config.local_model or type(model).__name__
        self.model = self.model_name
        self._loaded = (model, processor) if model is not None else None
        self._queue: asyncio.Queue[tuple[ImageItem, str, int, asyncio.Future[list[str]]]] | None = None
        self._worker: asyncio.Task[None] | None = None

    def _load(self) -> tuple[Any, Any]:
        if self._loaded is None:
            from vlcultura.train.models import load_model, load_processor, resolve_dtype, resolve_preset

            cfg = ModelConfig(name_or_path=self.model_name)
            preset = resolve_preset(cfg)
            processor = load_processor(cfg, preset)
            model, _ = load_model(cfg, preset, resolve_dtype(cfg, preset, use_cpu=False), device_map="auto")
            self._loaded = (model.eval(), processor)
        return self._loaded

    def _caption(self, batch: list[tuple[ImageItem, str, int]]) -> list[list[str]]:
        """n captions per image for one batch (sampled when n > 1, greedy otherwise)."""
        import torch
        from PIL import Image

        from vlcultura.train.models import build_user_message

        model, processor = self._load()
        n = batch[0][2]
        texts = [processor.apply_chat_template(build_user_message(prompt), add_generation_prompt=True)
                 for _, prompt, _ in batch]
        images = [[Image.open(io.BytesIO(item.image_bytes)).convert("RGB")] for item, _, _ in batch]
        inputs = processor(text=texts, images=images, return_tensors="pt", padding=True, padding_side="left")
        inputs = inputs.to(model.device)
        torch.manual_seed(self.config.seed)
        with torch.inference_mode():
            out = model.generate(**inputs, max_new_tokens=self.config.local_max_new_tokens, do_sample=n > 1,
                                 num_return_sequences=n)
        decoded = processor.batch_decode(out[:, inputs["input_ids"].shape[1]:], skip_special_tokens=True)
        return [[c.strip() for c in decoded[i * n:(i + 1) * n]] for i in range(len(batch))]

    async def _run_batches(self) -> None:
        assert self._queue is not None
        size = max(1, self.config.local_batch_size)
        while True:
            batch = [await self._queue.get()]
            await asyncio.sleep(0.01)  # let the other workers' requests arrive
            while len(batch) < size and not self._queue.empty():
                batch.append(self._queue.get_nowait())
            try:
                results = await asyncio.to_thread(self._caption, [(i, p, n) for i, p, n, _ in batch])
            except Exception as exc:  # noqa: BLE001 - every waiter gets the error, the loop goes on
                for *_, fut in batch:
                    fut.set_exception(exc)
                continue
            for (*_, fut), captions in zip(batch, results):
                fut.set_result(captions)

    async def describe(self, item: ImageItem, n: int) -> Generated:
        key = request_key(backend=self.name, model=self.model_name, prompt_version=item.prompt_version,
                          image_sha256=item.record.sha256, strategy=f"describe:{n}", seed=self.config.seed)
        known = self.ledger.get(key)
        if known is not None and known.status == "done":
            return Generated(known.response, key, self.model_name)
        if self._queue is None:
            self._queue = asyncio.Queue()
            self._worker = asyncio.create_task(self._run_batches())
        future: asyncio.Future[list[str]] = asyncio.get_running_loop().create_future()
        prompt = kto_prompt(item.prompts, f"{self.config.seed}:{item.record.sha256}")
        await self._queue.put((item, prompt, n, future))
        texts = {str(i): c for i, c in enumerate(await future)}
        self.ledger.record_free(key, stage="generate", backend=self.name, model=self.model_name, response=texts)
        return Generated(texts, key, self.model_name)

    async def aclose(self) -> None:
        if self._worker is not None:
            self._worker.cancel()
            await asyncio.gather(self._worker, return_exceptions=True)
