"""Tiny `*_images_kto`-shaped datasets and recipes for the train stage's tests."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from vlcultura.config import PipelineConfig
from vlcultura.data.kto import assistant_turn, user_prompt
from vlcultura.testing import tiny_image

DESCRIPTIONS = (
    ("una salteña boliviana jugosa con caldo y papa", True),
    ("un pastel", False),
    ("un cuñapé de santa cruz hecho con queso y almidón de yuca", True),
    ("una empanada argentina típica", False),
)


def kto_rows(n: int = 8, images_per_row: int = 1) -> dict[str, list[Any]]:
    """Columns as `vlcultura export` writes them: two rows (one per label) per image."""
    rows: dict[str, list[Any]] = {"prompt": [], "completion": [], "label": [], "images": [],
                                  "image_id": [], "variety": []}
    for i in range(n):
        text, label = DESCRIPTIONS[i % len(DESCRIPTIONS)]
        rows["prompt"].append(user_prompt("Describe esta imagen.", images_per_row))
        rows["completion"].append(assistant_turn(text))
        rows["label"].append(label)
        rows["images"].append([tiny_image(seed=i // 2 * 10 + k) for k in range(images_per_row)])
        rows["image_id"].append(f"img{i // 2}")
        rows["variety"].append("es-BO")
    return rows


def save_kto_dataset(out_dir: str | Path, n: int = 8, rows: dict[str, list[Any]] | None = None) -> Path:
    """A DatasetDict(train, test) saved with `save_to_disk` under `out_dir/kto`."""
    from datasets import Dataset, DatasetDict

    data = rows or kto_rows(n)
    train = Dataset.from_dict(data)
    path = Path(out_dir) / "kto"
    DatasetDict(train=train, test=train.select(range(2))).save_to_disk(str(path))
    return path


def tiny_recipe(model_dir: Path, data_dir: Path, out_dir: Path, **train: Any) -> PipelineConfig:
    """A CPU recipe that trains a tiny fixture for a few steps in well under a second per step."""
    model = train.pop("model", {})
    emissions = train.pop("emissions", {"country_iso_code": "ESP", "measure_power_secs": 1})
    base = dict(dataset=str(data_dir), output_dir=str(out_dir), per_device_train_batch_size=2,
                max_steps=3, learning_rate=1e-3, logging_steps=1, save_steps=2, use_cpu=True,
                max_length=None, fast_path=False, lora={"r": 4, "alpha": 8, "dropout": 0.0})
    base.update(train)
    return PipelineConfig.model_validate({"model": {"name_or_path": str(model_dir), **model},
                                          "train": base, "emissions": emissions})


FAMILIES = ("smolvlm", "gemma3", "qwen2_5_vl")


class Snapshot:
    """Copies of the vision tower and LoRA weights at train begin and end (a real callback)."""

    def __init__(self, frozen_prefixes: tuple[str, ...]):
        from transformers import TrainerCallback

        snap = self

        class _Callback(TrainerCallback):
            def on_train_begin(self, args, state, control, model=None, **kwargs):
                snap.begin = snap.take(model)

            def on_train_end(self, args, state, control, model=None, **kwargs):
                snap.end = snap.take(model)

        self.prefixes = frozen_prefixes
        self.callback = _Callback()
        self.begin: dict[str, Any] = {}
        self.end: dict[str, Any] = {}

    def take(self, model: Any) -> dict[str, Any]:
        out = {}
        for name, param in model.named_parameters():
            short = name.removeprefix("base_model.model.")
            if "lora_" in name or any(short.startswith(p + ".") for p in self.prefixes):
                out[name] = param.detach().float().clone()
        return out

    def changed(self, keyword: str) -> list[str]:
        return [n for n in self.begin if keyword in n and not bool((self.begin[n] == self.end[n]).all())]

    def names(self, keyword: str) -> list[str]:
        return [n for n in self.begin if keyword in n]
