"""Dataset and Model Card rendering (templates ship inside the package), validated before writing.

- `render_dataset_card` / `validate_card`: the `*_images_kto` Dataset Card, counts from the data.
- `render_model_card` / `write_model_card` / `validate_model_card`: the Model Card with training
  facts, bias analysis, evaluation results (model-index) and CodeCarbon emissions.

Names load on first use.
"""
from vlcultura.lazy import lazy_exports

__all__ = ["render_dataset_card", "validate_card", "render_model_card", "write_model_card", "validate_model_card"]
__getattr__, __dir__ = lazy_exports(__name__, {
    "render_dataset_card": "dataset_card", "validate_card": "dataset_card", "render_model_card": "model_card",
    "write_model_card": "model_card", "validate_model_card": "model_card"})
