"""Score one system's captions with every metric that applies, keeping per-image rows.

Lexical metrics run on the chosen tokenizer's tokens; chrF/chrF++ on raw NFC text; METEOR when
Java is present (COCO METEOR for `coco`, exact+stem METEOR for es/pt); cultural metrics when
the images carry metadata (labels, country or variety).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

from vlcultura.eval.metrics.base import MetricResult
from vlcultura.eval.metrics.chrf import chrf
from vlcultura.eval.metrics.cultural import CulturalScore, ImageMeta, cultural_metrics
from vlcultura.eval.metrics.lexical import DocumentFrequency, bleu, cider_d, rouge_l
from vlcultura.eval.metrics.meteor import meteor
from vlcultura.eval.metrics.tokenizers import TokenizerUnavailable, get_tokenizer, java_available

CIDER_MIN_IMAGES = 100  # below this, CIDEr-D's own-set IDF is unstable: warn and suggest a fixed one


@dataclass
class SystemScores:
    """Every metric of one system over the same ordered images."""

    ids: list[str]
    predictions: list[str]
    metrics: dict[str, MetricResult]
    cultural: list[CulturalScore] | None = None
    notes: list[str] = field(default_factory=list)

    def corpus(self) -> dict[str, float]:
        """Metric name -> corpus value."""
        return {name: m.value for name, m in self.metrics.items()}


def tokenize_refs(tokenizer_name: str, predictions: Sequence[str], references: Sequence[Sequence[str]]):
    """Tokenize hypotheses and references in one pass (one Java start for `coco`)."""
    tokenize = get_tokenizer(tokenizer_name)
    flat = [r for refs in references for r in refs]
    tokens = tokenize([*flat, *predictions])
    hyps, refs, pos = tokens[len(flat):], [], 0
    for image_refs in references:
        refs.append(tokens[pos:pos + len(image_refs)])
        pos += len(image_refs)
    return hyps, refs


def score_system(ids: Sequence[str], predictions: Sequence[str], references: Sequence[Sequence[str]],
                 tokenizer: str = "coco", metas: Sequence[ImageMeta] | None = None,
                 language: str | None = None, idf: DocumentFrequency | None = None,
                 use_meteor: bool = True) -> SystemScores:
    """All metrics for one system; `idf` fixes CIDEr-D's document frequencies (say which)."""
    if not ids:
        raise ValueError("nothing to score: no images")
    if any(not refs for refs in references):
        raise ValueError("every image needs at least one reference caption")
    notes: list[str] = [f"tokenizer: {tokenizer}"]
    hyps, refs = tokenize_refs(tokenizer, predictions, references)
    metrics = [*bleu(hyps, refs), rouge_l(hyps, refs), cider_d(hyps, refs, idf)]
    if idf is None and len(ids) < CIDER_MIN_IMAGES:
        notes.append(f"CIDEr-D IDF comes from only {len(ids)} images: scores depend on the image set; "
                     "pass a fixed IDF corpus (--cider-idf) for small sets")
    metrics += [chrf(predictions, references), chrf(predictions, references, word_order=2)]
    meteor_language = "en" if tokenizer == "coco" else tokenizer
    if use_meteor and java_available():
        try:
            metrics.append(meteor(hyps, refs, meteor_language))
        except TokenizerUnavailable as err:
            notes.append(f"METEOR skipped: {err}")
    elif use_meteor:
        notes.append("METEOR skipped: no Java runtime")
    cultural = None
    if metas and any(m.labels or m.country or m.variety for m in metas):
        cultural_results, cultural = cultural_metrics(predictions, metas, language)
        metrics += cultural_results
    for m in metrics:
        if m.note:
            notes.append(f"{m.name}: {m.note}")
    return SystemScores(list(ids), list(predictions), {m.name: m for m in metrics}, cultural, notes)
