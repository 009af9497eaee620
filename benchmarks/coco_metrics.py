"""COCO caption metrics: stock pycocoevalcap vs vlcultura in one process run, same inputs.

BLEU-1..4, ROUGE-L and CIDEr-D on the shared 1,000-image parity set (../shared/data/coco_parity).
Both sides use the same Stanford PTB tokenizer jar (pycocoevalcap's tokenizer for stock, our
`coco` tokenizer for vlcultura); the metrics themselves are pycocoevalcap's Python vs our own
pure-Python implementation. Reports every number side by side (must agree to 4 decimals) and
the wall time of tokenization, metrics and total, median of `--repeats` runs, with the machine.

    .venv/bin/python benchmarks/coco_metrics.py --out benchmarks/results
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from collections import defaultdict
from pathlib import Path

from pycocoevalcap.bleu.bleu import Bleu
from pycocoevalcap.cider.cider import Cider
from pycocoevalcap.rouge.rouge import Rouge
from pycocoevalcap.tokenizer.ptbtokenizer import PTBTokenizer

from vlcultura.eval.metrics.lexical import bleu, cider_d, rouge_l
from vlcultura.eval.scoring import tokenize_refs

METRICS = ("BLEU-1", "BLEU-2", "BLEU-3", "BLEU-4", "ROUGE-L", "CIDEr-D")
DEFAULT_SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"


def load(folder: Path):
    annotations = json.loads((folder / "en_captions_val2014.json").read_text())["annotations"]
    results = json.loads((folder / "en_captions_val2014_fakecap_results.json").read_text())
    refs = defaultdict(list)
    for ann in annotations:
        refs[ann["image_id"]].append(ann["caption"])
    ids = [r["image_id"] for r in results]
    return ids, {r["image_id"]: r["caption"] for r in results}, {i: refs[i] for i in ids}


def run_stock(ids, preds, refs) -> tuple[dict[str, float], float, float]:
    """pycocoevalcap exactly as its COCOEvalCap does it (tokenize gts and res, then score)."""
    start = time.perf_counter()
    tokenizer = PTBTokenizer()
    gts = tokenizer.tokenize({i: [{"caption": c} for c in refs[i]] for i in ids})
    res = tokenizer.tokenize({i: [{"caption": preds[i]}] for i in ids})
    tokenized = time.perf_counter()
    out = dict(zip(METRICS[:4], Bleu(4).compute_score(gts, res, verbose=0)[0]))
    out["ROUGE-L"] = Rouge().compute_score(gts, res)[0]
    out["CIDEr-D"] = Cider().compute_score(gts, res)[0]
    done = time.perf_counter()
    return {k: float(v) for k, v in out.items()}, tokenized - start, done - tokenized


def run_ours(ids, preds, refs) -> tuple[dict[str, float], float, float]:
    start = time.perf_counter()
    hyps, toks = tokenize_refs("coco", [preds[i] for i in ids], [refs[i] for i in ids])
    tokenized = time.perf_counter()
    results = [*bleu(hyps, toks), rouge_l(hyps, toks), cider_d(hyps, toks)]
    out = {m.name: m.value for m in results}
    done = time.perf_counter()
    return out, tokenized - start, done - tokenized


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, help="the coco_parity folder",
                        default=Path(os.environ.get("VLCULTURA_SHARED_DATA", DEFAULT_SHARED)) / "coco_parity")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results")
    args = parser.parse_args()
    ids, preds, refs = load(args.data)
    load_before = os.getloadavg()[0]  # a shared machine slows both sides alike (interleaved runs)
    runs = {"pycocoevalcap": [], "vlcultura": []}
    for _ in range(args.repeats):  # interleaved, so drift hits both sides alike
        runs["pycocoevalcap"].append(run_stock(ids, preds, refs))
        runs["vlcultura"].append(run_ours(ids, preds, refs))
    scores = {side: r[0][0] for side, r in runs.items()}
    timing = {side: {"tokenize_s": statistics.median(x[1] for x in r), "metrics_s": statistics.median(x[2] for x in r),
                     "total_s": statistics.median(x[1] + x[2] for x in r)} for side, r in runs.items()}
    agree = all(round(scores["pycocoevalcap"][m], 4) == round(scores["vlcultura"][m], 4) for m in METRICS)
    max_diff = max(abs(scores["pycocoevalcap"][m] - scores["vlcultura"][m]) for m in METRICS)
    result = {
        "benchmark": "coco_metrics", "images": len(ids), "repeats": args.repeats,
        "machine": {"node": platform.node(), "cpu": cpu_name(), "cores": os.cpu_count(),
                    "python": platform.python_version(), "platform": platform.platform(),
                    "load_average_1min": [round(load_before, 2), round(os.getloadavg()[0], 2)]},
        "scores": scores, "agree_4_decimals": agree, "max_abs_diff": max_diff, "timing": timing,
        "speedup_metrics": timing["pycocoevalcap"]["metrics_s"] / timing["vlcultura"]["metrics_s"],
        "speedup_total": timing["pycocoevalcap"]["total_s"] / timing["vlcultura"]["total_s"],
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "coco_metrics.json").write_text(json.dumps(result, indent=2))
    lines = [f"# COCO metrics: pycocoevalcap vs vlcultura ({len(ids)} images, median of {args.repeats})", "",
             f"Machine: {result['machine']['node']}, {result['machine']['cpu']}, {result['machine']['cores']} cores, "
             f"Python {result['machine']['python']}, 1-min load average before/after "
             f"{result['machine']['load_average_1min']}", "", "| metric | pycocoevalcap | vlcultura |", "|---|---|---|"]
    lines += [f"| {m} | {scores['pycocoevalcap'][m]:.6f} | {scores['vlcultura'][m]:.6f} |" for m in METRICS]
    lines += ["", f"Agree to 4 decimals: {agree} (max abs difference {max_diff:.2e})", "",
              "| seconds | pycocoevalcap | vlcultura | ratio (stock / ours) |", "|---|---|---|---|"]
    for key in ("tokenize_s", "metrics_s", "total_s"):
        a, b = timing["pycocoevalcap"][key], timing["vlcultura"][key]
        lines.append(f"| {key[:-2]} | {a:.3f} | {b:.3f} | {a / b:.2f}x |")
    lines += ["", "Command: `.venv/bin/python benchmarks/coco_metrics.py --out benchmarks/results`", ""]
    (args.out / "coco_metrics.md").write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
