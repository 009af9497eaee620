"""FastKTOTrainer: stock TRL KTO on vision data, with the per-step waste precomputed once.

Stock TRL 1.16 (see docs/fast_path.md) decodes and preprocesses every image batch again each
epoch and runs the frozen vision tower four times per step. Here, before the first step, one
pass over the stock train loader (same sampler, collator and KL pairing) records for each batch
the collated tensors, the vision tower + connector output and the reference log-probabilities
(base model, adapters disabled). Each step then runs only what depends on the trainable
weights: the policy KL pass and the policy pass with its backward, through stock
`KTOTrainer._compute_loss`, so loss, rewards and KL are stock TRL's. Where a shortcut would
change the function, `fast_path_blockers` says why and the trainer behaves exactly like stock.
"""
from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Iterator
from typing import Any

import torch
from torch.utils.data import DataLoader
from tqdm.auto import tqdm
from peft.tuners.tuners_utils import BaseTunerLayer
from trl import KTOTrainer
from trl.models.utils import disable_gradient_checkpointing
from trl.trainer.utils import use_adapter

from .fast.batches import FEATURES_KEY, CachedBatches, only_item, pin
from .fast.blockers import fast_path_blockers, trainable_outside_language_model
from .fast.image_features import VISION_ONLY_KEYS, ImageFeatureReplay, image_entry

__all__ = ["FastKTOTrainer", "fast_path_blockers"]

logger = logging.getLogger(__name__)

# Batch keys stock `KTOTrainer._compute_loss` keeps away from the model's forward.
_NON_MODEL_KEYS = frozenset({"completion_mask", "KL_input_ids", "KL_attention_mask", "KL_completion_mask",
                             "KL_token_type_ids", "KL_mm_token_type_ids", "label", "ref_logps", "ref_KL_logps"})


