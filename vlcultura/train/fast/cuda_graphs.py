"""Capture a whole training micro-step (forwards, loss, backward) once per shape; replay it after.

A small model's KTO step is ~10k kernel launches whose host-side cost (Python, autocast, PEFT
glue, launch) is many times the GPU time. A CUDA graph replays all of them with one launch.
One graph is captured per static shape (`static_step.graph_key`); all graphs share one memory
pool, which is safe because each step's outputs are read before the next replay. The graph's
gradients are written into tensors it owns; after each replay they become the parameters'
`.grad` (or are added to it when gradients accumulate), so the optimizer, clipping and
scheduler run unchanged outside the graph.
"""
from __future__ import annotations

from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Any

import torch

# Eager runs before a capture: cuBLAS/Triton/autotune warm-up happens outside the graph.
WARMUP_RUNS = 2


@dataclass
class _Captured:
    graph: torch.cuda.CUDAGraph
    inputs: dict[str, torch.Tensor]
    outputs: dict[str, torch.Tensor]
    grads: list[torch.Tensor | None]


class GraphedTrainStep:
    """`step(inputs) -> outputs` (it must call backward itself) as one CUDA graph per `key`.

    `inputs` values are tensors of the key's shapes, on the host (pinned: copied without waiting)
    or the device; outputs are detached device tensors that stay valid until the next call.
    """

    def __init__(self, step: Callable[[dict[str, torch.Tensor]], dict[str, torch.Tensor]],
                 params: list[torch.nn.Parameter]):
        self.step = step
        self.params = params
        self.graphs: dict[Hashable, _Captured] = {}
        self._pool: Any = None

    def __call__(self, key: Hashable, inputs: dict[str, torch.Tensor], accumulate: bool) -> dict[str, torch.Tensor]:
        captured = self.graphs.get(key) or self.capture(key, inputs)
        for name, value in inputs.items():
            captured.inputs[name].copy_(value, non_blocking=True)
        captured.graph.replay()
        self._hand_over_grads(captured.grads, accumulate)
        return captured.outputs

    def _hand_over_grads(self, grads: list[torch.Tensor | None], accumulate: bool) -> None:
        """The replay's gradients become `.grad`; with accumulation they are added to a copy."""
        summed_into, summed = [], []
        for param, grad in zip(self.params, grads):
            if grad is None or param.grad is grad:
                continue
            if param.grad is None:
                param.grad = grad.clone() if accumulate else grad
            else:
                summed_into.append(param.grad)
                summed.append(grad)
        if summed:
            torch._foreach_add_(summed_into, summed)

    def capture(self, key: Hashable, inputs: dict[str, torch.Tensor]) -> _Captured:
        """Warm up on `inputs`, then capture; the parameters' `.grad` are left as they were."""
        device = next(iter(self.params)).device
        static = {name: value.to(device, copy=True) for name, value in inputs.items()}
        kept = [p.grad for p in self.params]
        side = torch.cuda.Stream()
        side.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(side):
            for _ in range(WARMUP_RUNS):
                for p in self.params:
                    p.grad = None
                self.step(static)
        torch.cuda.current_stream().wait_stream(side)
        for p in self.params:
            p.grad = None
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph, pool=self._pool):
            outputs = self.step(static)
        self._pool = graph.pool()
        grads = [p.grad for p in self.params]
        for p, grad in zip(self.params, kept):
            p.grad = grad
        self.graphs[key] = _Captured(graph, static, outputs, grads)
        return self.graphs[key]
