"""Trainer callbacks: stop on a non-finite loss without overwriting good checkpoints, keep logs.

The Trainer's `logging_nan_inf_filter` hides NaN losses from the logs, and a NaN gradient turns
every LoRA weight into NaN at the next optimizer step; saving then would replace good adapters
with garbage. After each optimizer step we look at the (small) trainable LoRA weights and at the
last logged loss; on the first non-finite value the run stops, nothing more is saved, and
`vlcultura.train.trainer` reports the last good checkpoint (`NonFiniteLossError`).
"""
from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from transformers import TrainerCallback


class NonFiniteGuard(TrainerCallback):
    """Stops training at the first non-finite trainable weight or logged loss."""

    def __init__(self) -> None:
        self.bad_step: int | None = None
        self.reason = ""

    def _stop(self, state, control, reason: str) -> None:
        if self.bad_step is None:
            self.bad_step, self.reason = state.global_step, reason
        control.should_training_stop = True
        control.should_save = False
        control.should_evaluate = False

    def on_step_end(self, args, state, control, model=None, **kwargs):
        import torch

        if self.bad_step is None and model is not None:
            trainable = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
            finite = torch.stack([torch.isfinite(p.detach()).all() for _, p in trainable]) if trainable else None
            if finite is not None and not bool(finite.all()):  # one device sync per step
                name = trainable[int((~finite).nonzero()[0])][0]
                self._stop(state, control, f"trainable weight {name} became non-finite")
        elif self.bad_step is not None:
            self._stop(state, control, self.reason)
        return control

    def on_log(self, args, state, control, logs=None, **kwargs):
        loss = (logs or {}).get("loss")
        if loss is not None and not math.isfinite(float(loss)):
            self._stop(state, control, f"logged loss is {loss}")
        return control


class JsonlLogCallback(TrainerCallback):
    """Every log line (loss, rewards, KL, learning rate) appended to `logs.jsonl` in the output."""

    def __init__(self, output_dir: str | Path):
        self.path = Path(output_dir) / "logs.jsonl"

    def on_log(self, args, state, control, logs=None, **kwargs):
        if not state.is_world_process_zero or not logs:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        record: dict[str, Any] = {"step": state.global_step, "epoch": state.epoch, **logs}
        with self.path.open("a", encoding="utf-8") as fh:
            fh.write(json.dumps(record, default=float) + "\n")


class ThroughputCallback(TrainerCallback):
    """Steady-state samples/s (after warm-up steps) and peak GPU memory of this process.

    The Trainer's own `train_samples_per_second` includes the first steps (compilation, caches,
    data loader start), which dominate short runs; this is what benchmarks and the card report.
    """

    def __init__(self, warmup_steps: int = 5):
        self.warmup = warmup_steps
        self.times: list[float] = []
        self.samples_per_step = 0

    def on_train_begin(self, args, state, control, **kwargs):
        import torch

        self.samples_per_step = (args.per_device_train_batch_size * args.gradient_accumulation_steps
                                 * args.world_size)
        if torch.cuda.is_available():
            torch.cuda.reset_peak_memory_stats()

    def on_step_end(self, args, state, control, **kwargs):
        import time

        import torch

        if torch.cuda.is_available():
            torch.cuda.synchronize()
        self.times.append(time.perf_counter())

    def samples_per_second(self) -> float | None:
        warm = min(self.warmup, len(self.times) // 2)
        if len(self.times) - warm < 2:
            return None
        span = self.times[-1] - self.times[warm]
        return round(self.samples_per_step * (len(self.times) - 1 - warm) / span, 3) if span > 0 else None

    @staticmethod
    def peak_memory_gib() -> float | None:
        import torch

        return round(torch.cuda.max_memory_allocated() / 2**30, 2) if torch.cuda.is_available() else None
