"""FastKTOTrainer: stock TRL KTO on vision data, with the per-step waste precomputed once.

Stock TRL 1.16 (see docs/fast_path.md) decodes and preprocesses every image batch again each
epoch and runs the frozen vision tower four times per step. Here, before the first step, one
pass over the stock train loader (same sampler, collator and KL pairing) records for each batch
the collated tensors, the vision tower + connector output and the reference log-probabilities
(base model, adapters disabled). Each step then runs only what depends on the trainable
weights: the policy KL pass and the policy pass with its backward. For causal-attention
families (SmolVLM) that step runs in fixed shapes (`fast.static_step`) and, on a GPU, as one
CUDA graph per shape (`fast.cuda_graphs`); for the others it runs eagerly through stock
`KTOTrainer._compute_loss`. Where a shortcut would change the function, `fast_path_blockers`
says why and the trainer behaves exactly like stock.
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
from .fast.cuda_graphs import GraphedTrainStep
from .fast.image_features import VISION_ONLY_KEYS, ImageFeatureReplay, image_entry
from .fast.static_step import (POSITIONS_KEY, NotRightPadded, StaticKTOStep, causal_lm_parts,
                               compile_decoder_layers, graph_key, log_kto_metrics, restore_decoder_layers,
                               static_batch)

__all__ = ["FastKTOTrainer", "fast_path_blockers"]

logger = logging.getLogger(__name__)

# Batch keys stock `KTOTrainer._compute_loss` keeps away from the model's forward.
_NON_MODEL_KEYS = frozenset({"completion_mask", "KL_input_ids", "KL_attention_mask", "KL_completion_mask",
                             "KL_token_type_ids", "KL_mm_token_type_ids", "label", "ref_logps", "ref_KL_logps"})


def _model_kwargs(batch: dict[str, Any]) -> dict[str, Any]:
    """The model's forward arguments in a collated batch, as stock `_compute_loss` passes them."""
    return {k: v for k, v in batch.items() if k not in _NON_MODEL_KEYS} | {"use_cache": False}


