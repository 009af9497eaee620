"""Python entry points a notebook calls; the CLI commands are thin wrappers over these."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from vlcultura.eval.inputs import load_table, read_references
from vlcultura.eval.metrics.lexical import DocumentFrequency
from vlcultura.eval.metrics.tokenizers import get_tokenizer
from vlcultura.eval.scoring import score_system, tokenize_refs
from vlcultura.eval.summary import per_image_rows, summarize


def fixed_idf(references: str | Path, tokenizer: str) -> DocumentFrequency:
    """CIDEr-D document frequencies from a references file (its images are the documents)."""
    problems: list[str] = []
    refs = [captions for captions, _ in read_references(references, problems).values()]
    _, tokens = tokenize_refs(tokenizer, [], refs)
    return DocumentFrequency.from_references(tokens, f"fixed, from {Path(references).name}")


def score_files(references: str | Path, predictions: str | Path, tokenizer: str = "coco",
                cider_idf: str | Path | None = None, use_meteor: bool = True, samples: int = 1000,
                seed: int = 0, output: str | Path | None = None) -> dict[str, Any]:
    """Score one predictions file; returns the summary (and writes a report if `output`)."""
    get_tokenizer(tokenizer)  # an unknown name fails before any file is read
    table = load_table(references, predictions)
    idf = fixed_idf(cider_idf, tokenizer) if cider_idf else None
    language = tokenizer if tokenizer in ("es", "pt") else None
    scores = score_system(table.ids, table.predictions, table.references, tokenizer, table.metas,
                          language, idf, use_meteor)
    systems = {"system": scores}
    countries = [m.country for m in table.metas]
    varieties = [m.variety for m in table.metas]
    summary = summarize(systems, countries, varieties, samples, seed, baseline="system",
                        info={"references": str(references), "predictions": str(predictions),
                              "tokenizer": tokenizer})
    summary["problems"] = table.problems
    if output:
        from vlcultura.eval.report import write_report

        write_report(summary, per_image_rows(systems, table.references, countries, varieties), output,
                     baseline="system")
    return summary
