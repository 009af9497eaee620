"""The evaluate stage: caption held-out images, score them, report base vs tuned (docs/evaluation.md).

Entry points (imported lazily so `vlcultura --help` stays fast):
- `vlcultura.eval.evaluate.evaluate(config)`: caption + score + report (`vlcultura evaluate`);
- `score_files(references, predictions, ...)`: score files (`vlcultura score`);
- `score_system(ids, predictions, references, ...)`: metrics in memory;
- `judge_captions(items, mode, ...)`: the Cohere judge (CLAIR + cultural rubric);
- `vlcultura.eval.metrics`: the metrics themselves; `vlcultura.eval.stats`: bootstrap and paired tests.
"""
from vlcultura.lazy import lazy_exports

__all__ = ["score_files", "score_system", "judge_captions"]
__getattr__, __dir__ = lazy_exports(__name__, {"score_files": "api", "score_system": "scoring",
                                               "judge_captions": "judge"})
