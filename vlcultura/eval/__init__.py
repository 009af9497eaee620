"""The evaluate stage: caption held-out images, score them, report base vs tuned.

Entry points (imported lazily so `vlcultura --help` stays fast):
- `vlcultura.eval.evaluate.evaluate(config)`: caption + score + report (`vlcultura evaluate`);
- `vlcultura.eval.api.score_files(references, predictions, ...)`: score files (`vlcultura score`);
- `vlcultura.eval.scoring.score_system(ids, predictions, references, ...)`: metrics in memory;
- `vlcultura.eval.metrics`: the metrics themselves; `vlcultura.eval.stats`: bootstrap and paired tests.
"""
