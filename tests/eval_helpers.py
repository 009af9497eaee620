"""Shared helpers for the eval tests: the COCO parity set loaded once, and Java availability."""
from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path

from vlcultura.eval.metrics.tokenizers import java_available

JAVA_WHY = "no Java runtime: the coco tokenizer and METEOR need it (apt-get install default-jre-headless)"
PARITY_EXPECTED = {  # ../shared/data/README.md: stock pycocoevalcap 1.2 on these files
    "BLEU-1": 0.5794, "BLEU-2": 0.4044, "BLEU-3": 0.2785, "BLEU-4": 0.1908,
    "METEOR": 0.1953, "ROUGE-L": 0.3963, "CIDEr-D": 0.5998,
}


def has_java() -> bool:
    return java_available()


def parity_files(shared_data: Path) -> tuple[Path, Path]:
    folder = shared_data / "coco_parity"
    return folder / "en_captions_val2014.json", folder / "en_captions_val2014_fakecap_results.json"


def load_parity(shared_data: Path) -> tuple[list[str], list[str], list[list[str]]]:
    """(ids, predictions, references) in the results file's order."""
    refs_path, preds_path = parity_files(shared_data)
    refs: dict[str, list[str]] = defaultdict(list)
    for ann in json.loads(refs_path.read_text())["annotations"]:
        refs[str(ann["image_id"])].append(ann["caption"])
    preds = json.loads(preds_path.read_text())
    ids = [str(p["image_id"]) for p in preds]
    return ids, [p["caption"] for p in preds], [refs[i] for i in ids]
