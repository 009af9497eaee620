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


def only_item(items: list[dict[str, Any]]) -> dict[str, Any]:
    """Collate function for a loader of batch size 1 over `CachedBatches`: the batch itself.

    (A real batch sampler of size 1, rather than `batch_size=None`, lets accelerate skip the
    first batches when a run resumes mid-epoch.)"""
    return items[0]


class CachedBatches(Dataset):
    """Whole collated batches, in the stock loader's order; load with `only_item`, batch size 1."""

    def __init__(self, batches: list[dict[str, Any]]):
        self.batches = batches
        self.num_examples = sum(len(b["label"]) for b in batches)

    def __len__(self) -> int:
        return len(self.batches)

    def __getitem__(self, index: int) -> dict[str, Any]:
        return dict(self.batches[index])
