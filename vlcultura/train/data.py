"""The training data: the exported `*_images_kto` dataset, its recommended weights, DPO pairs.

The export stage writes `kto/` (a DatasetDict with train/test) and `kto_weights.json` beside it;
a Hub id works too. DPO needs (chosen, rejected) pairs, which we build from the unpaired rows
that share an image and a prompt, so one dataset serves both algorithms.
"""
from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from vlcultura.data.kto import WEIGHTS_FILE

log = logging.getLogger(__name__)


class DatasetLoadError(ValueError):
    """The training dataset cannot be read; the message says what to do."""


def load_training_dataset(source: str) -> Any:
    """A DatasetDict from a `save_to_disk` folder (or its parent) or a Hub id."""
    import datasets

    path = Path(source)
    if path.exists():
        for candidate in (path, path / "kto"):
            if (candidate / "dataset_dict.json").exists() or (candidate / "dataset_info.json").exists():
                loaded = datasets.load_from_disk(str(candidate))
                return loaded if isinstance(loaded, datasets.DatasetDict) else datasets.DatasetDict(train=loaded)
        raise DatasetLoadError(f"{source!r} exists but holds no dataset saved with save_to_disk "
                               "(no dataset_dict.json): point train.dataset at the export stage's "
                               "`kto/` folder.")
    try:
        return datasets.load_dataset(source)
    except Exception as exc:  # datasets raises many types for a missing/offline repo
        raise DatasetLoadError(f"cannot load dataset {source!r}: {exc.__class__.__name__}: "
                               f"{str(exc).splitlines()[0] if str(exc) else ''}. Use a local folder "
                               "written by `vlcultura export`, or download the Hub dataset first "
                               "(offline mode cannot reach the Hub).") from exc


def find_weights_file(source: str) -> Path | None:
    """`kto_weights.json` next to (or inside) the dataset folder, if the export wrote one."""
    path = Path(source)
    for candidate in (path / WEIGHTS_FILE, path.parent / WEIGHTS_FILE):
        if candidate.is_file():
            return candidate
    return None


def recommended_weights(source: str) -> dict[str, Any] | None:
    """The export stage's recommended desirable/undesirable weights, if any."""
    found = find_weights_file(source)
    if found is None:
        return None
    data = json.loads(found.read_text(encoding="utf-8"))
    return {"desirable_weight": float(data["desirable_weight"]),
            "undesirable_weight": float(data["undesirable_weight"]), "file": str(found)}


def _pair_key(row: dict[str, Any]) -> str:
    """Rows about the same image and prompt pair up: `image_id` when exported, else the prompt."""
    prompt = json.dumps(row["prompt"], ensure_ascii=False, sort_keys=True)
    return f"{row.get('image_id', '')}\x00{prompt}"


def to_dpo_pairs(dataset: Any) -> Any:
    """(prompt, chosen, rejected, images) from unpaired rows of the same image and prompt.

    Each undesirable row is paired with a desirable one of its group (cycling when there are
    fewer), so every negative is used once. Groups without both labels are dropped (logged).
    """
    from datasets import Dataset

    keep = [c for c in ("image_id", "prompt", "completion", "label") if c in dataset.column_names]
    groups: dict[str, dict[bool, list[int]]] = {}
    for i, row in enumerate(dataset.select_columns(keep)):
        groups.setdefault(_pair_key(row), {True: [], False: []})[bool(row["label"])].append(i)
    pairs = [(pos[j % len(pos)], neg_i) for g in groups.values() if (pos := g[True]) and g[False]
             for j, neg_i in enumerate(g[False])]
    dropped = sum(1 for g in groups.values() if not (g[True] and g[False]))
    if dropped:
        log.warning("DPO pairing: %d image/prompt groups lack a desirable or an undesirable row "
                    "and are left out", dropped)
    if not pairs:
        raise DatasetLoadError("DPO needs, for some image and prompt, both a desirable and an "
                               "undesirable completion; this dataset has none. Use algorithm: kto.")
    chosen = dataset.select([p for p, _ in pairs])
    rejected = dataset.select([n for _, n in pairs])
    images = chosen["images"] if "images" in dataset.column_names else [[im] for im in chosen["image"]]
    return Dataset.from_dict({"prompt": chosen["prompt"], "chosen": chosen["completion"],
                              "rejected": rejected["completion"], "images": images})
