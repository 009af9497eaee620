"""A Hub dataset repository, assembled in a local folder first, then pushed as it is.

`write_dataset_repo` lays out exactly the files that will be uploaded (README card, one Parquet
file per split with the image bytes embedded, sidecar files such as `kto_weights.json`, plots), so
the upload can be inspected and tested offline; `push_dataset_repo` sends that folder with
huggingface_hub. The publish stage (vlcultura.hub) reuses both.
"""
from __future__ import annotations

import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from vlcultura.config import secrets_from_env


class MissingTokenError(RuntimeError):
    """No Hugging Face token in the environment: nothing was sent."""


def split_parquet_path(split: str) -> str:
    """Where a split's data lives in the repo (the layout the Hub's viewer reads)."""
    return f"data/{split}-00000-of-00001.parquet"


def embedded(dataset: Any) -> Any:
    """The dataset with image files read into bytes, as `push_to_hub` does, so Parquet is whole."""
    from datasets.table import embed_table_storage

    fmt = dataset.format
    out = dataset.with_format("arrow").map(embed_table_storage, batched=True, desc="embed images")
    return out.with_format(**fmt)


def write_dataset_repo(dataset_dict: Mapping[str, Any], card: str, out_dir: str | Path,
                       extra_files: Mapping[str, str | Path] | None = None) -> Path:
    """Write README.md + data/<split>-*.parquet (+ extra files, `repo path -> local path`)."""
    out = Path(out_dir)
    if out.exists():
        shutil.rmtree(out)
    (out / "data").mkdir(parents=True)
    for split, ds in dataset_dict.items():
        embedded(ds).to_parquet(str(out / split_parquet_path(split)))
    (out / "README.md").write_text(card if card.endswith("\n") else card + "\n", encoding="utf-8")
    for repo_path, local in (extra_files or {}).items():
        target = out / repo_path
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(local, target)
    return out


def hf_token() -> str:
    """The token from HF_TOKEN / HUGGING_FACE_HUB_TOKEN, or a clear error (no network touched)."""
    token = secrets_from_env().hf_token
    if not token:
        raise MissingTokenError("no Hugging Face token: set HF_TOKEN (a write token from "
                                "https://huggingface.co/settings/tokens) to push; nothing was uploaded")
    return token


def push_dataset_repo(folder: str | Path, repo_id: str, *, private: bool = False,
                      commit_message: str = "Upload dataset with vlcultura", endpoint: str | None = None) -> str:
    """Create the dataset repo if needed and upload `folder` as it is; returns the commit URL.

    `endpoint` points at another Hub deployment (default: huggingface.co or HF_ENDPOINT).
    """
    from vlcultura.hub import push_folder

    folder = Path(folder)
    if not (folder / "README.md").is_file():
        raise FileNotFoundError(f"{folder} has no README.md: build it with write_dataset_repo first")
    return push_folder(folder, repo_id, "dataset", private=private, token=hf_token(),
                       commit_message=commit_message, endpoint=endpoint)
