"""Processors that work without torchvision.

Qwen2.5-VL's stock processor also builds a video processor, which needs torchvision; without it
`AutoProcessor` quietly returns only the tokenizer. vlcultura captions images, never videos, so
the image-only processor below is the documented way to load Qwen2.5-VL on machines without
torchvision (CPU boxes, minimal images). It produces exactly the stock processor's image inputs.
"""
from __future__ import annotations

from transformers import Qwen2_5_VLProcessor


class Qwen2_5_VLImageOnlyProcessor(Qwen2_5_VLProcessor):
    """`Qwen2_5_VLProcessor` without the video processor (no torchvision needed)."""

    @classmethod
    def get_attributes(cls) -> list[str]:
        return ["image_processor", "tokenizer"]

    def __init__(self, image_processor=None, tokenizer=None, chat_template=None, **kwargs):
        super().__init__(image_processor=image_processor, tokenizer=tokenizer, video_processor=None,
                         chat_template=chat_template, **kwargs)