class FastKTOTrainer(KTOTrainer):
    """`trl.KTOTrainer` with the same constructor; fast where exact, stock otherwise.

    `fast_path` tells which one runs, `fast_path_reasons` why not, `fast_precompute_seconds`
    what the one-time precompute cost, `fast_vision_calls` how often the vision tower ran.
    """

    def __init__(self, model, ref_model=None, args=None, data_collator=None, train_dataset=None,
                 eval_dataset=None, processing_class=None, compute_metrics=None, callbacks=None,
                 optimizers=(None, None), quantization_config=None, peft_config=None):
        reasons = fast_path_blockers(model, args, train_dataset, peft_config)
        if ref_model is not None:
            reasons.append("an explicit ref_model: the fast path uses the base model with adapters disabled")
        if not reasons and args is not None and args.precompute_ref_log_probs:
            args.precompute_ref_log_probs = False  # stock refuses it for vision data; done below instead
        super().__init__(model, ref_model=ref_model, args=args, data_collator=data_collator,
                         train_dataset=train_dataset, eval_dataset=eval_dataset,
                         processing_class=processing_class, compute_metrics=compute_metrics,
                         callbacks=callbacks, optimizers=optimizers,
                         quantization_config=quantization_config, peft_config=peft_config)
        if not reasons:  # authoritative check on the wrapped model (a model id is only loaded now)
            reasons = trainable_outside_language_model(self.model)
        self.fast_path_reasons: list[str] = reasons
        self.fast_path = not reasons
        self.fast_precompute_seconds: float | None = None
        self.fast_vision_calls = 0
        self._fast_batches: CachedBatches | None = None
        if reasons:
            logger.warning("KTO fast path off, running stock TRL: %s", "; ".join(reasons))

    # -- data -----------------------------------------------------------------------------------
    def get_train_dataloader(self) -> DataLoader:
        if not self.fast_path:
            return super().get_train_dataloader()
        if self._fast_batches is None:
            self._fast_batches = self._precompute_batches()
        return DataLoader(self._fast_batches, batch_size=1, shuffle=False, collate_fn=only_item)

    def num_examples(self, dataloader: DataLoader) -> int:
        if isinstance(getattr(dataloader, "dataset", None), CachedBatches):
            return dataloader.dataset.num_examples
        return super().num_examples(dataloader)

    def _precompute_batches(self) -> CachedBatches:
        """One pass over the stock loader: collated batch, image features, reference log-probs."""
        start = time.perf_counter()
        unwrapped = self.accelerator.unwrap_model(self.model)
        entry = image_entry(unwrapped)
        pin_memory = self.args.dataloader_pin_memory and torch.cuda.is_available()
        batches = []
        with self._as_reference(unwrapped):
            for batch in tqdm(super().get_train_dataloader(), desc="KTO fast path: caching batches",
                              disable=not self.is_local_process_zero()):
                batch = self._prepare_inputs(batch)
                with ImageFeatureReplay(entry) as replay:
                    ref_logps, ref_kl_logps = self._reference_logps(batch)
                self.fast_vision_calls += replay.vision_calls
                cached = {k: v.cpu() for k, v in batch.items() if k not in VISION_ONLY_KEYS}
                cached["ref_logps"] = ref_logps.cpu()
                if ref_kl_logps is not None:
                    cached["ref_KL_logps"] = ref_kl_logps.cpu()
                if replay.features is not None:
                    cached["pixel_values"] = torch.zeros(0)  # keeps the forward's image branch on
                    cached[FEATURES_KEY] = [f.cpu() for f in replay.features] if isinstance(
                        replay.features, (list, tuple)) else replay.features.cpu()
                batches.append({k: pin(v) for k, v in cached.items()} if pin_memory else cached)
        self.fast_precompute_seconds = time.perf_counter() - start
        logger.info("KTO fast path: %d batches cached in %.1f s", len(batches), self.fast_precompute_seconds)
        return CachedBatches(batches)

    @contextlib.contextmanager
    def _as_reference(self, unwrapped: torch.nn.Module) -> Iterator[None]:
        """The state stock TRL computes reference log-probs in: train mode, adapters off, no grad."""
        was_training = self.model.training
        self.model.train()
        adapter = "ref" if "ref" in getattr(unwrapped, "peft_config", {}) else None
        try:
            with (torch.no_grad(), disable_gradient_checkpointing(self.model, self.args.gradient_checkpointing_kwargs),
                  use_adapter(unwrapped, adapter_name=adapter), self.accelerator.autocast()):
                yield
        finally:
            self.model.train(was_training)

    def _reference_logps(self, batch: dict[str, Any]) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Reference completion and KL log-probs of one batch, as stock `_compute_loss` forms them."""
        model_kwargs = {k: v for k, v in batch.items() if k not in _NON_MODEL_KEYS}
        model_kwargs["use_cache"] = False
        labels = batch["input_ids"].masked_fill(batch["completion_mask"] == 0, -100)
        seq_len = batch["input_ids"].size(1) - 1
        outputs = self.model(**model_kwargs, labels=labels, fused_lm_head=True)
        return outputs.log_probs[:, -seq_len:].sum(-1), self._compute_kl_logps(self.model, batch)

    # -- loss -----------------------------------------------------------------------------------
    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        if "ref_logps" not in inputs or not self.fast_path:  # eval batches come from the stock collator
            return super().compute_loss(model, inputs, return_outputs, num_items_in_batch)
        inputs = dict(inputs)
        features = inputs.pop(FEATURES_KEY, None)
        unwrapped = self.accelerator.unwrap_model(model)
        replay = ImageFeatureReplay(image_entry(unwrapped), features) if features is not None else contextlib.nullcontext()
        self.precompute_ref_logps = True  # stock `_compute_loss` then reads them from the batch
        try:
            with replay, self._no_lora_input_round_trip(unwrapped):
                return super().compute_loss(model, inputs, return_outputs, num_items_in_batch)
        finally:
            self.precompute_ref_logps = False

    @contextlib.contextmanager
    def _no_lora_input_round_trip(self, unwrapped: torch.nn.Module) -> Iterator[None]:
        """Skip PEFT's cast of each LoRA input to the adapter dtype while autocast is on.

        With float32 adapters under bf16/fp16 autocast, PEFT casts the half-precision input up to
        float32 and autocast casts it straight back before the matmul: an exact round trip that
        costs two copy kernels per LoRA module per pass (~15% of a small model's kernels, and the
        step is bound by kernel launches). Without it the matmuls see the same values.
        """
        if self.accelerator.mixed_precision not in ("bf16", "fp16"):
            yield
            return
        if not hasattr(self, "_lora_layers"):
            self._lora_layers = [m for m in unwrapped.modules() if isinstance(m, BaseTunerLayer)]
        previous = [getattr(m, "cast_input_dtype_enabled", True) for m in self._lora_layers]
        for layer in self._lora_layers:
            layer.cast_input_dtype_enabled = False
        try:
            yield
        finally:
            for layer, value in zip(self._lora_layers, previous):
                layer.cast_input_dtype_enabled = value
