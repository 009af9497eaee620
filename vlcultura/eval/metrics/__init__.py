"""Caption metrics: COCO-exact lexical metrics, chrF/chrF++, METEOR, cultural metrics."""
from vlcultura.eval.metrics.base import MetricResult, mean_metric
from vlcultura.eval.metrics.chrf import chrf
from vlcultura.eval.metrics.cultural import ImageMeta, cultural_metrics, score_caption
from vlcultura.eval.metrics.lexical import DocumentFrequency, bleu, cider_d, rouge_l
from vlcultura.eval.metrics.lexicons import register_lexicon
from vlcultura.eval.metrics.meteor import meteor
from vlcultura.eval.metrics.tokenizers import get_tokenizer, resolve_tokenizer

__all__ = ["MetricResult", "mean_metric", "chrf", "ImageMeta", "cultural_metrics", "score_caption",
           "DocumentFrequency", "bleu", "cider_d", "rouge_l", "register_lexicon", "meteor", "get_tokenizer",
           "resolve_tokenizer"]
