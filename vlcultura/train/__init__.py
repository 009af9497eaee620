"""The train stage (docs/training.md): TRL KTO or DPO with LoRA / QLoRA on a vision-language model.

- `train(config)` / `train_recipe(path)`: preflight checks, model + processor from the family
  preset, the trainer, CodeCarbon emissions, checkpoints and the Model Card.
- `resolve_preset`, `load_processor`, `load_model`: how every stage (train, evaluate, the local
  generator) loads a model: an id that does not resolve, or a processor that is not one, is an
  error, never a silent fallback.
- `merge_and_save(output_dir)`: fold the adapter into the base weights.

Names load on first use (torch is heavy), so `vlcultura --help` stays fast.
"""
from vlcultura.lazy import lazy_exports

__all__ = ["train", "train_recipe", "resolve_preset", "load_processor", "load_model", "merge_and_save"]
__getattr__, __dir__ = lazy_exports(__name__, {
    "train": "trainer", "train_recipe": "trainer", "resolve_preset": "models", "load_processor": "models",
    "load_model": "models", "merge_and_save": "merge"})
