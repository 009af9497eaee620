"""Export: the KTO dataset TRL's KTOTrainer reads, split by image, with its recommended weights.

Rows are conversational (vlm_training.md: the safer format for vision KTO): `prompt` is a list
of messages whose user turn holds an image placeholder `{"type": "image"}` and the instruction,
`completion` is one assistant message, `label` is a bool and `images` a list of images; every other
candidate field stays as a metadata column. Train and test never share an image (nor, for the
text-only Arena rows, a question), and each country x variety stratum is split on its own.
"""
from __future__ import annotations

import hashlib
import io
import json
import math
import random
from collections import Counter, defaultdict
from typing import Any

from vlcultura.config import ExportConfig
from vlcultura.data.names import check_dataset_name, prompts_name_for

KTO_LOW, KTO_HIGH = 1.0, 4 / 3  # KTO paper eq. 8: lambda_D n_D / lambda_U n_U in [1, 4/3]
WEIGHTS_FILE = "kto_weights.json"


class LeakageError(AssertionError):
    """An image (or text-only prompt) appears in more than one split."""


def message_features() -> Any:
    """Arrow features of a conversational turn list (content parts are text or image slots)."""
    from datasets import List, Value

    return List({"role": Value("string"),
                 "content": List({"type": Value("string"), "text": Value("string")})})


def user_prompt(instruction: str, n_images: int = 1) -> list[dict[str, Any]]:
    """One user turn: image placeholders first, then the instruction."""
    parts = [{"type": "image", "text": None} for _ in range(n_images)]
    return [{"role": "user", "content": parts + [{"type": "text", "text": instruction}]}]


def assistant_turn(text: str) -> list[dict[str, Any]]:
    return [{"role": "assistant", "content": [{"type": "text", "text": text}]}]


_METADATA_KEYS = ("exif", "xmp", "XML:com.adobe.xmp")


def strip_exif(image: dict[str, Any]) -> dict[str, Any]:
    """Re-encode image bytes that still carry EXIF/XMP (GPS included); clean ones pass untouched.

    Ingest already strips metadata; this is the last guard before anything is written for the Hub.
    """
    from PIL import Image

    from vlcultura.data.images import stored_bytes

    data = stored_bytes(image)
    with Image.open(io.BytesIO(data)) as img:
        if not len(img.getexif()) and not any(k in img.info for k in _METADATA_KEYS):
            return {"bytes": data, "path": None}
        fmt = img.format or "PNG"
        clean = img.copy()
        clean.info = {}  # Pillow writes EXIF/XMP only from save() arguments or this dict
        buf = io.BytesIO()
        clean.save(buf, format=fmt, **({"quality": 95} if fmt == "JPEG" else {}))
    return {"bytes": buf.getvalue(), "path": None}


def to_kto(candidates: Any) -> Any:
    """Candidates (records.Candidate fields + `image` + `prompt`) -> KTO rows with metadata."""
    from datasets import Features, Image, List, Value

    ds = candidates.cast_column("image", Image(decode=False))
    meta = {k: v for k, v in ds.features.items() if k not in ("image", "prompt", "completion", "label")}
    features = Features({"prompt": message_features(), "completion": message_features(),
                         "label": Value("bool"), "images": List(Image()), **meta})

    def convert(row: dict[str, Any]) -> dict[str, Any]:
        prompt = row["prompt"]
        return {"prompt": user_prompt(prompt) if isinstance(prompt, str) else prompt,
                "completion": assistant_turn(row["completion"]), "label": bool(row["label"]),
                "images": [strip_exif(row["image"])]}

    return ds.map(convert, remove_columns=["image"], features=features, desc="KTO rows")


def _is_null(feature: Any) -> bool:
    return getattr(feature, "dtype", None) == "null"


def concat_text_rows(image_rows: Any, text_rows: Any) -> Any:
    """Image rows plus text-only rows (the Arena's), each side padded with the other's columns.

    A column that is all-None on one side (Arrow type null) takes the other side's type.
    """
    from datasets import Features, concatenate_datasets

    merged = dict(image_rows.features)
    for name, feature in text_rows.features.items():
        if name not in merged or _is_null(merged[name]):
            merged[name] = feature
    features = Features(merged)

    def pad(ds: Any) -> Any:
        for name in features:
            if name not in ds.column_names:
                ds = ds.add_column(name, [[] if name == "images" else None] * len(ds))
        return ds.select_columns(list(features)).cast(features)

    return concatenate_datasets([pad(image_rows), pad(text_rows)])


def _columns(dataset: Any, *names: str) -> Any:
    """The dataset narrowed to those of `names` it has, so iterating never decodes images."""
    return dataset.select_columns([c for c in names if c in dataset.column_names])


def group_key(row: dict[str, Any]) -> str:
    """What must stay on one side of the split: the image, or the prompt of a text-only row."""
    if row.get("image_id"):
        return f"image:{row['image_id']}"
    return "text:" + hashlib.sha256(json.dumps(row["prompt"], ensure_ascii=False, sort_keys=True)
                                    .encode()).hexdigest()[:16]


