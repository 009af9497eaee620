"""`vlcultura export`: candidates -> the `*_images_kto` and `*_prompts` datasets, ready to push.

Names are checked before anything is written. The output folder holds both datasets
(`save_to_disk`), the recommended KTO weights (`kto_weights.json`, read by the training stage),
an export report, and under `hub/` the exact repositories `push_dataset_repo` uploads (Parquet
with embedded images, a Dataset Card rendered from the data, plots).
"""
from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vlcultura.cards.dataset_card import render_dataset_card, render_prompts_card
from vlcultura.config import ExportConfig
from vlcultura.data.dataset_repo import write_dataset_repo
from vlcultura.data.kto import (WEIGHTS_FILE, balance, check_names, concat_text_rows, prompts_dataset,
                                recommend_kto_weights, split_by_group, split_summary, to_kto)
from vlcultura.data.report import StageReport


@dataclass
class ExportResult:
    """Where everything went, and the numbers a user checks first."""

    out_dir: Path
    repo_id: str
    prompts_repo_id: str
    kto_repo_dir: Path
    prompts_repo_dir: Path
    weights: dict[str, Any]
    balance: dict[str, Any]
    n_prompts: int
    warnings: list[str] = field(default_factory=list)


def load_rows(path: str | Path) -> Any:
    """A dataset saved with `save_to_disk`, or a Parquet file/folder."""
    import datasets

    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path} does not exist")
    if (path / "dataset_info.json").exists() or (path / "state.json").exists() \
            or (path / "dataset_dict.json").exists():
        loaded = datasets.load_from_disk(str(path))
        if isinstance(loaded, datasets.DatasetDict):
            return datasets.concatenate_datasets(list(loaded.values()))
        return loaded
    files = [str(path)] if path.is_file() else sorted(str(p) for p in path.glob("*.parquet"))
    if not files:
        raise FileNotFoundError(f"{path}: neither a saved dataset nor Parquet files")
    return datasets.load_dataset("parquet", data_files=files, split="train")


def export_dataset(candidates: Any, out_dir: str | Path, config: ExportConfig, *,
                   arena_rows: Any = None, reports: Sequence[StageReport] = (),
                   review: dict[str, Any] | None = None) -> ExportResult:
    """Build, split, weigh, card and lay out both datasets in `out_dir`."""
    import datasets

    out = Path(out_dir)
    prompts = prompts_dataset(candidates)
    repo_id, prompts_repo_id, warnings = check_names(config, len(prompts))
    kto = to_kto(candidates)
    if arena_rows is not None and len(arena_rows):
        kto = concat_text_rows(kto, arena_rows)
    splits = split_by_group(kto, config.test_fraction, config.seed)
    counts = balance(splits)
    weights = recommend_kto_weights(counts["train"]["desirable"], counts["train"]["undesirable"])
    out.mkdir(parents=True, exist_ok=True)
    splits.save_to_disk(str(out / "kto"))
    prompts.save_to_disk(str(out / "prompts"))
    weights_path = out / WEIGHTS_FILE
    weights_path.write_text(json.dumps(weights, indent=2), encoding="utf-8")

    hub = out / "hub"
    kto_dir = hub / repo_id.split("/")[-1]
    plots_dir = out / "plots"
    card = render_dataset_card(splits, repo_id=repo_id, license=config.license, weights=weights,
                               reports=reports, review=review, prompts_repo_id=prompts_repo_id,
                               code_url=config.code_url, plots_dir=plots_dir)
    extra = {WEIGHTS_FILE: weights_path, **{f"plots/{p.name}": p for p in sorted(plots_dir.glob("*.png"))}}
    write_dataset_repo(splits, card, kto_dir, extra)
    prompts_dir = write_dataset_repo(
        datasets.DatasetDict(train=prompts),
        render_prompts_card(prompts, repo_id=prompts_repo_id, kto_repo_id=repo_id, license=config.license),
        hub / prompts_repo_id.split("/")[-1])

    result = ExportResult(out, repo_id, prompts_repo_id, kto_dir, prompts_dir, weights, counts,
                          len(prompts), warnings)
    report = StageReport(stage="export", n_in=len(candidates), n_out=len(kto), notes=warnings,
                         stats={"repo_id": repo_id, "prompts_repo_id": prompts_repo_id,
                                "n_prompts": len(prompts), "balance": result.balance, "weights": weights,
                                "groups_per_stratum": split_summary(splits)})
    report.write(out / "export_report.json")
    return result
