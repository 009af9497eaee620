"""Record the frozen vision tower + connector output once, replay it to every later pass.

Every supported family (Idefics3/SmolVLM, Gemma 3, Qwen2.5-VL; transformers 5.x) merges images
into the text by calling `self.get_image_features(pixel_values, ..., return_dict=True)` on its
inner model and reading `.pooler_output`. Shadowing that bound method on the instance is the
narrowest hook that works across transformers versions (the forward's own "pass precomputed
features" argument was renamed between 5.17 and 5.24). The replayed value is exactly what the
real method returned, so the function is unchanged as long as nothing in the vision tower or
connector trains: `blockers.trainable_outside_language_model` checks that.
"""
from __future__ import annotations

from typing import Any

import torch
from torch import nn
from transformers.modeling_outputs import BaseModelOutputWithPooling

# Keys of a collated batch that only the vision tower reads: dropped once features are cached.
VISION_ONLY_KEYS = ("pixel_values", "pixel_attention_mask")


def image_entry(model: nn.Module) -> nn.Module | None:
    """The inner module whose forward calls `self.get_image_features` (None if there is none)."""
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    inner = getattr(base, getattr(base, "base_model_prefix", "model"), None)
    if isinstance(inner, nn.Module) and hasattr(inner, "get_image_features"):
        return inner
    return None


def to_device(value: Any, device: torch.device | str, non_blocking: bool = False) -> Any:
    """Move a tensor, or a list/tuple of tensors (Qwen, Idefics3 return per-image lists), to `device`."""
    if isinstance(value, torch.Tensor):
        return value.to(device, non_blocking=non_blocking)
    if isinstance(value, (list, tuple)):
        return type(value)(to_device(v, device, non_blocking) for v in value)
    return value


class ImageFeatureReplay:
    """Within the block, `entry.get_image_features` returns `features`.

    With `features=None` the first call runs the real method and records its `pooler_output`
    (the connector output the forward merges into the text), later calls replay it: the
    reference and KL passes of one batch then share a single vision forward.
    """

    def __init__(self, entry: nn.Module, features: Any = None, stop_after_recording: bool = False):
        self.entry = entry
        self.features = features
        self.vision_calls = 0
        self.stop_after_recording = stop_after_recording  # end the forward once the features are in hand

    def __enter__(self) -> ImageFeatureReplay:
        original = self.entry.get_image_features

        def replay(*args: Any, **kwargs: Any) -> BaseModelOutputWithPooling:
            if self.features is None:
                self.vision_calls += 1
                output = original(*args, **kwargs)
                self.features = output.pooler_output if hasattr(output, "pooler_output") else output
                if self.stop_after_recording:
                    raise FeaturesRecorded
            return BaseModelOutputWithPooling(pooler_output=self.features)

        self.entry.get_image_features = replay
        return self

    def __exit__(self, kind: type | None, *exc: object) -> bool:
        del self.entry.get_image_features  # the class method is visible again
        return kind is FeaturesRecorded


class FeaturesRecorded(Exception):
    """Ends a forward run only to record the image features (`stop_after_recording=True`)."""