class FastKTOTrainer(KTOTrainer):
    """`trl.KTOTrainer` with the same constructor; fast where exact, stock otherwise.

    `fast_path` tells which one runs, `fast_path_reasons` why not, `fast_precompute_seconds`
    what the one-time precompute cost, `fast_vision_calls` how often the vision tower ran.
    `fast_static_step` / `fast_cuda_graphs` tell whether the step runs in fixed shapes / as CUDA
    graphs, `fast_static_reasons` why not. `cuda_graphs=False` keeps the fixed-shape step eager;
    `compile_layers=True` also fuses the decoder layers with torch.compile inside the graphs (half
    the kernels, a minute or two of compilation; see docs/fast_path.md).
    """

    def __init__(self, model, ref_model=None, args=None, data_collator=None, train_dataset=None,
                 eval_dataset=None, processing_class=None, compute_metrics=None, callbacks=None,
                 optimizers=(None, None), quantization_config=None, peft_config=None, *, cuda_graphs: bool = True,
                 compile_layers: bool = False):
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
        self._static_step: StaticKTOStep | None = None
        self._graphed: GraphedTrainStep | None = None
        self.fast_static_reasons: list[str] = []
        self.fast_capture_seconds: float | None = None
        self.fast_compiled_layers = False
        self._flops_parameters: int | None = None
        self._pending_stats: list[tuple[torch.Tensor, dict[str, Any]]] = []
        if reasons:
            logger.warning("KTO fast path off, running stock TRL: %s", "; ".join(reasons))
        else:
            self._static_step, self.fast_static_reasons = self._build_static_step()
            if self._static_step is not None and cuda_graphs and self.accelerator.device.type == "cuda":
                params = [p for p in self.model.parameters() if p.requires_grad]
                self._graphed = GraphedTrainStep(self._graph_step, params)
                if compile_layers:  # before the precompute: the reference uses the same kernels
                    compile_decoder_layers(self._static_step.parts.backbone)
                self.fast_compiled_layers = compile_layers
            if self.fast_static_reasons:
                logger.info("KTO fast path runs eagerly (no fixed-shape step): %s", "; ".join(self.fast_static_reasons))

    @property
    def fast_static_step(self) -> bool:
        return self._static_step is not None

    @property
    def fast_cuda_graphs(self) -> bool:
        return self._graphed is not None

    def _build_static_step(self) -> tuple[StaticKTOStep | None, list[str]]:
        """The fixed-shape step where it computes the same function, else the reasons."""
        reasons = []
        if self.accelerator.mixed_precision == "fp16":
            reasons.append("fp16 mixed precision: its loss scaling is not part of the fixed-shape step")
        if self.args.gradient_checkpointing:
            reasons.append("gradient checkpointing is not part of the fixed-shape step")
        if getattr(self.args, "activation_offloading", False):
            reasons.append("activation offloading is not part of the fixed-shape step")
        if self.args.torch_compile:
            reasons.append("torch_compile=True compiles the whole model; the fixed-shape step calls its "
                           "layers directly (FastKTOTrainer(compile_layers=True) compiles those)")
        if self.aux_loss_enabled:
            reasons.append("router auxiliary loss is not part of the fixed-shape step")
        if self.loss_type not in ("kto", "apo_zero_unpaired"):
            reasons.append(f"loss_type={self.loss_type!r} is not part of the fixed-shape step")
        tokenizer = getattr(self.processing_class, "tokenizer", self.processing_class)
        parts, why = causal_lm_parts(self.accelerator.unwrap_model(self.model), getattr(tokenizer, "pad_token_id", None))
        reasons += why
        if reasons:
            return None, reasons
        mixed = {"bf16": torch.bfloat16}.get(self.accelerator.mixed_precision)
        return StaticKTOStep(parts, self.beta, self.loss_type, self.desirable_weight, self.undesirable_weight, mixed), []

    # -- data -----------------------------------------------------------------------------------
    def get_train_dataloader(self) -> DataLoader:
        if not self.fast_path:
            return super().get_train_dataloader()
        if self._fast_batches is None:
            self._fast_batches = self._precompute_batches()
            if self._graphed is not None:
                self._capture_graphs(self._fast_batches.batches)
        return DataLoader(self._fast_batches, batch_size=1, shuffle=False, collate_fn=only_item)

    def num_examples(self, dataloader: DataLoader) -> int:
        if isinstance(getattr(dataloader, "dataset", None), CachedBatches):
            return dataloader.dataset.num_examples
        return super().num_examples(dataloader)

    def _precompute_batches(self) -> CachedBatches:
        """One pass over the stock loader: collated batch, image features, reference log-probs."""
        start = time.perf_counter()
        try:
            batches = self._cache_batches()
        except NotRightPadded as error:  # a collator that pads on the left: the eager fast path is exact
            if self.fast_compiled_layers:
                restore_decoder_layers(self._static_step.parts.backbone)
            self.fast_static_reasons, self._static_step, self._graphed = [str(error)], None, None
            self.fast_compiled_layers = False
            logger.info("KTO fast path runs eagerly: %s", error)
            batches = self._cache_batches()
        self.fast_precompute_seconds = time.perf_counter() - start
        logger.info("KTO fast path: %d batches cached in %.1f s", len(batches), self.fast_precompute_seconds)
        return CachedBatches(batches)

    def _cache_batches(self) -> list[dict[str, Any]]:
        unwrapped = self.accelerator.unwrap_model(self.model)
        entry = image_entry(unwrapped)
        pin_memory = self.args.dataloader_pin_memory and torch.cuda.is_available()
        batches = []
        with self._as_reference(unwrapped):
            for batch in tqdm(super().get_train_dataloader(), desc="KTO fast path: caching batches",
                              disable=not self.is_local_process_zero()):
                batch = self._prepare_inputs(batch)
                cached = self._static_cached(batch, entry) if self._static_step else self._eager_cached(batch, entry)
                cached = {k: v.cpu() if isinstance(v, torch.Tensor) else v for k, v in cached.items()}
                batches.append({k: pin(v) for k, v in cached.items()} if pin_memory else cached)
        return batches

    def _eager_cached(self, batch: dict[str, Any], entry: torch.nn.Module) -> dict[str, Any]:
        """The stock batch without pixels, its image features and stock-computed reference log-probs."""
        with ImageFeatureReplay(entry) as replay:
            ref_logps, ref_kl_logps = self._reference_logps(batch)
        self.fast_vision_calls += replay.vision_calls
        cached = {k: v for k, v in batch.items() if k not in VISION_ONLY_KEYS}
        cached["ref_logps"] = ref_logps
        if ref_kl_logps is not None:
            cached["ref_KL_logps"] = ref_kl_logps
        if replay.features is not None:
            cached["pixel_values"] = torch.zeros(0)  # keeps the forward's image branch on
            cached[FEATURES_KEY] = ([f.cpu() for f in replay.features] if isinstance(replay.features, (list, tuple))
                                    else replay.features)
        return cached

    def _static_cached(self, batch: dict[str, Any], entry: torch.nn.Module) -> dict[str, Any]:
        """The batch in fixed shapes, with reference log-probs from the fixed-shape step itself."""
        with ImageFeatureReplay(entry, stop_after_recording=True) as replay:
            self.model(**_model_kwargs(batch))  # stops once the vision tower has run
        self.fast_vision_calls += replay.vision_calls
        cached = static_batch(batch, replay.features, self._static_step.parts)
        cached.update(self._static_step.reference_logps(cached))
        return cached

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
        labels = batch["input_ids"].masked_fill(batch["completion_mask"] == 0, -100)
        seq_len = batch["input_ids"].size(1) - 1
        outputs = self.model(**_model_kwargs(batch), labels=labels, fused_lm_head=True)
        return outputs.log_probs[:, -seq_len:].sum(-1), self._compute_kl_logps(self.model, batch)

    # -- loss -----------------------------------------------------------------------------------
    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        if "ref_logps" not in inputs or not self.fast_path:  # eval batches come from the stock collator
            return super().compute_loss(model, inputs, return_outputs, num_items_in_batch)
        if POSITIONS_KEY in inputs:
            with self._no_lora_input_round_trip(self.accelerator.unwrap_model(model)):
                outputs = self._static_step(inputs)
            self._log_static_metrics(outputs["stats"], inputs, "train" if self.model.training else "eval")
            return (outputs["loss"], outputs) if return_outputs else outputs["loss"]
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

    def training_step(self, model, inputs, num_items_in_batch=None):
        """On a GPU, a fixed-shape batch trains by replaying its captured CUDA graph.

        Nothing here waits for the GPU: inputs go from pinned host memory straight into the
        graph's buffers, and the logged statistics are read when the trainer logs.
        """
        if self._graphed is None or POSITIONS_KEY not in inputs:
            return super().training_step(model, inputs, num_items_in_batch)
        model.train()
        scale = self._loss_scale(num_items_in_batch)
        outputs = self._graphed(graph_key(inputs), self._graph_inputs(inputs, scale),
                                accumulate=self.args.gradient_accumulation_steps > 1)
        self._pending_stats.append((outputs["stats"].clone(), inputs))
        return outputs["loss"] * scale

    def _graph_inputs(self, batch: dict[str, Any], loss_scale: float) -> dict[str, torch.Tensor]:
        tensors = {k: v for k, v in batch.items() if isinstance(v, torch.Tensor)}
        tensors["loss_scale"] = torch.full((), loss_scale)
        return tensors

    def _capture_graphs(self, batches: list[dict[str, Any]]) -> None:
        """Capture one graph per batch shape before training (their warm-up leaves no gradients)."""
        start = time.perf_counter()
        self.model.train()
        first_of_shape: dict[tuple[int, ...], dict[str, Any]] = {}
        for batch in batches:
            first_of_shape.setdefault(graph_key(batch), batch)
        for key, batch in first_of_shape.items():
            self._graphed.capture(key, self._graph_inputs(batch, self._loss_scale(None)))
        self.fast_capture_seconds = time.perf_counter() - start
        logger.info("KTO fast path: %d CUDA graphs captured in %.1f s", len(self._graphed.graphs),
                    self.fast_capture_seconds)

    def log(self, logs: dict[str, float], start_time: float | None = None) -> None:
        for stats, batch in self._pending_stats:  # graph (training) steps' statistics, read once per log
            self._log_static_metrics(stats, batch, "train")
        self._pending_stats.clear()
        super().log(logs, start_time)

    def _loss_scale(self, num_items_in_batch: Any) -> float:
        """The factor `Trainer.training_step` divides the loss by before backward (gradient accumulation)."""
        scaled = getattr(self, "loss_is_scaled_for_ga", None)
        if scaled is None:
            scaled = (self.model_accepts_loss_kwargs and num_items_in_batch is not None) or self.compute_loss_func is not None
        steps = getattr(self, "current_gradient_accumulation_steps", self.args.gradient_accumulation_steps)
        return 1.0 if scaled else 1.0 / steps

    def _graph_step(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """What one graph holds: the fixed-shape step and its backward."""
        with self._no_lora_input_round_trip(self.accelerator.unwrap_model(self.model)):
            outputs = self._static_step(batch)
        (outputs["loss"] * batch["loss_scale"]).backward()
        return {k: v.detach() for k, v in outputs.items()}

    def floating_point_ops(self, inputs: dict[str, Any]) -> int:
        """Trainer's FLOPs estimate, with the parameter count (a walk over every module) taken once."""
        if self._graphed is None:
            return super().floating_point_ops(inputs)
        if self._flops_parameters is None:
            count = getattr(self.model, "num_parameters", None)
            self._flops_parameters = count(exclude_embeddings=True) if count else 0
        main_input = getattr(self.model, "main_input_name", "input_ids")
        return 6 * inputs[main_input].numel() * self._flops_parameters if main_input in inputs else 0

    def _clip_grad_norm(self, model):
        """Clip over the trainable parameters only (the others have no gradient): the same norm,
        without walking the whole model every step."""
        if self._graphed is None:
            return super()._clip_grad_norm(model)
        return self.accelerator.clip_grad_norm_(self._graphed.params, self.args.max_grad_norm)

    def _log_static_metrics(self, stats: torch.Tensor, batch: dict[str, Any], mode: str) -> None:
        log_kto_metrics(self._metrics[mode], stats, batch)
        if mode == "train":
            self._total_train_tokens += int(batch["attention_mask"].sum()) // self._tp_size
        self._metrics[mode]["num_tokens"] = [self._total_train_tokens]

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
