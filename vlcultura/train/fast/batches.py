"""The precomputed training batches the fast KTO path iterates instead of the stock loader."""
from __future__ import annotations

from typing import Any

import torch
from torch.utils.data import Dataset

# Batch key holding the cached vision tower + connector output (never passed to the model).
FEATURES_KEY = "fast_image_features"


def pin(value: Any) -> Any:
    """Page-lock a tensor (or list of tensors) so its copy to the GPU each step is cheap."""
    if isinstance(value, torch.Tensor):
        return value.pin_memory()
    if isinstance(value, (list, tuple)):
        return type(value)(pin(v) for v in value)
    return value


class CachedBatches(Dataset):
    """Whole collated batches, in the stock loader's order; iterate with `batch_size=None`."""

    def __init__(self, batches: list[dict[str, Any]]):
        self.batches = batches
        self.num_examples = sum(len(b["label"]) for b in batches)

    def __len__(self) -> int:
        return len(self.batches)

    def __getitem__(self, index: int) -> dict[str, Any]:
        return dict(self.batches[index])