def split_by_group(dataset: Any, test_fraction: float, seed: int) -> Any:
    """A DatasetDict(train, test): whole groups per side, each country x variety split alone."""
    from datasets import DatasetDict

    keys, strata = [], {}
    for row in _columns(dataset, "image_id", "prompt", "country", "variety"):
        key = group_key(row)
        keys.append(key)
        strata.setdefault(key, (row.get("country") or "", row.get("variety") or ""))
    by_stratum: dict[tuple[str, str], list[str]] = defaultdict(list)
    for key, stratum in strata.items():
        by_stratum[stratum].append(key)
    rng = random.Random(seed)
    test_keys: set[str] = set()
    for stratum in sorted(by_stratum):
        members = sorted(by_stratum[stratum])
        rng.shuffle(members)
        n_test = round(len(members) * test_fraction)
        if len(members) >= 2:
            n_test = min(max(n_test, 1), len(members) - 1)
        else:
            n_test = 0
        test_keys.update(members[:n_test])
    test_idx = [i for i, k in enumerate(keys) if k in test_keys]
    train_idx = [i for i, k in enumerate(keys) if k not in test_keys]
    splits = DatasetDict(train=dataset.select(train_idx), test=dataset.select(test_idx))
    assert_no_leakage(splits)
    return splits


def split_summary(splits: Any) -> dict[str, dict[str, int]]:
    """Images (or text-only prompts) per country|variety stratum on each side of the split."""
    out: dict[str, dict[str, int]] = {}
    for name, split in splits.items():
        groups = {group_key(r): f"{r.get('country') or '-'}|{r.get('variety') or '-'}"
                  for r in _columns(split, "image_id", "prompt", "country", "variety")}
        for stratum in groups.values():
            out.setdefault(stratum, {n: 0 for n in splits})[name] += 1
    return dict(sorted(out.items()))


def assert_no_leakage(splits: Any) -> None:
    """Raise `LeakageError` when any image or text-only prompt is in two splits."""
    seen: dict[str, str] = {}
    for name, split in splits.items():
        for key in {group_key(r) for r in _columns(split, "image_id", "prompt")}:
            if key in seen and seen[key] != name:
                raise LeakageError(f"{key} is in both {seen[key]!r} and {name!r}")
            seen[key] = name


def recommend_kto_weights(n_desirable: int, n_undesirable: int) -> dict[str, Any]:
    """Weights with lambda_D n_D / lambda_U n_U in [1, 4/3], moving one weight as little as possible."""
    if not n_desirable or not n_undesirable:
        raise ValueError(f"KTO needs both classes; got {n_desirable} desirable and {n_undesirable} "
                         "undesirable rows")
    ratio = n_desirable / n_undesirable
    lam_d = lam_u = 1.0
    if ratio < KTO_LOW:
        lam_d = math.ceil(KTO_LOW / ratio * 1000) / 1000
    elif ratio > KTO_HIGH:
        lam_u = math.ceil(ratio / KTO_HIGH * 1000) / 1000
    weighted = lam_d * n_desirable / (lam_u * n_undesirable)
    assert KTO_LOW <= weighted <= KTO_HIGH, weighted
    return {"desirable_weight": lam_d, "undesirable_weight": lam_u, "n_desirable": n_desirable,
            "n_undesirable": n_undesirable, "raw_ratio": round(ratio, 4),
            "weighted_ratio": round(weighted, 4), "target_interval": [KTO_LOW, round(KTO_HIGH, 4)],
            "rule": "KTO paper eq. 8 (TRL skips this check for vision datasets)"}


def prompts_dataset(candidates: Any) -> Any:
    """One row per (image, instruction): the `*_prompts` companion dataset."""
    keep_cols = [c for c in ("image_id", "prompt", "country", "variety", "topic", "license",
                             "attribution") if c in candidates.column_names]
    light = candidates.select_columns(keep_cols)
    first: dict[tuple[str, str], int] = {}
    for i, row in enumerate(light):
        first.setdefault((row["image_id"], json.dumps(row["prompt"], ensure_ascii=False)), i)
    from datasets import Image

    return candidates.select(sorted(first.values())).select_columns(keep_cols + ["image"]) \
        .cast_column("image", Image(decode=False)).map(lambda r: {"image": strip_exif(r["image"])}) \
        .cast_column("image", Image())


def balance(splits: Any) -> dict[str, Any]:
    """Desirable/undesirable counts per split and overall."""
    out: dict[str, Any] = {}
    for name, split in splits.items():
        c = Counter(split["label"])
        out[name] = {"desirable": c[True], "undesirable": c[False]}
    out["total"] = {k: sum(v[k] for v in out.values()) for k in ("desirable", "undesirable")}
    return out


def check_names(config: ExportConfig, n_prompts: int) -> tuple[str, str, list[str]]:
    """The two names in full (`org/name`) after the challenge's rules, plus warnings.

    A bad name raises before anything is written; too few prompts is only a warning here (the
    data is still useful locally) and becomes an error when publishing.
    """
    kto_name = config.name if "/" in config.name else f"{config.organization}/{config.name}"
    prompts = config.prompts_name or prompts_name_for(kto_name)
    prompts = prompts if "/" in prompts else f"{config.organization}/{prompts}"
    checks = [check_dataset_name(kto_name, "images_kto"), check_dataset_name(prompts, "prompts")]
    for check in checks:
        check.raise_for_errors()
    warnings = [w for check in checks for w in check.warnings]
    if n_prompts < config.min_prompts:
        warnings.append(f"{prompts} has {n_prompts} prompts, fewer than the {config.min_prompts} the "
                        "challenge requires: it cannot be published until more images are added")
    return kto_name, prompts, warnings
