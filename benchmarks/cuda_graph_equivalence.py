"""GPU check: the CUDA-graph KTO step trains exactly like the same fixed-shape step run eagerly.

Tiny SmolVLM fixture, bf16, gradient accumulation 2 (the graph's gradients are copied, then
added), 4 optimizer steps over 2 epochs: logged loss / KL / rewards / grad norm and the final
LoRA weights of `FastKTOTrainer` with and without CUDA graphs. Run from the repository root:

    python benchmarks/cuda_graph_equivalence.py
"""
from __future__ import annotations

import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
import fast_kto_helpers  # noqa: E402  (the tests' tiny fixture and trainer settings)

from vlcultura.train.fast_kto import FastKTOTrainer  # noqa: E402

KEYS = ("loss", "kl", "rewards/chosen", "grad_norm")


def train(graphs: bool):
    trainer = fast_kto_helpers.make_trainer(
        FastKTOTrainer, "smolvlm", f"/tmp/graph_check_{graphs}", rows=16, dtype=torch.bfloat16, steps=4,
        use_cpu=False, bf16=True, gradient_accumulation_steps=2, lora_seed=7, lora_scale=1.0)
    if not graphs:
        trainer._graphed = None  # the same fixed-shape step, eager
    trainer.train()
    logs = [h for h in trainer.state.log_history if "loss" in h and "train_runtime" not in h]
    weights = {n: p.detach().float().cpu() for n, p in trainer.model.named_parameters() if "lora_" in n}
    return trainer, logs, weights


def main() -> None:
    graphed, graphed_logs, graphed_weights = train(True)
    eager, eager_logs, eager_weights = train(False)
    assert graphed.fast_cuda_graphs and not eager.fast_cuda_graphs
    print(f"{torch.cuda.get_device_name(0)}: {len(graphed._graphed.graphs)} graphs captured")
    for step, (g, e) in enumerate(zip(graphed_logs, eager_logs, strict=True), 1):
        print(f"step {step}: " + ", ".join(f"{k} {g[k]:.6g} / {e[k]:.6g}" for k in KEYS))
    print("max |LoRA weight difference|:", max((graphed_weights[n] - eager_weights[n]).abs().max().item()
                                                for n in graphed_weights))


if __name__ == "__main__":
    main()
