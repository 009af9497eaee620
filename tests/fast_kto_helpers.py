"""Tiny fixtures shared by the fast-KTO tests: a vision KTO dataset and matched trainers."""
from __future__ import annotations

import torch
from datasets import Dataset
from peft import LoraConfig
from trl import KTOConfig

from vlcultura.testing import build_tiny_vlm_in_memory, tiny_image

# The text model's attribute name per family: LoRA anchored there leaves the vision tower frozen.
LANGUAGE_MODEL = {"smolvlm": "text_model", "gemma3": "language_model", "qwen2_5_vl": "language_model"}
PROMPTS = ("¿qué plato típico se ve en la foto?", "describe la fiesta de la imagen",
           "¿de qué país es este mercado?", "¿qué se celebra aquí?")
ANSWERS = ("una salteña de bolivia", "pan de queso mineiro con café", "mariachis en guadalajara",
           "una ofrenda del día de muertos con velas", "los pastéis de nata de lisboa")


def kto_dataset(rows: int = 8) -> Dataset:
    """Conversational unpaired-preference rows, one image each, both labels present."""
    return Dataset.from_dict({
        "prompt": [[{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": PROMPTS[i % 4]}]}]
                   for i in range(rows)],
        "completion": [[{"role": "assistant", "content": [{"type": "text", "text": ANSWERS[i % 5] * (1 + i % 3)}]}]
                       for i in range(rows)],
        "label": [bool(i % 3) for i in range(rows)],
        "images": [[tiny_image(seed=i)] for i in range(rows)],
    })


def lora_config(family: str, vision_too: bool = False) -> LoraConfig:
    target = (r".*(q_proj|v_proj)" if vision_too
              else rf".*\.{LANGUAGE_MODEL[family]}\.layers\.\d+\.(self_attn\.(q|k|v|o)_proj|mlp\.(gate|up|down)_proj)")
    return LoraConfig(r=4, lora_alpha=8, lora_dropout=0.0, target_modules=target)


def kto_args(out_dir, steps: int = 3, batch: int = 4, **overrides) -> KTOConfig:
    settings = dict(output_dir=str(out_dir), per_device_train_batch_size=batch, max_steps=steps,
                    learning_rate=1e-3, logging_steps=1, report_to="none", save_strategy="no",
                    bf16=False, use_cpu=True, max_length=None, gradient_checkpointing=False,
                    dataloader_num_workers=0, seed=0)
    settings.update(overrides)
    return KTOConfig(**settings)


def make_trainer(trainer_cls, family: str, out_dir, rows: int = 8, dtype=torch.float32, lora_seed: int = 1,
                 lora_scale: float = 0.3, **arg_overrides):
    """A trainer on the tiny `family` model (seed 0) with LoRA B randomised: nonzero rewards."""
    model, processor = build_tiny_vlm_in_memory(family, seed=0)
    model.to(dtype)
    trainer = trainer_cls(model=model, args=kto_args(out_dir, **arg_overrides), train_dataset=kto_dataset(rows),
                          processing_class=processor, peft_config=lora_config(family))
    generator = torch.Generator().manual_seed(lora_seed)
    with torch.no_grad():  # LoRA starts as the identity (B = 0): policy == reference, rewards all 0
        for name, param in sorted(trainer.model.named_parameters()):
            if "lora_B" in name:
                param.copy_(torch.randn(param.shape, generator=generator) * lora_scale)
    return trainer


def logged_step(trainer, batch) -> tuple[dict[str, float], torch.Tensor]:
    """Loss and logged metrics of one batch on the trainer's current weights (and the loss tensor)."""
    trainer.model.train()
    loss = trainer.compute_loss(trainer.model, trainer._prepare_inputs(batch))
    return {k: v[-1] for k, v in trainer._metrics["train"].items()} | {"loss": loss.item()}, loss
